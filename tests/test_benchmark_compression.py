"""The compression benchmark runs, measures every codec losslessly and justifies its choice."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

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
    """WavPack is the measured choice but opt-in (it cannot encode every chunk shape); the
    default is the measured choice among numcodecs alone, installed or not."""
    report = json.loads((SCRIPT.parent / "results" / "compression.json").read_text())
    assert report["signal"]["channels"] == 384
    assert (report["chosen"], report["fallback"]) == ("wavpack-1", "blosc-lz4hc-9-bitshuffle")
    assert report["codecs"][report["fallback"]]["config"] == default_codec("int16").get_config()
    monkeypatch.setitem(sys.modules, "wavpack_numcodecs", None)
    fallback = report["codecs"][report["fallback"]]["config"]
    assert fallback == default_codec("int16").get_config()
