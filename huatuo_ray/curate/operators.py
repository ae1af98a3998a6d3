"""The curation job's Ray Data operators and the state each worker builds once (the driver is
:mod:`huatuo_ray.curate.pipeline`).

:func:`read_units` turns a work-unit row into payloads (its documents, quarantine entries and ledger, one per part),
:func:`apply_stage` runs one stage over a payload and :func:`write_units` commits it with its marker;
:func:`curate_units` is the three in one task, used when they all run as tasks with the same resources.
"""

from __future__ import annotations

import json
import logging
import pickle
import time
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import ray

from huatuo_ray.curate.config import CurateConfig
from huatuo_ray.curate.histograms import Histograms
from huatuo_ray.curate.registry import build_stage, spec
from huatuo_ray.curate.spec import StageRuntime
from huatuo_ray.errors import InputReadError, LedgerError
from huatuo_ray.io.atomic import write_json_atomic
from huatuo_ray.io.output import OutputDir
from huatuo_ray.io.storage import location
from huatuo_ray.io.readers import read_parts
from huatuo_ray.io.units import WorkUnit
from huatuo_ray.ledger import Ledger, reason_key
from huatuo_ray.recipe import Recipe

log = logging.getLogger(__name__)


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
    """Build each stage's heavy state once on the driver and put it in the object store.

    Every stage is set up before anything goes to Ray, so a missing model or lexicon fails here, at once.
    """
    stages = [build_stage(name, curate) for name in names]
    for stage in stages:
        stage.setup()
    states = {stage.name: stage.shared_state() for stage in stages}
    return {name: ray.put(state) for name, state in states.items() if state is not None}


# --- operators -------------------------------------------------------------------------------


READ_RETRIES = 2  # further attempts of a unit whose input failed to read (InputReadError), before it stays pending
BLOCK_BYTES = 1 << 20  # Ray Data block target: a part (its payload is larger) is a block of its own
FAILED = "_failed"  # <unit output>/_failed/<unit>.json: why a unit's last attempt failed (read by the driver)


def note_failure(output: str | Path, unit_id: str, step: str, exc: BaseException) -> None:
    """Record why a unit failed (the driver names it; Ray Data, told to go on, only logs the traceback)."""
    what = str(exc) if isinstance(exc, InputReadError) else f"{type(exc).__name__}: {exc}"
    try:
        write_json_atomic(location(output) / FAILED / f"{unit_id}.json", {"unit_id": unit_id, "step": step,
                                                                      "error": what[:1000]})
    except OSError:  # the note is for people; the unit fails either way
        log.warning("could not record the failure of unit %s", unit_id)


def read_units(batch: dict[str, np.ndarray], recipe_json: str, output: str) -> Iterator[dict[str, np.ndarray]]:
    """Ray Data operator: work-unit descriptions -> payloads with documents and quarantine entries.

    A unit is yielded as parts of about ``curate.part_bytes`` raw bytes (one part for most units), each its own
    row, so a unit of any size is held one part at a time (:mod:`huatuo_ray.curate.parts`). A read that fails
    for a reason outside the data (:class:`InputReadError`) fails the task: Ray retries it (``READ_RETRIES``),
    then the unit stays without a marker and the step ends incomplete, naming it.
    """
    for unit, payload in _read_payloads(batch, recipe_json, output):
        yield {"unit_id": np.array([unit.unit_id], dtype=object),
               "payload": np.array([pickle.dumps(payload, protocol=5)], dtype=object)}


def _read_payloads(batch: dict[str, np.ndarray], recipe_json: str, output: str) -> Iterator[tuple[WorkUnit, dict]]:
    """The payload of each part of each unit of ``batch``, as :func:`read_units` yields them (unpickled)."""
    recipe = _recipe(recipe_json)
    sources = {s.name: s for s in recipe.sources}
    cfg = recipe.curate
    for unit_json in batch["unit"]:
        unit = WorkUnit(**json.loads(unit_json))
        parts = read_parts(unit, sources[unit.source], cfg.max_record_bytes, cfg.excerpt_chars, cfg.part_bytes)
        k, res, seconds = 0, None, 0.0
        while True:
            t0 = time.perf_counter()
            try:
                nxt = next(parts, None)
            except Exception as e:
                note_failure(output, unit.unit_id, "read", e)
                raise
            if res is not None:  # a part is yielded once it is known whether another follows
                yield unit, _payload(unit, output, res, k, nxt is None, seconds)
                res = None  # the caller holds the part; this frame does not keep it alive while reading the next
                k += 1
            if nxt is None:
                break
            res, seconds = nxt, time.perf_counter() - t0


