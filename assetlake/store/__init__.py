"""The lake's storage layer: all byte I/O goes through :class:`Store`; nothing else imports s3fs/boto3.

A lake is a URL: ``s3://bucket[/prefix]`` (boto3, configured by the standard AWS settings) or a local
folder (``file:///path`` or a plain path). Writes are create-only: the lake never overwrites an
object, except under :data:`RESERVED_PREFIXES`, where the published catalogue and the job
records of ``populate`` live.
"""

from __future__ import annotations

import functools
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, as_completed, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar
from urllib.parse import unquote

from assetlake.asset import CLAIM, COMMIT
from assetlake.errors import LakeError, ObjectExistsError, UsageError
from assetlake.store._pool import Pool

if TYPE_CHECKING:
    from assetlake.checksums import FileChecksums

#: Top-level prefix owned by assetlake itself; it has no '_', so no asset name can take it.
RESERVED_PREFIX = "assetlake-catalogue/"
#: Where populate keeps its job claims, leases, error records and done markers (no '_' either).
JOBS_PREFIX = "assetlake-jobs/"
#: The only prefixes where an object may be replaced.
RESERVED_PREFIXES = (RESERVED_PREFIX, JOBS_PREFIX)
#: Read size for streaming hashes and copies.
BLOCK = 8 << 20
#: Objects up to this size are read whole through :meth:`Store.get_many` (many in flight, little
#: CPU each); larger ones are streamed in :data:`BLOCK` reads. The bulk path keeps at most 256
#: answers in flight or waiting, so at most 128 MiB of bodies are held at once.
SMALL = 512 << 10
#: S3's limit on a key's length: the uploader checks it before anything is written, and a local
#: lake lists no deeper, so no backend holds an object the other could not.
MAX_KEY_BYTES = 1024

ProgressCallback = Callable[[int], None]
#: Objects that make the folder holding them an asset (committed, being uploaded, or a foreign
#: asset's description); a lake root is never inside such a folder.
ASSET_MARKERS = (COMMIT, CLAIM, "data_description.json")
#: Objects handled at once where the caller does not say (``--workers``): threads of a local
#: lake; S3's bulk paths keep more requests in flight, at little CPU each.
WORKERS = 16
T = TypeVar("T")
K = TypeVar("K")


