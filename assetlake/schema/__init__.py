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
from dataclasses import replace
from pathlib import Path
from typing import Any

from assetlake.document import Shape
from assetlake.errors import UsageError
from assetlake.problems import Problem
from assetlake.schema.acquisition import Acquisition
from assetlake.schema.aind import ALIASES, single_inputs, target_file, to_assetlake
from assetlake.schema.base import Sidecar, decode_sidecar, dump_sidecar, read_tolerant
from assetlake.schema.data_description import DataDescription
from assetlake.schema.handover import HandOver
from assetlake.schema.procedures import Procedures
from assetlake.schema.processing import Processing
from assetlake.schema.rig import Rig
from assetlake.schema.subject import Subject

__all__ = [
    "METADATA_FILES",
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
    "read_metadata",
    "read_sidecar",
    "write_schemas",
]

#: File name → model, in the order of ``assetlake.asset.SIDECAR_FILES``.
SIDECARS: dict[str, type[Sidecar]] = {
    model.filename: model
    for model in (DataDescription, Subject, Procedures, Rig, Processing, Acquisition)
}
#: Every file read as a sidecar: assetlake's, then the foreign ones standing for one of them.
METADATA_FILES = (*SIDECARS, *ALIASES)
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


def read_metadata(
    filename: str, data: bytes | str | dict
) -> tuple[dict | None, Sidecar | None, list[Problem]]:
    """Read an assetlake, aind-data-schema v1 or v2 file as the assetlake sidecar it stands for
    (``instrument.json`` as ``rig.json``): the document, the model (None if unreadable) and
    every problem, reported against ``filename``. Never raises for bad content.

    An aind-data-schema file is judged by its own schema: fields and procedure types assetlake
    does not model are set aside (the latter with a warning), and a field assetlake needs that
    the file lacks is a warning."""
    model = _model(target_file(filename))
    document, problems = decode_sidecar(filename, data)
    if document is None:
        return None, None, problems
    shape, mapped, set_aside = to_assetlake(filename, document)
    if shape is Shape.ASSETLAKE:
        read, found = read_tolerant(model, document)
    else:
        read, found = read_tolerant(model, single_inputs(mapped), foreign=True)
    found = [p if p.file == filename else replace(p, file=filename) for p in found]
    return document, read, [*set_aside, *found]


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
