"""Benchmark ``find``: the SQLite catalogue against an IBL-ONE-style Parquet + pandas baseline.

For each catalogue size, every query shape runs many times in-process with varying parameters
(p50/p95 in ms), then the baseline loads the same records from Parquet into pandas and filters them
(load included, as a fresh ``ONE`` session does), and finally ``assetlake find`` runs end to end in a
subprocess. Built catalogues are cached under ``--cache`` so re-runs are quick.

    .venv/bin/python -m benchmarks.find            # 100,000 and 1,000,000 assets
    .venv/bin/python -m benchmarks.find --quick    # 10,000 assets, seconds
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assetlake.catalogue import VERSION, Catalogue, Record, flatten_text, parse_moment
from benchmarks.synthetic import (
    GENOTYPES,
    RARE_GENOTYPE,
    RARE_WORDS,
    REVISION,
    synthetic_records,
)

LIMIT = 100
TARGETS = {"p50_ms": 2.0, "p95_ms": 20.0, "speedup": 100.0, "cli_s": 0.2}
PARQUET_COLUMNS = ("name", "level", "modalities", "subject_id", "acquired_at", "project",
                   "genotype", "source", "status", "text")  # fmt: skip


def _parquet_rows(records: Iterable[Record], path: Path) -> Iterator[Record]:
    """Pass records through while writing them as Parquet, in batches, like ONE's cache tables."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    batch: dict[str, list[Any]] = {column: [] for column in PARQUET_COLUMNS}

    def flush() -> None:
        nonlocal writer
        table = pa.table(batch)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
        for values in batch.values():
            values.clear()

    for record in records:
        batch["name"].append(record.name)
        batch["level"].append(record.level)
        batch["modalities"].append(",".join(record.modalities))
        batch["subject_id"].append(record.subject_id)
        batch["acquired_at"].append(parse_moment(record.acquired) if record.acquired else None)
        batch["project"].append(record.project)
        batch["genotype"].append(record.genotype)
        batch["source"].append(record.source)
        batch["status"].append(record.status)
        batch["text"].append(flatten_text(record.name, record.metadata))
        yield record
        if len(batch["name"]) >= 50_000:
            flush()
    if batch["name"]:
        flush()
    if writer is not None:
        writer.close()


def build(n: int, cache: Path) -> tuple[Path, Path, float]:
    """The catalogue and Parquet files for ``n`` synthetic assets, built once per cache folder.

    Also returns how long the build took; a cached build's time is kept next to its files.
    """
    cache.mkdir(parents=True, exist_ok=True)
    sqlite_path = cache / f"find-{n}-r{REVISION}-v{VERSION}.sqlite"
    parquet_path = cache / f"find-{n}-r{REVISION}.parquet"
    seconds_path = sqlite_path.with_suffix(".seconds")
    if sqlite_path.exists() and parquet_path.exists() and seconds_path.exists():
        return sqlite_path, parquet_path, float(seconds_path.read_text())
    partial = sqlite_path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    started = time.perf_counter()
    with Catalogue(partial) as catalogue:
        catalogue.upsert(_parquet_rows(synthetic_records(n), parquet_path))
    seconds = time.perf_counter() - started
    partial.rename(sqlite_path)
    seconds_path.write_text(f"{seconds:.1f}\n")
    return sqlite_path, parquet_path, seconds


