"""Benchmark of ``assetlake index`` against a moto S3 server in its own process.

For each lake size (1,000 and 5,000 assets; 100 with ``--quick``) it measures, on the same lake:

* the full index and an incremental re-index of the unchanged lake, in a child process whose
  peak memory (``ru_maxrss``) is reported (modules are imported before the clock starts);
* the request floor: the requests the indexer makes (one listing, one GET of ``metadata.nd.json``
  per asset), issued by bare boto3 with the same concurrency and no other work;
* a naive crawl: sequential boto3 reading each asset's six sidecars (timed on a sample).

Targets: full index >= 0.8x the floor's rate and >= 5x the naive crawl; incremental <= 5% of the
full index; peak memory <= 300 MB. Results go to ``benchmarks/results/index.json``.

    .venv/bin/python benchmarks/index.py            # ~10 minutes on a shared 2-core machine
    .venv/bin/python benchmarks/index.py --quick --out /tmp/index.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from assetlake.store.loopback import moto_server

RESULTS = Path(__file__).resolve().parent / "results" / "index.json"
BUCKET = "bench-index"
WORKERS = 32
NAIVE_SAMPLE = 200
TARGETS = {"floor_ratio": 0.8, "naive_speedup": 5.0, "incremental_fraction": 0.05, "peak_mb": 300}

_CHILD = """
import json, resource, sys, time
from assetlake.catalogue import Catalogue
from assetlake.index import index_lake
from assetlake.store import open_store
import assetlake.validate  # a one-off import cost, kept out of the per-asset rate

store = open_store(sys.argv[1])
with Catalogue(sys.argv[2]) as catalogue:
    full = index_lake(store, catalogue, workers=int(sys.argv[3]))
    again = index_lake(store, catalogue, workers=int(sys.argv[3]))
print(json.dumps({
    "full_s": full.seconds, "full_new": full.new, "total": full.total, "invalid": full.invalid,
    "incremental_s": again.seconds, "incremental_new": again.new,
    "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def client() -> Any:
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 8}, max_pool_connections=64)
    return boto3.session.Session().client("s3", config=config, region_name="us-east-1")


def asset_templates() -> tuple[str, dict[str, str]]:
    """A realistic asset's sidecar texts, with its name to substitute per asset."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from assetlake.naming import AssetName
    from assetlake.schema import dump_sidecar
    from assetlake.schema.samples import raw_sidecars

    acquired = datetime(2024, 3, 1, 14, 5, 9, tzinfo=ZoneInfo("America/Los_Angeles"))
    name = AssetName.raw("ecephys", "100000", acquired)
    sidecars = raw_sidecars(name, acquired)
    return str(name), {filename: dump_sidecar(model) for filename, model in sidecars.items()}


def asset_objects(index: int, template: tuple[str, dict[str, str]]) -> dict[str, bytes]:
    """The seven objects of synthetic asset ``index``: six sidecars and the consolidated file."""
    from assetlake.asset import COMMIT, consolidate

    base, texts = template
    subject = str(100000 + index)
    name = base.replace("100000", subject)
    files = {f: text.replace("100000", subject).encode() for f, text in texts.items()}
    objects = {path: len(data) for path, data in files.items()}
    objects["ecephys.zarr/.zarray"] = 400
    objects.update({f"ecephys.zarr/0.{i}": 4 << 20 for i in range(40)})
    document = consolidate(
        name,
        f"s3://{BUCKET}/{name}",
        "2024-03-02T00:00:00+00:00",
        {f: json.loads(data) for f, data in files.items()},
        "0" * 64,
        objects,
        f"{'0' * 64}-{len(objects)}--{sum(objects.values())}",  # a well-formed digest
    )
    files[COMMIT] = json.dumps(document).encode()
    return {f"{name}/{path}": data for path, data in files.items()}


def populate(s3: Any, start: int, stop: int) -> float:
    template = asset_templates()
    begun = time.perf_counter()

    def put(index: int) -> None:
        for key, data in asset_objects(index, template).items():
            s3.put_object(Bucket=BUCKET, Key=key, Body=data)

    with ThreadPoolExecutor(64) as pool:
        list(pool.map(put, range(start, stop)))
    return time.perf_counter() - begun


def asset_prefixes(s3: Any) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Delimiter="/")
    return [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", ())]


def request_floor(s3: Any) -> float:
    """The indexer's requests and nothing else: one listing, one GET per asset, same pool size."""
    begun = time.perf_counter()
    prefixes = asset_prefixes(s3)

    def get(prefix: str) -> int:
        return len(s3.get_object(Bucket=BUCKET, Key=prefix + "metadata.nd.json")["Body"].read())

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(get, prefixes))
    return time.perf_counter() - begun


