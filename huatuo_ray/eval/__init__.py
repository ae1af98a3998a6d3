"""Evaluation: zero-shot medical multiple choice, decontamination, pairwise judging.

Public API: :func:`run_eval` (benchmarks x models -> ``results.json``, predictions, table, plot),
:func:`load_benchmark` (the benchmarks' own release formats), :func:`extract_answer`,
:func:`find_contamination` / :func:`samples_to_drop`, :func:`run_judge` / :func:`judge_pairs`, and the recipe
section :class:`EvalConfig`. Each module's docstring has the details; ``docs/eval.md`` the overview.
"""

from huatuo_ray.eval.config import (
           BenchmarkSpec,
           DecontamConfig,
           EvalConfig,
           JudgeConfig,
)
from huatuo_ray.eval.decontam import find_contamination, samples_to_drop
from huatuo_ray.eval.extract import Extraction, extract_answer
from huatuo_ray.eval.formats import load_benchmark
from huatuo_ray.eval.job import run_eval
from huatuo_ray.eval.judge import judge_pairs, run_judge

__all__ = ["BenchmarkSpec", "DecontamConfig", "EvalConfig", "Extraction", "JudgeConfig", "extract_answer",
           "find_contamination", "judge_pairs", "load_benchmark", "run_eval", "run_judge", "samples_to_drop"]
