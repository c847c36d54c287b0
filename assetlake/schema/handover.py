"""The assetlake hand-over manifest: a rig names files that stay where it wrote them.

A rig that does not want to move its data into the drop folder writes this JSON document there
instead (under a temporary name, then renamed). Every entry maps a path inside the asset to a file
or folder on the rig; the sidecars are entries at the top of the asset like any other file.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class HandOver(BaseModel):
    """One session handed over by reference: the asset's name and where each of its files is."""

    model_config = ConfigDict(extra="forbid", title="assetlake hand-over manifest")

    schema_version: Literal["1"] = Field(
        default="1",
        title="Schema version",
        description="Version of the hand-over manifest format; assetlake reads only version 1.",
    )
    name: str = Field(
        title="Asset name",
        description="The asset's name, e.g. ecephys_123456_2024-03-01_14-05-09; it must equal "
        "the name in data_description.json.",
        max_length=255,
    )
    files: dict[str, str] = Field(
        title="Files",
        description="Path inside the asset ('/'-separated, e.g. 'ecephys/probe_a.bin' or "
        "'subject.json') to the file or folder on the rig that holds it. A folder brings its "
        "whole tree.",
        min_length=1,
    )
    not_before: AwareDatetime | None = Field(
        default=None,
        title="Upload not before",
        description="Hold the upload until this moment (keep the network free while recording).",
    )
