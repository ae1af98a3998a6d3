"""The curation job on Ray Data: read -> stages -> write, one resumable work unit per row.

Each row of the Ray Dataset is one work unit carried between operators as a pickled payload
(its documents, dropped rows, quarantine entries and ledger), the way NeMo Curator passes tasks
between stages: a unit is never split across blocks, so the writer can commit it atomically with
a completion marker, while Ray Data streams, schedules and retries units across the cluster. A unit
larger than ``curate.part_bytes`` is one row per part instead, committed once every part is written
(:mod:`huatuo_ray.curate.parts`), so a worker holds one part, whatever the size of the file.
Each stage is its own ``map_batches`` operator, as Ray tasks (fused with its neighbours) or as an
actor pool with its own CPU/GPU resources, as the recipe says (the operators: :mod:`huatuo_ray.curate.operators`).
A global stage (registered with ``kind="global"``, always last) then reads what the unit stages wrote and writes
the final output.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray

from huatuo_ray import metrics
from huatuo_ray.curate.base import GlobalStage
from huatuo_ray.curate.config import CurateConfig
from huatuo_ray.curate.ids import check_unique_ids
from huatuo_ray.curate.operators import (BLOCK_BYTES, FAILED, READ_RETRIES, StageActor, apply_stage, curate_units,
                                         fusable, note_failure, ray_args, read_units, share_stage_states, write_units)
from huatuo_ray.curate.parts import PartTracker, commit_unit
from huatuo_ray.curate.registry import SPECS, build_stage, select_stages, spec
from huatuo_ray.errors import Incomplete, InputError
from huatuo_ray.io.output import OutputDir
from huatuo_ray.io.storage import location, rmtree
from huatuo_ray.io.units import WorkUnit, plan_units
from huatuo_ray.recipe import SFT_TYPE, Recipe
from huatuo_ray.runtime import start_data_actors

log = logging.getLogger(__name__)
STEP = "curate"  # this step's name in the run (its metrics' tag)


@dataclass
class CurationResult:
    """What a finished curation run reports."""

    output: Path
    stats: dict[str, Any]


# --- driver ----------------------------------------------------------------------------------


def corpus_sources(recipe: Recipe) -> list:
    """The sources curation reads: every source except SFT data (which the sft step validates as it is)."""
    return [s for s in recipe.sources if s.type != SFT_TYPE]


def plan_curation(recipe: Recipe) -> list[WorkUnit]:
    """The work units of the recipe's corpus sources, in a stable order."""
    units = plan_units(corpus_sources(recipe), recipe.curate.unit_bytes, recipe.curate.parquet_rows_per_unit)
    ids = [u.unit_id for u in units]
    if len(set(ids)) != len(ids):
        raise InputError("two work units share an id: are two sources reading the same files?")
    return units


def run_curation(
    recipe: Recipe,
    output: str | Path,
    stages: list[str] | None = None,
    overwrite: bool = False,
    progress_every_s: float = 5.0,
) -> CurationResult:
    """Run (or resume) the curation job over the recipe's corpus sources (not those of type sft) into ``output``.

    Identity checks (refusing an output made with other settings) are the run's (:mod:`huatuo_ray.run`);
    this function resumes whatever ``output`` holds, or clears it first with ``overwrite``.

    Example::

        recipe = load_recipe("configs/local.yaml")
        init_ray(recipe.ray)
        result = run_curation(recipe, "runs/demo/curate")
        print(result.stats["ledger"]["kept_rows"])
    """
    from huatuo_ray.curate.report import finish_run

    started = time.time()
    recipe = recipe.model_copy(update={"sources": corpus_sources(recipe)})
    if not recipe.sources:
        raise InputError("the recipe declares no corpus sources (sources of a type other than sft): add them "
                         "under `sources:` or pass --input")
    run_stages = select_stages(recipe.curate.stages, stages)
    recipe = recipe.model_copy(update={"curate": recipe.curate.model_copy(update={"stages": run_stages})})
    units = plan_curation(recipe)
    unit_ids = [u.unit_id for u in units]
    out_dir = OutputDir(output)
    # a global stage (always last) needs every record: the unit stages write into its staging folder, then it
    # writes the final output
    final = _global_stage(run_stages, recipe.curate)
    if final and (overwrite or not all(out_dir.is_done(u) for u in unit_ids)):
        final.setup()  # e.g. find its model now, before anything is written or run
    if overwrite:
        out_dir.clear()
        for s in SPECS:
            if s.kind == "global":
                build_stage(s.name, recipe.curate).remove_state(out_dir.root)
    done_before = out_dir.open(unit_ids)
    unit_stages = [s for s in run_stages if spec(s).kind == "unit"]
    unit_dir = OutputDir(out_dir.root / final.staging) if final else out_dir
    if final:
        unit_dir.open(unit_ids)
    pending = [u for u in units if not out_dir.is_done(u.unit_id) and not unit_dir.is_done(u.unit_id)]
    log.info("curate: %d work units, %d already done, %d to run; stages: %s",
             len(units), done_before, len(pending), ",".join(run_stages) or "(none)")
    if pending:
        _execute(recipe, unit_stages, pending, unit_dir, progress_every_s, len(units))
    check_unique_ids(units, [unit_dir, out_dir])  # before the global stage and days of LLM work downstream
    extra = {final.name: final.run(recipe.curate, unit_dir, out_dir, unit_ids)} if final else None
    stats = finish_run(recipe, run_stages, out_dir, unit_ids, started, done_before, len(pending), extra)
    return CurationResult(location(output), stats)


