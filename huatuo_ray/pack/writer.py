"""The streaming pack writer: samples in stream order in, step-major shards out, then the manifest.

:class:`PackWriter` takes runs of encoded samples in stream order (``add``), places them with
:class:`~huatuo_ray.pack.layout.Layout`, writes every shard as soon as all its sequences are
complete, records every sample's outcome (``samples/part-*.parquet``), and on ``close`` pads the final
step with empty sequences, writes ``_pack.json`` and, last, ``_SUCCESS``.

Example (what the tests and the packer do)::

    enc = ConversationEncoder.from_config(cfg).encode(conversations)      # in stream order
    w = PackWriter("out", cfg, pad_token_id=0)
    w.add(ArrayStore(enc.ids, enc.labels, enc.offsets), rows=np.arange(len(conversations)),
          positions=np.arange(len(conversations)), sample_ids=ids, dropped=enc.dropped)
    manifest = w.close()
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyarrow as pa

from huatuo_ray.io.atomic import write_json_atomic, write_parquet_atomic
from huatuo_ray.io.packed import FORMAT, MANIFEST, SUCCESS
from huatuo_ray.ledger import reason_key
from huatuo_ray.pack.config import PackConfig
from huatuo_ray.pack.layout import DROPPED, OUTCOMES, TRUNCATED, Layout
from huatuo_ray.pack.shards import ShardPieces, TokenStore, write_shard

WriteFn = Callable[..., Any]


class PackWriter:
    """Writes one pack directory; see the module docstring."""

    def __init__(self, root: str | Path, cfg: PackConfig, pad_token_id: int, write: WriteFn | None = None,
                 stores: list[TokenStore] | None = None):
        self.root, self.cfg, self.pad = Path(root), cfg, int(pad_token_id)
        for name in ("steps", "samples", SUCCESS, MANIFEST):
            p = self.root / name
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
        (self.root / "steps").mkdir(parents=True)
        (self.root / "samples").mkdir()
        self.layout = Layout(cfg.max_seq_len, cfg.fill, cfg.overlong)
        self.rows_per_shard = cfg.steps_per_shard * cfg.global_batch_size
        self.write = write or (lambda *a: write_shard(*a))
        self.stores: list[TokenStore] = list(stores or [])
        self.pending: list[dict[str, np.ndarray | list]] = []
        self.next_shard = 0
        self.results: list[Any] = []
        self.parts = 0
        self.counts = Counter()
        self.dropped = Counter()
        self.counters = Counter()
        self.lengths_hist = np.zeros(0, np.int64)

    def add(self, store: TokenStore | np.ndarray, rows: np.ndarray, positions: np.ndarray,
            sample_ids: list[str] | pa.Array, dropped: dict[int, str] | None = None,
            lineage: dict[str, Any] | None = None) -> None:
        """Append samples in stream order: row ``rows[i]`` of ``store`` (a token store, or per-item indices
        into ``self.stores``). ``dropped``: index in this run -> reason; ``lineage``: extra per-sample columns."""
        rows = np.asarray(rows, dtype=np.int64)
        n = len(rows)
        if isinstance(store, np.ndarray):
            which = store.astype(np.int32)
        else:
            self.stores.append(store)
            which = np.full(n, len(self.stores) - 1, np.int32)
        sid = sample_ids if isinstance(sample_ids, pa.Array) else pa.array(list(sample_ids), pa.string())
        length = np.zeros(n, np.int64)
        for k in np.unique(which):
            sel = which == k
            offsets = np.asarray(self.stores[k].offsets)
            length[sel] = offsets[rows[sel] + 1] - offsets[rows[sel]]
        valid = np.ones(n, bool)
        reasons: list[str | None] = [None] * n
        for i, r in (dropped or {}).items():
            valid[i], reasons[i] = False, r
        empty = valid & (length == 0)
        for i in np.flatnonzero(empty):
            valid[i], reasons[i] = False, "no tokens"
        p = self.layout.place(length, valid)
        over = valid & (length > self.cfg.max_seq_len)
        for i in np.flatnonzero(over & (p.outcome == DROPPED)):
            reasons[i] = f"overlong: {length[i]} tokens > max_seq_len {self.cfg.max_seq_len}"
        self.counters["overlong"] += int(over.sum())
        self.counters[f"overlong_{self.cfg.overlong}"] += int(over.sum())
        self.counters["split_samples"] += int((np.bincount(p.item, minlength=n) > 1).sum()) if len(p.item) else 0
        self.counters["truncated_tokens"] += int((length - p.kept)[p.outcome == TRUNCATED].sum())
        self.counters["tokens"] += int(p.kept.sum())
        for o, name in enumerate(OUTCOMES):
            self.counts[name] += int((p.outcome == o).sum())
        self.dropped.update(reason_key(r) for r in reasons if r)
        self.lengths_hist = _add_hist(self.lengths_hist, length[valid])
        first, last = p.first_last_seq()
        samples = {"position": np.asarray(positions, np.int64), "sample_id": sid, "n_tokens": length.astype(np.int32),
                   "packed_tokens": p.kept.astype(np.int32),
                   "outcome": pa.array(np.asarray(OUTCOMES)[p.outcome].tolist(), pa.string()).dictionary_encode(),
                   "reason": pa.array(reasons, pa.string()), "first_sequence": first, "last_sequence": last,
                   **(lineage or {})}
        write_parquet_atomic(pa.table(samples), self.root / "samples" / f"part-{self.parts:05d}.parquet")
        self.parts += 1
        self.pending.append({"seq": p.seq, "seq_off": p.seq_off, "tok_start": p.tok_start, "tok_end": p.tok_end,
                             "store": which[p.item], "row": rows[p.item],
                             "position": np.asarray(positions, np.int64)[p.item],
                             "sample_id": sid.take(pa.array(p.item))})
        while (self.next_shard + 1) * self.rows_per_shard <= self.layout.seq:
            self._flush(self.next_shard)

    def _flush(self, k: int, rows: int | None = None) -> None:
        first = k * self.rows_per_shard
        rows = rows or self.rows_per_shard
        cat = {c: (pa.concat_arrays([p[c] for p in self.pending]) if c == "sample_id" else
                   np.concatenate([p[c] for p in self.pending])) for c in self.pending[0]} if self.pending else None
        if cat is None:
            cat = {c: np.zeros(0, np.int64) for c in ("seq", "seq_off", "tok_start", "tok_end", "store", "row", "position")}
            cat["sample_id"] = pa.array([], pa.string())
        sel = np.flatnonzero(cat["seq"] < first + rows)
        rest = np.flatnonzero(cat["seq"] >= first + rows)
        used = np.unique(cat["store"][sel])
        remap = {int(s): i for i, s in enumerate(used)}
        pieces = ShardPieces(cat["seq"][sel], cat["seq_off"][sel], cat["tok_start"][sel], cat["tok_end"][sel],
                             np.array([remap[int(s)] for s in cat["store"][sel]], np.int32).reshape(-1), cat["row"][sel],
                             cat["position"][sel], cat["sample_id"].take(pa.array(sel)).to_pylist())
        self.results.append(self.write(self.root, k, first, rows, pieces, [self.stores[s] for s in used],
                                       self.cfg.max_seq_len, self.cfg.global_batch_size, self.pad))
        self.pending = [{c: (v.take(pa.array(rest)) if c == "sample_id" else v[rest]) for c, v in cat.items()}] \
            if len(rest) else []
        self.next_shard = k + 1

    def close(self, extra: dict | None = None, resolve: Callable[[list], list] | None = None) -> dict:
        """Write the remaining shards (the final step padded with empty sequences), the manifest, ``_SUCCESS``."""
        B = self.cfg.global_batch_size
        used = self.layout.num_sequences
        num_steps = -(-used // B)
        total_rows = num_steps * B
        while self.next_shard * self.rows_per_shard < total_rows:
            k = self.next_shard
            self._flush(k, min(self.rows_per_shard, total_rows - k * self.rows_per_shard))
        shards = sorted(resolve(self.results) if resolve else self.results, key=lambda r: r["shard"])
        tokens = sum(s["tokens"] for s in shards)
        if tokens != self.counters["tokens"]:
            raise RuntimeError(f"shards hold {tokens} tokens, the layout placed {self.counters['tokens']}")
        samples = sum(self.counts.values())
        if self.counts["dropped"] != sum(self.dropped.values()):
            raise RuntimeError(f"{self.counts['dropped']} samples dropped but {sum(self.dropped.values())} reasons")
        real = used * self.cfg.max_seq_len
        manifest = {
            "format": FORMAT,
            "num_steps": num_steps,
            "global_batch_size": B,
            "max_seq_len": self.cfg.max_seq_len,
            "pad_token_id": self.pad,
            "steps_per_shard": self.cfg.steps_per_shard,
            "num_sequences": used,
            "empty_sequences": total_rows - used,
            "tokens": tokens,
            "trained_tokens": sum(s["trained"] for s in shards),
            "real_token_fraction": tokens / real if real else 0.0,  # over sequences holding tokens
            "real_token_fraction_all_rows": tokens / (total_rows * self.cfg.max_seq_len) if total_rows else 0.0,
            "samples": {"total": samples, **{o: self.counts[o] for o in OUTCOMES},
                        "dropped_by_reason": dict(self.dropped.most_common())},
            "counters": dict(self.counters),
            "rules": {"fill": self.cfg.fill, "overlong": self.cfg.overlong,
                      "boundary_label": "first token of every piece has label -100"},
            "fill_hist": np.sum([s["fill_hist"] for s in shards], axis=0).tolist() if shards else [],
            "length_hist": {"bin": 64, "counts": self.lengths_hist.tolist()},
            "shards": [{"dir": f"steps/shard-{s['shard']:05d}", "first_sequence": s["first_sequence"],
                        "rows": s["rows"]} for s in shards],
            "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **(extra or {}),
        }
        write_json_atomic(self.root / MANIFEST, manifest)
        (self.root / SUCCESS).write_text("ok\n")
        return manifest


def _add_hist(hist: np.ndarray, lengths: np.ndarray, width: int = 64) -> np.ndarray:
    if not len(lengths):
        return hist
    h = np.bincount(lengths // width)
    if len(h) > len(hist):
        hist = np.concatenate([hist, np.zeros(len(h) - len(hist), np.int64)])
    hist[: len(h)] += h
    return hist
