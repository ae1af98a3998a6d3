"""Where data lives: a local path, or an object in an object store (``s3://``, ``gs://``) through ``pyarrow.fs``.

:func:`location` turns a recipe's path or URI into a :class:`pathlib.Path` (local, ``file://`` included) or an
:class:`ObjectPath`, which offers the part of the ``Path`` API the run directory needs (``/``, ``name``,
``parent``, ``exists``, ``iterdir``, ``read_text``, ``unlink`` ...). An ``ObjectPath`` is not ``os.PathLike``: code
that would hand it to ``open`` or ``os.*`` fails loudly instead of writing to a local ``s3:/bucket`` folder (which
is what ``Path("s3://bucket/key")`` silently means).

Object stores have no rename and no partial objects: an object appears whole when its upload completes (one PUT,
or the completion of a multipart upload), and an upload cut off by a kill never completes. :func:`upload` writes
a finished local file as one object; :mod:`huatuo_ray.io.atomic` builds its atomic writes on that.

Credentials come from the environment (``AWS_ACCESS_KEY_ID`` ..., ``AWS_ENDPOINT_URL``, an instance role,
``GOOGLE_APPLICATION_CREDENTIALS``), as ``pyarrow.fs`` reads them; a URI that carries them is refused. ``gs://``
goes to a GCS emulator instead of Google when ``STORAGE_EMULATOR_HOST`` names one (``http://127.0.0.1:4443`` or
``host:port``, as the Google client libraries and gcsfs read it), without credentials.
"""

from __future__ import annotations

import errno
import fnmatch
import io
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

from huatuo_ray.errors import RecipeError, SetupError
from huatuo_ray.redact import mask_text

REMOTE_SCHEMES = ("s3", "gs", "gcs")
_FILESYSTEMS: dict[tuple[str, str], object] = {}  # (scheme, bucket) -> pyarrow FileSystem, one per process
_USERINFO = re.compile(r"^[A-Za-z0-9+.-]+://[^\s]*@")  # user:secret@ (a secret may hold '/')
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_COLLAPSED = re.compile(r"^(?:s3|gs|gcs|file):/(?!/)")
UPLOAD_CHUNK = 8 << 20
READ_BUFFER = 1 << 20  # an object is read in ranged requests of this size


def is_uri(value: object) -> bool:
    return isinstance(value, str) and "://" in value


def is_remote(value: object) -> bool:
    """Whether ``value`` (a str, Path or ObjectPath) names an object store rather than the local file system."""
    return isinstance(value, ObjectPath) or (is_uri(value) and urlsplit(str(value)).scheme in REMOTE_SCHEMES)


def check_uri(value: str, what: str = "path") -> str:
    """``value`` when it is a local path or a supported URI without credentials; a :class:`RecipeError` otherwise."""
    if not is_uri(value):
        return value
    parts = urlsplit(value)
    if parts.scheme not in (*REMOTE_SCHEMES, "file"):
        raise RecipeError(f"{what}: URI scheme {parts.scheme!r} is not supported (use s3://, gs:// or file://)")
    if parts.username or parts.password or parts.query or _USERINFO.match(value):
        raise RecipeError(f"{what}: a URI must not carry credentials or options ({parts.scheme}://<hidden>@...): "
                          "credentials come from the environment (AWS_ACCESS_KEY_ID ..., an instance role)")
    if parts.scheme != "file" and not _BUCKET.fullmatch(parts.netloc):
        raise RecipeError(f"{what}: {mask_text(value)!r} names no bucket (s3://BUCKET/key...)")
    return value


def location(value: "str | Path | ObjectPath") -> "Path | ObjectPath":
    """A local ``Path`` (``~`` expanded, ``file://`` stripped) or an :class:`ObjectPath` for an object-store URI."""
    if isinstance(value, ObjectPath):
        return value
    if isinstance(value, Path):
        if _COLLAPSED.match(str(value)):  # Path("s3://b/k") is s3:/b/k: a URI lost on the way here
            raise ValueError(f"{value} is an object-store URI turned into a local path (s3:/ for s3://): pass the "
                             "URI as a string")
        return value
    value = check_uri(str(value))
    if is_uri(value):
        parts = urlsplit(value)
        if parts.scheme == "file":
            return Path(parts.path)
        return ObjectPath(f"{'gs' if parts.scheme == 'gcs' else parts.scheme}://{parts.netloc}{parts.path}".rstrip("/"))
    return Path(value).expanduser()


