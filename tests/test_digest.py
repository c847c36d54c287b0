"""The asset digest: the vectors of docs/digest.md, one digest for two lakes, another for a change,
recorded at commit, carried to the catalogue, find, show and the published Parquet, checked by verify.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from factories import make_raw_asset
from test_verify import tamper

from assetlake.asset import CLAIM, COMMIT, MANIFEST, ManifestEntry
from assetlake.catalogue import Catalogue
from assetlake.catalogue.publish import ASSETS, publish_catalogue
from assetlake.digest import asset_digest, is_digest
from assetlake.index import index_lake
from assetlake.store import open_store
from assetlake.upload import upload_folder
from assetlake.verify import Changed, verify_asset

DOC = Path(__file__).parents[1] / "docs" / "digest.md"
E, A, H = (hashlib.sha256(data).hexdigest() for data in (b"", b"a", b"hello\n"))
THREE = [("data.zarr/0.0", 1, A), ("data.zarr/.zarray", 6, H), ("Data.zarr/0", 0, E)]
VECTORS = [
    ([], "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855-0--0"),
    (
        [("data_description.json", 6, H)],
        "f7aaaa0c48a5ebb2890d0c227d0daa594a4a21e0b17fc27ee29cfbaae4ca3fb2-1--6",
    ),
    (THREE, "5e7955f9bf5dae1d936d82ae9b8010a46187390ae6ae4b3990d22098888ae30f-3--7"),
    (
        [("data.zarr/0.0", 1, hashlib.sha256(b"b").hexdigest()), *THREE[1:]],
        "f24b758060d9a375255eaf55ca5c4716ec056cd4bd4aacaa9aec4d1186b96622-3--7",
    ),
    (
        [("data.zarr/0.1", 1, A), *THREE[1:]],
        "e1cd13c292fc05e9708597b234a29fb2b4b73a90e8514c7b446092ff8f8db70f-3--7",
    ),
    (
        [("café/été.bin", 1, A), ("cafe/z", 1, A)],
        "6d9af8046b9e90147653e3bc9e3720014326dc07d023ae17d1a9df513eed8be9-2--2",
    ),
]


@pytest.mark.parametrize(("entries", "expected"), VECTORS)
def test_vectors_of_the_specification(entries: list[tuple[str, int, str]], expected: str) -> None:
    objects = [ManifestEntry(*entry) for entry in entries]
    assert asset_digest(objects) == expected
    assert asset_digest(reversed(objects)) == expected  # order of the manifest does not matter
    assert is_digest(expected)
    assert f"`{expected}`" in DOC.read_text()  # the document states every vector


def test_bookkeeping_files_are_left_out_and_bad_entries_refused() -> None:
    three = [ManifestEntry(*entry) for entry in THREE]
    claim = ManifestEntry(CLAIM, 300, hashlib.sha256(b"claim").hexdigest())
    assert asset_digest([*three, claim]) == VECTORS[2][1]
    for bad in (
        ManifestEntry("a\0b", 1, A),
        ManifestEntry("a", 1, A.upper()),
        ManifestEntry("", 1, A),
    ):
        with pytest.raises(ValueError):
            asset_digest([bad])
    with pytest.raises(ValueError):
        asset_digest([ManifestEntry("a", 1, A), ManifestEntry("a", 1, A)])
    assert not is_digest("x" * 64 + "-1--1") and not is_digest(None)


def committed_digest(lake: str, name: str) -> str:
    return json.loads(open_store(lake).get(f"{name}/{COMMIT}") or b"")["assetlake"]["digest"]


def test_two_lakes_one_digest_and_a_changed_byte_another(
    local_lake: str, s3_lake: str, tmp_path: Path
) -> None:
    folder = make_raw_asset(tmp_path / "a")
    upload_folder(folder, local_lake)
    upload_folder(folder, s3_lake)
    name = folder.name
    digest = committed_digest(local_lake, name)
    assert re.fullmatch(r"[0-9a-f]{64}-\d+--\d+", digest)
    assert committed_digest(s3_lake, name) == digest  # claims differ, the content does not
    assert verify_asset(local_lake, name).digest == digest

    changed = make_raw_asset(tmp_path / "b")
    chunk = next(p for p in sorted(changed.rglob("*")) if p.is_file() and "zarr" in p.as_posix())
    data = bytearray(chunk.read_bytes())
    data[0] ^= 1
    chunk.write_bytes(bytes(data))
    other = tmp_path / "other_lake"
    other.mkdir()
    upload_folder(changed, str(other))
    assert committed_digest(str(other), name) != digest

    renamed = make_raw_asset(tmp_path / "c")
    chunk = next(p for p in sorted(renamed.rglob("*")) if p.is_file() and "zarr" in p.as_posix())
    shutil.move(chunk, chunk.with_name(chunk.name + "x"))
    third = tmp_path / "third_lake"
    third.mkdir()
    upload_folder(renamed, str(third))
    assert committed_digest(str(third), name) not in (digest, committed_digest(str(other), name))


def test_digest_in_catalogue_show_find_and_parquet(lake: str, tmp_path: Path, cli) -> None:
    folder = make_raw_asset(tmp_path)
    upload_folder(folder, lake)
    name, digest = folder.name, committed_digest(lake, folder.name)
    with Catalogue(tmp_path / "cat.sqlite") as catalogue:
        index_lake(open_store(lake), catalogue)
        record = catalogue.get(name)
        assert record is not None and record.digest == digest
        publish_catalogue(catalogue, lake)
    shown = cli("show", name, "--catalogue", tmp_path / "cat.sqlite")
    assert shown.code == 0 and f"digest        {digest}\n" in shown.out
    shown = cli("show", name, "--catalogue", tmp_path / "cat.sqlite", "--json")
    assert json.loads(shown.out)["digest"] == digest
    found = cli("find", "--catalogue", tmp_path / "cat.sqlite", "--format", "json")
    assert found.code == 0, found.err
    assert [row["digest"] for row in json.loads(found.out)] == [digest]
    table = pq.read_table(io.BytesIO(open_store(lake).get(ASSETS) or b""))
    assert table.column("digest").to_pylist() == [digest]


def test_verify_reports_a_digest_that_disagrees_with_the_manifest(
    lake: str, tmp_path: Path
) -> None:
    folder = make_raw_asset(tmp_path)
    upload_folder(folder, lake)
    name = folder.name
    store = open_store(lake)
    document = json.loads(store.get(f"{name}/{COMMIT}") or b"")
    document["assetlake"]["digest"] = "0" * 64 + "-1--1"
    tamper(lake, f"{name}/{COMMIT}", json.dumps(document).encode())
    report = verify_asset(lake, name)
    assert report.changed == [Changed(COMMIT, "its digest differs from the manifest's")]


def test_older_asset_without_digest(lake: str, tmp_path: Path) -> None:
    """Chosen: the catalogue leaves it empty; verify computes it from the verified manifest."""
    folder = make_raw_asset(tmp_path)
    upload_folder(folder, lake)
    name = folder.name
    store = open_store(lake)
    document = json.loads(store.get(f"{name}/{COMMIT}") or b"")
    digest = document["assetlake"].pop("digest")
    tamper(lake, f"{name}/{COMMIT}", json.dumps(document).encode())
    report = verify_asset(lake, name)
    assert report.ok and report.digest == digest
    assert MANIFEST not in [c.path for c in report.changed]
    with Catalogue(tmp_path / "cat.sqlite") as catalogue:
        index_lake(store, catalogue)
        record = catalogue.get(name)
        assert record is not None and record.digest is None
