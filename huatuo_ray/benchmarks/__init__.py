"""Benchmarks and contamination, shared by the eval step and the sample step.

``config`` how a recipe names a benchmark and the contamination settings, ``formats`` the benchmarks' own
release formats (MedQA, MedMCQA, CMMLU, C-Eval, CMExam, CMB), ``items`` the item model, ``ngrams`` /
``decontam`` / ``training`` the n-gram overlap between training samples and benchmark items.
"""
