"""The Python builder: raw and derived assets staged locally and committed, on both backends."""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
import zarr
from nwbfiles import RATE, nwbfile_with_series, traces

from assetlake.builder import AssetBuilder
from assetlake.errors import InvalidNameError, LakeError, MetadataError, UsageError
from assetlake.naming import AssetName
from assetlake.schema.samples import derived_sidecars, raw_sidecars
from assetlake.store import open_store
from assetlake.upload import upload_folder

PACIFIC = timezone(timedelta(hours=-8))
ACQUIRED = datetime(2024, 3, 1, 14, 5, 9, tzinfo=PACIFIC)
RAW = "ecephys_123456_2024-03-01_14-05-09"
PROCESSED = datetime(2024, 3, 2, 9, 30, 0, tzinfo=PACIFIC)
DERIVED = f"{RAW}_spikes_2024-03-02_09-30-00"


def raw_models() -> dict:
    sidecars = raw_sidecars(AssetName.raw("ecephys", "123456", ACQUIRED), ACQUIRED)
    return {filename.removesuffix(".json"): model for filename, model in sidecars.items()}


def derived_models() -> dict:
    sidecars = derived_sidecars(
        AssetName.raw("ecephys", "123456", ACQUIRED).derive("spikes", PROCESSED), PROCESSED
    )
    return {filename.removesuffix(".json"): model for filename, model in sidecars.items()}


def build_raw(staging: Path | None = None) -> AssetBuilder:
    models = raw_models()
    return AssetBuilder.raw(
        models.pop("data_description"), models.pop("subject"), staging=staging, **models
    )


def document(lake: str, name: str) -> dict:
    data = open_store(lake).get(f"{name}/metadata.nd.json")
    assert data is not None, f"{name} is not committed"
    return json.loads(data)


def open_zarr(lake: str, key: str) -> zarr.hierarchy.Group:
    store = open_store(lake)
    return zarr.open(store.fsspec_url(key), mode="r", storage_options=store.storage_options or None)


def test_raw_asset_with_every_format_is_committed(lake: str, tmp_path: Path) -> None:
    data = traces(samples=4000, channels=4)
    video = tmp_path / "face.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(500))
    with build_raw() as asset:
        staged = asset.path
        assert staged.name == RAW == asset.name
        asset.write_array("behavior.zarr", "traces", data, sampling_rate=RATE)
        asset.write_array("behavior.zarr", "wheel", np.arange(50, dtype=np.float32))
        asset.write_ome_zarr(np.ones((4, 8, 8), np.uint16), voxel_size=(2.0, 1.0, 1.0), levels=2)
        asset.add_file(video, "videos/face.mp4")
        result = asset.commit(lake)
    assert (result.name, result.dry_run) == (RAW, False)
    assert not staged.exists()
    doc = document(lake, RAW)
    assert doc["data_description"]["name"] == RAW
    assert {"subject", "procedures", "rig", "processing", "acquisition"} <= set(doc)
    formats = {entry["path"]: entry["format"] for entry in doc["assetlake"]["contents"]}
    assert {k: v for k, v in formats.items() if not k.endswith(".json")} == {
        "behavior.zarr": "zarr",
        "volume.ome.zarr": "ome-zarr",
        "videos": "file",
    }
    group = open_zarr(lake, f"{RAW}/behavior.zarr")
    np.testing.assert_array_equal(group["traces"][:], data)
    assert group["traces"].attrs["sampling_rate_Hz"] == RATE
    assert open_store(lake).get(f"{RAW}/videos/face.mp4") == video.read_bytes()


def test_derived_asset_from_a_committed_source(lake: str) -> None:
    with build_raw() as asset:
        asset.write_array("x.zarr", "a", np.arange(10))
        asset.commit(lake)
    models = derived_models()
    with AssetBuilder.derived(
        RAW, "spikes", models.pop("data_description"), models.pop("processing"), **models
    ) as asset:
        assert asset.name == DERIVED
        asset.write_array("spikes.zarr", "times", np.array([0.1, 0.5, 2.25]))
        asset.commit(lake)
    doc = document(lake, DERIVED)
    assert doc["data_description"]["source_data"] == [RAW]
    assert doc["data_description"]["data_level"] == "derived"
    np.testing.assert_array_equal(
        open_zarr(lake, f"{DERIVED}/spikes.zarr")["times"][:], [0.1, 0.5, 2.25]
    )


