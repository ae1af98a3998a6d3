"""The vllm_engine backend's pure logic: cache replay, error mapping, processor configuration (no engine)."""

from __future__ import annotations

import asyncio
import json

import pyarrow.parquet as pq
import pytest

from huatuo_ray.llm.cache import RequestCache, request_key
from huatuo_ray.llm.client import CONTEXT_REASON, LLMResult, sampling_params
from huatuo_ray.llm.config import EngineConfig, LLMConfig
from huatuo_ray.llm.vllm_engine import (
    PENDING,
    ReplayClient,
    engine_reason,
    processor_config,
)

MSG = [{"role": "user", "content": "Name one vitamin."}]
SAMPLING = {"temperature": 0.7, "max_tokens": 8, "seed": 3}


def put(cache: RequestCache, attempt: int, text: str, run: str) -> None:
    params = sampling_params(SAMPLING, attempt)
    cache.put(request_key("m", MSG, params), {"model": "m", "messages": MSG, "sampling": params,
                                              "result": LLMResult(text=text, attempts=1).to_dict(), "run": run})


def test_replay_records_misses_and_answers_from_the_cache(tmp_path):
    cache = RequestCache(tmp_path / "cache")
    put(cache, 0, "old answer", run="earlier-run")
    put(cache, 1, "new answer", run="this-run")
    client = ReplayClient("m", cache, "this-run")
    old, new, miss = asyncio.run(_chat_all(client, [0, 1, 2]))
    assert (old.text, old.cached) == ("old answer", True)  # finished by an earlier run: a cache hit
    assert (new.text, new.cached, new.attempts) == ("new answer", False, 1)  # generated in this run: sent
    assert miss.error == PENDING and len(client.misses) == 1
    written = client.write_misses(tmp_path / "req" / "u1.parquet")
    row = pq.read_table(tmp_path / "req" / "u1.parquet").to_pylist()[0]
    assert written == 1
    assert json.loads(row["messages_json"]) == MSG and json.loads(row["sampling_json"])["seed"] == 5
    assert row["key"] == request_key("m", MSG, sampling_params(SAMPLING, 2))


def test_replay_returns_this_runs_engine_errors(tmp_path):
    key = request_key("m", MSG, sampling_params(SAMPLING, 0))
    client = ReplayClient("m", RequestCache(tmp_path), "run", errors={key: CONTEXT_REASON})
    (res,) = asyncio.run(_chat_all(client, [0]))
    assert res.error == CONTEXT_REASON and not client.misses


async def _chat_all(client: ReplayClient, attempts: list[int]) -> list[LLMResult]:
    return [await client.chat(MSG, SAMPLING, k) for k in attempts]


@pytest.mark.parametrize("error, reason", [
    ("ValueError: The decoder prompt (length 5000) is longer than the maximum model length of 2048.", CONTEXT_REASON),
    ("RuntimeError: CUDA out of memory", "engine error: RuntimeError"),
])
def test_engine_errors_map_to_short_reasons(error, reason):
    assert engine_reason(error) == reason


def test_processor_config_cpu_and_gpu():
    cpu = processor_config(EngineConfig(device="cpu", dtype="float32", env={"VLLM_CPU_KVCACHE_SPACE": "1"}), "/m")
    assert [(b["CPU"], b.get("GPU", 0)) for b in cpu.placement_group_config["bundles"]] == [(1, 0)]
    assert cpu.log_engine_metrics is False and cpu.should_continue_on_error is True
    assert cpu.runtime_env == {"env_vars": {"VLLM_CPU_KVCACHE_SPACE": "1"}}
    gpu = processor_config(EngineConfig(tensor_parallel_size=4, accelerator_type="A100", actors=2, batch_size=128), "/m")
    assert gpu.placement_group_config is None and gpu.accelerator_type == "A100"
    assert gpu.engine_kwargs["tensor_parallel_size"] == 4 and gpu.concurrency == 2 and gpu.batch_size == 128


def test_engine_backend_has_no_endpoint():
    from huatuo_ray.llm.backends import model_name, open_backend

    cfg = LLMConfig(backend="vllm_engine")
    assert model_name(cfg) == "smollm2-135m-instruct (offline)"
    with pytest.raises(ValueError, match="no endpoint"), open_backend(cfg):
        pass


def test_a_rounds_requests_in_a_bucket_are_written_whole_and_read_back(s3):
    """The rounds' files of an output in a bucket (moto's S3 server): one object per unit, listed and read back as
    the engine round reads them."""
    import numpy as np

    from huatuo_ray.io.storage import location
    from huatuo_ray.llm.vllm_engine import _read_requests, request_files

    client = ReplayClient("m", RequestCache(f"{s3}/cache"), "run")
    asyncio.run(_chat_all(client, [0, 1]))
    round_dir = location(f"{s3}/unify/_engine/round00")
    assert client.write_misses(round_dir / "u1.parquet") == 2
    files = request_files(str(round_dir))  # as the engine round lists them
    assert files == [f"{s3}/unify/_engine/round00/u1.parquet"]
    rows = _read_requests({"path": np.array(files, dtype=object)})
    assert list(rows["key"]) == list(client.misses) and all(json.loads(m) == MSG for m in rows["messages_json"])
