"""Pairwise judging logic with fake judges (a fair one, a position-biased one, a broken one)."""

from __future__ import annotations

import re

import pytest

from huatuo_ray.eval.config import JudgeConfig
from huatuo_ray.eval.judge import combine, judge_pairs, parse_verdict
from huatuo_ray.llm.client import LLMResult

QUESTIONS = [{"id": f"q{k}", "question": f"question {k}"} for k in range(6)]
LABEL = {"1": "Assistant 1 is better than Assistant 2", "2": "Assistant 1 is worse than Assistant 2",
         "tie": "Assistant 1 is equal to Assistant 2"}


def answers(texts):
    return [LLMResult(text=t) if t is not None else LLMResult(error="timeout") for t in texts]


def parts(messages):
    m = re.search(r"\[Assistant 1\]\n(.*?)\n\[End of Assistant 1\].*\[Assistant 2\]\n(.*?)\n\[End of Assistant 2\]",
                  messages[-1]["content"], re.S)
    return m.group(1), m.group(2)


def fair(requests):
    """Prefers the longer answer, whatever its position; equal lengths tie."""
    out = []
    for msgs in requests:
        one, two = parts(msgs)
        side = "1" if len(one) > len(two) else "2" if len(two) > len(one) else "tie"
        out.append(LLMResult(text=f"Both are fine, but...\n{LABEL[side]}"))
    return out


def test_verdict_labels():
    assert parse_verdict("analysis...\nAssistant 1 is worse than Assistant 2") == "2"
    assert parse_verdict("'Assistant 1 is better than Assistant 2'. Final: Assistant 1 is equal to Assistant 2.") == "tie"
    assert parse_verdict("I like the first one.") is None
    assert combine("1", "2") == ("win", False) and combine("2", "1") == ("loss", False)
    assert combine("1", "1") == ("tie", True) and combine("tie", "1") == ("tie", True) and combine(None, "1")[0] == "undecided"


def test_a_fair_judge_gives_consistent_verdicts_in_both_orders():
    a = answers(["long answer here", "short", "same", "a much longer answer", "x", "equal"])
    b = answers(["short", "a longer answer", "same", "tiny", "yy", "equal"])
    res = judge_pairs(QUESTIONS, a, b, fair, JudgeConfig())
    assert (res["win"], res["tie"], res["loss"], res["inconsistent"], res["undecided"]) == (2, 2, 2, 0, 0)
    assert res["win_tie_rate"] == pytest.approx(4 / 6)
    assert [v["outcome"] for v in res["verdicts"]] == ["win", "loss", "tie", "win", "loss", "tie"]


def test_a_position_biased_judge_is_caught_as_inconsistent():
    always_first = lambda reqs: [LLMResult(text=LABEL["1"]) for _ in reqs]  # noqa: E731
    res = judge_pairs(QUESTIONS, answers(["a"] * 6), answers(["b"] * 6), always_first, JudgeConfig())
    assert (res["win"], res["loss"], res["tie"], res["inconsistent"]) == (0, 0, 6, 6)


def test_missing_verdicts_and_failed_answers_are_counted_apart():
    calls = []

    def flaky(reqs):
        calls.append(len(reqs))
        return [LLMResult(error="http 500") if k == 0 else LLMResult(text="no label") if k == 3 else
                LLMResult(text=LABEL["tie"]) for k in range(len(reqs))]

    a = answers(["x", "x", "x", None, "x", "x"])
    res = judge_pairs(QUESTIONS, a, answers(["x"] * 6), flaky, JudgeConfig())
    assert calls == [10]   # both orders for the five questions both models answered
    assert (res["undecided"], res["answer_error"], res["tie"], res["n"]) == (2, 1, 3, 6)
    assert res["win"] + res["tie"] + res["loss"] + res["undecided"] + res["answer_error"] == 6
    assert res["verdicts"][0]["judge_errors"] == ["http 500"]
