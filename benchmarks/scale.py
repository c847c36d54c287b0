"""The crawl at real S3 latency: ``assetlake index`` against the latency endpoint (s3_endpoint.py).

For each lake size and latency, on the same synthetic lake, in child processes (peak RSS each):

* ``index``: today's ``assetlake index`` (bulk GETs through obstore, parallel listing, records
  built in a worker process per CPU beyond the first; peak RSS adds its workers' own peaks, and
  the CPU per asset of the crawl process and of its workers is recorded);
* ``old crawl``: the crawl before the bulk path (32 boto3 threads, one listing page after another);
* ``floor``: bare concurrent GETs of every ``metadata.nd.json`` and nothing else, through obstore
  with the same requests in flight as the crawl (256) and through boto3 with 32 threads;
* the two boto3 baselines (``old`` and ``floor-boto3``) only on lakes of up to
  ``--baselines-upto`` assets (default 10,000): their 32 threads bound their rate whatever the
  lake's size, and at 100,000 they alone would take most of the 15 minutes the run may take;
* the incremental re-index of the unchanged lake, and at ``--listing`` assets (default 1,000,000)
  the parallel listing alone, which is all an incremental re-index of an unchanged lake requests;
* at ``--published`` assets (default 1,000,000) the published catalogue, by
  ``benchmarks/scale_parquet.py`` in a child process (the published files as ``--publish`` writes
  them, 50,000 records tiled): ``find --lake``'s first answer on a clean cache, and the bytes
  DuckDB reads of ``assets.parquet`` for one subject (its layout study runs on its own).

Every rate is under ``assets_per_s`` beside ``latency_ms`` and ``assets``, with the CPU the
endpoint spent serving it (it shares the machine's cores; a real bucket costs the client none).
The machine's load average is recorded: the figures are only comparable within one run.

    .venv/bin/python benchmarks/scale.py                       # 10k and 100k at 0, 10, 30 ms
    .venv/bin/python benchmarks/scale.py --sizes 10000 --latencies 30 --listing 100000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import s3_endpoint

RESULTS = Path(__file__).resolve().parent / "results" / "scale.json"
TARGETS = {"assets_per_s": 2000, "peak_mb": 300, "incremental_1m_s": 30, "find_lake_1m_s": 10}
ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}

_CHILD = """
import json, os, resource, sys, threading, time
mode, lake, path = sys.argv[1:4]

