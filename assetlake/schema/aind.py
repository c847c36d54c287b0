"""aind-data-schema v1 and v2 documents mapped onto assetlake's sidecar shapes (pure, no I/O).

assetlake's models follow aind-data-schema v1's field names, so a v1 file needs little: its
unmodelled procedure types set aside and ``input_data_name`` read as ``source_data``. v2 moved
fields around: subject details nest under ``subject_details``, acquisition times are
``acquisition_start_time``/``acquisition_end_time``, processing steps are top-level
``data_processes[]`` with their code in ``code``, procedures are tagged by ``object_type``, and
the rig is ``instrument.json``. :func:`to_assetlake` renames those into assetlake's fields, so
validation and the catalogue read every family the same way. AIND's object shapes
(``{"name", "abbreviation"}``) are flattened later, by the tolerant reader, for every family.
"""

from __future__ import annotations

from typing import Any

from assetlake.document import Shape, detect_shape
from assetlake.problems import Problem, Severity
from assetlake.schema.procedures import SUBJECT_TYPES, SURGICAL_TYPES

#: Foreign file names and the assetlake sidecar each one stands for.
ALIASES = {"instrument.json": "rig.json", "session.json": "acquisition.json"}


def target_file(filename: str) -> str:
    """The assetlake sidecar a metadata file is read as (``instrument.json`` → ``rig.json``)."""
    return ALIASES.get(filename, filename)


def to_assetlake(
    filename: str, document: dict[str, Any]
) -> tuple[Shape, dict[str, Any], list[Problem]]:
    """The document in assetlake's shape, the family that wrote it, and warnings for what was
    set aside (procedure types assetlake does not model). Never edits ``document``."""
    shape = detect_shape(document)
    if shape is Shape.ASSETLAKE:
        return shape, document, []
    data = _without_nulls(document)
    problems: list[Problem] = []
    target = target_file(filename)
    if shape is Shape.AIND_V2:
        data = _V2.get(target, _same)(data)
    elif target == "data_description.json" and "input_data_name" in data:
        data.setdefault("source_data", [data.pop("input_data_name")])
    if target == "procedures.json":
        tag = "object_type" if shape is Shape.AIND_V2 else "procedure_type"
        data, problems = _procedures(filename, data, tag)
    return shape, data, problems


def _without_nulls(node: Any) -> Any:
    """AIND writes every absent optional as null; assetlake leaves it out (lists default to [])."""
    if isinstance(node, dict):
        return {key: _without_nulls(value) for key, value in node.items() if value is not None}
    if isinstance(node, list):
        return [_without_nulls(item) for item in node]
    return node


def _same(data: dict[str, Any]) -> dict[str, Any]:
    return data


