"""The unify job on Ray Data: one row per curation work unit, an actor pool that generates and writes.

Input is a finished curation output directory; its units (``kept/<unit>.parquet``) are the unify work units,
with the same ids, completion markers, atomic writes and ledger (huatuo_ray/io/output.py). Each actor holds
an event loop and a :class:`~huatuo_ray.llm.client.ChatClient`; it runs every segment of a unit concurrently
(at most ``llm.endpoint.concurrency`` requests in flight per actor) and commits the unit. All actors share the
request cache, so a crashed or repeated run never resends a finished request. A unit whose segments hit LLM
errors is committed with ``errors`` in its marker and re-processed by the next run (``unify.retry_errors``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import ray

from huatuo_ray import metrics
from huatuo_ray.errors import InputError, SetupError
from huatuo_ray.io.atomic import write_json_atomic
from huatuo_ray.io.output import OutputDir
from huatuo_ray.io.staging import local_dir, staging_root
from huatuo_ray.io.storage import arrow_source, is_remote, location, read_parquet, rmtree
from huatuo_ray.job import LLM_CACHE
from huatuo_ray.ledger import Ledger, reason_key
from huatuo_ray.llm.backends import cache_identity, model_name, open_backend
from huatuo_ray.llm.cache import RequestCache
from huatuo_ray.llm.client import ChatClient, read_api_key
from huatuo_ray.llm.config import EndpointConfig
from huatuo_ray.llm.vllm_engine import (
    ReplayClient,
    generate_round,
    resolve_engine_model,
)
from huatuo_ray.recipe import Recipe
from huatuo_ray.redact import Secret
from huatuo_ray.unify.config import LANGUAGE_REASON, SLICE_REASON, UnifyConfig
from huatuo_ray.unify.generate import PairOutcome, unify_segment
from huatuo_ray.unify.output import finish_unify, kept_row, rejected_row

log = logging.getLogger(__name__)
STEP = "unify"  # this step's name in the run (its metrics' tag)
ENGINE_DIR = "_engine"  # backend vllm_engine: the request rounds of the run in progress


@dataclass
class UnifyResult:
    output: Path
    stats: dict[str, Any]


def input_units(curated: Path) -> list[str]:
    """The unit ids of a curation output (each with a kept/ file, or none when it kept nothing)."""
    run = curated / "_run.json"
    meta = json.loads(run.read_text(encoding="utf-8")) if run.exists() else {}
    if meta.get("step") != "curate":
        raise InputError(f"{curated} is not a curation output (no _run.json of a curate step): run "
                         "`huatuo-ray curate` first")
    return list(meta["units"])


def model_id(recipe: Recipe) -> str:
    return model_name(recipe.llm)


class UnifyWorker:
    """Ray Data actor: generate pairs for whole units and commit them.

    With ``replay_json`` (backend ``vllm_engine``) the actor sends nothing: it replays units from the request
    cache and writes a unit's missing requests to ``requests_dir`` instead of committing it
    (:mod:`huatuo_ray.llm.vllm_engine`). ``identity`` keys the request cache (the model's identity, computed on
    the driver); ``api_key`` is the endpoint's key, read on the driver: a worker node need not have the variable,
    and the key is in no file, recipe or log.
    """

    def __init__(self, unify_json: str, endpoint_json: str | None, cache_dir: str, curated: str, output: str,
                 model: str, identity: str, replay_json: str | None = None, api_key: Secret | None = None):
        self.cfg = UnifyConfig.model_validate_json(unify_json)
        self.cache_dir, self.curated, self.out = cache_dir, location(curated), OutputDir(output)
        self.model, self.identity = model, identity
        self._api_key = api_key
        self.replay = json.loads(replay_json) if replay_json else None
        if self.replay:
            path = location(self.replay["errors_path"])
            self.errors = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        # One event loop in a thread serves every unit this actor holds: the actor is threaded
        # (max_concurrency), so the next unit starts while the last requests of the previous one finish,
        # and all share one client whose semaphore keeps llm.endpoint.concurrency requests in flight.
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True, name="unify-loop").start()
        self.client = None if self.replay else self._run(self._make_client(EndpointConfig.model_validate_json(endpoint_json)))

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    async def _make_client(self, endpoint: EndpointConfig) -> ChatClient:
        key = self._api_key.get() if self._api_key is not None else ""
        return ChatClient(endpoint, cache=RequestCache(self.cache_dir), identity=self.identity, api_key=key)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        markers = [json.dumps(self._run(self.process_unit(u, int(b)))) for u, b in zip(batch["unit_id"], batch["budget"])]
        return {"unit_id": batch["unit_id"], "marker": np.array(markers, dtype=object)}

    async def process_unit(self, unit_id: str, budget: int = -1) -> dict:
        """Generate, check and commit one unit; only its first ``budget`` segments when >= 0 (unify.max_segments)."""
        t0 = time.perf_counter()
        self.out.marker(unit_id).unlink(missing_ok=True)  # a re-processed unit is pending until committed again
        path = self.curated / "kept" / f"{unit_id}.parquet"
        segments = read_parquet(path).to_pylist() if path.exists() else []
        langs = self.cfg.source_languages
        other_lang = [s for s in segments if langs is not None and s.get("language") not in langs]
        segments = [s for s in segments if langs is None or s.get("language") in langs]
        beyond = segments[budget:] if budget >= 0 else []
        segments = segments[:budget] if budget >= 0 else segments
        replay = ReplayClient(self.identity, RequestCache(self.cache_dir), self.replay["run_id"], self.errors) \
            if self.replay else None
        chat = replay.chat if replay else self.client.chat
        outcomes = await asyncio.gather(*(self._one(chat, s) for s in segments))
        if replay and replay.misses:  # not committed: its missing requests go to the engine round
            n = replay.write_misses(location(self.replay["requests_dir"]) / f"{unit_id}.parquet")
            return {"unit_id": unit_id, "pending_requests": n}
        outcomes += [PairOutcome(status="dropped", reason=SLICE_REASON)] * len(beyond)
        outcomes += [PairOutcome(status="dropped", reason=LANGUAGE_REASON)] * len(other_lang)
        sent = len(segments)
        segments += beyond + other_lang
        rows: dict[str, list[dict]] = {"kept": [], "dropped": [], "quarantined": []}
        ledger = Ledger(records=len(segments), input_chars=sum(len(s.get("text") or "") for s in segments))
        stage = ledger.stage("unify")
        hist: Counter = Counter()
        for seg, o in zip(segments, outcomes):
            for a in o.attempts:
                if a.get("deviation") is not None:
                    kind = "jaccard" if seg.get("language") == self.cfg.target_language else "embedding"
                    hist[f"{kind}:{math.floor(a['deviation'] * 20) / 20:.2f}"] += 1
            if o.status == "kept":
                rows["kept"].append(kept_row(seg, o, self.cfg.target_language, self.model, self.cfg.keep_attempts))
            elif o.status == "dropped":
                rows["dropped"].append(rejected_row(seg, o, self.cfg.target_language, self.model))
                stage.dropped[reason_key(o.reason or "dropped")] += 1
            else:
                rows["quarantined"].append(rejected_row(seg, o, self.cfg.target_language, self.model))
                ledger.quarantined[reason_key(o.reason or "llm error")] += 1
        stage.rows_in = len(segments) - len(rows["quarantined"])
        stage.kept_in = stage.rows_out = len(rows["kept"])
        regenerations = sum(max(0, len(o.attempts) - 1) for o in outcomes)
        metrics.inc("huatuo_regenerations", regenerations)
        stage.counters.update(attempts=sum(len(o.attempts) for o in outcomes), regenerations=regenerations,
                              truncated_sources=sum(o.truncated for o in outcomes),
                              sent=sent, sliced=len(beyond) + len(other_lang))
        ledger.check(f"unit {unit_id}")
        self.out.write_rows(unit_id, rows)
        requests = dict(sum((o.request_log for o in outcomes), Counter()))
        marker = {"unit_id": unit_id, "ledger": ledger.to_dict(), "errors": len(rows["quarantined"]),
                  "requests": requests, "deviation_hist": dict(hist), "seconds": time.perf_counter() - t0}
        self.out.write_marker(unit_id, marker)
        return marker

    async def _one(self, chat, segment: dict):
        lang = segment.get("language") if segment.get("language") in ("zh", "en") else self.cfg.target_language
        return await unify_segment(chat, segment.get("text") or "", lang, self.cfg)


def segment_budgets(curated: Path, unit_ids: list[str], max_segments: int | None,
                    languages: list[str] | None = None) -> dict[str, int]:
    """How many of each unit's segments (in ``languages``, if given) to unify: all (-1), or what is left of
    ``max_segments`` after the units before it in the curation's unit order."""
    if max_segments is None:
        return dict.fromkeys(unit_ids, -1)
    budgets, left = {}, max_segments
    for u in input_units(curated):
        path = curated / "kept" / f"{u}.parquet"
        if not path.exists():
            n = 0
        elif languages is None:
            n = pq.ParquetFile(arrow_source(path)).metadata.num_rows
        else:
            n = sum(lang in languages for lang in read_parquet(path, columns=["language"]).column(0).to_pylist())
        budgets[u] = min(n, left)
        left -= budgets[u]
    return {u: budgets[u] for u in unit_ids}


