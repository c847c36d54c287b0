"""The base of every sidecar model, and the strict-write / tolerant-read rules they share.

Writing is strict (``extra="forbid"``, timezone-aware times, the current ``schema_version``) so
assetlake never produces a file another reader must guess about. Reading is tolerant because the
catalogue must index what other versions and tools (aind-data-schema v1) wrote: unknown fields,
naive times and other schema versions become warnings, AIND's object shapes are flattened, and only
content that cannot be understood at all is an error.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from assetlake.document import read_document
from assetlake.errors import MetadataError
from assetlake.problems import Problem, Severity

TOLERANT = {"tolerant": True}
#: The discriminator of procedure unions; pydantic puts its value in error locations.
TAG = "procedure_type"
_FIXABLE = ("extra_forbidden", "timezone_aware")
#: AIND v1 writes these as objects (``{"name": ..., "abbreviation": ...}``); assetlake as strings.
_ORGANISATIONS = ("institution", "source", "funder", "species", "manufacturer")
_PEOPLE = ("investigators", "experimenters")
_MODALITY_LISTS = ("modalities", "stream_modalities")
#: The JSON containers (the document reader makes only these types).
_CONTAINERS = (dict, list)


def version_field(version: str) -> Any:
    """The ``schema_version`` field of a sidecar: defaults to, and is published as, ``version``."""
    return Field(
        default=version,
        title="Schema version",
        description="Version of the assetlake schema this file follows; readers warn on others.",
        json_schema_extra={"const": version},
    )


class Sidecar(BaseModel):
    """One JSON sidecar file of an asset; subclasses set ``filename`` and their ``schema_version``."""

    model_config = ConfigDict(extra="forbid")
    filename: ClassVar[str]

    schema_version: str

    @classmethod
    def current_version(cls) -> str:
        return str(cls.model_fields["schema_version"].default)

    @field_validator("schema_version")
    @classmethod
    def _written_version(cls, value: str, info: ValidationInfo) -> str:
        if not is_tolerant(info) and value != cls.current_version():
            raise ValueError(
                f"assetlake writes schema_version {cls.current_version()!r}; set it or leave it out"
            )
        return value

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Self:
        """Validate ``data`` strictly (as for writing); raise :class:`MetadataError` listing problems."""
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            problems = error_problems(cls, error, data, Severity.ERROR)
            raise MetadataError(
                f"{cls.filename} is invalid: {problems[0]}"
                + (f" and {len(problems) - 1} more" if len(problems) > 1 else ""),
                problems,
            ) from None


def is_tolerant(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("tolerant"))


def dump_sidecar(model: Sidecar) -> str:
    """The JSON text of a sidecar, re-validated strictly so no invalid file is ever written."""
    data = model.model_dump(mode="json")
    type(model).parse(data)
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def decode_sidecar(filename: str, data: bytes | str | dict) -> tuple[dict | None, list[Problem]]:
    """The JSON object in a sidecar's bytes (through the one document reader), or why there is none."""
    if isinstance(data, dict):
        return data, []
    document = read_document(filename, data)
    if isinstance(document, Problem):
        return None, [document]
    return document, []


def read_tolerant(
    model: type[Sidecar], data: dict[str, Any], *, foreign: bool = False
) -> tuple[Sidecar | None, list[Problem]]:
    """Read ``data`` as ``model`` the tolerant way: fixable deviations become warnings.

    ``foreign`` data (an aind-data-schema file mapped onto ``model``) follows its own schema and
    version: its fields that assetlake does not model are dropped silently, its version is not
    compared with assetlake's, and a field assetlake needs but that schema may leave out is a
    warning, not an error."""
    problems: list[Problem] = [] if foreign else _version_problems(model, data)
    data = _flatten_aind(data)
    data.pop("describedBy", None)
    while True:
        try:
            return model.model_validate(data, context=TOLERANT), problems
        except ValidationError as error:
            fixable = [e for e in error.errors() if e["type"] in _FIXABLE]
            shown = [e for e in fixable if not (foreign and e["type"] == "extra_forbidden")]
            problems += _to_problems(model, shown, data, Severity.WARNING)
            if len(fixable) < error.error_count():
                rest = [e for e in error.errors() if e["type"] not in _FIXABLE]
                for e in rest:
                    excused = foreign and e["type"] == "missing"
                    severity = Severity.WARNING if excused else Severity.ERROR
                    problems += _to_problems(model, [e], data, severity)
                return None, problems
            for e in fixable:
                parent, key = _locate(e["loc"], data)[-1]
                if e["type"] == "extra_forbidden":
                    del parent[key]
                else:
                    parent[key] = _as_utc(parent[key])


