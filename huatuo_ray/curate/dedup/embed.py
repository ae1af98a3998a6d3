"""Sentence embeddings of the kept rows, one ``.npy`` file per work unit, computed once and reused.

``DIR/embeddings/<unit>.npy`` holds float32 L2-normalised vectors aligned with the rows of
``DIR/_pre_dedup/kept/<unit>.parquet`` (the ``embedding_row`` column of the final output points into it);
``<unit>.json`` beside it is written last and marks the file complete (model, rows, seconds).
The embedding runs as a Ray Data actor pool (``curate.resources.embed``: CPUs or GPUs per actor, pool size).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import ray

from huatuo_ray.curate.dedup.config import (
    MODEL_HINT,
    MODEL_SETTING,
    OFFLINE_MODEL,
    DedupConfig,
    model_name,
)
from huatuo_ray.curate.dedup.layout import EMBEDDINGS, emb_done, emb_path
from huatuo_ray.curate.spec import StageRuntime
from huatuo_ray.io.atomic import save_npy_atomic, write_json_atomic
from huatuo_ray.io.storage import location, read_parquet
from huatuo_ray.models import locate


def model_path(cfg: DedupConfig) -> Path:
    """The local directory of the recipe's model (ModelNotFound naming curate.dedup.model when there is none)."""
    return locate(model_name(cfg), MODEL_SETTING, MODEL_HINT)


def load_model(cfg: DedupConfig, device: str | None = None):
    """The SentenceTransformer of the recipe (GPU when the worker has one, unless ``device`` says otherwise).

    The builtin offline model sets HF_HUB_OFFLINE=1 in this process.
    """
    if cfg.model == OFFLINE_MODEL:
        os.environ["HF_HUB_OFFLINE"] = "1"
    path = model_path(cfg)
    from sentence_transformers import SentenceTransformer

    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    model = SentenceTransformer(str(path), device=device)
    if cfg.max_seq_length:
        model.max_seq_length = cfg.max_seq_length
    return model


def encode(model, texts: list[str], cfg: DedupConfig) -> np.ndarray:
    """Normalised float32 embeddings (rows, dim), in input order."""
    if not texts:
        return np.zeros((0, model.get_sentence_embedding_dimension()), dtype=np.float32)
    emb = model.encode(texts, batch_size=cfg.batch_size, normalize_embeddings=True, convert_to_numpy=True,
                       show_progress_bar=False)
    return np.ascontiguousarray(emb, dtype=np.float32)


class _Embedder:
    """Ray Data actor: one model per actor; one work unit per call."""

    def __init__(self, cfg_json: str, pre_root: str, out_root: str, threads: int):
        import torch

        torch.set_num_threads(max(1, threads))
        self.cfg = DedupConfig.model_validate_json(cfg_json)
        self.pre_root, self.out_root = location(pre_root), location(out_root)
        self.model = load_model(self.cfg)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows, secs = [], []
        for unit_id in batch["unit_id"]:
            t0 = time.perf_counter()
            kept = self.pre_root / "kept" / f"{unit_id}.parquet"
            texts = read_parquet(kept, columns=["text"]).column("text").to_pylist() if kept.exists() else []
            emb = encode(self.model, texts, self.cfg)
            final = emb_path(self.out_root, unit_id)
            save_npy_atomic(emb, final)
            seconds = time.perf_counter() - t0
            meta = {"unit_id": unit_id, "rows": len(texts), "dim": int(emb.shape[1]), "model": self.cfg.model,
                    "seconds": seconds}
            write_json_atomic(final.with_suffix(".json"), meta)
            rows.append(len(texts))
            secs.append(seconds)
        return {"unit_id": batch["unit_id"], "rows": np.array(rows), "seconds": np.array(secs)}


def embed_units(unit_ids: list[str], cfg: DedupConfig, rt: StageRuntime, pre_root: Path, out_root: Path) -> float:
    """Embed every unit that has no embeddings yet; returns the wall seconds spent."""
    todo = [u for u in unit_ids if not emb_done(out_root, u)]
    (out_root / EMBEDDINGS).mkdir(parents=True, exist_ok=True)
    if not todo:
        return 0.0
    actors = rt.actors or (1, 1)  # always an actor pool: one model per actor
    t0 = time.time()
    ds = ray.data.from_items([{"unit_id": u} for u in todo], override_num_blocks=len(todo))
    ds = ds.map_batches(
        _Embedder, batch_size=1, batch_format="numpy", compute=ray.data.ActorPoolStrategy(min_size=actors[0], max_size=actors[1]),
        fn_constructor_kwargs={"cfg_json": cfg.model_dump_json(), "pre_root": str(pre_root), "out_root": str(out_root),
                               "threads": int(rt.num_cpus)},
        **rt.task_options(),
    )
    done = rows = 0
    last = time.time()
    for r in ds.iter_rows():
        done += 1
        rows += int(r["rows"])
        if time.time() - last >= 5 or done == len(todo):
            last = time.time()
            print(f"[dedup] embedded units {done}/{len(todo)}  rows {rows:,}  {rows / max(last - t0, 1e-9):.0f} rows/s",
                  file=sys.stderr, flush=True)
    return time.time() - t0
