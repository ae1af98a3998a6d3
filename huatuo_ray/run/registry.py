"""The steps of a run, in order. Each is registered here once; the CLI, the plan and the runner read this list."""

from __future__ import annotations

from huatuo_ray.curate.job import CurateStep
from huatuo_ray.errors import InputError
from huatuo_ray.eval.job import EvalStep
from huatuo_ray.job import Step
from huatuo_ray.pack.job import PackStep
from huatuo_ray.sample.job import SampleStep
from huatuo_ray.sft.job import SftStep
from huatuo_ray.train.job import TrainStep
from huatuo_ray.unify.job import UnifyStep

# sft first: it is quick, and a broken SFT file should fail before days of curation, not after.
STEPS: tuple[Step, ...] = (SftStep(), CurateStep(), UnifyStep(), SampleStep(), PackStep(), TrainStep(), EvalStep())
STEP_NAMES: tuple[str, ...] = tuple(s.name for s in STEPS)


def step_named(name: str) -> Step:
    for s in STEPS:
        if s.name == name:
            return s
    raise InputError(f"unknown step {name!r}: the steps are {', '.join(STEP_NAMES)}")
