"""Draw ``docs/benchmarks.png`` and print the README's results table from ``benchmarks/results``.

Every figure comes from the committed JSON written by the benchmark scripts in this folder, so the
plot and the table can be regenerated at any time:

    .venv/bin/python benchmarks/plot.py            # needs the 'bench' extra (matplotlib)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
PNG = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.png"
OURS, BASE, OTHER = "#1f77b4", "#ff7f0e", "#7f7f7f"


def load(name: str) -> dict[str, Any]:
    return json.loads((RESULTS / f"{name}.json").read_text())


def upload_rows(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return list(data["shapes"].items())


def plot(png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 4, figsize=(25, 9))
    fig.suptitle("assetlake against its baselines (2-core machine, moto S3 on loopback)", size=13)

    ax = axes[0][0]
    upload = upload_rows(load("upload"))
    contenders = [("assetlake", OURS), ("boto3_upload_file", BASE), ("s3fs_put", OTHER)]
    width = 0.27
    for i, (who, colour) in enumerate(contenders):
        xs = [n + (i - 1) * width for n in range(len(upload))]
        ax.bar(xs, [shape[who]["mb_per_s"] for _, shape in upload], width, color=colour, label=who)
    for n, (_, shape) in enumerate(upload):
        top = max(shape[who]["mb_per_s"] for who, _ in contenders)
        ax.text(n, top * 1.04, f"{shape['ratio_to_best_baseline']}x best baseline", ha="center",
                fontsize=9)  # fmt: skip
    ax.set_xticks(range(len(upload)), [name for name, _ in upload])
    ax.set_ylim(0, max(s[w]["mb_per_s"] for _, s in upload for w, _ in contenders) * 1.45)
    ax.set_ylabel("MB/s (median)")
    ax.set_title("Upload throughput")
    ax.legend(loc="upper left", fontsize=8, ncol=3)

    ax = axes[0][1]
    index = load("index")["results"]
    labels = [f"{r['assets']:,} assets" for r in index]
    series = [
        ("assetlake index", "full_assets_per_s", OURS),
        ("request floor (bare boto3)", "floor_assets_per_s", OTHER),
        ("naive sequential crawl", "naive_assets_per_s", BASE),
    ]
    for i, (label, key, colour) in enumerate(series):
        xs = [n + (i - 1) * width for n in range(len(index))]
        ax.bar(xs, [r[key] for r in index], width, color=colour, label=label)
    for n, r in enumerate(index):
        ax.text(n, r["floor_assets_per_s"] * 1.05, f"{r['ratio_to_floor']}x floor, "
                f"{r['speedup_over_naive']}x naive", ha="center", fontsize=9)  # fmt: skip
    ax.set_xticks(range(len(index)), labels)
    ax.set_ylim(0, max(r["floor_assets_per_s"] for r in index) * 1.45)
    ax.set_ylabel("assets/s")
    ax.set_title("Index a lake (full crawl)")
    ax.legend(loc="upper left", fontsize=8, ncol=2)

    ax = axes[1][0]
    biggest = max(load("find")["sizes"], key=lambda size: size["assets"])
    queries = biggest["queries"]
    names = list(queries)
    ours = [queries[q]["assetlake"]["p50_ms"] for q in names]
    base = [queries[q]["baseline_parquet_pandas"]["p50_ms"] for q in names]
    xs = range(len(names))
    ax.bar([x - 0.2 for x in xs], ours, 0.4, color=OURS, label="assetlake (SQLite) p50")
    ax.bar([x + 0.2 for x in xs], base, 0.4, color=BASE, label="Parquet + pandas p50 (with load)")
    ax.axhline(2.0, color=OURS, linestyle=":", linewidth=1, label="target p50 2 ms")
    ax.set_yscale("log")
    ax.set_ylim(0.03, max(base) * 30)
    ax.set_xticks(list(xs), [n.replace("_", "\n") for n in names], fontsize=8)
    ax.set_ylabel("ms (log)")
    ax.set_title(f"find on {biggest['assets']:,} assets")
    ax.legend(loc="upper left", fontsize=8, ncol=2)

    ax = axes[1][1]
    compression = load("compression")
    for name, codec in compression["codecs"].items():
        if codec.get("compress_MBps") is None:
            continue
        chosen = name == compression["chosen"]
        ax.scatter(codec["compress_MBps"], codec["ratio"], color=OURS if chosen else OTHER,
                   s=60 if chosen else 25, zorder=3)  # fmt: skip
        ax.annotate(name, (codec["compress_MBps"], codec["ratio"]), fontsize=7,
                    xytext=(4, 3), textcoords="offset points")  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("compress MB/s (log)")
    ax.set_ylabel("compression ratio")
    ax.set_title("Codecs on Neuropixels-like int16 traces (1 s chunks)")

    transfer = load("transfer")["rows"]
    for ax, shape in zip(
        (axes[0][2], axes[1][2]), ("zarr_10000x64KiB", "zarr_2000x1MiB"), strict=True
    ):
        for who, colour in (("assetlake", OURS), ("s5cmd", BASE), ("boto3_upload_file", OTHER)):
            mine = sorted((r["latency_ms"], r["files_per_s"]) for r in transfer
                          if (r["shape"], r["contender"]) == (shape, who) and "operation" not in r)  # fmt: skip
            ax.plot([x for x, _ in mine], [y for _, y in mine], "o-", color=colour, label=who)
        ax.set_xlabel("latency per request (ms)")
        ax.set_ylabel("files/s")
        ax.set_title(f"Upload {shape}, writable latency endpoint")
        ax.legend(fontsize=8)

    scale_panels(axes[0][3], axes[1][3], load("scale"))

    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)


#: The contenders of the scale benchmark, as drawn.
SCALE = (("assetlake index", OURS, "o-"), ("old crawl (32 boto3 threads)", BASE, "s--"),
         ("bare GETs, obstore 256 in flight", OTHER, "^:"), ("bare GETs, boto3 32 threads", OTHER, "v--"))  # fmt: skip


def scale_panels(rates: Any, cpu: Any, data: dict[str, Any]) -> None:
    """The crawl's rate against latency per lake size, and where its CPU went at 30 ms."""
    rows = data["results"]
    for size, fill in zip(sorted({r["assets"] for r in rows}), ("none", "full"), strict=False):
        for who, colour, style in SCALE:
            mine = sorted((r["latency_ms"], r["assets_per_s"]) for r in rows
                          if (r["contender"], r["assets"]) == (who, size))  # fmt: skip
            if mine:
                rates.plot([x for x, _ in mine], [y for _, y in mine], style, color=colour,
                           fillstyle=fill, label=f"{who}, {size:,}")  # fmt: skip
    rates.axhline(data["targets"]["assets_per_s"], color=OURS, linestyle=":", linewidth=1,
                  label="target at 100,000")  # fmt: skip
    rates.set_xlabel("latency per request (ms)")
    rates.set_ylabel("assets/s")
    rates.set_title("Full index against the latency endpoint")
    rates.legend(fontsize=7)
    crawls = [r for r in rows if r["contender"] == "assetlake index" and r["latency_ms"] == 30]
    parts = (("cpu_ms_per_asset", "crawl process", OURS), ("workers_cpu_ms_per_asset",
             "record workers", BASE), ("endpoint_cpu_ms_per_asset", "endpoint (S3's part)", OTHER))  # fmt: skip
    bottom = [0.0] * len(crawls)
    for key, label, colour in parts:
        values = [r.get(key, 0.0) for r in crawls]
        cpu.bar(range(len(crawls)), values, 0.5, bottom=bottom, color=colour, label=label)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    cpu.axhline(2 / data["targets"]["assets_per_s"] * 1000, color=OURS, linestyle=":",
                label="2 cores at the target rate")  # fmt: skip
    cpu.set_ylim(0, max(bottom, default=1.0) * 1.4)
    cpu.set_xticks(range(len(crawls)), [f"{r['assets']:,} assets" for r in crawls])
    cpu.set_ylabel("CPU ms per asset")
    cpu.set_title("Where a crawl's CPU goes (30 ms a request)")
    cpu.legend(fontsize=8, loc="upper left")


