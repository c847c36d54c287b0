"""The bulk S3 path: parallel listing equals the plain listing; bulk GET/HEAD stream results and
use the credentials the standard AWS settings give (environment, profiles, refreshing ones)."""

from __future__ import annotations

import bisect
import random
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from awsenv import signed_by, use_lab_profile
from botocore.credentials import RefreshableCredentials

from assetlake.errors import LakeError
from assetlake.store import open_store
from assetlake.store._bulk import BotocoreCredentials
from assetlake.store._ranges import list_in_ranges

sys.path.append(str(Path(__file__).resolve().parent.parent / "benchmarks"))
import s3_endpoint

#: Folder names that share long prefixes and use the characters sorting around '/' and '_'.
NAMES = sorted(
    {
        "".join(random.Random(seed).choice("ab0-._/z~") for _ in range(random.Random(seed).randint(1, 9)))
        .strip("/") or "x"
        for seed in range(120)
    }
    | {f"ecephys_{100000 + i}_2024-03-01_14-05-09" for i in range(0, 400, 7)}
    | {f"ecephys_{100000 + i}_2024-03-01_14-05-09_sorted" for i in range(0, 400, 21)}
)  # fmt: skip


def folders(names: list[str]) -> list[str]:
    """The distinct top-level folders the names make (a name with '/' makes its first part)."""
    return sorted({name.split("/", 1)[0] for name in names})


@pytest.fixture
def populated(lake: str) -> str:
    store = open_store(lake)
    for name in NAMES:
        store.put(f"{name}/obj", b"x")
    store.put("top-level-file", b"x")
    return lake


def test_parallel_listing_equals_the_plain_listing(populated: str) -> None:
    store = open_store(populated)
    plain = store.list_dirs()
    assert sorted(plain) == folders(NAMES)
    if populated.startswith("s3://"):
        assert store.list_dirs_parallel(workers=8, page_size=5) == plain  # type: ignore[call-arg]
    assert store.list_dirs_parallel() == plain
    # The local backend keeps its own path: the range algorithm over its listing, in pages.
    entries = [f"{name}/" for name in plain]

    def page(after: str) -> tuple[list[str], bool]:
        start = bisect.bisect_right(entries, after)
        return entries[start : start + 5], start + 5 < len(entries)

    assert [entry.rstrip("/") for entry in list_in_ranges(page, workers=8)] == plain


@pytest.mark.parametrize("under", ["", "sub/lake"])
def test_many_listings_equal_the_plain_listings(lake: str, under: str) -> None:
    """Each folder's objects, in key order, as one listing of it gives them: names with spaces,
    accents and escapes, a folder obstore would refuse (a key with an empty part, written behind
    assetlake's back, which the plain listing skips), and a prefix that is no folder."""
    store = open_store(f"{lake}/{under}".rstrip("/"))
    files = ["a.json", "sub dir/é +%20.txt", "q?x#y", "deep/er/still.bin"]
    for folder in ("one", "two", "odd"):
        for number, name in enumerate(files):
            store.put(f"{folder}/{name}", b"x" * number)
    if lake.startswith("s3://"):
        bucket = lake.removeprefix("s3://")
        key = f"{under}/odd/a//b".lstrip("/")
        store.client.put_object(Bucket=bucket, Key=key, Body=b"x")  # type: ignore[attr-defined]
        refused = dict(store._bulk.list_many(["odd/", "one/"], 2))  # type: ignore[attr-defined]
        assert refused["odd/"] is None and refused["one/"] is not None  # so listed the plain way
    prefixes = ["one/", "two/", "odd/", "missing/", "on", "two/deep/"]
    listed = dict(store.list_many(prefixes, workers=2))
    assert listed == {
        prefix: sorted(store.list(prefix), key=lambda i: i.key) for prefix in prefixes
    }
    assert [info.key for info in listed["one/"]] == sorted(f"one/{name}" for name in files)
    assert listed["on"] == listed["one/"] and listed["missing/"] == []


def test_ranges_cover_any_names_exactly_once() -> None:
    rng = random.Random(7)
    for _ in range(30):
        names = sorted({"".join(rng.choice("aZ09-_./~é") for _ in range(rng.randint(1, 8)))
                        for _ in range(rng.randint(0, 300))})  # fmt: skip
        size = rng.randint(1, 20)

        def page(after: str, names: list[str] = names, size: int = size) -> tuple[list[str], bool]:
            start = bisect.bisect_right(names, after)
            return names[start : start + size], start + size < len(names)

        assert list_in_ranges(page, workers=4) == names