def high_water(pid):
    # VmHWM: a process's own peak RSS. (ru_maxrss of children is not: Linux keeps the parent's
    # RSS at the time it started them, so every worker would count the crawl process again.)
    try:
        with open(f"/proc/{pid}/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return 0

workers = {}  # pid: peak RSS in KiB, sampled until each worker ends
def watch(me=os.getpid()):
    while True:
        try:
            with open(f"/proc/{me}/task/{me}/children") as found:
                pids = found.read().split()
        except OSError:
            pids = []
        for pid in pids:
            workers[pid] = max(workers.get(pid, 0), high_water(pid))
        time.sleep(0.2)
threading.Thread(target=watch, daemon=True).start()

from assetlake.catalogue import Catalogue
from assetlake.index import index_lake
from assetlake.store import Store, open_store
import assetlake.validate  # a one-off import cost, kept out of the per-asset rate

store = open_store(lake)
out = {}
if mode == "old":  # the crawl before the bulk path: boto3 threads, sequential listing
    cls = type(store)
    cls.get_many = Store.get_many
    cls.list_dirs_parallel = Store.list_dirs_parallel
if mode in ("index", "old"):
    with Catalogue(path) as catalogue:
        cpu, children = time.process_time(), resource.getrusage(resource.RUSAGE_CHILDREN)
        full = index_lake(store, catalogue, workers=32)
        cpu, after = time.process_time() - cpu, resource.getrusage(resource.RUSAGE_CHILDREN)
        again = index_lake(store, catalogue, workers=32)
    spent = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    out.update(seconds=full.seconds, indexed=full.new, total=full.total,
               unverified=full.unverified, incremental_s=again.seconds,
               cpu_ms_per_asset=cpu / full.new * 1000, workers_cpu_ms_per_asset=spent / full.new * 1000)
elif mode == "listing":
    begun = time.perf_counter()
    out.update(folders=len(store.list_dirs_parallel()), seconds=time.perf_counter() - begun)
elif mode in ("floor", "floor-boto3"):
    folders = store.list_dirs_parallel()
    keys = [f"{name}/metadata.nd.json" for name in folders]
    begun = time.perf_counter()
    many = store.get_many if mode == "floor" else lambda k: Store.get_many(store, k, workers=32)
    got = sum(1 for _, data in many(keys) if data is not None)
    out.update(seconds=time.perf_counter() - begun, got=got)
out["peak_mb"] = (high_water(os.getpid()) + sum(workers.values())) / 1024  # crawl and workers
print(json.dumps(out))
"""


def child(mode: str, endpoint: str, source: str = "") -> dict[str, Any]:
    """One contender in a fresh process; ``source``: a folder whose ``assetlake`` package it
    imports instead of this checkout's (another commit, for an A/B in one run)."""
    env = {**os.environ, **ENV, "AWS_ENDPOINT_URL": endpoint}
    if source:
        env["PYTHONPATH"] = source
    env.pop("AWS_PROFILE", None)
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, mode, f"s3://{s3_endpoint.BUCKET}", f"{tmp}/c.sqlite"],
            env=env,
            cwd=source or None,  # a child run with -c imports from its working folder first
            capture_output=True,
            text=True,
        )
    if done.returncode:  # the child's own error, not only its exit code
        sys.exit(f"{mode} crawl failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(assets: int, latency: float, contenders: list[str]) -> list[dict[str, Any]]:
    server, endpoint = s3_endpoint.start(
        "--assets", str(assets), "--latency-ms", str(latency)
    )  # fmt: skip
    rows = []
    try:
        for contender in contenders:
            mode, _, source = contender.partition("@")
            load = os.getloadavg()[0]
            served = cpu_seconds(server.pid)  # type: ignore[attr-defined]
            run = child(mode, endpoint, source)
            served = cpu_seconds(server.pid) - served  # type: ignore[attr-defined]
            row = {
                "contender": {"index": "assetlake index", "old": "old crawl (32 boto3 threads)",
                              "floor": "bare GETs, obstore 256 in flight",
                              "floor-boto3": "bare GETs, boto3 32 threads"}[mode]
                             + (f" ({source})" if source else ""),
                "assets": assets,
                "latency_ms": latency,
                "assets_per_s": round(assets / run["seconds"], 1),
                "seconds": round(run["seconds"], 2),
                "peak_mb": round(run["peak_mb"], 1),
                "load_average": round(load, 2),
                # The endpoint shares this machine's cores: what it spent serving the contender.
                "endpoint_cpu_ms_per_asset": round(served / assets * 1000, 3),
            }  # fmt: skip
            if "incremental_s" in run:
                row.update(
                    cpu_ms_per_asset=round(run["cpu_ms_per_asset"], 3),
                    workers_cpu_ms_per_asset=round(run["workers_cpu_ms_per_asset"], 3),
                    incremental_s=round(run["incremental_s"], 3),
                    indexed=run["indexed"],
                    unverified=run["unverified"],
                )
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    finally:
        server.kill()  # type: ignore[attr-defined]
        server.wait()  # type: ignore[attr-defined]
    return rows


def listing(assets: int, latency: float) -> dict[str, Any]:
    server, endpoint = s3_endpoint.start(
        "--assets", str(assets), "--latency-ms", str(latency)
    )  # fmt: skip
    try:
        load = os.getloadavg()[0]
        run = child("listing", endpoint)
    finally:
        server.kill()  # type: ignore[attr-defined]
        server.wait()  # type: ignore[attr-defined]
    row = {
        "contender": "parallel listing (an incremental re-index of an unchanged lake)",
        "assets": assets,
        "latency_ms": latency,
        "folders": run["folders"],
        "seconds": round(run["seconds"], 2),
        "plain_pages_s": round(assets / 1000 * latency / 1000, 2),  # one page after another
        "peak_mb": round(run["peak_mb"], 1),
        "load_average": round(load, 2),
    }
    print(json.dumps(row), file=sys.stderr, flush=True)
    return row


def published(assets: int, latency: float) -> dict[str, Any]:
    """The published catalogue at ``assets``: scale_parquet's clean-machine find and its DuckDB
    query of the published file (see its docstring), without its layout study."""
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "published.json"
        load = os.getloadavg()[0]
        subprocess.run(
            [sys.executable, "-m", "benchmarks.scale_parquet", "--assets", str(assets),
             "--tiles", str(max(1, assets // 50_000)), "--skip-layouts", "--no-wait",
             "--latency-ms", str(latency), "--out", str(out)],
            cwd=root, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        report = json.loads(out.read_text())
    row = {
        "assets": assets,
        "latency_ms": latency,
        "find_lake_first_answer": report["find_lake_first_answer"],
        "duckdb_one_subject": report["published_one_subject"],
        "load_average": round(load, 2),
    }
    print(json.dumps(row), file=sys.stderr, flush=True)
    return row


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--latencies", type=float, nargs="+", default=[0, 10, 30])
    parser.add_argument("--listing", type=int, default=1_000_000, help="0 to skip")
    parser.add_argument("--published", type=int, default=1_000_000, help="0 to skip")
    parser.add_argument(
        "--contenders", nargs="+", default=["index", "old", "floor", "floor-boto3"],
        help="index, old, floor, floor-boto3; MODE@FOLDER runs it with the assetlake package "
        "in FOLDER (e.g. index@/tmp/base: an A/B of two commits in one run)",
    )  # fmt: skip
    parser.add_argument(
        "--baselines-upto", type=int, default=10_000,
        help="run old and floor-boto3 only on lakes of at most this many assets",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    def contenders_for(assets: int) -> list[str]:
        if assets <= args.baselines_upto:
            return args.contenders
        return [c for c in args.contenders if c.partition("@")[0] not in ("old", "floor-boto3")]

    os.environ.update(ENV)
    started = time.perf_counter()
    results = [
        row
        for assets in args.sizes
        for latency in args.latencies
        for row in measure(assets, latency, contenders_for(assets))
    ]
    listings = [listing(args.listing, 30.0)] if args.listing else []
    catalogue = published(args.published, 30.0) if args.published else None
    report = {
        "benchmark": "scale",
        "seconds": round(time.perf_counter() - started, 1),
        "targets": TARGETS,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "results": results,
        "listing": listings,
        "published": catalogue,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
