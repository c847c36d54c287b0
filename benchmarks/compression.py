"""Which lossless codec should assetlake use by default for electrophysiology traces?

Measures compression ratio and compress/decompress throughput of candidate numcodecs codecs on
synthetic Neuropixels-like int16 traces (384 channels, 30 kHz, 1 s chunks of all channels, the
layout :func:`assetlake.formats.write_array` writes), then picks the default by a stated rule and
writes everything to ``benchmarks/results/compression.json``.

    .venv/bin/python benchmarks/compression.py            # ~10 s of data, 3 repeats
    .venv/bin/python benchmarks/compression.py --quick    # seconds; for the test suite

The signal is built from the components whose statistics decide how well int16 traces compress
(how many bits of each sample are unpredictable, from its past and from its neighbours):

- white noise, 5.5 µV rms, independent per channel and flat to Nyquist: the amplifier and ADC
  noise floor of Neuropixels (5-7 µV rms in the AP band), which no codec can predict;
- a 1/f background, 8 µV rms, whose spectrum falls as 1/f from 1 Hz to 15 kHz (the aperiodic
  part of real wideband spectra) and whose channels are correlated with an exponential fall-off
  over about 4 channels (80 µm), as nearby sites record the same tissue;
- LFP, 80 µV rms, 1/f² up to ~500 Hz and smooth across tens of channels;
- spikes of a few units spread over neighbouring channels, common-mode noise (mains hum and a
  shared drift) and per-channel DC offsets,

quantised at ``--uv-per-bit`` (2.34 µV/bit: Neuropixels 1.0 at gain 500). White Gaussian noise
alone would make every codec look alike; these components give the temporal predictability that
WavPack's and FLAC's linear prediction exploit and the cross-channel redundancy that real probes
have.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numcodecs
import numpy as np
from numcodecs import LZMA, Blosc, Zlib
from numcodecs.abc import Codec
from scipy import ndimage

from assetlake.formats import wavpack_codec

RESULTS = Path(__file__).resolve().parent / "results" / "compression.json"
BASELINE = "zlib-1"
#: A 384-channel probe at 30 kHz produces 23 MB/s of int16. A rig compresses each probe's stream
#: on its own core, so the default must keep up with one probe on one core with headroom, and a
#: reader (one core per chunk) must decode at least twice as fast as the probe recorded.
PROBE_MBPS = 384 * 30_000 * 2 / 1e6
MIN_COMPRESS_MBPS = round(1.5 * PROBE_MBPS, 1)
MIN_DECOMPRESS_MBPS = round(2.0 * PROBE_MBPS, 1)
#: Codecs from packages beyond numcodecs (which zarr already requires).
OPTIONAL = ("wavpack", "flac")


def candidate_codecs() -> dict[str, Codec | str]:
    """Codec name → codec, or a reason string when the codec's package is not installed."""
    codecs: dict[str, Codec | str] = {
        "blosc-zstd-1-bitshuffle": Blosc("zstd", 1, Blosc.BITSHUFFLE),
        "blosc-zstd-3-bitshuffle": Blosc("zstd", 3, Blosc.BITSHUFFLE),
        "blosc-zstd-5-bitshuffle": Blosc("zstd", 5, Blosc.BITSHUFFLE),
        "blosc-zstd-9-bitshuffle": Blosc("zstd", 9, Blosc.BITSHUFFLE),
        "blosc-zstd-5-byteshuffle": Blosc("zstd", 5, Blosc.SHUFFLE),
        "blosc-lz4-5-bitshuffle": Blosc("lz4", 5, Blosc.BITSHUFFLE),
        "blosc-lz4hc-9-bitshuffle": Blosc("lz4hc", 9, Blosc.BITSHUFFLE),
        "zlib-1": Zlib(1),
        "zlib-6": Zlib(6),
        "lzma-1": LZMA(preset=1),
    }
    if wavpack_codec() is None:
        codecs["wavpack-1"] = "not installed (pip install 'assetlake[wavpack]')"
    else:  # as assetlake writes it (room for output larger than the chunk; same bytes)
        for level in (1, 2, 3):
            codecs[f"wavpack-{level}"] = wavpack_codec(level)
    try:
        from flac_numcodecs import Flac

        codecs["flac"] = Flac(level=5)
    except ImportError:
        codecs["flac"] = "not installed (pip install flac-numcodecs)"
    return codecs


