"""The curation job on Ray Data: read -> stages -> write, one resumable work unit per row.

Each row of the Ray Dataset is one work unit carried between operators as a pickled payload
(its documents, dropped rows, quarantine entries and ledger), the way NeMo Curator passes tasks
between stages: a unit is never split across blocks, so the writer can commit it atomically with
a completion marker, while Ray Data streams, schedules and retries units across the cluster.
Each stage is its own ``map_batches`` operator, as Ray tasks (fused with its neighbours) or as an
actor pool with its own CPU/GPU resources, as the recipe says.
"""

from __future__ import annotations

import json
import logging
import pickle
import sys
import time
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import ray

from huatuo_ray.curate.dedup import PRE_DEDUP, remove_dedup_state, run_dedup
from huatuo_ray.curate.histograms import Histograms
from huatuo_ray.curate.stages import build_stage, select_stages
from huatuo_ray.errors import InputError, LedgerError
from huatuo_ray.io.output import OutputDir
from huatuo_ray.io.readers import read_unit
from huatuo_ray.io.units import WorkUnit, plan_units
from huatuo_ray.ledger import Ledger, reason_key
from huatuo_ray.recipe import SFT_TYPE, CurateConfig, Recipe, StageRuntime

log = logging.getLogger(__name__)


@dataclass
class CurationResult:
    """What a finished curation run reports."""

    output: Path
    stats: dict[str, Any]


# --- per-worker state ------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _recipe(recipe_json: str) -> Recipe:
    return Recipe.model_validate_json(recipe_json)


@lru_cache(maxsize=16)
def _stage(name: str, curate_json: str, state_ref: ray.ObjectRef | None = None):
    """The stage, built once per worker: from the driver's shared state when there is one, else ``setup``."""
    stage = build_stage(name, CurateConfig.model_validate_json(curate_json))
    if state_ref is not None:
        stage.load_shared_state(ray.get(state_ref))
    else:
        stage.setup()
    return stage


def share_stage_states(names: list[str], curate: CurateConfig) -> dict[str, ray.ObjectRef]:
    """Build each stage's heavy state once on the driver and put it in the object store."""
    refs = {}
    for name in names:
        stage = build_stage(name, curate)
        stage.setup()
        state = stage.shared_state()
        if state is not None:
            refs[name] = ray.put(state)
    return refs


# --- operators -------------------------------------------------------------------------------


def read_units(batch: dict[str, np.ndarray], recipe_json: str) -> dict[str, np.ndarray]:
    """Ray Data operator: work-unit descriptions -> payloads with documents and quarantine entries."""
    recipe = _recipe(recipe_json)
    sources = {s.name: s for s in recipe.sources}
    ids, payloads = [], []
    for unit_json in batch["unit"]:
        unit = WorkUnit(**json.loads(unit_json))
        t0 = time.perf_counter()
        res = read_unit(unit, sources[unit.source], recipe.curate.max_record_bytes, recipe.curate.excerpt_chars)
        seconds = time.perf_counter() - t0
        ledger = Ledger(
            records=res.records,
            blank_lines=res.blank_lines,
            quarantined=Counter(reason_key(q["reason"]) for q in res.quarantined),
            input_chars=sum(len(d["text"]) for d in res.docs),
        )
        payload = {"unit": unit.to_dict(), "docs": res.docs, "dropped": [], "quarantined": res.quarantined,
                   "ledger": ledger.to_dict(), "hist": Histograms().to_dict(), "seconds": {"read": seconds}}
        ids.append(unit.unit_id)
        payloads.append(pickle.dumps(payload, protocol=5))
    return {"unit_id": np.array(ids, dtype=object), "payload": np.array(payloads, dtype=object)}


def apply_stage(
    batch: dict[str, np.ndarray], name: str, curate_json: str, state_ref: ray.ObjectRef | None = None
) -> dict[str, np.ndarray]:
    """Ray Data operator: run one curation stage over each unit's documents.

    The unit's ``seconds[name]`` is the operator's whole cost for it: (de)serialising the payload,
    the stage itself, bookkeeping, and the stage's one-time setup if this call built it.
    """
    t_setup = time.perf_counter()
    fresh = _stage.cache_info().currsize
    stage = _stage(name, curate_json, state_ref)
    setup = time.perf_counter() - t_setup if _stage.cache_info().currsize > fresh else 0.0
    out = []
    for raw in batch["payload"]:
        t0 = time.perf_counter()
        p = pickle.loads(raw)
        docs = p["docs"]
        res = stage.process(docs)
        if res.kept_inputs + len(res.dropped) != len(docs):
            raise LedgerError(
                f"stage {name} on unit {WorkUnit(**p['unit']).unit_id}: {len(docs)} in != "
                f"{res.kept_inputs} kept + {len(res.dropped)} dropped"
            )
        ledger = Ledger.from_dict(p["ledger"])
        count = ledger.stage(name)
        count.rows_in, count.kept_in, count.rows_out = len(docs), res.kept_inputs, len(res.kept)
        for d in res.dropped:
            d["stage"] = name
            count.dropped[reason_key(d.get("reason") or "dropped")] += 1
        count.counters.update(res.counters)
        hist = Histograms.from_dict(p["hist"])
        hist.observe_stage(name, res.kept, res.dropped)
        p.update(docs=res.kept, ledger=ledger.to_dict(), hist=hist.to_dict())
        p["dropped"].extend(res.dropped)
        p["seconds"][name] = setup + time.perf_counter() - t0
        setup = 0.0
        out.append(pickle.dumps(p, protocol=5))
    return {"unit_id": batch["unit_id"], "payload": np.array(out, dtype=object)}