def scale_rows(data: dict[str, Any]) -> list[str]:
    """The scale benchmark: each full index at 30 ms against its floors, and the 1M listing."""
    rows, at30 = [], [r for r in data["results"] if r["latency_ms"] == 30]
    target = data["targets"]
    for r in (r for r in at30 if r["contender"] == "assetlake index"):
        same = {o["contender"]: o for o in at30 if o["assets"] == r["assets"]}
        floor = same.get("bare GETs, obstore 256 in flight")
        old = same.get("old crawl (32 boto3 threads)")
        base = "; ".join(
            f"{label} {o['assets_per_s']}/s"
            for label, o in (("obstore GET floor", floor), ("old crawl", old)) if o
        )  # fmt: skip
        ratio = f"{r['assets_per_s'] / floor['assets_per_s']:.2f}x floor" if floor else ""
        rows.append(
            f"| index {r['assets']:,} assets at 30 ms | {r['assets_per_s']} assets/s, "
            f"{r['peak_mb']:.0f} MB peak, incremental {r['incremental_s']} s | {base} | {ratio} | "
            f">= {target['assets_per_s']:,}/s, <= {target['peak_mb']} MB |"
        )
    if data.get("published"):
        r = data["published"]
        find, duck = r["find_lake_first_answer"], r["duckdb_one_subject"]
        rows.append(
            f"| `find --lake` first answer, clean cache, {r['assets']:,} assets at 30 ms | "
            f"{find['seconds_median']} s, median of {find['runs']} | | | "
            f"<= {target['find_lake_1m_s']} s |"
        )
        rows.append(
            f"| DuckDB, one subject of the published {r['assets']:,} | "
            f"{duck['bytes_read']:,} of {duck['file_bytes']:,} bytes "
            f"({duck['fraction_of_file'] * 100:.2f}%), {duck['requests']} requests | | | "
            "only the row groups needed |"
        )
    for r in data["listing"]:
        rows.append(
            f"| re-index of an unchanged {r['assets']:,}-asset lake at 30 ms (parallel listing) | "
            f"{r['seconds']} s, {r['peak_mb']:.0f} MB | pages one after another >= "
            f"{r['plain_pages_s']} s | | <= {target['incremental_1m_s']} s |"
        )
    return rows


