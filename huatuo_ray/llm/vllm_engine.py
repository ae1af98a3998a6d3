"""Backend ``vllm_engine``: vLLM inside Ray Data actors (``ray.data.llm``), driven in rounds over the request cache.

``ray.data.llm`` takes a dataset of prompts and returns a dataset of completions; the unify logic asks one
question, checks it, then asks for an answer, and may regenerate. The two meet through the request cache:

1. plan: every pending unit replays its segments' logic with a :class:`ReplayClient`, which answers from the
   cache and records each request it does not find (a miss ends that segment's replay for this round); a unit
   with no misses is committed, a unit with misses writes them to ``<requests_dir>/<unit>.parquet``;
2. generate: :func:`generate_round` reads those files, runs them through the vLLM engine processor
   (chat template -> engine, one engine per actor, tensor/pipeline parallel inside it) and stores each
   completion in the cache; per-row engine errors are returned, not raised;
3. repeat until no unit has misses. A segment needs at most ``2 * (max_regenerations + 1)`` requests, so the
   number of rounds is bounded. A crashed run loses only the round in flight: finished requests are cached.

Engine errors of this run are handed to the next round's replay as errors (the unit is committed with the
segment pending, as with an endpoint's failed request); a prompt over the model's context is refused once,
cached as a refusal, and the segment is dropped with that reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from huatuo_ray.io.atomic import write_parquet_atomic
from huatuo_ray.io.storage import ObjectPath, location, read_parquet
from huatuo_ray.llm.cache import RequestCache, request_key
from huatuo_ray.llm.client import CONTEXT_REASON, LLMResult, sampling_params
from huatuo_ray.llm.config import EngineConfig, SamplingConfig

PENDING = "pending: not generated yet"
_CONTEXT_MARKERS = ("maximum model length", "max_model_len", "context length", "too long")


class ReplayClient:
    """Chat client that answers only from the cache; what it cannot answer is recorded in :attr:`misses`.

    A cache entry written by this run (``run`` field) counts as a sent request, an older one as a cache hit,
    so a unit's request statistics read the same as with an endpoint.
    """

    def __init__(self, identity: str, cache: RequestCache, run_id: str, errors: dict[str, str] | None = None):
        self.identity, self.cache, self.run_id = identity, cache, run_id
        self.errors = errors or {}
        self.misses: dict[str, dict[str, str]] = {}

    async def chat(self, messages: list[dict], sampling: SamplingConfig | dict[str, Any], attempt: int = 0) -> LLMResult:
        params = sampling_params(sampling, attempt)
        key = request_key(self.identity, messages, params)
        if key in self.errors:
            return LLMResult(error=self.errors[key], attempts=1)
        hit = self.cache.get(key)
        if hit is not None:
            return LLMResult(**{**hit["result"], "cached": hit.get("run") != self.run_id})
        self.misses[key] = {"key": key, "messages_json": json.dumps(messages, ensure_ascii=False),
                            "sampling_json": json.dumps(params, sort_keys=True)}
        return LLMResult(error=PENDING)

    def write_misses(self, path: "Path | ObjectPath") -> int:
        """Write the recorded misses to a Parquet file or object (whole, atomically); returns how many."""
        import pyarrow as pa

        rows = list(self.misses.values())
        write_parquet_atomic(pa.Table.from_pylist(rows), path)
        return len(rows)


def processor_config(cfg: EngineConfig, model_path: str):
    """The ``ray.data.llm`` vLLM engine processor configuration for this recipe section."""
    from ray.data.llm import vLLMEngineProcessorConfig

    engine_kwargs: dict[str, Any] = {
        "max_model_len": cfg.max_model_len, "dtype": cfg.dtype, "enforce_eager": cfg.enforce_eager,
        "tensor_parallel_size": cfg.tensor_parallel_size, "pipeline_parallel_size": cfg.pipeline_parallel_size,
    }
    if cfg.gpu_memory_utilization is not None:
        engine_kwargs["gpu_memory_utilization"] = cfg.gpu_memory_utilization
    engine_kwargs.update(cfg.engine_kwargs)
    cpu = cfg.device == "cpu"
    workers = cfg.tensor_parallel_size * cfg.pipeline_parallel_size
    return vLLMEngineProcessorConfig(
        model_source=model_path,
        engine_kwargs=engine_kwargs,
        concurrency=cfg.actors,
        batch_size=cfg.batch_size,
        max_concurrent_batches=cfg.max_concurrent_batches,
        accelerator_type=None if cpu else cfg.accelerator_type,
        # On CPU the engine asks for CPU bundles (the default bundle asks for a GPU and waits forever).
        placement_group_config={"bundles": [{"CPU": 1}] * workers} if cpu else None,
        # The metrics exporter needs a Prometheus setup a CPU/local Ray does not have.
        log_engine_metrics=not cpu,
        runtime_env={"env_vars": dict(cfg.env)} if cfg.env else None,
        should_continue_on_error=True,
        # The engine tokenizes and detokenizes itself; only the chat template runs as its own (small) actor.
        chat_template_stage={"enabled": True, "num_cpus": cfg.cpu_stage_num_cpus},
        tokenize_stage=False,
        detokenize_stage=False,
    )


def _preprocess(row: dict[str, Any]) -> dict[str, Any]:
    params = {k: v for k, v in json.loads(row["sampling_json"]).items() if v is not None}
    return {"messages": json.loads(row["messages_json"]), "sampling_params": params}


def engine_reason(error: str) -> str:
    """Short per-row reason for an engine error (context overflow is recognised: it is a drop, not a retry)."""
    low = error.lower()
    if any(m in low for m in _CONTEXT_MARKERS):
        return CONTEXT_REASON
    return "engine error: " + error.split(":", 1)[0][:80]


def _store(batch: dict[str, np.ndarray], cache_dir: str, model: str, run_id: str) -> dict[str, np.ndarray]:
    """Cache the batch's completions and context refusals; return (key, error or "") for every row."""
    cache = RequestCache(cache_dir)
    keys, errors = [], []
    for i, key in enumerate(batch["key"]):
        err = str(batch["__inference_error__"][i] or "")
        keys.append(key)
        reason = engine_reason(err) if err else None
        if reason is not None and reason != CONTEXT_REASON:  # transient: not cached, the next run retries it
            errors.append(reason)
            continue
        params = json.loads(batch["sampling_json"][i])
        if reason == CONTEXT_REASON:  # deterministic refusal: cached, so no run pays for it again
            result = LLMResult(error=CONTEXT_REASON, attempts=1)
        else:
            n_out = int(batch["num_generated_tokens"][i])
            max_tokens = params.get("max_tokens")
            result = LLMResult(text=str(batch["generated_text"][i]), attempts=1,
                               finish_reason="length" if max_tokens and n_out >= max_tokens else "stop",
                               prompt_tokens=int(batch["num_input_tokens"][i]), completion_tokens=n_out)
        cache.put(key, {"model": model, "messages": json.loads(batch["messages_json"][i]), "sampling": params,
                        "result": result.to_dict(), "run": run_id})
        errors.append("")
    return {"key": np.array(keys, dtype=object), "error": np.array(errors, dtype=object)}


