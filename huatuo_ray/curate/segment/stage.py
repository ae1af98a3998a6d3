"""Stage ``segment``: one output record per window of each document (see :mod:`.windows` for the rules).

A document's ``meta`` (its other input fields) and ``conversations`` (the turns, as JSON) are on its first
segment only (``segment_index`` 0; the others have ``""``): copied into every segment, a large one would grow
the output by its size times the segments.
"""

from __future__ import annotations

from collections.abc import Sequence

from huatuo_ray.curate.base import CurationStage, StageOutput
from huatuo_ray.curate.segment.config import NAME, SegmentConfig
from huatuo_ray.curate.segment.windows import segment_text
from huatuo_ray.io.columns import Columns


ONCE = ("meta", "conversations")  # document fields written on segment 0 only
SEGMENT_FIELDS = ("id", "doc_id", "text", "span_start", "span_end", "core_start", "core_end", "segment_index",
                  "n_segments")  # what each segment sets (over the document's fields of those names)


class SegmentStage(CurationStage):
    """Cut each document into windowed segments (one output record per segment)."""

    name = NAME

    def __init__(self, config: SegmentConfig | None = None) -> None:
        self.config = config or SegmentConfig()

    def process(self, docs: Sequence[dict]) -> StageOutput:
        out = StageOutput()
        cfg = self.config
        default_lang = cfg.default_language
        n_segments = clause_splits = hard_splits = kept_inputs = 0
        # The segments are built as columns (io.columns): the record each would be as a dict is
        # {**doc without text, "id": ..., "doc_id": ..., "text": ..., ...}, fields in first-seen order.
        own: dict[str, list] = {k: [] for k in SEGMENT_FIELDS}
        ids, doc_ids, texts, span_s, span_e, core_s, core_e, index, totals = own.values()
        cols: dict[str, list] = {}
        fields_seen = False
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
            total = len(windows)
            for k, v in doc.items():
                if k == "text":
                    continue
                col = own.get(k)
                if col is not None:  # a field the segment sets: its place is the document's
                    cols.setdefault(k, col)
                    continue
                col = cols.get(k)
                if col is None:
                    col = cols[k] = [None] * n_segments
                elif len(col) < n_segments:  # the documents before lacked it
                    col.extend([None] * (n_segments - len(col)))
                if total == 1:
                    col.append(v)
                elif k in ONCE and v:  # kept once, on segment 0
                    col.append(v)
                    col.extend([""] * (total - 1))
                else:
                    col.extend([v] * total)
            if not fields_seen:
                for k, col in own.items():
                    cols.setdefault(k, col)
                fields_seen = True
            doc_id = doc.get("id")
            if total == 1:
                s, e, cs, ce = windows[0]
                ids.append(f"{doc_id}#0")
                texts.append(text if e - s == len(text) else text[s:e])
                span_s.append(s)
                span_e.append(e)
                core_s.append(cs)
                core_e.append(ce)
            else:
                for k, (s, e, cs, ce) in enumerate(windows):
                    ids.append(f"{doc_id}#{k}")
                    texts.append(text[s:e])
                    span_s.append(s)
                    span_e.append(e)
                    core_s.append(cs)
                    core_e.append(ce)
            doc_ids.extend([doc_id] * total)
            index.extend(range(total))
            totals.extend([total] * total)
            n_segments += total
        for col in cols.values():
            if len(col) < n_segments:
                col.extend([None] * (n_segments - len(col)))
        out.kept = Columns(cols, n_segments)
        out.kept_inputs = kept_inputs
        out.counters = {"segments": n_segments, "clause_splits": clause_splits, "hard_splits": hard_splits}
        return out
