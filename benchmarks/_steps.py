"""Steps of the populate benchmark, importable by its worker processes as ``_steps:<step>``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from assetlake.pipelines import JobContext, step
from assetlake.pipelines.builtin.ecephys import SpikeParameters, detect


class Run(BaseModel):
    """A run id: each timed run is a new parameter set, so nothing counts as done already."""

    run: str = "a"


def trivial_body(job: JobContext) -> dict[str, Any]:
    job.output.write_array("out.zarr", "one", [1])
    return {}


@step(label="trivial", version="1", sources={"modality": "ecephys", "level": "raw"}, parameters=Run)
def trivial(job: JobContext) -> dict[str, Any]:
    """One tiny array per source: what populate adds per job."""
    return trivial_body(job)


def spikes_body(job: JobContext) -> dict[str, Any]:
    import numpy as np

    traces = np.asarray(job.open_zarr(job.source, "traces.zarr/ap")[:])
    found, summary = detect(traces, 30_000.0, SpikeParameters())
    job.output.write_array("spikes.zarr", "times", found["time"])
    return summary


@step(label="spikes", version="1", sources={"modality": "ecephys", "level": "raw"}, parameters=Run)
def cpu(job: JobContext) -> dict[str, Any]:
    """Spike detection on a Zarr of int16 traces: a CPU-bound step."""
    return spikes_body(job)
