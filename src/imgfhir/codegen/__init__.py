"""Code generation: profiles → JSON Schema → typed pydantic v2 models."""
