"""Data PUTs at little CPU each: awscrt's S3 client (C, its HTTP stack and retries off the GIL).

Measured on 2 cores against ``benchmarks/s3_endpoint.py --writable`` (3,000 PUTs of 64 KiB,
128-256 in flight, 0 and 30 ms a request): botocore costs 1.7-2.0 ms of CPU per PUT under the
GIL; awscrt 0.23-0.27 ms. ``benchmarks/transfer.py`` compares whole uploads with s5cmd. obstore is as cheap but cannot send a CRC32 (its S3
checksum is SHA-256 only), and S3 keeps the CRC32 an object was sent with for ``verify --fast``.

The protocol is boto3's: every PUT is create-only (``If-None-Match: *``, also on the
CompleteMultipartUpload of a multipart upload) and carries ``x-amz-checksum-crc32``. A single
PUT sends the bytes it checksummed; a multipart upload declares CRC32, awscrt sends each part
with its CRC32, and the composite S3 stores afterwards is compared with the one computed here,
so the manifest records the bytes sent. Endpoint, region and credentials stay the user's AWS
configuration: resolved by botocore (which refreshes expiring credentials) and handed over with
every request (for a multipart upload, at every part's signature).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from xml.etree import ElementTree

from assetlake.checksums import FileChecksums, file_checksums
from assetlake.errors import LakeError, ObjectExistsError

#: Connections awscrt keeps open: enough to hide 50 ms at 3,000+ requests/s.
CONNECTIONS = 256
#: What awscrt may buffer for bodies in flight (its minimum): it reads each part ahead of sending
#: it, to put the part's CRC32 in the header. It keeps 128 MiB of that for itself and fills the
#: other 128 MiB with parts read ahead on any large file, whatever the part size: measured, a
#: 1 GiB upload peaks at that plus the process's 58 MB of interpreter, botocore and schemas.
MEMORY_LIMIT = 256 << 20
#: Parts of one multipart upload in flight.
PARTS = 8
#: Bytes of single PUTs in flight: 64 KiB chunks are never limited by it, 1 MiB files at 64.
IN_FLIGHT = 64 << 20
#: HEADs handed to awscrt at once for ``verify --fast`` (it queues those beyond its
#: :data:`CONNECTIONS`): measured at 30 ms under load, 64: 1,300/s, 256: 2,000/s, 512: 2,260/s,
#: 1,024: 1,770/s.
HEADS = 512
#: The longest stored checksum kept from a reply (a CRC32 is 8 base64 characters, a composite
#: adds ``-<parts>``); anything longer is a hostile endpoint's and cannot match anyway.
MAX_CHECKSUM = 32


def botocore_provider(credentials: Any) -> Any:
    """An awscrt credentials provider asking botocore on every signature: botocore returns its
    cached credentials, refreshing them itself before they expire."""
    from awscrt.auth import AwsCredentials, AwsCredentialsProvider

    def current() -> AwsCredentials:
        frozen = credentials.get_frozen_credentials()
        return AwsCredentials(frozen.access_key, frozen.secret_key, frozen.token)

    return AwsCredentialsProvider.new_delegate(current)


class BulkPut:
    """Create-only PUTs of one bucket's keys (relative to ``prefix``), each with its CRC32."""

    def __init__(self, client: Any, credentials: Any, bucket: str, prefix: str, url: str) -> None:
        from awscrt import io as crt_io
        from awscrt import s3

        endpoint = urlsplit(client.meta.endpoint_url)
        region = client.meta.region_name or "us-east-1"
        self.url = url
        self.prefix = prefix
        # As boto3 addresses buckets: virtual-hosted on AWS (unless the name has dots, which its
        # certificate cannot cover), path-style on any other endpoint.
        base = endpoint.path.rstrip("/")
        if endpoint.netloc.endswith(".amazonaws.com") and "." not in bucket:
            self.host, self.path = f"{bucket}.{endpoint.netloc}", f"{base}/"
        else:
            self.host, self.path = endpoint.netloc, f"{base}/{quote(bucket, safe='')}/"
        tls = s3.S3RequestTlsMode.DISABLED if endpoint.scheme == "http" else None
        self.region = region
        self.credentials = credentials
        self._signed: tuple[Any, Any] | None = None  # (botocore's frozen credentials, config)
        self.client = s3.S3Client(
            bootstrap=crt_io.ClientBootstrap.get_or_create_static_default(),
            region=region,
            tls_mode=tls,
            signing_config=s3.create_default_s3_signing_config(
                region=region, credential_provider=botocore_provider(credentials)
            ),
            throughput_target_gbps=100.0,
            max_active_connections_override=CONNECTIONS,
            memory_limit=MEMORY_LIMIT,
        )
        self._flight = threading.Condition()
        self._bytes = 0

    def signing(self) -> Any:
        """A signing config for one request with the credentials botocore gives now (it
        refreshes expiring ones itself, minutes before they expire), through a static provider:
        awscrt then signs without calling into Python, a GIL hand-off per request on the thread
        that does the I/O. Rebuilt when botocore's credentials change. Multipart uploads, which
        may outlive any credentials, keep the client's provider, which asks botocore at every
        part's signature."""
        frozen = self.credentials.get_frozen_credentials()
        signed = self._signed
        if signed is None or signed[0] != frozen:
            from awscrt.auth import AwsCredentialsProvider
            from awscrt.s3 import create_default_s3_signing_config

            provider = AwsCredentialsProvider.new_static(
                frozen.access_key, frozen.secret_key, frozen.token
            )
            config = create_default_s3_signing_config(
                region=self.region, credential_provider=provider
            )
            signed = self._signed = (frozen, config)
        return signed[1]

    def put_file(
        self, key: str, path: Path, part_size: int, progress: Callable[[int], None] | None
    ) -> FileChecksums:
        """A create-only upload of ``path``: one PUT up to ``part_size`` bytes, else a multipart
        upload in ``part_size`` parts, each with its CRC32. For one PUT the CRC32 of the read
        that checksummed the file goes in the header, so S3 refuses other bytes; a multipart
        upload is checksummed while awscrt sends it, and the caller compares the composite S3
        stored. ObjectExistsError when the key exists."""
        from awscrt import s3

        size = path.stat().st_size
        if size <= part_size:
            with self._budget(size):
                found = file_checksums(path, None)
                sent: Future[None] = Future()
                self._send(key, _single(size, found), path, part_size, _settle(sent), None, None)
                sent.result()
            if progress:
                progress(size)
            return found
        config = s3.S3ChecksumConfig(
            algorithm=s3.S3ChecksumAlgorithm.CRC32, location=s3.S3ChecksumLocation.HEADER
        )
        sent = Future()
        self._send(
            key, [("Content-Length", str(size))], path, part_size, _settle(sent), config, progress
        )
        try:
            return file_checksums(path, part_size)
        finally:
            sent.result()  # never leave a request behind, whatever the read did

    def put_many(
        self, files: Iterable[tuple[str, Path, int]], part_size: int, inflight: int
    ) -> Iterator[tuple[str, FileChecksums | LakeError]]:
        """Single PUTs of ``(key, path, size)`` files of at most ``part_size``, up to ``inflight``
        at once and :data:`IN_FLIGHT` bytes, sent from this thread with no thread waiting on
        any request: ``(key, checksums or the error that refused it)`` as each answer comes.
        Measured at 30 ms a request (10,000 x 64 KiB): a thread blocked on each request gave
        1,290 PUTs/s at 0.56 ms of CPU each, this 3,560/s at 0.25 ms. Leaving early cancels the
        requests still running and waits for their end, so none outlives the upload."""
        answers: queue.SimpleQueue[tuple[int, str, FileChecksums | LakeError, int]] = (
            queue.SimpleQueue()
        )
        running: dict[int, Any] = {}  # by the order sent: keys may repeat
        owed = 0  # answers still to come
        held = 0

        def take() -> tuple[str, FileChecksums | LakeError]:
            nonlocal owed, held
            number, key, answer, share = answers.get()
            owed -= 1
            held -= share
            running.pop(number, None)
            return key, answer

        try:
            for number, (key, path, size) in enumerate(files):
                share = min(size, IN_FLIGHT)
                while owed and (owed >= inflight or held + share > IN_FLIGHT):
                    yield take()
                found = file_checksums(path, None)
                done = functools.partial(_answered, answers, number, key, found, share)
                owed += 1
                held += share
                running[number] = self._send(key, _single(size, found), path, part_size, done)
            while owed:
                yield take()
        finally:
            for request in list(running.values()):
                request.cancel()
            while owed:  # cancelled requests end at once
                take()

    def _ended(
        self,
        key: str,
        then: Callable[[LakeError | None], None],
        error: Exception | None = None,
        **reply: Any,
    ) -> None:
        """awscrt's end of a PUT, on its own thread: ``then`` gets None or the error's line."""
        then(None if error is None else self._error(key, error, reply))

    def stored_checksums(
        self, keys: Iterable[str], inflight: int | None = None
    ) -> Iterator[tuple[str, tuple[int, str | None] | None]]:
        """``(key, (size, stored CRC32 or None) or None when missing)`` for every key, in
        completion order: a HEAD with checksum mode each, no data read, ``inflight`` (default
        :data:`HEADS`) at once (botocore's HEAD costs ~1.7 ms of CPU under the GIL, this one a
        fraction of it)."""
        keys = list(keys)
        pending = iter(keys)
        answers: queue.SimpleQueue[tuple[str, Any, LakeError | None]] = queue.SimpleQueue()
        for key in itertools.islice(pending, inflight or HEADS):
            self._head(key, answers)
        for _ in keys:
            key, answer, error = answers.get()
            following = next(pending, None)
            if following is not None:
                self._head(following, answers)
            if error is not None:
                raise error
            yield key, answer

    def _head(
        self, key: str, answers: queue.SimpleQueue[tuple[str, Any, LakeError | None]]
    ) -> None:
        from awscrt import http, s3

        request = http.HttpRequest(
            "HEAD",
            self.path + quote(self.prefix + key, safe="/~"),
            http.HttpHeaders([("Host", self.host), ("x-amz-checksum-mode", "ENABLED")]),
        )
        found: list[tuple[str, str]] = []

        def on_headers(status_code: int, headers: list[tuple[str, str]], **_: Any) -> None:
            found.extend(headers)

        def on_done(error: Exception | None = None, **reply: Any) -> None:
            if error is None:
                answers.put((key, _size_and_crc(dict((k.lower(), v) for k, v in found)), None))
            elif reply.get("status_code") == 404:
                answers.put((key, None, None))
            else:
                answers.put((key, None, self._error(key, error, reply, "run the verify again")))

        self.client.make_request(
            type=s3.S3RequestType.DEFAULT,
            operation_name="HeadObject",
            request=request,
            signing_config=self.signing(),
            on_headers=on_headers,
            on_done=on_done,
        )

    @contextlib.contextmanager
    def _budget(self, size: int) -> Iterator[None]:
        """Hold ``size`` bytes of :data:`IN_FLIGHT` while a single PUT runs (awscrt buffers
        each body), so memory stays flat however many files are sent at once."""
        size = min(size, IN_FLIGHT)
        with self._flight:
            self._flight.wait_for(lambda: self._bytes + size <= IN_FLIGHT)
            self._bytes += size
        try:
            yield
        finally:
            with self._flight:
                self._bytes -= size
                self._flight.notify_all()

    def _send(
        self,
        key: str,
        headers: list[tuple[str, str]],
        path: Path,
        part_size: int,
        on_done: Callable[[LakeError | None], None],
        checksum: Any = None,
        progress: Callable[[int], None] | None = None,
    ) -> Any:
        """Start a create-only PUT of ``path`` (multipart beyond ``part_size``); ``on_done``
        gets awscrt's ``error`` and reply. A single PUT is signed with :meth:`signing`; a
        multipart upload, with the client's provider and :data:`PARTS` parts at once. Returns
        awscrt's request (it can be cancelled)."""
        from awscrt import http, s3

        request = http.HttpRequest(
            "PUT",
            self.path + quote(self.prefix + key, safe="/~"),
            http.HttpHeaders([("Host", self.host), ("If-None-Match", "*"), *headers]),
        )
        single = checksum is None
        return self.client.make_request(
            type=s3.S3RequestType.PUT_OBJECT,
            request=request,
            send_filepath=str(path),
            signing_config=self.signing() if single else None,
            checksum_config=checksum,
            part_size=part_size,
            multipart_upload_threshold=part_size,
            max_active_connections_override=None if single else PARTS,
            on_done=functools.partial(self._ended, key, on_done),
            on_progress=(lambda progress_bytes, **_: progress(progress_bytes))
            if progress
            else None,
        )

    def _error(
        self, key: str, error: Exception, reply: dict[str, Any], again: str = "run the upload again"
    ) -> LakeError:
        """One line naming the object, from the S3 error code awscrt passes on; ``again`` says
        what to do after a transient error."""
        where = f"{self.url}/{key}"
        status = reply.get("status_code")
        code = _code(reply.get("error_body"))
        if status == 412 or code == "PreconditionFailed":
            return ObjectExistsError(f"object {where} already exists")
        if code == "NoSuchBucket":
            return LakeError(f"lake {self.url}: the bucket does not exist; create it or fix --lake")
        if status == 403:
            return LakeError(
                f"{where}: access denied ({code or status}); check AWS_PROFILE / "
                "AWS_ACCESS_KEY_ID and the bucket policy"
            )
        if status:
            return LakeError(f"{where}: S3 error {code or status}; {again}")
        return LakeError(
            f"lake {self.url}: cannot reach S3 ({getattr(error, 'name', type(error).__name__)}); "
            "check AWS_ENDPOINT_URL and the network"
        )