def neuropixels_like(
    seconds: float,
    channels: int = 384,
    rate: int = 30_000,
    uv_per_bit: float = 2.34,
    seed: int = 0,
) -> np.ndarray:
    """Synthetic raw traces as the probe's ADC stores them: int16, (samples, channels)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    uv = rng.standard_normal((n, channels), dtype=np.float32) * np.float32(5.5)

    spectrum = np.fft.rfft(rng.standard_normal((n, channels), dtype=np.float32), axis=0)
    freqs = np.fft.rfftfreq(n, 1 / rate)
    spectrum[1:] /= np.sqrt(np.maximum(freqs[1:], 1.0))[:, None].astype(np.float32)
    spectrum[0] = 0
    background = np.fft.irfft(spectrum, n=n, axis=0).astype(np.float32)
    del spectrum
    distance = np.arange(-16, 17)
    background = ndimage.convolve1d(background, np.exp(-np.abs(distance) / 4.0), axis=1)
    uv += background * np.float32(8.0 / background.std())
    del background

    lfp_rate = 1000
    m = int(seconds * lfp_rate) + 1
    spectrum = np.fft.rfft(rng.standard_normal((m, channels)), axis=0)
    freqs = np.fft.rfftfreq(m, 1 / lfp_rate)
    spectrum[1:] /= freqs[1:, None]
    spectrum[0] = 0
    lfp = np.fft.irfft(spectrum, n=m, axis=0)
    kernel = np.hanning(41)
    lfp = np.apply_along_axis(lambda row: np.convolve(row, kernel / kernel.sum(), "same"), 1, lfp)
    lfp *= 80.0 / lfp.std()
    t_lfp = np.arange(m) / lfp_rate
    t = np.arange(n, dtype=np.float64) / rate
    for ch in range(channels):
        uv[:, ch] += np.interp(t, t_lfp, lfp[:, ch]).astype(np.float32)

    drift = np.cumsum(rng.standard_normal(m)) * 0.5
    common = np.interp(t, t_lfp, drift) + 6.0 * np.sin(2 * np.pi * 50 * t)
    uv += common.astype(np.float32)[:, None]

    template = -np.diff(np.exp(-0.5 * ((np.arange(61) - 20) / 5.0) ** 2)) * 60
    for _unit in range(max(4, channels // 40)):
        centre = rng.integers(channels)
        spread = np.exp(-0.5 * ((np.arange(channels) - centre) / 3.0) ** 2)
        times = rng.integers(0, n - len(template), rng.poisson(5 * seconds))
        for start in times:
            uv[start : start + len(template)] += (template[:, None] * spread * 5).astype(np.float32)

    offsets = rng.integers(-300, 300, channels).astype(np.float32)
    return np.clip(np.round(uv / uv_per_bit + offsets), -32768, 32767).astype(np.int16)


def measure(codec: Codec, chunks: list[np.ndarray], repeats: int) -> dict[str, float]:
    """Ratio and median throughput over ``repeats`` passes, in MB of raw data per CPU-second of
    this process (all its threads): load from other processes on a shared machine does not
    distort it, and multi-threaded Blosc is compared with single-threaded codecs per core."""
    raw_bytes = sum(c.nbytes for c in chunks)
    compress, decompress = [], []
    for _ in range(repeats):
        start = time.process_time()
        encoded = [codec.encode(c) for c in chunks]
        compress.append(time.process_time() - start)
        start = time.process_time()
        decoded = [codec.decode(b) for b in encoded]
        decompress.append(time.process_time() - start)
    for chunk, out in zip(chunks, decoded, strict=True):
        if not np.array_equal(np.frombuffer(out, dtype=chunk.dtype).reshape(chunk.shape), chunk):
            raise RuntimeError(f"{codec!r} is not lossless on these traces")
    return {
        "ratio": round(raw_bytes / sum(len(b) for b in encoded), 3),
        "compress_MBps": round(raw_bytes / 1e6 / statistics.median(compress), 1),
        "decompress_MBps": round(raw_bytes / 1e6 / statistics.median(decompress), 1),
    }


def pareto(results: dict[str, dict[str, Any]]) -> list[str]:
    """The measured codecs no other codec beats on ratio, compression and decompression speed."""
    measured = {n: r for n, r in results.items() if r.get("compress_MBps")}
    keys = ("ratio", "compress_MBps", "decompress_MBps")

    def beats(a: dict[str, Any], b: dict[str, Any]) -> bool:
        return all(a[k] >= b[k] for k in keys) and any(a[k] > b[k] for k in keys)

    return [n for n, r in measured.items() if not any(beats(o, r) for o in measured.values())]


def choose(results: dict[str, dict[str, Any]], *, optional: bool = True) -> tuple[str, str]:
    """The default: on the Pareto front, the best ratio among codecs fast enough for rigs and
    readers (``optional``: codecs of extra packages count too); why, in words."""
    front = pareto(results)
    fast = {
        name: results[name]
        for name in front
        if results[name]["compress_MBps"] >= MIN_COMPRESS_MBPS
        and results[name]["decompress_MBps"] >= MIN_DECOMPRESS_MBPS
        and (optional or not name.startswith(OPTIONAL))
    }
    if not fast:
        raise RuntimeError("no installed codec meets the speed floors on this machine")
    best = max(fast, key=lambda name: (fast[name]["ratio"], fast[name]["compress_MBps"]))
    r = results[best]
    why = (
        f"{best} has the highest ratio ({r['ratio']}x, {r['ratio_vs_' + BASELINE]}x {BASELINE}) "
        f"on the Pareto front among codecs that compress at >= {MIN_COMPRESS_MBPS} MB/s "
        f"({r['compress_MBps']}) and decompress at >= {MIN_DECOMPRESS_MBPS} MB/s "
        f"({r['decompress_MBps']}) on one core"
        + ("" if optional else ", using only numcodecs, which zarr already requires")
    )
    return best, why


def run(seconds: float, channels: int, repeats: int, uv_per_bit: float) -> dict[str, Any]:
    rate = 30_000
    traces = neuropixels_like(seconds, channels, rate, uv_per_bit)
    chunks = [np.ascontiguousarray(traces[i : i + rate]) for i in range(0, len(traces), rate)]
    results: dict[str, dict[str, Any]] = {
        "uncompressed": {"ratio": 1.0, "compress_MBps": None, "decompress_MBps": None}
    }
    for name, codec in candidate_codecs().items():
        if isinstance(codec, str):
            results[name] = {"status": codec}
        else:
            results[name] = {"config": codec.get_config(), **measure(codec, chunks, repeats)}
    base = results[BASELINE]["ratio"]
    for r in results.values():
        if "ratio" in r:
            r[f"ratio_vs_{BASELINE}"] = round(r["ratio"] / base, 3)
    chosen, why = choose(results)
    fallback, fallback_why = choose(results, optional=False)
    return {
        "signal": {
            "channels": channels,
            "sampling_rate_Hz": rate,
            "seconds": seconds,
            "dtype": "int16",
            "layout": "(samples, channels), C order",
            "chunk": [rate, channels],
            "uv_per_bit": uv_per_bit,
            "noise_rms_bits": round(float(traces.astype(np.float32).std(axis=0).mean()), 1),
        },
        "repeats": repeats,
        "statistic": "median over repeats; MB/s are MB per CPU-second of the benchmark process",
        "baseline": BASELINE,
        "machine": {
            "python": platform.python_version(),
            "numcodecs": numcodecs.__version__,
            "blosc_threads": numcodecs.blosc.get_nthreads(),
            "cpu": platform.processor() or platform.machine(),
        },
        "codecs": results,
        "pareto_front": pareto(results),
        "chosen": chosen,
        "why": why,
        "fallback": fallback,
        "fallback_why": fallback_why,
        "load_average": [round(x, 1) for x in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="48 channels, 2 s, 1 repeat")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"JSON file (default {RESULTS})")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--uv-per-bit", type=float, default=2.34)
    args = parser.parse_args(argv)
    if args.quick:
        report = run(2.0, 48, 1, args.uv_per_bit)
    else:
        report = run(args.seconds, 384, args.repeats, args.uv_per_bit)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    for name, r in report["codecs"].items():
        if "ratio" in r:
            print(
                f"{name:<26} ratio {r['ratio']:6.3f}  compress {r['compress_MBps'] or '-':>7} MB/s"
                f"  decompress {r['decompress_MBps'] or '-':>7} MB/s"
            )
        else:
            print(f"{name:<26} {r['status']}")
    print(f"chosen: {report['chosen']}: {report['why']}")
    print(f"without optional packages: {report['fallback']}: {report['fallback_why']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
