"""Readers of the benchmarks' release formats: detection, fields, gold letters, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from huatuo_ray.benchmarks.config import PAPER_SUBJECTS, BenchmarkSpec
from huatuo_ray.benchmarks.formats import detect_format, load_benchmark
from huatuo_ray.errors import InputError

DATA = Path(__file__).parents[1] / "eval" / "data"  # the benchmark fixtures live with the eval tests


def load(path, **kw):
    return load_benchmark(BenchmarkSpec(path=str(path), **kw))


@pytest.mark.parametrize("name,fmt,lang,n", [
    ("medqa_own.jsonl", "medqa", "en", 12), ("medmcqa_own.json", "medmcqa", "en", 12), ("cmb_own.json", "cmb", "zh", 4),
    ("cmexam_own.csv", "cmexam", "zh", 3), ("ceval", "ceval", "zh", 3),
])
def test_detects_and_reads_each_format(name, fmt, lang, n):
    b = load(DATA / name)
    assert (b.format, b.language, len(b.items), b.name) == (fmt, lang, n, fmt)
    assert all(i.gold and set(i.gold) <= set(i.options) for i in b.items)


def test_medqa_fields():
    items = load(DATA / "medqa_own.jsonl").items
    assert items[0].id == "medqa_own-1" and items[0].gold == "A" and items[0].subject == "step1"
    assert list(items[0].options) == ["A", "B", "C", "D", "E"]
    assert [i.gold for i in items] == list("ACBAAABBBBAB")


def test_medmcqa_cop_is_one_based_by_default(tmp_path):
    items = load(DATA / "medmcqa_own.json").items
    assert [i.gold for i in items] == list("ABCDACBBBBAB")   # cop 1..4 -> A..D
    assert items[3].options["D"] == "Axillary nerve" and items[3].subject == "Anatomy"
    # a 0-based (Hugging Face) export: cop 0 fails with the hint, and reads with medmcqa_cop_base 0
    hf = tmp_path / "hf.jsonl"
    rows = [json.loads(line) for line in (DATA / "medmcqa_own.json").read_text().splitlines()]
    hf.write_text("".join(json.dumps({**r, "cop": r["cop"] - 1}) + "\n" for r in rows))
    with pytest.raises(InputError, match=r"hf.jsonl, line 1, field 'cop'.*medmcqa_cop_base: 0"):
        load(hf)
    assert [i.gold for i in load(hf, medmcqa_cop_base=0).items] == [i.gold for i in items]


def test_medmcqa_test_split_without_answers_is_skipped_and_counted(tmp_path):
    rows = [json.loads(line) for line in (DATA / "medmcqa_own.json").read_text().splitlines()]
    p = tmp_path / "test.json"
    p.write_text("".join(json.dumps({**r, "cop": -1 if k % 2 else r["cop"]}) + "\n" for k, r in enumerate(rows)))
    b = load(p)
    assert len(b.items) == 6 and b.skipped == {"no cop (answers not released)": 6}


def test_cmb_multi_answer_and_type():
    items = load(DATA / "cmb_own.json").items
    assert [(i.gold, i.multi, i.qtype) for i in items] == [
        ("A", False, "单项选择题"), ("ABD", True, "多项选择题"), ("B", False, "单项选择题"), ("ACE", True, "多项选择题")]
    assert "E" not in items[0].options  # empty options are dropped
    assert items[0].subject == "医师考试/执业医师" and items[0].id == "1"


def test_cmexam_options_in_one_cell():
    b = load(DATA / "cmexam_own.csv")
    assert [i.gold for i in b.items] == ["C", "C", "ACD"]
    assert b.items[1].options == {"A": "CT", "B": "MRI", "C": "B超", "D": "腹部X线平片", "E": "胆囊造影"}
    assert all(i.multi for i in b.items) and b.skipped == {"no answer": 1}
    assert b.items[0].subject == "临床医学" and b.items[0].id == "cmexam_own-2"


def test_ceval_subject_and_test_split():
    b = load(DATA / "ceval")
    assert {i.subject for i in b.items} == {"clinical_medicine"}
    assert b.skipped == {"no answer (test split?)": 1}
    assert b.items[0].id == "clinical_medicine-0" and b.items[0].gold == "C"


def test_real_cmmlu_medical_subjects(shared_data):
    folder = shared_data / "benchmarks" / "cmmlu" / "test"
    b = load(folder)
    counts = {s: sum(i.subject == s for i in b.items) for s in b.subjects}
    assert counts == {"anatomy": 148, "clinical_knowledge": 237, "college_medicine": 273, "genetics": 176,
                      "nutrition": 145, "professional_medicine": 376, "traditional_chinese_medicine": 185,
                      "virology": 169}
    assert (b.format, b.language) == ("cmmlu", "zh")
    paper = [s for s in PAPER_SUBJECTS["cmmlu"] if s != "agronomy"]  # agronomy is not in the shared copy
    sliced = load(folder, subjects=paper, max_items=12)
    assert len(sliced.items) == 12 and {i.subject for i in sliced.items} == set(paper)  # round-robin slice
    with pytest.raises(InputError, match="agronomy.*not found"):
        load(folder, subjects=PAPER_SUBJECTS["cmmlu"])


def test_format_override_and_errors_name_file_line_field(tmp_path):
    with pytest.raises(InputError, match=r"medqa_own.jsonl, line 1, field 'opa': missing"):
        load(DATA / "medqa_own.jsonl", format="medmcqa")
    bad = tmp_path / "bad.jsonl"
    lines = (DATA / "medqa_own.jsonl").read_text().splitlines()
    bad.write_text("\n".join(lines[:2] + ['{"question": "x", "options": {"A": "a"}, "answer_idx": "B"}']) + "\n")
    with pytest.raises(InputError, match=r"bad.jsonl, line 3, field 'answer_idx': answer 'B' names 'B', not among"):
        load(bad)
    bad.write_text("\n".join(lines[:1] + ['{"question": "x", "options": ']) + "\n")
    with pytest.raises(InputError, match=r"bad.jsonl, line 2, field '<record>': not valid JSON"):
        load(bad)
    arr = tmp_path / "cmb.json"
    arr.write_text((DATA / "cmb_own.json").read_text().replace('"answer": "ABD"', '"answer": "ABX"'))
    with pytest.raises(InputError, match=r"cmb.json, line 18, field 'answer'"):
        load(arr)
    csvf = tmp_path / "c.csv"
    csvf.write_text("Question,Options,Answer\nq,A 1,A\n")
    with pytest.raises(InputError, match=r"c.csv, line 2, field 'Options': fewer than two options"):
        load(csvf)
    other = tmp_path / "other.jsonl"
    other.write_text('{"text": "hello"}\n')
    with pytest.raises(InputError, match="format not recognised"):
        detect_format(other)
    with pytest.raises(InputError, match="no such file"):
        load(tmp_path / "missing.json")


def test_the_demo_slice_is_unchanged_cmmlu_rows(shared_data):
    demo = load(Path(__file__).resolve().parents[2] / "examples/demo_benchmarks/cmmlu")
    full = {i.id: i for i in load(shared_data / "benchmarks/cmmlu/test").items}
    assert len(demo.items) == 24 and len(demo.subjects) == 6
    assert all(full[i.id] == i.__class__(**{**i.__dict__, "where": full[i.id].where}) for i in demo.items)
