"""The published catalogue at scale: what DuckDB fetches from S3 for one query, and how long
``find --lake`` takes on a clean machine, against the latency endpoint (S3-like latency).

For ``--assets`` synthetic records (default 1,000,000), each candidate layout of
``assets.parquet`` (today's name order in one row group with the documents inside, and sorted
layouts of several row-group sizes) is put into the writable latency endpoint
(:mod:`benchmarks.s3_endpoint`, which answers every request after ``--latency-ms``; moto copies a
whole object for every ranged GET, which at 1,000,000 assets did not finish); DuckDB's ``httpfs``
then runs a one-subject query and a one-month query straight from S3 through
:mod:`benchmarks._delay` (adding no latency of its own), which counts the requests and bytes
served. Then ``assetlake index --publish``'s real files go into a bucket, ``assetlake find --lake``
runs in a fresh process with an empty cache, timed to its answer (the end of its output) and to
its exit (the local copy built), and DuckDB queries one subject of the published file. Results:
``benchmarks/results/scale_parquet.json``.

    .venv/bin/python -m benchmarks.scale_parquet                 # 1,000,000 assets
    .venv/bin/python -m benchmarks.scale_parquet --assets 20000  # a minute
    .venv/bin/python -m benchmarks.scale_parquet --skip-layouts --out /tmp/find.json  # find only
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assetlake.catalogue import SCHEMA, Record
from assetlake.catalogue import publish as pub
from benchmarks import s3_endpoint
from benchmarks._delay import DelayProxy
from benchmarks.synthetic import synthetic_records

RESULTS = Path(__file__).resolve().parent / "results" / "scale_parquet.json"
BUCKET = "scale"
TARGET_FIRST_ANSWER_S = 10.0
#: Layouts compared: name, sort key, rows per row group, columns with Bloom filters, whether the
#: documents stay in the file. The first is what ``--publish`` wrote before (name order, pyarrow's
#: default row group of 1Mi rows, documents inside).
LAYOUTS: tuple[tuple[str, tuple[str, ...], int | None, tuple[str, ...], bool], ...] = (
    ("before: name order, 1 row group, documents inside", ("name",), None, (), True),
    ("by subject, 16384 rows", pub.SORT_KEY, 16384, (), False),
    ("by subject, 4096 rows", pub.SORT_KEY, 4096, (), False),
    ("by subject, 65536 rows", pub.SORT_KEY, 65536, (), False),
    ("by time, 16384 rows, subject Bloom filter", ("acquired", "name"), 16384, ("subject_id",), False),
)  # fmt: skip


class _Records:
    """What :func:`publish_catalogue` reads of a catalogue, over synthetic records."""

    schema = SCHEMA

    def __init__(self, n: int) -> None:
        self.n = n

    def records(self, *, full: bool = True) -> Iterator[Record]:
        return synthetic_records(self.n)


def full_tables(n: int) -> list[Any]:
    """Every field of ``n`` synthetic records as Arrow tables of 10,000 rows."""
    tables = []
    records = synthetic_records(n)
    while batch := list(itertools.islice(records, 10_000)):
        tables.append(pub._table([SCHEMA.to_parquet(r) for r in batch], SCHEMA.parquet_columns()))
    return tables


def encode(tables: list[Any], sort: tuple[str, ...], group: int | None, bloom: tuple[str, ...],
           documents: bool) -> bytes:  # fmt: skip
    import pyarrow as pa
    import pyarrow.parquet as pq

    hot, _ = pub.layout(tables, sort)
    if documents:
        hot = pub._concat(tables).sort_by([(c, "ascending") for c in sort])
    sink = pa.BufferOutputStream()
    options = {"bloom_filter_options": {c: {"ndv": hot.num_rows} for c in bloom}} if bloom else {}
    pq.write_table(hot, sink, row_group_size=group, **options)
    return sink.getvalue().to_pybytes()


def duckdb_connection(endpoint: str) -> Any:
    """DuckDB with httpfs loaded from the ``duckdb-extension-httpfs`` package (no download)."""
    import duckdb
    import duckdb_extension_httpfs

    db = duckdb.connect()
    folder = Path(duckdb_extension_httpfs.__file__).parent
    (extension,) = folder.rglob("*.duckdb_extension")
    db.execute(f"INSTALL '{extension}'")
    db.execute("LOAD httpfs")
    db.execute(
        "CREATE SECRET (TYPE s3, KEY_ID 'testing', SECRET 'testing', REGION 'us-east-1', "
        f"ENDPOINT '{endpoint.removeprefix('http://')}', URL_STYLE 'path', USE_SSL false)"
    )
    return db


def duckdb_query(proxy: DelayProxy, key: str, where: str, repeat: int) -> dict[str, Any]:
    """A fresh DuckDB session's query (no cache carried over): requests, bytes, seconds."""
    samples, counts, rows = [], [], 0
    for _ in range(repeat):
        db = duckdb_connection(proxy.endpoint)
        proxy.reset()
        started = time.perf_counter()
        rows = len(db.execute(
            f"SELECT name, acquired, modalities FROM read_parquet('s3://{BUCKET}/{key}') "
            f"WHERE {where}").fetchall())  # fmt: skip
        samples.append(time.perf_counter() - started)
        counts.append(proxy.reset())
        db.close()
    return {
        "rows": rows,
        "requests": counts[-1].requests,
        "bytes_read": counts[-1].bytes_out,
        "seconds_median": round(statistics.median(samples), 3),
    }