def pending_units(out: OutputDir, unit_ids: list[str], retry_errors: bool) -> list[str]:
    pending = []
    for u in unit_ids:
        if not out.is_done(u):
            pending.append(u)
        elif retry_errors and json.loads(out.marker(u).read_text(encoding="utf-8")).get("errors"):
            pending.append(u)
    return pending


def run_unify(recipe: Recipe, curated: str | Path, output: str | Path, overwrite: bool = False,
              cache_dir: str | Path | None = None) -> UnifyResult:
    """Run (or resume) unification of a curation output into ``output``; Ray must be initialised.

    The request cache is ``cache_dir``, else ``llm.cache_dir``, else ``output/_llm_cache``. Identity checks
    (refusing an output made from another curation) are the run's (:mod:`huatuo_ray.run`).

    Example::

        recipe = load_recipe("configs/local.yaml")
        init_ray(recipe.ray)
        result = run_unify(recipe, "runs/demo/curate", "runs/demo/unify")
        print(result.stats["pairs"], "pairs in", result.output / "release" / "huatuogpt2.jsonl")
    """
    started = time.time()
    curated, output = location(curated), location(output)
    unit_ids = input_units(curated)
    out = OutputDir(output)
    if overwrite:
        out.clear()
        rmtree(output / "release")
    done_before = out.open(unit_ids)
    pending = pending_units(out, unit_ids, recipe.unify.retry_errors)
    log.info("unify: %d units, %d done before, %d to run (model %s)", len(unit_ids), done_before, len(pending),
             model_id(recipe))
    if pending:
        cache_dir = str(cache_dir or recipe.llm.cache_dir or output / LLM_CACHE)
        identity = cache_identity(recipe.llm)
        if recipe.llm.backend == "vllm_engine":
            _execute_engine(recipe, cache_dir, curated, out, pending, identity)
        else:
            try:  # here, on the driver: the workers get the key itself
                api_key = Secret(read_api_key(recipe.llm.endpoint))
            except ValueError as e:
                raise SetupError(f"{e} (on the machine that runs the unify driver)") from None
            # the local server's log and record (its pid, found again after a kill) are files of this host: in the
            # output on disk, in the output's local staging directory when the output is in an object store
            server_dir = (local_dir(output, staging_root(recipe.run.staging_dir)).parent / "llm-server"
                          if is_remote(output) else output)
            with open_backend(recipe.llm, server_dir) as endpoint:
                _execute(recipe, endpoint, cache_dir, curated, out, pending, len(unit_ids), identity, api_key)
    rmtree(output / ENGINE_DIR)  # rounds a run killed after its last commit left behind
    stats = finish_unify(out, unit_ids, started, done_before, len(pending))
    print(f"[unify] {describe(stats)}; requests {stats['requests']}", file=sys.stderr, flush=True)
    return UnifyResult(output, stats)


