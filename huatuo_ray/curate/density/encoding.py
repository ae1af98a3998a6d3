"""The strings the density automata run on: every character or word as two latin-1 characters.

pyahocorasick scans a trie node's children linearly, so a root with thousands of children (every first
character of 18k Chinese terms) is slow. Each character is therefore written as its UTF-16 code unit split into
two latin-1 characters (high byte, low byte), and each English token as a 2-character code, which keeps every
node's fan-out <= 256 (about 4x faster for zh, 30x for en). One *unit* (a counted character, or a token) is two
characters of these strings; a match counts only when it starts on a unit boundary.
"""

from __future__ import annotations

import re

import numpy as np

NON_COUNTED = re.compile(r"[\W_]+")  # everything that is not a letter/digit (str.isalnum)
TOKEN = re.compile(r"[^\W_]+")  # a word token: a maximal run of letters/digits
FILLER = "\x00\x00"  # stands for an English token that occurs in no term
# Between two documents of a batch (score_many): code unit U+0000 (char mode, never alnum so never in a key) or
# word code 0 (word mode, the filler, never in a key). A match starting on a unit boundary can therefore never
# contain it, so no match spans two documents.
SEP = "\x00\x00"
# ASCII fast path of word tokenization: for ASCII text, casefold == lower and isalnum == [A-Za-z0-9], so mapping
# every other character to a space and splitting on whitespace gives exactly the tokens of TOKEN.findall.
ASCII_WORDS = str.maketrans({i: (chr(i).lower() if chr(i).isalnum() else " ") for i in range(128)})
_ALNUM_BMP: np.ndarray | None = None  # bool per BMP code point: chr(c).isalnum() (built on first use)


def tokens(text: str) -> list[str]:
    """The case-folded word tokens of ``text`` (the English density tokenizer: maximal runs of letters/digits)."""
    if text.isascii():
        return text.translate(ASCII_WORDS).split()
    return TOKEN.findall(text.casefold())


def _alnum_bmp() -> np.ndarray:
    global _ALNUM_BMP
    if _ALNUM_BMP is None:
        _ALNUM_BMP = np.fromiter((chr(c).isalnum() for c in range(0x10000)), dtype=bool, count=0x10000)
    return _ALNUM_BMP


def utf16_pairs(text: str) -> str:
    """Each UTF-16 code unit of ``text`` as two latin-1 characters (high byte, low byte)."""
    return text.encode("utf-16-be").decode("latin-1")


def char_units_many(texts: list[str]) -> tuple[str, np.ndarray] | None:
    """Vectorized char-mode ``units_many``: keep the alnum UTF-16 code units of the case-folded texts with a
    BMP lookup table (the same test as ``NON_COUNTED``) and put a U+0000 between documents. None when some text
    has a character outside the BMP (surrogate pairs: use the per-text path)."""
    joined = "".join(texts)
    folded = joined.casefold()  # casefold works character by character and never shortens a character:
    if len(folded) == len(joined):  # same total length = same length for every text
        lengths = map(len, texts)
    else:  # e.g. "ß" -> "ss"
        parts = [t.casefold() for t in texts]
        folded, lengths = "".join(parts), map(len, parts)
    code = np.frombuffer(folded.encode("utf-16-le"), dtype="<u2")
    if len(code) != len(folded):
        return None
    keep = _alnum_bmp()[code]
    bounds = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(lengths, dtype=np.int64, count=len(texts)), out=bounds[1:])
    kept_at = np.flatnonzero(keep)
    doc_ends = np.searchsorted(kept_at, bounds)  # kept code units before each document boundary
    units = np.insert(code[kept_at], doc_ends[1:-1], 0)
    return units.astype(">u2").tobytes().decode("latin-1"), np.diff(doc_ends)
