"""Fingerprints: a step's output is named by its settings, the content of its behaviour files and its inputs.

``fingerprint(step, settings, files, upstream)`` hashes the step's output-affecting recipe values, the digests
of the files that define its behaviour (lexicons, the quality model, a model directory's config and weights)
and the fingerprints of the upstream outputs it reads, so a change anywhere up the chain changes every
fingerprint below it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from huatuo_ray.io.digest import digest_path


def digest_files(files: dict[str, str]) -> dict[str, str]:
    """{setting: path} -> {setting: digest} (a path that is not on this machine digests as 'missing')."""
    return {k: digest_path(v) for k, v in sorted(files.items())}


def fingerprint(step: str, settings: dict[str, Any], file_digests: dict[str, str], upstream: dict[str, str]) -> str:
    """The name of a step's output: settings, behaviour-file digests and upstream fingerprints."""
    blob = json.dumps({"step": step, "settings": settings, "files": file_digests, "upstream": upstream},
                      sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
