"""Asset folders for tests: named by the grammar, with six valid sidecars and a small Zarr array."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from assetlake.naming import AssetName, parse_name
from assetlake.schema import Sidecar, dump_sidecar
from assetlake.schema.samples import derived_sidecars, raw_sidecars

PACIFIC = ZoneInfo("America/Los_Angeles")
ACQUIRED = datetime(2024, 3, 1, 14, 5, 9, tzinfo=PACIFIC)
PROCESSED = datetime(2024, 3, 2, 9, 30, 0, tzinfo=PACIFIC)


def make_raw_asset(
    parent: Path,
    *,
    modality: str = "ecephys",
    subject_id: str = "123456",
    acquired: datetime | None = None,
    project: str = "Visual Behavior",
    genotype: str = "Sst-IRES-Cre/wt;Ai32(RCL-ChR2(H134R)_EYFP)/wt",
    species: str = "Mus musculus",
    with_data: bool = True,
) -> Path:
    """A raw asset folder under ``parent``; returns the folder."""
    acquired = acquired or ACQUIRED
    name = AssetName.raw(modality, subject_id, acquired)
    sidecars = raw_sidecars(name, acquired, project=project, species=species, genotype=genotype)
    folder = write_asset(parent / str(name), sidecars)
    if with_data:
        write_zarr(folder / f"{modality}.zarr", rows=200, columns=4)
    return folder


def make_derived_asset(
    parent: Path,
    source: str,
    *,
    label: str = "processed",
    created: datetime | None = None,
    with_data: bool = True,
) -> Path:
    """An asset derived from the asset named ``source`` (which need not exist); returns the folder."""
    created = created or PROCESSED
    name = parse_name(source).derive(label, created)
    folder = write_asset(parent / str(name), derived_sidecars(name, created))
    if with_data:
        write_zarr(folder / f"{label}.zarr", rows=50, columns=1)
    return folder


def write_asset(folder: Path, sidecars: dict[str, Sidecar]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for filename, model in sidecars.items():
        (folder / filename).write_text(dump_sidecar(model), encoding="utf-8")
    return folder


def write_zarr(path: Path, *, rows: int, columns: int) -> None:
    """A small int16 array with a deterministic signal, so repeated runs give the same bytes."""
    import numpy as np
    import zarr

    t = np.arange(rows * columns, dtype=np.float64).reshape(rows, columns)
    data = (1000 * np.sin(t / 7.0)).astype("int16")
    array = zarr.open_array(
        str(path), mode="w", shape=data.shape, chunks=(100, columns), dtype="int16"
    )
    array[:] = data