def _renamed(data: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    return {names.get(key, key): value for key, value in data.items()}


def _name(value: Any) -> Any:
    return value.get("name", value) if isinstance(value, dict) else value


def _subject(data: dict[str, Any]) -> dict[str, Any]:
    details = data.pop("subject_details", None)
    if isinstance(details, dict):
        for key, value in details.items():
            if key == "strain":
                data.setdefault("background_strain", _name(value))
            elif key != "object_type":
                data.setdefault(key, value)
    return data


def _acquisition(data: dict[str, Any]) -> dict[str, Any]:
    data = _renamed(
        data,
        {
            "acquisition_start_time": "session_start_time",
            "acquisition_end_time": "session_end_time",
            "experimenters": "experimenter_full_name",
            "instrument_id": "rig_id",
            "acquisition_type": "session_type",
        },
    )
    streams = data.get("data_streams")
    if isinstance(streams, list):
        data["data_streams"] = [
            _renamed(s, {"modalities": "stream_modalities", "active_devices": "daq_names"})
            if isinstance(s, dict)
            else s
            for s in streams
        ]
    return data


def _processing(data: dict[str, Any]) -> dict[str, Any]:
    steps = data.pop("data_processes", None)
    if not isinstance(steps, list):
        return data
    mapped = [_step(step) if isinstance(step, dict) else step for step in steps]
    pipeline: dict[str, Any] = {"data_processes": mapped}
    people = next(
        (s.get("experimenters") for s in steps if isinstance(s, dict) and s.get("experimenters")),
        None,
    )
    if isinstance(people, list) and people:
        pipeline["processor_full_name"] = people[0]
    data["processing_pipeline"] = pipeline
    return data


def _step(step: dict[str, Any]) -> dict[str, Any]:
    """A v2 data process as v1's: its code's URL, version and inputs lifted to the step."""
    code = step.get("code") if isinstance(step.get("code"), dict) else {}
    mapped = {
        key: step[key]
        for key in ("start_date_time", "end_date_time", "notes", "outputs")
        if key in step
    }
    mapped["name"] = step.get("name") or step.get("process_type")
    for key, source in (("software_version", "version"), ("code_url", "url")):
        if code.get(source) is not None:
            mapped[key] = code[source]
    inputs = code.get("input_data")
    if isinstance(inputs, list) and inputs:
        mapped["input_location"] = [_location(item) for item in inputs]
    if "output_path" in step:
        mapped["output_location"] = step["output_path"]
    if isinstance(code.get("parameters"), dict):
        mapped["parameters"] = code["parameters"]
    return mapped


def _location(item: Any) -> Any:
    return item.get("name") or item.get("url") if isinstance(item, dict) else item


def single_inputs(data: dict[str, Any]) -> dict[str, Any]:
    """v1 and v2 allow several inputs per step; assetlake's ``input_location`` is one, so the
    model is checked with the first (the catalogue's ``sources`` reads them all)."""
    pipeline = data.get("processing_pipeline")
    steps = pipeline.get("data_processes") if isinstance(pipeline, dict) else None
    if isinstance(steps, list):
        pipeline = {**pipeline, "data_processes": [_first_input(s) for s in steps]}
        data = {**data, "processing_pipeline": pipeline}
    return data


def _first_input(step: Any) -> Any:
    if isinstance(step, dict) and isinstance(step.get("input_location"), list):
        inputs = step["input_location"]
        return {**step, "input_location": inputs[0] if inputs else ""}
    return step


def _instrument(data: dict[str, Any]) -> dict[str, Any]:
    data = _renamed(data, {"instrument_id": "rig_id"})
    components = data.pop("components", None)
    if isinstance(components, list):
        data["devices"] = [
            {
                "device_type": device.get("object_type"),
                **{
                    key: device[key]
                    for key in ("name", "manufacturer", "model", "serial_number", "notes")
                    if key in device
                },
            }
            for device in components
            if isinstance(device, dict)
        ]
    return data


def _procedures(
    filename: str, data: dict[str, Any], tag: str
) -> tuple[dict[str, Any], list[Problem]]:
    """Procedures retagged as ``procedure_type``; types assetlake does not model set aside with
    a warning (a surgery left with none is set aside whole)."""
    problems: list[Problem] = []
    kept = []
    entries = data.get("subject_procedures")
    if not isinstance(entries, list):
        return data, problems
    for index, entry in enumerate(entries):
        path = f"subject_procedures[{index}]"
        if not isinstance(entry, dict):
            kept.append(entry)
            continue
        kind = entry.get(tag)
        if kind not in SUBJECT_TYPES:
            problems.append(_unmodelled(filename, path, kind))
            continue
        entry = _retagged(entry, tag)
        if kind == "Surgery":
            entry = _surgery(entry)
            inner = []
            for number, step in enumerate(entry.get("procedures") or []):
                if isinstance(step, dict) and step.get(tag) not in SURGICAL_TYPES:
                    where = f"{path}.procedures[{number}]"
                    problems.append(_unmodelled(filename, where, step.get(tag)))
                    continue
                inner.append(_retagged(step, tag) if isinstance(step, dict) else step)
            if not inner and entry.get("procedures"):
                continue
            entry["procedures"] = inner
        kept.append(entry)
    return {**data, "subject_procedures": kept}, problems


def _retagged(entry: dict[str, Any], tag: str) -> dict[str, Any]:
    if tag == "procedure_type":
        return dict(entry)
    return {("procedure_type" if key == tag else key): value for key, value in entry.items()}


def _surgery(entry: dict[str, Any]) -> dict[str, Any]:
    entry = _renamed(entry, {"ethics_review_id": "iacuc_protocol"})
    people = entry.pop("experimenters", None)
    if isinstance(people, list) and people and "experimenter_full_name" not in entry:
        entry["experimenter_full_name"] = ", ".join(str(person) for person in people)
    entry["procedures"] = [
        _renamed(step, {"size": "craniotomy_size"})
        if isinstance(step, dict) and step.get("object_type") == "Craniotomy"
        else step
        for step in entry.get("procedures") or []
    ]
    return entry


def _unmodelled(filename: str, path: str, kind: Any) -> Problem:
    return Problem(
        filename,
        path,
        f"procedure type {kind!r} is not one assetlake models; read as is, not checked",
        severity=Severity.WARNING,
    )


_V2 = {
    "subject.json": _subject,
    "acquisition.json": _acquisition,
    "processing.json": _processing,
    "rig.json": _instrument,
}
