"""The transfer benchmark runs end to end in its quick form: every shape and contender at 0 and
30 ms against the writable latency endpoint, then the reads of assetlake's Zarr asset."""

from __future__ import annotations

from pathlib import Path

from benchkit import run_benchmark


def test_quick_transfer_benchmark_reports_every_rate(tmp_path: Path) -> None:
    report = run_benchmark("transfer", tmp_path / "transfer.json", "--quick", timeout=900)
    assert report["quick"] is True and report["machine"]["cpus"]
    uploads = [row for row in report["rows"] if "operation" not in row]
    assert {(r["shape"], r["latency_ms"], r["contender"]) for r in uploads} == {
        (shape, latency, contender)
        for shape in ("zarr_10000x64KiB", "zarr_2000x1MiB", "file_1GiB")
        for latency in (0, 30)
        for contender in ("assetlake", "s5cmd", "boto3_upload_file")
    }
    for row in uploads:
        assert row["files_per_s"] > 0 and row["mb_per_s"] > 0 and row["peak_rss_mb"] > 0
    zarr = next(r for r in uploads if r["shape"] == "zarr_10000x64KiB")
    assert zarr["objects"] == 300 + 1 + 6  # the chunks, .zarray and the six sidecars
    reads = {
        (r["operation"], r["latency_ms"], r["contender"]): r
        for r in report["rows"]
        if "operation" in r
    }
    assert set(reads) == {
        (op, ms, "assetlake") for op in ("download", "verify", "verify_fast") for ms in (0, 30)
    } | {("download", ms, "s5cmd") for ms in (0, 30)}
    for (operation, _, who), row in reads.items():
        assert row["objects_per_s"] > 0
        if operation != "download":  # both verifies check every object of the manifest
            assert (
                row["objects"] == reads[("verify", 30, "assetlake")]["objects"] >= zarr["objects"]
            )
        else:  # the median of three, beside s5cmd's
            assert len(row["objects_per_s_runs"]) == 3
        # every data byte is read once by a download or a verify, none by a fast verify
        data = 300 * (64 << 10) + len("{}")
        assert row["data_bytes_read"] == (0 if operation == "verify_fast" else data), who
    assert set(report["ratios_to_s5cmd"]) == {
        f"{shape}@{ms}ms"
        for shape in ("zarr_10000x64KiB", "zarr_2000x1MiB", "file_1GiB")
        for ms in (0, 30)
    } | {f"download_zarr_10000x64KiB@{ms}ms" for ms in (0, 30)}
