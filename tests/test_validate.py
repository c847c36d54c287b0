"""Validation of asset folders and documents: required sidecars, cross-checks, the CLI contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from factories import make_derived_asset, make_raw_asset

from assetlake.asset import SIDECAR_FILES
from assetlake.errors import UsageError
from assetlake.validate import validate_documents, validate_folder

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
RAW = "ecephys_123456_2024-03-01_14-05-09"
DERIVED = f"{RAW}_spikes_2024-03-02_09-30-00"


@pytest.mark.parametrize(("name", "level"), [(RAW, "raw"), (DERIVED, "derived")])
def test_examples_are_valid_without_problems(name: str, level: str) -> None:
    report = validate_folder(EXAMPLES / name)
    assert report.problems == []
    assert report.ok
    assert report.level == level
    assert str(report.name) == name
    assert set(report.models) == set(report.sidecars) == set(SIDECAR_FILES)


def test_factories_make_valid_assets(tmp_path: Path) -> None:
    raw = make_raw_asset(tmp_path, modality="behavior", subject_id="777", with_data=False)
    derived = make_derived_asset(tmp_path, raw.name, label="sorted")
    assert validate_folder(raw).problems == []
    assert validate_folder(derived).problems == []
    assert (derived / "sorted.zarr" / ".zarray").is_file()
    assert not (raw / "behavior.zarr").exists()


def test_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        validate_folder(tmp_path / RAW)


def test_documents_are_validated_without_io() -> None:
    documents = {f.name: f.read_bytes() for f in (EXAMPLES / RAW).glob("*.json")}
    report = validate_documents(RAW, documents)
    assert report.ok
    assert report.sidecars["subject.json"] == json.loads(documents["subject.json"])


def documents_of(folder: Path) -> dict[str, dict]:
    return {f.name: json.loads(f.read_text()) for f in folder.glob("*.json")}


def errors(report) -> list[tuple[str, str, object]]:
    return [(p.file, p.path, p.value) for p in report.problems if p.severity == "error"]


RAW_DOCS = documents_of(EXAMPLES / RAW)
DERIVED_DOCS = documents_of(EXAMPLES / DERIVED)


def changed(documents: dict, filename: str, **fields: object) -> dict:
    return {**documents, filename: {**documents[filename], **fields}}


@pytest.mark.parametrize(
    "filename", ["data_description.json", "subject.json", "procedures.json", "acquisition.json"]
)
def test_subject_id_must_match_the_name(filename: str) -> None:
    report = validate_documents(RAW, changed(RAW_DOCS, filename, subject_id="654321"))
    assert errors(report) == [(filename, "subject_id", "654321")]
    assert "differs from the subject id '123456' in the asset name" in report.problems[0].message


def test_modality_of_the_name_must_be_in_data_description() -> None:
    docs = changed(RAW_DOCS, "data_description.json", modalities=["behavior"])
    report = validate_documents(RAW, docs)
    assert errors(report) == [("data_description.json", "modalities", ["behavior"])]
    assert (
        "does not include 'ecephys', the modality in the asset name" in report.problems[0].message
    )


def test_raw_creation_time_must_match_the_name_to_the_second() -> None:
    docs = changed(RAW_DOCS, "data_description.json", creation_time="2024-03-01T14:05:10-08:00")
    report = validate_documents(RAW, docs)
    assert errors(report) == [
        ("data_description.json", "creation_time", "2024-03-01T14:05:10-08:00")
    ]
    assert "(acquisition time)" in report.problems[0].message
    same_second = changed(
        RAW_DOCS, "data_description.json", creation_time="2024-03-01T14:05:09.750-08:00"
    )
    assert validate_documents(RAW, same_second).problems == []


def test_creation_time_compares_wall_clock_not_instant() -> None:
    utc = changed(RAW_DOCS, "data_description.json", creation_time="2024-03-01T22:05:09+00:00")
    assert errors(validate_documents(RAW, utc)) == [
        ("data_description.json", "creation_time", "2024-03-01T22:05:09+00:00")
    ]


def test_derived_creation_time_is_the_processing_time() -> None:
    docs = changed(DERIVED_DOCS, "data_description.json", creation_time="2024-03-01T14:05:09-08:00")
    report = validate_documents(DERIVED, docs)
    assert errors(report) == [
        ("data_description.json", "creation_time", "2024-03-01T14:05:09-08:00")
    ]
    assert "says 2024-03-02T09:30:00 (processing time)" in report.problems[0].message


def test_data_level_must_match_the_name() -> None:
    report = validate_documents(
        RAW, changed(RAW_DOCS, "data_description.json", data_level="derived")
    )
    assert errors(report) == [("data_description.json", "data_level", "derived")]
    assert report.problems[0].message == "must be 'raw': the asset name is that of a raw asset"


def test_data_description_name_must_be_the_folder_name() -> None:
    report = validate_documents(RAW, changed(RAW_DOCS, "data_description.json", name="session1"))
    assert errors(report) == [("data_description.json", "name", "session1")]


def test_derived_source_data_must_name_the_source() -> None:
    report = validate_documents(
        DERIVED, changed(DERIVED_DOCS, "data_description.json", source_data=[])
    )
    assert errors(report) == [("data_description.json", "source_data", [])]
    assert f"source asset '{RAW}'" in report.problems[0].message


def test_required_sidecars_by_level() -> None:
    raw = validate_documents(RAW, {"data_description.json": RAW_DOCS["data_description.json"]})
    assert errors(raw) == [("subject.json", "", None)]
    assert [p.file for p in raw.problems if p.severity == "warning"] == [
        "procedures.json",
        "rig.json",
        "processing.json",
        "acquisition.json",
    ]
    derived = validate_documents(
        DERIVED, {"data_description.json": DERIVED_DOCS["data_description.json"]}
    )
    assert errors(derived) == [("processing.json", "", None)]
    empty = validate_documents(RAW, {})
    assert errors(empty) == [("data_description.json", "", None), ("subject.json", "", None)]
    assert not empty.ok and empty.level == "raw"


def test_invalid_name_is_an_error_and_level_comes_from_metadata() -> None:
    report = validate_documents("session 1", RAW_DOCS)
    assert report.name is None
    assert report.level == "raw"
    assert errors(report) == [("session 1", "", "session 1")]
    assert report.to_dict()["name"] == "session 1"


def test_legacy_name_takes_modality_from_metadata() -> None:
    legacy = "123456_2024-03-01_14-05-09"
    report = validate_documents(legacy, changed(RAW_DOCS, "data_description.json", name=legacy))
    assert report.problems == []
    assert report.name.legacy
    assert report.models["data_description.json"].modalities == ["ecephys"]


def test_problems_of_every_file_are_collected() -> None:
    docs = changed(RAW_DOCS, "subject.json", sex="M", colour="blue")
    docs["rig.json"] = b"{not json"
    report = validate_documents(RAW, docs)
    assert [(p.file, p.path, p.severity) for p in report.problems] == [
        ("subject.json", "colour", "warning"),
        ("subject.json", "sex", "error"),
        ("rig.json", "", "error"),
    ]
    assert "rig.json" not in report.sidecars and "subject.json" not in report.models
    assert report.sidecars["subject.json"]["colour"] == "blue"


def test_validate_a_file_path_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(UsageError, match="is not a folder"):
        validate_folder(tmp_path / "x.json")


def test_cli_validate_valid_prints_name_and_exits_0(cli) -> None:
    result = cli("validate", EXAMPLES / RAW)
    assert (result.code, result.out, result.err) == (0, f"valid: {RAW}\n", "")


def test_cli_validate_prints_warnings_and_exits_0(cli, tmp_path: Path) -> None:
    folder = make_raw_asset(tmp_path, with_data=False)
    (folder / "rig.json").unlink()
    result = cli("validate", folder)
    assert result.code == 0
    assert result.out.splitlines() == [
        f"valid: {RAW}",
        "warning: rig.json: is missing; add it to describe the asset fully",
    ]


def test_cli_validate_invalid_lists_every_problem_and_exits_1(cli, tmp_path: Path) -> None:
    folder = make_raw_asset(tmp_path, with_data=False)
    description = json.loads((folder / "data_description.json").read_text())
    description.update(subject_id="999", data_level="derived")
    (folder / "data_description.json").write_text(json.dumps(description))
    result = cli("validate", folder)
    assert result.code == 1
    assert result.out.splitlines() == [
        f"invalid: {RAW} (2 problems)",
        "error: data_description.json:subject_id: differs from the subject id '123456' in the "
        'asset name; fix the file or the name (got "999")',
        "error: data_description.json:data_level: must be 'raw': the asset name is that of a raw "
        'asset (got "derived")',
    ]
    assert result.err == (
        f"assetlake: error: asset folder {RAW} is invalid (2 problems); fix them and run "
        "assetlake validate again\n"
    )


def test_cli_validate_json(cli, tmp_path: Path) -> None:
    folder = make_derived_asset(tmp_path, RAW, with_data=False)
    (folder / "processing.json").unlink()
    result = cli("validate", folder, "--json")
    assert result.code == 1
    assert json.loads(result.out) == {
        "valid": False,
        "name": folder.name,
        "folder": str(folder),
        "level": "derived",
        "problems": [
            {
                "file": "processing.json",
                "path": "",
                "message": "is missing; a derived asset needs it, add the file",
                "value": None,
                "severity": "error",
            }
        ],
    }
    valid = json.loads(cli("validate", EXAMPLES / DERIVED, "--json").out)
    assert (valid["valid"], valid["level"], valid["problems"]) == (True, "derived", [])


@pytest.mark.parametrize("make", [lambda tmp: tmp / "missing", lambda tmp: tmp / "file.txt"])
def test_cli_validate_usage_errors_exit_2(cli, tmp_path: Path, make) -> None:
    (tmp_path / "file.txt").write_text("x")
    result = cli("validate", make(tmp_path))
    assert result.code == 2
    assert result.out == ""
    assert len(result.err.splitlines()) == 1
    assert result.err.startswith("assetlake: error: asset folder ")


def test_cli_validate_without_path_exits_2(cli) -> None:
    result = cli("validate")
    assert result.code == 2
    assert "Missing argument 'PATH'" in result.err


def test_checked_in_examples_match_make_examples() -> None:
    """Fails when the models changed without ``examples/make_examples.py`` being run and committed."""
    import importlib.util

    from assetlake.schema import dump_sidecar

    spec = importlib.util.spec_from_file_location("make_examples", EXAMPLES / "make_examples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    expected = module.sidecars()
    assert sorted(expected) == [RAW, DERIVED]
    for name, models in expected.items():
        for filename, model in models.items():
            assert (EXAMPLES / name / filename).read_text() == dump_sidecar(model), (
                f"{name}/{filename}"
            )
