"""The compression benchmark runs, measures every codec losslessly and justifies its choice."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from assetlake import formats
from assetlake.formats import default_codec

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "compression.py"


def test_quick_benchmark_writes_results(tmp_path: Path) -> None:
    out = tmp_path / "compression.json"
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(out.read_text())
    assert report["signal"]["dtype"] == "int16"
    assert report["signal"]["chunk"] == [30_000, report["signal"]["channels"]]
    codecs = report["codecs"]
    measured = {name: r for name, r in codecs.items() if "compress_MBps" in r}
    assert {"blosc-zstd-5-bitshuffle", "blosc-lz4-5-bitshuffle", "zlib-1", "lzma-1"} <= set(
        measured
    )
    assert codecs["uncompressed"]["ratio"] == 1.0
    for name, r in measured.items():
        assert r["ratio_vs_zlib-1"] == round(r["ratio"] / codecs["zlib-1"]["ratio"], 3)
        if name != "uncompressed":
            assert r["ratio"] > 1.0, name
            assert r["compress_MBps"] > 0 and r["decompress_MBps"] > 0, name
    for optional in ("wavpack-1", "flac"):
        assert "ratio" in codecs[optional] or codecs[optional]["status"].startswith("not installed")
    front = report["pareto_front"]
    for name in front:  # nothing measured is better in every respect than a codec on the front
        r = codecs[name]
        assert not any(
            o["ratio"] >= r["ratio"]
            and o["compress_MBps"] >= r["compress_MBps"]
            and o["decompress_MBps"] >= r["decompress_MBps"]
            and o != r
            for o in measured.values()
            if o["compress_MBps"]
        ), name
    for key, optional in (("chosen", True), ("fallback", False)):
        chosen = codecs[report[key]]
        fast_enough = [
            codecs[name]["ratio"]
            for name in front
            if (optional or not name.startswith(("wavpack", "flac")))
            and codecs[name]["compress_MBps"] >= 34.6
            and codecs[name]["decompress_MBps"] >= 46.1
        ]
        assert report[key] in front and chosen["ratio"] == max(fast_enough)
        why = report[key + "_why" if key == "fallback" else "why"]
        assert why.startswith(f"{report[key]} has the highest ratio ({chosen['ratio']}x")
    assert f"{report['chosen']}:" in run.stdout


def test_committed_results_justify_the_default_codec(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default for the benchmark's chunks is its measured choice with WavPack installed, and
    the measured choice among numcodecs alone without it."""
    report = json.loads((SCRIPT.parent / "results" / "compression.json").read_text())
    assert report["signal"]["channels"] == 384
    assert (report["chosen"], report["fallback"]) == ("wavpack-1", "blosc-lz4hc-9-bitshuffle")
    chunks = report["signal"]["chunk"]
    installed = importlib.util.find_spec("wavpack_numcodecs") is not None
    expected = report["codecs"][report["chosen"] if installed else report["fallback"]]["config"]
    assert default_codec("int16", chunks).get_config() == expected
    monkeypatch.setitem(sys.modules, "wavpack_numcodecs", None)
    formats._wavpack_type.cache_clear()
    try:
        fallback = report["codecs"][report["fallback"]]["config"]
        assert default_codec("int16", chunks).get_config() == fallback
    finally:
        formats._wavpack_type.cache_clear()