def table() -> str:
    """The README's results table, one row per target."""
    rows = ["| measurement | assetlake | baseline | ratio | target |", "|---|---|---|---|---|"]
    for name, shape in upload_rows(load("upload")):
        best = max(("boto3_upload_file", "s3fs_put"), key=lambda who: shape[who]["mb_per_s"])
        rows.append(
            f"| upload {name} | {shape['assetlake']['mb_per_s']} MB/s, "
            f"{shape['assetlake']['peak_rss_mb']:.0f} MB peak | {best} "
            f"{shape[best]['mb_per_s']} MB/s, {shape[best]['peak_rss_mb']:.0f} MB | "
            f"{shape['ratio_to_best_baseline']}x | >= 1.0x |"
        )
    for r in load("index")["results"]:
        rows.append(
            f"| index {r['assets']:,} assets | {r['full_assets_per_s']} assets/s, "
            f"incremental {r['incremental_fraction'] * 100:.1f}% of full, {r['peak_mb']:.0f} MB | "
            f"floor {r['floor_assets_per_s']}/s, naive {r['naive_assets_per_s']}/s | "
            f"{r['ratio_to_floor']}x floor, {r['speedup_over_naive']}x naive | "
            ">= 0.8x floor, >= 5x naive, <= 5%, <= 300 MB |"
        )
    for size in load("find")["sizes"]:
        for name, q in size["queries"].items():
            ours, base = q["assetlake"], q["baseline_parquet_pandas"]
            rows.append(
                f"| find {name}, {size['assets']:,} assets | p50 {ours['p50_ms']} ms, "
                f"p95 {ours['p95_ms']} ms | p50 {base['p50_ms']:.0f} ms | "
                f"{q['speedup_p50']}x | p50 <= 2 ms, p95 <= 20 ms, >= 100x |"
            )
        rows.append(
            f"| `assetlake find` end to end, {size['assets']:,} assets | "
            f"{size['cli']['median_s']} s | | | <= 0.2 s |"
        )
    rows.extend(scale_rows(load("scale")))
    rows.extend(transfer_rows(load("transfer")))
    rows.extend(populate_rows(load("populate")))
    rows.extend(watch_rows(load("watch")))
    rows.extend(serve_rows(load("serve")))
    codecs = load("compression")
    chosen = codecs["codecs"][codecs["chosen"]]
    baseline = codecs["baseline"]
    rows.append(
        f"| default codec {codecs['chosen']} | ratio {chosen['ratio']}, "
        f"{chosen['compress_MBps']} MB/s in, {chosen['decompress_MBps']} MB/s out | "
        f"{baseline} ratio {codecs['codecs'][baseline]['ratio']} | "
        f"{chosen[f'ratio_vs_{baseline}']}x smaller | by measurement |"
    )
    return "\n".join(rows)


