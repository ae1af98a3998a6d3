"""Local staging of a step whose run directory is in an object store (``s3://`` ...).

Steps that memory-map their input (pack, train), run on the driver (sample, eval) or keep files a local process
writes (the LLM server's log and record) run on a local copy: the step's *staging directory*
``<staging root>/<hash of the output URI>/<name>`` (root: ``run.staging_dir``, else ``$HUATUO_RAY_STAGING``, else
``~/.cache/huatuo-ray/staging``). The protocol, driven by the runner (:mod:`huatuo_ray.run.runner`):

1. the runner holds the output's lease and has written ``_run.json`` to the bucket (as for any output);
2. :meth:`Staging.pull_input` copies each finished upstream output it reads (``stats.json`` included, checkpoints
   and request caches not); a copy whose ``stats.json`` matches the bucket's is reused;
3. :meth:`Staging.pull_output` copies the step's own objects for resume; a local copy made for the same
   ``_run.json`` (the same start of the same output) is kept, a copy of any other is deleted first;
4. the step runs on the local copy with its own (local, atomic) protocol;
5. :meth:`Staging.push` uploads every new or changed local file as one object each (the data first, then the
   top-level ``_*`` entries that mark it: ``_markers/*``, ``_SUCCESS``, a manifest), deletes the objects of files the step removed, and only then does the runner write
   ``stats.json`` to the bucket: a step is done when its ``stats.json`` is in the bucket. A kill between two
   uploads leaves the bucket without ``stats.json``: not done, and the rerun pulls, resumes and pushes again.

Paths inside JSON files (a sampler's stats name the conversation files it ordered, training's stats its model)
are rewritten on the way: a local staging path becomes the object's URI in the bucket and back.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Iterable

from huatuo_ray.io.atomic import atomic_path
from huatuo_ray.io.storage import ObjectPath, upload

STAGED = ".staged.json"  # in a staging directory: what it is a copy of
CONTROL = ("_lock", "_discarding", "stats.json", "_run.json")  # written by the runner to the bucket itself
TEXT_SUFFIXES = (".json", ".jsonl")  # files whose paths are rewritten


def staging_root(configured: str | None = None) -> Path:
    root = configured or os.environ.get("HUATUO_RAY_STAGING") or "~/.cache/huatuo-ray/staging"
    return Path(root).expanduser().resolve()


def local_dir(remote: ObjectPath, root: Path | None = None) -> Path:
    """The staging directory of ``remote`` (stable per URI and host)."""
    digest = hashlib.sha256(remote.uri.encode()).hexdigest()[:16]
    return (root or staging_root()) / digest / (remote.name or "root")


def _skipped(rel: Path, skip: Iterable[str]) -> bool:
    top = rel.parts[0]
    return (top in CONTROL or top.startswith(".") or rel.name.startswith(".tmp")
            or any(fnmatch.fnmatchcase(top, p) for p in skip))


def _read_json(path: "Path | ObjectPath") -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class Staging:
    """The local copies one step works on, and the path rewriting between them and the bucket."""

    def __init__(self, root: Path | None = None):
        self.root = root or staging_root()
        self.maps: dict[str, str] = {}  # bucket URI -> local directory, every copy this step uses
        self._pulled: dict[Path, tuple[int, int]] = {}  # local file -> (size, mtime_ns) as pulled

    def local(self, remote: ObjectPath) -> Path:
        path = local_dir(remote, self.root)
        self.maps[remote.uri] = str(path)
        return path

    # -- path rewriting ---------------------------------------------------------------------------
    def to_local(self, text: str) -> str:
        for uri, path in sorted(self.maps.items(), key=lambda kv: -len(kv[0])):
            text = text.replace(uri, path)
        return text

    def to_remote(self, text: str) -> str:
        for uri, path in sorted(self.maps.items(), key=lambda kv: -len(kv[1])):
            text = text.replace(path, uri)
        return text

    def remote_value(self, value):
        """A JSON-like value (a step's stats) with its local staging paths turned into bucket URIs."""
        return json.loads(self.to_remote(json.dumps(value)))

    # -- pulling ----------------------------------------------------------------------------------
    def _download(self, obj: ObjectPath, dest: Path) -> None:
        if dest.suffix in TEXT_SUFFIXES:
            with atomic_path(dest) as tmp:
                tmp.write_text(self.to_local(obj.read_text(encoding="utf-8")), encoding="utf-8")
        else:
            download(obj, dest)
        st = dest.stat()
        self._pulled[dest] = (st.st_size, st.st_mtime_ns)

    def _copy(self, remote: ObjectPath, local: Path, skip: Iterable[str], only_missing: bool) -> int:
        n = 0
        for obj, _size in remote.files():
            rel = obj.relative_to(remote)
            if _skipped(rel, skip):
                continue
            dest = local / rel
            if only_missing and dest.exists():
                continue
            self._download(obj, dest)
            n += 1
        return n

    def pull_input(self, remote: ObjectPath, skip: Iterable[str] = ()) -> Path:
        """A local copy of the finished output ``remote`` (``stats.json`` included): reused when its stats are
        the bucket's, else made afresh."""
        local = self.local(remote)
        stats = remote / "stats.json"
        want = stats.read_text(encoding="utf-8")
        mark = _read_json(local / STAGED)
        if mark and mark.get("stats") == want and (local / "stats.json").is_file():
            return local
        shutil.rmtree(local, ignore_errors=True)
        self._copy(remote, local, skip, only_missing=False)
        for name in ("_run.json", "stats.json"):
            if (remote / name).exists():
                self._download(remote / name, local / name)
        (local / STAGED).write_text(json.dumps({"uri": remote.uri, "stats": want}), encoding="utf-8")
        return local

    def pull_output(self, remote: ObjectPath, skip: Iterable[str] = ()) -> Path:
        """The step's own local copy for ``remote`` (its ``_run.json`` already in the bucket): the objects it has
        pushed so far; a local copy of the same start is kept (its unpushed progress resumes), any other deleted."""
        local = self.local(remote)
        run = (remote / "_run.json").read_text(encoding="utf-8")
        mark = _read_json(local / STAGED)
        same = bool(mark and mark.get("run") == run)
        if not same:
            shutil.rmtree(local, ignore_errors=True)
        local.mkdir(parents=True, exist_ok=True)
        self._copy(remote, local, skip, only_missing=same)
        (local / "stats.json").unlink(missing_ok=True)
        (local / STAGED).write_text(json.dumps({"uri": remote.uri, "run": run}), encoding="utf-8")
        return local

    def pull_files(self, remote: ObjectPath, local: Path, tops: Iterable[str], fresh: Iterable[str] = ()) -> int:
        """Bring into the step's local copy what others uploaded to its output while it ran (the training workers
        on other nodes): under each folder of ``tops``, every object the copy lacks or holds at another size (under
        a folder of ``fresh``: every object), and local files the bucket does not have go. The files count as
        pulled (the push does not upload them again). Returns the objects copied."""
        fresh, n = set(fresh), 0
        for top in tops:
            objects = {obj.relative_to(remote).as_posix(): (obj, size) for obj, size in (remote / top).files()}
            for rel, (obj, size) in objects.items():
                dest = local / rel
                if top in fresh or not dest.is_file() or dest.stat().st_size != size:
                    self._download(obj, dest)
                    n += 1
                else:
                    st = dest.stat()
                    self._pulled[dest] = (st.st_size, st.st_mtime_ns)
            stray = [p for p in (local / top).rglob("*") if p.is_file()
                     and p.relative_to(local).as_posix() not in objects]
            for path in stray:
                path.unlink()
        return n

    # -- pushing ----------------------------------------------------------------------------------
    def push(self, local: Path, remote: ObjectPath, skip: Iterable[str] = (), on_upload=None) -> int:
        """Upload the step's new or changed files, markers last; delete the objects whose file the step removed.
        Returns the number of objects uploaded. ``stats.json`` is not pushed: the runner writes it last."""
        skip = tuple(skip)
        files = sorted(p for p in local.rglob("*") if p.is_file() and not _skipped(p.relative_to(local), skip))
        # stable: the data first, then what marks it (``_markers/*``, ``_SUCCESS``, ``_pack.json`` ...): a copy pulled
        # from a push cut short never holds a mark without its data
        files.sort(key=lambda p: p.relative_to(local).parts[0].startswith("_"))
        n = 0
        for path in files:
            st = path.stat()
            if self._pulled.get(path) == (st.st_size, st.st_mtime_ns):
                continue  # as pulled: the bucket holds it
            dest = remote / path.relative_to(local).as_posix()
            if path.suffix in TEXT_SUFFIXES:
                dest.write_text(self.to_remote(path.read_text(encoding="utf-8")))
            else:
                upload(path, dest)
            self._pulled[path] = (st.st_size, st.st_mtime_ns)
            n += 1
            if on_upload is not None:
                on_upload(dest)
        for obj, _size in remote.files():
            rel = obj.relative_to(remote)
            if not _skipped(rel, skip) and not (local / rel).exists():
                obj.unlink(missing_ok=True)
        return n


def download(obj: ObjectPath, dest: Path) -> None:
    """Copy an object to a local file, atomically (a reader never sees half of it)."""
    with atomic_path(dest) as tmp, obj.open() as src, open(tmp, "wb") as out:
        shutil.copyfileobj(src, out, 8 << 20)


def pull_tree(remote: ObjectPath, local: Path, keep) -> Path:
    """A plain copy of the objects under ``remote`` for which ``keep(relative path)`` holds (the report's read)."""
    staging = Staging(local.parent)
    staging.maps[remote.uri] = str(local)
    for obj, _size in remote.files():
        rel = obj.relative_to(remote)
        if keep(rel):
            staging._download(obj, local / rel)
    return local
