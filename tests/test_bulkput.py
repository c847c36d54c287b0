"""The bulk PUT path (awscrt; also verify --fast's HEADs) uses the user's AWS configuration: credentials from the environment,
from a profile in the config files, the endpoint from AWS_ENDPOINT_URL (any host and port), and
expiring credentials that botocore refreshes between signatures."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import awsenv
import boto3
import pytest
from awsenv import use_lab_profile
from botocore.credentials import RefreshableCredentials

from assetlake.checksums import file_checksums
from assetlake.errors import ObjectExistsError
from assetlake.store import ObjectInfo, open_store
from assetlake.store._bulkput import BulkPut

sys.path.append(str(Path(__file__).resolve().parent.parent / "benchmarks"))
import s3_endpoint

BUCKET = s3_endpoint.BUCKET


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    process, url = s3_endpoint.start("--latency-ms", "0", "--writable")
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        boto3.client("s3", aws_access_key_id="AKIDSETUP", aws_secret_access_key="s").create_bucket(
            Bucket=BUCKET
        )
        yield url
    finally:
        process.kill()  # type: ignore[attr-defined]
        process.wait()  # type: ignore[attr-defined]


def signed_by(endpoint: str) -> list[str]:
    """The access keys that signed requests, but the fixture's own."""
    return awsenv.signed_by(endpoint, but="AKIDSETUP")


def put_small_and_large(tmp_path: Path, lake: str = f"s3://{BUCKET}") -> None:
    """A single PUT and a multipart upload, each create-only, each stored with its CRC32."""
    store = open_store(lake, part_size=5 << 20)
    small, large = tmp_path / "small.bin", tmp_path / "large.bin"
    small.write_bytes(b"s" * 1000)
    large.write_bytes(bytes(range(256)) * (45 << 10))  # 11.25 MiB: three parts
    for path in (small, large):
        found = store.put_file(f"x/{path.name}", path)
        assert found == file_checksums(path, store.parts_for(path.stat().st_size))
        crc = store.stored_checksum(f"x/{path.name}")
        assert crc == (path.stat().st_size, found.crc32_composite or found.crc32)
        with pytest.raises(ObjectExistsError, match=f"object {lake}/x/{path.name} already exists"):
            store.put_file(f"x/{path.name}", path)
    assert store.leftovers("x/") == []  # the refused multipart upload was aborted
    # verify --fast's HEADs (awscrt, checksum mode) read what boto3's HEAD reads, None when missing
    keys = ["x/small.bin", "x/large.bin", "x/missing.bin"]
    found_many = dict(store.stored_checksums(keys))
    assert found_many == {key: store.stored_checksum(key) for key in keys}
    assert found_many["x/missing.bin"] is None and found_many["x/large.bin"][1].endswith("-3")


def test_environment_credentials_sign_the_puts(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENV")
    put_small_and_large(tmp_path)
    assert signed_by(endpoint) == ["AKIDFROMENV"]


def test_a_profile_in_the_config_files_gives_credentials_and_endpoint(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_lab_profile(monkeypatch, tmp_path, endpoint, "eu-west-1")
    put_small_and_large(tmp_path)
    assert signed_by(endpoint) == ["AKIDFROMPROFILE"]


def test_aws_endpoint_url_with_its_own_port_and_a_lake_prefix(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert endpoint.startswith("http://127.0.0.1:") and not endpoint.endswith(":80")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDPORT")
    put_small_and_large(tmp_path, f"s3://{BUCKET}/labs/one")
    client = boto3.session.Session().client("s3")  # a fresh session: the default one caches keys
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=BUCKET)["Contents"])
    assert keys == ["labs/one/x/large.bin", "labs/one/x/small.bin"]
    assert signed_by(endpoint) == ["AKIDPORT"]


def test_expiring_credentials_are_refreshed_between_puts(endpoint: str, tmp_path: Path) -> None:
    """Each key expires within botocore's refresh window, so every signature asks for a new one."""
    issued = iter(["AKIDFIRST", "AKIDSECOND", "AKIDTHIRD", "AKIDFOURTH"])

    def refresh() -> dict[str, str]:
        expiry = datetime.now(UTC) + timedelta(minutes=2)
        return {"access_key": next(issued), "secret_key": "s", "token": "t",
                "expiry_time": expiry.isoformat()}  # fmt: skip

    credentials = RefreshableCredentials.create_from_metadata(refresh(), refresh, "test")
    store = open_store(f"s3://{BUCKET}")
    bulk = BulkPut(store.client, credentials, BUCKET, "", store.url)  # type: ignore[attr-defined]
    one = tmp_path / "one"
    one.write_bytes(b"1")
    bulk.put_file("a", one, 5 << 20, None)
    assert signed_by(endpoint) == ["AKIDSECOND"]  # AKIDFIRST was due for refresh before use
    bulk.put_file("b", one, 5 << 20, None)
    assert signed_by(endpoint) == ["AKIDSECOND", "AKIDTHIRD"]
    assert dict(bulk.stored_checksums(["a"])) == {"a": (1, file_checksums(one, None).crc32)}
    assert sorted(signed_by(endpoint)) == ["AKIDFOURTH", "AKIDSECOND", "AKIDTHIRD"]  # HEADs too


@pytest.mark.parametrize(
    ("endpoint_url", "bucket", "host", "path"),
    [
        (
            "https://s3.us-west-2.amazonaws.com",
            "lab-data",
            "lab-data.s3.us-west-2.amazonaws.com",
            "/",
        ),
        (
            "https://s3.us-west-2.amazonaws.com",
            "lab.data",
            "s3.us-west-2.amazonaws.com",
            "/lab.data/",
        ),
        ("http://127.0.0.1:9000", "lab-data", "127.0.0.1:9000", "/lab-data/"),
        ("https://minio.lab.org/s3/", "lab-data", "minio.lab.org", "/s3/lab-data/"),
    ],
)
def test_buckets_are_addressed_as_boto3_does(
    endpoint_url: str, bucket: str, host: str, path: str
) -> None:
    """Virtual-hosted on AWS, path-style for dotted names and for any other endpoint."""
    client = boto3.client("s3", endpoint_url=endpoint_url, region_name="us-west-2")
    bulk = BulkPut(client, client._request_signer._credentials, bucket, "", f"s3://{bucket}")
    assert (bulk.host, bulk.path) == (host, path)


def test_put_files_answers_every_file_even_with_repeated_keys(s3_lake: str, tmp_path: Path) -> None:
    """Every (key, path) gets its answer (the repeat: the key exists), and a file above a small
    part size but within S3's 5 MiB minimum part is one PUT, as its manifest entry records."""
    store = open_store(s3_lake, part_size=1 << 20)
    small, mid = tmp_path / "small", tmp_path / "mid"
    small.write_bytes(b"s" * 100)
    mid.write_bytes(b"m" * (3 << 20))
    files = [("k/x", small), ("k/x", mid), ("k/y", mid), ("k/z", small)]
    answers = list(store.put_files(files))
    assert sorted(key for key, _ in answers) == ["k/x", "k/x", "k/y", "k/z"]
    assert sum(isinstance(answer, ObjectExistsError) for _, answer in answers) == 1
    assert store.parts_for(3 << 20) is None
    assert "-" not in (store.head("k/y") or ObjectInfo("", 0, "-")).etag