def query_shapes(catalogue: Catalogue, seed: int = 1) -> dict[str, list[dict[str, Any]]]:
    """Parameter sets per query shape, drawn from the catalogue so every query has matches."""
    rng = random.Random(seed)
    db = catalogue.db
    subjects = [s for (s,) in db.execute("SELECT DISTINCT subject_id FROM assets LIMIT 2000")]
    roots = [n for (n,) in db.execute(
        "SELECT DISTINCT source FROM assets WHERE level = 'derived' AND source IN "
        "(SELECT name FROM assets WHERE level = 'raw') LIMIT 2000")]  # fmt: skip
    months = [f"{year}-{month:02d}-01" for year in range(2019, 2025) for month in range(1, 12)]
    modalities = ["ecephys", "pophys", "behavior", "SPIM", "fib"]
    needles = ["sst-ires", "Pvalb", "ai14", "Slc17a7", "GC6f"]
    assert all(any(n.lower() in g.lower() for g in GENOTYPES) for n in needles)
    rare = ["tac1", "Tac1-IRES2", "ai65", "RCFL-tdT"]
    assert all(n.lower() in RARE_GENOTYPE.lower() for n in rare)
    assert not any(n.lower() in g.lower() for n in rare for g in GENOTYPES)
    return {
        "subject": [{"subject": rng.choice(subjects)} for _ in range(50)],
        "modality_date_range": [
            {"modality": rng.choice(modalities), "after": m, "before": m[:5] + "12-31"}
            for m in rng.choices(months, k=50)
        ],
        "genotype_substring": [{"genotype": rng.choice(needles)} for _ in range(50)],
        "genotype_rare": [{"genotype": rng.choice(rare)} for _ in range(50)],
        "free_text": [{"text": rng.choice(RARE_WORDS)} for _ in range(50)],
        "derived_from": [{"derived_from": rng.choice(roots)} for _ in range(50)],
    }


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50_ms": round(statistics.median(ordered) * 1000, 3), "p95_ms": round(p95 * 1000, 3)}


#: The clock queries are timed with: wall time, or (``--clock cpu``) this process's CPU time, which
#: load from other processes on a shared machine does not inflate (both sides use the same one).
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
_clock = CLOCKS["wall"]


def _time(run: Callable[[], Any], repeat: int) -> tuple[list[float], list[Any]]:
    samples, results = [], []
    for _ in range(repeat):
        started = _clock()
        results.append(run())
        samples.append(_clock() - started)
    return samples, results


def baseline(parquet: Path, params: dict[str, Any]) -> list[str]:
    """What an IBL-ONE-style client does: load the cache table into pandas, filter, sort, head."""
    import pandas as pd

    columns = ["name", "acquired_at"]
    if "text" in params:
        columns.append("text")
    frame = pd.read_parquet(parquet, columns=[*columns, *(c for c in PARQUET_COLUMNS
                                                          if c not in columns and c != "text")])  # fmt: skip
    keep = pd.Series(True, index=frame.index)
    if "subject" in params:
        keep &= frame.subject_id == params["subject"]
    if "modality" in params:
        keep &= frame.modalities.str.split(",").apply(lambda ms: params["modality"] in ms)
    if "after" in params:
        keep &= frame.acquired_at >= parse_moment(params["after"])
    if "before" in params:
        keep &= frame.acquired_at < parse_moment(params["before"])
    if "genotype" in params:
        keep &= frame.genotype.str.contains(params["genotype"], case=False, regex=False)
    if "text" in params:
        keep &= frame.text.str.contains(rf"\b{params['text']}\b", case=False, regex=True)
    if "derived_from" in params:
        found: set[str] = set()
        frontier = {params["derived_from"]}
        while frontier:
            children = set(frame.name[frame.source.isin(frontier)]) - found
            found |= children
            frontier = children
        keep &= frame.name.isin(found)
    hits = frame[keep].sort_values(["acquired_at", "name"]).head(LIMIT)
    return list(hits.name)


