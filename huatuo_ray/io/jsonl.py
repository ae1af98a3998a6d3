"""Small JSONL files a person wrote (labelled sets, fixtures): rows with their line numbers, clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from huatuo_ray.errors import InputError


def jsonl_rows(path: str | Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) for every non-blank line; a line that is not JSON stops with file and line."""
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"{path}:{lineno}: not JSON ({e.msg})") from None
