"""Training from a bucket on a cluster without a shared disk: what each training worker does on its own node.

When the pack or the run directory is in an object store, the driver trains on local staging copies
(:mod:`huatuo_ray.io.staging`), but the workers may run on other nodes (on a production cluster the head node,
where the driver runs, has no GPUs), which see neither the driver's copy of the pack nor its run directory. So:

* each worker uses its node's copy of the pack (:func:`node_pack`): made once per node, under a node-wide lock,
  exactly as the driver makes its own (kept while its ``stats.json`` is the bucket's, else made afresh);
* each rank writes the run's files into its node's copy of the run directory and uploads the files it is the one
  writer of (:class:`RunFiles`): its events and worker record at once, its consumed sequences (rank 0: the
  metrics) before each checkpoint is reported and at the end, the exported models when written. A checkpoint in
  the bucket therefore always has the logs up to it there, and a rank that starts (again, maybe on another node)
  takes its files from the bucket and rolls them back to the checkpoint as it does on a shared disk;
* after the fit the driver copies ``train_log/`` and the models from the bucket into its own copy
  (:meth:`huatuo_ray.io.staging.Staging.pull_files`) for the summary, the loss plot and the push.
"""

from __future__ import annotations

import fcntl
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from huatuo_ray.io.staging import Staging, download, local_dir, staging_root
from huatuo_ray.io.storage import ObjectPath, upload

LOGS = "train_log"
MODELS = ("model", "model_init")  # the exported models (rank 0 writes them)
RUN_FILES = (LOGS, *MODELS)  # what the workers upload to the run directory in the bucket


@dataclass(frozen=True)
class RemoteRun:
    """Where the training run's files are in a bucket (passed to every worker)."""

    staging_dir: str | None = None  # run.staging_dir; None: each node's $HUATUO_RAY_STAGING or ~/.cache
    pack: str | None = None  # the pack's URI, when it is in a bucket
    pack_skip: tuple[str, ...] = ()  # what a copy of the pack leaves out (as the driver's copy)
    run: str | None = None  # the run directory's URI, when it is in a bucket

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> "RemoteRun | None":
        return cls(**{**d, "pack_skip": tuple(d.get("pack_skip") or ())}) if d else None


@contextmanager
def node_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between the processes of one node (``flock`` on ``path``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def node_pack(remote: RemoteRun) -> str:
    """This node's copy of the pack in the bucket (downloaded by the first worker of the node, reused after)."""
    root = staging_root(remote.staging_dir)
    pack = ObjectPath(remote.pack)
    local = local_dir(pack, root)
    with node_lock(local.parent / ".pull.lock"):
        return str(Staging(root).pull_input(pack, remote.pack_skip))


class RunFiles:
    """One rank's files of the run directory: local when the run directory is (on a shared disk, or the driver's
    own), else in the node's copy of the run directory, uploaded to the bucket by the rank that writes them."""

    def __init__(self, run_dir: str | Path, rank: int, remote: RemoteRun | None):
        self.rank = rank
        self.remote = ObjectPath(remote.run) if remote and remote.run else None
        self.dir = local_dir(self.remote, staging_root(remote.staging_dir)) if self.remote else Path(run_dir)

    def own(self) -> list[str]:
        """The files of ``train_log/`` this rank is the one writer of (relative to the run directory)."""
        name = f"rank{self.rank:05d}"
        files = [f"{LOGS}/consumed/{name}.jsonl", f"{LOGS}/events/{name}.jsonl", f"{LOGS}/workers/{name}.json"]
        return files + ([f"{LOGS}/metrics.jsonl"] if self.rank == 0 else [])

    def take(self) -> None:
        """Replace this node's copy of the rank's files by the bucket's (absent there: absent here)."""
        if self.remote is None:
            return
        for rel in self.own():
            obj, dest = self.remote / rel, self.dir / rel
            if obj.exists():
                download(obj, dest)
            else:
                dest.unlink(missing_ok=True)

    def put(self, *rels: str) -> None:
        """Upload the rank's files ``rels`` (default: all of them) that exist."""
        if self.remote is None:
            return
        for rel in rels or self.own():
            if (self.dir / rel).is_file():
                upload(self.dir / rel, self.remote / rel)

    def put_tree(self, rel: str) -> None:
        """Upload a folder the rank wrote (an exported model) file by file, then delete the bucket's other objects
        under it (those of an earlier export)."""
        if self.remote is None:
            return
        local = self.dir / rel
        files = {p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()}
        for name in sorted(files):
            upload(local / name, self.remote / rel / name)
        for obj, _size in (self.remote / rel).files():
            if obj.relative_to(self.remote / rel).as_posix() not in files:
                obj.unlink(missing_ok=True)
