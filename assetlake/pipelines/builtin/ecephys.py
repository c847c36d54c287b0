"""Extracellular steps: threshold spike detection on NWB-Zarr traces, then firing rates."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from assetlake.one.alf import write_object
from assetlake.pipelines.step import JobContext, step


class SpikeParameters(BaseModel):
    threshold_sd: float = Field(5.0, gt=0, description="Threshold in robust SDs below the median.")
    refractory_samples: int = Field(30, ge=1, description="Crossings closer than this are one.")
    coincidence_samples: int = Field(15, ge=0, description="Spikes on several channels at once.")


def detect(traces: Any, rate: float, parameters: SpikeParameters) -> tuple[dict[str, Any], dict]:
    """Negative threshold crossings at ``threshold_sd`` robust SDs, per channel; spikes seen on
    neighbouring channels at once count as one event. ``traces`` is (samples, channels)."""
    import numpy as np

    # One channel per row: each median partitions contiguous memory (a column of a (samples,
    # channels) array is strided, and partitioning it cost 2.7x the CPU), and the crossings come
    # out of nonzero already ordered by channel, then sample.
    traces = np.ascontiguousarray(np.asarray(traces).T, dtype="float32")
    traces -= np.median(traces, axis=1)[:, None]
    spread = np.median(np.abs(traces), axis=1, overwrite_input=True)
    threshold = -parameters.threshold_sd * spread / 0.6745
    below = traces < threshold[:, None]
    onsets = below[:, 1:] & ~below[:, :-1]
    channel, sample = np.nonzero(onsets)
    gap = parameters.refractory_samples
    fresh = np.ones(sample.size, dtype=bool)  # the first crossing of a channel, or one after a gap
    fresh[1:] = (np.diff(sample) > gap) | (np.diff(channel) != 0)
    spikes = {"time": (sample[fresh] + 1) / rate, "channel": channel[fresh]}
    times = np.sort(sample[fresh])
    together = parameters.coincidence_samples
    events = int(np.count_nonzero(np.diff(times) > together)) + 1 if times.size else 0
    summary = {
        "crossings": int(fresh.sum()),
        "events": events,
        "channels": int(traces.shape[0]),
        "seconds": float(traces.shape[1] / rate),
    }
    return spikes, summary


@step(
    label="spikes",
    version="1.1.0",
    sources={"modality": "ecephys", "level": "raw"},
    parameters=SpikeParameters,
)
def spikes(job: JobContext) -> dict[str, Any]:
    """Spike detection: negative threshold crossings of the NWB-Zarr ElectricalSeries."""
    import numpy as np

    with job.read_nwb(job.source) as io:
        series = io.read().acquisition["ElectricalSeries"]
        found, summary = detect(series.data[:], float(series.rate), job.parameters)
    # In time order, as IBL's spikes object is (1.1.0; 1.0.0 was ordered by channel).
    order = np.argsort(found["time"], kind="stable")
    times, channels = found["time"][order], found["channel"][order]
    job.output.write_array("spikes.zarr", "times", times, attrs={"unit": "s"})
    job.output.write_array(
        "spikes.zarr",
        "channels",
        channels.astype("int16"),
        attrs={"probe_channels": summary["channels"]},
    )
    job.output.write_array("spikes.zarr", "duration", [summary["seconds"]], attrs={"unit": "s"})
    # The same spikes as ALF files, for ONE's load_object: each channel's crossings are a cluster.
    write_object(job.output, "spikes", {"times": times, "clusters": channels})
    return summary


class RateParameters(BaseModel):
    bin: str = Field("session", description="Rates over the whole session.")


@step(
    label="rates",
    version="1.1.0",
    sources={"level": "derived", "label": "spikes"},
    parameters=RateParameters,
)
def rates(job: JobContext) -> dict[str, Any]:
    """Firing rates: spikes per second of each channel of the probe (1.1.0: silent channels at
    the end are counted too, when the spikes output records the probe's channel count)."""
    import numpy as np

    group = job.open_zarr(job.source, "spikes.zarr")
    channels = np.asarray(group["channels"][:], dtype="int64")
    seconds = float(group["duration"][0])
    spiking = int(channels.max()) + 1 if channels.size else 0
    probe = group["channels"].attrs.get("probe_channels")
    count = max(spiking, probe) if isinstance(probe, int) and 0 < probe <= 65_536 else spiking
    rate = np.bincount(channels, minlength=count) / seconds
    job.output.write_array("rates.zarr", "rate_hz", rate.astype("float32"), attrs={"unit": "Hz"})
    write_object(job.output, "clusters", {"firingRate": rate, "channels": np.arange(count)})
    return {"channels": count, "mean_rate_hz": round(float(rate.mean()), 3) if count else 0.0}