def bench_size(
    n: int, cache: Path, repeat: int, baseline_repeat: int, cli_runs: int
) -> dict[str, Any]:
    sqlite_path, parquet_path, build_seconds = build(n, cache)
    result: dict[str, Any] = {
        "assets": n,
        "build_seconds": round(build_seconds, 1),
        "catalogue_bytes": sqlite_path.stat().st_size,
        "parquet_bytes": parquet_path.stat().st_size,
        "queries": {},
    }
    with Catalogue(sqlite_path, readonly=True) as catalogue:
        for shape, variants in query_shapes(catalogue).items():
            runs = [variants[i % len(variants)] for i in range(repeat)]
            iterator = iter(runs)
            samples, found = _time(
                lambda it=iterator: catalogue.find(**next(it), limit=LIMIT), repeat
            )
            sql, params = catalogue.query(**variants[0], limit=LIMIT)
            plan = [row[3] for row in catalogue.db.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
            ours = _percentiles(samples)
            base_runs = iter(runs)
            base_samples, base_found = _time(
                lambda it=base_runs: baseline(parquet_path, next(it)), baseline_repeat
            )
            base = _percentiles(base_samples)
            agree = all([r.name for r in a] == b for a, b in zip(found, base_found, strict=False))
            result["queries"][shape] = {
                "example": variants[0],
                "matches_median": statistics.median(len(r) for r in found),
                "assetlake": ours,
                "baseline_parquet_pandas": base,
                "speedup_p50": round(base["p50_ms"] / max(ours["p50_ms"], 1e-6), 1),
                "same_results_as_baseline": agree,
                "plan": plan,
            }
        subject = query_shapes(catalogue)["subject"][0]["subject"]
    result["cli"] = cli_end_to_end(sqlite_path, subject, cli_runs)
    return result


def cli_end_to_end(catalogue: Path, subject: str, runs: int = 10) -> dict[str, Any]:
    """``assetlake find`` as a user runs it: a new Python process per query."""
    script = Path(sys.executable).with_name("assetlake")
    command = [str(script), "find", "--catalogue", str(catalogue), "--subject", subject,
               "--format", "names"]  # fmt: skip
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        samples.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise RuntimeError(f"assetlake find failed: {done.stderr.strip()}")
    return {
        "command": " ".join(command[1:]),
        "runs": runs,
        "median_s": round(statistics.median(samples), 3),
        "lines": len(done.stdout.splitlines()),
    }


def verdict(sizes: list[dict[str, Any]]) -> dict[str, bool]:
    shapes = [q for size in sizes for q in size["queries"].values()]
    return {
        "p50": all(q["assetlake"]["p50_ms"] <= TARGETS["p50_ms"] for q in shapes),
        "p95": all(q["assetlake"]["p95_ms"] <= TARGETS["p95_ms"] for q in shapes),
        "speedup": all(q["speedup_p50"] >= TARGETS["speedup"] for q in shapes),
        "cli": all(size["cli"]["median_s"] <= TARGETS["cli_s"] for size in sizes),
        "same_results": all(q["same_results_as_baseline"] for q in shapes),
    }


def add_cache_argument(parser: argparse.ArgumentParser) -> None:
    """``--cache``: where :func:`build` keeps catalogues between runs (building one takes minutes)."""
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(os.environ.get("ASSETLAKE_BENCH_CACHE", tempfile.gettempdir()))
        / "assetlake-bench",
        help="where built catalogues are kept between runs",
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small catalogue (10,000 assets)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "find.json")
    add_cache_argument(parser)
    parser.add_argument(
        "--sizes", type=int, nargs="+", help="catalogue sizes (default 100k and 1M)"
    )
    parser.add_argument("--clock", choices=CLOCKS, default="wall", help="how queries are timed")
    args = parser.parse_args(argv)
    global _clock
    _clock = CLOCKS[args.clock]
    sizes = args.sizes or ([10_000] if args.quick else [100_000, 1_000_000])
    repeat, baseline_repeat, cli_runs = (50, 3, 5) if args.quick else (400, 5, 10)
    results = [bench_size(n, args.cache, repeat, baseline_repeat, cli_runs) for n in sizes]
    report = {
        "benchmark": "find",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "sqlite": __import__("sqlite3").sqlite_version,
        },
        "quick": args.quick,
        "clock": args.clock,
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "limit": LIMIT,
        "targets": TARGETS,
        "sizes": results,
        "passed": verdict(results),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    summary = main()
    for size in summary["sizes"]:
        for shape, numbers in size["queries"].items():
            print(f"{size['assets']:>9} {shape:<20} {numbers['assetlake']} "
                  f"x{numbers['speedup_p50']}")  # fmt: skip
    print("passed:", summary["passed"])
