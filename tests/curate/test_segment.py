"""Windowed segmentation: config validation, record shape, counters and property tests."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from huatuo_ray.curate.segment.config import SegmentConfig
from huatuo_ray.curate.segment.stage import SegmentStage
from huatuo_ray.curate.segment.windows import plan_windows, segment_text, unit_bounds

TOKENS = [
    "发热", "是", "常见的", "症状", "患者", "应", "及时就医", "体温", "Fever", "is", "common", "the", "Patient",
    "Dr.", "e.g.", "U.S.", "J.", "3.5", "mg", "0.25%", "1.", "。", "！", "？", "；", "……", "…", "”", "“", "」",
    "）", "(", ")", '"', "'", ".", "!", "?", ". ", "? ", "! ", "，", ",", "：", ":", "、", ";", " ", "  ", "\n",
    "\n\n", "\t", "　", "a" * 40, "长" * 30, "word " * 8,
]
texts = st.one_of(
    st.lists(st.sampled_from(TOKENS), max_size=80).map("".join),
    st.text(alphabet="ab 。.，, \nA中”", max_size=300),
)


@st.composite
def configs(draw):
    max_chars = draw(st.integers(1, 120))
    core = draw(st.one_of(st.none(), st.integers(1, max_chars)))
    return SegmentConfig(
        max_chars=max_chars,
        core_chars=core,
        context_before=draw(st.integers(0, 3)),
        context_after=draw(st.integers(0, 3)),
    )


def check_segments(text: str, cfg: SegmentConfig, records: list[dict]) -> None:
    if not text.strip():
        assert records == []
        return
    n = len(text)
    covered = [False] * n
    pos = 0
    for k, r in enumerate(records):
        s, e, cs, ce = r["span_start"], r["span_end"], r["core_start"], r["core_end"]
        assert r["segment_index"] == k and r["n_segments"] == len(records)
        assert r["text"] == text[s:e]  # (c)
        assert 0 < e - s <= cfg.max_chars  # (b)
        assert s <= cs < ce <= e
        assert cs == pos  # (d) cores tile in order
        pos = ce
        for i in range(s, e):
            covered[i] = True
    assert pos == n  # (d) last core ends at the end
    assert all(covered)  # (a)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=texts, cfg=configs(), lang=st.sampled_from(["zh", "en", None]))
def test_segment_properties(text, cfg, lang):
    out = SegmentStage(cfg).process([{"id": "d", "text": text, "language": lang, "source": "s"}])
    assert out.kept_inputs + len(out.dropped) == 1
    check_segments(text, cfg, out.kept)
    assert out.counters["segments"] == len(out.kept)
    # windows only start/end on unit boundaries, and context stays within its unit budget
    if out.kept and len(text) > cfg.max_chars:
        units = unit_bounds(text, lang, cfg.max_chars)[0]
        index = {b: i for i, b in enumerate(units)}
        for r in out.kept:
            a, c0, c1, b = (index[r[key]] for key in ("span_start", "core_start", "core_end", "span_end"))
            assert c0 - a <= cfg.context_before and b - c1 <= cfg.context_after


@settings(max_examples=200, deadline=None)
@given(
    gaps=st.lists(st.integers(1, 50), min_size=1, max_size=40),
    max_extra=st.integers(0, 60),
    core_frac=st.floats(0.05, 1.0),
    cb=st.integers(0, 3),
    ca=st.integers(0, 3),
)
def test_plan_windows_properties(gaps, max_extra, core_frac, cb, ca):
    bounds = [0]
    for g in gaps:
        bounds.append(bounds[-1] + g)
    max_chars = max(gaps) + max_extra
    core = max(1, int(max_chars * core_frac))
    wins = plan_windows(bounds, max_chars, core, cb, ca)
    pos = 0
    for s, e, cs, ce in wins:
        assert cs == pos and s <= cs < ce <= e and e - s <= max_chars
        assert {s, e, cs, ce} <= set(bounds)
        # the core respects core_chars unless it is a single unit or the tail
        if ce - cs > core:
            assert bounds.index(ce) - bounds.index(cs) == 1 or bounds[-1] - cs <= max_chars
        pos = ce
    assert pos == bounds[-1]


# --- hand-built -----------------------------------------------------------------------------------


def test_short_doc_is_one_segment_and_fields_are_carried():
    doc = {
        "id": "web-1", "text": "发热。头痛。", "source": "web", "source_type": "web", "language": "zh",
        "path": "/x.jsonl", "density": 0.42, "density_terms": ["发热", "头痛"],
    }
    out = SegmentStage().process([doc])
    assert out.kept_inputs == 1 and not out.dropped
    (r,) = out.kept
    assert r["id"] == "web-1#0" and r["doc_id"] == "web-1"
    assert r["text"] == doc["text"] and (r["span_start"], r["span_end"]) == (0, 6)
    assert (r["core_start"], r["core_end"], r["segment_index"], r["n_segments"]) == (0, 6, 0, 1)
    for key in ("source", "source_type", "language", "path", "density", "density_terms"):
        assert r[key] == doc[key]
    assert doc["text"] == "发热。头痛。"  # input not mutated


def test_empty_docs_dropped():
    docs = [
        {"id": "a", "text": ""},
        {"id": "b", "text": " \n\t　"},
        {"id": "c", "text": None},
        {"id": "d", "text": "ok"},
    ]
    out = SegmentStage().process(docs)
    assert [d["id"] for d in out.dropped] == ["a", "b", "c"]
    assert all(d["reason"] == "empty text" for d in out.dropped)
    assert out.kept_inputs == 1 and len(out.kept) == 1
    assert out.kept_inputs + len(out.dropped) == len(docs)
    assert out.counters == {"segments": 1, "clause_splits": 0, "hard_splits": 0}


def test_window_with_context():
    # ten sentences of 10 chars; core 20 chars = 2 sentences, context one sentence each side
    text = "".join(f"第{i}句话内容完整了。" for i in range(10))
    assert len(text) == 100
    cfg = SegmentConfig(max_chars=40, core_chars=20, context_before=1, context_after=1)
    wins, c, h = segment_text(text, "zh", cfg)
    assert (c, h) == (0, 0)
    assert wins == [
        (0, 30, 0, 20),
        (10, 50, 20, 40),
        (30, 70, 40, 60),
        (60, 100, 60, 100),  # tail rule: the last 40 chars fit max_chars, so they are one core
    ]


def test_context_shrinks_when_it_does_not_fit():
    a, b, c, d = "甲乙丙丁。", "这是一个比较长的句子很。", "戊己庚辛。", "壬癸子丑。"
    text = a + b + c + d
    assert [len(x) for x in (a, b, c, d)] == [5, 12, 5, 5]
    cfg = SegmentConfig(max_chars=20, core_chars=5, context_before=2, context_after=2)
    wins, _, _ = segment_text(text, "zh", cfg)
    assert wins == [
        (0, 17, 0, 5),  # A + B after; C would make 22
        (0, 17, 5, 17),  # B (single unit, longer than core_chars) + A before; C after would make 22
        (17, 27, 17, 27),  # tail C D; B before would make 22
    ]
    # nothing fits: no context at all
    text = "短句。" + "这是一个比较长的句子而且很长很长。" + "短句。"  # 3 + 17 + 3
    wins, _, _ = segment_text(text, "zh", SegmentConfig(max_chars=19, core_chars=3, context_before=2, context_after=2))
    assert wins == [(0, 3, 0, 3), (3, 20, 3, 20), (20, 23, 20, 23)]


def test_hard_and_clause_split_counters():
    cfg = SegmentConfig(max_chars=30, context_before=0, context_after=0)
    # one 100-char sentence without any boundary: 3 hard cuts
    out = SegmentStage(cfg).process([{"id": "h", "text": "病" * 100 + "。", "language": "zh"}])
    assert out.counters["hard_splits"] == 3 and out.counters["clause_splits"] == 0
    assert [len(r["text"]) for r in out.kept] == [30, 30, 30, 11]
    # four 20-char clauses in one sentence: 21 + 21 > 30, so one clause per piece, 3 clause cuts
    text = "，".join(["症" * 20] * 4) + "。"
    out = SegmentStage(cfg).process([{"id": "c", "text": text, "language": "zh"}])
    assert out.counters == {"segments": 4, "clause_splits": 3, "hard_splits": 0}
    # a clause that is itself too long is hard-split after the clause cut
    text = "短句，" + "长" * 50 + "。"
    out = SegmentStage(cfg).process([{"id": "m", "text": text, "language": "zh"}])
    assert out.counters["hard_splits"] >= 1 and out.counters["hard_splits"] + out.counters["clause_splits"] == 2
    # English words: space boundaries, never hard cuts
    text = " ".join(["word"] * 40) + "."
    out = SegmentStage(cfg).process([{"id": "e", "text": text, "language": "en"}])
    assert out.counters["hard_splits"] == 0 and out.counters["clause_splits"] == len(out.kept) - 1
    check_segments(text, cfg, out.kept)
    # two over-long docs in one call: counters add up
    docs = [{"id": "x", "text": "a" * 61, "language": "en"}, {"id": "y", "text": "b" * 31, "language": "en"}]
    out = SegmentStage(cfg).process(docs)
    assert out.counters == {"segments": 5, "clause_splits": 0, "hard_splits": 3}


def test_english_document():
    text = (
        "Paget's disease of bone causes affected bones to become enlarged. Dr. Smith saw 3.5 mg doses. "
        "Our bones are living tissue. The new bone is larger and weaker than normal bone. "
        "It may occur in just one bone. Common symptoms include pain."
    )
    cfg = SegmentConfig(max_chars=120)
    out = SegmentStage(cfg).process([{"id": "en1", "text": text, "language": "en"}])
    check_segments(text, cfg, out.kept)
    assert len(out.kept) > 1
    for r in out.kept:  # segments start at sentence starts
        assert r["text"][0].isupper()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_chars": 0},
        {"context_before": -1},
        {"context_after": -1},
        {"max_chars": 10, "core_chars": 11},
        {"core_chars": 0},
        {"unknown": 1},
    ],
)
def test_config_validation(kwargs):
    with pytest.raises(ValidationError):
        SegmentConfig(**kwargs)


def test_config_defaults():
    cfg = SegmentConfig()
    assert (cfg.max_chars, cfg.context_before, cfg.context_after) == (512, 1, 1)
    assert cfg.effective_core_chars == 384
    assert SegmentConfig(context_before=0, context_after=0).effective_core_chars == 512
    for name, field in SegmentConfig.model_fields.items():
        assert field.description, name


def test_large_conversation_and_meta_are_kept_once_on_the_first_segment(tmp_path):
    """A 1 MB conversation with a 1 MB meta: read, segmented, written; its meta and turns are stored once."""
    import json

    import pyarrow.parquet as pq

    from huatuo_ray.io.output import OutputDir
    from huatuo_ray.io.readers import read_unit
    from huatuo_ray.io.units import plan_units
    from huatuo_ray.recipe import SourceConfig

    turn = "Patients with hypertension should take their medication daily and measure their blood pressure. " * 6000
    record = {"id": "conv", "conversations": [{"from": "human", "value": turn[:500_000]},
                                              {"from": "gpt", "value": turn[:500_000]}],
              "site": "m" * (1 << 20)}  # another field: it goes to meta
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    source = SourceConfig(name="s", path=str(path), type="web", language="en")
    (unit,) = plan_units([source], 1 << 30, 1000)
    (doc,) = read_unit(unit, source, 16 << 20, 100).docs
    assert len(doc["meta"]) > 1 << 20 and len(doc["conversations"]) > 1_000_000
    out = SegmentStage(SegmentConfig()).process([doc])
    assert len(out.kept) > 500
    first, *others = out.kept
    assert first["meta"] == doc["meta"] and first["conversations"] == doc["conversations"]
    assert all(s["meta"] == "" and s["conversations"] == "" for s in others)
    assert "".join(s["text"][s["core_start"] - s["span_start"]:s["core_end"] - s["span_start"]]
                   for s in out.kept) == doc["text"]  # the cores tile the turns: nothing lost
    d = OutputDir(tmp_path / "out")
    d.open(["u"])
    d.write_rows("u", {"kept": out.kept})
    table = pq.read_table(d.path("kept", "u"), columns=["meta", "conversations"])
    assert table.column("meta").nbytes + table.column("conversations").nbytes < 4 << 20  # not size x segments


def dict_segments(docs: list[dict], cfg: SegmentConfig) -> list[dict]:
    """The segments as dicts, the way the stage built them before it built columns (the reference)."""
    out = []
    for doc in docs:
        text = doc.get("text") if isinstance(doc.get("text"), str) else ""
        lang = doc.get("language") if doc.get("language") in ("zh", "en") else cfg.default_language
        windows = segment_text(text, lang, cfg)[0]
        base = {k: v for k, v in doc.items() if k != "text"}
        rest = {**base, **{k: "" for k in ("meta", "conversations") if base.get(k)}}
        out += [{**(rest if k else base), "id": f"{doc.get('id')}#{k}", "doc_id": doc.get("id"), "text": text[s:e],
                 "span_start": s, "span_end": e, "core_start": cs, "core_end": ce, "segment_index": k,
                 "n_segments": len(windows)} for k, (s, e, cs, ce) in enumerate(windows)]
    return out


OPTIONAL = {"language": st.sampled_from(["zh", "en", "fr", None]), "source": st.sampled_from(["web", "book"]),
            "meta": st.sampled_from(["", '{"url": "u"}']), "conversations": st.sampled_from(["", "[]"]),
            "span_start": st.just(-1), "doc_id": st.just("theirs"), "score": st.floats(0, 1)}


@st.composite
def documents(draw):
    keys = draw(st.lists(st.sampled_from(sorted(OPTIONAL)), unique=True))
    doc = {"id": draw(st.sampled_from(["a", "b", None])), "text": draw(texts)}
    doc.update({k: draw(OPTIONAL[k]) for k in keys})
    return doc


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=st.lists(documents(), max_size=6), cfg=configs())
def test_the_columns_hold_the_records_and_the_table_of_the_dicts(docs, cfg):
    from huatuo_ray.io.output import rows_to_table

    expected = dict_segments(docs, cfg)
    kept = SegmentStage(cfg).process(docs).kept
    assert len(kept) == len(expected)
    table = rows_to_table(kept)
    if expected:
        assert table.equals(rows_to_table(expected))  # the same columns, order, types and values
    # as records: the same, a field a document lacked is None
    assert list(kept) == [{k: r.get(k) for k in table.column_names} for r in expected]
