"""Writers for the data formats an asset holds: chunked Zarr arrays, NWB-Zarr, OME-Zarr.

Everything written here is plain zarr v2 / NWB-Zarr / NGFF 0.4, so analysts open it in place from
S3 with zarr, hdmf-zarr or any OME-Zarr viewer, without assetlake. Writers work on local paths (the
builder's staging folder); the uploader moves the result to the lake.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import zarr
from numcodecs import Blosc
from numcodecs.abc import Codec
from zarr.util import normalize_chunks

from assetlake.errors import UsageError

if TYPE_CHECKING:
    from hdmf_zarr import ZarrDataIO
    from pynwb import NWBFile

#: Codec names accepted by ``codec=`` besides a numcodecs ``Codec`` instance.
CODEC_NAMES = ("default", "wavpack")
#: NGFF version of the multiscales metadata :func:`write_ome_zarr` writes.
NGFF_VERSION = "0.4"
OME_CHUNKS = (128, 128, 128)


#: Fewest samples per channel in a chunk for which WavPack is the int16 default. Measured on
#: Neuropixels-like traces of 1 to 64 channels: at 500 samples WavPack stores them in 0.55-0.93x
#: of Blosc-lz4hc-9's bytes, at 200 in 1.2-1.9x (its block header, about 200 bytes, dominates);
#: libwavpack refuses blocks of fewer than 16 samples.
WAVPACK_MIN_SAMPLES = 500
#: libwavpack's own floor: a block of fewer samples is a configuration error.
_WAVPACK_FLOOR = 16


def default_codec(dtype: np.dtype[Any] | type | str, chunks: Sequence[int] | None = None) -> Codec:
    """The measured Pareto choice for chunks of ``dtype`` and shape ``chunks``: for int16 traces
    (2-D chunks, time by channel, of at least :data:`WAVPACK_MIN_SAMPLES` samples) lossless
    WavPack (level 1) when ``wavpack-numcodecs`` is installed; for other int16 chunks (1-D,
    shorter, more axes, or an unknown shape), or without WavPack, Blosc-lz4hc level 9 with
    bit-shuffle; for other numeric dtypes Blosc-zstd level 5 with bit-shuffle.

    Chosen by ``benchmarks/compression.py`` (results in ``benchmarks/results/compression.json``)
    on Neuropixels-like int16 traces (white noise floor, spatially correlated 1/f background,
    LFP, spikes), 384 channels x 30 kHz, 1 s chunks of all channels, 2.34 µV/bit: the best ratio
    on the Pareto front among codecs that compress one probe's 23 MB/s on one core with 1.5x
    headroom and decode at twice that. WavPack's linear prediction stores int16 traces about 2x
    smaller than Blosc: 3.71x against 2.40x (lz4hc-9) and 2.25x (zstd-5), at 49 MB/s in and 83
    MB/s out per core. Blosc-lz4hc-9 is the same rule's choice among codecs of numcodecs alone
    (50 MB/s in, 1.9 GB/s out). Bit-shuffle wins because noise occupies only the low bits of each
    sample; zstd-5 (192 MB/s in) stays the default of dtypes the benchmark does not measure.
    Data written with WavPack needs ``wavpack-numcodecs`` to be read: ``pip install
    'assetlake[wavpack]'``.
    """
    kind = np.dtype(dtype).kind
    if kind not in "biufc":
        raise UsageError(
            f"dtype {np.dtype(dtype)} has no default codec; store numeric arrays "
            "(convert strings or objects to a numeric or JSON form first)"
        )
    if np.dtype(dtype) == np.int16:
        traces = chunks is not None and len(chunks) == 2 and chunks[0] >= WAVPACK_MIN_SAMPLES
        wavpack = wavpack_codec() if traces else None
        return wavpack or Blosc(cname="lz4hc", clevel=9, shuffle=Blosc.BITSHUFFLE)
    return Blosc(cname="zstd", clevel=5, shuffle=Blosc.BITSHUFFLE)


@functools.cache
def _wavpack_type() -> type[Codec] | None:
    """:class:`WavPack` with room for its output, or None if wavpack-numcodecs is not installed.

    wavpack-numcodecs 0.3 gives the encoder an output buffer exactly the input's size, so a chunk
    whose encoding is larger (noise that does not compress, a short chunk's header) fails to
    encode. This subclass hands ``compress`` the chunk followed by spare bytes (it encodes only
    the samples it is told of and sizes its output by the buffer): the bytes written and the
    config are stock WavPack's, so any reader with wavpack-numcodecs decodes them. It is
    registered as numcodecs' ``wavpack`` codec in this process, because zarr instantiates an
    array's compressor from the registry by its config, not from the instance it was given.
    """
    try:
        from numcodecs import register_codec
        from wavpack_numcodecs import WavPack
        from wavpack_numcodecs.wavpack import compress, dtype_enum
    except ImportError:
        return None

    class RoomyWavPack(WavPack):
        def encode(self, buf: Any) -> bytes:
            data = np.ascontiguousarray(self._prepare_data(np.asarray(buf)))
            samples, channels = data.shape
            if samples < _WAVPACK_FLOOR:
                raise UsageError(
                    f"a chunk of {samples} samples is too short for WavPack (it needs "
                    f"{_WAVPACK_FLOOR}); give longer chunks or use the default codec"
                )
            room = np.zeros(data.nbytes + data.nbytes // 4 + 4096, np.uint8)
            room[: data.nbytes] = data.view(np.uint8).reshape(-1)
            kind = dtype_enum[str(data.dtype)]
            return compress(room, self.level, samples, channels, self.bps, kind,
                            self.dynamic_noise_shaping, self.shaping_weight,
                            self.num_encoding_threads)  # fmt: skip

    register_codec(RoomyWavPack)
    return RoomyWavPack


def wavpack_codec(level: int = 1) -> Codec | None:
    """Lossless WavPack (level 1, its fast one, is the benchmark's choice) as assetlake writes it,
    or None if wavpack-numcodecs is not installed."""
    codec_type = _wavpack_type()
    return None if codec_type is None else codec_type(level=level, bps=None, num_decoding_threads=1)


def resolve_codec(
    codec: Codec | str | None, dtype: np.dtype[Any], chunks: Sequence[int] | None = None
) -> Codec:
    """A codec from what callers pass: None or "default" → :func:`default_codec` (for chunks of
    shape ``chunks``, when known), "wavpack"."""
    if codec is None or codec == "default":
        return default_codec(dtype, chunks)
    if isinstance(codec, Codec):
        return codec
    if codec == "wavpack":
        if (wavpack := wavpack_codec()) is None:
            raise UsageError(
                "codec 'wavpack' needs the wavpack-numcodecs package; "
                "run: pip install 'assetlake[wavpack]' (or use the default codec)"
            )
        if chunks is not None and min(chunks[0], int(np.prod(chunks))) < _WAVPACK_FLOOR:
            raise UsageError(
                f"chunks {tuple(chunks)} are too short for WavPack (it needs at least "
                f"{_WAVPACK_FLOOR} samples per chunk); give longer chunks or use the default codec"
            )
        return wavpack
    raise UsageError(
        f"codec {codec!r} is not known; pass a numcodecs Codec or one of {', '.join(CODEC_NAMES)}"
    )


def trace_chunks(shape: Sequence[int], sampling_rate: float) -> tuple[int, ...]:
    """1 s of samples by every channel: a time window reads one chunk row, all channels at once."""
    if not sampling_rate > 0:
        raise UsageError(f"sampling_rate {sampling_rate!r} must be a positive number of Hz")
    if not shape:
        raise UsageError("a 0-d array has no time axis to chunk; pass chunks= or a 1-D+ array")
    samples = max(1, min(int(shape[0]), round(sampling_rate)))
    return (samples, *(max(1, int(n)) for n in shape[1:]))


def write_array(
    target: zarr.Group | str | Path,
    name: str,
    data: np.ndarray | Any,
    *,
    sampling_rate: float | None = None,
    chunks: Sequence[int] | None = None,
    codec: Codec | str | None = None,
    attrs: dict[str, Any] | None = None,
) -> zarr.Array:
    """Write ``data`` as a new chunked, compressed array ``name`` in a Zarr group (or group path).

    With ``sampling_rate`` (Hz) and no ``chunks``, the first axis is time: chunks hold 1 s of all
    channels, and the rate is kept in the array's attributes as ``sampling_rate_Hz``. Arrays are
    never overwritten, like everything in the lake.
    """
    data = np.asarray(data)
    group = target if isinstance(target, zarr.hierarchy.Group) else _open_group(Path(target))
    if chunks is None:
        chunks = trace_chunks(data.shape, sampling_rate) if sampling_rate is not None else True
    elif len(chunks) != data.ndim:
        raise UsageError(
            f"chunks {tuple(chunks)} do not match array {name!r} of shape {data.shape}; "
            "give one chunk length per axis"
        )
    chunks = normalize_chunks(chunks, data.shape, data.dtype.itemsize)
    compressor = resolve_codec(codec, data.dtype, chunks)
    try:
        array = group.create_dataset(
            name, data=data, chunks=chunks, compressor=compressor, overwrite=False
        )
    except (zarr.errors.ContainsArrayError, zarr.errors.ContainsGroupError):
        where = getattr(group.store, "path", None) or group.name
        raise UsageError(
            f"array {name!r} already exists in Zarr group {where}; "
            "arrays are never overwritten, choose another name"
        ) from None
    if sampling_rate is not None:
        array.attrs["sampling_rate_Hz"] = float(sampling_rate)
    if attrs:
        array.attrs.update(attrs)
    return array


def _open_group(path: Path) -> zarr.hierarchy.Group:
    if path.exists() and not (path / ".zgroup").exists():
        raise UsageError(f"{path} exists and is not a Zarr group; write to a new folder")
    return zarr.open_group(str(path), mode="a")


def zarr_data_io(
    data: np.ndarray | Any,
    *,
    sampling_rate: float | None = None,
    chunks: Sequence[int] | None = None,
    codec: Codec | str | None = None,
) -> ZarrDataIO:
    """Wrap data for a pynwb object so NWB-Zarr stores it with assetlake's chunks and codec."""
    from hdmf_zarr import ZarrDataIO

    data = np.asarray(data)
    if chunks is None and sampling_rate is not None:
        chunks = trace_chunks(data.shape, sampling_rate)
    return ZarrDataIO(
        data=data,
        chunks=None if chunks is None else list(chunks),
        compressor=resolve_codec(codec, data.dtype, chunks),
    )


def write_nwb_zarr(nwbfile: NWBFile, path: str | Path) -> Path:
    """Write a pynwb ``NWBFile`` as NWB-Zarr in a new local folder (uploaded later, as a whole)."""
    from hdmf_zarr import NWBZarrIO

    path = Path(path)
    _check_new(path)
    with NWBZarrIO(str(path), mode="w") as io:
        io.write(nwbfile)
    return path


def convert_nwb_hdf5(src: str | Path, dest: str | Path) -> Path:
    """Convert an NWB HDF5 file to NWB-Zarr at ``dest``, copying the data (no links to ``src``)."""
    import h5py
    from hdmf_zarr import NWBZarrIO
    from pynwb import NWBHDF5IO

    src, dest = Path(src), Path(dest)
    if not src.is_file():
        raise UsageError(f"NWB file {src} does not exist; give the path of an NWB HDF5 (.nwb) file")
    if not h5py.is_hdf5(src):
        raise UsageError(f"{src} is not an HDF5 file; give an NWB HDF5 (.nwb) file")
    _check_new(dest)
    with NWBHDF5IO(str(src), mode="r") as read_io, NWBZarrIO(str(dest), mode="w") as export_io:
        export_io.export(src_io=read_io, write_args={"link_data": False})
    return dest


def write_ome_zarr(
    volume: np.ndarray,
    path: str | Path,
    *,
    voxel_size: Sequence[float] = (1.0, 1.0, 1.0),
    levels: int = 3,
    chunks: Sequence[int] = OME_CHUNKS,
    codec: Codec | str | None = None,
    name: str | None = None,
) -> zarr.hierarchy.Group:
    """Write a (z, y, x) volume as a multiscale OME-Zarr (NGFF 0.4) image in a new folder.

    Level ``i`` is the 2x2x2 block mean of level ``i-1`` (edges padded, so each axis has
    ``ceil(n / 2)`` voxels) with scale ``voxel_size * 2**i`` µm and the half-voxel translation
    that keeps voxel centres aligned, so every viewer overlays the levels correctly.
    """
    volume = np.asarray(volume)
    if volume.ndim != 3:
        raise UsageError(f"OME-Zarr volume has shape {volume.shape}; expected 3 axes (z, y, x)")
    if len(voxel_size) != 3 or not all(float(v) > 0 for v in voxel_size):
        raise UsageError(
            f"voxel_size {tuple(voxel_size)} must be 3 positive sizes (z, y, x) in micrometers"
        )
    if levels < 1:
        raise UsageError(f"levels={levels}: an OME-Zarr image needs at least 1 level")
    if len(chunks) != 3:
        raise UsageError(f"chunks {tuple(chunks)} must give 3 lengths (z, y, x)")
    path = Path(path)
    _check_new(path)
    group = zarr.open_group(str(path), mode="w-")
    compressor = resolve_codec(codec, volume.dtype)
    datasets = []
    level = volume
    for i in range(levels):
        if i:
            level = _downsample(level)
        group.create_dataset(
            str(i),
            data=level,
            chunks=tuple(min(c, n) for c, n in zip(chunks, level.shape, strict=True)),
            compressor=compressor,
            dimension_separator="/",
        )
        factor = 2**i
        datasets.append(
            {
                "path": str(i),
                "coordinateTransformations": [
                    {"type": "scale", "scale": [float(v) * factor for v in voxel_size]},
                    {
                        "type": "translation",
                        "translation": [float(v) * (factor - 1) / 2 for v in voxel_size],
                    },
                ],
            }
        )
    group.attrs["multiscales"] = [
        {
            "version": NGFF_VERSION,
            "name": name or path.name.removesuffix(".ome.zarr"),
            "axes": [{"name": axis, "type": "space", "unit": "micrometer"} for axis in "zyx"],
            "datasets": datasets,
            "type": "mean",
            "metadata": {"description": "2x2x2 block mean per level, edges padded"},
        }
    ]
    return group


def _downsample(volume: np.ndarray) -> np.ndarray:
    """2x2x2 block mean, padding odd axes with their edge, cast back to the input dtype."""
    pad = [(0, n % 2) for n in volume.shape]
    padded = np.pad(volume, pad, mode="edge").astype(np.float64)
    z, y, x = (n // 2 for n in padded.shape)
    mean = padded.reshape(z, 2, y, 2, x, 2).mean(axis=(1, 3, 5))
    if np.issubdtype(volume.dtype, np.integer):
        mean = np.rint(mean)
    return mean.astype(volume.dtype)


def _check_new(path: Path) -> None:
    if path.exists():
        raise UsageError(f"{path} already exists; data in an asset is never overwritten")
    if not path.parent.is_dir():
        raise UsageError(f"folder {path.parent} does not exist; create it or write elsewhere")