def _version_problems(model: type[Sidecar], data: dict[str, Any]) -> list[Problem]:
    filename = model.filename
    version = data.get("schema_version")
    if version is None:
        return [
            Problem(
                filename,
                "schema_version",
                f"is missing; read as version {model.current_version()}, add it when rewriting",
                severity=Severity.WARNING,
            )
        ]
    if version != model.current_version():
        return [
            Problem(
                filename,
                "schema_version",
                f"differs from the version assetlake writes ({model.current_version()}); "
                "read as is, rewrite it with assetlake to upgrade",
                version,
                Severity.WARNING,
            )
        ]
    return []


def _as_utc(moment: Any) -> Any:
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment)
        except ValueError:
            return f"{moment}Z"
    return moment.replace(tzinfo=UTC) if isinstance(moment, datetime) else moment


def error_problems(
    model: type[Sidecar], error: ValidationError, data: Any, severity: Severity
) -> list[Problem]:
    return _to_problems(model, error.errors(), data, severity)


def _to_problems(
    model: type[Sidecar], errors: list[Any], data: Any, severity: Severity
) -> list[Problem]:
    return [
        Problem(
            model.filename,
            json_path(e["loc"], data),
            _message(model, e["type"], e["msg"], severity),
            None if e["type"] == "missing" or isinstance(e["input"], dict) else e["input"],
            severity,
        )
        for e in errors
    ]


def _message(model: type[Sidecar], kind: str, msg: str, severity: Severity) -> str:
    if kind == "missing":
        if severity == Severity.WARNING:
            return "is not in this file but assetlake's schema needs it; the file is not checked further"
        return "is required; add it"
    if kind == "extra_forbidden":
        what = f"is not a field of {model.filename} (schema {model.current_version()})"
        if severity == Severity.WARNING:
            return f"{what}; ignored, remove it or fix its spelling"
        return f"{what}; remove it or fix its spelling"
    if kind == "timezone_aware":
        if severity == Severity.WARNING:
            return "has no timezone; read as UTC, write times with an offset such as -08:00"
        return "has no timezone; give the time with an offset, e.g. 2024-03-01T14:05:09-08:00"
    msg = msg.removeprefix("Value error, ")
    return f"{msg[:1].lower()}{msg[1:]}; correct the value"


def _locate(loc: tuple[Any, ...], data: Any) -> list[tuple[Any, Any]]:
    """The (container, key) steps of a pydantic error location in ``data``, skipping union tags."""
    steps: list[tuple[Any, Any]] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part not in node and node.get(TAG) == part:
            continue
        steps.append((node, part))
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
    return steps


def json_path(loc: tuple[Any, ...], data: Any) -> str:
    """A pydantic error location as a JSON path, e.g. ``data_processes[0].start_date_time``."""
    path = ""
    for _, part in _locate(loc, data):
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _flatten_aind(node: Any) -> Any:
    """AIND v1 object shapes as assetlake's strings: organisations, people, modalities.

    Builds new containers rather than editing ``node``, so the caller's document stays untouched
    and the fix-up loop may edit the copy (no deepcopy pass needed)."""
    if isinstance(node, list):
        return [_flatten_aind(item) if isinstance(item, _CONTAINERS) else item for item in node]
    if not isinstance(node, dict):
        return node
    flat: dict[str, Any] = {}
    for key, value in node.items():
        if not isinstance(value, _CONTAINERS):  # most values: nothing to flatten, no call
            flat[key] = value
            continue
        if key == "modality" and "modalities" not in node and isinstance(value, list):
            key = "modalities"
        if key in _ORGANISATIONS and isinstance(value, dict):
            flat[key] = value.get("abbreviation") or value.get("name") or _flatten_aind(value)
        elif key in _PEOPLE and isinstance(value, list):
            flat[key] = [v.get("name", v) if isinstance(v, dict) else v for v in value]
        elif key in _MODALITY_LISTS and isinstance(value, list):
            flat[key] = [
                v.get("abbreviation") or v.get("name", v) if isinstance(v, dict) else v
                for v in value
            ]
        else:
            flat[key] = _flatten_aind(value)
    return flat
