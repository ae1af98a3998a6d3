"""Hand-built cases for the zh/en sentence and clause splitters."""

from __future__ import annotations

import pytest

from huatuo_ray.curate.segment.sentences import (
    sentence_bounds,
    split_clauses,
    split_long_span,
    split_sentences,
)


def sents(text: str, lang: str = "zh") -> list[str]:
    spans = split_sentences(text, lang)
    assert "".join(text[s:e] for s, e in spans) == text
    return [text[s:e] for s, e in spans]


# --- Chinese -------------------------------------------------------------------------------------


def test_zh_basic_terminators():
    assert sents("发热是常见症状。应及时就医！为什么？因为；原因很多") == [
        "发热是常见症状。",
        "应及时就医！",
        "为什么？",
        "因为；",
        "原因很多",
    ]


def test_zh_closing_quote_stays_with_sentence():
    assert sents("他说：“好。”然后走了。") == ["他说：“好。”", "然后走了。"]
    assert sents("她问：「真的吗？」我点头。") == ["她问：「真的吗？」", "我点头。"]
    assert sents("（详见第三章。）下一段。") == ["（详见第三章。）", "下一段。"]
    assert sents("书名《内经。》之后") == ["书名《内经。》", "之后"]


def test_zh_ellipsis_and_runs():
    assert sents("等等……然后呢？！不知道") == ["等等……", "然后呢？！", "不知道"]
    assert sents("还有...然后") == ["还有...", "然后"]
    assert sents("真的吗?!好的!") == ["真的吗?!", "好的!"]


def test_zh_newlines_split_and_whitespace_attaches_before():
    assert sents("第一章\n第一节 概述\n\n　　传染病学。") == ["第一章\n", "第一节 概述\n\n　　", "传染病学。"]
    assert sents("好。 \n 然后") == ["好。 \n ", "然后"]


def test_zh_decimal_and_numbering_not_split():
    assert sents("体温38.5℃以上。每次0.25g。") == ["体温38.5℃以上。", "每次0.25g。"]
    assert sents("1.概述\n2.病因") == ["1.概述\n", "2.病因"]


def test_mixed_zh_en():
    assert sents("使用Dr. Wang的方法。He said hello. 然后呢。") == [
        "使用Dr. Wang的方法。",
        "He said hello. ",
        "然后呢。",
    ]
    # Chinese punctuation splits in English mode too
    assert sents("English then 中文。More English! And.", "en") == ["English then 中文。", "More English! ", "And."]


# --- English -------------------------------------------------------------------------------------


def test_en_basic():
    assert sents("Fever is common. See a doctor! Why? Because.", "en") == [
        "Fever is common. ",
        "See a doctor! ",
        "Why? ",
        "Because.",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "Dr. Smith arrived.",
        "Mr. and Mrs. Jones left.",
        "Ask Prof. Lee or Ms. Kim.",
        "Take aspirin, e.g. Bayer, daily.",
        "Some drugs, i.e. NSAIDs, irritate.",
        "Apples, pears, etc. Are all fruit.",
        "See Fig. 3 for details.",
        "Patient No. 12 was seen.",
        "It takes approx. 5 days.",
        "Acme Inc. Was founded.",
        "The U.S. Army helped.",
        "At 10 a.m. The test began.",
        "At 3 p.m. Nobody came.",
        "Written by J. Smith today.",
        "Live on St. James street.",
        "Smoking vs. Vaping compared.",
    ],
)
def test_en_abbreviations_do_not_split(text):
    assert sents(text, "en") == [text]


def test_en_decimals_and_lowercase_continuation():
    assert sents("Give 3.5 mg twice. Then 0.25% solution.", "en") == ["Give 3.5 mg twice. ", "Then 0.25% solution."]
    assert sents("It was late. and then it rained.", "en") == ["It was late. and then it rained."]


def test_en_quotes_and_brackets():
    assert sents('He said "Stop." Then he left.', "en") == ['He said "Stop." ', "Then he left."]
    assert sents("He said \u201cStop.\u201d Then he left.", "en") == ["He said \u201cStop.\u201d ", "Then he left."]
    assert sents("It works (mostly.) Then it fails.", "en") == ["It works (mostly.) ", "Then it fails."]
    assert sents('He stopped. "Go," she said.', "en") == ["He stopped. ", '"Go," she said.']
    assert sents("Done. (See below.) Next.", "en") == ["Done. ", "(See below.) ", "Next."]


def test_en_digits_start_sentence_but_list_numbers_do_not_end_one():
    assert sents("Born in 1877. 12 people came.", "en") == ["Born in 1877. ", "12 people came."]
    assert sents("Steps: 1. Wash hands. 2. Dry them.", "en") == ["Steps: 1. Wash hands. ", "2. Dry them."]


def test_en_ellipsis():
    assert sents("Wait... Then go.", "en") == ["Wait... ", "Then go."]
    assert sents("Wait... then go.", "en") == ["Wait... then go."]
    assert sents("Wait\u2026 Then go.", "en") == ["Wait\u2026 ", "Then go."]


def test_en_newlines():
    # hard-wrapped lines are one sentence; blank lines split; a line end after a terminator splits
    text = "A long line\nwrapped here.\nNext sentence\n\nNew paragraph"
    assert sents(text, "en") == ["A long line\nwrapped here.\n", "Next sentence\n\n", "New paragraph"]


# --- spans ---------------------------------------------------------------------------------------


def test_bounds_edge_cases():
    assert sentence_bounds("") == [0]
    assert split_sentences("") == []
    assert split_sentences("   ") == [(0, 3)]
    assert sents("  \n leading。然后") == ["  \n leading。", "然后"]
    assert sents("。。") == ["。。"]
    assert sents("好。\n") == ["好。\n"]


def test_clauses():
    text = "发热，头痛；乏力：咳嗽、流涕 and a, b; c 3,000 10:30"
    pieces = [text[s:e] for s, e in split_clauses(text)]
    assert "".join(pieces) == text
    assert pieces[:5] == ["发热，", "头痛；", "乏力：", "咳嗽、", "流涕 "]
    assert "3,000 " in pieces and "10:30" in pieces
    assert split_clauses("abc", 1, 1) == []


def test_split_long_span_prefers_punctuation_then_space_then_hard():
    text = "x" * 30 + "，" + "y" * 10
    assert split_long_span(text, 0, len(text), 35) == ([31], 1, 0)
    text = "word " * 20  # 100 chars, no punctuation
    cuts, clause, hard = split_long_span(text, 0, len(text), 12)
    assert hard == 0 and clause == len(cuts) and all(c % 5 == 0 for c in cuts)
    assert split_long_span("a" * 100, 0, 100, 30) == ([30, 60, 90], 0, 3)
    assert split_long_span("a" * 10, 0, 10, 30) == ([], 0, 0)