def streams(workers: int | None) -> int:
    """Large objects streamed at once for ``--workers`` (None: the default): at most
    :data:`WORKERS`, each holding a :data:`BLOCK` read, so memory stays bounded."""
    return min(workers or WORKERS, WORKERS)


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object: its key relative to the lake root, size, and backend fingerprint."""

    key: str
    size: int
    etag: str | None = None


class Store(ABC):
    """A lake root. Keys are '/'-separated paths relative to it; missing objects read as None."""

    url: str

    @abstractmethod
    def check(self) -> None:
        """Raise :class:`~assetlake.errors.LakeError` unless the lake exists and can be read."""

    @abstractmethod
    def get(self, key: str) -> bytes | None:
        """The object's bytes, or None when it does not exist."""

    @abstractmethod
    def head(self, key: str) -> ObjectInfo | None:
        """Size and fingerprint of an object, or None when it does not exist."""

    @abstractmethod
    def put(self, key: str, data: bytes, *, overwrite: bool = False) -> None:
        """Write bytes create-only; raise ObjectExistsError if the key exists."""

    def put_once(self, key: str, data: bytes) -> bool:
        """Write bytes create-only; whether the stored object now holds exactly them. An equal
        object already there counts as written: it is this write's own when its answer was lost
        and the client's retry met it (the bytes of a claim or commit are unique to one write)."""
        try:
            self.put(key, data)
        except ObjectExistsError:
            return self.get(key) == data
        return True

    @abstractmethod
    def put_file(
        self, key: str, path: Path, *, progress: ProgressCallback | None = None
    ) -> FileChecksums:
        """Stream a local file to ``key`` create-only; return the checksums of the bytes sent,
        computed in the read that sends them (the manifest records them: a second read could
        see other bytes)."""

    def put_files(
        self,
        files: Iterable[tuple[str, Path]],
        workers: int | None = None,
        *,
        progress: ProgressCallback | None = None,
    ) -> Iterator[tuple[str, FileChecksums | LakeError]]:
        """:meth:`put_file` of every ``(key, path)``, ``workers`` at once (None: the store's
        choice), yielding ``(key, checksums, or the LakeError that refused it)`` as each ends:
        the caller decides what a refusal means (an object that exists may be a twin's). Leaving
        early starts nothing more."""

        send = functools.partial(self._put_or_refusal, progress=progress)
        for (key, _), answer in _bounded(send, files, workers or WORKERS):
            yield key, answer

    def _put_or_refusal(
        self, item: tuple[str, Path], progress: ProgressCallback | None
    ) -> FileChecksums | LakeError:
        try:
            return self.put_file(item[0], item[1], progress=progress)
        except LakeError as error:
            return error

    @abstractmethod
    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object whose key starts with ``prefix`` (recursive); raises
        :class:`~assetlake.errors.TooDeepError` for a folder nested beyond any key's length."""

    def list_expected(self, prefix: str, keys: Iterable[str]) -> Iterator[ObjectInfo]:
        """:meth:`list` of ``prefix`` by a caller that knows the ``keys`` it should hold, which
        a store may list from at once (S3 does); the same objects in the same order."""
        return self.list(prefix)

    @abstractmethod
    def list_dirs(self, prefix: str = "") -> list[str]:
        """Names of the immediate sub-folders of ``prefix`` (no trailing '/')."""

    @abstractmethod
    def open(self, key: str) -> BinaryIO:
        """A readable stream of the object (for hashing large objects without loading them)."""

    @abstractmethod
    def same_content(self, info: ObjectInfo, path: Path) -> bool:
        """Whether stored object ``info`` holds exactly the bytes of local file ``path``."""

    @abstractmethod
    def swap(self, key: str, old: bytes, new: bytes) -> bool:
        """Replace ``key`` by ``new`` only if it still holds exactly ``old`` (taking over a dead
        upload's claim); False when it holds anything else or is gone. Atomic on both backends."""

    @abstractmethod
    def discard(self, key: str) -> None:
        """Delete an object of an uncommitted asset that this upload wrote under its own claim and
        found wrong (its file changed meanwhile); the only deletion assetlake ever makes."""

    @abstractmethod
    def leftovers(self, prefix: str) -> list[str]:
        """Keys of unfinished writes under ``prefix`` that a killed upload left behind (a local
        lake's temporary files, S3's incomplete multipart uploads): invisible to :meth:`list`."""

    @abstractmethod
    def clean_leftovers(self, prefix: str) -> int:
        """Remove the unfinished writes under ``prefix`` (a resumed upload's own); how many."""

    @abstractmethod
    def create(self) -> None:
        """Create the lake's bucket or folder (demo and tests; uploads never create lakes)."""

    @property
    @abstractmethod
    def storage_options(self) -> dict[str, Any]:
        """fsspec options that let zarr, s3fs or pynwb open this lake's objects in place."""

    @abstractmethod
    def fsspec_url(self, key: str = "") -> str:
        """The URL of ``key`` as fsspec, zarr and hdmf-zarr understand it."""

    #: Whether :meth:`stored_checksum` returns checksums the backend keeps (``verify --fast``).
    stores_checksums = False

    def parts_for(self, size: int) -> int | None:
        """The part size this store sends a file of ``size`` bytes in; None for one request. The
        uploader records it with the composite CRC32 that S3 will store (``verify --fast``)."""
        return None

    def stored_checksum(self, key: str) -> tuple[int, str | None] | None:
        """Size and stored CRC32 of an object (S3: a whole-object CRC32, or a composite ending
        in ``-<parts>``), read without its data; None when the object does not exist."""
        info = self.head(key)
        return None if info is None else (info.size, None)

    def stored_checksums(
        self, keys: Iterable[str], workers: int | None = None
    ) -> Iterator[tuple[str, tuple[int, str | None] | None]]:
        """:meth:`stored_checksum` of many keys, ``workers`` at once (None: the store's choice),
        yielding ``(key, answer)`` as they come."""
        return _bounded(self.stored_checksum, keys, workers or WORKERS)

    def get_many(
        self, keys: Iterable[str], workers: int | None = None
    ) -> Iterator[tuple[str, bytes | None]]:
        """Fetch many objects, ``workers`` at once (None: the store's choice), yielding ``(key,
        bytes or None)`` as they arrive; at most ``2 * workers`` are fetched ahead of the
        caller, so memory stays flat. On Ctrl-C or any failure it cancels what has not started
        and does not wait for the rest, so an interrupt is never held up by a slow read."""
        return _bounded(self.get, keys, workers or WORKERS)

    def head_many(
        self, keys: Iterable[str], workers: int = 32
    ) -> Iterator[tuple[str, ObjectInfo | None]]:
        """:meth:`head` of many keys concurrently, yielding ``(key, info or None)`` as they come."""
        return _bounded(self.head, keys, workers)

    def list_many(
        self, prefixes: Iterable[str], workers: int = 32
    ) -> Iterator[tuple[str, list[ObjectInfo]]]:
        """:meth:`list` of many prefixes concurrently, yielding ``(prefix, its objects)`` as they
        come (each prefix's objects in key order)."""
        return _bounded(lambda prefix: sorted(self.list(prefix), key=_by_key), prefixes, workers)

    def list_dirs_parallel(self, workers: int = 32) -> list[str]:
        """:meth:`list_dirs` of the lake root, the same names in the same order; a backend with
        slow pages (S3) lists a large lake over name ranges at once."""
        return self.list_dirs()

    def sha256(self, key: str) -> str | None:
        """Re-read an object and hash it (what ``verify`` trusts); None when it is missing."""
        try:
            stream = self.open(key)
        except FileNotFoundError:
            return None
        with stream:
            return _hash_stream(stream, hashlib.sha256()).hexdigest()

    def _check_writable(self, key: str, overwrite: bool) -> None:
        if overwrite and not key.startswith(RESERVED_PREFIXES):
            raise UsageError(f"refusing to overwrite {key!r}: assets in a lake are immutable")

    def _inside_asset(self, folder: str, marker: str) -> LakeError:
        """The error for a lake whose root is, or is inside, the asset ``folder``: writing there
        would put a new asset inside an immutable one."""
        return LakeError(
            f"lake {self.url}: {folder} is an asset (it holds {marker}), so this is not a lake "
            "root; give the lake's own root"
        )


