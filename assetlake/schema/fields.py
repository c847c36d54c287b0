"""The catalogue's searchable fields, read from an asset's name and sidecars of any family.

Every sidecar is first mapped onto assetlake's shape (:mod:`assetlake.schema.aind`), so one
reading serves assetlake, aind-data-schema v1 and v2 files alike. Each value is bounded and typed
here, where it leaves the sidecars: text is at most :data:`MAX_TEXT` characters, lists at most
:data:`MAX_ITEMS` entries, and a time is kept only if it parses and converts to UTC (a time at
the edge of the calendar with an offset does not). A value that breaks a bound becomes an error
Problem, so the asset is catalogued ``invalid`` instead of breaking SQLite, Parquet or a page.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from assetlake.naming import AssetName, Level, is_asset_name
from assetlake.problems import Problem
from assetlake.schema.aind import ALIASES, target_file, to_assetlake

#: Longest text kept in a catalogue field (a genotype or a project name is far shorter).
MAX_TEXT = 1024
#: Most entries kept in a list field (modalities, investigators, sources).
MAX_ITEMS = 100
_ORGANISATION = ("abbreviation", "name")


def record_fields(
    parsed: AssetName, sidecars: Mapping[str, Any]
) -> tuple[dict[str, Any], list[Problem]]:
    """The searchable fields of an asset, with a Problem for every value out of bounds."""
    docs = _assetlake_shaped(sidecars)
    read = _Reader()
    description = docs.get("data_description.json", {})
    subject = docs.get("subject.json", {})
    acquisition = docs.get("acquisition.json", {})
    derived = parsed.level == Level.DERIVED
    dd = "data_description.json"
    modalities = read.words(dd, "modalities", description.get("modalities"))
    if not modalities and parsed.modality:
        modalities = [parsed.modality]
    acquired = read.time(
        "acquisition.json", "session_start_time", acquisition.get("session_start_time")
    )
    if acquired is None and not derived:
        acquired = read.time(dd, "creation_time", description.get("creation_time"))
    processed = (
        read.time(dd, "creation_time", description.get("creation_time")) if derived else None
    )
    fields = {
        "level": parsed.level.value,
        "modalities": modalities,
        "subject_id": read.text("subject.json", "subject_id", subject.get("subject_id"))
        or read.text(dd, "subject_id", description.get("subject_id"))
        or parsed.subject_id,
        "acquired": acquired or parsed.acquired.isoformat(),
        "project": read.text(dd, "project_name", description.get("project_name")),
        "species": read.text("subject.json", "species", subject.get("species"), ("name",)),
        "sex": read.text("subject.json", "sex", subject.get("sex")),
        "genotype": read.text("subject.json", "genotype", subject.get("genotype")),
        "institution": read.text(dd, "institution", description.get("institution")),
        "investigators": read.words(
            dd, "investigators", description.get("investigators"), ("name",)
        ),
        "source": str(parsed.source) if parsed.source else None,
        "sources": _sources(parsed, description, docs.get("processing.json", {})),
        "label": parsed.label,
        "processed": processed or (parsed.processed.isoformat() if parsed.processed else None),
    }
    return fields, read.problems


def _assetlake_shaped(sidecars: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each sidecar in assetlake's shape, keyed by the assetlake file it stands for; an
    assetlake file wins over a foreign one standing for the same (``rig.json``, ``instrument.json``)."""
    docs: dict[str, dict[str, Any]] = {}
    for filename in sorted(sidecars, key=lambda f: f in ALIASES):
        document = sidecars[filename]
        target = target_file(filename)
        if isinstance(document, dict) and target not in docs:
            docs[target] = to_assetlake(filename, document)[1]
    return docs


def _sources(
    parsed: AssetName, description: Mapping[str, Any], processing: Mapping[str, Any]
) -> list[str]:
    """Every asset a derived asset was made from: its name's source first, then
    ``source_data``, then each processing step's inputs (URLs read by their last part)."""
    if parsed.level != Level.DERIVED:
        return []
    found: list[Any] = [str(parsed.source)] if parsed.source else []
    found += _listed(description.get("source_data"))
    pipeline = processing.get("processing_pipeline")
    steps = pipeline.get("data_processes") if isinstance(pipeline, dict) else None
    for step in steps if isinstance(steps, list) else []:
        if isinstance(step, dict):
            found += _listed(step.get("input_location"))
    names: list[str] = []
    for item in found:
        if not isinstance(item, str) or len(item) > MAX_TEXT:
            continue
        name = item.rstrip("/").rsplit("/", 1)[-1]
        if is_asset_name(name) and name not in names:
            names.append(name)
    return names[:MAX_ITEMS]


def _listed(value: Any) -> list[Any]:
    return value[:MAX_ITEMS] if isinstance(value, list) else [value]


class _Reader:
    """Typed, bounded values out of sidecars, collecting a Problem for each one refused."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def text(
        self, file: str, path: str, value: Any, keys: tuple[str, ...] = _ORGANISATION
    ) -> str | None:
        """A string from a string, a number, or an AIND object (its first non-empty ``keys``)."""
        if isinstance(value, dict):
            value = next((value[key] for key in keys if value.get(key)), None)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            return None
        text = str(value)
        if len(text) > MAX_TEXT:
            self.problems.append(
                Problem(
                    file,
                    path,
                    f"is {len(text)} characters, over the {MAX_TEXT} a catalogue field holds; "
                    "catalogued cut short, shorten it",
                    text[:80],
                )
            )
            text = text[:MAX_TEXT]
        return text or None

    def words(
        self, file: str, path: str, value: Any, keys: tuple[str, ...] = _ORGANISATION
    ) -> list[str]:
        items = value if isinstance(value, list) else [value]
        if len(items) > MAX_ITEMS:
            self.problems.append(
                Problem(
                    file,
                    path,
                    f"has {len(items)} entries, over the {MAX_ITEMS} a catalogue field holds; "
                    "catalogued cut short",
                )
            )
        words = (self.text(file, f"{path}[{i}]", item, keys) for i, item in enumerate(items))
        return [word for word in words if word][:MAX_ITEMS]

    def time(self, file: str, path: str, value: Any) -> str | None:
        """An ISO time as written (offset kept), if it parses and has a UTC equivalent."""
        if not isinstance(value, str) or len(value) > 64:
            return None
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        try:
            if moment.tzinfo is not None:
                moment.astimezone(UTC)
        except OverflowError:
            self.problems.append(
                Problem(
                    file,
                    path,
                    "is a time whose UTC equivalent falls outside years 1-9999; correct it",
                    value,
                )
            )
            return None
        return moment.isoformat()
