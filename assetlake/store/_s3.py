"""A lake in an S3 bucket, through botocore (requests), the bulk paths (many GETs through obstore,
data PUTs through awscrt: ``_bulk.py``, ``_bulkput.py``) and s3fs (zarr/pynwb reading in place).

Endpoint, region and credentials come from the standard AWS settings (``AWS_ENDPOINT_URL[_S3]``,
``AWS_PROFILE``, ``AWS_ACCESS_KEY_ID``...). botocore's "standard" retry mode retries throttling,
5xx and dropped connections with exponential backoff (awscrt's standard retries do the same for
the bulk PUTs), so no retry loop is written here.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import math
import re
import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import as_completed
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    ParamValidationError,
)

from assetlake.checksums import FileChecksums, crc32_text, same_composite
from assetlake.errors import LakeError, ObjectExistsError, UsageError
from assetlake.store import (
    ASSET_MARKERS,
    ObjectInfo,
    ProgressCallback,
    Store,
    normalise_lake_url,
    plain_key,
    safe_key,
    safe_prefix,
    streams,
)
from assetlake.store._listing import lean_session
from assetlake.store._pool import Pool

if TYPE_CHECKING:
    from assetlake.store._bulk import Bulk
    from assetlake.store._bulkput import BulkPut

MiB = 1 << 20
MAX_PARTS = 10_000
MIN_PART = 5 * MiB
#: Keys S3 lists in one page at most.
PAGE = 1000
#: Pages :meth:`S3Store.list_expected` reads at once (32,000 keys a round trip).
LISTERS = 32
_MISSING = {"NoSuchKey", "404", "NotFound"}
#: Bucket names S3 accepts (today's rule, plus the upper case and '_' of older us-east-1 buckets).
_BUCKET = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,253}[A-Za-z0-9])?")


def part_size_for(size: int, part_size: int) -> int:
    """The part size used for a file of ``size`` bytes: ``part_size``, kept within S3's limits
    (5 MiB to 10,000 parts). Deterministic, so a resumed upload can recompute multipart ETags."""
    return max(part_size, MIN_PART, math.ceil(size / MAX_PARTS / MiB) * MiB)


def s3_etag(path: Path, part_size: int) -> str:
    """The ETag S3 gives ``path`` uploaded with ``part_size`` parts (MD5, or MD5 of part MD5s)."""
    size = path.stat().st_size
    with open(path, "rb") as stream:
        if size <= part_size:
            return hashlib.md5(stream.read()).hexdigest()
        parts = [hashlib.md5(block).digest() for block in iter(lambda: stream.read(part_size), b"")]
    return f"{hashlib.md5(b''.join(parts)).hexdigest()}-{len(parts)}"


def crc32(data: Any) -> str:
    """The CRC32 S3 checks a body against (``x-amz-checksum-crc32``)."""
    return crc32_text(zlib.crc32(data))


class S3Store(Store):
    """``s3://bucket[/prefix]``; data files go through the bulk PUT path (awscrt), files over
    ``part_size`` as multipart uploads. Every object and part carries a CRC32 of its bytes,
    which S3 checks on receipt; over HTTPS that checksum also spares botocore its SHA-256 of
    each signed body."""

    def __init__(self, url: str, *, part_size: int = 8 * MiB) -> None:
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise LakeError(f"lake {url!r}: no bucket name; use s3://bucket[/prefix]")
        if not _BUCKET.fullmatch(bucket):
            raise UsageError(
                f"lake {url!r}: {bucket!r} is not a valid bucket name (letters, digits, '.' and '-', "
                "starting and ending with a letter or digit); fix --lake"
            )
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = normalise_lake_url(url)
        self.part_size = part_size
        config = Config(
            retries={"mode": "standard", "max_attempts": 8},
            max_pool_connections=64,
            request_checksum_calculation="when_required",  # we send our own CRC32
            response_checksum_validation="when_required",
        )
        # botocore without boto3: nothing here uses boto3's additions, which cost 3 MB.
        session = lean_session()
        # Timestamps stay text: nothing here reads them, and parsing one per listed object
        # (dateutil) costs more CPU than the rest of a 10,000-object listing.
        session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=str)
        self._session = session
        self.client = session.create_client(
            "s3", config=config, region_name=session.get_config_variable("region") or "us-east-1"
        )

    # -- helpers ---------------------------------------------------------------------------
    def _key(self, key: str) -> str:
        return self.prefix + safe_key(key)

    @contextlib.contextmanager
    def _errors(self, key: str = "") -> Iterator[None]:
        """Turn botocore failures into one-line LakeErrors that say what to do next."""
        where = f"{self.url}/{key}" if key else self.url
        try:
            yield
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in ("PreconditionFailed", "412") or status == 412:
                raise ObjectExistsError(f"object {where} already exists") from None
            if code == "NoSuchBucket":
                raise LakeError(
                    f"lake {self.url}: bucket {self.bucket!r} does not exist; create it or fix --lake"
                ) from None
            if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                raise LakeError(
                    f"{where}: access denied ({code}); check AWS_PROFILE / AWS_ACCESS_KEY_ID and the "
                    "bucket policy"
                ) from None
            raise LakeError(f"{where}: S3 error {code or status}: {error}") from None
        except ParamValidationError as error:
            reason = " ".join(str(error).split())
            raise LakeError(f"{where}: S3 refused the request ({reason}); fix --lake") from None
        except NoCredentialsError:
            raise self._no_credentials() from None
        except BotoCoreError as error:
            raise LakeError(
                f"lake {self.url}: cannot reach S3 ({error}); check AWS_ENDPOINT_URL and the network"
            ) from None

    @staticmethod
    def _missing(error: ClientError) -> bool:
        return error.response.get("Error", {}).get("Code", "") in _MISSING

    # -- Store ----------------------------------------------------------------------------
    def check(self) -> None:
        with self._errors():
            self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix, MaxKeys=1)
        parts = self.prefix.strip("/").split("/") if self.prefix else []
        for depth in range(len(parts), 0, -1):
            folder = "/".join(parts[:depth])
            for marker in ASSET_MARKERS:
                with self._errors(), contextlib.suppress(ClientError):
                    self.client.head_object(Bucket=self.bucket, Key=f"{folder}/{marker}")
                    raise self._inside_asset(f"s3://{self.bucket}/{folder}", marker)

    def create(self) -> None:
        with self._errors(), contextlib.suppress(self.client.exceptions.BucketAlreadyOwnedByYou):
            self.client.create_bucket(Bucket=self.bucket)

    def get(self, key: str) -> bytes | None:
        with self._errors(key):
            try:
                return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
            except ClientError as error:
                if self._missing(error):
                    return None
                raise

    def head(self, key: str) -> ObjectInfo | None:
        with self._errors(key):
            try:
                meta = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            except ClientError as error:
                if self._missing(error):
                    return None
                raise
        return ObjectInfo(key, meta["ContentLength"], meta["ETag"].strip('"'))

    stores_checksums = True

    def parts_for(self, size: int) -> int | None:
        part_size = part_size_for(size, self.part_size)
        return part_size if size > part_size else None

    def stored_checksum(self, key: str) -> tuple[int, str | None] | None:
        with self._errors(key):
            try:
                meta = self.client.head_object(
                    Bucket=self.bucket, Key=self._key(key), ChecksumMode="ENABLED"
                )
            except ClientError as error:
                if self._missing(error):
                    return None
                raise
        crc = meta.get("ChecksumCRC32")
        return meta["ContentLength"], crc if isinstance(crc, str) else None

    def stored_checksums(
        self, keys: Iterable[str], workers: int | None = None
    ) -> Iterator[tuple[str, tuple[int, str | None] | None]]:
        """Through awscrt (obstore's HEAD returns no checksum headers), ``workers`` HEADs in
        flight (default :data:`~assetlake.store._bulkput.HEADS`)."""
        return self._bulk_put.stored_checksums(map(safe_key, keys), workers)

    def put(self, key: str, data: bytes, *, overwrite: bool = False) -> None:
        self._put(key, data, crc32(data), overwrite)

    def _put(self, key: str, data: bytes, crc: str, overwrite: bool) -> None:
        self._check_writable(key, overwrite)
        extra = {} if overwrite else {"IfNoneMatch": "*"}
        with self._errors(key):
            self.client.put_object(
                Bucket=self.bucket,
                Key=self._key(key),
                Body=data,
                ChecksumAlgorithm="CRC32",
                ChecksumCRC32=crc,
                **extra,
            )

    def put_file(
        self, key: str, path: Path, *, progress: ProgressCallback | None = None
    ) -> FileChecksums:
        """Through the bulk PUT path (awscrt): a single PUT of the bytes checksummed here, or a
        multipart upload whose composite CRC32, as S3 stored it, must equal the one computed
        from the file (else the file changed while it was sent, and the object is removed)."""
        self._check_writable(key, overwrite=False)
        size = path.stat().st_size
        part_size = part_size_for(size, self.part_size)
        try:
            found = self._bulk_put.put_file(safe_key(key), path, part_size, progress)
        except LakeError:
            _same_size(path, size)  # a read came up short: say so, not the S3 error
            raise
        if found.crc32_composite is not None:
            stored = self.stored_checksum(key) or (0, None)
            if not same_composite(stored[1], found.crc32_composite):
                self.discard(key)  # sent other bytes than were checksummed: nothing is left
                _same_size(path, size)
                raise UsageError(
                    f"{path}: changed while being uploaded; let whatever writes it finish, "
                    "then run the upload again"
                )
        return found

    def put_files(
        self,
        files: Iterable[tuple[str, Path]],
        workers: int | None = None,
        *,
        progress: ProgressCallback | None = None,
    ) -> Iterator[tuple[str, FileChecksums | LakeError]]:
        """Files of one part go through :meth:`BulkPut.put_many`, ``workers`` requests in flight
        (default :data:`~assetlake.store._bulkput.CONNECTIONS`) from this thread; larger ones
        through :meth:`put_file` meanwhile, on :func:`~assetlake.store.streams` threads (each
        sends :data:`~assetlake.store._bulkput.PARTS` parts at once)."""
        from assetlake.store._bulkput import CONNECTIONS

        small: list[tuple[str, Path, int]] = []
        large: list[tuple[str, Path]] = []
        for key, path in files:
            size = path.stat().st_size
            if self.parts_for(size) is None:
                small.append((safe_key(key), path, size))
            else:
                large.append((key, path))
        sizes = {key: (path, size) for key, path, size in small}
        with Pool(streams(workers)) as pool:
            big = {pool.submit(self._put_or_refusal, item, progress): item[0] for item in large}
            one_part = part_size_for(0, self.part_size)  # the threshold parts_for applied
            sent = self._bulk_put.put_many(small, one_part, workers or CONNECTIONS)
            with contextlib.closing(sent):
                for key, answer in sent:
                    if isinstance(answer, LakeError):
                        _same_size(*sizes[key])  # a read came up short: say so, not S3's error
                    elif progress:
                        progress(sizes[key][1])
                    yield key, answer
            for future in as_completed(big):
                yield big[future], future.result()

    def _no_credentials(self) -> LakeError:
        return LakeError(
            f"lake {self.url}: no AWS credentials; set AWS_PROFILE or AWS_ACCESS_KEY_ID/"
            "AWS_SECRET_ACCESS_KEY"
        )

    def _credentials(self) -> Any:
        """botocore's resolved (and refreshing) credentials, which the bulk clients sign with."""
        with self._errors():
            credentials = self._session.get_credentials()
        if credentials is None:
            raise self._no_credentials()
        return credentials

    @functools.cached_property
    def _bulk_put(self) -> BulkPut:
        from assetlake.store._bulkput import BulkPut

        return BulkPut(self.client, self._credentials(), self.bucket, self.prefix, self.url)

    @functools.cached_property
    def _bulk(self) -> Bulk:
        from assetlake.store._bulk import Bulk

        return Bulk(self.client, self._credentials(), self.bucket, self.prefix, self.url)

    def get_many(
        self, keys: Iterable[str], workers: int | None = None
    ) -> Iterator[tuple[str, bytes | None]]:
        """Through the bulk path (obstore), ``workers`` requests in flight (default
        :data:`~assetlake.store._bulk.INFLIGHT`)."""
        return self._bulk.get_many(map(safe_key, keys), workers)

    def head_many(
        self, keys: Iterable[str], workers: int = 32
    ) -> Iterator[tuple[str, ObjectInfo | None]]:
        return self._bulk.head_many(map(safe_key, keys))

    def list_many(
        self, prefixes: Iterable[str], workers: int = 32
    ) -> Iterator[tuple[str, list[ObjectInfo]]]:
        """Folders through the bulk path (obstore); any other prefix, or a folder holding a key
        obstore cannot parse (an empty, '.' or '..' part), is listed here (which skips such
        keys)."""
        for prefix, found in self._bulk.list_many(map(safe_prefix, prefixes), workers):
            yield prefix, found if found is not None else list(self.list(prefix))

    def list_dirs_parallel(self, workers: int = 32, page_size: int = 1000) -> list[str]:
        from assetlake.store._ranges import list_in_ranges

        def page(after: str) -> tuple[list[str], bool]:
            options = {"StartAfter": self.prefix + after} if after else {}
            with self._errors():
                reply = self.client.list_objects_v2(
                    Bucket=self.bucket,
                    Prefix=self.prefix,
                    Delimiter="/",
                    MaxKeys=page_size,
                    **options,
                )
            start = len(self.prefix)
            entries = [item["Key"][start:] for item in reply.get("Contents", ())]
            entries += [common["Prefix"][start:] for common in reply.get("CommonPrefixes", ())]
            return sorted(entries), bool(reply.get("IsTruncated"))

        return [name.rstrip("/") for name in list_in_ranges(page, workers) if name.endswith("/")]

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + safe_prefix(prefix)
        )
        with self._errors(prefix):
            for page in pages:
                yield from self._objects(page.get("Contents", ()))

    def _objects(self, items: Iterable[dict[str, Any]]) -> Iterator[ObjectInfo]:
        """A listing page's objects, keys relative to the lake."""
        start = len(self.prefix)
        for item in items:
            key = item["Key"][start:]
            if plain_key(key):  # a key no file system could hold is no object of ours
                yield ObjectInfo(key, item["Size"], item["ETag"].strip('"'))

    def list_expected(self, prefix: str, keys: Iterable[str]) -> Iterator[ObjectInfo]:
        """The plain listing, read as ranges between every thousandth expected key at once
        (each range is one page when it holds what was expected, and is paged on when it holds
        more): an upload's check of its 10,000 objects costs one round trip, not ten pages in
        turn. Same objects, same order."""
        prefix = safe_prefix(prefix)
        expected = sorted(key for key in keys if key.startswith(prefix))
        bounds = expected[PAGE - 1 :: PAGE]
        if not bounds:
            yield from self.list(prefix)
            return
        ranges = list(zip(["", *bounds], [*bounds, None], strict=True))
        with Pool(min(len(ranges), LISTERS), "assetlake-list") as pool:
            for part in pool.map(lambda bounds: self._range(prefix, *bounds), ranges):
                yield from part

    def _range(self, prefix: str, after: str, upto: str | None) -> list[ObjectInfo]:
        """The objects under ``prefix`` after ``after`` up to ``upto`` (None: to the end); a
        page that reaches ``upto`` ends the range, so a range holding what was expected is one
        request."""
        found: list[ObjectInfo] = []
        start = len(self.prefix)
        while True:
            options = {"StartAfter": self.prefix + after} if after else {}
            with self._errors(prefix):
                page = self.client.list_objects_v2(
                    Bucket=self.bucket, Prefix=self.prefix + prefix, MaxKeys=PAGE, **options
                )
            items = page.get("Contents", [])
            inside = [i for i in items if upto is None or i["Key"][start:] <= upto]
            found += self._objects(inside)
            if len(inside) < len(items) or not page.get("IsTruncated") or not items:
                return found
            after = items[-1]["Key"][start:]
            if after == upto:
                return found

    def swap(self, key: str, old: bytes, new: bytes) -> bool:
        info = self.head(key)
        if info is None or self.get(key) != old:
            return False
        try:
            with self._errors(key):
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=self._key(key),
                    Body=new,
                    ChecksumAlgorithm="CRC32",
                    ChecksumCRC32=crc32(new),
                    IfMatch=f'"{info.etag}"',
                )
        except ObjectExistsError:  # a 412: someone else replaced it first
            return self.get(key) == new  # or our own write, whose response was lost
        return True

    def discard(self, key: str) -> None:
        with self._errors(key):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def _incomplete(self, prefix: str) -> Iterator[dict[str, Any]]:
        pages = self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=self.prefix + safe_prefix(prefix)
        )
        with self._errors(prefix):
            for page in pages:
                yield from page.get("Uploads", ())

    def leftovers(self, prefix: str) -> list[str]:
        return sorted(item["Key"][len(self.prefix) :] for item in self._incomplete(prefix))

    def clean_leftovers(self, prefix: str) -> int:
        uploads = list(self._incomplete(prefix))
        for item in uploads:
            with self._errors(item["Key"]), contextlib.suppress(ClientError):
                self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=item["Key"], UploadId=item["UploadId"]
                )
        return len(uploads)

    def list_dirs(self, prefix: str = "") -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + safe_prefix(prefix), Delimiter="/"
        )
        start = len(self.prefix + prefix)
        with self._errors(prefix):
            names = (
                common["Prefix"][start:].removesuffix("/")
                for page in pages
                for common in page.get("CommonPrefixes", ())
            )
            return [name for name in names if plain_key(name)]

    def open(self, key: str) -> BinaryIO:
        with self._errors(key):
            try:
                return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
            except ClientError as error:
                if self._missing(error):
                    raise FileNotFoundError(f"{self.url}/{key}") from None
                raise

    def same_content(self, info: ObjectInfo, path: Path) -> bool:
        size = path.stat().st_size
        if info.size != size or info.etag is None:
            return False
        part_size = part_size_for(size, self.part_size)
        if "-" in info.etag:  # multipart: recover the uploader's part size from the part count
            count = int(info.etag.rsplit("-", 1)[1])
            if math.ceil(size / part_size) != count:
                part_size = math.ceil(size / count / MiB) * MiB
        return s3_etag(path, part_size) == info.etag

    @property
    def storage_options(self) -> dict[str, Any]:
        endpoint = self.client.meta.endpoint_url
        if endpoint and not endpoint.endswith(".amazonaws.com"):
            return {"client_kwargs": {"endpoint_url": endpoint}}
        return {}

    def fsspec_url(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{self.prefix}{safe_prefix(key)}".rstrip("/")


def _same_size(path: Path, size: int) -> None:
    """Refuse a file whose size is no longer ``size``."""
    if path.stat().st_size != size:
        raise UsageError(
            f"{path}: {'shrank' if path.stat().st_size < size else 'grew'} while being "
            "uploaded; let whatever writes it finish, then run the upload again"
        )