def _read_requests(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    table = read_parquet(batch["path"][0])
    return {c: np.array(table.column(c).to_pylist(), dtype=object) for c in table.column_names}


def request_files(requests_dir: "str | Path | ObjectPath") -> list[str]:
    """A round's request files (paths or object URIs), sorted: every one is whole (written by one upload or rename)."""
    folder = location(requests_dir)
    return sorted(str(p) for p in folder.glob("*.parquet")) if folder.exists() else []


def generate_round(requests_dir: "str | Path | ObjectPath", cfg: EngineConfig, model_path: str, model: str,
                   cache_dir: str, run_id: str) -> tuple[int, dict[str, str]]:
    """Run every request under ``requests_dir`` (a local folder or a bucket prefix) through the vLLM engine
    processor and cache the completions.

    Returns (requests run, {key: reason} of the rows the engine failed). Ray must be initialised. Reading,
    pre/post-processing and cache writes are light and reserve ``cfg.cpu_stage_num_cpus`` each, so the whole
    CPUs stay with the engines (with 1-CPU tasks a 2-CPU machine deadlocks once an engine holds its CPU).
    """
    import ray
    from ray.data.llm import build_processor

    light = {"num_cpus": cfg.cpu_stage_num_cpus}
    files = request_files(requests_dir)
    if not files:
        return 0, {}
    processor = build_processor(processor_config(cfg, model_path), preprocess=_preprocess,
                                preprocess_map_kwargs=light, postprocess_map_kwargs=light)
    ds = ray.data.from_items([{"path": f} for f in files], override_num_blocks=len(files))
    ds = processor(ds.map_batches(_read_requests, batch_size=1, batch_format="numpy", **light))
    ds = ds.map_batches(_store, batch_format="numpy", **light,
                        fn_kwargs={"cache_dir": cache_dir, "model": model, "run_id": run_id})
    n, errors = 0, {}
    for batch in ds.iter_batches(batch_format="numpy", batch_size=None):
        n += len(batch["key"])
        errors.update({k: e for k, e in zip(batch["key"], batch["error"]) if e})
    return n, errors


def resolve_engine_model(cfg: EngineConfig) -> str:
    """The model path or id the engines load (the offline SmolLM2 when none is configured)."""
    if cfg.model:
        return cfg.model
    from huatuo_ray.llm.local_model import ensure_local_model

    return str(ensure_local_model())


def engine_generate(requests: list[list[dict]], sampling: SamplingConfig | dict[str, Any], cfg: EngineConfig,
                    identity: str, model: str, cache_dir: str | Path) -> list[LLMResult]:
    """Blocking: answer chat requests with the vLLM engine processor (one round), through the request cache."""
    import asyncio
    import shutil
    import tempfile
    import uuid

    run_id, cache = uuid.uuid4().hex, RequestCache(cache_dir)

    def replay(errors: dict[str, str]) -> tuple[ReplayClient, list[LLMResult]]:
        client = ReplayClient(identity, cache, run_id, errors)

        async def all_() -> list[LLMResult]:
            return [await client.chat(m, sampling) for m in requests]

        return client, asyncio.run(all_())

    client, results = replay({})
    if not client.misses:
        return results
    work = Path(tempfile.mkdtemp(prefix="huatuo-engine-", dir=cache_dir))
    try:
        client.write_misses(work / "requests.parquet")
        _, errors = generate_round(work, cfg, resolve_engine_model(cfg), model, str(cache_dir), run_id)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return replay(errors)[1]
