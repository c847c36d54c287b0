"""The aind-watchdog-service manifest YAML, read as that service writes it.

Used: ``name``, ``modalities`` (``{modality: [files or folders]}``, laid out as
``<name>/<modality>/<file>`` as AIND raw assets are), ``schemas`` (sidecar files, put at the top of
the asset), ``schedule_time`` (no upload before it) and ``platform`` (checked against the name).
Every other field (``subject_id``, ``capsule_id``, ``destination``, ``script``...) means something
only to AIND's transfer service; it is ignored with a warning, never an error, so a rig's existing
manifests work.

As the watchdog does, modality ``ophys`` is read as ``pophys`` (its own validator renames it);
any other modality must be registered (:data:`assetlake.naming.MODALITIES`, which holds
aind-data-schema's modalities and, as name prefixes, its platforms). A rig's manifest holds the
rig's paths: Windows ones (``D:\\...``, ``\\\\host\\share\\...``) name files only an agent on
Windows can open, so elsewhere the manifest is refused with one line saying so.
"""

from __future__ import annotations

import os
import platform as host
import re
from datetime import datetime
from pathlib import Path, PureWindowsPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from assetlake.errors import HandOverError
from assetlake.naming import MODALITIES
from assetlake.watch.handover import pydantic_problem

#: Modality keys the watchdog renames before it copies (its ``Modality`` validator).
MODALITY_ALIASES = {"ophys": "pophys"}
#: A drive (``D:\``, ``C:/``) or UNC (``\\host\share``) path, or any path written with '\'.
_WINDOWS_PATH = re.compile(r"^[A-Za-z]:[\\/]|\\")


class AindManifest(BaseModel):
    """The fields of an aind-watchdog-service manifest that assetlake acts on."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(max_length=255)
    platform: str | None = Field(default=None, max_length=100)
    modalities: dict[str, list[str]] = Field(default_factory=dict)
    schemas: list[str] = Field(default_factory=list)
    schedule_time: datetime | None = None


def read_aind(
    path: Path, data: bytes, *, windows: bool = os.name == "nt"
) -> tuple[str, list[tuple[str, str]], datetime | None, list[str]]:
    """The asset name, (asset path, source) pairs, hold-until moment and warnings of a manifest;
    ``windows``: whether this machine can open Windows paths (tests read a rig's manifest as the
    rig would)."""
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
    fields = [
        (f"schemas[{n}]", _basename(source), source) for n, source in enumerate(model.schemas)
    ]
    for key, sources in model.modalities.items():
        modality = _modality(path, key)
        fields += [
            (f"modalities.{key}[{n}]", f"{modality}/{_basename(source)}", source)
            for n, source in enumerate(sources)
        ]
    if not windows:
        _refuse_windows_paths(path, fields)
    unused = sorted(model.model_extra or {})
    warnings = [f"fields not used by assetlake, ignored: {', '.join(unused)}"] if unused else []
    prefix = model.name.split("_", 1)[0]
    if model.platform is not None and model.platform != prefix:
        warnings.append(
            f"platform {model.platform!r} differs from the name's {prefix!r}; the name is used"
        )
    entries = [(target, source) for _, target, source in fields]
    return model.name, entries, model.schedule_time, warnings


def _modality(path: Path, key: str) -> str:
    """The folder of a modality in the asset: registered, or refused with the known ones."""
    modality = MODALITY_ALIASES.get(key, key)
    if modality not in MODALITIES:
        known = ", ".join(sorted(MODALITIES, key=str.lower))
        raise HandOverError(
            f"{path}: modalities: {key!r} is not a registered modality; use one of {known} "
            "(or register it with assetlake.naming.register_modality)"
        )
    return modality


def _refuse_windows_paths(path: Path, fields: list[tuple[str, str, str]]) -> None:
    """Windows paths on a machine that is not Windows: one line naming the first, and the fix."""
    foreign = [(field, source) for field, _, source in fields if _WINDOWS_PATH.search(source)]
    if foreign:
        field, source = foreign[0]
        raise HandOverError(
            f"{path}: {field}: '{source}' is a Windows path, and this agent runs on "
            f"{host.system()} ({len(foreign)} of the manifest's {len(fields)} paths are); run "
            "assetlake watch on the rig that wrote them (docs/rig-agent.md), or list the files "
            "by the paths this machine mounts them at"
        )


def _basename(source: str) -> str:
    """The last part of a rig path, whether written with '/' or Windows '\\'."""
    return PureWindowsPath(source).name
