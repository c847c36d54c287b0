"""``data_description.json``: what an asset is, who made it, and what it was derived from.

Field names follow aind-data-schema's ``DataDescription`` so files from AIND tools read alike.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from assetlake.schema.base import Sidecar, version_field


class Funding(BaseModel):
    """One source of funding; AIND writes ``funder`` as an organisation object, read as its name."""

    model_config = ConfigDict(extra="forbid")

    funder: str = Field(title="Funder", description="Organisation that funded the work.")
    grant_number: str | None = Field(default=None, title="Grant number")
    fundee: str | None = Field(
        default=None, title="Fundee", description="People funded by this grant, comma-separated."
    )


class DataDescription(Sidecar):
    """The identity of an asset: its name, subject, modalities, level, project and provenance."""

    filename: ClassVar[str] = "data_description.json"

    schema_version: str = version_field("1.0.0")
    name: str = Field(
        title="Name",
        description="The asset name, equal to its folder name, e.g. ecephys_123456_2024-03-01_14-05-09.",
    )
    subject_id: str = Field(title="Subject ID", description="Unique identifier of the subject.")
    creation_time: AwareDatetime = Field(
        title="Creation time",
        description="Acquisition time (raw) or processing time (derived), timezone-aware; its "
        "wall clock is the time written in the name.",
    )
    data_level: Literal["raw", "derived"] = Field(
        title="Data level", description="raw: as acquired; derived: the output of processing."
    )
    modalities: list[str] = Field(
        min_length=1,
        title="Modalities",
        description="Modality abbreviations (e.g. ecephys, behavior); AIND objects read as their "
        "abbreviation.",
    )
    project_name: str | None = Field(default=None, title="Project name")
    institution: str | None = Field(
        default=None,
        title="Institution",
        description="Abbreviation of the institution, e.g. AIND; AIND objects read as abbreviation.",
    )
    investigators: list[str] = Field(
        default_factory=list,
        title="Investigators",
        description="Full names of the investigators; AIND person objects read as their name.",
    )
    funding_source: list[Funding] = Field(default_factory=list, title="Funding source")
    source_data: list[str] = Field(
        default_factory=list,
        title="Source data",
        description="Names of the assets this one was derived from (derived assets only).",
    )
    license: str = Field(default="CC-BY-4.0", title="License")
    data_summary: str | None = Field(default=None, title="Data summary")
