"""Upload throughput of assetlake against boto3's TransferManager and s3fs, on a loopback moto S3.

The moto server runs in its own process, and every upload runs in a fresh child process, so client
and server never share a GIL and each run's peak RSS is its own. Two shapes: one large file, and a
Zarr-like folder of many 1 MiB chunks. Each contender uploads the same asset folder (six sidecars
plus the data); assetlake into a fresh asset name each time. After one unmeasured warm-up upload,
each repeat runs every contender once, starting with a different one each time, against a freshly
reset server. Medians of the repeats are reported (every run's time is kept too), with each
contender's ratio to the best baseline (MB/s) and its client CPU seconds.

    python benchmarks/upload.py            # 1 GiB file, 2,000 x 1 MiB chunks, 5 repeats
    python benchmarks/upload.py --quick    # 64 MiB, 200 x 64 KiB, 1 repeat
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from assetlake.store.loopback import moto_server

MiB = 1 << 20
WORKERS = 16
CONTENDERS = ("assetlake", "boto3_upload_file", "s3fs_put")
BASELINES = ("boto3_upload_file", "s3fs_put")
BUCKET = "bench"
ROOT = Path(__file__).resolve().parent
ACQUIRED = datetime(2024, 3, 1, 14, 5, 9, tzinfo=ZoneInfo("America/Los_Angeles"))


# -- the child: one upload, timed --------------------------------------------------------------
def run_child(contender: str, folder: Path, prefix: str) -> dict[str, float]:
    """Upload ``folder`` once and measure it; runs in its own process."""
    files = [p for p in sorted(folder.rglob("*")) if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    upload = {"assetlake": _assetlake, "boto3_upload_file": _boto3, "s3fs_put": _s3fs}[contender]
    prepare = upload(folder, prefix, files)
    start, cpu = time.perf_counter(), time.process_time()
    prepare()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "bytes": size,
        "objects": len(files),
        "peak_rss_mb": peak,
    }


def _assetlake(folder: Path, prefix: str, files: list[Path]):
    import assetlake.validate  # noqa: F401  (imported by the upload; not part of its throughput)
    from assetlake.store import open_store
    from assetlake.upload import upload_folder

    store = open_store(f"s3://{BUCKET}")
    return lambda: upload_folder(folder, store, workers=WORKERS)


def _boto3(folder: Path, prefix: str, files: list[Path]):
    from concurrent.futures import ThreadPoolExecutor

    import boto3
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config

    client = boto3.client("s3", config=Config(max_pool_connections=WORKERS * 2))
    config = TransferConfig(max_concurrency=WORKERS)

    def put(path: Path) -> None:
        key = f"{prefix}/{path.relative_to(folder).as_posix()}"
        client.upload_file(str(path), BUCKET, key, Config=config)

    def run() -> None:
        if len(files) == 1:
            put(files[0])
            return
        with ThreadPoolExecutor(WORKERS) as pool:
            list(pool.map(put, files))

    return run


def _s3fs(folder: Path, prefix: str, files: list[Path]):
    import s3fs

    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": os.environ["AWS_ENDPOINT_URL"]})
    return lambda: fs.put(str(folder) + "/", f"{BUCKET}/{prefix}/", recursive=True)


# -- the parent: data, server, runs, report ---------------------------------------------------
def reset(endpoint: str) -> None:
    """Empty the server between runs so its memory and disk do not grow with the benchmark."""
    from assetlake.store import open_store

    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request).close()
    open_store(f"s3://{BUCKET}").create()


def write_data(data: Path, shape: str, quick: bool) -> None:
    """The data of a shape, written once and hard-linked into every asset folder."""
    data.mkdir(parents=True)
    if shape == "file":
        size = 64 * MiB if quick else 1024 * MiB
        block = os.urandom(16 * MiB)
        with open(data / "ecephys.bin", "wb") as out:
            for i in range(size // len(block)):
                out.write(i.to_bytes(8, "big") + block[8:])
        return
    count, chunk = (200, 64 << 10) if quick else (2000, MiB)
    chunks = data / "ecephys.zarr" / "0"
    chunks.mkdir(parents=True)
    (data / "ecephys.zarr" / ".zarray").write_text("{}")
    block = os.urandom(chunk)
    for i in range(count):
        (chunks / str(i)).write_bytes(i.to_bytes(8, "big") + block[8:])


def asset_folder(parent: Path, data: Path, run: int) -> Path:
    """A valid raw asset folder with a name of its own, holding hard links to the data."""
    from assetlake.naming import AssetName
    from assetlake.schema import dump_sidecar
    from assetlake.schema.samples import raw_sidecars

    acquired = ACQUIRED + timedelta(seconds=run)
    name = AssetName.raw("ecephys", "bench", acquired)
    folder = parent / str(name)
    shutil.copytree(data, folder, copy_function=os.link)
    for filename, model in raw_sidecars(name, acquired).items():
        (folder / filename).write_text(dump_sidecar(model), encoding="utf-8")
    return folder


def measure(contender: str, folder: Path, prefix: str, env: dict[str, str]) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", contender, str(folder), prefix]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{contender} failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout)


def summarise(runs: list[dict[str, float]]) -> dict[str, float]:
    seconds = statistics.median(r["seconds"] for r in runs)
    size, objects = runs[0]["bytes"], runs[0]["objects"]
    return {
        "seconds": round(seconds, 3),
        "mb_per_s": round(size / 1e6 / seconds, 1),
        "objects_per_s": round(objects / seconds, 1),
        "cpu_seconds": round(statistics.median(r["cpu_seconds"] for r in runs), 2),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1),
        "bytes": size,
        "objects": objects,
        "repeats": len(runs),
        "runs_seconds": [round(r["seconds"], 2) for r in runs],
    }


def benchmark(quick: bool, repeats: int, only: str | None = None) -> dict[str, object]:
    server = contextlib.ExitStack()  # the moto server process, ended with it
    endpoint = server.enter_context(moto_server(own_process=True))
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
    )
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT.parent}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    shapes: dict[str, object] = {}
    run = 0
    try:
        with tempfile.TemporaryDirectory(prefix="assetlake-bench-") as tmp:
            for shape, label in (("file", "file_64MiB" if quick else "file_1GiB"), ("folder", "")):
                if only not in (None, shape):
                    continue
                data = Path(tmp, shape, "data")
                write_data(data, shape, quick)
                if shape == "folder":
                    count = sum(1 for p in data.rglob("*") if p.is_file()) - 1
                    label = f"zarr_{count}x{'64KiB' if quick else '1MiB'}"
                results: dict[str, list[dict[str, float]]] = {c: [] for c in CONTENDERS}
                # One unmeasured upload first, so no contender pays for the server's first one.
                run += 1
                folder = asset_folder(Path(tmp, shape), data, run)
                reset(endpoint)
                measure(BASELINES[0], folder, f"run-{run}", env)
                shutil.rmtree(folder)
                for repeat in range(repeats):
                    # Each repeat starts with the next contender, so none always follows the same
                    # one; sync first, so no run pays for the last one's disk writeback.
                    turn = repeat % len(CONTENDERS)
                    for contender in CONTENDERS[turn:] + CONTENDERS[:turn]:
                        run += 1
                        folder = asset_folder(Path(tmp, shape), data, run)
                        reset(endpoint)
                        os.sync()
                        results[contender].append(measure(contender, folder, f"run-{run}", env))
                        shutil.rmtree(folder)
                summary: dict[str, object] = {c: summarise(r) for c, r in results.items()}
                best = max(summary[b]["mb_per_s"] for b in BASELINES)  # type: ignore[index]
                ours = summary["assetlake"]["mb_per_s"]  # type: ignore[index]
                summary["ratio_to_best_baseline"] = round(ours / best, 2)
                shapes[label] = summary
                shutil.rmtree(data)
    finally:
        server.close()
    return {
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "server": "moto (separate process, loopback HTTP)",
            "workers": WORKERS,
        },
        "quick": quick,
        "shapes": shapes,
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        contender, folder, prefix = sys.argv[2:5]
        print(json.dumps(run_child(contender, Path(folder), prefix)))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small shapes, one repeat")
    parser.add_argument("--repeats", type=int, help="runs per contender (default 5, quick 1)")
    parser.add_argument("--shape", choices=["file", "folder"], help="run one shape only")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "upload.json")
    args = parser.parse_args()
    report = benchmark(args.quick, args.repeats or (1 if args.quick else 5), args.shape)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    for shape, summary in report["shapes"].items():  # type: ignore[union-attr]
        for contender in CONTENDERS:
            row = summary[contender]
            print(
                f"{shape:<22} {contender:<18} {row['mb_per_s']:>8.1f} MB/s "
                f"{row['objects_per_s']:>8.1f} obj/s  peak {row['peak_rss_mb']:>7.1f} MB"
            )
        print(f"{shape:<22} assetlake / best baseline: {summary['ratio_to_best_baseline']:.2f}x")


if __name__ == "__main__":
    main()
