"""The website in a real browser: Debian's Chromium driven by Playwright, over a lake on moto S3.

These tests skip (with the reason) only when Chromium is not installed and CI is not set; under
CI they fail instead, and conftest fails the run if none of them passed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect
from weblake import HOSTILE, JS_LINK, SCRIPT, WebLake, build_lake, put_jobs, serving

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_or_skip() -> str:
    path = shutil.which("chromium")
    if path is None:
        reason = (
            "chromium is not installed: run ./dev test as root (it apt-get installs it) or "
            "'apt-get install --no-install-recommends chromium'"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests must run under CI, but {reason}")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    executable = chromium_or_skip()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def web_lake(s3_lake: str, tmp_path: Path) -> WebLake:
    return build_lake(s3_lake, tmp_path)


@pytest.fixture
def site(web_lake: WebLake) -> Iterator[str]:
    with serving(web_lake.site()) as url:
        yield url


@pytest.fixture
def page(browser, site: str):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site)
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.on("dialog", lambda dialog: (errors.append("dialog: " + dialog.message), dialog.dismiss()))
    tab.errors = errors
    try:
        yield tab
    finally:
        context.close()


def result_names(page) -> list[str]:  # type: ignore[no-untyped-def]
    return page.locator("#results tbody tr td:first-child").all_inner_texts()


def figures_loaded(page) -> list[int]:  # type: ignore[no-untyped-def]
    """Natural widths of the page's figures once every one has loaded or failed."""
    # Not wait_for_function: Playwright polls it with eval(), which the site's CSP
    # (no 'unsafe-eval') rightly refuses; expect() reads the property without eval.
    for image in page.locator(".figures img").all():
        expect(image).to_have_js_property("complete", True)
    return page.eval_on_selector_all(".figures img", "images => images.map(i => i.naturalWidth)")


def test_search_with_several_filters_then_page_and_sort(page, site: str, web_lake: WebLake):
    page.goto(site + "/")
    page.fill("input[name=subject]", "123456")
    page.select_option("select[name=modality]", ["ecephys"])
    page.select_option("select[name=level]", "raw")
    page.click("form#search button[type=submit]")
    page.wait_for_selector("#results")
    query = parse_qs(urlsplit(page.url).query, keep_blank_values=True)
    assert (query["subject"], query["modality"], query["level"]) == (
        ["123456"],
        ["ecephys"],
        ["raw"],
    )
    assert set(query) == {"subject", "modality", "level"}  # empty fields stay out of the URL
    assert result_names(page) == [web_lake.raw[0], web_lake.raw[2]]

    page.goto(site + "/?subject=123456&limit=2")
    page.click("a.sort[data-sort=name]")
    page.wait_for_url("**sort=name**")
    first = result_names(page)
    page.click("a.sort[data-sort=name]")  # again: descending
    page.wait_for_url("**sort=-name**")
    assert result_names(page)[0] > first[0]
    page.click("a.sort[data-sort=name]")
    page.wait_for_url("**sort=name**")
    seen = result_names(page)
    while page.locator("#next").count():
        page.click("#next")
        page.wait_for_load_state()
        seen += result_names(page)
    expected = sorted([*web_lake.raw[:3], web_lake.sorted, web_lake.rates])
    assert seen == expected
    assert page.errors == []


def test_open_an_asset_follow_lineage_and_see_its_figures(page, site: str, web_lake: WebLake):
    page.goto(site + f"/?derived_from={web_lake.raw[0]}")
    assert result_names(page) == [web_lake.sorted, web_lake.rates]
    page.goto(site + "/?subject=123456&modality=ecephys&level=raw")
    page.click(f"#results a[href='/assets/{web_lake.raw[0]}']")
    assert page.inner_text("#asset-name") == web_lake.raw[0]
    widths = figures_loaded(page)
    assert len(widths) == 2 and all(width > 0 for width in widths)
    page.click(f"a.down[href='/assets/{web_lake.sorted}']")
    assert page.inner_text("#asset-name") == web_lake.sorted
    page.click(f"a.down[href='/assets/{web_lake.rates}']")
    assert page.inner_text("#asset-name") == web_lake.rates
    assert figures_loaded(page) == [48]
    page.click("a.up")
    assert page.inner_text("#asset-name") == web_lake.sorted
    page.click("a.up")
    assert page.inner_text("#asset-name") == web_lake.raw[0]
    assert page.errors == []


def test_copy_the_open_in_place_snippet(page, site: str, web_lake: WebLake):
    page.goto(site + f"/assets/{web_lake.raw[0]}")
    snippet = page.locator(".snippet").first
    code = snippet.locator("code").inner_text()
    assert (
        code
        == f'import zarr\nzarr.open("{web_lake.lake}/{web_lake.raw[0]}/ecephys.zarr", mode="r")'
    )
    snippet.locator("button.copy").click()
    page.wait_for_selector("button.copy[data-copied]")
    assert snippet.locator("button.copy").inner_text() == "Copied"
    assert page.evaluate("navigator.clipboard.readText()") == code


def test_visit_a_subject_page(page, site: str, web_lake: WebLake):
    page.goto(site + f"/assets/{web_lake.raw[1]}")
    page.click("#subject-link")
    page.wait_for_url("**/subjects/123456")
    assert page.inner_text("#subject") == "Subject 123456"
    assert page.locator("#timeline a.event").count() == 5
    assert page.locator("#timeline li").count() == 3  # three days
    widths = figures_loaded(page)
    assert len(widths) == 2 and all(width > 0 for width in widths)
    page.goto(site + "/overview")
    assert page.locator("#months rect").count() >= 1
    assert page.errors == []


def test_hostile_metadata_never_runs(page, site: str):
    for path in (f"/assets/{HOSTILE}", "/?subject=666666", "/subjects/666666", "/overview"):
        page.goto(site + path)
        page.wait_for_load_state("load")
        assert page.evaluate("typeof window.__pwned") == "undefined", path
        assert page.eval_on_selector_all("a[href^='javascript']", "links => links.length") == 0
        assert page.eval_on_selector_all("script", "s => s.map(e => e.src)") == [
            site + "/static/site.js"
        ]
    page.goto(site + f"/assets/{HOSTILE}")
    text = page.inner_text("main")
    assert SCRIPT in text and JS_LINK in text
    assert "\\x1b[31mred" in text and "\x1b" not in text
    assert page.errors == []


def test_overview_shows_a_failed_job_as_text(browser, web_lake: WebLake):
    put_jobs(web_lake)
    with serving(web_lake.site()) as url:
        context = browser.new_context()
        try:
            tab = context.new_page()
            tab.goto(url + "/overview")
            expect(tab.locator("#job-counts")).to_contain_text("1 pending · 1 failed")
            failed = tab.locator("#jobs tr.failed")
            expect(failed).to_have_count(1)
            expect(failed).to_contain_text(SCRIPT)
            expect(failed).to_contain_text(web_lake.raw[0])
            expect(tab.locator("#jobs tr.reserved")).to_contain_text(web_lake.raw[1])
            assert tab.evaluate("typeof window.__pwned") == "undefined"
        finally:
            context.close()
