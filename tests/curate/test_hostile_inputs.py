"""Every hostile input of issue 14 in one curation job on a real local Ray: the job completes, the counts are exact,
the reasons readable; an I/O error fails only its unit (named; the rerun finishes it); repeated ids are refused."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from huatuo_ray.curate.pipeline import run_curation
from huatuo_ray.errors import Incomplete, InputError
from huatuo_ray.io.readers import read_unit
from huatuo_ray.io.units import plan_units
from huatuo_ray.recipe import Recipe, SourceConfig
from tests.curate.test_pipeline import (
    MED_EN,
    assert_balanced,
    make_recipe,
    read_kind,
    write_hostile_corpus,
)

pytestmark = pytest.mark.slow


def conv(i: int, prefix: str = "conv") -> dict:
    return {"id": f"{prefix}{i}", "conversations": [{"from": "human", "value": f"What treats hypertension {i}?"},
                                                 {"from": "gpt", "value": MED_EN}]}


def write_issue_inputs(root: Path) -> tuple[int, list[str]]:
    """The inputs issue 14 lists; returns (records the reader must count, files whose tail is damaged)."""
    root.mkdir(parents=True, exist_ok=True)
    def lines(prefix):
        return b"".join(json.dumps({"id": f"{prefix}{i}", "text": MED_EN}).encode() + b"\n" for i in range(400))

    gz = gzip.compress(lines("gz"))
    (root / "truncated.jsonl.gz").write_bytes(gz[: len(gz) * 2 // 3])
    c, zl = zstandard.ZstdCompressor(), lines("zst")
    zs = b"".join(c.compress(zl[i:i + len(zl) // 10]) for i in range(0, len(zl), len(zl) // 10))  # ten frames
    (root / "truncated.jsonl.zst").write_bytes(zs[: len(zs) // 2])
    js = gzip.compress(json.dumps([conv(i, "sft") for i in range(300)]).encode())
    (root / "truncated_sft.json.gz").write_bytes(js[: len(js) // 2])
    (root / "wrapped.json").write_text(json.dumps({"data": [conv(i) for i in range(5)]}), encoding="utf-8")
    (root / "lines.json").write_text("\n".join([json.dumps(conv(10)), "{broken", json.dumps(conv(11))]) + "\n",
                                     encoding="utf-8")
    (root / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + json.dumps({"id": "bom0", "text": MED_EN}).encode() + b"\n"
                                     + json.dumps({"id": "bom1", "text": MED_EN}).encode() + b"\n")
    turn = pa.struct([("from", pa.string()), ("value", pa.binary())])
    pq.write_table(pa.table({"id": ["pb0", "pb1"], "conversations": pa.array(
        [[{"from": "human", "value": b"q"}, {"from": "gpt", "value": b"a"}]] * 2, type=pa.list_(turn))}),
        root / "bytes.parquet")
    exact = 5 + 3 + 2 + 2  # wrapped, lines (one broken), bom, bytes.parquet
    return exact, ["truncated.jsonl.gz", "truncated.jsonl.zst", "truncated_sft.json.gz"]


def test_every_hostile_input_completes_with_exact_counts(ray_local, tmp_path):
    n = write_hostile_corpus(tmp_path / "in", big_kb=16)
    exact, damaged = write_issue_inputs(tmp_path / "in")
    # what the damaged files hold before their damage (the reader's unit tests check it is the exact prefix)
    source = SourceConfig(name="h", path=str(tmp_path / "in"), type="web", language="detect")
    before = {u.relpath: read_unit(u, source, 1 << 24, 200) for u in plan_units([source], 1 << 30, 1000)
              if u.relpath in damaged}
    assert all(len(r.docs) > 0 and len(r.quarantined) == 1 for r in before.values())
    out = tmp_path / "out"
    stats = run_curation(make_recipe(tmp_path / "in", unit_bytes=8 << 20), out).stats
    assert_balanced(stats, n + exact + sum(r.records for r in before.values()))
    quarantined = read_kind(out, "quarantined")
    reasons = dict(zip(quarantined["id"], quarantined["reason"]))
    for name in damaged:
        (rid, reason), = [(i, r) for i, r in reasons.items() if i.startswith(f"h:{name}@")]
        assert reason.startswith("damaged ") and "stream at decompressed byte " in reason, reason
    assert reasons["pb0"].startswith("conversation turn 0 lacks string 'from' and 'value'")
    assert any(r.startswith("malformed JSON") for i, r in reasons.items() if i.startswith("h:lines.json@"))
    kept_docs = set(read_kind(out, "kept")["doc_id"])
    assert {"bom0", "bom1", "conv0", "conv4", "conv10", "conv11"} <= kept_docs
    assert all(len(r) >= 10 for r in reasons.values())  # "empty text" is the shortest


def test_an_io_error_fails_only_its_unit_and_the_rerun_finishes_it(ray_local, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        (src / f"good{i}.jsonl").write_text(json.dumps({"id": f"g{i}", "text": MED_EN}) + "\n", encoding="utf-8")
    (src / "flaky.jsonl").symlink_to("/proc/self/mem")  # every read of it is an EIO from the kernel
    recipe, out = make_recipe(src), tmp_path / "out"
    with pytest.raises(Incomplete) as e:
        run_curation(recipe, out)
    msg = str(e.value)
    assert msg.startswith("curate: 1 of 4 work units failed and stay pending (h-flaky_jsonl-") and \
        "reading flaky.jsonl failed: [Errno 5] Input/output error" in msg and "rerun the same command" in msg
    assert len(list((out / "_markers").glob("*.json"))) == 3 and not list((out / "quarantined").glob("*"))
    (src / "flaky.jsonl").unlink()  # the file system recovers
    (src / "flaky.jsonl").write_text(json.dumps({"id": "f", "text": MED_EN}) + "\n", encoding="utf-8")
    stats = run_curation(recipe, out).stats
    assert stats["units"]["done_before_this_run"] == 3
    assert_balanced(stats, 4)
    assert not (out / "_failed").exists()


def test_repeated_ids_are_refused_during_curation_naming_the_source(ray_local, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "one.jsonl").write_text("".join(json.dumps({"id": i, "text": MED_EN}) + "\n" for i in ("x1", "x2")),
                                 encoding="utf-8")
    (a / "two.jsonl").write_text(json.dumps({"id": "x2", "text": MED_EN}) + "\n", encoding="utf-8")
    (b / "other.jsonl").write_text(json.dumps({"id": "x1", "text": MED_EN}) + "\n", encoding="utf-8")
    recipe = Recipe(sources=[SourceConfig(name="web-a", path=str(a), type="web", language="en"),
                             SourceConfig(name="web-b", path=str(b), type="web", language="en")],
                    curate={"stages": ["density", "segment"]})
    with pytest.raises(InputError, match=r"source 'web-a': 1 record ids occur more than once .*'x2' 2 times \(in "
                                         r"units web-a-one_jsonl-\w+, web-a-two_jsonl-\w+\)"):
        run_curation(recipe, tmp_path / "out")
    # the same id in two sources is fine, and so is a repeat of which only one copy is kept
    (a / "two.jsonl").write_text(json.dumps({"id": "x2", "text": "The railway reached the coast."}) + "\n",
                                 encoding="utf-8")
    run_curation(recipe, tmp_path / "out2")
