"""The storage layer against real servers on 127.0.0.1, S3 (moto) and GCS (fake-gcs-server): objects, listing,
atomic writes, unit commits, resume, the lease and the discard of an output in a bucket; each test runs on both."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from huatuo_ray.errors import OutputLocked, RecipeError, SetupError
from huatuo_ray.io import lock as lock_mod
from huatuo_ray.io.atomic import UPLOAD_PREFIX, remove_temporaries, write_json_atomic, write_parquet_atomic
from huatuo_ray.io.files import parquet_files
from huatuo_ray.io.lock import LOCK_FILE, OutputLock
from huatuo_ray.io.output import OutputDir
from huatuo_ray.io.storage import ObjectPath, check_uri, gcs_emulator, location
from huatuo_ray.io.trash import DISCARDING, clear_trash, discard_output
from huatuo_ray.io.units import list_files, plan_units
from huatuo_ray.recipe import SourceConfig
from huatuo_ray.run import rundir


def test_location_and_uri_checks(tmp_path):
    assert location("s3://b/k/") == ObjectPath("s3://b/k")
    assert location("gcs://b/k") == ObjectPath("gs://b/k")
    assert location(f"file://{tmp_path}") == tmp_path
    assert (location("s3://b") / "x" / "y.json").name == "y.json"
    assert location("s3://b/x/y").parent == ObjectPath("s3://b/x")
    with pytest.raises(RecipeError, match="credentials"):
        check_uri("s3://AKIAABCDEFGHIJKLMNOP:secret@b/k")
    with pytest.raises(RecipeError, match="not supported"):
        check_uri("ftp://host/x")
    with pytest.raises(ValueError, match="turned into a local path"):
        location(Path("s3://b/k"))  # what Path makes of a URI: s3:/b/k
    with pytest.raises(TypeError):
        open(location("s3://b/k"))  # not os.PathLike: never opened as a local file


def test_gcs_endpoint_comes_from_storage_emulator_host(monkeypatch):
    from huatuo_ray.io import storage

    assert gcs_emulator("http://127.0.0.1:4443") == {"scheme": "http", "endpoint_override": "127.0.0.1:4443"}
    assert gcs_emulator("localhost:9023") == {"scheme": "http", "endpoint_override": "localhost:9023"}
    assert gcs_emulator("https://gcs.internal:443/") == {"scheme": "https", "endpoint_override": "gcs.internal:443"}
    for bad in ("ftp://h:1", "http://h:1/storage/v1", "http://"):
        with pytest.raises(SetupError, match="STORAGE_EMULATOR_HOST"):
            gcs_emulator(bad)
    monkeypatch.setattr(storage, "_FILESYSTEMS", {})
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:4443")
    fs = storage.filesystem("gs://b/k")  # built without a request
    assert fs.type_name == "gcs" and fs == pafs.GcsFileSystem(anonymous=True, scheme="http",
                                                               endpoint_override="127.0.0.1:4443")


def test_objects_write_read_list_delete(bucket):
    root = location(bucket) / "run"
    write_json_atomic(root / "a" / "x.json", {"k": 1})
    write_parquet_atomic(pa.table({"v": [1, 2, 3]}), root / "a" / "t.parquet")
    (root / "b.txt").write_text("hello")
    assert json.loads((root / "a" / "x.json").read_text()) == {"k": 1}
    assert [p.name for p in root.iterdir()] == ["a", "b.txt"]
    assert (root / "a").is_dir() and (root / "b.txt").is_file() and not (root / "c").exists()
    assert [p.name for p in (root / "a").glob("*.json")] == ["x.json"]
    assert parquet_files("t", str(root)) == [f"{bucket}/run/a/t.parquet"]
    assert parquet_files("t", f"{bucket}/run/*/t.parquet") == [f"{bucket}/run/a/t.parquet"]
    f = (root / "b.txt").open()
    assert f.readline() == b"hello" and f.seek(1) == 1 and f.read(2) == b"el"
    assert f.seek(0, 2) == 5 and f.read() == b"" and f.seek(-2, 2) == 3 and f.read() == b"lo"  # GCS: 416 at the end
    (root / "b.txt").unlink()
    (root / "b.txt").unlink(missing_ok=True)
    with pytest.raises(FileNotFoundError) as e:
        (root / "b.txt").read_bytes()
    assert e.value.errno == 2
    assert pq.ParquetFile((root / "a" / "t.parquet").open()).metadata.num_rows == 3
    gz = gzip.compress(b"{}\n")
    (root / "c.jsonl.gz").write_bytes(gz)  # stored as given: pyarrow compresses *.gz streams unless told not to
    assert (root / "c.jsonl.gz").read_bytes() == gz


def test_sources_in_a_bucket_give_the_units_of_the_same_files_on_disk(bucket, tmp_path):
    local = tmp_path / "corpus"
    (local / "sub").mkdir(parents=True)
    (local / "a.jsonl").write_text("".join(json.dumps({"text": f"doc {i}" * 50}) + "\n" for i in range(40)))
    (local / "sub" / "b.jsonl").write_text('{"text": "one"}\n')
    (local / "_skip.jsonl").write_text('{"text": "no"}\n')
    for f in local.rglob("*.jsonl"):
        (location(bucket) / "corpus" / str(f.relative_to(local))).write_bytes(f.read_bytes())
    for path, pattern in ((str(local), f"{bucket}/corpus"),
                          (str(local / "**" / "*.jsonl"), f"{bucket}/corpus/**/*.jsonl")):
        on_disk = plan_units([SourceConfig(name="w", path=path, type="web")], 1000, 10)
        in_bucket = plan_units([SourceConfig(name="w", path=pattern, type="web")], 1000, 10)
        assert [u.unit_id for u in in_bucket] == [u.unit_id for u in on_disk] and len(on_disk) > 3
    root, files = list_files(SourceConfig(name="w", path=f"{bucket}/corpus/sub/b.jsonl", type="web"))
    assert (root, files) == (f"{bucket}/corpus/sub", [f"{bucket}/corpus/sub/b.jsonl"])


def test_unit_commit_resume_and_clear(bucket):
    out = OutputDir(f"{bucket}/cur")
    assert out.open(["u1", "u2"]) == 0
    out.write_rows("u1", {"kept": [{"id": "a", "text": "x"}], "dropped": [{"id": "b"}]})
    assert not out.is_done("u1")  # files without a marker: the unit is pending
    out.write_marker("u1", {"unit_id": "u1"})
    out.write_rows("u2", {"kept": [{"id": "c"}], "quarantined": [{"id": "q"}]})  # a run killed before u2's marker
    assert OutputDir(f"{bucket}/cur").open(["u1", "u2"]) == 1
    assert out.row_counts("u1") == {"kept": 1, "dropped": 1, "quarantined": 0}
    out.write_rows("u2", {"kept": [{"id": "c"}, {"id": "d"}]})  # the rerun: its stray quarantined object goes
    out.write_marker("u2", {"unit_id": "u2"})
    assert out.row_counts("u2") == {"kept": 2, "dropped": 0, "quarantined": 0}
    assert [m["unit_id"] for m in out.markers(["u1", "u2"])] == ["u1", "u2"]
    out.write_part("u3", 0, {"kept": [{"id": "p0"}]})
    out.write_part("u3", 1, {"kept": [{"id": "p1", "extra": 1}]})
    out.merge_parts("u3", 2)
    out.write_marker("u3", {"unit_id": "u3"})
    assert out.open(["u1", "u2", "u3"]) == 3 and not (out.root / "_parts" / "u3").exists()  # parts of a done unit go
    assert pq.read_table(out.path("kept", "u3").open()).column("id").to_pylist() == ["p0", "p1"]
    out.clear()
    assert out.open(["u1", "u2", "u3"]) == 0 and not list((out.root / "kept").iterdir())


def test_lease_refuses_a_live_holder_and_takes_over_a_dead_one(bucket, monkeypatch):
    monkeypatch.setattr(lock_mod, "SETTLE_S", 0.05)
    out = f"{bucket}/step"
    with OutputLock(out, "first"):
        with pytest.raises(OutputLocked, match="in use by another run"):
            OutputLock(out, "second").acquire()
    assert not (location(out) / LOCK_FILE).exists()  # released: the lease object goes
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (location(out) / LOCK_FILE).write_text(json.dumps({"host": os.uname().nodename, "pid": dead.pid, "token": "t",
                                                       "renewed_at": 1e12}))
    with OutputLock(out, "after a kill -9"):  # the holder's pid is gone: its lease is taken over at once
        pass
    (location(out) / LOCK_FILE).write_text(json.dumps({"host": "elsewhere", "pid": 1, "token": "t",
                                                       "renewed_at": 0}))
    with OutputLock(out, "after an expired lease"):  # another host's lease, not renewed for LEASE_S
        pass


def test_discard_in_a_bucket_is_finished_after_a_kill(bucket):
    out = location(bucket) / "unify"
    for name in ("stats.json", "_run.json", "_markers/u.json", "kept/u.parquet", "_llm_cache/a/b.json"):
        (out / name).write_text("{}")
    (out / DISCARDING).write_text("discarding\n")  # a discard killed before it deleted anything
    assert rundir.recorded(out) is None  # the output already counts as gone
    assert clear_trash(out, keep=("_llm_cache",)) == 1
    assert [p.name for p in out.iterdir()] == ["_llm_cache"]
    (out / "stats.json").write_text("{}")
    discard_output(out, keep=("_llm_cache",))
    assert [p.name for p in out.iterdir()] == ["_llm_cache"]


def test_an_upload_that_fails_midway_leaves_no_object(bucket, monkeypatch, tmp_path):
    """A write that raises after parts went up (a network failure): pyarrow would complete the upload when its
    stream closes, so the storage layer deletes the cut object: nothing is left, not a prefix of the data."""
    from huatuo_ray.io import storage

    monkeypatch.setattr(storage, "UPLOAD_CHUNK", 5 << 20)
    real = storage.filesystem

    class Failing:
        def __init__(self, s):
            self.s, self.n = s, 0

        def write(self, b):
            self.n += 1
            if self.n == 3:
                raise OSError(5, "connection reset")
            return self.s.write(b)

        def close(self):
            return self.s.close()

    class Fs:
        def __init__(self, fs):
            self.fs = fs

        def open_output_stream(self, key, **kw):
            return Failing(self.fs.open_output_stream(key, **kw))

        def __getattr__(self, name):
            return getattr(self.fs, name)

    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(20 << 20))
    dest = location(f"{bucket}/big.bin")
    with monkeypatch.context() as m:
        m.setattr(storage.ObjectPath, "fs", property(lambda self: Fs(real(self.uri))))
        with pytest.raises(OSError, match="connection reset"):
            storage.upload(big, dest)
    assert not dest.exists()


def test_an_upload_killed_midway_leaves_no_object(bucket, bucket_server, tmp_path):
    """kill -9 during the upload of a large object: the store never shows it, not even in part."""
    script = tmp_path / "upload.py"
    script.write_text(textwrap.dedent(f"""
        import os, sys
        from huatuo_ray.io import storage
        storage.UPLOAD_CHUNK = 5 << 20  # S3's smallest part: an upload in several parts (GCS: chunks)
        dest = storage.location("{bucket}/big.bin")

        class Slow:  # the stream of the upload, stalled before its third write: the kill comes mid-upload
            def __init__(self, s): self.s, self.n = s, 0
            def __enter__(self): return self
            def __exit__(self, *e): return self.s.__exit__(*e)
            def write(self, b):
                self.n += 1
                if self.n == 3:
                    print("uploading", flush=True)
                    import time; time.sleep(60)
                return self.s.write(b)

        class Fs:
            def __init__(self, fs): self.fs = fs
            def open_output_stream(self, key, **kw): return Slow(self.fs.open_output_stream(key, **kw))

        storage.ObjectPath.fs = property(lambda self: Fs(storage.filesystem(self.uri)))
        from huatuo_ray.io.atomic import atomic_path
        with atomic_path(dest) as tmp:  # a local temporary, uploaded as the object when the block ends
            tmp.write_bytes(os.urandom(64 << 20))
    """))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, **bucket_server.env()})
    assert proc.stdout.readline().strip() == "uploading"  # two parts are sent, the third is never written
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not location(f"{bucket}/big.bin").exists()
    name = bucket.split("://")[1]
    if bucket.startswith("s3://"):
        import boto3  # moto's dependency: the store's own view of the upload

        client = boto3.client("s3", endpoint_url=bucket_server.endpoint, region_name="us-east-1")
        uploads = client.list_multipart_uploads(Bucket=name).get("Uploads", [])
        assert [u["Key"] for u in uploads] == ["big.bin"]  # begun, never completed: invisible to every reader
    else:  # the server's log: a resumable upload begun, chunks taken (308 Resume Incomplete), never finalized
        upload = [(m, status) for m, path, status in bucket_server.requests()
                  if path.startswith(f"/upload/storage/v1/b/{name}/o?") and "name=big.bin" in path]
        assert upload[0] == ("POST", 200) and ("PUT", 308) in upload and ("PUT", 200) not in upload, upload
    left = list(Path(tempfile.gettempdir()).glob(f"{UPLOAD_PREFIX}{proc.pid}-*"))
    assert left  # the killed upload's local temporary ...
    assert remove_temporaries(f"{bucket}/any-output") >= 1 and not any(p.exists() for p in left)  # ... goes at the next run
