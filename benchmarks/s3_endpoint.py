"""A latency-faithful S3-compatible endpoint on loopback, for benchmarks only.

Real S3 answers each request after 20-50 ms but takes thousands at once; loopback moto answers in
3 ms and tops out near 300 requests/s, so it can show neither latency hiding nor a client's CPU
ceiling. This server answers every request after ``--latency-ms`` (default 30) on one asyncio loop,
so thousands of requests wait concurrently at almost no CPU. It serves:

* a deterministic synthetic lake of ``--assets`` N assets, generated on request, nothing stored:
  9 in 10 committed assetlake assets (claim, manifest, six sidecars, ``metadata.nd.json``, a small
  Zarr), 1 in 10 foreign (sidecars and data, no commit), 1 in 50 an upload in progress (a claim);
* with ``--writable``, the operations the uploader uses, kept in memory: PUT (``If-None-Match``,
  ``If-Match``, CRC32 checked), multipart create/upload-part/complete/abort/list, HEAD with
  checksum headers, DELETE, CreateBucket.

ListObjectsV2 supports prefix, delimiter, continuation tokens, StartAfter and MaxKeys.

    .venv/bin/python benchmarks/s3_endpoint.py --assets 100000 --latency-ms 30
    # prints "listening http://127.0.0.1:PORT" once ready
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import bisect
import functools
import hashlib
import heapq
import json
import re
import secrets
import sys
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from urllib.parse import quote
from xml.sax.saxutils import escape

from assetlake.asset import CLAIM, COMMIT, MANIFEST, consolidate

BUCKET = "synthetic-lake"
SUBJECT0 = 100000
#: Keys never contain this character, so ``prefix + _TOP`` sorts after every key under ``prefix``.
_TOP = "\U0010ffff"
_SUBJECT = re.compile(r"_(\d+)_")
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")


@dataclass
class Obj:
    """One stored object: bytes, ETag (quoted) and the CRC32 (composite for multipart) if sent."""

    data: bytes
    etag: str
    crc32: str | None = None
    modified: float = field(default_factory=time.time)


def _etag(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


def _crc32(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


#: Bodies at least this long are hashed off the loop.
_THREADED = 256 << 10


def _digests(body: bytes) -> tuple[str, str]:
    """A body's ETag and CRC32."""
    return _etag(body), _crc32(body)


def _chunked(headers) -> bool:  # type: ignore[no-untyped-def]
    """Whether a PUT's body is ``aws-chunked`` (streaming SigV4)."""
    return "aws-chunked" in headers.get("Content-Encoding", "") or headers.get(
        "x-amz-content-sha256", ""
    ).startswith("STREAMING")


