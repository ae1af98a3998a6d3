"""Fingerprints: a step's output is named by its settings, the content of its behaviour files and its inputs.

``fingerprint(step, settings, files, upstream)`` hashes the step's output-affecting recipe values, the digests
of the files that define its behaviour (lexicons, the quality model, a model directory's config and weights)
and the fingerprints of the upstream outputs it reads, so a change anywhere up the chain changes every
fingerprint below it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

WHOLE_FILE_BYTES = 8 << 20  # files up to this size are hashed whole; larger ones by size, head and tail
EDGE_BYTES = 4 << 20


def _file_digest(path: Path, h: "hashlib._Hash") -> None:
    size = path.stat().st_size
    h.update(str(size).encode())
    with open(path, "rb") as f:
        if size <= WHOLE_FILE_BYTES:
            h.update(f.read())
        else:  # model weights: size + first and last 4 MB (any re-save or fine-tune changes them)
            h.update(f.read(EDGE_BYTES))
            f.seek(size - EDGE_BYTES)
            h.update(f.read(EDGE_BYTES))


def digest_path(path: str | Path) -> str:
    """Content digest of a file or a directory (recursively; names starting with '.' are skipped)."""
    p = Path(os.path.expanduser(str(path)))
    h = hashlib.sha256()
    if p.is_file():
        _file_digest(p, h)
    elif p.is_dir():
        for f in sorted(x for x in p.rglob("*") if x.is_file()):
            rel = f.relative_to(p)
            if any(part.startswith(".") for part in rel.parts):
                continue
            h.update(str(rel).encode() + b"\0")
            _file_digest(f, h)
    else:
        return "missing"
    return h.hexdigest()[:16]


def digest_files(files: dict[str, str]) -> dict[str, str]:
    """{setting: path} -> {setting: digest} (a path that is not on this machine digests as 'missing')."""
    return {k: digest_path(v) for k, v in sorted(files.items())}


def fingerprint(step: str, settings: dict[str, Any], file_digests: dict[str, str], upstream: dict[str, str]) -> str:
    """The name of a step's output: settings, behaviour-file digests and upstream fingerprints."""
    blob = json.dumps({"step": step, "settings": settings, "files": file_digests, "upstream": upstream},
                      sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
