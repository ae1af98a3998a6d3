"""The LLM layer: local model preparation, server lifecycle, and generation backends."""
