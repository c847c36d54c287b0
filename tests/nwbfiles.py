"""A small but complete pynwb ``NWBFile`` with an ElectricalSeries, shared by the format tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np

RATE = 30_000.0


def traces(samples: int = 3000, channels: int = 8, seed: int = 0) -> np.ndarray:
    """int16 (samples, channels) data with structure, so compression and equality both matter."""
    rng = np.random.default_rng(seed)
    drift = np.cumsum(rng.integers(-3, 4, (samples, channels)), axis=0)
    return (drift + rng.integers(-20, 20, channels)).astype(np.int16)


def nwbfile_with_series(data: Any) -> Any:
    """An NWBFile holding ``data`` as the acquisition ElectricalSeries ``ElectricalSeries``."""
    from pynwb import NWBFile
    from pynwb.ecephys import ElectricalSeries

    nwb = NWBFile(
        session_description="assetlake test session",
        identifier="assetlake-test-0001",
        session_start_time=datetime(2024, 3, 1, 14, 5, 9, tzinfo=UTC),
    )
    device = nwb.create_device(name="probe")
    group = nwb.create_electrode_group(
        name="shank0", description="test shank", location="CA1", device=device
    )
    channels = np.asarray(data.data if hasattr(data, "data") else data).shape[1]
    for _ in range(channels):
        nwb.add_electrode(group=group, location="CA1")
    region = nwb.create_electrode_table_region(list(range(channels)), "all electrodes")
    nwb.add_acquisition(
        ElectricalSeries(
            name="ElectricalSeries", data=data, electrodes=region, rate=RATE, conversion=2.34e-6
        )
    )
    return nwb