def bench_layouts(n: int, proxy: DelayProxy, s3: Any, repeat: int) -> list[dict[str, Any]]:
    tables = full_tables(n)
    first = tables[0].slice(0, 1).to_pylist()[0]
    subject, month = first["subject_id"], first["acquired"][:7]
    year, number = int(month[:4]), int(month[5:7])
    after, before = f"{month}-01", f"{year + number // 12}-{number % 12 + 1:02d}-01"
    results = []
    for i, (name, sort, group, bloom, documents) in enumerate(LAYOUTS):
        data = encode(tables, sort, group, bloom, documents)
        key = f"layout-{i}.parquet"
        s3.put_object(Bucket=BUCKET, Key=key, Body=data)
        one = duckdb_query(proxy, key, f"subject_id = '{subject}'", repeat)
        dated = duckdb_query(proxy, key, f"acquired >= '{after}' AND acquired < '{before}'", repeat)
        results.append({
            "layout": name, "sorted_by": list(sort), "row_group": group,
            "bloom_filters": list(bloom), "documents_inside": documents, "file_bytes": len(data),
            "one_subject": {**one, "subject": subject,
                            "fraction_of_file": round(one["bytes_read"] / len(data), 4)},
            "one_month": {**dated, "month": month,
                          "fraction_of_file": round(dated["bytes_read"] / len(data), 4)},
        })  # fmt: skip
    return results


