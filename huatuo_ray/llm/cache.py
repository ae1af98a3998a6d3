"""The request cache: a finished request is never sent twice.

Key: SHA-256 of (model identity, messages, sampling parameters). The identity is what decides the answers, not a
name: for a model run here its settings and the content digest of its files, for an endpoint the model it serves
and its base URL (:func:`huatuo_ray.llm.backends.cache_identity`), so another model never answers from this cache. One small JSON file per finished request under
``DIR/<first two hex digits>/<key>.json``, written to a temporary name and renamed, so any number of Ray
workers on any number of nodes can share one POSIX directory (NFS, EFS, Lustre): a reader sees a whole
entry or none, and two workers writing the same key write the same content. Only successful responses are
cached; errors stay uncached so a rerun retries them. In an object store (``s3://...``) each entry is one object,
uploaded whole (:mod:`huatuo_ray.io.storage`), with the same guarantees.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from huatuo_ray.io.atomic import write_text_atomic
from huatuo_ray.io.storage import location


def request_key(identity: str, messages: list[dict], sampling: dict[str, Any]) -> str:
    """Stable key of one chat request to the model ``identity`` names."""
    blob = json.dumps({"model": identity, "messages": messages, "sampling": sampling}, sort_keys=True,
                      ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class RequestCache:
    """File-per-request cache on a shared directory (``None`` root: a no-op cache)."""

    def __init__(self, root: str | Path | None):
        self.root = location(root) if root else None  # a local directory or an object-store prefix

    def _path(self, key: str) -> Path:
        assert self.root is not None
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        if self.root is None:
            return None
        try:
            return json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def put(self, key: str, entry: dict) -> None:
        if self.root is None:
            return
        path = self._path(key)
        write_text_atomic(path, json.dumps(entry, ensure_ascii=False))

    def __len__(self) -> int:
        return 0 if self.root is None or not self.root.exists() else sum(1 for _ in self.root.glob("*/*.json"))

    def entries(self):
        """Every cached entry (for audits and the benchmark's replay)."""
        if self.root is not None and self.root.exists():
            for p in sorted(self.root.glob("*/*.json")):
                yield json.loads(p.read_text(encoding="utf-8"))