def describe(stats: dict) -> str:
    """One line on a unify output: only the segments sent to the model count as processed."""
    sliced = stats["sliced"]
    rate = f" (acceptance {stats['pairs'] / stats['sent']:.0%})" if stats.get("sent") else ""
    return (f"{stats['sent']:,} segments sent to the model -> {stats['pairs']:,} pairs{rate}, "
            f"{stats['dropped'] - sliced:,} rejected, {stats['llm_errors']:,} LLM errors (pending)"
            + (f"; {sliced:,} segments not sent (unify.max_segments / unify.source_languages)" if sliced else ""))


def _map_units(recipe: Recipe, endpoint: EndpointConfig | None, cache_dir: str, curated: Path, out: OutputDir,
               pending: list[str], identity: str, replay: dict | None = None, api_key: Secret | None = None):
    """Run :class:`UnifyWorker` over the pending units; yields each unit's marker (or pending-requests note)."""
    cfg = recipe.unify
    budgets = segment_budgets(curated, pending, cfg.max_segments, cfg.source_languages)
    ds = ray.data.from_items([{"unit_id": u, "budget": budgets[u]} for u in pending], override_num_blocks=len(pending))
    ds = ds.map_batches(
        UnifyWorker, batch_size=1, batch_format="numpy", num_cpus=cfg.num_cpus,
        compute=ray.data.ActorPoolStrategy(size=min(cfg.actors, len(pending)), max_tasks_in_flight_per_actor=2),
        max_concurrency=2,
        fn_constructor_kwargs={"unify_json": cfg.model_dump_json(),
                               "endpoint_json": endpoint.model_dump_json() if endpoint else None,
                               "cache_dir": cache_dir, "curated": str(curated.resolve()),
                               "output": str(out.root.resolve()), "model": model_id(recipe),
                               "identity": identity, "replay_json": json.dumps(replay) if replay else None,
                               "api_key": api_key},
    )
    for row in ds.iter_rows():
        yield json.loads(row["marker"])


