"""``assetlake demo``: the whole life of an asset, on a loopback S3 server or any lake.

Rigs commit raw sessions through the Python API (NWB-Zarr traces, an OME-Zarr volume, behavior
Zarr); pipelines read them back in place and commit derived assets (spike detection, a downsampled
volume, firing rates derived from the spikes); then the steward's and analyst's commands run for
real: index and publish, find, lineage, verify, a refused re-upload, and opening data with plain
zarr. The demo talks to the lake only through the public API and CLI, so it doubles as a tour.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from assetlake.naming import AssetName, parse_name
from assetlake.units import format_size

if TYPE_CHECKING:
    from assetlake.builder import AssetBuilder

DEMO_BUCKET = "assetlake-demo"
#: Credentials for the loopback server the demo owns; never used against a real lake.
LOOPBACK_ENV = {
    "AWS_ACCESS_KEY_ID": "assetlake-demo",
    "AWS_SECRET_ACCESS_KEY": "assetlake-demo",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}
SAMPLING_RATE = 30_000
GENOTYPES = {
    "611028": "Sst-IRES-Cre/wt;Ai32(RCL-ChR2(H134R)_EYFP)/wt",
    "611029": "Pvalb-IRES-Cre/wt;Ai32(RCL-ChR2(H134R)_EYFP)/wt",
    "620104": "Slc17a7-IRES2-Cre/wt;Ai14(RCL-tdT)/wt",
}

Echo = Callable[[str], None]
RunCommand = Callable[[list[str]], int]


@dataclass
class DemoRun:
    """What the demo made, for its own later steps and for tests."""

    lake: str
    raw: dict[str, str] = field(default_factory=dict)
    derived: dict[str, str] = field(default_factory=dict)
    staged: dict[str, Path] = field(default_factory=dict)


@contextlib.contextmanager
def loopback_s3() -> Iterator[str]:
    """Start a moto S3 server on 127.0.0.1 and point the AWS settings at it while it runs."""
    from assetlake.store.loopback import moto_server

    with moto_server() as endpoint, environment({**LOOPBACK_ENV, "AWS_ENDPOINT_URL": endpoint}):
        yield endpoint


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the block, restoring the previous values after it."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_demo(lake: str, work: Path, echo: Echo, run: RunCommand) -> DemoRun:
    """Run the flow against ``lake`` (which must exist), staging in ``work``."""
    from assetlake.store import open_store

    store = open_store(lake)
    store.check()
    demo = DemoRun(lake=lake)
    rng = np.random.default_rng(7)
    now = datetime.now().astimezone().replace(microsecond=0)
    sessions = [
        ("ecephys", "611028", now - timedelta(days=3, hours=2)),
        ("behavior", "611028", now - timedelta(days=3, hours=1)),
        ("ecephys", "611029", now - timedelta(days=2, hours=4)),
        ("SPIM", "620104", now - timedelta(days=1, hours=6)),
    ]

    echo("\n1. Rigs commit raw sessions (Python API: AssetBuilder.raw(...).commit(lake))")
    truth: dict[str, int] = {}
    for modality, subject, acquired in sessions:
        with _raw_builder(modality, subject, acquired, work) as asset:
            what = _write_raw_data(asset, modality, rng, truth)
            result = asset.commit(store)
        demo.raw[f"{modality}/{subject}"] = result.name
        demo.staged[result.name] = asset.path
        echo(
            f"   + {result.name:<45} {what}; {format_size(result.total_bytes)}, {result.objects} objects"
        )

    echo("\n2. Pipelines read sources in place and commit derived assets beside them")
    for key in ("ecephys/611028", "ecephys/611029"):
        source = demo.raw[key]
        spikes, summary = _detect_spikes(store, source)
        name = _derive(
            store,
            work,
            source,
            "spikes",
            now,
            "Spike detection",
            summary,
            lambda asset, s=spikes: _write_spikes(asset, s),
        )
        demo.derived[f"{key}/spikes"] = name
        echo(
            f"   + {name}\n       {summary['events']} spikes detected "
            f"({summary['crossings']} channel crossings); {truth[source]} were injected"
        )
        rates = np.bincount(spikes["channel"], minlength=summary["channels"]) / summary["seconds"]
        rate_name = _derive(
            store,
            work,
            name,
            "rates",
            now + timedelta(seconds=1),
            "Firing rates",
            {"bin": "session"},
            lambda asset, r=rates: asset.write_array("rates.zarr", "rate_hz", r.astype("float32")),
        )
        demo.derived[f"{key}/rates"] = rate_name
        echo(f"   + {rate_name}\n       mean firing rate {rates.mean():.1f} Hz per channel")
    source = demo.raw["SPIM/620104"]
    volume = _read_volume(store, source)
    name = _derive(
        store,
        work,
        source,
        "downsampled",
        now,
        "Downsample 2x",
        {"factor": 2, "method": "mean"},
        lambda asset: asset.write_ome_zarr(
            _halve(volume), "volume.ome.zarr", voxel_size=(4.0, 1.6, 1.6), levels=2
        ),
    )
    demo.derived["SPIM/620104/downsampled"] = name
    echo(f"   + {name}\n       volume {volume.shape} -> {_halve(volume).shape}")

    echo("\n3. Assets are immutable: committing the same session again is refused")
    run(["upload", str(demo.staged[demo.raw["ecephys/611028"]]), "--lake", lake, "--no-progress"])

    echo("\n4. The steward indexes the lake and publishes the catalogue into it")
    run(["index", "--lake", lake, "--publish"])

    ecephys = demo.raw["ecephys/611028"]
    echo("\n5. Analysts find assets by what their metadata says")
    run(["find", "--lake", lake, "--modality", "ecephys", "--level", "raw"])
    run(["find", "--lake", lake, "--subject", "6110*", "--level", "derived", "--format", "names"])
    run(["find", "--lake", lake, "--genotype", "pvalb", "--format", "names"])
    run(["find", "--lake", lake, "spike detection", "--format", "names"])
    run(["find", "--lake", lake, "--derived-from", ecephys, "--format", "urls"])

    echo("\n6. Lineage, and a check of every byte against the manifest")
    run(["lineage", demo.derived["ecephys/611028/rates"], "--lake", lake])
    run(["verify", ecephys, "--lake", lake])

    echo("\n7. Open the data in place with plain zarr, no assetlake needed:")
    _show_open_in_place(store, demo, echo)
    return demo


# -- raw sessions ---------------------------------------------------------------------------------
def _raw_builder(modality: str, subject: str, acquired: datetime, work: Path) -> AssetBuilder:
    from assetlake.builder import AssetBuilder
    from assetlake.schema.samples import raw_sidecars

    project = "Brain Atlas" if modality == "SPIM" else "Visual Behavior"
    name = AssetName.raw(modality, subject, acquired)
    sidecars = raw_sidecars(name, acquired, project=project, genotype=GENOTYPES[subject])
    return AssetBuilder.raw(
        sidecars["data_description.json"],
        sidecars["subject.json"],
        procedures=sidecars["procedures.json"],
        rig=sidecars["rig.json"],
        acquisition=sidecars["acquisition.json"],
        processing=sidecars.get("processing.json"),
        staging=_staging(work),
    )


def _staging(work: Path) -> Path:
    folder = work / "staging"
    folder.mkdir(exist_ok=True)
    return folder


def _write_raw_data(
    asset: AssetBuilder, modality: str, rng: np.random.Generator, truth: dict[str, int]
) -> str:
    if modality == "ecephys":
        traces, injected = _traces(rng)
        truth[asset.name] = injected
        asset.write_nwb(_nwbfile(asset.name, traces), "ecephys.nwb.zarr")
        return f"NWB-Zarr, {traces.shape[1]} ch x {traces.shape[0] / SAMPLING_RATE:.0f} s int16"
    if modality == "SPIM":
        volume = _volume(rng)
        asset.write_ome_zarr(volume, "volume.ome.zarr", voxel_size=(2.0, 0.8, 0.8), levels=3)
        return f"OME-Zarr volume {volume.shape} uint16, 3 levels"
    seconds, rate = 600, 60
    speed = np.convolve(rng.normal(10, 8, seconds * rate), np.ones(30) / 30, "same")
    licks = np.sort(rng.uniform(0, seconds, 400))
    asset.write_array(
        "behavior.zarr",
        "running_speed",
        speed.astype("float32"),
        attrs={"unit": "cm/s", "rate_hz": rate},
    )
    asset.write_array("behavior.zarr", "lick_times", licks, attrs={"unit": "s"})
    return f"Zarr: running speed {seconds} s @ {rate} Hz, {licks.size} licks"


def _traces(rng: np.random.Generator, seconds: int = 2, channels: int = 32) -> tuple[Any, int]:
    """Neuropixels-like int16 traces: noise plus spikes of a few units on neighbouring channels."""
    samples = seconds * SAMPLING_RATE
    traces = rng.normal(0, 12, (samples, channels))
    waveform = -np.exp(-0.5 * ((np.arange(48) - 12) / 3) ** 2) * 150
    injected = 0
    for unit in range(6):
        centre = 3 + unit * 5
        times = np.sort(rng.choice(samples - 64, size=int(rng.uniform(15, 40) * seconds)))
        times = times[np.insert(np.diff(times) > 90, 0, True)]
        for channel in range(max(centre - 1, 0), min(centre + 2, channels)):
            gain = 1.0 if channel == centre else 0.5
            for t in times:
                traces[t : t + 48, channel] += gain * waveform
        injected += times.size
    return np.round(traces).astype("int16"), injected


def _nwbfile(name: str, traces: Any) -> Any:
    from pynwb import NWBFile
    from pynwb.ecephys import ElectricalSeries

    nwb = NWBFile(
        session_description=f"demo session {name}",
        identifier=name,
        session_start_time=datetime.now().astimezone(),
    )
    device = nwb.create_device(name="probe A", description="Neuropixels 1.0 (simulated)")
    group = nwb.create_electrode_group(
        "shank0", description="shank 0", location="VISp", device=device
    )
    for channel in range(traces.shape[1]):
        nwb.add_electrode(group=group, location="VISp", x=0.0, y=float(channel * 20), z=0.0)
    region = nwb.create_electrode_table_region(list(range(traces.shape[1])), "all channels")
    nwb.add_acquisition(
        ElectricalSeries(
            name="ElectricalSeries",
            data=traces,
            electrodes=region,
            rate=float(SAMPLING_RATE),
            conversion=2.34e-6,
        )
    )
    return nwb


def _volume(rng: np.random.Generator, shape: tuple[int, int, int] = (32, 128, 128)) -> Any:
    """A cleared-tissue-like volume: dim background with a few hundred bright cells."""
    z, y, x = np.indices(shape)
    volume = rng.normal(100, 10, shape)
    for cz, cy, cx in zip(*(rng.integers(0, s, 150) for s in shape), strict=True):
        volume += 900 * np.exp(-((z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2) / 8)
    return np.clip(volume, 0, 65535).astype("uint16")


def _halve(volume: Any) -> Any:
    z, y, x = (s // 2 * 2 for s in volume.shape)
    blocks = volume[:z, :y, :x].reshape(z // 2, 2, y // 2, 2, x // 2, 2)
    return blocks.mean(axis=(1, 3, 5)).astype(volume.dtype)


# -- derived assets -------------------------------------------------------------------------------
def _derive(
    store: Any,
    work: Path,
    source: str,
    label: str,
    created: datetime,
    step: str,
    parameters: dict[str, Any],
    write: Callable[[AssetBuilder], Any],
) -> str:
    """Commit ``<source>_<label>_<created>`` with a processing.json describing ``step``."""
    from assetlake.builder import AssetBuilder
    from assetlake.schema.processing import DataProcess, PipelineProcess, Processing
    from assetlake.schema.samples import derived_sidecars

    name = parse_name(source).derive(label, created)
    sidecars = derived_sidecars(name, created)
    processing = Processing(
        processing_pipeline=PipelineProcess(
            processor_full_name="assetlake demo",
            pipeline_version="0.1.0",
            pipeline_url="https://github.com/assetlake/assetlake",
            data_processes=[
                DataProcess(
                    name=step,
                    software_version="0.1.0",
                    code_url="https://github.com/assetlake/assetlake/blob/main/assetlake/demo.py",
                    start_date_time=created - timedelta(seconds=1),
                    end_date_time=created,
                    input_location=f"{store.url}/{source}",
                    output_location=f"{store.url}/{name}",
                    parameters=parameters,
                    outputs={},
                )
            ],
        )
    )
    with AssetBuilder.derived(
        source,
        label,
        sidecars["data_description.json"],
        processing,
        created=created,
        subject=sidecars["subject.json"],
        staging=_staging(work),
    ) as asset:
        write(asset)
        return asset.commit(store).name


def _detect_spikes(store: Any, source: str) -> tuple[Any, dict[str, Any]]:
    """Negative threshold crossings at 5 robust SDs, read from the NWB-Zarr in the lake."""
    from hdmf_zarr import NWBZarrIO

    url = store.fsspec_url(f"{source}/ecephys.nwb.zarr")
    with NWBZarrIO(url, mode="r", storage_options=store.storage_options) as io:
        series = io.read().acquisition["ElectricalSeries"]
        traces = np.asarray(series.data[:], dtype="float32")
        rate = float(series.rate)
    traces -= np.median(traces, axis=0)
    threshold = -5 * np.median(np.abs(traces), axis=0) / 0.6745
    below = traces < threshold
    onsets = below[1:] & ~below[:-1]
    sample, channel = np.nonzero(onsets)
    order = np.lexsort((sample, channel))
    sample, channel = sample[order], channel[order]
    fresh = np.insert((np.diff(sample) > 30) | (np.diff(channel) != 0), 0, True)
    spikes = {"time": (sample[fresh] + 1) / rate, "channel": channel[fresh]}
    # A spike crosses threshold on neighbouring channels at once: count coincident ones once.
    times = np.sort(sample[fresh])
    events = int(np.count_nonzero(np.insert(np.diff(times) > 15, 0, True))) if times.size else 0
    summary = {
        "crossings": int(fresh.sum()),
        "events": events,
        "channels": traces.shape[1],
        "seconds": traces.shape[0] / rate,
        "threshold_sd": 5,
    }
    return spikes, summary


def _write_spikes(asset: AssetBuilder, spikes: dict[str, Any]) -> None:
    asset.write_array("spikes.zarr", "times", spikes["time"], attrs={"unit": "s"})
    asset.write_array("spikes.zarr", "channels", spikes["channel"].astype("int16"))


def _read_volume(store: Any, source: str) -> Any:
    import zarr

    group = zarr.open_group(
        store.fsspec_url(f"{source}/volume.ome.zarr"),
        mode="r",
        storage_options=store.storage_options,
    )
    return group["0"][:]


def _show_open_in_place(store: Any, demo: DemoRun, echo: Echo) -> None:
    import zarr

    behavior = store.fsspec_url(f"{demo.raw['behavior/611028']}/behavior.zarr")
    options = store.storage_options
    lines = ["import zarr"]
    if options:
        lines.append(f"opts = {options!r}")
        lines.append(
            f"speed = zarr.open({behavior + '/running_speed'!r}, mode='r', storage_options=opts)"
        )
    else:
        lines.append(f"speed = zarr.open({behavior + '/running_speed'!r}, mode='r')")
    for line in lines:
        echo(f"   >>> {line}")
    speed = zarr.open(f"{behavior}/running_speed", mode="r", storage_options=options or None)
    echo(
        f"   >>> speed.shape, speed.chunks, float(speed[:600].mean())\n"
        f"   {speed.shape, speed.chunks, round(float(speed[:600].mean()), 2)}"
    )
    nwb = store.fsspec_url(f"{demo.raw['ecephys/611028']}/ecephys.nwb.zarr")
    echo("   >>> from hdmf_zarr import NWBZarrIO")
    echo(f"   >>> NWBZarrIO({nwb!r}, mode='r'{', storage_options=opts' if options else ''}).read()")


@contextlib.contextmanager
def demo_lake(lake: str | None) -> Iterator[tuple[str, str | None]]:
    """The lake to run on: the given one (created if it is a missing local folder), or a bucket
    on a loopback S3 server owned by this context; yields ``(lake url, endpoint or None)``."""
    from assetlake.store import open_store

    if lake:
        if "://" not in lake or lake.startswith("file://"):
            open_store(lake).create()
        yield lake, None
        return
    with loopback_s3() as endpoint:
        url = f"s3://{DEMO_BUCKET}"
        open_store(url).create()
        yield url, endpoint


@contextlib.contextmanager
def work_folder() -> Iterator[Path]:
    """A scratch folder for staging and the demo's own catalogue, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="assetlake-demo-") as folder:
        yield Path(folder)
