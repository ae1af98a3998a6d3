"""Where every sample goes: sequences and offsets, in stream order, never reordered.

Input: the token count of each sample in stream order. Output: *pieces*, each a run of one sample's
tokens placed in one sequence: (item, seq, seq_off, tok_start, tok_end). Rules:

- ``fill: continuous``: samples are laid end to end over the whole stream and cut every
  ``max_seq_len`` tokens; a sample crossing a boundary continues at the start of the next sequence
  (a second piece). Only the last sequence has padding. Vectorised (cumulative sums).
- ``fill: whole``: a sample that does not fit the rest of the current sequence starts the next one;
  the rest is padding. Sequential (one pass over the lengths).
- ``overlong`` (more than ``max_seq_len`` tokens): ``split`` keeps it whole over several sequences
  (in ``whole`` mode it starts a fresh sequence), ``truncate`` keeps its first ``max_seq_len``
  tokens, ``drop`` drops it with a reason.

The state (sequence index and fill of the open sequence) carries from one call to the next, so the
stream can be placed part by part with the same result as in one call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PACKED, TRUNCATED, DROPPED = 0, 1, 2
OUTCOMES = ("packed", "truncated", "dropped")


@dataclass
class Placement:
    """Pieces of one run of the stream (item indices local to the run) and per-item results."""

    item: np.ndarray  # int64 [pieces]
    seq: np.ndarray  # int64 [pieces], global sequence index
    seq_off: np.ndarray  # int64 [pieces], first token's offset in the sequence
    tok_start: np.ndarray  # int64 [pieces], first token of the sample in this piece
    tok_end: np.ndarray  # int64 [pieces]
    kept: np.ndarray  # int64 [items], tokens placed
    outcome: np.ndarray  # int8 [items], PACKED / TRUNCATED / DROPPED

    def first_last_seq(self) -> tuple[np.ndarray, np.ndarray]:
        """Per item: first and last sequence holding it (-1 for items without tokens)."""
        n = len(self.kept)
        first, last = np.full(n, -1, np.int64), np.full(n, -1, np.int64)
        if len(self.item):
            last[self.item] = self.seq  # pieces are in stream order: the last write wins
            first[self.item[::-1]] = self.seq[::-1]
        return first, last


class Layout:
    """Places samples into sequences of ``max_seq_len`` tokens, keeping stream order."""

    def __init__(self, max_seq_len: int, fill: str = "continuous", overlong: str = "split"):
        if fill not in ("continuous", "whole") or overlong not in ("split", "truncate", "drop"):
            raise ValueError(f"unknown fill {fill!r} or overlong rule {overlong!r}")
        self.L, self.fill_mode, self.overlong = int(max_seq_len), fill, overlong
        self.seq, self.fill = 0, 0  # the open sequence and its tokens so far

    @property
    def num_sequences(self) -> int:
        """Sequences that hold at least one token so far."""
        return self.seq + (1 if self.fill else 0)

    def place(self, lengths: np.ndarray, valid: np.ndarray | None = None) -> Placement:
        """Place the next run of samples (``valid`` false: already dropped upstream, zero tokens)."""
        n = np.asarray(lengths, dtype=np.int64)
        valid = np.ones(len(n), bool) if valid is None else np.asarray(valid, bool)
        over = valid & (n > self.L)
        kept = np.where(valid, n, 0)
        outcome = np.where(valid, PACKED, DROPPED).astype(np.int8)
        if self.overlong == "truncate":
            kept[over] = self.L
            outcome[over] = TRUNCATED
        elif self.overlong == "drop":
            kept[over] = 0
            outcome[over] = DROPPED
        outcome[valid & (n == 0)] = DROPPED
        pieces = self._continuous(kept) if self.fill_mode == "continuous" else self._whole(kept)
        return Placement(*pieces, kept=kept, outcome=outcome)

    def _continuous(self, e: np.ndarray) -> tuple[np.ndarray, ...]:
        L = self.L
        start = self.seq * L + self.fill + np.concatenate([[0], np.cumsum(e)[:-1]]) if len(e) else e
        end = start + e
        has = e > 0
        first = start // L
        count = np.where(has, (end - 1) // L - first + 1, 0)
        item = np.repeat(np.arange(len(e), dtype=np.int64), count)
        k = np.arange(len(item), dtype=np.int64) - np.repeat(np.cumsum(count) - count, count)
        seq = first[item] + k
        g0 = np.maximum(start[item], seq * L)
        g1 = np.minimum(end[item], (seq + 1) * L)
        total = self.seq * L + self.fill + int(e.sum())
        self.seq, self.fill = divmod(total, L)
        return item, seq, g0 - seq * L, g0 - start[item], g1 - start[item]

    def _whole(self, e: np.ndarray) -> tuple[np.ndarray, ...]:
        L, seq, fill = self.L, self.seq, self.fill
        out: list[tuple[int, int, int, int, int]] = []
        for i, n in enumerate(e.tolist()):
            for t in range(0, n, L):  # one chunk unless the sample is longer than L (overlong: split)
                size = min(n - t, L)
                if fill + size > L or (t and fill):
                    seq, fill = seq + 1, 0
                out.append((i, seq, fill, t, t + size))
                fill += size
                if fill == L:
                    seq, fill = seq + 1, 0
        self.seq, self.fill = seq, fill
        cols = np.array(out, dtype=np.int64).reshape(-1, 5).T
        return tuple(cols)
