"""Regenerate the website screenshots in docs/web/ (search, asset, subject, overview pages).

Run from the repository root: ``.venv/bin/python docs/web/screenshots.py``. It builds the test
suite's small lake (tests/weblake.py) on a moto S3 server, serves it and photographs it in
Debian's chromium.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
os.environ.update(
    AWS_ACCESS_KEY_ID="demo", AWS_SECRET_ACCESS_KEY="demo", AWS_DEFAULT_REGION="us-east-1"
)


def main() -> None:
    from moto.server import ThreadedMotoServer
    from playwright.sync_api import sync_playwright
    from test_web_browser import CHROMIUM_ARGS
    from weblake import build_lake, serving

    from assetlake.store import open_store

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    try:
        host, port = moto.get_host_and_port()
        os.environ["AWS_ENDPOINT_URL"] = f"http://{host}:{port}"
        open_store("s3://lab-data").create()
        with tempfile.TemporaryDirectory() as work:
            web_lake = build_lake("s3://lab-data", Path(work))
            with serving(web_lake.site()) as url, sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS
                )
                page = browser.new_page(viewport={"width": 1200, "height": 1100})
                shots = {
                    "search": "/?subject=123*&sort=name",
                    "asset": f"/assets/{web_lake.raw[0]}",
                    "subject": "/subjects/123456",
                    "overview": "/overview",
                }
                for name, path in shots.items():
                    page.goto(url + path)
                    page.wait_for_load_state("networkidle")
                    page.screenshot(path=str(ROOT / "docs" / "web" / f"{name}.png"))
                browser.close()
    finally:
        moto.stop()


if __name__ == "__main__":
    main()