def _execute(recipe: Recipe, endpoint: EndpointConfig, cache_dir: str, curated: Path, out: OutputDir,
             pending: list[str], total: int, identity: str, api_key: Secret | None) -> None:
    t0, n, segs, pairs = time.time(), 0, 0, 0
    for m in _map_units(recipe, endpoint, cache_dir, curated, out, pending, identity, api_key=api_key):
        n += 1
        metrics.units(STEP, total - len(pending) + n, total)
        segs += m["ledger"]["stages"][0]["counters"].get("sent", 0) if m["ledger"]["stages"] else 0
        pairs += m["ledger"]["kept_rows"]
        print(f"[unify] units {n}/{len(pending)}  segments sent {segs:,}  pairs {pairs:,}  "
              f"{segs / max(time.time() - t0, 1e-9):.2f} segments/s", file=sys.stderr, flush=True)


def _execute_engine(recipe: Recipe, cache_dir: str, curated: Path, out: OutputDir, pending: list[str],
                    identity: str) -> None:
    """Backend ``vllm_engine``: alternate replay rounds and engine rounds until every unit is committed.

    The rounds' files (``_engine/roundNN/<unit>.parquet``, ``_engine/errors.json``) live in the output, on disk or
    in the bucket (each written whole), so actors on any node read and write them; they are deleted at the start
    and at the end. Only the cache carries over a kill: a rerun replays what it holds and asks only the rest.
    """
    import uuid

    run_id = uuid.uuid4().hex
    model_path = resolve_engine_model(recipe.llm.engine)
    work = out.root.resolve() / ENGINE_DIR  # absolute: the actors' working directory is not the driver's
    rmtree(work)  # a killed run's rounds: their finished requests are in the cache
    errors: dict[str, str] = {}
    max_rounds = 2 * (recipe.unify.max_regenerations + 1) + 1  # requests per segment, at most, plus the last replay
    todo = pending
    for r in range(max_rounds + 1):
        requests_dir = work / f"round{r:02d}"
        write_json_atomic(work / "errors.json", errors)
        replay = {"run_id": run_id, "errors_path": str(work / "errors.json"), "requests_dir": str(requests_dir)}
        notes = list(_map_units(recipe, None, cache_dir, curated, out, todo, identity, replay))
        waiting = [m["unit_id"] for m in notes if "pending_requests" in m]
        wanted = sum(m.get("pending_requests", 0) for m in notes)
        print(f"[unify] round {r}: {len(todo) - len(waiting)}/{len(todo)} units committed, {wanted:,} requests "
              f"for the engine", file=sys.stderr, flush=True)
        if not waiting:
            rmtree(work)
            return
        t0 = time.time()
        n, new_errors = generate_round(requests_dir, recipe.llm.engine, model_path, model_id(recipe), cache_dir,
                                       run_id)
        errors.update(new_errors)
        print(f"[unify] round {r}: engine generated {n - len(new_errors):,}, failed {len(new_errors):,} "
              f"({n / max(time.time() - t0, 1e-9):.2f} requests/s)", file=sys.stderr, flush=True)
        todo = waiting
    raise RuntimeError(f"unify: units still waiting for requests after {max_rounds} engine rounds: {todo[:5]}")