class SyntheticLake:
    """N assets whose objects are a pure function of the asset's number: nothing is stored."""

    def __init__(self, assets: int, bucket: str = BUCKET) -> None:
        from index import asset_templates  # benchmarks/index.py: realistic sidecars

        self.bucket = bucket
        self.template = asset_templates()
        #: Per (kind, *widths): a template (see files).
        self._templates: dict[tuple[str, int, int], _Template] = {}
        #: The sorted file names of an asset of each kind.
        self.paths = {
            kind: sorted(self.files(self.folder(i)))
            for kind, i in (("committed", 0), ("uploading", 17), ("foreign", 9))
        }
        #: Folder names with their '/', sorted as S3 sorts keys.
        self.folders = sorted(self.folder(i) for i in range(assets))

    def folder(self, index: int) -> str:
        return self.template[0].replace("100000", str(SUBJECT0 + index)) + "/"

    @staticmethod
    def kind(index: int) -> str:
        if index % 50 == 17:
            return "uploading"
        return "foreign" if index % 10 == 9 else "committed"

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one lake per process
    def files(self, folder: str) -> dict[str, bytes]:
        """The objects of one asset folder, relative to it: its kind's template with this asset's
        subject and manifest hash put in (generating a commit document costs 0.5 ms, more than
        serving it, and every GET of a crawl is of another asset)."""
        index = _number(folder)
        key = (self.kind(index), *_widths(index))
        template = self._templates.get(key)
        if template is None:
            template = self._templates[key] = self._template(index)
        return self._from_template(template, index)

    def _template(self, index: int) -> _Template:
        """The generated files of the asset ``index``, checked to give, with the subject and the
        manifest hash replaced, exactly the generated files of another asset of its kind and
        widths (else an empty template: every asset of that shape is generated in full)."""
        files = self._generate(index)
        subject = str(SUBJECT0 + index).encode()
        olds = [subject] + ([_sha256(files[MANIFEST])] if MANIFEST in files else [])
        # One pass over the commit document: a replacement is never replaced again.
        template = _Template(index, files, re.compile(b"|".join(map(re.escape, olds[::-1]))))
        others = (  # the same kind (both kinds repeat every 50) and widths, another subject
            i
            for step in (50, -50)
            for i in range(index + step, max(index + 100 * step, -1), step)
            if _widths(i) == _widths(index)
        )
        other = next(others, None)
        same = other is not None and self._from_template(template, other) == self._generate(other)
        return template if same else _Template(-1, {}, None)

    def _from_template(self, template: _Template, index: int) -> dict[str, bytes]:
        if template.pattern is None:
            return self._generate(index)
        old, new = str(SUBJECT0 + template.index).encode(), str(SUBJECT0 + index).encode()
        name = self.folder(index).rstrip("/")
        made = {path: body.replace(old, new) for path, body in template.files.items()}
        made["ecephys.zarr/.zarray"] = _zarray(index)
        made["ecephys.zarr/0"] = _chunk(name)
        swaps = {old: new}
        if MANIFEST in made:
            made[MANIFEST] = _manifest(name)
            swaps[_sha256(template.files[MANIFEST])] = _sha256(made[MANIFEST])
        if COMMIT in made:
            made[COMMIT] = template.pattern.sub(
                lambda found: swaps[found.group()], template.files[COMMIT]
            )
        return made

    def _generate(self, index: int) -> dict[str, bytes]:
        """The objects of the asset ``index``, generated from the sidecar templates."""
        texts = self.template[1]
        subject = str(SUBJECT0 + index)
        name = self.folder(index).rstrip("/")
        data = {"ecephys.zarr/.zarray": _zarray(index), "ecephys.zarr/0": _chunk(name)}
        kind = self.kind(index)
        files: dict[str, bytes] = dict(data)
        if kind != "uploading":
            files.update({f: t.replace("100000", subject).encode() for f, t in texts.items()})
        if kind != "foreign":
            files[CLAIM] = json.dumps({"claim_version": "2", "name": name}).encode()
        if kind == "committed":
            files[MANIFEST] = _manifest(name)
            sidecars = {f: json.loads(files[f]) for f in texts}
            sizes = {path: len(body) for path, body in files.items()}
            document = consolidate(
                name,
                f"s3://{self.bucket}/{name}",
                "2024-03-02T00:00:00+00:00",
                sidecars,
                hashlib.sha256(files[MANIFEST]).hexdigest(),
                sizes,
                f"{'0' * 64}-{len(sizes)}--{sum(sizes.values())}",  # a well-formed digest
            )
            files[COMMIT] = json.dumps(document, indent=1).encode() + b"\n"
        return files

    def get(self, key: str) -> Obj | None:
        folder, _, path = key.partition("/")
        folder += "/"
        position = bisect.bisect_left(self.folders, folder)
        if position == len(self.folders) or self.folders[position] != folder:
            return None
        body = self.files(folder).get(path)
        return None if body is None else Obj(body, _etag(body), _crc32(body), 0.0)

    def keys_after(self, after: str) -> Iterator[str]:
        """Every key greater than ``after``, in order (file names depend on the kind only)."""
        folders = self.folders
        for position in range(max(0, bisect.bisect_right(folders, after) - 1), len(folders)):
            folder = folders[position]  # (never a slice: this runs once per common prefix)
            if folder + _TOP <= after:
                continue
            for path in self.paths[self.kind(_number(folder))]:
                if (key := folder + path) > after:
                    yield key

    def objects(self) -> Iterator[tuple[str, bytes]]:
        """Every object, for copying the lake into another server (the moto comparison test)."""
        for folder in self.folders:
            for path, body in sorted(self.files(folder).items()):
                yield folder + path, body


