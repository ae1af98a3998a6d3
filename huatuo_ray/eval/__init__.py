"""Evaluation: zero-shot medical multiple choice, decontamination, pairwise judging.

Public API: :func:`run_eval` (benchmarks x models -> ``results.json``, predictions, table, plot),
:func:`load_benchmark` (the benchmarks' own release formats), :func:`extract_answer`,
:func:`find_contamination` / :func:`samples_to_drop`, :func:`run_judge` / :func:`judge_pairs`, and the recipe
section :class:`EvalConfig`. Each module's docstring has the details; ``docs/eval.md`` the overview.
"""

from huatuo_ray.eval.config import BenchmarkSpec, DecontamConfig, EvalConfig, JudgeConfig
from huatuo_ray.eval.extract import Extraction, extract_answer
from huatuo_ray.eval.formats import load_benchmark
from huatuo_ray.eval.job import run_eval

__all__ = ["BenchmarkSpec", "DecontamConfig", "EvalConfig", "Extraction", "JudgeConfig", "extract_answer",
           "load_benchmark", "run_eval"]
