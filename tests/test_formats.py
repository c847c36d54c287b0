"""The format writers: Zarr arrays with the measured default codec, NWB-Zarr, OME-Zarr."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import zarr
from numcodecs import Blosc, Zlib
from nwbfiles import RATE, nwbfile_with_series, traces

from assetlake import formats
from assetlake.errors import UsageError
from assetlake.formats import (
    WAVPACK_MIN_SAMPLES,
    convert_nwb_hdf5,
    default_codec,
    write_array,
    write_nwb_zarr,
    write_ome_zarr,
    zarr_data_io,
)

BLOSC = {"id": "blosc", "cname": "zstd", "clevel": 5, "shuffle": Blosc.BITSHUFFLE, "blocksize": 0}
TRACES_BLOSC = {**BLOSC, "cname": "lz4hc", "clevel": 9}
HAVE_WAVPACK = importlib.util.find_spec("wavpack_numcodecs") is not None


@pytest.mark.parametrize("dtype", ["uint16", "int32", "float32", "bool"])
def test_default_codec_is_blosc_zstd_bitshuffle(dtype: str) -> None:
    assert default_codec(dtype).get_config() == BLOSC


@pytest.fixture
def without_wavpack(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As on a machine where wavpack-numcodecs is not installed."""
    monkeypatch.setitem(sys.modules, "wavpack_numcodecs", None)
    formats._wavpack_type.cache_clear()
    yield
    formats._wavpack_type.cache_clear()


TRACE_CHUNKS = [(30_000, 384), (WAVPACK_MIN_SAMPLES, 4), (30_000, 1)]
NOT_TRACES = [None, (WAVPACK_MIN_SAMPLES - 1, 384), (30_000,), (100, 30, 4)]


@pytest.mark.parametrize("chunks", TRACE_CHUNKS)
def test_int16_trace_chunks_default_to_wavpack_when_installed(chunks: tuple[int, ...]) -> None:
    codec = default_codec("int16", chunks).get_config()
    if HAVE_WAVPACK:
        assert (codec["id"], codec["level"], codec["bps"]) == ("wavpack", 1, 0.0)  # 0: lossless
    else:
        assert codec == TRACES_BLOSC


@pytest.mark.parametrize("chunks", NOT_TRACES)
def test_other_int16_chunks_default_to_blosc(chunks: tuple[int, ...] | None) -> None:
    assert default_codec("int16", chunks).get_config() == TRACES_BLOSC


@pytest.mark.usefixtures("without_wavpack")
@pytest.mark.parametrize("chunks", TRACE_CHUNKS)
def test_int16_traces_default_to_blosc_without_wavpack(chunks: tuple[int, ...]) -> None:
    assert default_codec("int16", chunks).get_config() == TRACES_BLOSC


#: Shapes at every edge of the rule, and noise that does not compress (which wavpack-numcodecs
#: 0.3's encoder could not store: its output buffer was the input's size).
EDGE_ARRAYS = {
    "one_sample": np.zeros(1, np.int16),
    "one_dimensional": (np.arange(100) % 7).astype(np.int16),
    "fifty_samples": (np.arange(200) % 7).astype(np.int16).reshape(50, 4),
    "just_too_short": (np.arange(4 * 499) % 7).astype(np.int16).reshape(499, 4),
    "shortest_traces": (np.arange(4 * 500) % 7).astype(np.int16).reshape(500, 4),
    "full_range_noise": np.random.default_rng(0)
    .integers(-32768, 32767, (2000, 3), endpoint=True)
    .astype(np.int16),
    "extremes": np.tile(np.array([[-32768, 32767]], np.int16), (600, 1)),
    "constant": np.full((30_000, 2), 7, np.int16),
}


@pytest.mark.parametrize("name", EDGE_ARRAYS)
def test_edge_int16_arrays_round_trip_with_the_default(tmp_path: Path, name: str) -> None:
    data = EDGE_ARRAYS[name]
    write_array(tmp_path / "s.zarr", name, data)
    stored = zarr.open_array(str(tmp_path / "s.zarr" / name), mode="r")
    traces_chunk = data.ndim == 2 and stored.chunks[0] >= WAVPACK_MIN_SAMPLES
    assert stored.compressor.codec_id == ("wavpack" if traces_chunk and HAVE_WAVPACK else "blosc")
    np.testing.assert_array_equal(stored[:], data)