@dataclass(frozen=True)
class _Template:
    """A reference asset's number and files, and what to find in its commit document."""

    index: int
    files: dict[str, bytes]
    pattern: re.Pattern[bytes] | None


def _zarray(index: int) -> bytes:
    """The shape, padded to a fixed width (JSON allows it) up to 9,999,999, so that below that an
    asset's sizes depend only on its kind and subject width (see :func:`_widths`)."""
    return b'{"zarr_format": 2, "shape": [%7d]}' % (index + 1)


def _widths(index: int) -> tuple[int, int]:
    """What an asset's sizes depend on besides its kind: the widths of its subject and shape."""
    return len(str(SUBJECT0 + index)), len(_zarray(index))


def _chunk(name: str) -> bytes:
    return hashlib.sha256(name.encode()).digest() * 32


def _manifest(name: str) -> bytes:
    return json.dumps({"manifest_version": "1", "name": name}).encode()


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).hexdigest().encode()


def _number(folder: str) -> int:
    """The asset number a synthetic folder name carries in its subject ID."""
    found = _SUBJECT.search(folder)
    return int(found.group(1)) - SUBJECT0 if found else -1


class Memory:
    """Objects written to the server (``--writable``), kept sorted for listing."""

    def __init__(self) -> None:
        self.objects: dict[str, Obj] = {}
        self.keys: list[str] = []
        self.uploads: dict[str, tuple[str, dict[int, Obj], float]] = {}

    def get(self, key: str) -> Obj | None:
        return self.objects.get(key)

    def put(self, key: str, obj: Obj) -> None:
        if key not in self.objects:
            bisect.insort(self.keys, key)
        self.objects[key] = obj

    def delete(self, key: str) -> None:
        if self.objects.pop(key, None) is not None:
            del self.keys[bisect.bisect_left(self.keys, key)]

    def keys_after(self, after: str) -> Iterator[str]:
        keys = self.keys
        for position in range(bisect.bisect_right(keys, after), len(keys)):
            yield keys[position]


