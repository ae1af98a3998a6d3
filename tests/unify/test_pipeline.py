"""The unify pipeline on Ray Data against the real local vLLM server, through a fault-injecting proxy."""

from __future__ import annotations

import threading
import time

import pyarrow.parquet as pq
import pytest

from huatuo_ray.llm.cache import RequestCache
from huatuo_ray.unify.pipeline import run_unify
from tests.llm.proxy import FaultProxy
from tests.unify.helpers import (
    INJECTION,
    check_release_format,
    make_curated,
    medquad_texts,
    release_rows,
    small_recipe,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def proxy(llm_server):
    p = FaultProxy(llm_server.base_url)
    yield p
    p.close()


def curated_input(tmp_path):
    texts = medquad_texts(11)
    return make_curated(tmp_path / "curated", {
        "u0": texts[0:3], "u1": [texts[3], INJECTION, texts[4]], "u2": texts[5:8], "u3": texts[8:11]})


def rerun_sends_only_unfinished(recipe, curated, out, proxy) -> dict:
    """Rerun without faults; every request sent must be one the cache did not hold."""
    cached_before = {p.stem for p in (out / "_llm_cache").glob("*/*.json")}
    proxy.fault_rate = 0.0
    proxy.reset()
    recipe = recipe.model_copy(deep=True)
    recipe.llm.endpoint.timeout_s = 120  # no injected hangs now: only a real failure could fail a request
    stats = run_unify(recipe, curated, out).stats
    sent = set(proxy.cache_keys)
    assert not sent & cached_before, "a finished request was sent again"
    assert all(n == 1 for n in proxy.cache_keys.values())
    assert stats["llm_errors"] == 0 and stats["segments"] == 12 and stats["balanced"]
    rows = release_rows(out)
    check_release_format(rows)
    assert len(rows) == stats["pairs"]
    return stats


def test_faults_are_recorded_per_row_and_the_rerun_finishes_the_rest(ray_local, proxy, tmp_path):
    curated, out = curated_input(tmp_path), tmp_path / "unify"
    proxy.fault_rate, proxy.hang_s = 0.2, 16
    recipe = small_recipe(proxy.base_url, "llm.endpoint.timeout_s=15")
    stats = run_unify(recipe, curated, out).stats
    assert sum(proxy.faults.values()) > 0
    assert stats["balanced"] and stats["segments"] == 12
    led = stats["ledger"]
    assert led["quarantined"] + led["stages"][0]["dropped"] + stats["pairs"] == 12
    quarantined = [r for p in (out / "quarantined").glob("*.parquet") for r in pq.read_table(p).to_pylist()]
    assert len(quarantined) == stats["llm_errors"]
    assert all(r["reason"].startswith("llm error: ") for r in quarantined)
    assert stats["requests"]["retries"] > 0
    check_release_format(release_rows(out))
    final = rerun_sends_only_unfinished(recipe, curated, out, proxy)
    assert final["pairs"] >= stats["pairs"]
    # the injected segment went through like any other: kept as a well-formed pair or dropped with a reason
    dropped = [r for p in (out / "dropped").glob("*.parquet") for r in pq.read_table(p).to_pylist()]
    kept_ids = {r["segment_id"] for r in release_rows(out)}  # release ids are source:segment id
    assert ("u1-doc1#0" in kept_ids) != any(r["id"] == "u1-doc1#0" and r["reason"] for r in dropped)


@pytest.mark.heavy  # the LLM server killed mid-run and restarted (about 2 min); reruns after faults are in the default run
def test_server_killed_mid_run_then_restarted(ray_local, llm_server, proxy, tmp_path):
    curated, out = curated_input(tmp_path), tmp_path / "unify"
    recipe = small_recipe(proxy.base_url, "llm.endpoint.timeout_s=30")

    def kill_after(n):
        while sum(proxy.answered.values()) < n:
            time.sleep(0.05)
        llm_server.kill_server()

    killer = threading.Thread(target=kill_after, args=(8,), daemon=True)
    killer.start()
    stats = run_unify(recipe, curated, out).stats
    killer.join(60)
    assert not llm_server.group_alive(), "a SIGKILLed server left processes behind"
    assert stats["llm_errors"] > 0 and stats["balanced"]
    assert len(RequestCache(out / "_llm_cache")) >= 8
    llm_server.start()
    rerun_sends_only_unfinished(recipe, curated, out, proxy)