def test_derived_created_time_must_match_the_description() -> None:
    models = derived_models()
    with pytest.raises(
        MetadataError, match=f"asset {RAW}_spikes_2024-03-02_10-30-00 cannot be built"
    ) as caught:
        AssetBuilder.derived(
            RAW,
            "spikes",
            models.pop("data_description"),
            models.pop("processing"),
            created=PROCESSED + timedelta(hours=1),
        )
    errors = sorted(f"{p.file}:{p.path}" for p in caught.value.problems if p.severity == "error")
    assert errors == ["data_description.json:creation_time", "data_description.json:name"]


def test_exception_in_with_block_leaves_nothing(lake: str) -> None:
    with pytest.raises(RuntimeError, match=r"rig crashed"), build_raw() as asset:
        staged = asset.path
        asset.write_array("x.zarr", "a", np.arange(10))
        raise RuntimeError("rig crashed")
    assert not staged.exists()
    assert list(open_store(lake).list(f"{RAW}/")) == []


def test_failed_commit_keeps_the_staged_data_and_resumes(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-lake"
    with pytest.raises(LakeError, match="does not exist") as failure, build_raw() as asset:
        asset.write_array("x.zarr", "a", np.arange(10))
        asset.commit(str(missing))
    assert any(f"stays staged in {asset.path}" in note for note in failure.value.__notes__)
    assert (asset.path / "x.zarr" / "a").is_dir()
    missing.mkdir()
    result = upload_folder(asset.path, str(missing))
    assert result.name == RAW and np.array_equal(
        zarr.open(str(missing / RAW / "x.zarr" / "a"), mode="r")[:], np.arange(10)
    )
    shutil.rmtree(asset.path.parent)


def test_leaving_without_commit_keeps_the_staging_and_says_how(tmp_path: Path) -> None:
    with (
        pytest.raises(
            UsageError,
            match=rf"asset {RAW} was built but not committed; it is staged in .*assetlake upload",
        ),
        build_raw(tmp_path) as asset,
    ):
        asset.write_array("x.zarr", "a", np.arange(3))
    assert (tmp_path / RAW / "x.zarr" / "a").is_dir()
    assert (tmp_path / RAW / "data_description.json").is_file()


def test_given_staging_folder_is_kept_and_never_reused(local_lake: str, tmp_path: Path) -> None:
    asset = build_raw(tmp_path)
    assert asset.path == tmp_path / RAW
    asset.commit(local_lake)
    assert json.loads((tmp_path / RAW / "subject.json").read_text())["subject_id"] == "123456"
    with pytest.raises(UsageError, match=f"staging folder {tmp_path / RAW} already exists"):
        build_raw(tmp_path)
    with pytest.raises(UsageError, match=r"missing does not exist; create it first"):
        build_raw(tmp_path / "missing")


def test_committed_asset_refuses_more_data(local_lake: str) -> None:
    asset = build_raw()
    asset.commit(local_lake)
    with pytest.raises(UsageError, match=f"asset {RAW} is already committed and immutable"):
        asset.write_array("x.zarr", "a", np.arange(3))
    with pytest.raises(UsageError, match=r"already committed"):
        asset.commit(local_lake)


def test_name_disagreeing_with_models_is_refused_before_staging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A temporary folder of this test's own: the shared one is written by tests running beside it.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    models = raw_models()
    description = models["data_description"].model_copy(
        update={"name": "ecephys_999_2024-03-01_14-05-09"}
    )
    with pytest.raises(MetadataError, match=f"must equal the folder name '{RAW}'"):
        AssetBuilder.raw(description, models["subject"])
    assert list(tmp_path.iterdir()) == []


def test_subject_disagreeing_with_description_is_refused() -> None:
    models = raw_models()
    subject = models["subject"].model_copy(update={"subject_id": "654321"})
    with pytest.raises(
        MetadataError, match=r"subject.json:subject_id: differs from the subject id '123456'"
    ) as caught:
        AssetBuilder.raw(models["data_description"], subject)
    assert [p.file for p in caught.value.problems if p.severity == "error"] == ["subject.json"]


def test_invalid_model_is_refused() -> None:
    models = raw_models()
    subject = models["subject"].model_copy(update={"sex": "Unknown"})
    with pytest.raises(MetadataError, match=r"subject.json is invalid: error: subject.json:sex"):
        AssetBuilder.raw(models["data_description"], subject)


def test_unknown_modality_is_refused() -> None:
    models = raw_models()
    description = models["data_description"].model_copy(update={"modalities": ["telepathy"]})
    with pytest.raises(InvalidNameError, match=r"modality 'telepathy' is not registered"):
        AssetBuilder.raw(description, models["subject"])


def test_dicts_and_wrong_models_are_refused() -> None:
    models = raw_models()
    with pytest.raises(
        UsageError, match=r"subject must be an assetlake.schema.Subject model, not dict"
    ):
        AssetBuilder.raw(models["data_description"], {"subject_id": "123456"})
    with pytest.raises(
        UsageError, match=r"rig must be an assetlake.schema.Rig model, not Procedures"
    ):
        AssetBuilder.raw(models["data_description"], models["subject"], rig=models["procedures"])


@pytest.mark.parametrize(
    ("dest", "message"),
    [
        ("../escape.bin", "must be a relative path inside the asset"),
        ("/etc/passwd", "must be a relative path inside the asset"),
        ("manifest.json", "is written by assetlake itself"),
        ("subject.json", "subject.json already exists in asset"),
    ],
)
def test_bad_destinations_are_refused(tmp_path: Path, dest: str, message: str) -> None:
    src = tmp_path / "f.bin"
    src.write_bytes(b"x")
    asset = build_raw()
    try:
        with pytest.raises(UsageError, match=message):
            asset.add_file(src, dest)
        assert json.loads((asset.path / "subject.json").read_text())["subject_id"] == "123456"
    finally:
        asset.discard()


def test_add_file_copies_folders_and_refuses_missing(tmp_path: Path) -> None:
    sorter = tmp_path / "sorter"
    (sorter / "sub").mkdir(parents=True)
    (sorter / "sub" / "params.py").write_text("x = 1\n")
    asset = build_raw()
    try:
        assert asset.add_file(sorter) == asset.path / "sorter"
        assert (asset.path / "sorter" / "sub" / "params.py").read_text() == "x = 1\n"
        with pytest.raises(UsageError, match=r"nothing.mp4 does not exist"):
            asset.add_file(tmp_path / "nothing.mp4")
    finally:
        asset.discard()
    assert not asset.path.exists()


def test_add_nwb_hdf5_converts_into_the_asset(local_lake: str, tmp_path: Path) -> None:
    from hdmf_zarr import NWBZarrIO
    from pynwb import NWBHDF5IO

    data = traces(samples=2000)
    src = tmp_path / "session.nwb"
    with NWBHDF5IO(str(src), mode="w") as io:
        io.write(nwbfile_with_series(data))
    with build_raw() as asset:
        assert asset.add_nwb_hdf5(src) == asset.path / "session.nwb.zarr"
        asset.commit(local_lake)
    with NWBZarrIO(str(Path(local_lake) / RAW / "session.nwb.zarr"), mode="r") as io:
        np.testing.assert_array_equal(io.read().acquisition["ElectricalSeries"].data[:], data)


def test_guard_runs_beside_planning_and_stops_the_commit_before_any_write(
    local_lake: str,
) -> None:
    store = open_store(local_lake)
    listing, planned = store.list, threading.Event()

    def list_and_tell(prefix: str = "") -> Iterator:
        yield from listing(prefix)
        planned.set()

    store.list = list_and_tell  # type: ignore[method-assign]
    written: list[str] = []

    def guard() -> None:
        # Waits for the planning's listing of the name: the guard runs beside it, not before.
        assert planned.wait(60), "the upload did not plan while its guard ran"
        written.extend(info.key for info in listing(f"{RAW}/"))
        raise RuntimeError("taken over")

    with pytest.raises(RuntimeError, match="taken over"), build_raw() as asset:
        asset.write_array("x.zarr", "a", np.arange(10))
        asset.commit(store, guard=guard)
    assert written == []
    assert list(listing(f"{RAW}/")) == []


def test_then_runs_once_the_asset_is_committed_and_its_error_is_raised(local_lake: str) -> None:
    store = open_store(local_lake)
    seen: list[bool] = []

    def then() -> None:
        seen.append(store.head(f"{RAW}/metadata.nd.json") is not None)
        raise RuntimeError("marker lost")

    with pytest.raises(RuntimeError, match="marker lost"), build_raw() as asset:
        asset.write_array("x.zarr", "a", np.arange(10))
        asset.commit(store, then=then)
    assert seen == [True]
    assert document(local_lake, RAW)["name"] == RAW
