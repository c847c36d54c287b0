"""A lake in an S3 bucket, through boto3 (requests) and s3fs (zarr/pynwb reading in place).

Endpoint, region and credentials come from the standard AWS settings (``AWS_ENDPOINT_URL[_S3]``,
``AWS_PROFILE``, ``AWS_ACCESS_KEY_ID``...). botocore's "standard" retry mode retries throttling,
5xx and dropped connections with exponential backoff, so no retry loop is written here.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import math
import os
import re
import threading
import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    ParamValidationError,
)

from assetlake.checksums import Checksummer, FileChecksums, crc32_text
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
)
from assetlake.store._listing import lean_session

if TYPE_CHECKING:
    from assetlake.store._bulk import Bulk

MiB = 1 << 20
MAX_PARTS = 10_000
MIN_PART = 5 * MiB
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
    """``s3://bucket[/prefix]``; files over ``part_size`` go up as multipart uploads of
    ``max_workers`` concurrent parts, each streamed from the file, so memory does not grow with
    file size. Every object and part carries a CRC32 of the bytes read, which S3 checks on
    receipt; over HTTPS that checksum also spares botocore its SHA-256 of each signed body."""

    def __init__(self, url: str, *, max_workers: int = 10, part_size: int = 8 * MiB) -> None:
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
        self.max_workers = max_workers
        config = Config(
            retries={"mode": "standard", "max_attempts": 8},
            max_pool_connections=max(64, max_workers * 2),
            request_checksum_calculation="when_required",  # we send our own CRC32
            response_checksum_validation="when_required",
        )
        session = boto3.session.Session(botocore_session=lean_session())
        self._session = session
        self.client = session.client(
            "s3", config=config, region_name=session.region_name or "us-east-1"
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
            raise LakeError(
                f"lake {self.url}: no AWS credentials; set AWS_PROFILE or AWS_ACCESS_KEY_ID/"
                "AWS_SECRET_ACCESS_KEY"
            ) from None
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
        size = path.stat().st_size
        part_size = part_size_for(size, self.part_size)
        if size <= part_size:
            data = path.read_bytes()
            summer = Checksummer(None)
            summer.update(data)
            found = summer.result()
            self._put(key, data, found.crc32, overwrite=False)
            if progress:
                progress(len(data))
            return found
        with self._errors(key):
            upload = self.client.create_multipart_upload(
                Bucket=self.bucket, Key=self._key(key), ChecksumAlgorithm="CRC32"
            )
        upload_id = upload["UploadId"]
        try:
            parts, found = self._upload_parts(key, path, upload_id, part_size, progress)
            with self._errors(key):
                try:
                    self.client.complete_multipart_upload(
                        Bucket=self.bucket,
                        Key=self._key(key),
                        UploadId=upload_id,
                        MultipartUpload={"Parts": parts},
                        IfNoneMatch="*",
                    )
                except ClientError as error:
                    # A retry after a lost answer finds its upload completed: the caller
                    # compares the stored object with the file, as after any 412.
                    code = error.response.get("Error", {}).get("Code")
                    if code != "NoSuchUpload" or self.head(key) is None:
                        raise
                    raise ObjectExistsError(f"object {self.url}/{key} already exists") from None
        except BaseException:
            # Aborting frees the unfinished parts; it never touches a committed object.
            with contextlib.suppress(Exception):
                self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=self._key(key), UploadId=upload_id
                )
            raise
        return found

    def _upload_parts(
        self,
        key: str,
        path: Path,
        upload_id: str,
        part_size: int,
        progress: ProgressCallback | None,
    ) -> tuple[list[dict[str, Any]], FileChecksums]:
        """Read the file once, in order, for its checksums and each part's CRC32; send each part as
        soon as its CRC32 is known, streamed again from its slice of the file (the page cache), so
        no part is held in memory. S3 checks every part against its CRC32, which also catches a
        file that changes under the upload. At most two parts per worker are read ahead of the
        sends, so the second read stays in the cache however large the file."""
        size = path.stat().st_size
        summer = Checksummer(part_size)
        ahead = threading.BoundedSemaphore(2 * self.max_workers)
        failed = threading.Event()  # stop reading ahead once a part has failed
        buffer = memoryview(bytearray(part_size))
        # Leaving the pool waits for parts in flight, before the file they read is closed.
        with (
            open(path, "rb", buffering=0) as stream,
            ThreadPoolExecutor(self.max_workers, thread_name_prefix="assetlake-part") as pool,
        ):

            def send(number: int, start: int, length: int, crc: str) -> dict[str, Any]:
                try:
                    with self._errors(key):
                        reply = self.client.upload_part(
                            Bucket=self.bucket,
                            Key=self._key(key),
                            UploadId=upload_id,
                            PartNumber=number,
                            Body=_FileSlice(stream.fileno(), start, length),
                            ChecksumAlgorithm="CRC32",
                            ChecksumCRC32=crc,
                        )
                except BaseException:
                    failed.set()
                    raise
                finally:
                    ahead.release()
                if progress:
                    progress(length)
                return {"PartNumber": number, "ETag": reply["ETag"], "ChecksumCRC32": crc}

            futures = []
            try:
                for number, start in enumerate(range(0, size, part_size), 1):
                    length = min(part_size, size - start)
                    block = buffer[:length]
                    if os.preadv(stream.fileno(), [block], start) != length:
                        raise UsageError(
                            f"{path}: shrank while being uploaded; let whatever writes it finish, "
                            "then run the upload again"
                        )
                    crc = summer.add_part(block)
                    ahead.acquire()
                    if failed.is_set():
                        break
                    futures.append(pool.submit(send, number, start, length, crc))
                return [future.result() for future in futures], summer.result()
            except BaseException:
                for future in futures:
                    future.cancel()
                raise

    @functools.cached_property
    def _bulk(self) -> Bulk:
        from assetlake.store._bulk import Bulk

        with self._errors():
            credentials = self._session.get_credentials()
        return Bulk(self.client, credentials, self.bucket, self.prefix, self.url)

    def get_many(
        self, keys: Iterable[str], workers: int = 32
    ) -> Iterator[tuple[str, bytes | None]]:
        """Through the bulk path (obstore), which keeps its own requests in flight."""
        return self._bulk.get_many(map(safe_key, keys))

    def head_many(
        self, keys: Iterable[str], workers: int = 32
    ) -> Iterator[tuple[str, ObjectInfo | None]]:
        return self._bulk.head_many(map(safe_key, keys))

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
        start = len(self.prefix)
        with self._errors(prefix):
            for page in pages:
                for item in page.get("Contents", ()):
                    key = item["Key"][start:]
                    if plain_key(key):  # a key no file system could hold is no object of ours
                        yield ObjectInfo(key, item["Size"], item["ETag"].strip('"'))

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


class _FileSlice(io.RawIOBase):
    """Bytes ``[start, start + length)`` of an open file, read on demand with ``pread`` so that
    parts of one file can be sent by several threads at once; seekable, for botocore's retries."""

    def __init__(self, fd: int, start: int, length: int) -> None:
        super().__init__()
        self.fd, self.start, self.length, self.position = fd, start, length, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.length}[whence]
        self.position = max(0, base + offset)
        return self.position

    def read(self, size: int = -1) -> bytes:
        """One ``pread`` per call: http.client and botocore read bodies through here."""
        count = self.length - self.position if size < 0 else min(size, self.length - self.position)
        if count <= 0:
            return b""
        data = os.pread(self.fd, count, self.start + self.position)
        self.position += len(data)
        return data

    def __len__(self) -> int:
        return self.length
