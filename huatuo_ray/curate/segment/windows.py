"""Windowed segmentation: where each document is cut into overlapping segments of bounded length.

HuatuoGPT-II (appendix C, step 2): "We divide each text into sentences, then use a moving window
to turn the corpus into segments with a length limit, ensuring no loss of information by including
sentences before and after the window." This module makes that precise.

Definitions (all lengths in characters, i.e. Python ``str`` code points, whitespace included):

1. **Units.** The text is split into sentences (``sentences.sentence_bounds``; spans tile the text,
   whitespace belongs to the sentence before it). A sentence longer than ``max_chars`` is cut into
   pieces of at most ``max_chars`` at clause boundaries (after ，,；;：:、 or a whitespace run; each
   such cut counts one ``clause_splits``); a stretch with no boundary at all is cut at exactly
   ``max_chars`` characters (each such cut counts one ``hard_splits``). Units therefore tile the text
   and every unit is at most ``max_chars`` long.
2. **Core.** Windows are built left to right. Window ``k``'s core starts at the first unit after
   window ``k-1``'s core (unit 0 for ``k = 0``) and takes consecutive units greedily while the core
   stays within ``core_chars``; it always takes at least one unit. *Tail rule:* if everything from
   the core start to the end of the document fits in ``max_chars``, the core takes all of it (so a
   document of at most ``max_chars`` characters is exactly one segment and no tiny tail segment is
   left behind). Cores thus tile the document in order, without gaps or overlaps.
3. **Context.** Around the core, context units are added nearest first, alternating one before,
   one after, up to ``context_before`` units before and ``context_after`` after; a side stops at its
   first unit that would push the segment over ``max_chars`` (context shrinks, the core never does).
4. **Segment.** The segment is the contiguous text from its first context-before unit to its last
   context-after unit: ``text[span_start:span_end]``, with ``span_start <= core_start < core_end
   <= span_end`` and ``span_end - span_start <= max_chars``.

Consequences: every character of a document lies in exactly one core and hence in at least one
segment; adjacent segments overlap only by their context units; empty/whitespace-only documents
yield no segment and are dropped with reason ``"empty text"``. A unit that is only whitespace can
arise only from a whitespace run longer than ``max_chars``; it is emitted like any other unit.
"""

from __future__ import annotations

from bisect import bisect_right
from operator import sub

from huatuo_ray.curate.segment.config import SegmentConfig
from huatuo_ray.curate.segment.sentences import sentence_bounds, split_long_span


def unit_bounds(text: str, lang: str | None, max_chars: int) -> tuple[list[int], int, int]:
    """Unit boundaries ``[0, ..., len(text)]`` (sentences, long ones cut), clause cuts, hard cuts."""
    bounds = sentence_bounds(text, lang)
    if len(bounds) < 2 or max(map(sub, bounds[1:], bounds)) <= max_chars:
        return bounds, 0, 0
    clause = hard = 0
    out = [0]
    for i in range(1, len(bounds)):
        s, e = bounds[i - 1], bounds[i]
        if e - s > max_chars:
            cuts, c, h = split_long_span(text, s, e, max_chars)
            out.extend(cuts)
            clause += c
            hard += h
        out.append(e)
    return out, clause, hard


def plan_windows(
    bounds: list[int], max_chars: int, core_chars: int, context_before: int, context_after: int
) -> list[tuple[int, int, int, int]]:
    """Windows ``(span_start, span_end, core_start, core_end)`` over unit boundaries ``bounds``.

    ``bounds`` must start at 0, be strictly increasing, and have consecutive gaps <= max_chars.
    """
    n_units = len(bounds) - 1
    if n_units <= 0:
        return []
    n = bounds[-1]
    out: list[tuple[int, int, int, int]] = []
    i = 0
    while i < n_units:
        start = bounds[i]
        if n - start <= max_chars:
            j = n_units  # tail rule
        else:
            j = bisect_right(bounds, start + core_chars, i + 1) - 1
            if j <= i:
                j = i + 1
        a, b = i, j
        nb = na = 0
        go_before = context_before > 0 and a > 0
        go_after = context_after > 0 and b < n_units
        while go_before or go_after:
            if go_before:
                if bounds[b] - bounds[a - 1] <= max_chars:
                    a -= 1
                    nb += 1
                    go_before = nb < context_before and a > 0
                else:
                    go_before = False
            if go_after:
                if bounds[b + 1] - bounds[a] <= max_chars:
                    b += 1
                    na += 1
                    go_after = na < context_after and b < n_units
                else:
                    go_after = False
        out.append((bounds[a], bounds[b], start, bounds[j]))
        i = j
    return out


def segment_text(
    text: str, lang: str | None, config: SegmentConfig
) -> tuple[list[tuple[int, int, int, int]], int, int]:
    """Windows of one text plus (clause_splits, hard_splits). Empty/whitespace text gives no window."""
    if not text or text.isspace():
        return [], 0, 0
    max_chars = config.max_chars
    if len(text) <= max_chars:
        return [(0, len(text), 0, len(text))], 0, 0
    bounds, clause, hard = unit_bounds(text, lang, max_chars)
    windows = plan_windows(
        bounds, max_chars, config.effective_core_chars, config.context_before, config.context_after
    )
    return windows, clause, hard
