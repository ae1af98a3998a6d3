"""Packing throughput against the bare fast-tokenizer batch encode of the same texts.

Data: real conversations (the demo corpus' Q/A pairs and SFT conversations, plus, when present,
../shared/data/corpus/{medical_sft_1K,sharegpt_zh_1K}_format.jsonl), repeated with distinct ids up to
``--items`` conversations, written as conversation Parquet and ordered by the sampler (not timed).

  baseline   the rendered conversation strings (exactly what the packer encodes) encoded with the
             Hugging Face fast tokenizer, ``tokenizer(texts, add_special_tokens=False)``, in batches
             of ``pack.tokenize_batch``; also reported: the Rust backend's ``encode_batch`` alone
  ours       the whole local pack job (``run_pack``): read the order and the conversations from
             Parquet, render, encode, answer-only labels, in-order layout, write the step-major shards,
             the per-sample ledger, the manifest and the plot

Both use the same tokenizer in the same process (Rust threads included), after a warm-up. The ratio
printed is tokens/s of ours over tokens/s of the baseline (the target: >= 0.80).

Usage: python benchmarks/bench_pack.py [--items 20000] [--runs 3] [--tokenizer local:smollm2] [--template chat]
       [--work /tmp/bench_pack]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from huatuo_ray.pack.config import PackConfig  # noqa: E402
from huatuo_ray.pack.demo import write_demo_pairs  # noqa: E402
from huatuo_ray.pack.packer import run_pack  # noqa: E402
from huatuo_ray.pack.sources import (  # noqa: E402
    CONVERSATION_TYPE,
    conversations_of,
    convert_conversations,
)
from huatuo_ray.pack.template import conversation_turns  # noqa: E402
from huatuo_ray.pack.tokenize import load_tokenizer, make_template  # noqa: E402
from huatuo_ray.sample.config import SamplerConfig  # noqa: E402
from huatuo_ray.sample.priority import run_sample  # noqa: E402

SHARED = REPO.parent / "shared" / "data" / "corpus"


def build_inputs(work: Path, items: int) -> list[dict]:
    """All available conversations, repeated with new ids up to ``items``, as one sft source."""
    pairs = write_demo_pairs(REPO / "examples" / "demo_corpus", work / "pairs")
    extra = [str(p) for p in (SHARED / "medical_sft_1K_format.jsonl", SHARED / "sharegpt_zh_1K_format.jsonl")
             if p.exists()]
    if extra:
        convert_conversations(extra, work / "pairs" / "shared", name="shared")
    tables = [pq.read_table(s["path"], columns=["conversations"]) for s in pairs["sources"]]
    if extra:
        tables.append(pq.read_table(work / "pairs" / "shared", columns=["conversations"]))
    convs = pa.concat_tables([t.cast(pa.schema([("conversations", CONVERSATION_TYPE)])) for t in tables])
    reps = -(-items // convs.num_rows)
    table = pa.concat_tables([convs] * reps).slice(0, items)
    table = table.append_column("id", pa.array([f"c{i}" for i in range(items)], pa.string()))
    (work / "bench").mkdir(parents=True, exist_ok=True)
    pq.write_table(table, work / "bench" / "conversations.parquet", row_group_size=10_000)
    return [{"name": "bench", "type": "sft", "path": str(work / "bench" / "conversations.parquet"), "K": 0}]


def baseline(texts: list[str], tokenizer, batch: int) -> tuple[float, int, float]:
    """Seconds for the HF fast tokenizer batch call, tokens, and seconds for the Rust backend alone."""
    t0 = time.perf_counter()
    tokens = 0
    for a in range(0, len(texts), batch):
        tokens += sum(len(x) for x in tokenizer(texts[a : a + batch], add_special_tokens=False)["input_ids"])
    hf = time.perf_counter() - t0
    backend = tokenizer.backend_tokenizer
    t0 = time.perf_counter()
    for a in range(0, len(texts), batch):
        backend.encode_batch(texts[a : a + batch], add_special_tokens=False)
    return hf, tokens, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tokenizer", default="local:smollm2")
    ap.add_argument("--template", default="chat", choices=["chat", "huatuo"])
    ap.add_argument("--trust-remote-code", action="store_true")
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_pack"))
    args = ap.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    sources = build_inputs(args.work, args.items)
    run_sample(SamplerConfig(preset=None, seed=1, sources=sources), args.work / "sample")
    cfg = PackConfig(tokenizer=args.tokenizer, trust_remote_code=args.trust_remote_code, template=args.template,
                     add_bos=False if args.template == "huatuo" and args.tokenizer == "local:smollm2" else None,
                     local_max_items=10**12)
    tok = load_tokenizer(cfg.tokenizer, cfg.trust_remote_code)
    template = make_template(cfg, tok)
    table = pq.read_table(sources[0]["path"], columns=["conversations"])
    texts = [template.render(t)[0] for t in (conversation_turns(c)[0] for c in conversations_of(table)) if t]
    run_pack(args.work / "sample", args.work / "pack", cfg.model_copy(update={"max_seq_len": 512}))  # warm-up
    rows = []
    for run in range(args.runs):
        hf, tokens, rust = baseline(texts, tok, cfg.tokenize_batch)
        t0 = time.perf_counter()
        m = run_pack(args.work / "sample", args.work / "pack", cfg)
        ours = time.perf_counter() - t0
        assert m["tokens"] == tokens, (m["tokens"], tokens)  # the same texts, the same tokens
        rows.append({"run": run, "tokens": tokens, "baseline_hf_s": round(hf, 3), "backend_encode_s": round(rust, 3),
                     "pack_s": round(ours, 3), "pack_tokenize_s": m["seconds"]["tokenize"],
                     "ratio_vs_hf": round(hf / ours, 3), "ratio_vs_backend": round(rust / ours, 3)})
        print(json.dumps(rows[-1]), flush=True)
    med = float(np.median([r["ratio_vs_hf"] for r in rows]))
    best_of = min(r["baseline_hf_s"] for r in rows) / min(r["pack_s"] for r in rows)
    print(f"\nmachine: {platform.processor() or platform.machine()}, python {platform.python_version()}; "
          f"{args.items:,} conversations, {rows[0]['tokens']:,} tokens, tokenizer {args.tokenizer}, template {args.template}")
    print(f"baseline (HF fast tokenizer batch encode): {rows[0]['tokens'] / min(r['baseline_hf_s'] for r in rows):,.0f} tokens/s; "
          f"backend encode_batch alone: {rows[0]['tokens'] / min(r['backend_encode_s'] for r in rows):,.0f} tokens/s")
    print(f"ours (whole pack job): {rows[0]['tokens'] / min(r['pack_s'] for r in rows):,.0f} tokens/s")
    print(f"ratio ours / baseline (tokens/s): {best_of:.3f} (fastest run of each), median of runs {med:.3f}; "
          f"ours / backend-only: {min(r['backend_encode_s'] for r in rows) / min(r['pack_s'] for r in rows):.3f}")


if __name__ == "__main__":
    main()
