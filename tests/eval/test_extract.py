"""Answer extraction on a fixture of realistic replies, and the scoring rules around it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from huatuo_ray.benchmarks.config import BenchmarkSpec
from huatuo_ray.benchmarks.formats import load_benchmark
from huatuo_ray.eval.extract import extract_answer, is_negative_question
from huatuo_ray.eval.score import predict, summarise
from huatuo_ray.llm.client import LLMResult

DATA = Path(__file__).parent / "data"


def fixture_cases():
    d = yaml.safe_load((DATA / "replies.yaml").read_text(encoding="utf-8"))
    return [(d["questions"][q], reply, expect) for q, reply, expect in d["cases"]]


def test_fixture_is_large_and_varied():
    cases = fixture_cases()
    assert len(cases) >= 200
    kinds = Counter(("zh" if any("\u4e00" <= c <= "\u9fff" for c in r) else "en", e is None) for _, r, e in cases)
    assert all(kinds[(lang, none)] >= 5 for lang in ("zh", "en") for none in (True, False)), kinds
    assert sum(len(r) > 80 for _, r, _ in cases) >= 25  # replies that argue before (or without) answering


def test_extraction_is_right_on_at_least_98_percent_of_the_fixture():
    wrong = []
    for q, reply, expect in fixture_cases():
        got = extract_answer(reply, q["options"], q.get("multi", False), q["question"])
        if got.pred != expect:
            wrong.append((expect, got.pred, got.rule, reply[:80]))
    n = len(fixture_cases())
    assert (n - len(wrong)) / n >= 0.98, "\n".join(map(str, wrong))
    # a wrong reading is a missed answer, never an invented one: no reply the reader calls unanswered gets a letter
    assert not [w for w in wrong if w[0] is None], wrong


@pytest.mark.parametrize("reply,expect", [
    ("A. 腹水是预后指标。B. 清蛋白也是。D. 凝血酶原时间也是。所以答案是C。", "C"),     # argues about wrong ones first
    ("I first thought B, but on reflection the answer is D.", "D"),
    ("答案是C，而不是A。", "C"),
    ("无法判断。", None),
    ("It could be A or C.", None),
    ("答案是A或C", None),
])
def test_wrong_options_discussed_before_the_answer(reply, expect):
    opts = {"A": "腹水", "B": "清蛋白", "C": "血电解质", "D": "凝血酶原时间"}
    assert extract_answer(reply, opts, question="对评估肝硬化患者预后意义不大的是").pred == expect


def test_negative_questions_are_recognised():
    assert is_negative_question("下列哪项不是肾病综合征的表现") and is_negative_question("All of the following EXCEPT")
    assert not is_negative_question("诊断胆囊结石首选的检查方法是")


def constant(reply: str, n: int) -> list[LLMResult]:
    return [LLMResult(text=reply) for _ in range(n)]


@pytest.mark.parametrize("reply", ["答案是B", "B", "The answer is (B)."])
def test_a_constant_answer_model_scores_at_the_frequency_of_its_letter(shared_data, reply):
    for spec in (BenchmarkSpec(path=str(shared_data / "benchmarks/cmmlu/test")),
                 BenchmarkSpec(path=str(DATA / "medqa_own.jsonl")), BenchmarkSpec(path=str(DATA / "medmcqa_own.json"))):
        items = load_benchmark(spec).items
        row = summarise(predict(items, constant(reply, len(items))))
        share_b = sum(i.gold == "B" for i in items) / len(items)
        assert row["accuracy"] == pytest.approx(share_b, abs=1e-6) and row["unanswered"] == 0


def test_unanswered_and_errors_are_counted_never_guessed():
    items = load_benchmark(BenchmarkSpec(path=str(DATA / "medmcqa_own.json"))).items[:4]
    results = [LLMResult(text="The answer is A."), LLMResult(text="I am not able to answer medical questions."),
               LLMResult(error="timeout"), LLMResult(text="Axillary nerve")]
    preds = predict(items, results)
    assert [p.status for p in preds] == ["answered", "unanswered", "error", "answered"]
    assert [p.pred for p in preds] == ["A", None, None, "D"]
    row = summarise(preds)
    assert (row["n"], row["correct"], row["answered"], row["unanswered"], row["errored"]) == (4, 2, 2, 1, 1)
    assert row["accuracy"] == pytest.approx(2 / 3)   # correct / replies; the error is counted, not scored
    assert row["by_subject"]["Anatomy"]["correct"] == 1 and row["by_subject"]["Gynaecology & Obstetrics"]["errored"] == 1


def test_multi_answer_items_need_the_exact_set():
    items = load_benchmark(BenchmarkSpec(path=str(DATA / "cmb_own.json"))).items
    replies = ["答案：A", "答案是A、B、D。", "答案：B", "答案：AC"]
    preds = predict(items, [LLMResult(text=r) for r in replies])
    assert [p.pred for p in preds] == ["A", "ABD", "B", "AC"]
    assert [p.correct for p in preds] == [True, True, True, False]
