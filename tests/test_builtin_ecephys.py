"""Spike detection on plain arrays: the crossings a reading of the rule by hand finds."""

from __future__ import annotations

import numpy as np

from assetlake.pipelines.builtin.ecephys import SpikeParameters, detect

RATE = 30_000.0


def by_hand(traces: np.ndarray, parameters: SpikeParameters) -> list[tuple[int, int]]:
    """(channel, sample) of every counted crossing, one channel and one sample at a time."""
    found = []
    for channel in range(traces.shape[1]):
        values = traces[:, channel].astype("float32")
        values = values - np.float32(np.median(values))
        threshold = -parameters.threshold_sd * np.median(np.abs(values)) / 0.6745
        last = None
        for sample in range(1, values.size):
            if values[sample] < threshold <= values[sample - 1]:
                if last is None or sample - 1 - last > parameters.refractory_samples:
                    found.append((channel, sample))
                last = sample - 1
    return found


def test_crossings_per_channel_with_the_refractory_gap() -> None:
    rng = np.random.default_rng(5)
    traces = rng.normal(0, 12, (6_000, 4)).astype("int16")
    traces[100::400, 1] -= 200
    traces[105::400, 1] -= 200  # within the refractory gap of the one before: not a new spike
    traces[300::700, 3] -= 200
    parameters = SpikeParameters()
    spikes, summary = detect(traces, RATE, parameters)
    expected = by_hand(traces, parameters)
    samples = np.rint(spikes["time"] * RATE).astype(int).tolist()
    found = list(zip(spikes["channel"].tolist(), samples, strict=True))
    assert found == expected and len(expected) >= 15 + 9
    assert summary["crossings"] == len(expected) and summary["channels"] == 4
    assert summary["seconds"] == 6_000 / RATE


def test_traces_without_a_crossing_give_no_spikes() -> None:
    spikes, summary = detect(np.zeros((50, 3), dtype="int16"), RATE, SpikeParameters())
    assert spikes["time"].size == spikes["channel"].size == 0
    assert (summary["crossings"], summary["events"], summary["channels"]) == (0, 0, 3)
