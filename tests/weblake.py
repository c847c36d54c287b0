"""A small lake for the website's tests (raw sessions, a derived chain with PNG figures, a hostile
foreign asset) and a uvicorn server in a thread on a free port, always stopped."""

from __future__ import annotations

import json
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from factories import PACIFIC, make_derived_asset, make_raw_asset

from assetlake.catalogue import Catalogue
from assetlake.index import index_lake
from assetlake.store import open_store
from assetlake.upload import upload_folder
from assetlake.web.app import create_app
from assetlake.web.server import bind, server
from assetlake.web.site import Site

#: A foreign asset whose sidecars try markup, script URLs and terminal escapes on every page.
HOSTILE = "ecephys_666666_2024-05-05_05-05-05"
SCRIPT = "<script>window.__pwned = 1</script>"
IMG = '<img src=x onerror="window.__pwned = 2">'
JS_LINK = "javascript:window.__pwned = 3"
ESCAPE = "\x1b[31mred\x1b]0;title\x07"


def png(width: int, height: int) -> bytes:
    """A valid RGB PNG of a gradient, built with zlib only."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(
        b"\x00" + bytes(v for x in range(width) for v in (x * 255 // width, y * 4 % 256, 128))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@dataclass
class WebLake:
    lake: str
    catalogue: Path
    raw: list[str]
    sorted: str
    rates: str

    def site(self, refresh: float = 0) -> Site:
        return Site(self.catalogue, lake=self.lake, refresh=refresh)


def build_lake(lake: str, work: Path) -> WebLake:
    """Three sessions of subject 123456 and one of 999, spikes → rates with figures, and HOSTILE."""
    staging = work / "staging"
    raw = []
    for day, (subject, modality) in enumerate(
        [("123456", "ecephys"), ("123456", "behavior"), ("123456", "ecephys"), ("999", "pophys")]
    ):
        acquired = datetime(2024, 3, 1 + day, 14, 5, 9, tzinfo=PACIFIC)
        folder = make_raw_asset(
            staging, modality=modality, subject_id=subject, acquired=acquired, with_data=True
        )
        upload_folder(folder, lake)
        raw.append(folder.name)
    spikes = make_derived_asset(staging, raw[0], label="spikes")
    (spikes / "figures").mkdir()
    (spikes / "figures" / "raster.png").write_bytes(png(64, 32))
    upload_folder(spikes, lake)
    rates = make_derived_asset(
        staging, spikes.name, label="rates", created=datetime(2024, 3, 3, 8, tzinfo=PACIFIC)
    )
    (rates / "rates.png").write_bytes(png(48, 48))
    upload_folder(rates, lake)
    put_hostile(lake)
    catalogue = work / "site.sqlite"
    with Catalogue(catalogue) as cat:
        index_lake(lake, cat)
    return WebLake(lake, catalogue, raw, spikes.name, rates.name)


def put_hostile(lake: str) -> None:
    store = open_store(lake)
    description = {
        "name": HOSTILE,
        "subject_id": "666666",
        "creation_time": "2024-05-05T05:05:05-07:00",
        "modalities": [{"abbreviation": "ecephys", "name": SCRIPT}],
        "project_name": SCRIPT,
        "institution": {"name": IMG, "abbreviation": JS_LINK},
        "investigators": [{"name": JS_LINK}],
        "data_level": "raw",
        "funding_source": [{"url": JS_LINK, "note": ESCAPE}],
    }
    subject = {"subject_id": "666666", "genotype": IMG, "species": {"name": ESCAPE}}
    store.put(f"{HOSTILE}/data_description.json", json.dumps(description).encode())
    store.put(f"{HOSTILE}/subject.json", json.dumps(subject).encode())
    store.put(f"{HOSTILE}/evil.png", b"<script>not a png</script>")


def put_jobs(web_lake: WebLake) -> None:
    """Populate job records of the raw sessions: the first failed with a hostile message, the
    second still running, the last two done (which the overview never lists)."""
    from assetlake.pipelines.claims import claim, record_done, record_error
    from assetlake.pipelines.todo import Job

    store = open_store(web_lake.lake)
    with Catalogue(web_lake.catalogue, readonly=True) as catalogue:
        sources = [catalogue.get(name) for name in web_lake.raw]
    jobs = [Job("spikes", "1.0.0", f"{n:024x}", {}, (s,)) for n, s in enumerate(sources)]
    for job in jobs:
        assert claim(store, job, lease=600, retry_failed=False).claim
    record_error(store, jobs[0], 1, RuntimeError(f"{SCRIPT} {ESCAPE}"), "Traceback ...")
    record_done(store, jobs[2], 1, "not-listed")
    record_done(store, jobs[3], 1, "not-listed")


@contextmanager
def serving(site: Site) -> Iterator[str]:
    """The site under uvicorn in a thread on a free port; yields its base URL; always stops it."""
    sock = bind("127.0.0.1", 0)
    uvicorn_server = server(create_app(site), sock)
    thread = threading.Thread(target=uvicorn_server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30  # a guard against a server that never starts, not a wait
        while not uvicorn_server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the site's server did not start")
            time.sleep(0.02)
        assert site.ready.wait(60), "the site's first refresh did not end"
        host, port = sock.getsockname()[:2]
        yield f"http://{host}:{port}"
    finally:
        uvicorn_server.should_exit = True
        thread.join(30)
        sock.close()
