"""Summary figures, stored as plain PNG objects in derived assets for the website to show: one
per session (traces and raster, running speed and licks, a max projection) and one per subject
across all its behaviour sessions, as IBL's site shows a subject's performance across days."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from assetlake.errors import UsageError
from assetlake.pipelines.builtin.ecephys import SpikeParameters, detect
from assetlake.pipelines.step import JobContext, step

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FIGURE = "summary.png"


class FigureParameters(BaseModel):
    dpi: int = Field(100, ge=30, le=300)
    trace_seconds: float = Field(0.2, gt=0, description="Length of the traces drawn.")
    channels: int = Field(8, ge=1, le=64, description="Channels of traces drawn.")


@step(
    label="figures",
    version="1.0.0",
    sources={"modality": ["ecephys", "behavior", "SPIM"], "level": "raw"},
    parameters=FigureParameters,
)
def figures(job: JobContext) -> dict[str, Any]:
    """Session figure: traces and raster, running speed and licks, or a max projection."""
    modality = job.source.modalities[0] if job.source.modalities else ""
    draw = {"ecephys": _ecephys, "behavior": _behavior, "SPIM": _spim}.get(modality)
    if draw is None:
        raise UsageError(f"no session figure for modality {modality!r}")
    figure = _figure()
    values = draw(job, figure, job.parameters)
    figure.suptitle(job.source.name, fontsize=9)
    figure.savefig(job.output.path / FIGURE, dpi=job.parameters.dpi)
    return {"figure": FIGURE, **values}


@step(
    label="subject-summary",
    version="1.0.0",
    sources={"modality": "behavior", "level": "raw"},
    group_by="subject_id",
    parameters=FigureParameters,
)
def subject_summary(job: JobContext) -> dict[str, Any]:
    """Subject figure: mean running speed and lick count of every behaviour session, by day."""
    import numpy as np

    days, speeds, licks = [], [], []
    for record in job.sources:
        group = job.open_zarr(record, "behavior.zarr")
        days.append((record.acquired or record.name)[:10])
        speeds.append(float(np.mean(group["running_speed"][:])))
        licks.append(int(group["lick_times"].shape[0]))
    figure = _figure()
    speed_axes, lick_axes = figure.subplots(2, 1, sharex=True)
    speed_axes.plot(days, speeds, "o-")
    speed_axes.set_ylabel("mean speed (cm/s)")
    lick_axes.bar(days, licks)
    lick_axes.set_ylabel("licks")
    lick_axes.set_xlabel("session")
    figure.suptitle(f"subject {job.source.subject_id}: {len(days)} sessions", fontsize=9)
    figure.savefig(job.output.path / FIGURE, dpi=job.parameters.dpi)
    return {"figure": FIGURE, "sessions": len(days)}


def _figure() -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(8, 5), layout="constrained")


def _ecephys(job: JobContext, figure: Figure, parameters: FigureParameters) -> dict[str, Any]:
    import numpy as np

    with job.read_nwb(job.source) as io:
        series = io.read().acquisition["ElectricalSeries"]
        traces = np.asarray(series.data[:], dtype="float32")
        rate = float(series.rate)
    found, summary = detect(traces, rate, SpikeParameters())
    traces_axes, raster_axes = figure.subplots(2, 1)
    shown = traces[: int(parameters.trace_seconds * rate), : parameters.channels]
    spacing = 6 * float(np.std(shown)) or 1.0
    time = np.arange(shown.shape[0]) / rate
    traces_axes.plot(time, shown + spacing * np.arange(shown.shape[1]), lw=0.5, color="k")
    traces_axes.set(xlabel="time (s)", ylabel="channel", yticks=[])
    raster_axes.plot(found["time"], found["channel"], "|", markersize=3)
    raster_axes.set(xlabel="time (s)", ylabel="channel")
    return {"spikes": summary["crossings"]}


def _behavior(job: JobContext, figure: Figure, parameters: FigureParameters) -> dict[str, Any]:
    import numpy as np

    group = job.open_zarr(job.source, "behavior.zarr")
    speed = group["running_speed"][:]
    rate = float(group["running_speed"].attrs.get("rate_hz", 1.0)) or 1.0
    licks = group["lick_times"][:]
    speed_axes, lick_axes = figure.subplots(2, 1, sharex=True)
    speed_axes.plot(np.arange(speed.size) / rate, speed, lw=0.5)
    speed_axes.set_ylabel("running speed (cm/s)")
    lick_axes.eventplot(licks, lineoffsets=0, linelengths=1)
    lick_axes.set(xlabel="time (s)", ylabel="licks", yticks=[])
    return {"licks": int(licks.size), "mean_speed": round(float(np.mean(speed)), 2)}


def _spim(job: JobContext, figure: Figure, parameters: FigureParameters) -> dict[str, Any]:
    group = job.open_zarr(job.source, "volume.ome.zarr")
    levels = sorted((k for k in group.array_keys() if k.isdigit()), key=int)
    volume = group[levels[-1] if len(levels) > 1 else "0"][:]
    axes = figure.subplots(1, 1)
    axes.imshow(volume.max(axis=0), cmap="gray")
    axes.set_title("max projection along z", fontsize=8)
    axes.set_axis_off()
    return {"projected_shape": list(volume.shape[1:])}