def _by_key(info: ObjectInfo) -> str:
    return info.key


def plain_key(key: str) -> bool:
    """Whether every '/'-separated part of ``key`` is a plain name: a key with an empty, '.' or
    '..' part could name something outside its asset (or the lake) on a file system, and no
    object assetlake writes has one."""
    return not any(part in ("", ".", "..") for part in key.split("/"))


def safe_key(key: str) -> str:
    """``key`` unchanged if it is :func:`plain_key`, else a UsageError naming it."""
    if not plain_key(key):
        raise UsageError(
            f"object key {key!r}: has an empty, '.' or '..' part; keys are plain relative paths"
        )
    return key


def safe_prefix(prefix: str) -> str:
    """A listing prefix unchanged: empty, or a :func:`plain_key` with an optional trailing '/'."""
    if prefix:
        safe_key(prefix.removesuffix("/"))
    return prefix


def _refuse_asset_names(url: str, parts: Iterable[str]) -> None:
    """Refuse a lake URL with a part that is an asset name (pasted from ``find --format urls``)."""
    from assetlake.errors import InvalidNameError
    from assetlake.naming import parse_name

    for part in parts:
        try:
            parse_name(part)
        except InvalidNameError:
            continue
        raise UsageError(
            f"lake {url!r}: {part} is an asset name, and a lake cannot be inside an asset; give "
            "the lake's root (the URL up to the asset's name)"
        )


def open_store(url: str | None, **options: Any) -> Store:
    """The store for a lake URL: ``s3://bucket[/prefix]``, ``file:///path`` or a local path
    (None or empty: the CLI found neither --lake nor ASSETLAKE_LAKE)."""
    if not url:
        raise UsageError(
            "no lake given: pass --lake URL or set ASSETLAKE_LAKE (s3://bucket or a folder)"
        )
    if url.startswith("s3://"):
        from assetlake.store._s3 import S3Store

        prefix = url.removeprefix("s3://").partition("/")[2].strip("/")
        if prefix and not plain_key(prefix):
            raise UsageError(
                f"lake {url!r}: the prefix has an empty, '.' or '..' part; use s3://bucket[/prefix] "
                "with plain folder names"
            )
        _refuse_asset_names(url, prefix.split("/") if prefix else ())
        return S3Store(url, **options)
    if "://" in url and not url.startswith("file://"):
        scheme = url.split("://", 1)[0]
        raise UsageError(
            f"lake {url!r}: scheme {scheme!r} is not supported; use s3:// or a local folder"
        )
    from assetlake.store._local import LocalStore

    path = unquote(url.removeprefix("file://")) if url.startswith("file://") else url
    if not path:
        raise UsageError(
            f"lake {url!r}: no folder path; use file:///absolute/path or a plain folder path"
        )
    _refuse_asset_names(url, Path(path).expanduser().absolute().parts)
    return LocalStore(path)


def normalise_lake_url(url: str) -> str:
    """One spelling per lake, so every way of typing it (``s3://b/``, ``./lake``, a relative path
    from another folder) maps to the right cached catalogue: ``s3://bucket[/prefix]`` without a
    trailing '/', local folders as absolute ``file://`` URIs. Anything else is returned as given
    (:func:`open_store` refuses it with a clear message)."""
    if url.startswith("s3://"):
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        return f"s3://{bucket}/{prefix.strip('/')}".rstrip("/") if bucket else url
    if url.startswith("file://"):
        url = unquote(url.removeprefix("file://"))
    elif not url or "://" in url:
        return url
    return Path(url).expanduser().absolute().as_uri()


def _bounded(call: Callable[[K], T], keys: Iterable[K], workers: int) -> Iterator[tuple[K, T]]:
    """``call`` on each key in a :class:`Pool`, at most ``2 * workers`` submitted ahead; leaving
    early (an interrupt, a failure) cancels what has not started and waits for nothing, not even
    at the process's exit."""
    pool = Pool(workers)
    try:
        pending: dict[Future[T], K] = {}
        for key in keys:
            if len(pending) >= 2 * workers:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield pending.pop(future), future.result()
            pending[pool.submit(call, key)] = key
        for future in as_completed(list(pending)):
            yield pending.pop(future), future.result()
    finally:
        pool.shutdown()


def sha256_file(path: Path) -> str:
    with open(path, "rb") as stream:
        return _hash_stream(stream, hashlib.sha256()).hexdigest()


def _hash_stream(stream: BinaryIO, digest: Any) -> Any:
    while block := stream.read(BLOCK):
        digest.update(block)
    return digest