def resolved(value: "str | Path | ObjectPath") -> "Path | ObjectPath":
    """:func:`location`, made absolute when local."""
    loc = location(value)
    return loc.resolve() if isinstance(loc, Path) else loc


def filesystem(uri: str):
    """The ``pyarrow.fs`` file system serving ``uri``'s bucket (cached per process); credentials from the env."""
    import pyarrow.fs as pafs

    parts = urlsplit(uri)
    key = (parts.scheme, parts.netloc)
    if key not in _FILESYSTEMS:
        if parts.scheme == "s3":
            # region and endpoint from AWS_DEFAULT_REGION / AWS_ENDPOINT_URL (as boto3 reads them); without a region
            # pyarrow asks the bucket for it
            kwargs = {}
            if os.environ.get("AWS_ENDPOINT_URL"):
                kwargs["endpoint_override"] = os.environ["AWS_ENDPOINT_URL"]
            region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
            if region:
                kwargs["region"] = region
            _FILESYSTEMS[key] = pafs.S3FileSystem(**kwargs) if kwargs else pafs.FileSystem.from_uri(uri)[0]
        elif os.environ.get("STORAGE_EMULATOR_HOST"):
            _FILESYSTEMS[key] = pafs.GcsFileSystem(anonymous=True, **gcs_emulator(os.environ["STORAGE_EMULATOR_HOST"]))
        else:
            _FILESYSTEMS[key] = pafs.FileSystem.from_uri(uri)[0]
    return _FILESYSTEMS[key]


def gcs_emulator(value: str) -> dict[str, str]:
    """``GcsFileSystem``'s ``scheme`` and ``endpoint_override`` for ``STORAGE_EMULATOR_HOST`` (``http://host:port``,
    or ``host:port`` for plain HTTP, as the Google client libraries read it)."""
    parts = urlsplit(value if "://" in value else f"http://{value}")
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/") or parts.query:
        raise SetupError(f"STORAGE_EMULATOR_HOST={mask_text(value)!r}: expected http://HOST:PORT or HOST:PORT")
    return {"scheme": parts.scheme, "endpoint_override": parts.netloc}


@dataclass(frozen=True)
class _Stat:
    st_size: int
    st_mtime: float