def transfer_rows(data: dict[str, Any]) -> list[str]:
    """The transfer benchmark at 30 ms a request: each upload shape against s5cmd, then the
    reads of the Zarr asset (a ``--quick`` run says so in its rows)."""
    quick = " (quick run)" if data["quick"] else ""
    rows, at30 = [], [r for r in data["rows"] if r["latency_ms"] == 30]
    for shape, target in (("zarr_10000x64KiB", ">= 1.0x"), ("zarr_2000x1MiB", ">= 1.0x"),
                          ("file_1GiB", ">= 0.9x")):  # fmt: skip
        unit, label = (
            ("mb_per_s", "MB/s") if shape.startswith("file") else ("files_per_s", "files/s")
        )
        got = {r["contender"]: r for r in at30 if r["shape"] == shape and "operation" not in r}
        ours, s5cmd = got["assetlake"], got["s5cmd"]
        rows.append(
            f"| upload {shape} at 30 ms{quick} | {ours[unit]} {label}, "
            f"{ours['peak_rss_mb']:.0f} MB peak | s5cmd {s5cmd[unit]} {label}; boto3 "
            f"{got['boto3_upload_file'][unit]} | {data['ratios_to_s5cmd'][f'{shape}@30ms']}x | "
            f"{target} s5cmd, <= 200 MB |"
        )
    # s5cmd's download of the same asset is the download's baseline (median of its runs).
    baseline = {
        r["operation"]: r for r in at30 if r.get("operation") and r["contender"] != "assetlake"
    }
    for r in at30:
        if "operation" in r and r["contender"] == "assetlake":
            target = ">= 3,000/s, 0 data bytes" if r["operation"] == "verify_fast" else ">= 2,000/s"
            other = baseline.get(r["operation"])
            versus = "|"
            if other:
                ratio = data["ratios_to_s5cmd"][f"{r['operation']}_{r['shape']}@30ms"]
                versus = f"s5cmd {other['objects_per_s']} objects/s | {ratio}x"
            median = ", median of 3" if "objects_per_s_runs" in r else ""
            rows.append(
                f"| {r['operation']} {r['shape']} at 30 ms{quick} | {r['objects_per_s']} objects/s"
                f"{median}, {r['data_bytes_read']:,} data bytes read, {r['peak_rss_mb']:.0f} MB "
                f"peak | {versus} | {target} |"
            )
    return rows


