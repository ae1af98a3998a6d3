"""Load weighted domain lexicons for the dictionary-density filter.

File format (UTF-8 text, one entry per line)::

    # comment lines and blank lines are skipped
    term                      -> weight 1.0
    term<TAB>0.35             -> a weight in [0, 1]
    term<TAB>606946           -> a frequency (an integer count, e.g. THUOCL's document frequency)

Whether the second column holds weights or frequencies is decided per file. With ``column="auto"`` a file
whose second-column values are all integers, at least one of them greater than 1, is a frequency file;
otherwise every value must be a weight in [0, 1]. ``column="weight"`` / ``column="frequency"`` force the
kind. A frequency ``f`` becomes a weight by inverse log scaling (an IDF-like specificity)::

    weight = clip(1 - ln(1 + f) / ln(1 + f_ref), 0, 1)

where ``f_ref`` is ``frequency_ref`` if given, else the largest frequency in that file: the most frequent
term gets weight 0, a term seen once gets nearly 1. Lines without a second column get weight 1 (or, in a
frequency file, are treated as frequency 0, i.e. weight 1).

Terms are case-folded (``str.casefold``) and their internal whitespace collapsed to one space; duplicates
(also across files) are merged keeping the largest weight. Malformed lines raise :class:`LexiconError`
naming the file and the 1-based line number.

Paths: a plain filesystem path, or ``builtin:NAME`` for a lexicon packaged in
``huatuo_ray/data/lexicons/`` (resolved with :mod:`importlib.resources`, so it works from an installed wheel).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Literal

from huatuo_ray.errors import InputError

BUILTIN_PREFIX = "builtin:"
ColumnKind = Literal["auto", "weight", "frequency"]

_WS = re.compile(r"\s+")
_INT = re.compile(r"[0-9]+")


class LexiconError(InputError):
    """A lexicon file is missing or has a malformed line (the message names file and line)."""


def builtin_path(name: str):
    """The packaged lexicon ``name`` as an importlib.resources Traversable."""
    return resources.files("huatuo_ray").joinpath("data", "lexicons", name)


def read_lexicon_text(path: str | Path) -> str:
    """Read a lexicon file given as a filesystem path or ``builtin:NAME``."""
    spec = str(path)
    try:
        if spec.startswith(BUILTIN_PREFIX):
            return builtin_path(spec[len(BUILTIN_PREFIX):]).read_text(encoding="utf-8")
        return Path(spec).read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise LexiconError(f"{spec}: lexicon file not found") from e
    except UnicodeDecodeError as e:
        raise LexiconError(f"{spec}: not valid UTF-8 ({e})") from e


def normalize_term(term: str) -> str:
    """Case-fold and collapse whitespace (the form terms are stored and matched in)."""
    return _WS.sub(" ", term).strip().casefold()


def frequency_to_weight(freq: float, freq_ref: float) -> float:
    """``clip(1 - ln(1+freq)/ln(1+freq_ref), 0, 1)``; weight 1 when ``freq_ref <= 0``."""
    if freq_ref <= 0:
        return 1.0
    w = 1.0 - math.log1p(freq) / math.log1p(freq_ref)
    return min(1.0, max(0.0, w))


def parse_lexicon(
    text: str,
    source: str = "<string>",
    column: ColumnKind = "auto",
    frequency_ref: float | None = None,
) -> dict[str, float]:
    """Parse lexicon text into ``{normalized term: weight}`` (see the module docstring for the format)."""
    if column not in ("auto", "weight", "frequency"):
        raise LexiconError(f"{source}: unknown column kind {column!r} (auto|weight|frequency)")
    rows: list[tuple[int, str, str | None]] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = raw.rstrip("\r\n").split("\t")
        if len(parts) > 2:
            raise LexiconError(
                f"{source}:{lineno}: expected 'term' or 'term<TAB>value', got {len(parts)} tab-separated columns"
            )
        term = normalize_term(parts[0])
        if not term:
            raise LexiconError(f"{source}:{lineno}: empty term")
        value = parts[1].strip() if len(parts) == 2 else None
        if value == "":
            raise LexiconError(f"{source}:{lineno}: empty second column after TAB")
        rows.append((lineno, term, value))

    kind = column
    if kind == "auto":
        values = [(ln, v) for ln, _, v in rows if v is not None]
        all_int = all(_INT.fullmatch(v) for _, v in values)
        kind = "frequency" if values and all_int and any(int(v) > 1 for _, v in values) else "weight"

    parsed: list[tuple[str, float]] = []
    for lineno, term, value in rows:
        if value is None:
            parsed.append((term, -1.0))  # marker: no value given
            continue
        if kind == "frequency":
            if not _INT.fullmatch(value):
                hint = " (this file has integer frequencies elsewhere; set column='weight' if it holds weights)"
                raise LexiconError(
                    f"{source}:{lineno}: frequency must be a non-negative integer, got {value!r}"
                    + (hint if column == "auto" else "")
                )
            parsed.append((term, float(int(value))))
        else:
            try:
                w = float(value)
            except ValueError:
                raise LexiconError(f"{source}:{lineno}: second column must be a number, got {value!r}") from None
            if not (0.0 <= w <= 1.0) or math.isnan(w):
                raise LexiconError(
                    f"{source}:{lineno}: weight {value!r} outside [0, 1]"
                    + (" (mixing weights and integer frequencies in one file is not allowed)" if column == "auto" else "")
                )
            parsed.append((term, w))

    out: dict[str, float] = {}
    if kind == "frequency":
        ref = frequency_ref if frequency_ref is not None else max((v for _, v in parsed), default=0.0)
        conv = [(t, 1.0 if v < 0 else frequency_to_weight(v, ref)) for t, v in parsed]
    else:
        conv = [(t, 1.0 if v < 0 else v) for t, v in parsed]
    for term, w in conv:
        if w > out.get(term, -1.0):
            out[term] = w
    return out


def load_lexicon(
    path: str | Path, column: ColumnKind = "auto", frequency_ref: float | None = None
) -> dict[str, float]:
    """Load one lexicon file (path or ``builtin:NAME``) into ``{term: weight}``."""
    return parse_lexicon(read_lexicon_text(path), str(path), column, frequency_ref)


def merge_lexicons(lexicons: Iterable[dict[str, float]]) -> dict[str, float]:
    """Merge several ``{term: weight}`` maps keeping the largest weight of each term."""
    out: dict[str, float] = {}
    for lex in lexicons:
        for term, w in lex.items():
            if w > out.get(term, -1.0):
                out[term] = w
    return out