@dataclass(frozen=True, order=True)
class ObjectPath:
    """An object (or a prefix, which object stores treat as a folder) in a bucket: ``s3://bucket/key``."""

    uri: str

    # -- names ----------------------------------------------------------------------------------
    def __str__(self) -> str:
        return self.uri

    def __truediv__(self, name: "str | Path") -> "ObjectPath":
        name = str(name).strip("/")
        return ObjectPath(f"{self.uri}/{name}" if name else self.uri)

    @property
    def scheme(self) -> str:
        return urlsplit(self.uri).scheme

    @property
    def key(self) -> str:
        """``bucket/key``: the path ``pyarrow.fs`` takes."""
        return self.uri.split("://", 1)[1]

    @property
    def fs(self):
        return filesystem(self.uri)

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1] if "/" in self.key else ""

    @property
    def parent(self) -> "ObjectPath":
        return ObjectPath(self.uri.rsplit("/", 1)[0]) if "/" in self.key else self

    @property
    def suffix(self) -> str:
        return Path(self.name).suffix

    @property
    def stem(self) -> str:
        return Path(self.name).stem

    def with_name(self, name: str) -> "ObjectPath":
        return self.parent / name

    def with_suffix(self, suffix: str) -> "ObjectPath":
        return self.with_name(self.stem + suffix if self.suffix else self.name + suffix)

    def relative_to(self, other: "ObjectPath") -> Path:
        if not (self.uri + "/").startswith(other.uri + "/"):
            raise ValueError(f"{self} is not under {other}")
        return Path(self.uri[len(other.uri):].lstrip("/") or ".")

    def expanduser(self) -> "ObjectPath":
        return self

    def resolve(self) -> "ObjectPath":
        return self

    def is_absolute(self) -> bool:
        return True

    # -- queries --------------------------------------------------------------------------------
    def _info(self):
        return self.fs.get_file_info(self.key)

    def exists(self) -> bool:
        import pyarrow.fs as pafs

        return self._info().type != pafs.FileType.NotFound

    def is_file(self) -> bool:
        import pyarrow.fs as pafs

        return self._info().type == pafs.FileType.File

    def is_dir(self) -> bool:
        import pyarrow.fs as pafs

        return self._info().type == pafs.FileType.Directory

    def stat(self) -> _Stat:
        info = self._info()
        if info.size is None:
            raise FileNotFoundError(2, "no such object", self.uri)
        return _Stat(info.size, info.mtime.timestamp() if info.mtime else 0.0)

    def _children(self, recursive: bool) -> list["ObjectPath"]:
        import pyarrow.fs as pafs

        if self.scheme != "gs":
            infos = self.fs.get_file_info(pafs.FileSelector(self.key, allow_not_found=True, recursive=recursive))
            return sorted(ObjectPath(f"{self.scheme}://{i.path}") for i in infos)
        # pyarrow's GCS listing drops the prefixes the store returns: a folder with no marker object (one whose
        # objects were written one by one, as here) is missing from a listing of its parent. The folders are taken
        # from the keys of a recursive listing instead.
        infos = self.fs.get_file_info(pafs.FileSelector(self.key, allow_not_found=True, recursive=True))
        base = self.key + "/"
        found = set()
        for i in infos:
            parts = i.path[len(base):].split("/")
            found.update(base + "/".join(parts[:n]) for n in range(1, len(parts) + 1 if recursive else 2))
        return sorted(ObjectPath(f"{self.scheme}://{p}") for p in found)

    def files(self) -> list[tuple["ObjectPath", int]]:
        """Every object under this prefix, with its size, sorted by key."""
        import pyarrow.fs as pafs

        infos = self.fs.get_file_info(pafs.FileSelector(self.key, allow_not_found=True, recursive=True))
        return sorted((ObjectPath(f"{self.scheme}://{i.path}"), i.size) for i in infos if i.type == pafs.FileType.File)

    def iterdir(self) -> Iterator["ObjectPath"]:
        return iter(self._children(recursive=False))

    def glob(self, pattern: str) -> Iterator["ObjectPath"]:
        """Children (or, for ``a/b`` patterns, descendants at that depth) whose relative name matches ``pattern``."""
        depth = pattern.count("/")
        found = self._children(recursive=depth > 0)
        return iter(p for p in found if str(p.relative_to(self)).count("/") == depth
                    and fnmatch.fnmatchcase(str(p.relative_to(self)), pattern))

    def rglob(self, pattern: str) -> Iterator["ObjectPath"]:
        return iter(p for p in self._children(recursive=True) if fnmatch.fnmatchcase(p.name, pattern))

    # -- reading --------------------------------------------------------------------------------
    def open(self, mode: str = "rb") -> io.BufferedReader:
        """A seekable, buffered binary reader of the object (``readline`` included); ``rb`` only: objects are
        written whole (:func:`upload`). A failure of the store raises an ``OSError`` with ``errno`` EIO (ENOENT
        for a missing object): a failure to read, never mistaken for damaged data."""
        if mode != "rb":
            raise ValueError(f"{self}: objects are opened for reading only (mode 'rb'), got {mode!r}")
        return io.BufferedReader(_ObjectReader(self), READ_BUFFER)

    def read_bytes(self) -> bytes:
        with self.open() as f:
            return f.read()

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    # -- writing (each call is one whole object) ------------------------------------------------
    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        """Nothing to do: a prefix exists once an object lies under it."""

    def write_bytes(self, data: bytes) -> None:
        _write_object(self, lambda out: out.write(data))

    def write_text(self, text: str, encoding: str = "utf-8") -> None:
        self.write_bytes(text.encode(encoding))

    def unlink(self, missing_ok: bool = False) -> None:
        try:
            self.fs.delete_file(self.key)
        except FileNotFoundError:
            if not missing_ok:
                raise
        except OSError as e:
            if not (missing_ok and "not found" in str(e).lower()):
                raise

    def rmtree(self) -> None:
        """Delete every object under this prefix (and the object of this name, if any)."""
        import pyarrow.fs as pafs

        info = self._info()
        if info.type == pafs.FileType.File:
            self.fs.delete_file(self.key)
        elif info.type == pafs.FileType.Directory:
            try:
                self.fs.delete_dir(self.key)
            except FileNotFoundError:
                # GCS: pyarrow deletes every object under the prefix, then the folder's marker object, which a
                # folder written object by object does not have; only objects left behind make it a failure
                if self.files():
                    raise


