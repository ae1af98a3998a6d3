"""Unification: every curated segment becomes a question / answer pair written by an LLM and checked.

``config`` and ``prompts`` the settings, ``generate`` one segment's dialogue with checks and regeneration,
``jaccard`` and ``crosslingual`` the deviation checks, ``pipeline`` the Ray Data job, ``output`` rows and release
files, ``job`` the step of the run.
"""
