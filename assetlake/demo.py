"""``assetlake demo``: the whole life of an asset, on a loopback S3 server or any lake.

Rigs commit raw sessions through the Python API (NWB-Zarr traces, an OME-Zarr volume, behavior
Zarr); ``assetlake populate`` runs the built-in steps on every source lacking their output (spike
detection, then firing rates from the spikes, a downsampled volume, summary figures per session
and per subject), and a second run finds nothing to do; then the steward's and analyst's commands run for
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
#: The steps the demo populates, in chain order, with the local workers each gets.
PIPELINE = (
    ("spikes", "1"),
    ("rates", "1"),
    ("downsampled", "1"),
    ("figures", "2"),
    ("subject-summary", "1"),
)
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

    echo("\n2. Pipelines populate the lake: each step runs on every source that lacks its output")
    run(["steps"])
    for step, workers in PIPELINE:
        run(["populate", step, "--lake", lake, "--workers", workers])
        if step == "spikes":
            _report_spikes(store, truth, echo)
    echo("   A second populate finds everything up to date, and the lake keeps every job's record:")
    run(["populate", "spikes", "--lake", lake])
    run(["jobs", "--lake", lake, "--step", "spikes"])
    demo.derived.update(_outputs(store))

    echo("\n3. Assets are immutable: committing the same session again is refused")
    run(["upload", str(demo.staged[demo.raw["ecephys/611028"]]), "--lake", lake, "--no-progress"])

    echo("\n4. The steward indexes the lake and publishes the catalogue into it")
    run(["index", "--lake", lake, "--publish"])

    ecephys = demo.raw["ecephys/611028"]
    echo("\n5. Analysts find assets by what their metadata says")
    run(["find", "--lake", lake, "--modality", "ecephys", "--level", "raw"])
    run(["find", "--lake", lake, "--subject", "6110*", "--level", "derived", "--format", "names"])
    run(["find", "--lake", lake, "--genotype", "pvalb", "--format", "names"])
    run(["find", "--lake", lake, "spikes", "--level", "derived", "--format", "names"])
    run(["find", "--lake", lake, "--derived-from", ecephys, "--format", "urls"])

    echo("\n6. Lineage, and a check of every byte against the manifest")
    run(["lineage", demo.derived["ecephys/611028/rates"], "--lake", lake])
    run(["verify", ecephys, "--lake", lake])

    echo("\n7. Open the data in place with plain zarr, no assetlake needed:")
    _show_open_in_place(store, demo, echo)

    echo(
        "\n8. A rig hands sessions to its drop-folder agent: a folder moved in, a watchdog manifest"
    )
    drop = _rig_hands_over(work, now, rng, truth)
    run(["watch", str(drop), "--lake", lake, "--once", "--settle", "0"])
    return demo


# -- raw sessions ---------------------------------------------------------------------------------
def _rig_hands_over(
    work: Path, now: datetime, rng: np.random.Generator, truth: dict[str, int]
) -> Path:
    """A drop folder holding one session folder (moved in) and one aind-watchdog-service manifest
    naming files that stay where the rig wrote them; returns the drop folder."""
    rig = work / "rig"
    drop, acquisition = rig / "drop", rig / "acquisition"
    drop.mkdir(parents=True)
    acquisition.mkdir()
    moved = _raw_builder("behavior", "611029", now - timedelta(hours=2), work)
    _write_raw_data(moved, "behavior", rng, truth)
    moved.path.rename(drop / moved.name)
    kept = _raw_builder("behavior", "611028", now - timedelta(hours=1), work)
    _write_raw_data(kept, "behavior", rng, truth)
    session = kept.path.rename(acquisition / kept.name)
    lines = [
        f"name: {kept.name}",
        "processor_full_name: Jane Doe",
        "subject_id: 611028",
        "platform: behavior",
        "project_name: Visual Behavior",
        "modalities:",
        "  behavior:",
        f"  - {session / 'behavior.zarr'}",
        "schemas:",
        *(f"- {path}" for path in sorted(session.glob("*.json"))),
    ]
    manifest = drop / f"{kept.name}.yml"
    manifest.with_suffix(".yml.tmp").write_text("\n".join(lines) + "\n", encoding="utf-8")
    manifest.with_suffix(".yml.tmp").rename(manifest)
    return drop


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


def _report_spikes(store: Any, truth: dict[str, int], echo: Echo) -> None:
    """How many spikes the populated step found against how many the rig simulation injected."""
    import json

    from assetlake.pipelines.claims import list_jobs

    for state in list_jobs(store, "spikes"):
        if state.status != "done" or not state.output:
            continue
        process = json.loads(store.get(f"{state.output}/processing.json"))
        found = process["processing_pipeline"]["data_processes"][-1]["outputs"]
        echo(
            f"   {state.sources[0]}: {found['events']} spikes detected "
            f"({found['crossings']} channel crossings); {truth[state.sources[0]]} were injected"
        )


def _outputs(store: Any) -> dict[str, str]:
    """Every populated output, keyed ``<modality>/<subject>/<step>`` by its root raw source."""
    from assetlake.pipelines.claims import list_jobs

    found = {}
    for state in list_jobs(store):
        if state.status == "done" and state.output:
            root = parse_name(state.output).root
            found[f"{root.modality}/{root.subject_id}/{state.step}"] = state.output
    return found


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