def _payload(unit: WorkUnit, output: str, res, part: int, last: bool, seconds: float) -> dict:
    ledger = Ledger(
        records=res.records,
        blank_lines=res.blank_lines,
        quarantined=Counter(reason_key(q["reason"]) for q in res.quarantined),
        input_chars=sum(len(d["text"]) for d in res.docs),
    )
    return {"unit": unit.to_dict(), "output": output, "part": part, "last": last, "docs": res.docs,
            "dropped": [], "quarantined": res.quarantined, "ledger": ledger.to_dict(),
            "hist": Histograms().to_dict(), "seconds": {"read": seconds}}


def apply_stage(
    batch: dict[str, np.ndarray], name: str, curate_json: str, state_ref: ray.ObjectRef | None = None
) -> dict[str, np.ndarray]:
    """Ray Data operator: run one curation stage over each unit's documents.

    The unit's ``seconds[name]`` is the operator's whole cost for it: (de)serialising the payload,
    the stage itself, bookkeeping, and the stage's one-time setup if this call built it.
    """
    stage, setup = _timed_stage(name, curate_json, state_ref)
    out = []
    for raw in batch["payload"]:
        t0 = time.perf_counter()
        p = pickle.loads(raw)
        _apply(p, name, stage)
        p["seconds"][name] = setup + time.perf_counter() - t0
        setup = 0.0
        out.append(pickle.dumps(p, protocol=5))
    return {"unit_id": batch["unit_id"], "payload": np.array(out, dtype=object)}


def _timed_stage(name: str, curate_json: str, state_ref: ray.ObjectRef | None):
    """The worker's stage, and the seconds its setup took if this call built it (else 0)."""
    t_setup = time.perf_counter()
    fresh = _stage.cache_info().currsize
    stage = _stage(name, curate_json, state_ref)
    return stage, (time.perf_counter() - t_setup if _stage.cache_info().currsize > fresh else 0.0)


def _apply(p: dict, name: str, stage) -> None:
    """Run one stage over a payload's documents, in place: kept documents, dropped rows, ledger, histograms."""
    docs = p["docs"]
    try:
        res = stage.process(docs)
    except Exception as e:
        note_failure(p["output"], WorkUnit(**p["unit"]).unit_id, name, e)
        raise
    if res.kept_inputs + len(res.dropped) != len(docs):
        raise LedgerError(
            f"stage {name} on unit {WorkUnit(**p['unit']).unit_id}: {len(docs)} in != "
            f"{res.kept_inputs} kept + {len(res.dropped)} dropped"
        )
    undeclared = set(res.counters) - set(spec(name).counters)
    if undeclared:
        raise LedgerError(f"stage {name} reports counters its spec does not declare: {sorted(undeclared)}")
    for d in res.dropped:
        d["stage"] = name
    ledger = Ledger.from_dict(p["ledger"])
    ledger.record(name, len(docs), res.kept_inputs, len(res.kept),
                  [d.get("reason") or "dropped" for d in res.dropped], res.counters)
    hist = Histograms.from_dict(p["hist"])
    hist.observe_stage(name, res.kept, res.dropped)
    p.update(docs=res.kept, ledger=ledger.to_dict(), hist=hist.to_dict())
    p["dropped"].extend(res.dropped)