def populate_rows(data: dict[str, Any]) -> list[str]:
    """The populate benchmark's three targets (a ``--quick`` run says so in its rows)."""
    quick = " (quick run)" if data["quick"] else ""
    a, b, c = data["overhead"], data["scaling"], data["todo"]
    return [
        f"| populate {a['jobs']} trivial jobs{quick} | {a['populate_s']} s, "
        f"{a['per_job_overhead_ms']} ms/job over the loop | plain loop {a['plain_loop_s']} s | "
        f"{a['ratio']}x | <= 1.2x |",
        f"| populate CPU-bound, 8 x {b['trace_seconds']:g} s traces{quick} | 2 workers "
        f"{b['two_workers_s']} s, Dask 2 workers {b['dask_two_workers_s']} s | 1 worker "
        f"{b['one_worker_s']} s | {b['speedup_2_workers']}x, Dask {b['speedup_dask']}x | "
        ">= 1.6x |",
        f"| populate to-do, {c['sources']:,} sources, half done{quick} | {c['todo_s']} s | | | "
        "<= 1 s |",
    ]


def watch_rows(data: dict[str, Any]) -> list[str]:
    """The watch benchmark's three targets: added latency, a burst of sessions, the idle agent."""
    quick = " (quick run)" if data["quick"] else ""
    a, b, c = data["latency"], data["burst"], data["idle"]
    return [
        f"| watch: rename to commit, median of {a['sessions']}{quick} | "
        f"{a['rename_to_commit_median_s']} s | direct upload {a['direct_upload_median_s']} s | "
        f"+{a['added_s']} s | <= 1 s added |",
        f"| watch: {b['sessions']:,} sessions dropped at once{quick} | "
        f"{b['committed_in_lake']:,} committed, {b['agent_sessions_per_s']}/s, "
        f"{b['agent_peak_rss_mb']:.0f} MB peak | upload loop {b['loop_sessions_per_s']}/s | "
        f"{b['ratio_to_loop']}x | >= 0.9x, <= 200 MB |",
        f"| watch: idle {c['seconds']:g} s, {c['journal_entries']:,} journal entries{quick} | "
        f"{c['cpu_percent_of_one_core']}% of one core | | | <= 1% |",
    ]


def serve_rows(data: dict[str, Any]) -> list[str]:
    """The serve benchmark's targets: API search latency and rate, search page latency; the
    asset page has no target but is shown (the floor is the API's queries in-process)."""
    quick = " (quick run)" if data["quick"] else ""
    where = f"{data['assets']:,} assets, {data['clients']} clients{quick}"
    r, t = data["results"], data["targets"]
    api, page, asset = r["api_search"], r["search_page"], r["asset_page"]
    floor = r["api_search_floor_in_process"]
    return [
        f"| serve: API search, {where} | p50 {api['p50_ms']} ms, p95 {api['p95_ms']} ms, "
        f"{api['rps']} req/s | in-process p50 {floor['p50_ms']} ms, {floor['rps']}/s | | "
        f"p95 <= {t['api_p95_ms']:g} ms, >= {t['api_rps']:g} req/s |",
        f"| serve: search page, {where} | p50 {page['p50_ms']} ms, p95 {page['p95_ms']} ms, "
        f"{page['rps']} req/s | | | p95 <= {t['search_page_p95_ms']:g} ms |",
        f"| serve: asset page, {where} | p50 {asset['p50_ms']} ms, p95 {asset['p95_ms']} ms, "
        f"{asset['rps']} req/s | | | |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--png", type=Path, default=PNG)
    args = parser.parse_args()
    plot(args.png)
    print(table())
    print(f"\nwrote {args.png}")


if __name__ == "__main__":
    main()
