"""Decontamination: planted copies are found, disjoint medical text raises no alarm, drops carry a reason."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from huatuo_ray.benchmarks.config import BenchmarkSpec, DecontamConfig
from huatuo_ray.benchmarks.decontam import (
    ContaminationIndex,
    contamination_table,
    find_contamination,
    samples_to_drop,
)
from huatuo_ray.benchmarks.formats import load_benchmark

DATA = Path(__file__).parents[1] / "eval" / "data"  # the benchmark fixtures live with the eval tests
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def benches(shared_data):
    return [load_benchmark(BenchmarkSpec(path=str(p))) for p in
            (shared_data / "benchmarks/cmmlu/test", DATA / "medqa_own.jsonl", DATA / "medmcqa_own.json")]


def conv(sid, human, gpt="好的。"):
    return {"id": sid, "conversations": [{"from": "human", "value": human}, {"from": "gpt", "value": gpt}]}


def planted(benches):
    cmmlu, medqa, medmcqa = (b.items for b in benches)
    z1, z2, e1, e2, m = cmmlu[40], cmmlu[700], medqa[0], medqa[6], medmcqa[4]
    opts = lambda it, sep="\n": sep.join(f"{k}. {v}" for k, v in it.options.items())  # noqa: E731
    edited_q = z2.question[:3] + "的" + z2.question[4:]          # one character changed
    vignette = e1.question.replace("23-year-old", "25-year-old").replace("palpitations", "a racing heart")
    rows = [
        conv("copy-zh", f"题目：{z1.question}\n{opts(z1)}", f"答案：{z1.gold}"),
        conv("edited-zh", f"请帮我解答：{edited_q}（{'、'.join(z2.options.values())}）"),
        conv("edited-en", "Here is a case.", f"Consider this: {vignette} Options: {opts(e1, '; ')}. It is Graves disease."),
        conv("question-only-en", e2.question, "The likely diagnosis is esophageal adenocarcinoma."),
        conv("reformatted-short", f"Q: {m.question}? (a) {m.options['A']} (b) {m.options['B']} (c) {m.options['C']} "
                                  f"(d) {m.options['D']}", "Answer: (a)"),
    ]
    expected = {("cmmlu", z1.id): "copy-zh", ("cmmlu", z2.id): "edited-zh", ("medqa", e1.id): "edited-en",
                ("medqa", e2.id): "question-only-en", ("medmcqa", m.id): "reformatted-short"}
    return rows, expected


def disjoint_files(tmp: Path, shared_data: Path) -> list[Path]:
    """Real medical conversations (zh) and MedQuAD answers (en), none of them benchmark items."""
    en = tmp / "medquad.jsonl"
    with gzip.open(REPO / "examples/demo_corpus/encyclopedia/medquad.jsonl.gz", "rt", encoding="utf-8") as f:
        en.write_text("".join(json.dumps({"id": f"mq{k}", "text": json.loads(line)["text"]}) + "\n"
                              for k, line in enumerate(f)))
    return [shared_data / "corpus/medical_sft_1K_format.jsonl", shared_data / "corpus/sharegpt_zh_1K_format.jsonl", en]


def test_planted_overlaps_are_found_and_disjoint_medical_text_is_not(benches, shared_data, tmp_path):
    rows, expected = planted(benches)
    mixed = tmp_path / "train"
    mixed.mkdir()
    with open(mixed / "sft.jsonl", "w", encoding="utf-8") as f:   # planted rows among real conversations
        real = (shared_data / "corpus/medical_sft_1K_format.jsonl").read_text(encoding="utf-8").splitlines()[:300]
        for k, line in enumerate(real):
            f.write(line + "\n")
            if k % 60 == 0 and rows:
                f.write(json.dumps(rows.pop(0), ensure_ascii=False) + "\n")
    report = find_contamination(benches, [mixed], DecontamConfig(), tmp_path / "decontam")
    found = {(b, it["item_id"]): [h["sample_id"] for h in it["hits"]]
             for b, v in report["benchmarks"].items() for it in v["contaminated_items"]}
    assert found == {k: [v] for k, v in expected.items()}, found
    drop = samples_to_drop(tmp_path / "decontam")
    assert set(drop) == set(expected.values())
    assert drop["copy-zh"] == "overlaps benchmark cmmlu (decontamination)"
    assert report["samples_scanned"] == 305 and samples_to_drop(report) == drop
    on_disk = json.loads((tmp_path / "decontam" / "report.json").read_text())
    assert on_disk["benchmarks"]["medqa"]["contaminated"] == 2
    assert "5 to drop" in contamination_table(report)

    clean = find_contamination(benches, disjoint_files(tmp_path, shared_data), DecontamConfig())
    assert clean["samples_scanned"] > 2000 and clean["samples_to_drop"] == 0, clean["benchmarks"]


def test_parquet_release_files_stream_in_batches(benches, tmp_path):
    rows, expected = planted(benches)
    conv_type = pa.list_(pa.struct([("from", pa.string()), ("value", pa.string())]))
    table = pa.table({"id": [r["id"] for r in rows], "conversations": pa.array([r["conversations"] for r in rows],
                                                                              conv_type)})
    pq.write_table(table, tmp_path / "release.parquet", row_group_size=2)
    as_json = pa.table({"id": ["j-" + r["id"] for r in rows],
                        "conversations": [json.dumps(r["conversations"], ensure_ascii=False) for r in rows]})
    pq.write_table(as_json, tmp_path / "sft.parquet")
    report = find_contamination(benches, [tmp_path / "release.parquet", tmp_path / "sft.parquet"], DecontamConfig())
    assert set(report["drop"]) == set(expected.values()) | {"j-" + v for v in expected.values()}


def test_template_phrases_and_knowledge_are_not_contamination(benches):
    index = ContaminationIndex(benches, DecontamConfig())
    cmmlu = benches[0].items
    answer_only = f"{cmmlu[40].question[:6]}相关知识：{cmmlu[40].options[cmmlu[40].gold]}是正确的，这一点在教材中有详细论述。"
    assert index.scan(answer_only) == []
    stem = ("A 44-year-old man has had fever and a cough for three days. Which of the following is the most likely "
            "diagnosis? He smokes and works outdoors in the rain.")
    assert index.scan(stem) == []
    assert index.scan(benches[2].items[4].question) == []   # a short question alone is under the threshold