def tile(s3: Any, tiles: int) -> int:
    """Replace the published ``assets.parquet`` and ``documents.parquet`` by ``tiles`` copies of
    their rows, each copy's subjects prefixed and names suffixed by its number (so every subject
    and name stays unique), laid out as ``--publish`` lays them out: a lake ``tiles`` times the
    size without generating and publishing every record (80 minutes at 1,000,000 on a loaded
    2-core machine). Returns the number of assets."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    def read(key: str) -> Any:
        return pq.read_table(pa.BufferReader(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()))

    document = SCHEMA.document
    rows = read(pub.ASSETS).append_column(document, read(pub.DOCUMENTS).column(document))
    copies = []
    for k in range(tiles):
        copy = rows
        for column, join in (("name", "suffix"), ("url", "suffix"), ("subject_id", "prefix")):
            mark = pa.scalar(str(k))
            parts = (copy.column(column), mark) if join == "suffix" else (mark, copy.column(column))
            joined = pc.binary_join_element_wise(*parts, "")
            copy = copy.set_column(copy.schema.get_field_index(column), column, joined)
        copies.append(copy)
    hot, documents = pub.layout(copies)
    s3.put_object(Bucket=BUCKET, Key=pub.ASSETS, Body=pub._parquet(hot, pub.ROW_GROUP))
    s3.put_object(Bucket=BUCKET, Key=pub.DOCUMENTS, Body=pub._parquet(documents, pub.ROW_GROUP))
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=pub.MANIFEST)["Body"].read())
    manifest.update(assets=hot.num_rows, tiled_from=rows.num_rows)
    s3.put_object(Bucket=BUCKET, Key=pub.MANIFEST, Body=json.dumps(manifest).encode())
    return hot.num_rows


def first_answer(n: int, endpoint: str, s3: Any, subject: str, runs: int, tiles: int = 1,
                 wait: bool = True) -> dict[str, Any]:  # fmt: skip
    """``assetlake find --lake`` in a new process with an empty cache: the time to its answer
    (the end of its stdout, which it closes before building the local copy) in every run, and
    (``wait``) to its exit, the local copy built, in the first; other runs are stopped once
    answered. The lake is ``n`` assets, published from ``n / tiles`` and tiled (:func:`tile`)."""
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    started = time.perf_counter()
    stats = pub.publish_catalogue(_Records(n // tiles), f"s3://{BUCKET}")  # type: ignore[arg-type]
    assets = tile(s3, tiles) if tiles > 1 else stats.assets
    subject = f"0{subject}" if tiles > 1 else subject
    publish_s = time.perf_counter() - started
    sizes = {
        key: s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"]
        for key in (pub.ASSETS, pub.DOCUMENTS, pub.FILES)
    }
    script = Path(sys.executable).with_name("assetlake")
    command = [str(script), "find", "--lake", f"s3://{BUCKET}", "--subject", subject,
               "--format", "names"]  # fmt: skip
    answers, complete, lines = [], None, 0
    for run in range(runs):
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "ASSETLAKE_CACHE": cache}
            started = time.perf_counter()
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True, env=env)  # fmt: skip
            try:
                assert process.stdout is not None
                output = process.stdout.read()  # until find ends its stdout: the answer
                answers.append(time.perf_counter() - started)
                if run or not wait:
                    process.terminate()
                _, errors = process.communicate()
                if run == 0 and wait:
                    complete = time.perf_counter() - started
                    if process.returncode != 0:
                        raise RuntimeError(f"assetlake find failed: {errors.strip()}")
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        lines = len(output.splitlines())
    return {
        "assets": assets,
        "tiled_from": n // tiles if tiles > 1 else None,
        "publish_seconds": round(publish_s, 1),
        "published_bytes": sizes,
        "command": " ".join(command[1:]),
        "runs": runs,
        "seconds_median": round(statistics.median(answers), 2),
        "answer_seconds": [round(s, 2) for s in answers],
        "local_copy_built_seconds": None if complete is None else round(complete, 1),
        "lines": lines,
        "subject": subject,
        "target_s": TARGET_FIRST_ANSWER_S,
    }


def published_query(proxy: DelayProxy, s3: Any, subject: str, repeat: int) -> dict[str, Any]:
    """DuckDB's one-subject query of the ``assets.parquet`` that ``--publish`` wrote (tiled, as
    :func:`first_answer` left it): what it fetched against the file's size."""
    size = s3.head_object(Bucket=BUCKET, Key=pub.ASSETS)["ContentLength"]
    found = duckdb_query(proxy, pub.ASSETS, f"subject_id = '{subject}'", repeat)
    return {**found, "subject": subject, "file_bytes": size,
            "fraction_of_file": round(found["bytes_read"] / size, 4)}  # fmt: skip


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", type=int, default=1_000_000)
    parser.add_argument("--latency-ms", type=float, default=30.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3, help="clean-machine find runs")
    parser.add_argument(
        "--find-assets", type=int, help="lake size for the clean-machine find (default --assets)"
    )
    parser.add_argument("--skip-layouts", action="store_true",
                        help="only the clean-machine find (the layouts take longest at 1M)")  # fmt: skip
    parser.add_argument("--tiles", type=int, default=1,
                        help="publish --find-assets / TILES records, then tile them (see tile())")  # fmt: skip
    parser.add_argument("--no-wait", action="store_true",
                        help="stop every find once answered (no time to the local copy)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    import boto3

    for var, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_DEFAULT_REGION", "us-east-1")):  # fmt: skip
        os.environ.setdefault(var, value)
    server, endpoint = s3_endpoint.start(
        "--writable", "--bucket", BUCKET, "--latency-ms", str(args.latency_ms)
    )
    with contextlib.ExitStack() as stack:
        stack.callback(server.wait)  # type: ignore[attr-defined]
        stack.callback(server.kill)  # type: ignore[attr-defined]
        proxy = stack.enter_context(DelayProxy(endpoint, 0.0))
        s3 = boto3.client("s3", endpoint_url=endpoint)
        layouts = [] if args.skip_layouts else bench_layouts(args.assets, proxy, s3,
                                                                 args.repeat)  # fmt: skip
        find_assets = args.find_assets or args.assets
        subject = next(synthetic_records(find_assets // args.tiles)).subject_id or ""
        find = first_answer(find_assets, proxy.endpoint, s3, subject, args.runs,
                                args.tiles, not args.no_wait)  # fmt: skip
        published = published_query(proxy, s3, find["subject"], args.repeat)
    report = {
        "benchmark": "scale_parquet",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average_at_end": [round(x, 1) for x in os.getloadavg()],
        },
        "assets": args.assets,
        "latency_ms": args.latency_ms,
        "statistic": f"median of {args.repeat} fresh DuckDB sessions; bytes/requests of the last",
        "layouts": layouts,
        "chosen_layout": {"sorted_by": list(pub.SORT_KEY), "row_group": pub.ROW_GROUP},
        "find_lake_first_answer": find,
        "published_one_subject": published,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    summary = main()
    for layout in summary["layouts"]:
        print(f"{layout['layout']:<55} {layout['file_bytes']:>11} B  subject "
              f"{layout['one_subject']['fraction_of_file']:.3f} ({layout['one_subject']['requests']} req)"
              f"  month {layout['one_month']['fraction_of_file']:.3f}")  # fmt: skip
    print("find --lake first answer:", summary["find_lake_first_answer"])
