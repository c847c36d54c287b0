"""Regenerate the example assets next to this script from the sidecar models.

    .venv/bin/python examples/make_examples.py

The output is deterministic, so a diff after running it means the models changed.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import zarr

from assetlake.naming import AssetName
from assetlake.schema import Sidecar, dump_sidecar
from assetlake.schema.samples import derived_sidecars, raw_sidecars

HERE = Path(__file__).resolve().parent
PACIFIC = ZoneInfo("America/Los_Angeles")
ACQUIRED = datetime(2024, 3, 1, 14, 5, 9, tzinfo=PACIFIC)
SORTED = datetime(2024, 3, 2, 9, 30, 0, tzinfo=PACIFIC)
SAMPLE_RATE = 30_000.0


RAW = AssetName.raw("ecephys", "123456", ACQUIRED)
SPIKES = RAW.derive("spikes", SORTED)


def sidecars() -> dict[str, dict[str, Sidecar]]:
    """The sidecars of each example asset, by asset name (the test of the examples uses it too)."""
    return {
        str(RAW): raw_sidecars(RAW, ACQUIRED),
        str(SPIKES): derived_sidecars(SPIKES, SORTED, parameters={"detect_threshold_uv": -300.0}),
    }


def main() -> None:
    raw, spikes = RAW, SPIKES
    traces, times = _signals()
    models = sidecars()
    folder = _write(str(raw), models[str(raw)])
    array = zarr.open_array(
        str(folder / "ecephys.zarr"), mode="w", shape=traces.shape, chunks=(1000, 8), dtype="int16"
    )
    array[:] = traces
    array.attrs.update({"sampling_rate_hz": SAMPLE_RATE, "units": "uV", "channels": 8})
    folder = _write(str(spikes), models[str(spikes)])
    array = zarr.open_array(
        str(folder / "spikes.zarr"),
        mode="w",
        shape=times.shape,
        chunks=times.shape,
        dtype="float64",
    )
    array[:] = times
    array.attrs.update({"units": "s", "source_array": f"{raw}/ecephys.zarr"})
    print(json.dumps({"raw": str(raw), "derived": str(spikes)}))


def _signals() -> tuple[np.ndarray, np.ndarray]:
    """2,000 samples × 8 channels of noisy traces with spikes, and the spike times found in them."""
    rng = np.random.default_rng(123456)
    traces = rng.normal(0, 20, size=(2000, 8))
    onsets = np.sort(rng.choice(np.arange(10, 1990), size=24, replace=False))
    for i, onset in enumerate(onsets):
        traces[onset : onset + 3, i % 8] -= (400, 250, 100)
    found = np.flatnonzero((traces < -300).any(axis=1))
    return traces.astype("int16"), found / SAMPLE_RATE


def _write(name: str, models: dict[str, Sidecar]) -> Path:
    folder = HERE / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    for filename, model in models.items():
        (folder / filename).write_text(dump_sidecar(model), encoding="utf-8")
    return folder


if __name__ == "__main__":
    main()