class Endpoint:
    """The HTTP face: path-style S3 requests for one bucket, each answered after ``latency``."""

    def __init__(self, lake: SyntheticLake | None, latency: float, writable: bool) -> None:
        self.lake = lake
        self.bucket = lake.bucket if lake else BUCKET
        self.memory = Memory()
        self.latency = latency
        self.writable = writable
        self.requests = 0
        self.access_keys: set[str] = set()
        #: Body bytes served by GET, per key (benchmarks count the data bytes a verify read).
        self.served: dict[str, int] = {}

    def get(self, key: str) -> Obj | None:
        return self.memory.get(key) or (self.lake.get(key) if self.lake else None)

    def keys_after(self, after: str) -> Iterator[str]:
        sources = [self.memory.keys_after(after)]
        if self.lake:
            sources.append(self.lake.keys_after(after))
        last = None
        for key in heapq.merge(*sources):
            if key != last:
                yield key
            last = key

    async def handle(self, request):  # type: ignore[no-untyped-def]
        from aiohttp import web

        self.requests += 1
        signed = _CREDENTIAL.search(request.headers.get("Authorization", ""))
        if signed:
            self.access_keys.add(signed.group(1))
        if request.path == "/_endpoint/access-keys":  # which credentials signed (tests)
            return web.json_response(sorted(self.access_keys))
        if request.path == "/_endpoint/served":  # body bytes served per key (benchmarks)
            return web.json_response(self.served)
        body = await request.read() if request.can_read_body else b""
        if len(body) >= _THREADED and not _chunked(request.headers):
            # A large body is hashed on another thread (hashlib and zlib let go of the GIL),
            # beside the loop: else hashing caps the endpoint near 200 MiB PUTs a second.
            request["digests"] = await asyncio.get_running_loop().run_in_executor(
                None, _digests, body
            )
        if self.latency:
            await asyncio.sleep(self.latency)
        try:
            return self.route(request, body)
        except Reply as reply:
            return web.Response(status=reply.status, body=reply.body, headers=reply.headers)

    def route(self, request, body: bytes):  # type: ignore[no-untyped-def]
        from aiohttp import web

        path = request.path.lstrip("/")
        bucket, _, key = path.partition("/")
        query = request.query
        method = request.method
        if bucket != self.bucket:
            if method == "PUT" and not key and self.writable:
                self.bucket = bucket
                return web.Response(status=200)
            raise error(404, "NoSuchBucket", bucket)
        if not key:
            if method in ("PUT", "HEAD"):
                return web.Response(status=200)
            if "uploads" in query:
                return xml(self.list_uploads(query.get("prefix", "")))
            if method == "GET":
                return xml(self.list_v2(query))
            raise error(405, "MethodNotAllowed", bucket)
        if method in ("GET", "HEAD"):
            return self.read(request, key, head=method == "HEAD")
        if not self.writable:
            raise error(403, "AccessDenied", key)
        if method == "PUT":
            return self.put(request, key, body)
        if method == "POST" and "uploads" in query:
            upload = secrets.token_hex(16)
            self.memory.uploads[upload] = (key, {}, time.time())
            return xml(
                f"<InitiateMultipartUploadResult><Bucket>{self.bucket}</Bucket><Key>{escape(key)}"
                f"</Key><UploadId>{upload}</UploadId></InitiateMultipartUploadResult>"
            )
        if method == "POST" and "uploadId" in query:
            return self.complete(request, key, query["uploadId"], body)
        if method == "DELETE" and "uploadId" in query:
            if self.memory.uploads.pop(query["uploadId"], None) is None:
                raise error(404, "NoSuchUpload", key)
            return web.Response(status=204)
        if method == "DELETE":
            self.memory.delete(key)
            return web.Response(status=204)
        raise error(405, "MethodNotAllowed", key)

    def read(self, request, key: str, *, head: bool):  # type: ignore[no-untyped-def]
        from aiohttp import web

        obj = self.get(key)
        if obj is None:
            raise error(404, "NoSuchKey", key, head=head)
        headers = {
            "ETag": obj.etag,
            "Last-Modified": formatdate(obj.modified, usegmt=True),
            "Accept-Ranges": "bytes",
        }
        if obj.crc32 and request.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED":
            headers["x-amz-checksum-crc32"] = obj.crc32
        data, status = obj.data, 200
        ranged = re.fullmatch(r"bytes=(\d+)-(\d*)", request.headers.get("Range", ""))
        if ranged:
            first = int(ranged.group(1))
            if first >= len(data):  # as S3: no byte of the object is in the range
                raise error(416, "InvalidRange", key, head=head)
            last = int(ranged.group(2)) if ranged.group(2) else len(data) - 1
            headers["Content-Range"] = f"bytes {first}-{min(last, len(data) - 1)}/{len(data)}"
            data, status = data[first : last + 1], 206
        if head:
            headers["Content-Length"] = str(len(data))
            return web.Response(status=status, headers=headers)
        self.served[key] = self.served.get(key, 0) + len(data)
        return web.Response(status=status, body=data, headers=headers)

    def put(self, request, key: str, body: bytes):  # type: ignore[no-untyped-def]
        from aiohttp import web

        headers = request.headers
        if _chunked(headers):
            body = _unchunk(body)
        etag, crc = request.get("digests") or _digests(body)
        sent = headers.get("x-amz-checksum-crc32")
        if sent is not None and sent != crc:
            raise error(400, "BadDigest", key)
        obj = Obj(body, etag, sent)
        query = request.query
        if "uploadId" in query:
            upload = self.memory.uploads.get(query["uploadId"])
            if upload is None:
                raise error(404, "NoSuchUpload", key)
            upload[1][int(query["partNumber"])] = obj
            return web.Response(status=200, headers={"ETag": obj.etag})
        existing = self.get(key)
        if headers.get("If-None-Match") == "*" and existing is not None:
            raise error(412, "PreconditionFailed", key)
        if "If-Match" in headers and (existing is None or existing.etag != headers["If-Match"]):
            raise error(412 if existing else 404, "PreconditionFailed", key)
        self.memory.put(key, obj)
        reply = {"ETag": obj.etag}
        if sent:
            reply["x-amz-checksum-crc32"] = sent
        return web.Response(status=200, headers=reply)

    def complete(self, request, key: str, upload_id: str, body: bytes):  # type: ignore[no-untyped-def]
        upload = self.memory.uploads.get(upload_id)
        if upload is None:
            raise error(404, "NoSuchUpload", key)
        if request.headers.get("If-None-Match") == "*" and self.get(key) is not None:
            raise error(412, "PreconditionFailed", key)
        numbers = [int(n) for n in re.findall(rb"<PartNumber>(\d+)</PartNumber>", body)]
        parts = upload[1]
        if not numbers or any(n not in parts for n in numbers) or numbers != sorted(numbers):
            raise error(400, "InvalidPart", key)
        chosen = [parts[n] for n in numbers]
        md5s = b"".join(bytes.fromhex(p.etag.strip('"')) for p in chosen)
        etag = f'"{hashlib.md5(md5s).hexdigest()}-{len(chosen)}"'
        crc = None
        if all(p.crc32 for p in chosen):
            crcs = b"".join(base64.b64decode(p.crc32 or "") for p in chosen)
            crc = f"{_crc32(crcs)}-{len(chosen)}"
        self.memory.put(key, Obj(b"".join(p.data for p in chosen), etag, crc))
        del self.memory.uploads[upload_id]
        return xml(
            f"<CompleteMultipartUploadResult><Bucket>{self.bucket}</Bucket><Key>{escape(key)}"
            f"</Key><ETag>{escape(etag)}</ETag></CompleteMultipartUploadResult>"
        )

    def list_uploads(self, prefix: str) -> str:
        items = sorted(
            (key, upload_id, started)
            for upload_id, (key, _, started) in self.memory.uploads.items()
            if key.startswith(prefix)
        )
        body = "".join(
            f"<Upload><Key>{escape(key)}</Key><UploadId>{upload_id}</UploadId><Initiated>"
            f"{_iso(started)}</Initiated></Upload>"
            for key, upload_id, started in items
        )
        return (
            f"<ListMultipartUploadsResult><Bucket>{self.bucket}</Bucket>"
            f"<IsTruncated>false</IsTruncated>{body}</ListMultipartUploadsResult>"
        )

    def list_v2(self, query) -> str:  # type: ignore[no-untyped-def]
        prefix = query.get("prefix", "")
        delimiter = query.get("delimiter", "")
        limit = min(int(query.get("max-keys", 1000)), 1000)
        token = query.get("continuation-token")
        after = base64.urlsafe_b64decode(token).decode() if token else query.get("start-after", "")
        encode = query.get("encoding-type") == "url"
        keys: list[str] = []
        prefixes: list[str] = []
        cursor = max(after, prefix[:-1] + chr(ord(prefix[-1]) - 1) + _TOP) if prefix else after
        truncated, last = False, ""
        if delimiter == "/" and not prefix and self.lake and not self.memory.keys:
            return self.list_folders(after, limit, encode)  # the crawl's listing, fast
        source = self.keys_after(cursor)
        while True:
            key = next(source, None)
            if key is None or (not key.startswith(prefix) and key > prefix):
                break
            if len(keys) + len(prefixes) == limit:
                truncated = True
                break
            rest = key[len(prefix) :]
            if delimiter and delimiter in rest:
                common = prefix + rest[: rest.index(delimiter) + len(delimiter)]
                if common > after:  # as moto: StartAfter="x/" does not list "x/" again
                    prefixes.append(common)
                    last = common + _TOP  # a token resumes after everything under it
                source = self.keys_after(common + _TOP)  # skip everything under it
            else:
                keys.append(key)
                last = key

        def name(text: str) -> str:
            return escape(quote(text, safe="/") if encode else text)

        contents = "".join(
            f"<Contents><Key>{name(key)}</Key><LastModified>{_iso(obj.modified)}</LastModified>"
            f"<ETag>{escape(obj.etag)}</ETag><Size>{len(obj.data)}</Size>"
            "<StorageClass>STANDARD</StorageClass></Contents>"
            for key in keys
            if (obj := self.get(key)) is not None
        )
        commons = "".join(
            f"<CommonPrefixes><Prefix>{name(p)}</Prefix></CommonPrefixes>" for p in prefixes
        )
        more = (
            f"<NextContinuationToken>{base64.urlsafe_b64encode(last.encode()).decode()}"
            "</NextContinuationToken>"
            if truncated
            else ""
        )
        return (
            f'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            f"<Name>{self.bucket}</Name><Prefix>{name(prefix)}</Prefix>"
            f"<KeyCount>{len(keys) + len(prefixes)}</KeyCount><MaxKeys>{limit}</MaxKeys>"
            + (f"<Delimiter>{name(delimiter)}</Delimiter>" if delimiter else "")
            + ("<EncodingType>url</EncodingType>" if encode else "")
            + f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"
            f"{more}{contents}{commons}</ListBucketResult>"
        )

    def list_folders(self, after: str, limit: int, encode: bool) -> str:
        """The top-level listing of the synthetic lake straight from its sorted folder names."""
        assert self.lake is not None
        folders = self.lake.folders
        start = bisect.bisect_right(folders, after)  # as moto: only folders after ``after``
        chosen = folders[start : start + limit]
        truncated = start + limit < len(folders)
        commons = "".join(
            f"<CommonPrefixes><Prefix>{escape(quote(p, safe='/') if encode else p)}</Prefix>"
            "</CommonPrefixes>"
            for p in chosen
        )
        more = (
            f"<NextContinuationToken>{base64.urlsafe_b64encode((chosen[-1] + _TOP).encode()).decode()}"
            "</NextContinuationToken>"
            if truncated
            else ""
        )
        return (
            f'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            f"<Name>{self.bucket}</Name><Prefix></Prefix><KeyCount>{len(chosen)}</KeyCount>"
            f"<MaxKeys>{limit}</MaxKeys><Delimiter>/</Delimiter>"
            + ("<EncodingType>url</EncodingType>" if encode else "")
            + f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"
            f"{more}{commons}</ListBucketResult>"
        )


