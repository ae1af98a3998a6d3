"""Worker memory is bounded by ``curate.part_bytes``, not by the file: one compressed file at two sizes."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import zstandard

from tests.conftest import REPO

PART_BYTES = 2 << 20
CEILING_MIB = 450  # a worker's baseline (Ray, pyarrow, the density automata: about 330 MiB) + about 10x part_bytes


def _texts() -> list[str]:
    with gzip.open(REPO / "examples/demo_corpus/encyclopedia/medquad.jsonl.gz", "rt", encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def _write(path: Path, size: int) -> int:
    texts, n, written = _texts(), 0, 0
    with open(path, "wb") as raw, zstandard.ZstdCompressor(level=1).stream_writer(raw) as f:
        while written < size:
            body = "\n".join(texts[(n * 7 + j) % len(texts)] for j in range(1 + n % 6))
            line = (json.dumps({"id": f"d{n}", "text": body, "url": f"https://example.org/{n}"}) + "\n").encode()
            f.write(line)
            written += len(line)
            n += 1
    return n


def _peak(tmp: Path, mb: int) -> dict:
    src = tmp / f"in{mb}" / "big.jsonl.zst"
    src.parent.mkdir()
    records = _write(src, mb * 10**6)
    out = subprocess.run([sys.executable, str(REPO / "tests/curate/memory_probe.py"), str(src), str(tmp / f"out{mb}"),
                          str(PART_BYTES)], capture_output=True, text=True, check=True, cwd=REPO)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    led = got["ledger"]
    assert led["records"] == records == led["kept_documents"] + led["dropped_documents"] + led["quarantined"]
    return got


def test_peak_rss_of_a_unit_is_flat_in_the_file_size(tmp_path):
    small, big = _peak(tmp_path, 10), _peak(tmp_path, 40)
    assert big["parts"] >= 4 * small["parts"] - 1 > 10
    assert big["work_peak_mib"] < CEILING_MIB, big
    # the whole file held through the stages took about 8x its JSONL bytes more: +230 MiB from 10 to 40 MB
    assert big["work_peak_mib"] - small["work_peak_mib"] < 40, (small["work_peak_mib"], big["work_peak_mib"])
