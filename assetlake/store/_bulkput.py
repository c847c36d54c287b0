"""Data PUTs at little CPU each: awscrt's S3 client (C, its HTTP stack and retries off the GIL).

Measured at 30 ms a request on 2 cores against ``benchmarks/s3_endpoint.py --writable``
(``benchmarks/transfer.py``): botocore costs 1.7-2.0 ms of CPU per PUT under the GIL; awscrt
0.23-0.27 ms, 64 KiB bodies included. obstore is as cheap but cannot send a CRC32 (its S3
checksum is SHA-256 only), and S3 keeps the CRC32 an object was sent with for ``verify --fast``.

The protocol is boto3's: every PUT is create-only (``If-None-Match: *``, also on the
CompleteMultipartUpload of a multipart upload) and carries ``x-amz-checksum-crc32``. A single
PUT sends the bytes it checksummed; a multipart upload declares CRC32, awscrt sends each part
with its CRC32, and the composite S3 stores afterwards is compared with the one computed here,
so the manifest records the bytes sent. Endpoint, region and credentials stay the user's AWS
configuration: resolved by botocore (which refreshes expiring credentials) and handed over on
every signature.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from xml.etree import ElementTree

from assetlake.checksums import Checksummer, FileChecksums
from assetlake.errors import LakeError, ObjectExistsError
from assetlake.store import BLOCK

#: Connections awscrt keeps open: enough to hide 50 ms at 3,000+ requests/s.
CONNECTIONS = 256
#: What awscrt may buffer for parts in flight (its minimum is 1 GiB for large objects; parts
#: are buffered only for multipart uploads, at most ``CONNECTIONS`` of them).
MEMORY_LIMIT = 1 << 30


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

        if credentials is None:
            raise LakeError(
                f"lake {url}: no AWS credentials; set AWS_PROFILE or AWS_ACCESS_KEY_ID/"
                "AWS_SECRET_ACCESS_KEY"
            )
        endpoint = urlsplit(client.meta.endpoint_url)
        region = client.meta.region_name or "us-east-1"
        self.url = url
        self.prefix = prefix
        # Path-style addressing works for every endpoint and any bucket name (dots included).
        self.host = endpoint.netloc
        self.path = f"{endpoint.path.rstrip('/')}/{quote(bucket, safe='')}/"
        tls = s3.S3RequestTlsMode.DISABLED if endpoint.scheme == "http" else None
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

    def put(self, key: str, data: bytes, crc: str) -> None:
        """One create-only PUT of ``data`` (whose CRC32 is ``crc``); ObjectExistsError on 412."""
        headers = [
            ("Content-Length", str(len(data))),
            ("x-amz-sdk-checksum-algorithm", "CRC32"),  # as boto3 sends it (moto needs it)
            ("x-amz-checksum-crc32", crc),
        ]
        self._send(key, headers, body=io.BytesIO(data)).result()

    def put_file(
        self, key: str, path: Path, part_size: int, progress: Callable[[int], None] | None
    ) -> FileChecksums:
        """A create-only multipart upload of ``path`` in ``part_size`` parts, each with its CRC32;
        the file's checksums are computed while awscrt sends it and checked against the
        composite S3 stored (a file that changed meanwhile is refused)."""
        from awscrt import s3

        config = s3.S3ChecksumConfig(
            algorithm=s3.S3ChecksumAlgorithm.CRC32, location=s3.S3ChecksumLocation.HEADER
        )
        sent = self._send(
            key,
            [("Content-Length", str(path.stat().st_size))],
            filepath=path,
            checksum=config,
            part_size=part_size,
            progress=progress,
        )
        summer = Checksummer(part_size)
        try:
            with open(path, "rb") as stream:
                while block := stream.read(BLOCK):
                    summer.update(block)
        finally:
            sent.result()  # never leave a request behind, whatever the read did
        return summer.result()

    def _send(
        self,
        key: str,
        headers: list[tuple[str, str]],
        *,
        body: io.BytesIO | None = None,
        filepath: Path | None = None,
        checksum: Any = None,
        part_size: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> Future[None]:
        from awscrt import http, s3

        full = self.prefix + key
        request = http.HttpRequest(
            "PUT",
            self.path + quote(full, safe="/~"),
            http.HttpHeaders([("Host", self.host), ("If-None-Match", "*"), *headers]),
            body,
        )
        done: Future[None] = Future()

        def on_done(error: Exception | None = None, **reply: Any) -> None:
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(self._error(key, error, reply))

        self.client.make_request(
            type=s3.S3RequestType.PUT_OBJECT,
            request=request,
            send_filepath=str(filepath) if filepath else None,
            checksum_config=checksum,
            part_size=part_size,
            multipart_upload_threshold=part_size,
            on_done=on_done,
            on_progress=(lambda progress_bytes, **_: progress(progress_bytes)) if progress else None,
        )
        return done

    def _error(self, key: str, error: Exception, reply: dict[str, Any]) -> LakeError:
        """One line naming the object, from the S3 error code awscrt passes on."""
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
            return LakeError(f"{where}: S3 error {code or status}; run the upload again")
        return LakeError(
            f"lake {self.url}: cannot reach S3 ({getattr(error, 'name', type(error).__name__)}); "
            "check AWS_ENDPOINT_URL and the network"
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