class Reply(Exception):
    def __init__(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.status, self.body, self.headers = status, body, headers


def error(status: int, code: str, resource: str, *, head: bool = False) -> Reply:
    body = (
        b""
        if head
        else (
            f"<Error><Code>{code}</Code><Message>{code}</Message><Resource>{escape(resource)}"
            "</Resource></Error>"
        ).encode()
    )
    return Reply(status, body, {"Content-Type": "application/xml"})


def xml(text: str):  # type: ignore[no-untyped-def]
    from aiohttp import web

    return web.Response(
        body=('<?xml version="1.0" encoding="UTF-8"?>' + text).encode(),
        content_type="application/xml",
    )


def _iso(moment: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(moment))


def _unchunk(body: bytes) -> bytes:
    """The payload of an ``aws-chunked`` body (size;signature CRLF data CRLF ... 0 CRLF trailers)."""
    out, position = bytearray(), 0
    while True:
        end = body.index(b"\r\n", position)
        size = int(body[position:end].split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += body[end + 2 : end + 2 + size]
        position = end + 2 + size + 2


async def serve(endpoint: Endpoint, host: str, port: int) -> None:
    from aiohttp import web

    app = web.Application(client_max_size=6 << 30)
    app.router.add_route("*", "/{tail:.*}", endpoint.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=4096)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"listening http://{host}:{bound}", flush=True)
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=0, help="synthetic assets (default 0)")
    parser.add_argument("--latency-ms", type=float, default=30.0)
    parser.add_argument("--writable", action="store_true", help="accept writes, kept in memory")
    parser.add_argument("--bucket", default=BUCKET)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    lake = SyntheticLake(args.assets, args.bucket) if args.assets else None
    endpoint = Endpoint(lake, args.latency_ms / 1000, args.writable)
    endpoint.bucket = args.bucket
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(endpoint, args.host, args.port))


def start(*args: str) -> tuple[object, str]:
    """Start the endpoint in its own process; return it and its URL once it listens."""
    import subprocess
    from pathlib import Path

    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        if not line.startswith("listening "):
            raise RuntimeError(f"s3 endpoint did not start: {line!r}")
    except BaseException:
        process.kill()
        process.wait()
        raise
    return process, line.split()[1]


if __name__ == "__main__":
    main()
