"""The one metadata reader and its limits: what it refuses, the crawl surviving crafted assets, and
the writer (validate, upload) refusing what the reader would."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from factories import make_raw_asset
from test_index import commit, put_files, sample_sidecars

from assetlake.catalogue import Catalogue
from assetlake.catalogue.publish import publish_catalogue
from assetlake.document import (
    MAX_BYTES,
    MAX_DEPTH,
    Shape,
    control_characters,
    detect_shape,
    read_document,
)
from assetlake.errors import IntegrityError, MetadataError
from assetlake.index import index_lake
from assetlake.problems import Problem
from assetlake.store import open_store
from assetlake.upload import upload_folder
from assetlake.validate import validate_folder
from assetlake.verify import verify_asset


def nested(depth: int) -> str:
    return '{"a": ' + "[" * depth + "]" * depth + "}"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"a": 1, "a": 2}', "has the key 'a' twice in one object; keep one"),
        (b'{"x": {"b": 1, "b": 1}}', "has the key 'b' twice in one object; keep one"),
        (
            b'{"a": NaN}',
            "holds NaN, which is not JSON; write null or a finite number",
        ),
        (b'{"a": -Infinity}', "holds -Infinity, which is not JSON; write null or a finite number"),
        (b'{"a": 1e999}', "holds a number too large for a float; write it as a string"),
        (b'{"a": 9223372036854775808}', "holds an integer beyond 64 bits; write it as a string"),
        (b'{"a": [-9223372036854775809]}', "holds an integer beyond 64 bits"),
        (b'{"a": ' + b"9" * 5000 + b"}", "is not readable JSON (Exceeds the limit"),
        (nested(MAX_DEPTH).encode(), f"nests arrays or objects more than {MAX_DEPTH} deep"),
        (nested(100_000).encode(), f"nests arrays or objects more than {MAX_DEPTH} deep"),
        (b"\xff{}", "is not UTF-8 text (byte 0); save it as UTF-8"),
        (b"[1]", "must hold a JSON object, not list"),
    ],
)
def test_reader_refuses_what_no_store_can_hold(data: bytes, message: str) -> None:
    problem = read_document("subject.json", data)
    assert isinstance(problem, Problem), problem
    assert (problem.file, problem.severity) == ("subject.json", "error")
    assert problem.message.startswith(message)


def test_reader_accepts_the_bounds_themselves() -> None:
    edge = {
        "big": (1 << 63) - 1,
        "small": -(1 << 63),
        "x": 1.5e308,
        "deep": json.loads(nested(MAX_DEPTH - 2)),
    }
    assert read_document("a.json", json.dumps(edge).encode()) == edge
    assert read_document("a.json", b" " * (MAX_BYTES - 2) + b"{}") == {}
    too_big = read_document("a.json", b" " * (MAX_BYTES - 1) + b"{}")
    assert isinstance(too_big, Problem) and too_big.value == MAX_BYTES + 1


def test_shapes_are_detected() -> None:
    assert detect_shape({"object_type": "Subject", "schema_version": "2.3.3"}) is Shape.AIND_V2
    assert detect_shape({"schema_version": "2.0.0"}) is Shape.AIND_V2
    assert detect_shape({"describedBy": "x", "schema_version": "1.0.3"}) is Shape.AIND_V1
    assert detect_shape({"schema_version": "1.0.0"}) is Shape.ASSETLAKE


def test_control_characters_are_found_in_values_and_keys() -> None:
    document = {"notes": "line one\nline\ttwo", "x": [{"title": "\x1b]52;c;aGk=\x07"}], "k\x9b": 1}
    assert [(p.path, p.value) for p in control_characters("s.json", document)] == [
        ("", "k\x9b"),
        ("x[0].title", "\x1b]52;c;aGk=\x07"),
    ]


# -- the crawl meets crafted assets ----------------------------------------------------------
GOOD = "ecephys_1_2024-03-01_14-05-09"
CRAFTED: dict[str, tuple[str, bytes, str]] = {
    # name: (file, bytes, start of the first problem's message)
    "ecephys_2_2024-03-01_14-05-09": (
        "subject.json",
        b'{"subject_id": "2", "weight": 123456789012345678901234567890}',
        "holds an integer beyond 64 bits",
    ),
    "ecephys_3_2024-03-01_14-05-09": (
        "subject.json",
        nested(5000).encode(),
        "nests arrays or objects more than",
    ),
    "ecephys_4_2024-03-01_14-05-09": (
        "subject.json",
        b'{"subject_id": "4", "species": NaN}',
        "holds NaN, which is not JSON",
    ),
    "ecephys_5_2024-03-01_14-05-09": (
        "subject.json",
        b'{"subject_id": "5", "subject_id": "6"}',
        "has the key 'subject_id' twice",
    ),
    "ecephys_6_2024-03-01_14-05-09": (
        "acquisition.json",
        b'{"schema_version": "2.0.0", "acquisition_start_time": "0001-01-01T00:00:00+14:00"}',
        "is a time whose UTC equivalent falls outside years 1-9999",
    ),
    "ecephys_7_2024-03-01_14-05-09": (
        "acquisition.json",
        b'{"session_start_time": "9999-12-31T23:59:59-14:00"}',
        "is a time whose UTC equivalent falls outside years 1-9999",
    ),
    "ecephys_8_2024-03-01_14-05-09": (
        "data_description.json",
        json.dumps({"project_name": "p" * 5000}).encode(),
        "is 5000 characters, over the 1024",
    ),
}


@pytest.fixture
def catalogue(tmp_path: Path) -> Iterator[Catalogue]:
    with Catalogue(tmp_path / "catalogue.sqlite") as opened:
        yield opened


def test_crafted_foreign_assets_become_invalid_records_and_never_stop_the_crawl(
    lake: str, catalogue: Catalogue, cli: Any, tmp_path: Path
) -> None:
    store = open_store(lake)
    commit(store, GOOD, sample_sidecars(GOOD))
    for name, (filename, data, _) in CRAFTED.items():
        files = {"data_description.json": b"{}", filename: data}
        put_files(store, name, files)

    stats = index_lake(store, catalogue)

    assert (stats.total, stats.invalid) == (1 + len(CRAFTED), len(CRAFTED))
    assert catalogue.get(GOOD).status == "valid"
    for name, (filename, _, message) in CRAFTED.items():
        record = catalogue.get(name)
        assert record.status == "invalid", name
        [problem] = [p for p in record.problems if p["message"].startswith(message)]
        assert problem["file"] == filename and problem["severity"] == "error"
    edge = catalogue.get("ecephys_6_2024-03-01_14-05-09")
    assert edge.acquired == "2024-03-01T14:05:09", "a time with no UTC equivalent is not kept"
    for name in CRAFTED:
        shown = cli("show", name, "--catalogue", catalogue.path, "--lake", lake)
        assert shown.code == 0 and "status        invalid" in shown.out, shown.err
    listed = cli(
        "find", "--invalid", "--format", "json", "--catalogue", catalogue.path, "--lake", lake
    )
    assert listed.code == 0, listed.err
    assert sorted(r["name"] for r in json.loads(listed.out)) == sorted(CRAFTED)


def test_a_commit_summary_out_of_bounds_is_typed_before_the_catalogue(
    lake: str, catalogue: Catalogue, cli: Any
) -> None:
    store = open_store(lake)
    document = commit(store, GOOD, sample_sidecars(GOOD))
    bad = "ecephys_9_2024-03-01_14-05-09"
    document.update(name=bad)
    document["assetlake"].update(
        size=-5, objects="many", contents=[{"path": "x", "size": "big"}, 7]
    )
    put_files(store, bad, {".assetlake-upload.json": b"{}"})
    store.put(f"{bad}/metadata.nd.json", json.dumps(document).encode())
    index_lake(store, catalogue)
    record = catalogue.get(bad)
    assert (record.size, record.objects) == (0, 0)
    assert record.contents == [{"path": "x", "format": "None", "size": 0, "objects": 0}]
    assert record.status == "invalid"
    assert {p["path"] for p in record.problems} >= {
        "assetlake.size",
        "assetlake.objects",
        "assetlake.contents[0].size",
    }
    assert catalogue.get(GOOD).status == "valid", "one bad asset hides no other"
    shown = cli("show", bad, "--catalogue", catalogue.path)
    assert shown.code == 0 and "assetlake.size" in shown.out
    publish_catalogue(catalogue, lake)


# -- the writer enforces the reader's limits -------------------------------------------------
@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"a": NaN}', "holds NaN"),
        ('{"a": 1, "a": 1}', "has the key 'a' twice"),
        (nested(MAX_DEPTH + 1), "nests arrays or objects"),
        ('{"a": 99999999999999999999}', "holds an integer beyond 64 bits"),
    ],
)
def test_validate_and_upload_refuse_what_the_indexer_would(
    tmp_path: Path, local_lake: str, content: str, message: str
) -> None:
    folder = make_raw_asset(tmp_path, with_data=False)
    (folder / "rig.json").write_text(content)
    report = validate_folder(folder)
    [problem] = [p for p in report.problems if p.file == "rig.json"]
    assert problem.message.startswith(message)
    assert not report.ok
    with pytest.raises(MetadataError):
        upload_folder(folder, local_lake)
    assert list(Path(local_lake).iterdir()) == []


def test_a_sidecar_over_the_limit_is_refused_before_upload(tmp_path: Path) -> None:
    folder = make_raw_asset(tmp_path, with_data=False)
    notes = json.loads((folder / "rig.json").read_text())
    notes["notes"] = "n" * MAX_BYTES
    (folder / "rig.json").write_text(json.dumps(notes))
    report = validate_folder(folder)
    assert not report.ok
    [problem] = [p for p in report.problems if p.file == "rig.json"]
    assert problem.message.endswith(f"over the {MAX_BYTES}-byte limit for metadata; not read")


def test_strict_validation_rejects_control_characters(tmp_path: Path, cli: Any) -> None:
    folder = make_raw_asset(tmp_path, with_data=False)
    subject = json.loads((folder / "subject.json").read_text())
    subject["notes"] = "ok\nmulti-line\tnotes"
    (folder / "subject.json").write_text(json.dumps(subject))
    assert validate_folder(folder).ok, "tab and newline are allowed"
    subject["notes"] = "harmless\x1b[2J\x1b]0;owned\x07"
    (folder / "subject.json").write_text(json.dumps(subject))
    report = validate_folder(folder)
    assert [(p.file, p.path, p.severity) for p in report.problems] == [
        ("subject.json", "notes", "error")
    ]
    result = cli("validate", folder)
    assert result.code == 1


#: What the terminal-safety audit found strict validation let through: bidi overrides and
#: isolates, which reorder what is read, and the Unicode line and paragraph separators.
INVISIBLE = ["\u202a", "\u202e", "\u2066", "\u2069", "\u2028", "\u2029"]


@pytest.mark.parametrize("character", INVISIBLE, ids=lambda c: f"U+{ord(c):04X}")
def test_strict_validation_and_upload_refuse_what_the_output_escapes(
    tmp_path: Path, local_lake: str, character: str
) -> None:
    folder = make_raw_asset(tmp_path, with_data=False)
    subject = json.loads((folder / "subject.json").read_text())
    subject["notes"] = f"looks {character}harmless"
    (folder / "subject.json").write_text(json.dumps(subject))
    report = validate_folder(folder)
    [problem] = [p for p in report.problems if p.file == "subject.json"]
    assert (problem.path, problem.severity) == ("notes", "error")
    assert f"U+{ord(character):04X}" in problem.message
    with pytest.raises(MetadataError):
        upload_folder(folder, local_lake)
    assert list(Path(local_lake).iterdir()) == []


def test_one_definition_of_unsafe_serves_validation_and_every_output() -> None:
    """Every character the CLI, the website or a job record escapes is one strict validation
    refuses, and the other way round (tab and newline: allowed in text, escaped within a line),
    because all of them use :data:`assetlake.document.UNSAFE`."""
    from assetlake.cli.output import clean, one_line
    from assetlake.pipelines.claims import _text
    from assetlake.web.html import visible

    def refused(character: str) -> bool:
        return bool(control_characters("s.json", {"notes": character}))

    for code in range(0xD800):  # the basic plane up to the surrogates holds every one of them
        character = chr(code)
        escaped = clean(character) != character
        assert refused(character) == escaped, f"U+{code:04X}"
        assert (visible(character) != character) == escaped, f"U+{code:04X}"
        if character not in "\t\n":
            assert (one_line(character) != character) == escaped, f"U+{code:04X}"
            assert (_text(character, lines=True) != character) == escaped, f"U+{code:04X}"


def test_verify_reads_the_commit_document_through_the_reader(lake: str) -> None:
    store = open_store(lake)
    name = "ecephys_10_2024-03-01_14-05-09"
    put_files(store, name, {".assetlake-upload.json": b"{}"})
    store.put(
        f"{name}/metadata.nd.json", b'{"assetlake": {"manifest_sha256": "0"}, "name": 1, "name": 2}'
    )
    with pytest.raises(IntegrityError) as caught:
        verify_asset(store, name)
    message = str(caught.value)
    assert "metadata.nd.json has the key 'name' twice in one object" in message
    assert "\n" not in message and "restore it from its source folder" in message
