"""Unification: every curated segment becomes a question / answer pair written by an LLM and checked."""