def test_wavpack_refuses_chunks_too_short_before_writing(tmp_path: Path) -> None:
    why = r"chunks \(15, 4\) are too short for WavPack" if HAVE_WAVPACK else "needs the wavpack"
    with pytest.raises(UsageError, match=why):
        write_array(tmp_path / "s.zarr", "a", np.zeros((30, 4), np.int16), chunks=(15, 4),
                    codec="wavpack")  # fmt: skip
    assert "a" not in zarr.open_group(str(tmp_path / "s.zarr"), mode="r")


def test_int16_traces_round_trip_with_the_default_codec(tmp_path: Path) -> None:
    data = traces(samples=40_000)
    write_array(tmp_path / "x.zarr", "a", data)
    stored = zarr.open_array(str(tmp_path / "x.zarr" / "a"), mode="r")
    assert stored.compressor.codec_id == ("wavpack" if HAVE_WAVPACK else "blosc")
    np.testing.assert_array_equal(stored[:], data)
    assert stored.nbytes_stored < data.nbytes / 2


def test_default_codec_refuses_non_numeric() -> None:
    with pytest.raises(UsageError, match=r"dtype <U3 has no default codec"):
        default_codec(np.dtype("U3"))


def test_write_array_chunks_one_second_of_all_channels(tmp_path: Path) -> None:
    data = traces(samples=70_000, channels=6)
    array = write_array(tmp_path / "x.zarr", "traces", data, sampling_rate=RATE)
    assert array.chunks == (30_000, 6)
    assert array.compressor == default_codec(data.dtype, array.chunks)
    assert array.attrs["sampling_rate_Hz"] == 30_000.0
    reopened = zarr.open_array(str(tmp_path / "x.zarr" / "traces"), mode="r")
    np.testing.assert_array_equal(reopened[:], data)
    assert reopened.nchunks == 3
    assert reopened.nbytes_stored < data.nbytes / 2


def test_write_array_into_group_with_explicit_chunks_codec_attrs(tmp_path: Path) -> None:
    group = zarr.open_group(str(tmp_path / "g.zarr"), mode="w")
    data = np.arange(100, dtype=np.float32).reshape(10, 10)
    array = write_array(group, "a", data, chunks=(5, 10), codec=Zlib(1), attrs={"unit": "mV"})
    assert (array.chunks, array.compressor, dict(array.attrs)) == ((5, 10), Zlib(1), {"unit": "mV"})
    np.testing.assert_array_equal(group["a"][:], data)


