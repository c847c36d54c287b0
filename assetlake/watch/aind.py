"""The aind-watchdog-service manifest YAML, read as that service writes it.

Used: ``name``, ``modalities`` (``{modality: [files or folders]}``, laid out as
``<name>/<modality>/<file>`` as AIND raw assets are), ``schemas`` (sidecar files, put at the top of
the asset) and ``schedule_time`` (no upload before it). Every other field (``subject_id``,
``platform``, ``capsule_id``, ``destination``, ``script``...) means something only to AIND's
transfer service; it is ignored with a warning, never an error, so a rig's existing manifests work.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path, PureWindowsPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from assetlake.errors import HandOverError
from assetlake.watch.handover import pydantic_problem


class AindManifest(BaseModel):
    """The fields of an aind-watchdog-service manifest that assetlake acts on."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(max_length=255)
    modalities: dict[str, list[str]] = Field(default_factory=dict)
    schemas: list[str] = Field(default_factory=list)
    schedule_time: datetime | None = None


def read_aind(
    path: Path, data: bytes
) -> tuple[str, list[tuple[str, str]], datetime | None, list[str]]:
    """The asset name, (asset path, source) pairs, hold-until moment and warnings of a manifest."""
    import yaml
    from pydantic import ValidationError

    try:
        document: Any = yaml.safe_load(data)
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        reason = str(error).splitlines()[0]
        raise HandOverError(
            f"{path}: is not YAML ({reason}); write it under a temporary name and rename it "
            "when complete"
        ) from None
    if not isinstance(document, dict):
        raise HandOverError(f"{path}: is not a YAML mapping of manifest fields; see the README")
    try:
        model = AindManifest.model_validate(document)
    except ValidationError as error:
        raise pydantic_problem(path, error) from None
    if not model.modalities:
        raise HandOverError(f"{path}: modalities: lists no files; name the session's data files")
    entries = [(_basename(source), source) for source in model.schemas]
    for modality, sources in model.modalities.items():
        entries += [(f"{modality}/{_basename(source)}", source) for source in sources]
    unused = sorted(model.model_extra or {})
    warnings = [f"fields not used by assetlake, ignored: {', '.join(unused)}"] if unused else []
    return model.name, entries, model.schedule_time, warnings


def _basename(source: str) -> str:
    """The last part of a rig path, whether written with '/' or Windows '\\'."""
    return PureWindowsPath(source).name
