"""Which lossless codec should assetlake use by default for electrophysiology traces?

Measures compression ratio and compress/decompress throughput of candidate numcodecs codecs on
synthetic Neuropixels-like int16 traces (384 channels, 30 kHz, 1 s chunks of all channels, the
layout :func:`assetlake.formats.write_array` writes), then picks the default by a stated rule and
writes everything to ``benchmarks/results/compression.json``.

    .venv/bin/python benchmarks/compression.py            # ~10 s of data, 3 repeats
    .venv/bin/python benchmarks/compression.py --quick    # seconds; for the test suite

The signal: band-limited (300 Hz-6 kHz) thermal noise of 10 µV rms, a spatially smooth 1/f LFP
component, spikes of a few units spread over neighbouring channels, common-mode noise (mains hum
and a shared 1/f drift) and per-channel DC offsets, quantised at ``--uv-per-bit`` (2.34 µV/bit:
Neuropixels 1.0 AP band at gain 500).
"""

from __future__ import annotations

import argparse
import json
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
from scipy import signal

RESULTS = Path(__file__).resolve().parent / "results" / "compression.json"
BASELINE = "zlib-1"
#: A 384-channel probe at 30 kHz produces 23 MB/s; a rig writes several probes on one machine,
#: so the default must compress well above that, and decompress faster than S3 streams deliver.
MIN_COMPRESS_MBPS = 100.0
MIN_DECOMPRESS_MBPS = 300.0


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
    try:
        from wavpack_numcodecs import WavPack

        codecs["wavpack-lossless"] = WavPack(level=2, bps=None)
    except ImportError:
        codecs["wavpack-lossless"] = "not installed (pip install 'assetlake[wavpack]')"
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
    sos = signal.butter(2, (300, 6000), btype="bandpass", fs=rate, output="sos")
    noise = rng.standard_normal((n, channels), dtype=np.float32)
    uv = signal.sosfilt(sos, noise, axis=0).astype(np.float32)
    uv *= 10.0 / uv.std()

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
    """Ratio and median throughput (MB of raw data per second) over ``repeats`` passes."""
    raw_bytes = sum(c.nbytes for c in chunks)
    compress, decompress = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        encoded = [codec.encode(c) for c in chunks]
        compress.append(time.perf_counter() - start)
        start = time.perf_counter()
        decoded = [codec.decode(b) for b in encoded]
        decompress.append(time.perf_counter() - start)
    for chunk, out in zip(chunks, decoded, strict=True):
        if not np.array_equal(np.frombuffer(out, dtype=chunk.dtype).reshape(chunk.shape), chunk):
            raise RuntimeError(f"{codec!r} is not lossless on these traces")
    return {
        "ratio": round(raw_bytes / sum(len(b) for b in encoded), 3),
        "compress_MBps": round(raw_bytes / 1e6 / statistics.median(compress), 1),
        "decompress_MBps": round(raw_bytes / 1e6 / statistics.median(decompress), 1),
    }


def choose(results: dict[str, dict[str, Any]]) -> tuple[str, str]:
    """The default: best ratio among codecs fast enough for rigs and readers; why, in words."""
    fast = {
        name: r
        for name, r in results.items()
        if r.get("compress_MBps")
        and r["compress_MBps"] >= MIN_COMPRESS_MBPS
        and r["decompress_MBps"] >= MIN_DECOMPRESS_MBPS
        and not name.startswith(("wavpack", "flac"))
    }
    if not fast:
        raise RuntimeError("no installed codec meets the speed floors on this machine")
    best = max(fast, key=lambda name: (fast[name]["ratio"], fast[name]["compress_MBps"]))
    r = results[best]
    why = (
        f"{best} has the highest ratio ({r['ratio']}x, {r['ratio_vs_' + BASELINE]}x {BASELINE}) among codecs "
        f"that compress at >= {MIN_COMPRESS_MBPS:.0f} MB/s ({r['compress_MBps']}) and decompress "
        f"at >= {MIN_DECOMPRESS_MBPS:.0f} MB/s ({r['decompress_MBps']}) using only numcodecs, "
        "which zarr already requires (WavPack/FLAC stay optional extras)"
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
        "statistic": "median over repeats",
        "baseline": BASELINE,
        "machine": {
            "python": platform.python_version(),
            "numcodecs": numcodecs.__version__,
            "blosc_threads": numcodecs.blosc.get_nthreads(),
            "cpu": platform.processor() or platform.machine(),
        },
        "codecs": results,
        "chosen": chosen,
        "why": why,
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