class _ObjectReader(io.RawIOBase):
    """Raw reads of one object through ``pyarrow.fs``, store failures raised as ``OSError(EIO)``.

    A seek only moves the position; the next read starts a ranged request there, and a read at or past the end is
    the end of the file without a request: GCS answers a range that starts at the object's size with 416, and
    readers seek to the end to learn the size (``pyarrow.parquet`` does)."""

    def __init__(self, obj: ObjectPath):
        self.uri = obj.uri
        self._f = _io_errors(self.uri, lambda: obj.fs.open_input_file(obj.key))
        self._size = _io_errors(self.uri, self._f.size)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        if self._pos >= self._size:
            return 0
        if self._f.tell() != self._pos:
            _io_errors(self.uri, lambda: self._f.seek(self._pos))
        n = _io_errors(self.uri, lambda: self._f.readinto(b))
        self._pos += n
        return n

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence not in (io.SEEK_SET, io.SEEK_CUR, io.SEEK_END):
            raise ValueError(f"invalid whence ({whence})")
        pos = offset + (0, self._pos, self._size)[whence]
        if pos < 0:
            raise OSError(errno.EINVAL, f"negative seek position {pos}", self.uri)
        self._pos = pos
        return pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        if not self.closed:
            self._f.close()
        super().close()


def _io_errors(uri: str, call):
    try:
        return call()
    except OSError as e:
        if e.errno is not None:
            raise
        text = str(e)
        if "not found" in text.lower() or "does not exist" in text.lower() or "NoSuchKey" in text:
            raise FileNotFoundError(errno.ENOENT, f"no such object: {text}", uri) from e
        raise OSError(errno.EIO, f"object store: {text}", uri) from e


def glob_regex(pattern: str) -> "re.Pattern[str]":
    """A glob pattern as a regex over ``/``-separated keys, as :func:`glob.glob` with ``recursive=True`` reads it:
    ``*`` and ``?`` stay within one segment, ``**/`` spans any number of them."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 1:]:
            j = pattern.index("]", i + 1)
            body = pattern[i + 1:j]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = j + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def upload(local: str | Path, dest: ObjectPath) -> None:
    """Write a finished local file as the object ``dest``, in one upload: the object appears whole when the upload
    completes, and a process killed during it leaves no object (the store discards an unfinished upload)."""
    size = os.path.getsize(local)
    with open(local, "rb") as src:
        if size <= UPLOAD_CHUNK:  # one buffered write, one PUT when the stream closes
            dest.write_bytes(src.read())
            return
        _write_object(dest, lambda out: shutil.copyfileobj(src, out, UPLOAD_CHUNK))


def _write_object(dest: ObjectPath, write) -> None:
    """One upload of ``dest``: ``write(stream)``, then the stream's close completes it. pyarrow cannot abort an
    upload (closing a stream always completes it), so when ``write`` fails the object it completed is deleted:
    a failed write leaves no object, never a cut one."""
    # compression=None: by default pyarrow compresses a stream named *.gz / *.zst ..., which would gzip a gzip file
    out = dest.fs.open_output_stream(dest.key, compression=None)
    try:
        write(out)
    except BaseException:
        try:
            out.close()
        except OSError:
            pass
        dest.unlink(missing_ok=True)
        raise
    out.close()


def rmtree(path: "Path | ObjectPath") -> None:
    """Delete a local directory tree or every object under a prefix; nothing when it is absent."""
    if isinstance(path, ObjectPath):
        path.rmtree()
    else:
        shutil.rmtree(path, ignore_errors=True)


def open_input(path: "str | Path | ObjectPath"):
    """A binary reader of a local file or an object (for ``pyarrow.parquet`` and the readers)."""
    loc = location(path)
    return loc.open("rb")


def arrow_source(path: "str | Path | ObjectPath"):
    """What ``pyarrow.parquet`` reads: a local path as a string, an object as an open reader."""
    loc = location(path)
    return str(loc) if isinstance(loc, Path) else loc.open()


def read_parquet(path: "str | Path | ObjectPath", columns: list[str] | None = None):
    """A Parquet file (local or an object) as a pyarrow Table."""
    import pyarrow.parquet as pq

    return pq.read_table(arrow_source(path), columns=columns)


def load_npy(path: "str | Path | ObjectPath", mmap: bool = False):
    """A ``.npy`` array; memory-mapped when local and ``mmap`` (an object is read whole: stores cannot be mapped)."""
    import numpy as np

    loc = location(path)
    if isinstance(loc, Path):
        return np.load(loc, mmap_mode="r" if mmap else None)
    return np.load(io.BytesIO(loc.read_bytes()))


def size_of(path: "str | Path | ObjectPath") -> int:
    loc = location(path)
    return loc.stat().st_size
