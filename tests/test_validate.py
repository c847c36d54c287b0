"""Validation of asset folders and documents: required sidecars, cross-checks, the CLI contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from factories import make_derived_asset, make_raw_asset

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
    assert set(report.models) == set(report.sidecars) == {
        "data_description.json",
        "subject.json",
        "procedures.json",
        "rig.json",
        "processing.json",
        "acquisition.json",
    }


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
