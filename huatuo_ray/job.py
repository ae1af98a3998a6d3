"""The job contract every step implements: plan work units, run them (locally or on Ray), finish with stats.

A step is a small class (:class:`Step`) that says what it reads (``upstream`` steps), which recipe settings and
files decide its output (``settings``, ``behaviour_files``), how its work is cut into resumable units (``plan``)
and how to run it (``execute``). Everything around it is the same for every step and lives in
:mod:`huatuo_ray.run`: the run directory, ``_run.json`` with the fingerprint and the upstream lineage, refusing
to mix outputs, ``--overwrite``, ``stats.json`` written last as the completion marker, the dry run.

Every step's ``stats.json`` carries ``counts``: ``in = kept + dropped + quarantined`` (whatever the step's items
are: records, segments, pairs, samples, steps), and ``out`` (the rows it wrote, e.g. segments per kept document).
The run checks the equation before it marks a step done.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from huatuo_ray.io.trash import discard_output

if TYPE_CHECKING:
    from huatuo_ray.io.lock import OutputLock
    from huatuo_ray.recipe import Recipe


LLM_CACHE = "_llm_cache"  # a step's request cache folder (unless llm.cache_dir): kept when the step is redone


@dataclass
class Plan:
    """What a step will do: its work units (stable ids) and what it reads."""

    units: list[str]
    input: str  # one line for people: what is read, how much
    detail: Any = None  # step-private (e.g. WorkUnit objects)
    inputs: dict[str, int] = field(default_factory=dict)  # input files -> bytes, recorded to notice changed input


@dataclass
class Ask:
    """Workers a step asks the cluster for: ``count`` (at least ``min_count``) of ``cpus`` + ``gpus`` each."""

    what: str
    cpus: float
    gpus: float = 0.0
    count: int = 1
    min_count: int | None = None
    accelerator: str | None = None

    def __str__(self) -> str:
        n = f"{self.min_count}-{self.count}" if self.min_count is not None and self.min_count != self.count else str(self.count)
        gpu = f" + {self.gpus:g} {self.accelerator + ' ' if self.accelerator else ''}GPU" if self.gpus else ""
        return f"{self.what}: {n} x ({self.cpus:g} CPU{gpu})"


@dataclass
class Context:
    """Where a step runs: the recipe, its output directory, its upstream outputs, how to print progress."""

    recipe: "Recipe"
    output: Path  # or an ObjectPath (huatuo_ray.io.storage) for a step that supports object stores
    inputs: dict[str, Path] = field(default_factory=dict)  # upstream step name -> its output directory
    echo: Callable[[str], None] = print
    llm_cache: Path | None = None  # the request cache of a step that calls an LLM
    remote_output: Any = None  # a staged step (see Step.staged): its output in the object store (an ObjectPath)
    staging: Any = None  # a staged step: the Staging (huatuo_ray.io.staging) of its local copies
    # a staged step: upstream step name -> (its output's URI, what its local copy skips) for each input in a bucket
    remote_inputs: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)


def counts(kept: int, dropped: int = 0, quarantined: int = 0, out: int | None = None,
           dropped_by_reason: dict[str, int] | None = None, quarantined_by_reason: dict[str, int] | None = None,
           item: str = "records") -> dict[str, Any]:
    """The ``counts`` block of a step's stats: ``in = kept + dropped + quarantined``."""
    return {"item": item, "in": kept + dropped + quarantined, "kept": kept, "dropped": dropped,
            "quarantined": quarantined, "out": kept if out is None else out,
            "dropped_by_reason": dict(dropped_by_reason or {}), "quarantined_by_reason": dict(quarantined_by_reason or {})}


class Step(ABC):
    """One step of the recipe (curate, unify, sft, sample, pack, train)."""

    name: ClassVar[str]
    summary: ClassVar[str]  # what the step does, in a few words

    def enabled(self, recipe: "Recipe") -> bool:
        """Whether the recipe has work for this step (e.g. no SFT sources: no sft step)."""
        return True

    def upstream(self, recipe: "Recipe") -> tuple[str, ...]:
        """Steps whose outputs this step reads."""
        return ()

    @abstractmethod
    def settings(self, recipe: "Recipe") -> dict[str, Any]:
        """The recipe values that change this step's output, keyed as in the recipe (no runtime-only settings)."""

    def behaviour_files(self, recipe: "Recipe") -> dict[str, str]:
        """Local files and directories that define behaviour ({setting: path}); their content is fingerprinted."""
        return {}

    @abstractmethod
    def plan(self, ctx: Context) -> Plan:
        """Cut the work into units; raise :class:`~huatuo_ray.errors.InputError` when the input is unusable."""

    def units_done(self, ctx: Context, plan: Plan) -> int:
        """Units already finished in ``ctx.output`` (for resume and the plan's 'partly done')."""
        return 0

    def needs_ray(self, ctx: Context, plan: Plan) -> bool:
        """Whether :meth:`execute` needs a connected Ray."""
        return True

    def problems(self, recipe: "Recipe") -> list[str]:
        """What this machine lacks for the step (models, files), found without loading anything heavy."""
        return []

    def resources(self, recipe: "Recipe") -> list[Ask]:
        """What the step asks the cluster for (for the dry run)."""
        return []

    def notes(self, recipe: "Recipe") -> list[str]:
        """Facts worth showing in the dry run (e.g. the training memory estimate)."""
        return []

    def remote_unsupported(self, ctx: Context) -> str | None:
        """Why this step cannot read or write the object store (``s3://`` ...) that ``ctx`` names (its output, an
        input or its request cache), or None when it can. Steps write local files until they say otherwise."""
        return "it writes its output as local files only, for now"

    staged: ClassVar[bool] = False
    """Whether the step runs on a local copy when its output or an input is in an object store
    (:mod:`huatuo_ray.io.staging`): it reads its input memory-mapped or on the driver, and writes local files."""

    def stage_skip(self, recipe: "Recipe") -> tuple[str, ...]:
        """Top-level names (globs) of this step's output that staging never copies: what the step writes to the
        object store itself (training's checkpoints). ``keep_on_discard`` entries are never copied either."""
        return ()

    def stage_through(self, recipe: "Recipe") -> tuple[str, ...]:
        """Steps of the lineage whose files this step reads through an upstream output (the sampler's stats name
        the conversation files it ordered): copied too when staged."""
        return ()

    keep_on_discard: ClassVar[tuple[str, ...]] = ()  # entries of the output that outlive it (a request cache)

    def discard(self, output: Path, lock: "OutputLock | None" = None) -> None:
        """Remove an output that is being replaced (``--overwrite``), atomically: a kill at any moment leaves the
        old output or none (:func:`~huatuo_ray.io.trash.discard_output`); ``keep_on_discard`` stays."""
        discard_output(output, self.keep_on_discard, lock)

    @abstractmethod
    def execute(self, ctx: Context, plan: Plan) -> dict[str, Any]:
        """Run the pending units into ``ctx.output`` and return the stats (with ``counts``)."""

    def describe(self, stats: dict[str, Any]) -> str:
        """One line on a finished step."""
        c = stats["counts"]
        return (f"{c['in']:,} {c['item']} -> {c['kept']:,} kept, {c['dropped']:,} dropped, "
                f"{c['quarantined']:,} quarantined")