def naive_crawl(s3: Any, sample: int) -> tuple[float, int]:
    """What a script would do: list, then GET each asset's six sidecars one after another."""
    from assetlake.asset import SIDECAR_FILES

    begun = time.perf_counter()
    prefixes = asset_prefixes(s3)[:sample]
    for prefix in prefixes:
        for filename in SIDECAR_FILES:
            json.loads(s3.get_object(Bucket=BUCKET, Key=prefix + filename)["Body"].read())
    return time.perf_counter() - begun, len(prefixes)


def index_in_child(env: dict[str, str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, f"s3://{BUCKET}", f"{tmp}/c.sqlite", str(WORKERS)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    return json.loads(done.stdout)


def measure(s3: Any, env: dict[str, str], assets: int, repeats: int) -> dict[str, Any]:
    floor = min(request_floor(s3) for _ in range(repeats))
    runs = [index_in_child(env) for _ in range(repeats)]
    best = min(runs, key=lambda run: run["full_s"])
    naive_s, naive_n = naive_crawl(s3, min(assets, NAIVE_SAMPLE))
    full_rate = assets / best["full_s"]
    floor_rate = assets / floor
    naive_rate = naive_n / naive_s
    result = {
        "assets": assets,
        "full_index_s": round(best["full_s"], 3),
        "full_assets_per_s": round(full_rate, 1),
        "incremental_s": round(min(r["incremental_s"] for r in runs), 4),
        "floor_s": round(floor, 3),
        "floor_assets_per_s": round(floor_rate, 1),
        "naive_assets_per_s": round(naive_rate, 1),
        "naive_sample": naive_n,
        "ratio_to_floor": round(full_rate / floor_rate, 3),
        "speedup_over_naive": round(full_rate / naive_rate, 2),
        "incremental_fraction": round(best["incremental_s"] / best["full_s"], 4),
        "peak_mb": round(max(r["peak_mb"] for r in runs), 1),
        "indexed": best["full_new"],
        "invalid": best["invalid"],
    }
    result["targets_met"] = {
        "floor_ratio": result["ratio_to_floor"] >= TARGETS["floor_ratio"],
        "naive_speedup": result["speedup_over_naive"] >= TARGETS["naive_speedup"],
        "incremental_fraction": result["incremental_fraction"] <= TARGETS["incremental_fraction"],
        "peak_mb": result["peak_mb"] <= TARGETS["peak_mb"],
    }
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 assets, one run (a smoke test).")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"default {RESULTS}")
    args = parser.parse_args(argv)
    sizes = [100] if args.quick else [1000, 5000]
    repeats = 1 if args.quick else 2

    server = contextlib.ExitStack()  # the moto server process, ended with it
    endpoint = server.enter_context(moto_server(own_process=True))
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    env.pop("AWS_PROFILE", None)
    os.environ.update({k: v for k, v in env.items() if k.startswith("AWS_")})
    try:
        s3 = client()
        s3.create_bucket(Bucket=BUCKET)
        results, populated, populate_s = [], 0, 0.0
        for assets in sizes:
            populate_s += populate(s3, populated, assets)
            populated = assets
            result = measure(s3, env, assets, repeats)
            result["populate_s"] = round(populate_s, 1)
            results.append(result)
            print(json.dumps(result), file=sys.stderr)
    finally:
        server.close()
    report = {
        "benchmark": "index",
        "quick": args.quick,
        "workers": WORKERS,
        "targets": TARGETS,
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
