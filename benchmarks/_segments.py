"""Segment-sized texts (about 300 characters) cut from the real zh + en paragraphs of ../shared/data.

Used by the quality and dedup benchmarks; nothing is copied into the repository.
"""

from __future__ import annotations

import itertools
import random

from bench_curate_pipeline import paragraphs


def segments(n: int, chars: int = 300, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` (language, text) segments, shuffled. Windows over the paragraphs at shifting offsets; from the third
    pass over the corpus on, each window drops a few random characters: near-duplicates of real text."""
    base = paragraphs()
    rng = random.Random(seed)
    out: list[tuple[str, str]] = []
    for p in itertools.count():
        shift = p * (chars // 2 + 1) % chars  # windows at shifting offsets, wrapping, so every pass yields as many
        for lang, text in base:
            for start in range(shift, max(len(text) - chars // 3, 1), chars):
                piece = text[start:start + chars]
                if p >= 2:  # from the third pass on: perturb
                    cut = rng.randrange(len(piece))
                    piece = piece[:cut] + piece[cut + rng.randint(1, 8):]
                if piece.strip():
                    out.append((lang, piece))
                if len(out) >= n:
                    rng.shuffle(out)
                    return out
    return out
