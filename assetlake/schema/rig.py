"""``rig.json``: the instrument the data was acquired with."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from assetlake.schema.base import Sidecar, version_field


class Device(BaseModel):
    """One device of a rig; AIND's many device lists become one list with a ``device_type``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(title="Name", description="Unique name of the device within the rig.")
    device_type: str = Field(
        title="Device type", description="e.g. Neuropixels probe, Camera, DAQ."
    )
    manufacturer: str | None = Field(default=None, title="Manufacturer")
    model: str | None = Field(default=None, title="Model")
    serial_number: str | None = Field(default=None, title="Serial number")
    notes: str | None = Field(default=None, title="Notes")


class Rig(Sidecar):
    """A rig as configured on ``modification_date``; any change gives a new rig description."""

    filename: ClassVar[str] = "rig.json"

    schema_version: str = version_field("1.0.0")
    rig_id: str = Field(
        title="Rig ID", description="Identifier of the rig, e.g. 323_EPHYS1_20240301."
    )
    modification_date: date = Field(title="Date of last modification")
    modalities: list[str] = Field(min_length=1, title="Modalities")
    devices: list[Device] = Field(default_factory=list, title="Devices")
    notes: str | None = Field(default=None, title="Notes")
