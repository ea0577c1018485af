"""Generated models (imgfhir_models)."""
