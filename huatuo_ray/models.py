"""Where the models, tokenizers and classifiers a recipe names come from, with one clear error when one is absent.

A name is a local path (a file or a Hugging Face directory) or a hub id (``org/name``). A hub id is used from
the local Hugging Face cache when it is there, else downloaded once (clusters with hub access); where neither
works, :class:`~huatuo_ray.errors.ModelNotFound` names the recipe setting and the model, never a hub traceback.
Each step resolves its own ``builtin:`` / ``local:`` names before calling here.
"""

from __future__ import annotations

import os
from pathlib import Path

from huatuo_ray.errors import ModelNotFound


def looks_like_path(name: str) -> bool:
    """True for names meant as file-system paths (absolute, ./, ../, ~ or an existing path)."""
    return name.startswith(("/", "./", "../", "~")) or os.path.exists(name)


def hub_cache_dir() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def _cached(name: str) -> Path | None:
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, local_files_only=True))
    except Exception:  # not cached (or not a valid repo id)
        return None


def _not_found(setting: str, name: str, hint: str, download: str = "it could not be downloaded") -> str:
    if looks_like_path(name):
        return f"{setting} = {name!r}: no such file or directory on this machine. {hint}".strip()
    return (f"{setting} = {name!r}: not on this machine (not a local path, not in the Hugging Face cache "
            f"{hub_cache_dir()}) and {download}. Download it where the hub is reachable and set {setting} to its "
            f"directory. {hint}").strip()


def problem(name: str | None, setting: str, hint: str = "") -> str | None:
    """What is wrong with ``name``, without downloading anything (for dry runs); None when it is usable here.

    A hub id that is not in the local cache is reported: the run would have to download it.
    """
    if not name:
        return f"{setting} is not set. {hint}".strip()
    if find_local(name) is not None:
        return None
    return _not_found(setting, name, hint, download="a run would have to download it from the hub")


def find_local(name: str | None) -> Path | None:
    """The local path of ``name`` (the path itself, or its hub snapshot in the local cache) without downloading."""
    if not name:
        return None
    path = Path(os.path.expanduser(name))
    if path.exists():
        return path
    return None if looks_like_path(name) else _cached(name)


def content_files(name: str | None, setting: str) -> dict[str, str]:
    """{setting: local path} when ``name`` is on this machine, for fingerprints (a hub id counts by its name only).

    The offline alias ``local:smollm2`` counts as the packaged weights it is made from.
    """
    from huatuo_ray.llm.local_model import LOCAL_ALIAS, gguf_path

    if not name:
        return {}
    if name == LOCAL_ALIAS:
        try:
            return {setting: str(gguf_path())}
        except FileNotFoundError:
            return {}
    return {setting: name} if Path(os.path.expanduser(name)).exists() else {}


def locate(name: str | None, setting: str, hint: str = "") -> Path:
    """The local path of ``name``: the path itself, the cached hub snapshot, or a fresh download.

    Raises ModelNotFound naming ``setting`` when none of these works (``HF_HUB_OFFLINE=1`` forbids downloads).
    """
    if not name:
        raise ModelNotFound(f"{setting} is not set. {hint}".strip())
    found = find_local(name)
    if found is not None:
        return found
    if looks_like_path(name):
        raise ModelNotFound(_not_found(setting, name, hint))
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("1", "true", "True"):
        try:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(name))
        except Exception:
            pass
    raise ModelNotFound(_not_found(setting, name, hint))
