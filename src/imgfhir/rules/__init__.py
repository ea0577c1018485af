"""Optional rule sets: not in the built-in table; pass them to `Validator(rules=...)` or load them as plugins."""
