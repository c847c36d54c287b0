"""Checking an asset: its sidecars, and whether they agree with its name.

:func:`validate_documents` is pure (the indexer feeds it sidecars fetched from the lake);
:func:`validate_folder` only reads a local folder's files and calls it. Problems are returned as
data; the caller (CLI, uploader, indexer) decides what an error means for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from assetlake.document import control_characters
from assetlake.errors import InvalidNameError, UsageError
from assetlake.naming import AssetName, Level, parse_name
from assetlake.problems import Problem, Severity, has_errors
from assetlake.schema import METADATA_FILES, SIDECARS, DataDescription, Sidecar, read_metadata
from assetlake.schema.aind import target_file

DATA_DESCRIPTION = "data_description.json"
#: Beyond data_description.json, which sidecar each level cannot do without.
REQUIRED = {"raw": "subject.json", "derived": "processing.json"}
#: Sidecars whose ``subject_id`` must be the name's.
_WITH_SUBJECT = ("data_description.json", "subject.json", "procedures.json", "acquisition.json")


@dataclass
class Report:
    """The outcome of validating one asset: what was read, and every problem found."""

    folder: str
    name: AssetName | None
    sidecars: dict[str, dict] = field(default_factory=dict)
    models: dict[str, Sidecar] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not has_errors(self.problems)

    @property
    def level(self) -> str | None:
        if self.name is not None:
            return self.name.level.value
        description = self.models.get(DATA_DESCRIPTION)
        return description.data_level if isinstance(description, DataDescription) else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.ok,
            "name": str(self.name) if self.name is not None else self.folder,
            "folder": self.folder,
            "level": self.level,
            "problems": [p.to_dict() for p in self.problems],
        }


def validate_documents(
    name: str, documents: Mapping[str, bytes | str | dict], *, strict: bool = False
) -> Report:
    """Validate the metadata files of the asset ``name`` (file name → content); no I/O.

    aind-data-schema files are read as the sidecar they stand for (``instrument.json`` as
    ``rig.json``, ``session.json`` as ``acquisition.json``) unless the asset has that sidecar
    too. ``strict`` is for what assetlake is about to write: control characters are errors."""
    report = Report(folder=name, name=None)
    try:
        report.name = parse_name(name)
    except InvalidNameError as error:
        report.problems.append(Problem(name, "", f"{error}; rename the folder", name))
    for filename in METADATA_FILES:
        target = target_file(filename)
        if filename not in documents or (target != filename and target in documents):
            continue
        document, model, problems = read_metadata(filename, documents[filename])
        report.problems += problems
        if document is None:
            continue
        if strict:
            report.problems += control_characters(filename, document)
        report.sidecars[filename] = document
        if model is not None:
            report.models[target] = model
    report.problems += _missing(report, {target_file(f) for f in documents})
    report.problems += _cross_check(report)
    return report


def validate_folder(path: Path) -> Report:
    """Validate a local asset folder, named by the grammar, holding its sidecar files, as
    strictly as the uploader does (it calls this)."""
    path = Path(path)
    if not path.is_dir():
        what = "is not a folder" if path.exists() else "does not exist"
        raise UsageError(f"asset folder {str(path)!r} {what}; give the path of an asset folder")
    documents = {
        filename: (path / filename).read_bytes()
        for filename in METADATA_FILES
        if (path / filename).is_file()
    }
    report = validate_documents(path.resolve().name, documents, strict=True)
    report.folder = str(path)
    return report


def _missing(report: Report, present: set[str]) -> list[Problem]:
    required = {DATA_DESCRIPTION}
    if report.level in REQUIRED:
        required.add(REQUIRED[report.level])
    problems = []
    for filename in SIDECARS:
        if filename in present:
            continue
        if filename in required:
            why = (
                "every asset needs it"
                if filename == DATA_DESCRIPTION
                else f"a {report.level} asset needs it"
            )
            problems.append(Problem(filename, "", f"is missing; {why}, add the file"))
        else:
            problems.append(
                Problem(
                    filename,
                    "",
                    "is missing; add it to describe the asset fully",
                    severity=Severity.WARNING,
                )
            )
    return problems


def _cross_check(report: Report) -> list[Problem]:
    """Where the name and the sidecars disagree: subject, modality, time, level, name, source."""
    name = report.name
    description = report.models.get(DATA_DESCRIPTION)
    if name is None:
        return []
    problems = []
    for filename in _WITH_SUBJECT:
        model = report.models.get(filename)
        if model is not None and model.subject_id != name.subject_id:
            problems.append(
                Problem(
                    filename,
                    "subject_id",
                    f"differs from the subject id {name.subject_id!r} in the asset name; "
                    "fix the file or the name",
                    model.subject_id,
                )
            )
    if not isinstance(description, DataDescription):
        return problems
    if description.name != str(name):
        problems.append(
            Problem(
                DATA_DESCRIPTION,
                "name",
                f"must equal the folder name {str(name)!r}; set it",
                description.name,
            )
        )
    if name.modality is not None and name.modality not in description.modalities:
        problems.append(
            Problem(
                DATA_DESCRIPTION,
                "modalities",
                f"does not include {name.modality!r}, the modality in the asset name; add it",
                description.modalities,
            )
        )
    if _wall_clock(description.creation_time) != name.timestamp:
        what = "acquisition" if name.level is Level.RAW else "processing"
        problems.append(
            Problem(
                DATA_DESCRIPTION,
                "creation_time",
                f"has wall clock {_wall_clock(description.creation_time).isoformat()} but the name "
                f"says {name.timestamp.isoformat()} ({what} time); make them agree to the second",
                description.creation_time.isoformat(),
            )
        )
    if description.data_level != name.level.value:
        problems.append(
            Problem(
                DATA_DESCRIPTION,
                "data_level",
                f"must be {name.level.value!r}: the asset name is that of a {name.level.value} asset",
                description.data_level,
            )
        )
    if name.source is not None and str(name.source) not in description.source_data:
        problems.append(
            Problem(
                DATA_DESCRIPTION,
                "source_data",
                f"does not include the source asset {str(name.source)!r} named in the asset name; "
                "add it",
                description.source_data,
            )
        )
    return problems


def _wall_clock(moment: datetime) -> datetime:
    return moment.replace(microsecond=0, tzinfo=None)
