"""FHIR's regular expressions, spelled so that Python's `re` and pydantic's Rust engine read them
as the reference validator (Java) does.

The regexes the specification publishes for primitive types (`[ \\r\\n\\t\\S]+` for string,
`[^\\s]+( [^\\s]+)*` for code, `\\S*` for uri) use `\\s`, which is ASCII whitespace in Java
(`[ \\t\\n\\x0B\\f\\r]`) but Unicode whitespace in Python and Rust. Read the Python way, a string
holding a no-break space (U+00A0) would be invalid. `to_python` writes the classes out.
"""

from __future__ import annotations

WHITESPACE = " \t\n\x0b\f\r"  # Java's \s
_ESCAPED = {" ": " ", "\t": "\\t", "\n": "\\n", "\x0b": "\\x0B", "\f": "\\f", "\r": "\\r"}
_LITERAL = {" ": " ", "\\t": "\t", "\\n": "\n", "\\r": "\r", "\\f": "\f", "\\x0B": "\x0b", "\\v": "\x0b"}


def _spell(chars: str) -> str:
    return "".join(_ESCAPED[c] for c in WHITESPACE if c in chars)


def to_python(regex: str) -> str:
    """`regex` with every `\\s` / `\\S` replaced by an explicit ASCII class."""
    out: list[str] = []
    i = 0
    while i < len(regex):
        c = regex[i]
        if c == "\\" and i + 1 < len(regex):
            escape = regex[i : i + 2]
            out.append({"\\s": f"[{_spell(WHITESPACE)}]", "\\S": f"[^{_spell(WHITESPACE)}]"}.get(escape, escape))
            i += 2
        elif c == "[":
            end, tokens = _class(regex, i)
            out.append(_rewrite_class(regex[i:end], tokens))
            i = end
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _class(regex: str, start: int) -> tuple[int, list[str]]:
    """The end (after `]`) of the character class at `start`, and its members as tokens."""
    tokens: list[str] = []
    i = start + 1
    while i < len(regex):
        c = regex[i]
        if c == "\\" and i + 1 < len(regex):
            if regex[i + 1] == "x" and i + 3 < len(regex):
                tokens.append(regex[i : i + 4])
                i += 4
            else:
                tokens.append(regex[i : i + 2])
                i += 2
            continue
        if c == "]" and i > start + 1 + (regex[start + 1] == "^"):
            return i + 1, tokens
        tokens.append(c)
        i += 1
    raise ValueError(f"unterminated character class in {regex!r}")


def _rewrite_class(text: str, tokens: list[str]) -> str:
    negated = tokens[:1] == ["^"]
    members = tokens[1:] if negated else tokens
    if "\\S" in members:
        if negated:
            raise ValueError(f"cannot rewrite {text!r}: \\S in a negated class")
        # \S plus the whitespace the class lists: every character but the whitespace it leaves out
        listed = {_LITERAL.get(t, t) for t in members}
        if "\\s" in members:
            listed |= set(WHITESPACE)
        left_out = "".join(c for c in WHITESPACE if c not in listed)
        return f"[^{_spell(left_out)}]" if left_out else "[\\s\\S]"
    body = "".join(_spell(WHITESPACE) if t == "\\s" else t for t in members)
    return f"[{'^' if negated else ''}{body}]"