def write_units(batch: dict[str, np.ndarray], output: str, keep_dropped_text: bool) -> dict[str, np.ndarray]:
    """Ray Data operator: check each unit's ledger, write its files atomically, then its marker."""
    out_dir = OutputDir(output)
    markers = []
    for unit_id, raw in zip(batch["unit_id"], batch["payload"]):
        p = pickle.loads(raw)
        ledger = Ledger.from_dict(p["ledger"])
        ledger.check(f"unit {unit_id}")
        hist = Histograms.from_dict(p["hist"])
        hist.observe_kept(p["docs"])
        dropped = p["dropped"]
        if not keep_dropped_text:
            for d in dropped:
                d.pop("text", None)
        t0 = time.perf_counter()
        out_dir.write_rows(unit_id, {"kept": p["docs"], "dropped": dropped, "quarantined": p["quarantined"]})
        seconds = {**p["seconds"], "write": time.perf_counter() - t0}
        marker = {"unit": p["unit"], "unit_id": unit_id, "ledger": ledger.to_dict(), "hist": hist.to_dict(),
                  "seconds": seconds}
        out_dir.write_marker(unit_id, marker)
        markers.append(json.dumps(marker))
    return {"unit_id": batch["unit_id"], "marker": np.array(markers, dtype=object)}


class _StageActor:
    """Actor-pool form of :func:`apply_stage` for stages configured with ``actors: [min, max]``."""

    def __init__(self, name: str, curate_json: str, state_ref: ray.ObjectRef | None = None):
        self.name, self.curate_json, self.state_ref = name, curate_json, state_ref
        _stage(name, curate_json, state_ref)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return apply_stage(batch, self.name, self.curate_json, self.state_ref)


def _ray_args(rt: StageRuntime | None) -> dict[str, Any]:
    rt = rt or StageRuntime()
    args: dict[str, Any] = {"num_cpus": rt.num_cpus}
    if rt.num_gpus:
        args["num_gpus"] = rt.num_gpus
    if rt.actors:
        args["compute"] = ray.data.ActorPoolStrategy(min_size=rt.actors[0], max_size=rt.actors[1])
    return args


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
    if overwrite:
        out_dir.clear()
        remove_dedup_state(out_dir.root)
    done_before = out_dir.open(unit_ids)
    # dedup is global: the per-unit stages write into _pre_dedup/, then dedup writes the final output
    global_dedup = "dedup" in run_stages
    unit_stages = [s for s in run_stages if s != "dedup"]
    unit_dir = OutputDir(out_dir.root / PRE_DEDUP) if global_dedup else out_dir
    if global_dedup:
        unit_dir.open(unit_ids)
    pending = [u for u in units if not out_dir.is_done(u.unit_id) and not unit_dir.is_done(u.unit_id)]
    log.info("curate: %d work units, %d already done, %d to run; stages: %s",
             len(units), done_before, len(pending), ",".join(run_stages) or "(none)")
    if pending:
        _execute(recipe, unit_stages, pending, unit_dir, progress_every_s)
    extra = {"dedup": run_dedup(recipe, unit_dir, out_dir, unit_ids)} if global_dedup else None
    stats = finish_run(recipe, run_stages, out_dir, unit_ids, started, done_before, len(pending), extra)
    return CurationResult(Path(output), stats)


def _execute(recipe: Recipe, run_stages: list[str], pending: list[WorkUnit], out_dir: OutputDir, every_s: float) -> None:
    recipe_json = recipe.model_dump_json()
    curate_json = recipe.curate.model_dump_json()
    res = recipe.curate.resources
    states = share_stage_states(run_stages, recipe.curate)
    ds = ray.data.from_items([{"unit": json.dumps(u.to_dict())} for u in pending], override_num_blocks=len(pending))
    ds = ds.map_batches(read_units, batch_size=1, batch_format="numpy", fn_kwargs={"recipe_json": recipe_json},
                        **_ray_args(res.get("read")))
    for name in run_stages:
        args = _ray_args(res.get(name))
        if "compute" in args:
            ds = ds.map_batches(_StageActor, batch_size=1, batch_format="numpy",
                                fn_constructor_kwargs={"name": name, "curate_json": curate_json,
                                                       "state_ref": states.get(name)}, **args)
        else:
            ds = ds.map_batches(apply_stage, batch_size=1, batch_format="numpy",
                                fn_kwargs={"name": name, "curate_json": curate_json, "state_ref": states.get(name)},
                                **args)
    ds = ds.map_batches(write_units, batch_size=1, batch_format="numpy",
                        fn_kwargs={"output": str(out_dir.root), "keep_dropped_text": recipe.curate.keep_dropped_text},
                        **_ray_args(res.get("write")))
    progress = _Progress(len(pending), every_s)
    for row in ds.iter_rows():
        progress.update(json.loads(row["marker"])["ledger"])
    progress.done()


class _Progress:
    """Periodic one-line progress on stderr (readable in `ray job logs` and CI logs alike)."""

    def __init__(self, total: int, every_s: float):
        self.total, self.every_s = total, every_s
        self.units = self.records = self.kept = self.chars = 0
        self.t0 = self.last = time.time()

    def update(self, ledger: dict) -> None:
        self.units += 1
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
