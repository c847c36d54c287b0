"""Which S3 client keeps many small GETs in flight at little CPU each: measured, not assumed.

Against the latency endpoint (``s3_endpoint.py``), each contender GETs the same ``metadata.nd.json``
objects: boto3 with 32 and 128 threads, aiobotocore on one event loop, obstore from one event loop.
Reports objects/s and CPU ms per request; the choice behind ``assetlake/store/_bulk.py`` follows.

    .venv/bin/python benchmarks/clients.py --assets 4000 --latency-ms 30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import s3_endpoint

RESULTS = Path(__file__).resolve().parent / "results" / "clients.json"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def boto3_threads(url: str, keys: list[str], threads: int) -> None:
    import boto3
    from botocore.config import Config

    s3 = boto3.client("s3", endpoint_url=url, config=Config(max_pool_connections=threads))
    with ThreadPoolExecutor(threads) as pool:
        list(
            pool.map(lambda k: s3.get_object(Bucket=s3_endpoint.BUCKET, Key=k)["Body"].read(), keys)
        )


def aiobotocore_loop(url: str, keys: list[str], inflight: int) -> None:
    from aiobotocore.config import AioConfig
    from aiobotocore.session import get_session

    async def run() -> None:
        config = AioConfig(max_pool_connections=inflight)
        async with get_session().create_client("s3", endpoint_url=url, config=config) as s3:
            gate = asyncio.Semaphore(inflight)

            async def one(key: str) -> None:
                async with gate:
                    reply = await s3.get_object(Bucket=s3_endpoint.BUCKET, Key=key)
                    async with reply["Body"] as body:
                        await body.read()

            await asyncio.gather(*(one(k) for k in keys))

    asyncio.run(run())


def obstore_loop(url: str, keys: list[str], inflight: int) -> None:
    import obstore
    from obstore.store import S3Store

    store = S3Store(
        s3_endpoint.BUCKET,
        endpoint=url,
        client_options={"allow_http": True, "pool_max_idle_per_host": str(inflight)},
        region="us-east-1",
        access_key_id="bench",
        secret_access_key="bench",
    )

    async def run() -> None:
        gate = asyncio.Semaphore(inflight)

        async def one(key: str) -> None:
            async with gate:
                await (await obstore.get_async(store, key)).bytes_async()

        await asyncio.gather(*(one(k) for k in keys))

    asyncio.run(run())


CONTENDERS = {
    "boto3, 32 threads": lambda url, keys: boto3_threads(url, keys, 32),
    "boto3, 128 threads": lambda url, keys: boto3_threads(url, keys, 128),
    "aiobotocore, 256 in flight": lambda url, keys: aiobotocore_loop(url, keys, 256),
    "obstore, 256 in flight": lambda url, keys: obstore_loop(url, keys, 256),
}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=4000)
    parser.add_argument("--latency-ms", type=float, default=30.0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    os.environ.update(CREDENTIALS, AWS_DEFAULT_REGION="us-east-1")
    lake = s3_endpoint.SyntheticLake(args.assets)
    keys = [folder + "ecephys.zarr/.zarray" for folder in lake.folders]
    server, url = s3_endpoint.start(
        "--assets", str(args.assets), "--latency-ms", str(args.latency_ms)
    )
    results = []
    try:
        for name, run in CONTENDERS.items():
            cpu, begun = _cpu(), time.perf_counter()
            run(url, keys)
            seconds, cpu = time.perf_counter() - begun, _cpu() - cpu
            results.append(
                {
                    "contender": name,
                    "latency_ms": args.latency_ms,
                    "requests": len(keys),
                    "objects_per_s": round(len(keys) / seconds, 1),
                    "cpu_ms_per_request": round(1000 * cpu / len(keys), 3),
                }
            )
            print(json.dumps(results[-1]), file=sys.stderr)
    finally:
        server.kill()
        server.wait()
    report = {
        "benchmark": "clients",
        "load_average": os.getloadavg(),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
