"""The pack job: a sampled order + the sources' conversations -> a pack directory the trainer reads.

Steps (both engines)::

    tokenize   every source's conversations, once per item (not per epoch), in units of
               (file, row range): render + batch-encode -> columnar token stores
    join       the order (position, source, epoch, id; read part by part, in stream order) is mapped
               to store rows with a hash lookup of ids per source (pyarrow ``index_in``: no per-item
               Python objects)
    layout     samples are placed into sequences strictly in stream order (huatuo_ray.pack.layout)
    write      every shard is written as soon as its sequences are complete

``local`` (streams of at most ``pack.local_max_items`` items): all in this process, stores in
memory. ``ray``: tokenisation runs as Ray tasks, one per unit, each writing its store as ``.npy``
files under ``DIR/_tokens/``; the driver streams the order and the layout (a few arrays of
integers per part); shard writing runs as Ray tasks that gather their pieces from the memory-mapped
stores (each reads only the token ranges it packs). A rerun replaces the output.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from huatuo_ray.errors import InputError
from huatuo_ray.io.atomic import write_json_atomic
from huatuo_ray.job import counts
from huatuo_ray.pack.config import PackConfig
from huatuo_ray.pack.shards import ArrayStore, write_shard
from huatuo_ray.pack.sources import (
    LINEAGE_COLUMNS,
    conversation_files,
    conversations_of,
    read_rows,
)
from huatuo_ray.pack.tokenize import (
    ConversationEncoder,
    load_tokenizer,
    make_template,
    pad_id,
)
from huatuo_ray.pack.writer import PackWriter

log = logging.getLogger(__name__)
STATS = "stats.json"
UNIT_BATCHES = 20  # tokenizer batches per unit of conversations (one Ray task)


@dataclass
class NpyStore:
    """A token store saved as three ``.npy`` files, memory-mapped on first use (picklable: a path)."""

    path: str

    def _load(self, name: str) -> np.ndarray:
        cache = self.__dict__.setdefault("_maps", {})
        if name not in cache:
            cache[name] = np.load(os.path.join(self.path, f"{name}.npy"), mmap_mode="r")
        return cache[name]

    def __getstate__(self) -> dict:
        return {"path": self.path}  # ship the path, never the maps

    @property
    def ids(self) -> np.ndarray:
        return self._load("ids")

    @property
    def labels(self) -> np.ndarray:
        return self._load("labels")

    @property
    def offsets(self) -> np.ndarray:
        return self._load("offsets")


@dataclass
class Unit:
    source: str
    file: str
    start: int
    stop: int


def plan_pack(order_dir: str | Path, cfg: PackConfig) -> tuple[dict, list[Unit], list[str]]:
    """Read the sampler's summary, find each source's conversation files, cut them into units."""
    summary_path = Path(order_dir) / "stats.json"
    if not summary_path.is_file():
        raise InputError(f"{order_dir} is not a finished sampler output (no stats.json): run `huatuo-ray sample` first")
    sample = json.loads(summary_path.read_text(encoding="utf-8"))
    units = []
    for s in sample["sources"]:
        if not s["items"]:
            continue  # an empty source (e.g. a source type that kept no pairs) has nothing to tokenize
        path = cfg.conversations.get(s["name"], s["path"])
        for f in conversation_files(s["name"], path):
            n = pq.ParquetFile(f).metadata.num_rows
            step = cfg.tokenize_batch * UNIT_BATCHES
            units += [Unit(s["name"], f, a, min(n, a + step)) for a in range(0, n, step)]
    unknown = set(cfg.conversations) - {s["name"] for s in sample["sources"]}
    if unknown:
        raise InputError(f"pack.conversations names sources the sampler did not order: {sorted(unknown)}")
    order_files = [str(Path(order_dir) / f["path"]) for f in sample["files"]]
    return sample, units, order_files


def tokenize_unit(unit: Unit, cfg: PackConfig, save_to: str | None = None) -> tuple[Any, pa.Table]:
    """Encode one unit's conversations: (store, table of id, reason and lineage per row)."""
    table = read_rows(unit.file, unit.start, unit.stop, ["id", "conversations", *LINEAGE_COLUMNS])
    encoder = ConversationEncoder.from_config(cfg)
    convs = conversations_of(table)
    parts = [encoder.encode(convs[a : a + cfg.tokenize_batch]) for a in range(0, len(convs), cfg.tokenize_batch)]
    reasons: list[str | None] = [None] * len(convs)
    for k, p in enumerate(parts):
        for i, r in p.dropped.items():
            reasons[k * cfg.tokenize_batch + i] = r
    lengths = np.concatenate([p.lengths for p in parts]) if parts else np.zeros(0, np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    ids = np.concatenate([p.ids for p in parts]) if parts else np.zeros(0, np.int32)
    labels = np.concatenate([p.labels for p in parts]) if parts else np.zeros(0, np.int32)
    meta = pa.table({"id": table.column("id"), "reason": pa.array(reasons, pa.string()),
                     **{c: table.column(c).cast(pa.string()) for c in LINEAGE_COLUMNS if c in table.column_names}})
    if save_to is None:
        return ArrayStore(ids, labels, offsets), meta
    os.makedirs(save_to, exist_ok=True)
    for name, arr in (("ids", ids), ("labels", labels), ("offsets", offsets)):
        np.save(os.path.join(save_to, f"{name}.npy"), arr)
    return NpyStore(save_to), meta


META_COLUMNS = ("reason", *LINEAGE_COLUMNS)


class _Index:
    """Per source: its ids (an Arrow array), their token store and row, and per-row metadata columns.

    ``lookup(source, ids)`` maps ordered ids to positions in these arrays with a hash lookup
    (``pyarrow.compute.index_in``), so no Python object is made per item.
    """

    def __init__(self, units: list[Unit], metas: list[pa.Table]):
        self.by_source: dict[str, dict[str, Any]] = {}
        for name in sorted({u.source for u in units}):
            mine = [i for i, u in enumerate(units) if u.source == name]
            ids = pa.concat_arrays([metas[i].column("id").combine_chunks().cast(pa.string()) for i in mine])
            if pc.count_distinct(ids).as_py() != len(ids):
                raise ValueError(f"source {name!r}: conversation ids repeat; ids must be unique within a source")
            self.by_source[name] = {
                "ids": ids,
                "store": np.concatenate([np.full(metas[i].num_rows, i, np.int32) for i in mine]),
                "row": np.concatenate([np.arange(metas[i].num_rows, dtype=np.int64) for i in mine]),
                **{c: pa.concat_arrays([metas[i].column(c).combine_chunks() if c in metas[i].column_names
                                        else pa.nulls(metas[i].num_rows, pa.string()) for i in mine])
                   for c in META_COLUMNS},
            }

    def lookup(self, source: str, ids: pa.Array) -> np.ndarray:
        """Positions of ``ids`` in the source's arrays; a clear error for unknown sources or ids."""
        if source not in self.by_source:
            raise ValueError(f"the order names source {source!r}, which has no conversation files")
        where = pc.index_in(ids.cast(pa.string()), value_set=self.by_source[source]["ids"])
        if where.null_count:
            missing = ids.filter(pc.is_null(where)).slice(0, 3).to_pylist()
            raise ValueError(f"source {source!r}: {where.null_count} ordered ids have no conversation (e.g. {missing}); "
                             "were the conversation files changed after sampling?")
        return where.to_numpy()

    def gather(self, src: pa.Array, ids: pa.Array) -> tuple[np.ndarray, np.ndarray, dict[str, pa.Array]]:
        """For a run of the order: token store and row per item, and the metadata columns, in run order."""
        n = len(ids)
        stores, rows, picked, cols = np.zeros(n, np.int32), np.zeros(n, np.int64), [], {c: [] for c in META_COLUMNS}
        for name in pc.unique(src).to_pylist():
            sel = np.flatnonzero(pc.equal(src, name).to_numpy(zero_copy_only=False))
            w = self.lookup(name, ids.take(pa.array(sel)))
            arrays = self.by_source[name]
            stores[sel], rows[sel] = arrays["store"][w], arrays["row"][w]
            picked.append(sel)
            for c in META_COLUMNS:
                cols[c].append(arrays[c].take(pa.array(w)))
        back = pa.array(np.argsort(np.concatenate(picked))) if picked else pa.array([], pa.int64())
        return stores, rows, {c: (pa.concat_arrays(v).take(back) if v else pa.array([], pa.string()))
                              for c, v in cols.items()}


def run_pack(order_dir: str | Path, output: str | Path, cfg: PackConfig,
             engine: Literal["auto", "local", "ray"] = "auto") -> dict:
    """Pack the sampled stream in ``order_dir`` into ``output``; returns the manifest (also in stats.json).

    The Ray engine needs a connected Ray (``huatuo_ray.runtime.init_ray``).

    Example::

        manifest = run_pack("runs/demo/sample", "runs/demo/pack", load_recipe("configs/local.yaml").pack)
        PackedReader("runs/demo/pack").read(0, rank=0, world_size=2)
    """
    started = time.time()
    sample, units, order_files = plan_pack(order_dir, cfg)
    total = int(sample["total"])
    engine = engine if engine != "auto" else ("local" if total <= cfg.local_max_items else "ray")
    tokenizer = load_tokenizer(cfg.tokenizer, cfg.trust_remote_code)
    template = make_template(cfg, tokenizer)
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    log.info("pack: %s items, %d conversation units, %s", f"{total:,}", len(units), engine)
    t0 = time.time()
    if engine == "local":
        results = [tokenize_unit(u, cfg) for u in units]
        write, resolve = None, None
    else:
        import ray

        tok_dir = out / "_tokens"
        shutil.rmtree(tok_dir, ignore_errors=True)
        task = ray.remote(tokenize_unit)
        results = ray.get([task.remote(u, cfg, str(tok_dir / f"unit-{i:06d}")) for i, u in enumerate(units)])
        remote_write = ray.remote(write_shard)
        write, resolve = (lambda *a: remote_write.remote(*a)), ray.get
    stores, metas = [r[0] for r in results], [r[1] for r in results]
    tokenize_s = time.time() - t0
    index = _Index(units, metas)
    writer = PackWriter(out, cfg, pad_id(tokenizer), write=write, stores=stores)
    seen = 0
    for f in order_files:
        part = pq.read_table(f, columns=["position", "source", "epoch", "id"])
        for batch in part.to_batches(max_chunksize=1_000_000):
            seen += _add_batch(writer, index, batch)
            log.info("pack: placed %s / %s items, %s sequences", f"{seen:,}", f"{total:,}",
                     f"{writer.layout.num_sequences:,}")
    if seen != total:
        raise RuntimeError(f"the order holds {seen:,} items, its summary says {total:,}")
    extra = {
        "tokenizer": cfg.tokenizer, "template": cfg.template,
        "template_strings": {"head": template.head, "h2g": template.h2g, "g2h": template.g2h,
                             "tail": template.tail, "close": template.close},
        "sampler": {k: sample.get(k) for k in ("beta", "seed", "preset", "total", "key")},
        "sources": [{k: s.get(k) for k in ("name", "type", "K", "weight", "epochs", "items", "count")}
                    for s in sample["sources"]],
        "order": str(Path(order_dir).resolve()),
        "pack_config": cfg.model_dump(mode="json"),
        "engine": engine,
        "sample_ids": "source:id@epoch",
    }
    manifest = writer.close(extra, resolve=resolve)
    if engine == "ray":
        shutil.rmtree(out / "_tokens", ignore_errors=True)
    s = manifest["samples"]
    if s["total"] != total or s["packed"] + s["truncated"] + s["dropped"] != total:
        raise RuntimeError(f"ledger does not add up: {s}")
    manifest["seconds"] = {"tokenize": round(tokenize_s, 3), "total": round(time.time() - started, 3)}
    from huatuo_ray.pack.plot import write_pack_plot

    manifest["plot"] = write_pack_plot(manifest, out / "plots" / "pack.png")
    manifest["counts"] = counts(s["packed"] + s["truncated"], s["dropped"], out=manifest["num_sequences"],
                                dropped_by_reason=s["dropped_by_reason"], item="samples")
    write_json_atomic(out / STATS, manifest)
    return manifest


def _add_batch(writer: PackWriter, index: _Index, batch: pa.RecordBatch) -> int:
    src = batch.column("source")
    src = src.dictionary_decode() if pa.types.is_dictionary(src.type) else src
    ids = batch.column("id")
    stores, rows, meta = index.gather(src, ids)
    reasons = meta.pop("reason")
    valid = pc.is_valid(reasons).to_numpy(zero_copy_only=False)
    dropped = {int(i): reasons[int(i)].as_py() for i in np.flatnonzero(valid)}
    sample_ids = pc.binary_join_element_wise(src.cast(pa.string()), ids.cast(pa.string()), ":")
    sample_ids = pc.binary_join_element_wise(sample_ids, batch.column("epoch").cast(pa.string()), "@")
    lineage = {"source": src, "epoch": batch.column("epoch"), "id": ids, **meta}
    writer.add(stores, rows, batch.column("position").to_numpy(), sample_ids, dropped=dropped, lineage=lineage)
    return batch.num_rows
