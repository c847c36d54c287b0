"""Benchmark ``assetlake serve``: latency and throughput of the API search, an asset page and the
search page under concurrent clients on loopback, against the same queries in-process (the floor).

The site runs as ``assetlake serve --catalogue FILE --port 0`` in its own processes (its default
``--workers``: one per core); the clients are threads with one keep-alive connection each, all
running for a bounded time per target, after an unmeasured warm-up of the same requests.
Catalogues are the find benchmark's synthetic ones, cached under ``--cache``.

    .venv/bin/python -m benchmarks.serve                   # 1,000,000 assets, 16 clients, 20 s
    .venv/bin/python -m benchmarks.serve --quick           # 10,000 assets, 4 clients, 2 s
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from assetlake.catalogue import Catalogue
from assetlake.web.server import default_workers
from benchmarks.find import _percentiles, add_cache_argument, build

TARGETS = {"api_p95_ms": 50.0, "api_rps": 300.0, "search_page_p95_ms": 100.0}
LIMIT = 100


def targets(catalogue: Path, seed: int = 1) -> dict[str, list[str]]:
    """URLs per target, drawn from the catalogue so every query has matches."""
    rng = random.Random(seed)
    with Catalogue(catalogue, readonly=True) as cat:
        subjects = [
            s for (s,) in cat.db.execute("SELECT DISTINCT subject_id FROM assets LIMIT 500")
        ]
        names = [
            n for (n,) in cat.db.execute("SELECT name FROM assets ORDER BY random() LIMIT 500")
        ]
    modalities = ["ecephys", "pophys", "behavior"]

    def search(**query: Any) -> str:
        return urlencode(query)

    return {
        "api_search": [
            "/api/assets?" + search(subject=rng.choice(subjects), limit=LIMIT) for _ in range(200)
        ],
        "asset_page": [f"/assets/{rng.choice(names)}" for _ in range(200)],
        "search_page": [
            "/?" + search(modality=rng.choice(modalities), after=f"{rng.randint(2019, 2024)}-01-01")
            for _ in range(200)
        ],
    }


def start_site(catalogue: Path) -> tuple[subprocess.Popen[str], str, int]:
    command = [str(Path(sys.executable).parent / "assetlake"), "serve", "--catalogue",
               str(catalogue), "--port", "0"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if " at http://" not in line:
        process.kill()
        raise RuntimeError(f"assetlake serve did not start: {line!r}")
    host, port = line.split(" at http://")[1].split("/")[0].rsplit(":", 1)
    return process, host, int(port)


def load(host: str, port: int, urls: list[str], clients: int, seconds: float) -> dict[str, Any]:
    """``clients`` threads request ``urls`` round-robin for ``seconds``; latency per request."""
    samples: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client(offset: int) -> None:
        connection = http.client.HTTPConnection(host, port, timeout=30)
        mine, i = [], offset
        while time.perf_counter() < deadline:
            url = urls[i % len(urls)]
            i += clients
            started = time.perf_counter()
            connection.request("GET", url)
            response = connection.getresponse()
            response.read()
            mine.append(time.perf_counter() - started)
            if response.status != 200:
                with lock:
                    failures.append(f"{response.status} {url}")
        connection.close()
        with lock:
            samples.extend(mine)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return {**_percentiles(samples), "requests": len(samples),
            "rps": round(len(samples) / elapsed, 1), "failures": failures[:5]}  # fmt: skip


def floor(catalogue: Path, urls: list[str], seconds: float) -> dict[str, Any]:
    """The API search's queries through ``Catalogue.page`` in-process, one after another."""
    from urllib.parse import parse_qsl, urlsplit

    from assetlake.catalogue.query import DEFAULT_LIMIT
    from assetlake.web.params import paged, parse_query

    queries = [paged(parse_query(parse_qsl(urlsplit(url).query)), DEFAULT_LIMIT) for url in urls]
    samples: list[float] = []
    run: Callable[[Any], Any]
    with Catalogue(catalogue, readonly=True) as cat:

        def run(query: Any) -> Any:
            return [r.without_metadata() for r in cat.page(query).records]

        deadline = time.perf_counter() + seconds
        i = 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            run(queries[i % len(queries)])
            samples.append(time.perf_counter() - started)
            i += 1
    return {**_percentiles(samples), "requests": len(samples),
            "rps": round(len(samples) / seconds, 1)}  # fmt: skip


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 assets, 4 clients, 2 s")
    parser.add_argument("--assets", type=int, help="catalogue size (default 1,000,000)")
    parser.add_argument("--clients", type=int, help="concurrent clients (default 16)")
    parser.add_argument("--seconds", type=float, help="seconds per target (default 20)")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "serve.json"
    )
    add_cache_argument(parser)
    args = parser.parse_args(argv)
    assets = args.assets or (10_000 if args.quick else 1_000_000)
    clients = args.clients or (4 if args.quick else 16)
    seconds = args.seconds or (2.0 if args.quick else 20.0)
    load_before = [round(x, 2) for x in os.getloadavg()]
    catalogue, _, build_seconds = build(assets, args.cache)
    urls = targets(catalogue)
    process, host, port = start_site(catalogue)
    try:
        measured = {}
        for name, batch in urls.items():
            # Unmeasured first: each serving process opens its connection and fills its caches
            # on its first requests, which are a start-up cost, not the site's latency.
            load(host, port, batch, clients, min(2.0, seconds / 4))
            measured[name] = load(host, port, batch, clients, seconds)
    finally:
        process.terminate()
        process.wait(30)
    measured["api_search_floor_in_process"] = floor(catalogue, urls["api_search"], seconds)
    report = {
        "benchmark": "serve",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "load_average_1_5_15_min": {
            "before": load_before,
            "after": [round(x, 2) for x in os.getloadavg()],
        },
        "quick": args.quick,
        "assets": assets,
        "build_seconds": build_seconds,
        "clients": clients,
        "server_workers": default_workers(),
        "seconds_per_target": seconds,
        "targets": TARGETS,
        "results": measured,
        "passed": {
            "api_p95": measured["api_search"]["p95_ms"] <= TARGETS["api_p95_ms"],
            "api_rps": measured["api_search"]["rps"] >= TARGETS["api_rps"],
            "search_page_p95": measured["search_page"]["p95_ms"] <= TARGETS["search_page_p95_ms"],
            "no_failures": not any(m.get("failures") for m in measured.values()),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    summary = main()
    for name, numbers in summary["results"].items():
        print(f"{name:<28} {numbers}")
    print("passed:", summary["passed"])
