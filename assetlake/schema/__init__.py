"""Sidecar models, one module per file: strict when writing, tolerant when reading.

>>> from assetlake.schema import read_sidecar
>>> model, problems = read_sidecar("subject.json", '{"subject_id": "1", "species": "Mus musculus"}')
>>> model, [str(p) for p in problems]  # doctest: +NORMALIZE_WHITESPACE
(None, ['warning: subject.json:schema_version: is missing; read as version 1.0.0, add it when rewriting',
        'error: subject.json:sex: is required; add it',
        'error: subject.json:date_of_birth: is required; add it'])
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from assetlake.errors import UsageError
from assetlake.problems import Problem
from assetlake.schema.acquisition import Acquisition
from assetlake.schema.base import Sidecar, decode_sidecar, dump_sidecar, read_tolerant
from assetlake.schema.data_description import DataDescription
from assetlake.schema.handover import HandOver
from assetlake.schema.procedures import Procedures
from assetlake.schema.processing import Processing
from assetlake.schema.rig import Rig
from assetlake.schema.subject import Subject

__all__ = [
    "SIDECARS",
    "Acquisition",
    "DataDescription",
    "HandOver",
    "Procedures",
    "Processing",
    "Rig",
    "Sidecar",
    "Subject",
    "decode_sidecar",
    "dump_sidecar",
    "json_schemas",
    "read_sidecar",
    "write_schemas",
]

#: File name → model, in the order of ``assetlake.asset.SIDECAR_FILES``.
SIDECARS: dict[str, type[Sidecar]] = {
    model.filename: model
    for model in (DataDescription, Subject, Procedures, Rig, Processing, Acquisition)
}
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def read_sidecar(filename: str, data: bytes | str | dict) -> tuple[Sidecar | None, list[Problem]]:
    """Read a sidecar tolerantly: the model (None if unreadable) and every problem found.

    Extra fields, naive times and other schema versions are warnings; bad JSON, missing or
    mistyped fields are errors. Never raises for bad content.
    """
    model = _model(filename)
    document, problems = decode_sidecar(filename, data)
    if document is None:
        return None, problems
    return read_tolerant(model, document)


def json_schemas() -> dict[str, dict[str, Any]]:
    """The published JSON Schema of each sidecar and of the hand-over manifest, by file name."""
    schemas = {}
    for filename, model in SIDECARS.items():
        schema = {"$schema": JSON_SCHEMA_DIALECT, **model.model_json_schema()}
        schemas[filename.replace(".json", ".schema.json")] = schema
    schemas["handover.schema.json"] = {
        "$schema": JSON_SCHEMA_DIALECT,
        **HandOver.model_json_schema(),
    }
    return schemas


def schema_text(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def write_schemas(folder: Path) -> list[Path]:
    """Write every sidecar's JSON Schema into ``folder`` (created if needed); return the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in json_schemas().items():
        path = folder / name
        path.write_text(schema_text(schema), encoding="utf-8")
        written.append(path)
    return written


def _model(filename: str) -> type[Sidecar]:
    try:
        return SIDECARS[filename]
    except KeyError:
        raise UsageError(
            f"{filename!r} is not a sidecar file; use one of {', '.join(SIDECARS)}"
        ) from None