def units_done(recipe: Recipe, output: str | Path, unit_ids: list[str]) -> int:
    """Units of ``output`` already committed, in the final output or a global stage's staging folder."""
    final, out = _global_stage(recipe.curate.stages, recipe.curate), OutputDir(output)
    staged = OutputDir(out.root / final.staging) if final else out
    return sum(out.is_done(u) or staged.is_done(u) for u in unit_ids)


def _global_stage(run_stages: list[str], curate: CurateConfig) -> GlobalStage | None:
    """The run's global stage (the config keeps it last), or None."""
    if run_stages and spec(run_stages[-1]).kind == "global":
        return build_stage(run_stages[-1], curate)
    return None


def _execute(recipe: Recipe, run_stages: list[str], pending: list[WorkUnit], out_dir: OutputDir, every_s: float,
             all_units: int) -> None:
    context = ray.data.DataContext.get_current()  # a dataset takes its context when it is created
    names = ("max_errored_blocks", "retried_map_errors", "max_map_retries", "target_max_block_size")
    saved = {n: getattr(context, n) for n in names}
    # A map task (fused operators: the whole unit) whose input failed to read is retried in place; one block is
    # one unit, so a unit that still fails must not stop the others: it stays pending, named at the end.
    context.max_errored_blocks, context.retried_map_errors, context.max_map_retries = -1, ["InputReadError"], \
        READ_RETRIES
    # each part goes on to the next operator as soon as it is made (not buffered into 128 MiB blocks)
    context.target_max_block_size = BLOCK_BYTES
    try:
        _run_units(recipe, run_stages, pending, out_dir, every_s, all_units)
    finally:
        for n, v in saved.items():
            setattr(context, n, v)
    failed = [u.unit_id for u in pending if not out_dir.is_done(u.unit_id)]
    if failed:
        raise Incomplete(failure_message(out_dir.root, failed, len(pending)))
    rmtree(out_dir.root / FAILED)


