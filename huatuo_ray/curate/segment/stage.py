"""Stage ``segment``: one output record per window of each document (see :mod:`.windows` for the rules).

A document's ``meta`` (its other input fields) and ``conversations`` (the turns, as JSON) are on its first
segment only (``segment_index`` 0; the others have ``""``): copied into every segment, a large one would grow
the output by its size times the segments.
"""

from __future__ import annotations

from huatuo_ray.curate.base import CurationStage, StageOutput
from huatuo_ray.curate.segment.config import NAME, SegmentConfig
from huatuo_ray.curate.segment.windows import segment_text


ONCE = ("meta", "conversations")  # document fields written on segment 0 only


class SegmentStage(CurationStage):
    """Cut each document into windowed segments (one output record per segment)."""

    name = NAME

    def __init__(self, config: SegmentConfig | None = None) -> None:
        self.config = config or SegmentConfig()

    def process(self, docs: list[dict]) -> StageOutput:
        out = StageOutput()
        kept = out.kept
        cfg = self.config
        default_lang = cfg.default_language
        n_segments = clause_splits = hard_splits = kept_inputs = 0
        for doc in docs:
            text = doc.get("text")
            if not isinstance(text, str):
                text = ""
            lang = doc.get("language")
            if lang != "zh" and lang != "en":
                lang = default_lang
            windows, c, h = segment_text(text, lang, cfg)
            if not windows:
                dropped = dict(doc)
                dropped["reason"] = "empty text"
                out.dropped.append(dropped)
                continue
            kept_inputs += 1
            clause_splits += c
            hard_splits += h
            doc_id = doc.get("id")
            base = {k: v for k, v in doc.items() if k != "text"}
            rest = {**base, **{k: "" for k in ONCE if base.get(k)}}  # kept once, on segment 0
            total = len(windows)
            for k, (s, e, cs, ce) in enumerate(windows):
                kept.append(
                    {
                        **(rest if k else base),
                        "id": f"{doc_id}#{k}",
                        "doc_id": doc_id,
                        "text": text[s:e],
                        "span_start": s,
                        "span_end": e,
                        "core_start": cs,
                        "core_end": ce,
                        "segment_index": k,
                        "n_segments": total,
                    }
                )
            n_segments += total
        out.kept_inputs = kept_inputs
        out.counters = {"segments": n_segments, "clause_splits": clause_splits, "hard_splits": hard_splits}
        return out
