"""Sidecar models: strict on write, tolerant on read, AIND v1 shapes, and the published schemas."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from assetlake.asset import SIDECAR_FILES
from assetlake.errors import MetadataError, UsageError
from assetlake.naming import AssetName
from assetlake.problems import Problem, Severity
from assetlake.schema import SIDECARS, Sidecar, dump_sidecar, json_schemas, read_sidecar
from assetlake.schema.samples import derived_sidecars, raw_sidecars

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
ACQUIRED = datetime(2024, 3, 1, 14, 5, 9, tzinfo=ZoneInfo("America/Los_Angeles"))
RAW = AssetName.raw("ecephys", "123456", ACQUIRED)
SAMPLES = raw_sidecars(RAW, ACQUIRED)
FILES = list(SIDECARS)


def sample(filename: str) -> dict[str, Any]:
    return SAMPLES[filename].model_dump(mode="json")


def warning(file: str, path: str, message: str, value: Any = None) -> Problem:
    return Problem(file, path, message, value, Severity.WARNING)


@pytest.mark.parametrize("filename", FILES)
def test_dump_and_read_round_trip(filename: str) -> None:
    text = dump_sidecar(SAMPLES[filename])
    assert json.loads(text)["schema_version"] == "1.0.0"
    assert read_sidecar(filename, text) == (SAMPLES[filename], [])
    assert read_sidecar(filename, text.encode()) == (SAMPLES[filename], [])


@pytest.mark.parametrize("filename", FILES)
def test_unknown_field_is_rejected_on_write_with_path_and_value(filename: str) -> None:
    data = {**sample(filename), "colour": "blue"}
    with pytest.raises(MetadataError) as caught:
        SIDECARS[filename].parse(data)
    assert caught.value.problems == [
        Problem(
            filename,
            "colour",
            f"is not a field of {filename} (schema 1.0.0); remove it or fix its spelling",
            "blue",
        )
    ]
    assert str(caught.value) == f"{filename} is invalid: {caught.value.problems[0]}"


@pytest.mark.parametrize("filename", FILES)
def test_unknown_field_is_a_warning_on_read(filename: str) -> None:
    model, problems = read_sidecar(filename, {**sample(filename), "colour": "blue"})
    assert model == SAMPLES[filename]
    assert problems == [
        warning(
            filename,
            "colour",
            f"is not a field of {filename} (schema 1.0.0); ignored, remove it or fix its spelling",
            "blue",
        )
    ]


@pytest.mark.parametrize("filename", FILES)
def test_other_schema_version_is_read_with_a_warning_but_never_written(filename: str) -> None:
    data = {**sample(filename), "schema_version": "0.9.1"}
    model, problems = read_sidecar(filename, data)
    assert model is not None and model.schema_version == "0.9.1"
    assert problems == [
        warning(
            filename,
            "schema_version",
            "differs from the version assetlake writes (1.0.0); read as is, rewrite it with "
            "assetlake to upgrade",
            "0.9.1",
        )
    ]
    with pytest.raises(MetadataError, match=r"assetlake writes schema_version '1.0.0'"):
        dump_sidecar(model)


@pytest.mark.parametrize("filename", FILES)
def test_missing_schema_version_is_a_warning(filename: str) -> None:
    data = sample(filename)
    del data["schema_version"]
    model, problems = read_sidecar(filename, data)
    assert model == SAMPLES[filename]
    assert [(p.path, p.severity) for p in problems] == [("schema_version", "warning")]


@pytest.mark.parametrize(
    ("filename", "path"),
    [
        ("data_description.json", ["creation_time"]),
        ("processing.json", ["processing_pipeline", "data_processes", 0, "start_date_time"]),
        ("acquisition.json", ["data_streams", 0, "stream_end_time"]),
    ],
)
def test_naive_time_rejected_on_write_and_read_as_utc(filename: str, path: list) -> None:
    data = sample(filename)
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = "2024-03-01T23:00:00"
    json_path = ".".join(str(k) for k in path).replace(".0.", "[0].")
    with pytest.raises(MetadataError) as caught:
        SIDECARS[filename].parse(data)
    assert caught.value.problems == [
        Problem(
            filename,
            json_path,
            "has no timezone; give the time with an offset, e.g. 2024-03-01T14:05:09-08:00",
            "2024-03-01T23:00:00",
        )
    ]
    model, problems = read_sidecar(filename, data)
    assert model is not None
    assert [(p.path, p.severity, p.value) for p in problems] == [
        (json_path, "warning", "2024-03-01T23:00:00")
    ]
    read = model.model_dump(mode="json")
    for key in path:
        read = read[key]
    assert read == "2024-03-01T23:00:00Z"


def test_date_only_time_is_read_as_utc_midnight() -> None:
    data = {**sample("data_description.json"), "creation_time": "2024-03-01"}
    model, problems = read_sidecar("data_description.json", data)
    assert model.creation_time == datetime(2024, 3, 1, tzinfo=UTC)
    assert [(p.path, p.severity, p.value) for p in problems] == [
        ("creation_time", "warning", "2024-03-01")
    ]


def test_naive_python_datetime_is_rejected_by_dump() -> None:
    model = SAMPLES["data_description.json"].model_copy(
        update={"creation_time": datetime(2024, 3, 1, 14, 5, 9)}
    )
    with pytest.raises(
        MetadataError, match=r"data_description.json:creation_time: has no timezone"
    ):
        dump_sidecar(model)


@pytest.mark.parametrize(
    ("filename", "change", "path", "value", "message"),
    [
        ("subject.json", {"date_of_birth": "last spring"}, "date_of_birth", "last spring", "date"),
        ("subject.json", {"sex": "M"}, "sex", "M", "'Male' or 'Female'"),
        ("subject.json", {"subject_id": 123456}, "subject_id", 123456, "valid string"),
        (
            "data_description.json",
            {"data_level": "processed"},
            "data_level",
            "processed",
            "'raw' or 'derived'",
        ),
        ("data_description.json", {"modalities": []}, "modalities", [], "at least 1 item"),
        (
            "rig.json",
            {"devices": [{"name": "A"}]},
            "devices[0].device_type",
            None,
            "is required; add it",
        ),
        (
            "acquisition.json",
            {"session_end_time": "2024-03-01T13:00:00-08:00"},
            "",
            None,
            "is before session_start_time",
        ),
    ],
)
def test_mistyped_fields_are_errors_on_write_and_read(
    filename: str, change: dict, path: str, value: Any, message: str
) -> None:
    data = {**sample(filename), **change}
    with pytest.raises(MetadataError) as caught:
        SIDECARS[filename].parse(data)
    model, problems = read_sidecar(filename, data)
    assert model is None
    assert problems == caught.value.problems
    [problem] = problems
    assert (problem.file, problem.path, problem.value, problem.severity) == (
        filename,
        path,
        value,
        "error",
    )
    assert message in problem.message


def test_nested_procedure_errors_name_their_json_path() -> None:
    data = sample("procedures.json")
    injection = data["subject_procedures"][0]["procedures"][2]
    injection["depth_mm"] = 0.5
    injection["injection_volume"] = ["lots"]
    model, problems = read_sidecar("procedures.json", data)
    assert model is None
    assert [(p.path, p.value, p.severity) for p in problems] == [
        ("subject_procedures[0].procedures[2].depth_mm", 0.5, "warning"),
        ("subject_procedures[0].procedures[2].injection_volume[0]", "lots", "error"),
    ]


def test_unknown_procedure_type_is_an_error() -> None:
    data = sample("procedures.json")
    data["subject_procedures"][0]["procedures"][0]["procedure_type"] = "Teleportation"
    model, [problem] = read_sidecar("procedures.json", data)
    assert model is None
    assert problem.path == "subject_procedures[0].procedures[0]"
    assert (
        "does not match any of the expected tags: 'Craniotomy', 'Headframe', 'Injection'"
        in problem.message
    )


def test_processing_steps_must_end_after_they_start() -> None:
    created = datetime(2024, 3, 2, 9, 30, tzinfo=ZoneInfo("America/Los_Angeles"))
    data = derived_sidecars(RAW.derive("sorted", created), created)["processing.json"].model_dump(
        mode="json"
    )
    step = data["processing_pipeline"]["data_processes"][0]
    step["end_date_time"], step["start_date_time"] = step["start_date_time"], step["end_date_time"]
    model, [problem] = read_sidecar("processing.json", data)
    assert model is None
    assert problem.path == "processing_pipeline.data_processes[0]"
    assert problem.message.startswith(
        "end_date_time 2024-03-02T08:50:00-08:00 is before start_date_time 2024-03-02T09:30:00-08:00"
    )


def test_aind_v1_object_shapes_are_read_as_strings() -> None:
    aind = {
        "describedBy": "https://raw.githubusercontent.com/AllenNeuralDynamics/aind-data-schema/main/src/aind_data_schema/core/data_description.py",
        "schema_version": "1.0.0",
        "name": "ecephys_123456_2024-03-01_14-05-09",
        "subject_id": "123456",
        "creation_time": "2024-03-01T14:05:09-08:00",
        "data_level": "raw",
        "modality": [{"name": "Extracellular electrophysiology", "abbreviation": "ecephys"}],
        "institution": {"name": "Allen Institute for Neural Dynamics", "abbreviation": "AIND"},
        "investigators": [{"name": "Jane Doe", "abbreviation": "JD", "registry_identifier": None}],
        "funding_source": [{"funder": {"name": "Allen Institute", "abbreviation": "AI"}}],
        "project_name": "Visual Behavior",
    }
    model, problems = read_sidecar("data_description.json", aind)
    assert problems == []
    assert (model.institution, model.investigators, model.modalities) == (
        "AIND",
        ["Jane Doe"],
        ["ecephys"],
    )
    assert model.funding_source[0].funder == "AI"
    assert aind["institution"]["abbreviation"] == "AIND", "the caller's dict is left as it was"


def test_aind_v1_subject_and_session_shapes() -> None:
    subject = {
        **sample("subject.json"),
        "species": {"name": "Mus musculus", "registry_identifier": "10090"},
    }
    model, problems = read_sidecar("subject.json", subject)
    assert (model.species, problems) == ("Mus musculus", [])
    acquisition = sample("acquisition.json")
    acquisition["data_streams"][0]["stream_modalities"] = [
        {"name": "Extracellular electrophysiology", "abbreviation": "ecephys"}
    ]
    model, problems = read_sidecar("acquisition.json", acquisition)
    assert (model.data_streams[0].stream_modalities, problems) == (["ecephys"], [])
    rig = {**sample("rig.json"), "modalities": [{"abbreviation": "ecephys"}]}
    model, problems = read_sidecar("rig.json", rig)
    assert (model.modalities, problems) == (["ecephys"], [])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff\xfe{}", "is not UTF-8 text (byte 0); save it as UTF-8"),
        (
            '{"subject_id": }',
            "is not valid JSON (Expecting value at line 1 column 16); fix the syntax",
        ),
        ("[1, 2]", "must hold a JSON object, not list; wrap the fields in {...}"),
        ("42", "must hold a JSON object, not int; wrap the fields in {...}"),
    ],
)
def test_unreadable_content_is_one_error_never_an_exception(
    data: bytes | str, message: str
) -> None:
    model, [problem] = read_sidecar("subject.json", data)
    assert model is None
    assert (problem.file, problem.path, problem.message, problem.severity) == (
        "subject.json",
        "",
        message,
        "error",
    )


def test_unknown_sidecar_file_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"'session.json' is not a sidecar file"):
        read_sidecar("session.json", "{}")


def test_every_sidecar_is_a_sidecar_with_its_filename() -> None:
    assert (
        FILES
        == list(SIDECAR_FILES)
        == [
            "data_description.json",
            "subject.json",
            "procedures.json",
            "rig.json",
            "processing.json",
            "acquisition.json",
        ]
    )
    for filename, model in SIDECARS.items():
        assert issubclass(model, Sidecar) and model.filename == filename


def test_checked_in_schemas_are_current() -> None:
    """Fails when a model changed without `assetlake schema export` being run and committed."""
    expected = json_schemas()
    assert sorted(p.name for p in SCHEMAS.glob("*.schema.json")) == sorted(expected)
    for name, schema in expected.items():
        assert json.loads((SCHEMAS / name).read_text()) == schema, (
            f"run: assetlake schema export ({name})"
        )


def test_schemas_forbid_extra_fields_and_publish_descriptions() -> None:
    schema = json_schemas()["processing.schema.json"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["schema_version"]["const"] == "1.0.0"
    step = schema["$defs"]["DataProcess"]
    assert step["additionalProperties"] is False
    assert step["properties"]["start_date_time"]["format"] == "date-time"
    assert step["properties"]["code_url"]["description"]


def test_cli_schema_export(cli, tmp_path: Path) -> None:
    out = tmp_path / "published"
    result = cli("schema", "export", "--out", out)
    assert result.code == 0, result.err
    assert result.out.splitlines() == [f"wrote {out / name}" for name in json_schemas()]
    for name in json_schemas():
        assert (out / name).read_bytes() == (SCHEMAS / name).read_bytes()


def test_cli_schema_export_into_a_file_is_a_usage_error(cli, tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    result = cli("schema", "export", "--out", target)
    assert result.code == 2
    assert len(result.err.splitlines()) == 1
    assert "is a file" in result.err
