"""Light-sheet steps: a downsampled copy of an OME-Zarr volume."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from assetlake.pipelines.step import JobContext, step


class DownsampleParameters(BaseModel):
    factor: int = Field(2, ge=2, le=16, description="Block size along every axis.")
    levels: int = Field(2, ge=1, le=8, description="Pyramid levels of the output.")


def downsample(volume: Any, factor: int) -> Any:
    """The mean of every ``factor``³ block (edges that do not fill a block are dropped)."""
    z, y, x = (s // factor * factor for s in volume.shape)
    blocks = volume[:z, :y, :x].reshape(
        z // factor, factor, y // factor, factor, x // factor, factor
    )
    return blocks.mean(axis=(1, 3, 5)).astype(volume.dtype)


@step(
    label="downsampled",
    version="1.0.0",
    sources={"modality": "SPIM", "level": "raw"},
    parameters=DownsampleParameters,
)
def downsampled(job: JobContext) -> dict[str, Any]:
    """Downsample: block means of the full-resolution level of volume.ome.zarr."""
    group = job.open_zarr(job.source, "volume.ome.zarr")
    volume = group["0"][:]
    scale = _voxel_size(group.attrs.asdict()) or (1.0, 1.0, 1.0)
    factor = job.parameters.factor
    smaller = downsample(volume, factor)
    job.output.write_ome_zarr(
        smaller,
        "volume.ome.zarr",
        voxel_size=tuple(s * factor for s in scale),
        levels=job.parameters.levels,
    )
    return {"shape_in": list(volume.shape), "shape_out": list(smaller.shape)}


def _voxel_size(attrs: dict[str, Any]) -> tuple[float, float, float] | None:
    """The scale of level 0 in an OME-Zarr multiscales attribute, when it is readable."""
    try:
        transforms = attrs["multiscales"][0]["datasets"][0]["coordinateTransformations"]
        scale = next(t["scale"] for t in transforms if t.get("type") == "scale")
        return tuple(float(v) for v in scale[-3:])  # type: ignore[return-value]
    except (KeyError, IndexError, TypeError, ValueError, StopIteration):
        return None
