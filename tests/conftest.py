"""Shared fixtures: a real moto S3 server on loopback, lakes on both backends, a CLI runner.

Each pytest worker process starts one moto server (``assetlake.store.loopback``, as the demo does) and talks to it over HTTP through
``AWS_ENDPOINT_URL``, exactly as boto3, s3fs and an analyst's notebook would. State is reset
between tests with moto's ``/moto-api/reset``.
"""

from __future__ import annotations

import os
import signal
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# Credentials for the loopback server only; set before anything imports boto3.
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_EC2_METADATA_DISABLED="true",
)
for _var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "ASSETLAKE_LAKE"):
    os.environ.pop(_var, None)

# A shell without job control starts a background command with SIGINT ignored, and every
# process it starts inherits that: the tests that send Ctrl-C to a command would then test
# nothing. The suite's processes, and so the commands the tests start, take SIGINT as a user's.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """The endpoint URL of a moto S3 server on 127.0.0.1, one per test process."""
    from assetlake.store.loopback import moto_server

    with moto_server() as endpoint:
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        yield endpoint


@pytest.fixture
def s3_lake(moto_server: str) -> str:
    """A fresh, empty bucket on the moto server, as an ``s3://`` lake URL."""
    request = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    urllib.request.urlopen(request).close()
    from assetlake.store import open_store

    url = f"s3://lake-{uuid.uuid4().hex[:12]}"
    open_store(url).create()
    return url


@pytest.fixture
def proxy(s3_lake: str, moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """A fault-injecting proxy (tests/faults.py) in front of moto; boto3 clients made after this
    fixture (``open_store``, subprocesses inheriting the environment) talk through it."""
    from faults import fault_proxy

    with fault_proxy(moto_server) as faults:
        monkeypatch.setenv("AWS_ENDPOINT_URL", faults.url)
        yield faults


@pytest.fixture
def local_lake(tmp_path: Path) -> str:
    root = tmp_path / "lake"
    root.mkdir()
    return str(root)


@pytest.fixture(params=["local", "s3"])
def lake(request: pytest.FixtureRequest) -> str:
    """The same test on both backends: a local folder and an S3 bucket over HTTP."""
    return request.getfixturevalue(f"{request.param}_lake")


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``ASSETLAKE_CACHE`` (journals, catalogues, ONE tables) in the test's own folder; a module
    whose tests all write there says ``pytestmark = pytest.mark.usefixtures("own_cache")``."""
    monkeypatch.setenv("ASSETLAKE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def rig(tmp_path: Path) -> tuple[Path, Path]:
    """A drop folder and the rig's staging folder beside it (same file system, so mv is atomic)."""
    drop, staging = tmp_path / "drop", tmp_path / "staging"
    drop.mkdir()
    staging.mkdir()
    return drop, staging


@pytest.fixture
def catalogue_file(tmp_path: Path) -> Path:
    """A catalogue of ``test_catalogue.sample()``: what ``find``, the site and its API read."""
    from test_catalogue import sample

    from assetlake.catalogue import Catalogue

    path = tmp_path / "cat.sqlite"
    with Catalogue(path) as cat:
        cat.upsert(sample())
    return path


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    """Run ``assetlake ARGS...`` in-process through the real entry point; return code and output."""
    from assetlake.cli import main

    def run(*args: str) -> Result:
        capsys.readouterr()
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else 1
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


#: Browser tests that passed in this run (collected in the xdist controller too).
_browser_passed: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and report.passed and "browser" in report.keywords:
        _browser_passed.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI (``CI=true``) a run in which no browser test passed fails: the website's
    journeys are part of what CI proves, not an optional extra."""
    if os.environ.get("CI") != "true" or hasattr(session.config, "workerinput"):
        return
    if not _browser_passed and exitstatus == 0:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.ensure_newline()
            reporter.write_line(
                "CI=true but no browser test (tests/test_web_browser.py) passed: install "
                "chromium (./dev test does it as root) and run the whole suite",
                red=True,
            )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
