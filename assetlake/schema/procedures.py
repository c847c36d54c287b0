"""``procedures.json``: what was done to the subject before acquisition.

Procedures are discriminated unions on ``procedure_type``, as in aind-data-schema, so a reader
knows each entry's fields from its type alone.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from assetlake.schema.base import TAG, Sidecar, version_field

Hemisphere = Literal["Left", "Right"]


class _Procedure(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Craniotomy(_Procedure):
    """An opening in the skull, e.g. for a probe or a window."""

    procedure_type: Literal["Craniotomy"] = Field(default="Craniotomy", title="Procedure type")
    craniotomy_type: str = Field(title="Craniotomy type", description="e.g. Circle, Visual Cortex.")
    craniotomy_hemisphere: Hemisphere | None = Field(default=None, title="Hemisphere")
    craniotomy_size: float | None = Field(default=None, title="Craniotomy size (mm)", gt=0)
    protocol_id: str | None = Field(
        default=None, title="Protocol ID", description="DOI on protocols.io."
    )


class Headframe(_Procedure):
    """A headframe implanted to fix the head during recording."""

    procedure_type: Literal["Headframe"] = Field(default="Headframe", title="Procedure type")
    headframe_type: str = Field(title="Headframe type")
    headframe_part_number: str | None = Field(default=None, title="Headframe part number")
    headframe_material: str | None = Field(default=None, title="Headframe material")
    protocol_id: str | None = Field(default=None, title="Protocol ID")


class Injection(_Procedure):
    """An injection of virus or tracer at stereotaxic coordinates relative to bregma."""

    procedure_type: Literal["Injection"] = Field(default="Injection", title="Procedure type")
    injection_materials: list[str] = Field(
        min_length=1, title="Injection materials", description="e.g. AAV names with titers."
    )
    injection_coordinate_ml: float = Field(title="ML coordinate (mm)")
    injection_coordinate_ap: float = Field(title="AP coordinate (mm)")
    injection_coordinate_depth: list[float] = Field(min_length=1, title="Depths (mm)")
    injection_volume: list[float] = Field(
        min_length=1, title="Volumes (nL)", description="One per depth."
    )
    injection_hemisphere: Hemisphere | None = Field(default=None, title="Hemisphere")
    protocol_id: str | None = Field(default=None, title="Protocol ID")


SurgicalProcedure = Annotated[Craniotomy | Headframe | Injection, Field(discriminator=TAG)]
#: The surgical procedure types assetlake models; AIND files may hold others (read, not checked).
SURGICAL_TYPES = frozenset(m.model_fields[TAG].default for m in (Craniotomy, Headframe, Injection))


class Surgery(_Procedure):
    """One surgery session, holding the surgical procedures performed in it."""

    procedure_type: Literal["Surgery"] = Field(default="Surgery", title="Procedure type")
    start_date: date = Field(title="Start date")
    experimenter_full_name: str = Field(title="Experimenter full name")
    iacuc_protocol: str | None = Field(default=None, title="IACUC protocol")
    animal_weight_prior: float | None = Field(default=None, title="Weight before surgery (g)", gt=0)
    procedures: list[SurgicalProcedure] = Field(min_length=1, title="Procedures")
    notes: str | None = Field(default=None, title="Notes")


class WaterRestriction(_Procedure):
    """A period of water restriction, e.g. for behaviour training."""

    procedure_type: Literal["Water restriction"] = Field(
        default="Water restriction", title="Procedure type"
    )
    start_date: date = Field(title="Start date")
    end_date: date | None = Field(default=None, title="End date")
    baseline_weight: float | None = Field(default=None, title="Baseline weight (g)", gt=0)
    target_fraction_weight: int | None = Field(
        default=None, title="Target fraction of baseline weight (%)", gt=0, le=100
    )


SubjectProcedure = Annotated[Surgery | WaterRestriction, Field(discriminator=TAG)]
SUBJECT_TYPES = frozenset(m.model_fields[TAG].default for m in (Surgery, WaterRestriction))


class Procedures(Sidecar):
    """Every procedure performed on a subject, in order."""

    filename: ClassVar[str] = "procedures.json"

    schema_version: str = version_field("1.0.0")
    subject_id: str = Field(title="Subject ID")
    subject_procedures: list[SubjectProcedure] = Field(
        default_factory=list, title="Subject procedures"
    )
    notes: str | None = Field(default=None, title="Notes")