def _single(size: int, found: FileChecksums) -> list[tuple[str, str]]:
    """The headers of a single PUT of ``size`` bytes whose CRC32 is ``found``'s."""
    return [
        ("Content-Length", str(size)),
        ("x-amz-sdk-checksum-algorithm", "CRC32"),  # as boto3 sends it (moto needs it)
        ("x-amz-checksum-crc32", found.crc32),
    ]


def _settle(future: Future[None]) -> Callable[[LakeError | None], None]:
    """An end of a PUT that settles ``future``."""

    def settle(error: LakeError | None) -> None:
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)

    return settle


def _answered(
    answers: queue.SimpleQueue[tuple[int, str, FileChecksums | LakeError, int]],
    number: int,
    key: str,
    found: FileChecksums,
    share: int,
    error: LakeError | None,
) -> None:
    """An end of one of :meth:`BulkPut.put_many`'s PUTs: its answer, for the sending thread."""
    answers.put((number, key, found if error is None else error, share))


def _size_and_crc(headers: dict[str, str]) -> tuple[int, str | None]:
    """Size and stored CRC32 from a HEAD's headers, bounded and typed (a size that is no
    number reads as -1, which no manifest records)."""
    length = headers.get("content-length", "")
    crc = headers.get("x-amz-checksum-crc32")
    return (
        int(length) if length.isdigit() and len(length) < 20 else -1,
        crc if crc and len(crc) <= MAX_CHECKSUM else None,
    )


def _code(body: bytes | None) -> str:
    """The ``<Code>`` of an S3 error body, or ''."""
    if not body:
        return ""
    try:
        found = ElementTree.fromstring(body).findtext("Code")
    except ElementTree.ParseError:
        return ""
    return (found or "")[:64]
