"""Unify output rows (HuatuoGPT2 release format + lineage), the end-of-run release files and stats.

    DIR/kept/<unit>.parquet         one row per kept pair: id, conversations, lineage, checks, attempts_json
    DIR/dropped/<unit>.parquet      segments whose pair failed its checks (reason = last attempt's reason)
    DIR/quarantined/<unit>.parquet  segments whose requests failed (LLM errors): pending, a rerun retries them
    DIR/_markers, _run.json         as in curation (huatuo_ray/io/output.py)
    DIR/release/huatuogpt2.jsonl    every kept pair, release format + lineage, in unit order (id: source:segment id)
    DIR/release/huatuogpt2.parquet  the same as one Parquet file (both written a batch at a time, off the driver)
    DIR/release/by_type/<type>/     the same pairs by source type, one file per unit (the sampler's sources)
    DIR/stats.json, DIR/plots/      ledger, request counts, deviation histogram
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from huatuo_ray.errors import LedgerError
from huatuo_ray.io.atomic import atomic_path, write_json_atomic
from huatuo_ray.io.output import OutputDir
from huatuo_ray.io.storage import arrow_source, location, rmtree
from huatuo_ray.job import counts
from huatuo_ray.ledger import Ledger
from huatuo_ray.names import qualified_id
from huatuo_ray.unify.generate import PairOutcome

LINEAGE = ("source", "source_type", "language", "doc_id", "span_start", "span_end", "path")
RELEASE_COLUMNS = ("id", "conversations", "segment_id", "doc_id", "source", "source_type", "language",
                   "target_language", "span_start", "span_end")


def lineage(segment: dict) -> dict[str, Any]:
    return {"segment_id": segment.get("id"), **{k: segment.get(k) for k in LINEAGE}}


def kept_row(segment: dict, o: PairOutcome, target_language: str, model: str, keep_attempts: bool) -> dict:
    """A release-format row: the model's text only ever lands in the two ``value`` strings."""
    return {
        "id": str(segment.get("id")),
        "conversations": [{"from": "human", "value": o.question}, {"from": "gpt", "value": o.answer}],
        **lineage(segment),
        "target_language": target_language,
        "deviation": o.deviation,
        "deviation_kind": o.deviation_kind,
        "attempts": len(o.attempts),
        "truncated_source": o.truncated,
        "model": model,
        "attempts_json": json.dumps(o.attempts, ensure_ascii=False) if keep_attempts else None,
    }


def rejected_row(segment: dict, o: PairOutcome, target_language: str, model: str) -> dict:
    return {
        "id": str(segment.get("id")),
        **lineage(segment),
        "stage": "unify",
        "reason": o.reason,
        "target_language": target_language,
        "attempts": len(o.attempts),
        "model": model,
        "text": segment.get("text"),
        "attempts_json": json.dumps(o.attempts, ensure_ascii=False),
    }