def write_units(batch: dict[str, np.ndarray], output: str, keep_dropped_text: bool) -> dict[str, np.ndarray]:
    """Ray Data operator: check each unit's ledger, write its files atomically, then its marker.

    A part of a unit of several parts is written under ``_parts/``; its row carries the part's ledger, and the
    driver commits the unit once every part is written (:mod:`huatuo_ray.curate.parts`)."""
    out_dir = OutputDir(output)
    markers = [_write(out_dir, unit_id, pickle.loads(raw), keep_dropped_text)
               for unit_id, raw in zip(batch["unit_id"], batch["payload"])]
    return {"unit_id": batch["unit_id"], "marker": np.array(markers, dtype=object)}


def _write(out_dir: OutputDir, unit_id: str, p: dict, keep_dropped_text: bool) -> str:
    """Check a payload's ledger and write its rows (a whole unit and its marker, or one part); its marker row."""
    output = str(out_dir.root)
    ledger = Ledger.from_dict(p["ledger"])
    try:
        ledger.check(f"unit {unit_id}")
    except LedgerError as e:
        note_failure(output, unit_id, "write", e)
        raise
    hist = Histograms.from_dict(p["hist"])
    hist.observe_kept(p["docs"])
    dropped = p["dropped"]
    if not keep_dropped_text:
        for d in dropped:
            d.pop("text", None)
    t0 = time.perf_counter()
    rows = {"kept": p["docs"], "dropped": dropped, "quarantined": p["quarantined"]}
    whole = p["part"] == 0 and p["last"]
    if whole:
        out_dir.write_rows(unit_id, rows)
    else:
        out_dir.write_part(unit_id, p["part"], rows)
    seconds = {**p["seconds"], "write": time.perf_counter() - t0}
    marker = {"unit": p["unit"], "unit_id": unit_id, "ledger": ledger.to_dict(), "hist": hist.to_dict(),
              "seconds": seconds}
    if whole:
        out_dir.write_marker(unit_id, marker)
    else:
        marker.update(part=p["part"], last=p["last"])
    return json.dumps(marker)


def curate_units(batch: dict[str, np.ndarray], recipe_json: str, output: str, stages: list[str], curate_json: str,
                 states: dict[str, ray.ObjectRef], keep_dropped_text: bool) -> Iterator[dict[str, np.ndarray]]:
    """Ray Data operator: :func:`read_units`, :func:`apply_stage` for each stage and :func:`write_units` in one.

    Used when the reader, every stage and the writer run as Ray tasks with the same resources, which Ray Data
    would fuse into one task anyway: each part goes from the reader through the stages to the writer as the
    same Python objects, instead of being pickled and unpickled between operators. Seconds, ledgers, failure
    notes and the rows written are those of the separate operators."""
    out_dir = OutputDir(output)
    for unit, p in _read_payloads(batch, recipe_json, output):
        for name in stages:
            stage, setup = _timed_stage(name, curate_json, states.get(name))
            t0 = time.perf_counter()
            _apply(p, name, stage)
            p["seconds"][name] = setup + time.perf_counter() - t0
        marker = _write(out_dir, unit.unit_id, p, keep_dropped_text)
        del p
        yield {"unit_id": np.array([unit.unit_id], dtype=object), "marker": np.array([marker], dtype=object)}


def fusable(curate: CurateConfig, stages: list[str]) -> bool:
    """Whether the reader, the stages and the writer all run as tasks with the same resources (one operator)."""
    runtimes = [curate.runtime(k) for k in ("read", *stages, "write")]
    return all(not rt.actors for rt in runtimes) and len({json.dumps(rt.task_options()) for rt in runtimes}) == 1


class StageActor:
    """Actor-pool form of :func:`apply_stage` for stages configured with ``actors: [min, max]``."""

    def __init__(self, name: str, curate_json: str, state_ref: ray.ObjectRef | None = None):
        self.name, self.curate_json, self.state_ref = name, curate_json, state_ref
        _stage(name, curate_json, state_ref)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return apply_stage(batch, self.name, self.curate_json, self.state_ref)


def ray_args(rt: StageRuntime) -> dict[str, Any]:
    args: dict[str, Any] = rt.task_options()
    if rt.actors:
        args["compute"] = ray.data.ActorPoolStrategy(min_size=rt.actors[0], max_size=rt.actors[1])
    return args
