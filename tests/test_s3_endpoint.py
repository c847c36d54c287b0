"""The benchmarks' latency endpoint answers as moto does: the same lake, the same responses.

The endpoint (benchmarks/s3_endpoint.py) is what every at-scale figure is measured against, so it
must be S3 as assetlake sees it: listings (prefix, delimiter, continuation, StartAfter), GET and
HEAD of the synthetic lake, and the uploader's writes, compared object for object with moto.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from factories import make_derived_asset, make_raw_asset

from assetlake.asset import CLAIM, COMMIT, MANIFEST
from assetlake.catalogue import Catalogue
from assetlake.index import index_lake
from assetlake.store import open_store
from assetlake.upload import upload_folder
from assetlake.verify import verify_asset

sys.path.append(str(Path(__file__).resolve().parent.parent / "benchmarks"))
import s3_endpoint

ASSETS = 30


def serve(assets: int) -> Iterator[str]:
    process, url = s3_endpoint.start("--assets", str(assets), "--latency-ms", "0", "--writable")
    try:
        yield url
    finally:
        process.kill()  # type: ignore[attr-defined]
        process.wait()  # type: ignore[attr-defined]


@pytest.fixture
def endpoint() -> Iterator[str]:
    """A writable endpoint serving a synthetic lake of ``ASSETS`` assets, with no latency."""
    yield from serve(ASSETS)


@pytest.fixture
def empty_endpoint() -> Iterator[str]:
    """A writable endpoint with an empty bucket."""
    yield from serve(0)


def client(url: str) -> Any:
    return boto3.client("s3", endpoint_url=url, region_name="us-east-1")


def copy_synthetic_lake(s3: Any, bucket: str) -> None:
    lake = s3_endpoint.SyntheticLake(ASSETS)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda item: s3.put_object(Bucket=bucket, Key=item[0], Body=item[1]),
                      lake.objects()))  # fmt: skip


def listing(s3: Any, bucket: str, **options: Any) -> list[Any]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, **options)
    return [
        (
            [(c["Key"], c["Size"], c["ETag"]) for c in page.get("Contents", ())],
            [p["Prefix"] for p in page.get("CommonPrefixes", ())],
            page["KeyCount"],
            page["IsTruncated"],
        )
        for page in pages
    ]


def test_synthetic_lake_reads_as_on_moto(endpoint: str, moto_server: str, s3_lake: str) -> None:
    bucket = s3_lake.removeprefix("s3://")
    moto, synthetic = client(moto_server), client(endpoint)
    copy_synthetic_lake(moto, bucket)
    lake = s3_endpoint.SyntheticLake(ASSETS)
    first, middle = lake.folders[0], lake.folders[ASSETS // 2]
    shapes: list[dict[str, Any]] = [
        {"Delimiter": "/", "PaginationConfig": {"PageSize": 7}},
        {"PaginationConfig": {"PageSize": 13}},
        {"Prefix": first},
        {"Prefix": first, "Delimiter": "/"},
        {"Prefix": middle[:12], "Delimiter": "/", "PaginationConfig": {"PageSize": 2}},
        {"StartAfter": middle, "Delimiter": "/"},
        {"StartAfter": middle + "manifest.json", "PaginationConfig": {"PageSize": 5}},
        {"Prefix": "no-such-prefix/"},
    ]
    for shape in shapes:
        assert listing(synthetic, s3_endpoint.BUCKET, **shape) == listing(moto, bucket, **shape), (
            shape
        )
    keys = [key for key, _ in lake.objects()]
    assert len(keys) > 9 * ASSETS
    for key in [*keys[::7], f"{first}metadata.nd.json", f"{first}no-such-file"]:
        answers = []
        for s3, name in ((moto, bucket), (synthetic, s3_endpoint.BUCKET)):
            try:
                body = s3.get_object(Bucket=name, Key=key)["Body"].read()
                head = s3.head_object(Bucket=name, Key=key)
                answers.append((body, head["ContentLength"], head["ETag"]))
            except ClientError as error:
                answers.append(error.response["Error"]["Code"])
        assert answers[0] == answers[1], key


def records(url: str, path: Path) -> list[dict[str, Any]]:
    with Catalogue(path) as catalogue:
        index_lake(url, catalogue)
        return [
            {**record.to_dict(), "url": record.name} for record in catalogue.records()
        ]  # fmt: skip


def test_index_of_the_synthetic_lake_equals_the_index_on_moto(
    endpoint: str, moto_server: str, s3_lake: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy_synthetic_lake(client(moto_server), s3_lake.removeprefix("s3://"))
    on_moto = records(s3_lake, tmp_path / "moto.sqlite")
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    synthetic = records(f"s3://{s3_endpoint.BUCKET}", tmp_path / "synthetic.sqlite")
    assert synthetic == on_moto
    kinds = [s3_endpoint.SyntheticLake.kind(i) for i in range(ASSETS)]
    assert len(on_moto) == ASSETS - kinds.count("uploading")
    assert {r["status"] for r in on_moto} == {"valid", "unverified"}


def written(url: str) -> dict[str, Any]:
    """Every object of a lake: bytes, or for the documents with times and hosts, their shape."""
    store = open_store(url)
    objects: dict[str, Any] = {}
    for info in store.list(""):
        data = store.get(info.key)
        assert data is not None
        if info.key.endswith((CLAIM, COMMIT)):
            document = json.loads(data)
            document.pop("committed", None)
            document.pop("location", None)
            objects[info.key] = (info.size > 0, sorted(document))
        elif info.key.endswith(MANIFEST):  # lists the claim's size and checksums (its time, host)
            document = json.loads(data)
            for entry in document["objects"]:
                if entry["path"] == CLAIM:
                    for varying in ("sha256", "crc32", "size"):
                        entry.pop(varying, None)
            objects[info.key] = document
        else:
            objects[info.key] = (data, info.etag)
    return objects


def test_uploads_write_the_same_objects_as_on_moto(
    empty_endpoint: str, s3_lake: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = make_raw_asset(tmp_path / "raw")
    (raw / "big.bin").write_bytes(bytes(range(256)) * (11 * 4096 + 7))  # 3 parts of 5 MiB
    derived = make_derived_asset(tmp_path / "derived", raw.name)
    outcomes = {}
    for lake, where in ((s3_lake, None), ("s3://written-lake", empty_endpoint)):
        if where:
            monkeypatch.setenv("AWS_ENDPOINT_URL", where)
            open_store(lake).create()
        store = open_store(lake, part_size=5 << 20)
        results = [upload_folder(folder, store) for folder in (raw, derived)]
        verified = [verify_asset(store, result.name).ok for result in results]
        key = f"{raw.name}/big.bin"
        info = store.head(key)
        assert info is not None and info.etag is not None and info.etag.endswith("-3")
        with pytest.raises(Exception, match="already exists"):
            store.put(key, b"again")
        outcomes[where] = (written(lake), verified, store.leftovers(""), info)
    assert outcomes[empty_endpoint] == outcomes[None]
    assert outcomes[None][1] == [True, True]


def test_multipart_leftovers_and_checksums_as_on_moto(
    endpoint: str, moto_server: str, s3_lake: str
) -> None:
    answers = []
    for s3, bucket in ((client(moto_server), s3_lake.removeprefix("s3://")),
                       (client(endpoint), s3_endpoint.BUCKET)):  # fmt: skip
        put = s3.put_object(
            Bucket=bucket, Key="a/one", Body=b"hello", ChecksumAlgorithm="CRC32", IfNoneMatch="*"
        )
        head = s3.head_object(Bucket=bucket, Key="a/one", ChecksumMode="ENABLED")
        upload = s3.create_multipart_upload(Bucket=bucket, Key="a/two", ChecksumAlgorithm="CRC32")
        uploads = s3.list_multipart_uploads(Bucket=bucket, Prefix="a/")["Uploads"]
        s3.abort_multipart_upload(Bucket=bucket, Key="a/two", UploadId=upload["UploadId"])
        left = s3.list_multipart_uploads(Bucket=bucket, Prefix="a/").get("Uploads", [])
        s3.delete_object(Bucket=bucket, Key="a/one")
        gone = s3.list_objects_v2(Bucket=bucket, Prefix="a/")["KeyCount"]
        answers.append(
            (put["ETag"], head["ChecksumCRC32"], [u["Key"] for u in uploads], left, gone)
        )
    assert answers[0] == answers[1]


def test_the_endpoint_records_which_credentials_signed(endpoint: str) -> None:
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIDWHOSIGNED",
        aws_secret_access_key="secret",
    )
    s3.list_objects_v2(Bucket=s3_endpoint.BUCKET, MaxKeys=1)
    with urllib.request.urlopen(f"{endpoint}/_endpoint/access-keys") as reply:
        assert "AKIDWHOSIGNED" in json.load(reply)
