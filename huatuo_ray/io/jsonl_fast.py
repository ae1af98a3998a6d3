"""Fast parsing of one JSON Lines record with orjson, for the lines where it provably gives what ``json`` gives.

The reader's exact path (:mod:`huatuo_ray.io.readers`: decode the line as UTF-8, then ``json.loads``) decides
every quarantine reason (invalid UTF-8 at byte N, malformed JSON with the standard library's message and
position, an unpaired surrogate). :func:`loads` parses a line with orjson (about 2.5x faster on real records)
and returns :data:`SLOW` whenever its result might differ, so the caller runs the exact path for that line only:

- orjson refuses the line (invalid UTF-8, malformed JSON, ``NaN`` / ``Infinity``, an escaped lone surrogate,
  nesting deeper than 1024, a float that overflows to infinity): ``json`` may accept it (``NaN``, ``1e400``,
  ``"\\ud800"``) or reject it with its own message; either way the exact path says what happens;
- orjson accepts it but an integer literal lies outside 64 bits: orjson turns it into a float where ``json``
  keeps the int. Only a float in the result can come from that, so a result holding a float is checked for a
  run of 19 or more digits in the raw line (a 64-bit integer has at most 19 digits, the smallest one orjson
  turns into a float, -9223372036854775809, has 19), and such a line goes the exact way.

Everything else orjson accepts, ``json.loads(line.decode("utf-8"))`` accepts with an equal result (same types,
key order, last value of a repeated key); ``tests/io/test_jsonl_fast.py`` checks this on hostile lines and
generated ones. Strings orjson returns never hold a lone surrogate (it rejects them), so the reader skips that
check on their text.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

SLOW = object()  # "parse this line the exact way"
_LONG_DIGITS = re.compile(rb"[0-9]{19}")


def loads(raw: bytes) -> Any:
    """The value of one JSON line (no newline, no BOM), or :data:`SLOW` when the exact path must decide."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return SLOW
    try:
        if _has_float(obj) and _LONG_DIGITS.search(raw):
            return SLOW
    except RecursionError:  # nested deeper than Python code can walk: the exact path quarantines it
        return SLOW
    return obj


def _has_float(v: Any) -> bool:
    t = type(v)
    if t is dict or t is list:
        for x in (v.values() if t is dict else v):
            tx = type(x)
            if tx is str or tx is int or tx is bool or x is None:
                continue
            if tx is float or _has_float(x):
                return True
        return False
    return t is float
