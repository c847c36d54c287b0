"""``acquisition.json``: the session in which raw data was acquired (AIND v1's ``session.json``)."""

from __future__ import annotations

from typing import ClassVar, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from assetlake.schema.base import Sidecar, version_field


class DataStream(BaseModel):
    """A stream of data recorded together, with its own start, end and modalities."""

    model_config = ConfigDict(extra="forbid")

    stream_start_time: AwareDatetime = Field(title="Stream start time")
    stream_end_time: AwareDatetime = Field(title="Stream end time")
    stream_modalities: list[str] = Field(min_length=1, title="Modalities")
    daq_names: list[str] = Field(
        default_factory=list,
        title="DAQ names",
        description="Names of rig devices that recorded it.",
    )
    notes: str | None = Field(default=None, title="Notes")


class Acquisition(Sidecar):
    """One acquisition session: who, where (rig), when, and which data streams."""

    filename: ClassVar[str] = "acquisition.json"

    schema_version: str = version_field("1.0.0")
    subject_id: str = Field(title="Subject ID")
    session_start_time: AwareDatetime = Field(title="Session start time")
    session_end_time: AwareDatetime = Field(title="Session end time")
    experimenter_full_name: list[str] = Field(min_length=1, title="Experimenter full names")
    rig_id: str = Field(title="Rig ID", description="rig_id of the rig.json it was recorded on.")
    session_type: str = Field(title="Session type", description="e.g. Receptive field mapping.")
    data_streams: list[DataStream] = Field(default_factory=list, title="Data streams")
    notes: str | None = Field(default=None, title="Notes")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.session_end_time < self.session_start_time:
            raise ValueError(
                f"session_end_time {self.session_end_time.isoformat()} is before "
                f"session_start_time {self.session_start_time.isoformat()}"
            )
        return self