def finish_unify(out_dir: OutputDir, unit_ids: list[str], started: float, done_before: int, ran: int) -> dict[str, Any]:
    """Check every unit's ledger against its files, write the release files and a plot; return the stats."""
    markers = out_dir.markers(unit_ids)
    if len(markers) != len(unit_ids):
        raise LedgerError(f"{len(unit_ids) - len(markers)} units have no completion marker after the run")
    total, counters, hist = Ledger(), Counter(), Counter()
    for m in markers:
        unit = Ledger.from_dict(m["ledger"])
        unit.check(f"unit {m['unit_id']}")
        rows = out_dir.row_counts(m["unit_id"])
        expected = {"kept": unit.kept_rows, "dropped": sum(s.dropped_total for s in unit.stages),
                    "quarantined": unit.quarantined_total}
        if rows != expected:
            raise LedgerError(f"unit {m['unit_id']}: rows on disk {rows} != ledger {expected}")
        total.merge(unit)
        counters.update(m.get("requests", {}))
        hist.update(m.get("deviation_hist", {}))
    total.check("run")
    release = write_release_off_driver(out_dir, unit_ids)
    stage = total.stages[0] if total.stages else None
    dropped = stage.dropped_total if stage else 0
    stats = {
        "units": {"total": len(unit_ids), "done_before_this_run": done_before, "run_now": ran},
        "elapsed_s": round(time.time() - started, 3),
        "balanced": True,  # total.check passed
        "segments": total.records,
        "sent": stage.counters.get("sent", 0) if stage else 0,
        "sliced": stage.counters.get("sliced", 0) if stage else 0,
        "pairs": total.kept_rows,
        "dropped": dropped,
        "llm_errors": total.quarantined_total,
        "counts": counts(total.kept_rows, dropped, total.quarantined_total,
                         dropped_by_reason=dict(stage.dropped) if stage else {},
                         quarantined_by_reason=dict(total.quarantined), item="segments"),
        "ledger": total.to_dict(),
        "requests": dict(counters),
        "release": release,
        "deviation_hist": dict(sorted(hist.items())),
    }
    sent = stats["sent"]
    stats["acceptance"] = round(stats["pairs"] / sent, 4) if sent else None  # pairs kept / segments sent
    stats["sample_pairs"] = sample_pairs(out_dir.root / "release" / "huatuogpt2.jsonl")
    stats["plots"] = _plot(hist, out_dir.root / "plots")
    write_json_atomic(out_dir.root / "stats.json", stats)  # as a step of a run, the run rewrites it with its identity
    return stats


def sample_pairs(release_jsonl: Path, n: int = 5) -> list[dict]:
    """The first ``n`` pairs of the release as they came out: id, question, answer, deviation score and kind."""
    out: list[dict] = []
    release_jsonl = location(release_jsonl)
    if not release_jsonl.exists():
        return out
    with io.TextIOWrapper(release_jsonl.open("rb"), encoding="utf-8") as fh:
        for line in fh:
            if len(out) >= n:
                break
            row = json.loads(line)
            conv = row.get("conversations") or []
            out.append({"id": row.get("id"), "question": conv[0]["value"] if conv else None,
                        "answer": conv[1]["value"] if len(conv) > 1 else None})
    return out


RELEASE_BATCH_ROWS = 4096  # the release is written a record batch of this many pairs at a time


def write_release(out_dir: OutputDir, unit_ids: list[str]) -> dict[str, Any]:
    """The release files, streamed one record batch at a time (ids made unique across sources, ``source:id``):

    ``release/huatuogpt2.{jsonl,parquet}`` with every pair, and ``release/by_type/<source type>/<unit>.parquet``
    (the sampler's sources: one per source type). Memory: one batch, plus a 16-byte digest per pair for the
    check that no id repeats (160 MB for 10M pairs); a repeat fails, naming the id and its units.
    """
    rel = out_dir.root / "release"
    rmtree(rel / "by_type")
    digests: list[np.ndarray] = []
    by_type: Counter = Counter()
    with atomic_path(rel / "huatuogpt2.parquet") as tmp_pq, atomic_path(rel / "huatuogpt2.jsonl") as tmp_js, \
            open(tmp_js, "w", encoding="utf-8") as js:
        writer = None
        try:
            for u in unit_ids:
                path = out_dir.path("kept", u)
                if not path.exists():
                    continue
                with _ByType(rel / "by_type", u) as typed:
                    for table in _release_batches(path):
                        digests.append(_digests(table.column("id").to_pylist()))
                        if writer is None:
                            writer = pq.ParquetWriter(tmp_pq, table.schema, compression="zstd")
                        writer.write_table(table.cast(writer.schema))
                        for row in table.to_pylist():
                            js.write(json.dumps(row, ensure_ascii=False) + "\n")
                        for typ in sorted(set(table.column("source_type").to_pylist())):
                            part = table.filter(pc.equal(table["source_type"], typ))
                            typed.write(typ, part)
                            by_type[typ] += part.num_rows
            rows = _check_unique(digests, out_dir, unit_ids)
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            pq.write_table(release_table(pa.table({c: pa.array([], pa.string()) for c in RELEASE_COLUMNS})), tmp_pq)
    return {"rows": rows, "jsonl": "release/huatuogpt2.jsonl", "parquet": "release/huatuogpt2.parquet",
            "by_type": {t: {"dir": f"release/by_type/{t}", "rows": n} for t, n in sorted(by_type.items())}}