def test_write_array_never_overwrites(tmp_path: Path) -> None:
    write_array(tmp_path / "x.zarr", "a", np.zeros(3))
    with pytest.raises(
        UsageError, match=r"array 'a' already exists in Zarr group .*choose another"
    ):
        write_array(tmp_path / "x.zarr", "a", np.ones(3))
    np.testing.assert_array_equal(zarr.open(str(tmp_path / "x.zarr"))["a"][:], np.zeros(3))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"chunks": (5,)}, r"chunks \(5,\) do not match array 'a' of shape \(10, 2\)"),
        ({"sampling_rate": 0}, "sampling_rate 0 must be a positive number of Hz"),
        ({"codec": "snappy"}, "codec 'snappy' is not known; pass a numcodecs Codec or one of"),
    ],
)
def test_write_array_bad_arguments(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        write_array(tmp_path / "x.zarr", "a", np.zeros((10, 2), np.int16), **kwargs)


def test_write_array_refuses_a_folder_that_is_not_a_group(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    with pytest.raises(UsageError, match=r"plain exists and is not a Zarr group"):
        write_array(tmp_path / "plain", "a", np.zeros(3))


@pytest.mark.usefixtures("without_wavpack")
def test_wavpack_without_the_extra_names_the_install(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"pip install 'assetlake\[wavpack\]'"):
        write_array(tmp_path / "x.zarr", "a", np.zeros((10, 2), np.int16), codec="wavpack")
    assert not (tmp_path / "x.zarr" / "a").exists()


def _read_series(path: Path) -> tuple[np.ndarray, float]:
    from hdmf_zarr import NWBZarrIO

    with NWBZarrIO(str(path), mode="r") as io:
        series = io.read().acquisition["ElectricalSeries"]
        return series.data[:], series.rate


def test_write_nwb_zarr_round_trips_through_pynwb(tmp_path: Path) -> None:
    data = traces(samples=40_000)
    path = write_nwb_zarr(
        nwbfile_with_series(zarr_data_io(data, sampling_rate=RATE)), tmp_path / "e.nwb.zarr"
    )
    read, rate = _read_series(path)
    np.testing.assert_array_equal(read, data)
    assert rate == RATE
    stored = zarr.open_array(str(path / "acquisition" / "ElectricalSeries" / "data"), mode="r")
    assert stored.chunks == (30_000, 8)
    assert stored.compressor == default_codec("int16", stored.chunks)


def test_write_nwb_zarr_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "e.nwb.zarr").mkdir()
    with pytest.raises(UsageError, match=r"e.nwb.zarr already exists"):
        write_nwb_zarr(nwbfile_with_series(traces()), tmp_path / "e.nwb.zarr")


def test_convert_nwb_hdf5_copies_everything(tmp_path: Path) -> None:
    from pynwb import NWBHDF5IO

    data = traces(samples=5000)
    src = tmp_path / "session.nwb"
    with NWBHDF5IO(str(src), mode="w") as io:
        io.write(nwbfile_with_series(data))
    dest = convert_nwb_hdf5(src, tmp_path / "session.nwb.zarr")
    src.unlink()
    read, rate = _read_series(dest)
    np.testing.assert_array_equal(read, data)
    assert rate == RATE


def test_convert_nwb_hdf5_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"missing.nwb does not exist"):
        convert_nwb_hdf5(tmp_path / "missing.nwb", tmp_path / "out.nwb.zarr")
    text = tmp_path / "notes.nwb"
    text.write_text("not hdf5")
    with pytest.raises(UsageError, match=r"notes.nwb is not an HDF5 file"):
        convert_nwb_hdf5(text, tmp_path / "out.nwb.zarr")
    assert not (tmp_path / "out.nwb.zarr").exists()


def test_write_ome_zarr_levels_and_ngff_metadata(tmp_path: Path) -> None:
    volume = np.arange(8 * 12 * 10, dtype=np.uint16).reshape(8, 12, 10)
    group = write_ome_zarr(
        volume, tmp_path / "v.ome.zarr", voxel_size=(2.0, 0.5, 0.5), levels=3, chunks=(4, 8, 8)
    )
    (multiscale,) = group.attrs["multiscales"]
    assert multiscale["version"] == "0.4"
    assert multiscale["name"] == "v"
    assert multiscale["axes"] == [{"name": a, "type": "space", "unit": "micrometer"} for a in "zyx"]
    assert [d["path"] for d in multiscale["datasets"]] == ["0", "1", "2"]
    scales = [d["coordinateTransformations"][0]["scale"] for d in multiscale["datasets"]]
    assert scales == [[2.0, 0.5, 0.5], [4.0, 1.0, 1.0], [8.0, 2.0, 2.0]]
    shifts = [d["coordinateTransformations"][1]["translation"] for d in multiscale["datasets"]]
    assert shifts == [[0.0, 0.0, 0.0], [1.0, 0.25, 0.25], [3.0, 0.75, 0.75]]
    assert [group[str(i)].shape for i in range(3)] == [(8, 12, 10), (4, 6, 5), (2, 3, 3)]
    assert group["0"].chunks == (4, 8, 8)
    assert group["0"]._dimension_separator == "/"
    np.testing.assert_array_equal(group["0"][:], volume)
    assert group["1"][0, 0, 0] == round(volume[:2, :2, :2].mean())
    assert group["2"].dtype == np.uint16


@pytest.mark.parametrize(
    ("volume", "kwargs", "message"),
    [
        (np.zeros((4, 4)), {}, r"shape \(4, 4\); expected 3 axes \(z, y, x\)"),
        (np.zeros((4, 4, 4)), {"voxel_size": (1, 0, 1)}, "must be 3 positive sizes"),
        (np.zeros((4, 4, 4)), {"levels": 0}, "levels=0: an OME-Zarr image needs at least 1"),
    ],
)
def test_write_ome_zarr_bad_arguments(
    tmp_path: Path, volume: np.ndarray, kwargs: dict, message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        write_ome_zarr(volume, tmp_path / "v.ome.zarr", **kwargs)
    assert not (tmp_path / "v.ome.zarr").exists()
