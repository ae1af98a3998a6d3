"""Segment-sized texts (about 300 characters) cut from the real zh + en paragraphs of ../shared/data.

Used by the quality and dedup benchmarks; nothing is copied into the repository.
"""

from __future__ import annotations

import random

from bench_curate_pipeline import paragraphs


def segments(n: int, chars: int = 300, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` (language, text) segments, shuffled. Windows over the paragraphs at shifting offsets; when the corpus
    runs out, later passes drop a few random characters, so rows are distinct but share the real vocabulary."""
    base = paragraphs()
    rng = random.Random(seed)
    out: list[tuple[str, str]] = []
    shift = 0
    while len(out) < n:
        for lang, text in base:
            for start in range(shift, max(len(text) - chars // 3, 1), chars):
                piece = text[start:start + chars]
                if shift >= chars:  # second pass and later: perturb
                    cut = rng.randrange(len(piece))
                    piece = piece[:cut] + piece[cut + rng.randint(1, 8):]
                if piece.strip():
                    out.append((lang, piece))
                if len(out) >= n:
                    rng.shuffle(out)
                    return out
        shift += chars // 2 + 1
    return out