class _ByType:
    """One unit's ``by_type/<type>/<unit>.parquet`` files, written batch by batch; each appears whole on exit
    (:func:`~huatuo_ray.io.atomic.atomic_path`, the writer closed before the rename)."""

    def __init__(self, root: Path, unit_id: str):
        self.root, self.unit_id = root, unit_id
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.stack = ExitStack()

    def write(self, typ: str, table: pa.Table) -> None:
        if typ not in self.writers:
            tmp = self.stack.enter_context(atomic_path(self.root / typ / f"{self.unit_id}.parquet"))
            self.writers[typ] = pq.ParquetWriter(tmp, table.schema, compression="zstd")
            self.stack.callback(self.writers[typ].close)  # runs before that file's rename (last in, first out)
        self.writers[typ].write_table(table)

    def __enter__(self) -> "_ByType":
        self.stack.__enter__()
        return self

    def __exit__(self, *exc) -> bool | None:
        return self.stack.__exit__(*exc)


def _release_batches(path: Path):
    """A unit's kept rows as release rows, one bounded record batch at a time."""
    pf = pq.ParquetFile(arrow_source(path))
    for batch in pf.iter_batches(batch_size=RELEASE_BATCH_ROWS, columns=list(RELEASE_COLUMNS)):
        yield release_table(pa.Table.from_batches([batch]))


def _digests(ids: list[str]) -> np.ndarray:
    return np.array([hashlib.blake2b(i.encode(), digest_size=16).digest() for i in ids], dtype="S16")


def _check_unique(digests: list[np.ndarray], out_dir: OutputDir, unit_ids: list[str]) -> int:
    """Raise :class:`LedgerError` naming a repeated release id (16-byte digests: a collision is not a concern
    at any corpus size); returns the number of pairs."""
    if not digests:
        return 0
    d = np.sort(np.concatenate(digests))
    repeated = set(d[1:][d[1:] == d[:-1]].tolist())
    if not repeated:
        return len(d)
    where: dict[str, list[str]] = {}
    for u in unit_ids:
        path = out_dir.path("kept", u)
        if path.exists():
            for table in _release_batches(path):
                for i in table.column("id").to_pylist():
                    if _digests([i])[0] in repeated:
                        where.setdefault(i, []).append(u)
    shown = "; ".join(f"{i!r} in units {', '.join(sorted(set(us)))}" for i, us in list(where.items())[:3])
    raise LedgerError(f"repeated pair ids in the release ({len(repeated)} ids, e.g. {shown}): ids must be unique "
                      "per source")


def write_release_off_driver(out_dir: OutputDir, unit_ids: list[str]) -> dict[str, Any]:
    """:func:`write_release` as a Ray task when Ray is up (the driver never holds the pairs), else here."""
    import ray

    if not ray.is_initialized():
        return write_release(out_dir, unit_ids)
    task = ray.remote(num_cpus=0.25, max_retries=0)(write_release)
    return ray.get(task.remote(OutputDir(out_dir.root.resolve()), unit_ids))


def release_table(table: pa.Table) -> pa.Table:
    """Kept rows as release rows: ``id`` made unique across sources (``source:segment id``)."""
    ids = [qualified_id(str(src), str(i)) for src, i in zip(table.column("source").to_pylist(),
                                                             table.column("id").to_pylist())]
    return table.set_column(table.schema.get_field_index("id"), "id", pa.array(ids, pa.string()))


def _plot(hist: Counter, plots: Path) -> list[str]:
    if not hist:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots.mkdir(exist_ok=True)
    keys = sorted(hist)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar([float(k.split(":")[1]) for k in keys], [hist[k] for k in keys], width=0.045,
           color=["tab:blue" if k.startswith("jaccard") else "tab:orange" for k in keys])
    ax.set_xlabel("deviation score of accepted and rejected answers (blue: Jaccard, orange: embedding)")
    ax.set_ylabel("answers")
    fig.tight_layout()
    path = plots / "deviation.png"
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return [str(path.relative_to(plots.parent))]