@pytest.fixture
def endpoint() -> Iterator[str]:
    process, url = s3_endpoint.start("--assets", "40", "--latency-ms", "0")
    try:
        yield url
    finally:
        process.kill()  # type: ignore[attr-defined]
        process.wait()  # type: ignore[attr-defined]


def bulk_read(endpoint: str) -> dict[str, int | None]:
    store = open_store(f"s3://{s3_endpoint.BUCKET}")
    folders = store.list_dirs_parallel()
    keys = [f"{folder}/metadata.nd.json" for folder in folders]
    got = dict(store.get_many(keys))
    heads = dict(store.head_many(keys))
    assert {k: len(v) if v else None for k, v in got.items()} == {
        k: h.size if h else None for k, h in heads.items()
    }
    return {k: len(v) if v else None for k, v in got.items()}


def test_bulk_reads_stream_every_key_and_report_missing_ones(
    endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    sizes = bulk_read(endpoint)
    lake = s3_endpoint.SyntheticLake(40)
    assert len(sizes) == 40
    for folder in lake.folders:
        obj = lake.get(folder + "metadata.nd.json")
        assert sizes[folder + "metadata.nd.json"] == (len(obj.data) if obj else None)
    assert None in sizes.values()


def test_bulk_reads_sign_with_environment_credentials(
    endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENV")
    bulk_read(endpoint)
    assert signed_by(endpoint) == ["AKIDFROMENV"]


def test_bulk_reads_sign_with_a_profile(
    endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_lab_profile(monkeypatch, tmp_path, endpoint, "us-west-2")
    bulk_read(endpoint)  # the endpoint too comes from the profile
    assert signed_by(endpoint) == ["AKIDFROMPROFILE"]


def test_bulk_reads_and_writes_without_credentials_say_so_in_one_line(
    endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    store = open_store(f"s3://{s3_endpoint.BUCKET}")
    with pytest.raises(LakeError, match=r"^lake s3://\S+: no AWS credentials; set AWS_PROFILE"):
        dict(store.get_many(["a/metadata.nd.json"]))
    source = tmp_path / "f"
    source.write_bytes(b"x")
    with pytest.raises(LakeError, match=r"^lake s3://\S+: no AWS credentials; set AWS_PROFILE"):
        store.put_file("a/f", source)
    assert signed_by(endpoint) == []


def test_expiring_credentials_are_refreshed_before_obstore_uses_them() -> None:
    issued = iter(["AKIDFIRST", "AKIDSECOND"])

    def refresh() -> dict[str, str]:
        expiry = datetime.now(UTC) + (
            timedelta(minutes=2) if next_key[0] == 0 else timedelta(hours=1)
        )
        next_key[0] += 1
        return {"access_key": next(issued), "secret_key": "s", "token": "t",
                "expiry_time": expiry.isoformat()}  # fmt: skip

    next_key = [0]
    credentials = RefreshableCredentials.create_from_metadata(refresh(), refresh, "test")
    provider = BotocoreCredentials(credentials)
    first = provider()  # the first key expires within botocore's refresh window: refreshed
    assert first["access_key_id"] == "AKIDSECOND"
    assert first["token"] == "t"
    assert first["expires_at"] <= datetime.now(UTC) + timedelta(minutes=5)


def test_a_lake_under_a_prefix_lists_and_reads_only_its_own_objects(s3_lake: str) -> None:
    outside = open_store(s3_lake)
    outside.put("other/a/obj", b"outside")
    lake = open_store(f"{s3_lake}/labs/one")
    names = [f"ecephys_{100000 + i}_2024-03-01_14-05-09" for i in range(23)]
    for name in names:
        lake.put(f"{name}/obj", name.encode())
    assert lake.list_dirs_parallel(workers=4, page_size=4) == lake.list_dirs() == names  # type: ignore[call-arg]
    keys = [f"{name}/obj" for name in names] + ["other/a/obj"]
    got = dict(lake.get_many(keys))
    assert got == {**{f"{n}/obj": n.encode() for n in names}, "other/a/obj": None}
    heads = dict(lake.head_many(keys))
    assert heads["other/a/obj"] is None
    assert {k: h.size for k, h in heads.items() if h} == {f"{n}/obj": len(n) for n in names}


def test_bulk_reads_give_every_object_whole(s3_lake: str) -> None:
    """A GET through the bulk path is one byte range past any end: small, large and empty
    objects (which have no byte range: S3 answers 416, and a plain GET reads them) come whole."""
    store = open_store(s3_lake)
    objects = {"a_1/empty": b"", "a_1/one": b"1", "a_1/big": bytes(range(256)) * 4096}
    for key, data in objects.items():
        store.put(key, data)
    assert dict(store.get_many([*objects, "a_1/missing"])) == {**objects, "a_1/missing": None}


def test_bulk_reads_take_their_keys_as_they_go(s3_lake: str) -> None:
    """Keys are read from the caller's iterator only as requests go out (INFLIGHT ahead of the
    answers taken, and one waiting for a place), so a crawl of a million keys never holds them
    in a list; a key the store refuses ends the stream with its own error, after the answers
    before it."""
    from assetlake.errors import UsageError
    from assetlake.store._bulk import INFLIGHT

    store = open_store(s3_lake)
    store.put("a_1/x", b"data")
    read = 0

    def keys() -> Iterator[str]:
        nonlocal read
        for number in range(INFLIGHT * 2 + 50):
            read += 1
            yield "a_1/x" if number == 0 else f"missing/{number}"
        read += 1
        yield "a/../b"

    taken = 0
    with pytest.raises(UsageError, match=re.escape("a/../b")):
        for key, data in store.get_many(keys()):
            taken += 1
            assert read - taken <= INFLIGHT + 1
            assert data == (b"data" if key == "a_1/x" else None)
    assert taken == INFLIGHT * 2 + 50


#: Keys S3 sends URL-encoded or XML-escaped, beside plain ones; sizes differ so Size is compared.
ODD_KEYS = [
    "a b/x",
    "caf\u00e9/y",
    "amp&lt<gt>/z",
    "plus+sign/w",
    "q%20/v",
    "top&file",
    "zz/deep/er",
]


def _shown(reply: dict) -> dict:
    """The fields of a ListObjectsV2 reply that the lean parse gives (ResponseMetadata aside)."""
    keep = ("Key", "Size", "ETag", "LastModified", "StorageClass")
    return {
        "Contents": [{k: item.get(k) for k in keep} for item in reply.get("Contents", [])],
        "CommonPrefixes": reply.get("CommonPrefixes", []),
        **{k: reply.get(k) for k in ("IsTruncated", "NextContinuationToken", "KeyCount", "Prefix",
                                     "Delimiter", "MaxKeys", "StartAfter", "EncodingType")},
    }  # fmt: skip


def test_listing_pages_parse_as_botocore_parses_them(
    s3_lake: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    from assetlake.store import _listing

    store = open_store(s3_lake)
    for number, key in enumerate(ODD_KEYS):
        store.put(key, b"x" * number)
    lean_pages = []
    parse = _listing.parse_listing
    monkeypatch.setattr(_listing, "parse_listing", lambda body: lean_pages.append(1) or parse(body))
    plain = boto3.client("s3", region_name="us-east-1")  # botocore's own parser
    bucket = s3_lake.removeprefix("s3://")
    for options in (
        {},
        {"Delimiter": "/"},
        {"Delimiter": "/", "MaxKeys": 2},
        {"Delimiter": "/", "MaxKeys": 3, "StartAfter": "amp&lt<gt>/"},
        {"Prefix": "zz/"},
    ):
        ours = store.client.list_objects_v2(Bucket=bucket, **options)  # type: ignore[attr-defined]
        theirs = plain.list_objects_v2(Bucket=bucket, **options)
        assert _shown(ours) == _shown(theirs), options
        assert ours["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert len(lean_pages) == 5  # every page went through the lean parse
    assert [i.key for i in store.list("")] == sorted(ODD_KEYS)


def test_a_listing_error_is_still_parsed_by_botocore(s3_lake: str) -> None:
    from assetlake.errors import LakeError

    store = open_store(s3_lake + "-missing")
    with pytest.raises(LakeError, match="does not exist"):
        store.list_dirs_parallel()


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "us-gov-west-1", "cn-north-1"])
def test_the_lean_session_resolves_endpoints_as_botocore_does(region: str) -> None:
    """It keeps the endpoint data of S3 and the credential services only; S3, STS and any other
    service still resolve to botocore's own endpoints."""
    import botocore.session

    from assetlake.store._listing import lean_session

    for service in ("s3", "sts", "sso", "ec2"):
        lean = lean_session().create_client(service, region_name=region)
        plain = botocore.session.get_session().create_client(service, region_name=region)
        assert lean.meta.endpoint_url == plain.meta.endpoint_url