def _run_units(recipe: Recipe, run_stages: list[str], pending: list[WorkUnit], out_dir: OutputDir,
               every_s: float, all_units: int) -> None:
    recipe_json = recipe.model_dump_json()
    curate = recipe.curate
    curate_json = curate.model_dump_json()
    start_data_actors()  # they start while the stages' shared state is built below
    states = share_stage_states(run_stages, curate)
    ds = ray.data.from_items([{"unit": json.dumps(u.to_dict())} for u in pending], override_num_blocks=len(pending))
    for u in pending:  # a unit retried now has no reason to fail yet
        (out_dir.root / FAILED / f"{u.unit_id}.json").unlink(missing_ok=True)
    if fusable(curate, run_stages):  # one operator: no pickling of the payload between stages
        ds = ds.map_batches(curate_units, batch_size=1, batch_format="numpy",
                            fn_kwargs={"recipe_json": recipe_json, "output": str(out_dir.root), "stages": run_stages,
                                       "curate_json": curate_json, "states": states,
                                       "keep_dropped_text": curate.keep_dropped_text},
                            **ray_args(curate.runtime("read")))
    else:
        ds = _separate_operators(ds, recipe_json, curate, curate_json, states, run_stages, out_dir)
    progress = _Progress(len(pending), every_s, all_units)
    tracker, commits = PartTracker(), []
    for row in ds.iter_rows():
        marker = json.loads(row["marker"])
        if "part" not in marker:
            progress.update(marker["ledger"])
            continue
        parts = tracker.add(marker)
        if parts is not None:  # every part of the unit is written: merge them and commit it, off the driver
            commits.append((marker["unit_id"], commit_unit.options(**curate.runtime("write").task_options())
                            .remote(str(out_dir.root), parts)))
    for unit_id, ref in commits:
        try:
            progress.update(json.loads(ray.get(ref))["ledger"])
        except Exception as e:  # the unit stays pending (no marker): named at the end, retried by a rerun
            note_failure(out_dir.root, unit_id, "commit", e)
            log.error("curate: committing unit %s failed: %s", unit_id, e)
    progress.done()


def _separate_operators(ds, recipe_json: str, curate: CurateConfig, curate_json: str,
                        states: dict[str, ray.ObjectRef], run_stages: list[str], out_dir: OutputDir):
    """The reader, each stage and the writer as operators of their own (a stage on an actor pool, or with
    resources of its own); Ray Data fuses neighbours that are tasks with the same resources."""
    ds = ds.map_batches(read_units, batch_size=1, batch_format="numpy",
                        fn_kwargs={"recipe_json": recipe_json, "output": str(out_dir.root)},
                        **ray_args(curate.runtime("read")))
    for name in run_stages:
        args = ray_args(curate.runtime(name))
        if "compute" in args:
            ds = ds.map_batches(StageActor, batch_size=1, batch_format="numpy",
                                fn_constructor_kwargs={"name": name, "curate_json": curate_json,
                                                       "state_ref": states.get(name)}, **args)
        else:
            ds = ds.map_batches(apply_stage, batch_size=1, batch_format="numpy",
                                fn_kwargs={"name": name, "curate_json": curate_json, "state_ref": states.get(name)},
                                **args)
    return ds.map_batches(write_units, batch_size=1, batch_format="numpy",
                          fn_kwargs={"output": str(out_dir.root), "keep_dropped_text": curate.keep_dropped_text},
                          **ray_args(curate.runtime("write")))


def failure_message(root: Path, failed: list[str], total: int, shown: int = 5) -> str:
    """Which units failed and why (from their failure notes), and what to do."""
    lines = []
    for u in failed[:shown]:
        note = root / FAILED / f"{u}.json"
        try:
            why = json.loads(note.read_text(encoding="utf-8"))["error"]
        except (OSError, ValueError, KeyError):
            why = "no reason recorded (see the error logged above)"
        lines.append(f"{u}: {why}")
    more = f"; and {len(failed) - shown} more" if len(failed) > shown else ""
    return (f"curate: {len(failed)} of {total} work units failed and stay pending ({'; '.join(lines)}{more}). "
            "The other units are committed: rerun the same command to retry these (an I/O error of the file "
            "system is retried; damaged data would have been quarantined, not failed)")


class _Progress:
    """Periodic one-line progress on stderr (readable in `ray job logs` and CI logs alike)."""

    def __init__(self, total: int, every_s: float, all_units: int):
        self.total, self.every_s, self.all_units = total, every_s, all_units
        self.units = self.records = self.kept = self.chars = 0
        self.t0 = self.last = time.time()

    def update(self, ledger: dict) -> None:
        self.units += 1
        metrics.units(STEP, self.all_units - self.total + self.units, self.all_units)
        self.records += ledger["records"]
        self.kept += ledger["kept_rows"]
        self.chars += ledger["input_chars"]
        if time.time() - self.last >= self.every_s:
            self._print()

    def _print(self) -> None:
        self.last = time.time()
        dt = max(self.last - self.t0, 1e-9)
        print(f"[curate] units {self.units}/{self.total}  records {self.records:,}  kept rows {self.kept:,}  "
              f"{self.chars / dt / 1e6:.2f} M chars/s", file=sys.stderr, flush=True)

    def done(self) -> None:
        self._print()
