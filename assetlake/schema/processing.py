"""``processing.json``: the processing that produced a derived asset.

Follows aind-data-schema v1 ``processing_pipeline.data_processes[]`` so lineage reads alike.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from assetlake.schema.base import Sidecar, version_field


class DataProcess(BaseModel):
    """One processing step: what ran, which version, when, on what, with which parameters."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(title="Name", description="Name of the step, e.g. Spike sorting.")
    software_version: str = Field(title="Software version")
    code_url: str = Field(title="Code URL", description="Where the code that ran can be found.")
    start_date_time: AwareDatetime = Field(title="Start date time")
    end_date_time: AwareDatetime = Field(title="End date time")
    input_location: str = Field(title="Input location", description="Path or name of the input.")
    output_location: str = Field(title="Output location", description="Path or name of the output.")
    parameters: dict[str, Any] = Field(default_factory=dict, title="Parameters")
    outputs: dict[str, Any] = Field(
        default_factory=dict, title="Outputs", description="Output values, e.g. unit counts."
    )
    notes: str | None = Field(default=None, title="Notes")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end_date_time < self.start_date_time:
            raise ValueError(
                f"end_date_time {self.end_date_time.isoformat()} is before start_date_time "
                f"{self.start_date_time.isoformat()}"
            )
        return self


class PipelineProcess(BaseModel):
    """A pipeline run: who ran it, the pipeline version, and its steps in order."""

    model_config = ConfigDict(extra="forbid")

    processor_full_name: str = Field(title="Processor full name", description="Who ran it.")
    pipeline_version: str | None = Field(default=None, title="Pipeline version")
    pipeline_url: str | None = Field(default=None, title="Pipeline URL")
    data_processes: list[DataProcess] = Field(min_length=1, title="Data processes")
    note: str | None = Field(default=None, title="Notes")


class Processing(Sidecar):
    """How a derived asset was made."""

    filename: ClassVar[str] = "processing.json"

    schema_version: str = version_field("1.0.0")
    processing_pipeline: PipelineProcess = Field(title="Processing pipeline")
    notes: str | None = Field(default=None, title="Notes")
