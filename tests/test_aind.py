"""Genuine aind-data-schema 2.9 and 1.4 files (tests/fixtures/aind, written by make_fixtures.py
with the library's own models) read into the same catalogue fields as assetlake's own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_index import put_files

from assetlake.catalogue import Catalogue
from assetlake.index import index_lake
from assetlake.naming import parse_name
from assetlake.schema.fields import record_fields
from assetlake.store import open_store
from assetlake.validate import validate_documents, validate_folder

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "aind"
V2_RAW = "ecephys_790123_2025-02-03_10-20-30"
V2_DERIVED = f"{V2_RAW}_sorted_2025-02-04_08-00-00"
V1_RAW = "ecephys_654987_2024-06-07_11-12-13"
V1_DERIVED = f"{V1_RAW}_sorted_2024-06-08_09-00-00"
ASSETS = {
    V2_RAW: FIXTURES / "v2" / V2_RAW,
    V2_DERIVED: FIXTURES / "v2" / V2_DERIVED,
    V1_RAW: FIXTURES / "v1" / V1_RAW,
    V1_DERIVED: FIXTURES / "v1" / V1_DERIVED,
}
SHARED = {
    "investigators": ["Ada Lovelace", "Grace Hopper"],
    "institution": "AIND",
    "species": "Mus musculus",
}
EXPECTED = {
    V2_RAW: {
        **SHARED,
        "level": "raw",
        "subject_id": "790123",
        "modalities": ["ecephys", "behavior-videos"],
        "project": "Cell Type Atlas",
        "sex": "Female",
        "genotype": "Sst-IRES-Cre/wt;Ai32(RCL-ChR2(H134R)_EYFP)/wt",
        "acquired": "2025-02-03T10:20:30-08:00",
        "processed": None,
        "source": None,
        "sources": [],
        "label": None,
    },
    V1_RAW: {
        **SHARED,
        "level": "raw",
        "subject_id": "654987",
        "modalities": ["ecephys"],
        "project": "Brain Map",
        "sex": "Male",
        "genotype": "Pvalb-IRES-Cre/wt",
        "acquired": "2024-06-07T11:12:13-08:00",
        "processed": None,
        "source": None,
        "sources": [],
        "label": None,
    },
}
EXPECTED[V2_DERIVED] = {
    **EXPECTED[V2_RAW],
    "level": "derived",
    "acquired": "2025-02-03T10:20:30",
    "processed": "2025-02-04T08:00:00-08:00",
    "source": V2_RAW,
    "sources": [V2_RAW],
    "label": "sorted",
}
EXPECTED[V1_DERIVED] = {
    **EXPECTED[V1_RAW],
    "level": "derived",
    "acquired": "2024-06-07T11:12:13",
    "processed": "2024-06-08T09:00:00-08:00",
    "source": V1_RAW,
    "sources": [V1_RAW],
    "label": "sorted",
}


#: The files each fixture really lacks (v2's instrument.json stands for rig.json, v1's
#: session.json for acquisition.json).
MISSING = {
    V2_RAW: ["processing.json"],
    V2_DERIVED: ["acquisition.json", "rig.json"],
    V1_RAW: ["processing.json", "rig.json"],
    V1_DERIVED: ["acquisition.json", "rig.json"],
}


def documents(name: str) -> dict[str, Any]:
    return {f.name: json.loads(f.read_text()) for f in ASSETS[name].glob("*.json")}


def test_fixtures_are_what_aind_data_schema_writes() -> None:
    v2 = documents(V2_RAW)
    assert v2["subject.json"]["subject_details"]["object_type"] == "Mouse subject"
    assert v2["data_description.json"]["schema_version"].startswith("2.")
    assert "data_processes" in documents(V2_DERIVED)["processing.json"]
    v1 = documents(V1_RAW)
    assert v1["data_description.json"]["describedBy"].endswith("data_description.py")
    assert "session.json" in v1 and "modality" in v1["data_description.json"]


@pytest.mark.parametrize("name", list(ASSETS))
def test_every_catalogue_field_is_read_from_aind_files(name: str) -> None:
    fields, problems = record_fields(parse_name(name), documents(name))
    assert (fields, problems) == (EXPECTED[name], [])


@pytest.mark.parametrize("name", list(ASSETS))
def test_genuine_aind_assets_validate_with_only_what_is_really_missing(name: str) -> None:
    report = validate_folder(ASSETS[name])
    assert report.ok, [str(p) for p in report.problems]
    assert all(p.severity == "warning" for p in report.problems)
    unmodelled = [
        p.message.split(" is ")[0] for p in report.problems if "procedure type" in p.message
    ]
    missing = sorted(p.file for p in report.problems if p.message.startswith("is missing"))
    assert missing == MISSING[name]
    if name.startswith("ecephys_654987"):
        assert unmodelled == ["procedure type 'Nanoject injection'", "procedure type 'Perfusion'"]
    else:
        assert unmodelled == ["procedure type 'Perfusion'"]
    others = [
        p
        for p in report.problems
        if "procedure type" not in p.message and not p.message.startswith("is missing")
    ]
    if name == V2_DERIVED:  # v2 data processes need no output path; assetlake's do
        assert [(p.file, p.path) for p in others] == [
            ("processing.json", "processing_pipeline.data_processes[0].output_location")
        ]
    else:
        assert others == []


def test_v2_models_hold_the_mapped_values() -> None:
    report = validate_documents(V2_RAW, documents(V2_RAW))
    subject = report.models["subject.json"]
    assert (subject.sex, subject.background_strain, subject.source) == ("Female", "C57BL/6J", "JAX")
    acquisition = report.models["acquisition.json"]
    assert acquisition.rig_id == report.models["rig.json"].rig_id == "323_EPHYS1_20250101"
    assert acquisition.data_streams[0].daq_names == ["Lick spout"]
    [surgery] = report.models["procedures.json"].subject_procedures
    assert [p.procedure_type for p in surgery.procedures] == ["Headframe", "Craniotomy"]
    assert surgery.experimenter_full_name == "Ada Lovelace" and surgery.iacuc_protocol == "2109"


def test_a_real_problem_in_a_v2_file_is_still_an_error() -> None:
    docs = documents(V2_RAW)
    docs["subject.json"]["subject_details"]["sex"] = "M"
    docs["data_description.json"]["subject_id"] = "111111"
    report = validate_documents(V2_RAW, docs)
    assert sorted((p.file, p.path) for p in report.problems if p.severity == "error") == [
        ("data_description.json", "subject_id"),
        ("subject.json", "sex"),
    ]


def test_aind_assets_are_indexed_and_found_by_genotype_and_species(
    lake: str, cli: Any, tmp_path: Path
) -> None:
    store = open_store(lake)
    for name, folder in ASSETS.items():
        put_files(store, name, {f.name: f.read_bytes() for f in folder.glob("*.json")})
        put_files(store, name, {"ecephys/raw.dat": b"x" * 10})
    path = tmp_path / "catalogue.sqlite"
    with Catalogue(path) as catalogue:
        stats = index_lake(store, catalogue)
        assert (stats.total, stats.invalid, stats.unverified) == (4, 0, 4)
        for name in ASSETS:
            record = catalogue.get(name)
            assert {key: getattr(record, key) for key in EXPECTED[name] if key != "sources"} == {
                key: value for key, value in EXPECTED[name].items() if key != "sources"
            }
            assert all(p["severity"] == "warning" for p in record.problems), record.problems

    def found(*options: str) -> list[str]:
        result = cli("find", *options, "--format", "names", "--lake", lake, "--catalogue", path)
        assert result.code == 0, result.err
        return sorted(result.out.split())

    assert found("--genotype", "sst-ires") == sorted([V2_RAW, V2_DERIVED])
    assert found("--genotype", "pvalb") == sorted([V1_RAW, V1_DERIVED])
    assert found("--species", "mus musculus") == sorted(ASSETS)
    assert found("--derived-from", V2_RAW) == [V2_DERIVED]
