"""Content digests of files and directories: what fingerprints and the request cache key use to name a model or a
lexicon by its content, not its path."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

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
