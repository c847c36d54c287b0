"""The website without a browser: the API's equality with ``find``, paging, 400/404, escaping,
figures with caching headers, the notice when the lake is gone, and ``assetlake serve`` itself."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode

import pytest
from factories import make_raw_asset
from starlette.testclient import TestClient
from test_catalogue import RAW_A, RAW_B, SORTED
from weblake import ESCAPE, HOSTILE, IMG, JS_LINK, SCRIPT, WebLake, build_lake, png, put_jobs

from assetlake.catalogue import Catalogue, Query
from assetlake.upload import upload_folder
from assetlake.web.app import create_app
from assetlake.web.html import result_rows, templates
from assetlake.web.params import parse_query
from assetlake.web.site import Site


@pytest.fixture
def client(catalogue_file: Path):
    with TestClient(create_app(Site(catalogue_file))) as test_client:
        yield test_client


@pytest.fixture
def web_lake(lake: str, tmp_path: Path) -> WebLake:
    return build_lake(lake, tmp_path)


#: Queries as CLI arguments and as HTTP parameters: the API must print what ``find`` prints.
QUERIES = [
    ([], []),
    (["--level", "raw"], [("level", "raw")]),
    (["--subject", "222", "--subject", "12*"], [("subject", "222"), ("subject", "12*")]),
    (["--modality", "ecephys", "--sort", "-processed"], [("modality", "ecephys"), ("sort", "-processed")]),
    (["probe", "drift"], [("text", "probe drift")]),
    (["--derived-from", RAW_A, "--limit", "2"], [("derived_from", RAW_A), ("limit", "2")]),
    (["--after", "2024-03-01", "--before", "2024-04-01"], [("after", "2024-03-01"), ("before", "2024-04-01")]),
    (["--species", "mus musculus", "--genotype", "ires"], [("species", "mus musculus"), ("genotype", "ires")]),
    (["--invalid"], [("invalid", "true")]),
    (["--project", "Visual Coding", "--sort", "-size"], [("project", "Visual Coding"), ("sort", "-size")]),
]  # fmt: skip


@pytest.mark.parametrize(("args", "params"), QUERIES, ids=lambda q: repr(q)[:40])
def test_api_search_prints_exactly_what_find_prints(
    cli, client: TestClient, catalogue_file: Path, args: list[str], params: list
) -> None:
    done = cli("find", *args, "--catalogue", catalogue_file, "--format", "json")
    response = client.get("/api/assets?" + urlencode(params))
    assert done.code == 0
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.text == done.out
    query = parse_query(params)  # the Python API, given the query the site parsed
    with Catalogue(catalogue_file, readonly=True) as cat:
        python = [r.without_metadata() for r in cat.find(query)]
    assert json.loads(response.text) == python


def test_paging_by_limit_and_cursor_walks_every_asset_once(client: TestClient) -> None:
    everything = client.get("/api/assets?sort=name").json()
    seen, url, pages = [], "/api/assets?sort=name&limit=3", 0
    while url:
        response = client.get(url)
        seen += response.json()
        pages += 1
        link = response.headers.get("link")
        assert (link is None) == (response.headers.get("x-next-cursor") is None)
        url = link[1 : link.index(">")] if link else None
    assert pages == 3
    assert [r["name"] for r in seen] == [r["name"] for r in everything]
    assert len(everything) == 7


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("colour=red", "unknown filter 'colour'; use one of text, subject"),
        ("level=cooked", "level 'cooked' is not known; use raw or derived"),
        ("after=yesterday", "after 'yesterday' is not a date"),
        ("sort=colour", "sort key 'colour' is not known"),
        ("limit=0", "limit '0' must be a whole number from 1 to 1000"),
        ("limit=ten", "limit 'ten' must be a whole number"),
        ("cursor=%21%21", "cursor '!!' is not a cursor of this search"),
        ("invalid=maybe", "invalid 'maybe' is not true or false"),
        ("genotype=a&genotype=b", "genotype is given 2 times; give it once"),
        ("text=" + "x" * 201, "text is longer than 200 characters"),
    ],
)
def test_bad_filters_are_400_with_one_line(client: TestClient, query: str, reason: str) -> None:
    response = client.get(f"/api/assets?{query}")
    assert response.status_code == 400
    (message,) = response.json().values()
    assert message.startswith(reason) and "\n" not in message
    page = client.get(f"/?{query}")
    assert page.status_code == 400
    assert 'id="error"' in page.text and reason.replace("'", "&#39;") in page.text


def test_asset_api_lineage_and_404s(client: TestClient) -> None:
    record = client.get(f"/api/assets/{RAW_B}").json()
    assert record["problems"][0]["message"] == "missing"
    assert record["metadata"]["acquisition"]["notes"] == "stable imaging plane, GCaMP6f"
    tree = client.get(f"/api/assets/{SORTED}/lineage").json()
    assert tree["ancestors"] == [RAW_A]
    assert tree["tree"]["name"] == RAW_A
    missing = "ecephys_999_2024-03-01_14-05-09"
    for url in (f"/api/assets/{missing}", f"/api/assets/{missing}/lineage"):
        response = client.get(url)
        assert response.status_code == 404
        assert missing in response.json()["error"]
    page = client.get(f"/assets/{missing}")
    assert page.status_code == 404 and f"asset {missing} is not in the catalogue" in page.text
    assert client.get("/subjects/nobody").status_code == 404
    assert client.get("/subjects/1*").status_code == 400
    assert client.get("/no/such/page").status_code == 404
    assert client.get("/api/nothing").json()["error"].startswith("no page at /api/nothing")


@pytest.mark.parametrize(
    "name", ["%2E%2E", "assetlake-catalogue", "ecephys_1_2024-13-01_00-00-00", "a%20b"]
)
def test_names_in_urls_must_follow_the_grammar(client: TestClient, name: str) -> None:
    for url in (f"/assets/{name}", f"/api/assets/{name}", f"/assets/{name}/figures/x.png"):
        response = client.get(url)
        assert response.status_code == 400, url
    traversal = client.get(f"/assets/..%2F{RAW_A}%2Fecephys.zarr%2F.zarray")
    assert traversal.status_code == 404


def test_openapi_describes_every_filter(client: TestClient) -> None:
    document = client.get("/api/openapi.json").json()
    assert document["openapi"].startswith("3.")
    search = document["paths"]["/api/assets"]["get"]
    assert [p["name"] for p in search["parameters"]] == [f.name for f in dataclasses.fields(Query)]
    assert {"/api/assets/{name}", "/api/assets/{name}/lineage"} <= document["paths"].keys()


def test_pages_render_and_link(client: TestClient) -> None:
    search = client.get("/?modality=ecephys&sort=name")
    assert search.status_code == 200
    assert f'href="/assets/{SORTED}"' in search.text
    assert "assetlake find --modality ecephys --sort name" in search.text
    assert 'href="/?modality=ecephys&amp;sort=-name"' in search.text  # the column toggles
    asset = client.get(f"/assets/{SORTED}").text
    assert f'href="/assets/{RAW_A}" class="up"' in asset
    assert 'class="down"' in asset and "_curated_" in asset
    assert "assetlake lineage " + SORTED in asset
    raw = client.get(f"/assets/{RAW_A}").text
    assert "zarr.open(&#34;s3://lab-lake/ecephys_111_2024-03-01_14-05-09/ecephys.zarr&#34;" in raw
    subject = client.get("/subjects/111").text
    assert subject.count('class="event') == 5
    overview = client.get("/overview").text
    assert 'id="total">7 assets' in overview
    assert "<rect" in overview and 'href="/?project=Visual%20Coding"' in overview
    assert "this site reads a catalogue file, not a lake" in overview  # so no populate jobs
    assert client.get("/api/overview").json()["jobs"] is None


def test_every_response_forbids_foreign_scripts(client: TestClient) -> None:
    for url in ("/", "/api/assets", f"/assets/{RAW_A}", "/nope"):
        headers = client.get(url).headers
        assert "script-src 'self'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"


def test_hostile_metadata_is_only_ever_text(web_lake: WebLake) -> None:
    with TestClient(create_app(Site(web_lake.catalogue))) as client:
        pages = [client.get(f"/assets/{HOSTILE}").text, client.get("/?subject=666666").text,
                 client.get("/subjects/666666").text, client.get("/overview").text]  # fmt: skip
    for html in pages:
        assert "<script>window" not in html and "<img src=x" not in html
        assert 'href="javascript' not in html and "\x1b" not in html and "\x07" not in html
        assert html.count("<script") == 1  # ours, from /static
    asset = pages[0]
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in asset
    assert "&lt;img src=x onerror=&#34;window.__pwned = 2&#34;&gt;" in asset
    assert JS_LINK in asset
    assert "\\x1b[31mred\\x1b]0;title\\x07" in asset


#: The results rows as a Jinja loop prints them: what :func:`result_rows` must print, faster.
JINJA_ROWS = """{% for r in records %}
<tr class="status-{{ r.status }}"><td><a href="/assets/{{ r.name | urlencode }}">{{ r.name }}</a></td><td>{{ r.level }}</td><td>{{ r.modalities | join(", ") }}</td>
<td>{% if r.subject_id %}<a href="/subjects/{{ r.subject_id | urlencode }}">{{ r.subject_id }}</a>{% endif %}</td>
<td>{{ r.acquired or "" }}</td><td>{{ r.project or "" }}</td><td class="num">{{ r.size | size }}</td><td>{{ r.status }}</td></tr>
{% endfor %}"""


def test_result_rows_print_what_the_jinja_loop_prints(catalogue_file: Path) -> None:
    with Catalogue(catalogue_file, readonly=True) as cat:
        plain = cat.find(sort="name")
    hostile = [
        dataclasses.replace(plain[0], project=SCRIPT, subject_id=f"{IMG} {ESCAPE}"),
        dataclasses.replace(plain[1], acquired=JS_LINK + "'\u202e", modalities=(SCRIPT, "a&b")),
        dataclasses.replace(plain[2], project="café \u2066", subject_id=None),
    ]
    records = plain + hostile
    expected = templates().env.from_string(JINJA_ROWS).render(records=records)
    assert _between_tags(result_rows(records)) == _between_tags(expected)
    shown = str(result_rows(hostile))
    assert "<script>" not in shown and "\x1b" not in shown and "\\x1b[31mred" in shown


def _between_tags(html: str) -> str:
    """``html`` without the whitespace between tags, which a browser does not show."""
    return re.sub(r">\s+<", "><", html).strip()


def test_overview_lists_failed_and_pending_jobs_escaped_and_bounded(
    web_lake: WebLake, monkeypatch: pytest.MonkeyPatch
) -> None:
    put_jobs(web_lake)
    site = web_lake.site()
    with TestClient(create_app(site)) as client:
        assert site.ready.wait(60)
        page = client.get("/overview").text
        api = client.get("/api/overview").json()
        monkeypatch.setattr("assetlake.web.overview.MAX_SHOWN", 1)
        site.refresh()
        capped = client.get("/overview").text
    assert 'id="job-counts">1 pending · 1 failed' in page
    assert page.count('<tr class="failed">') == 1 and page.count('<tr class="reserved">') == 1
    table = page[page.index('id="jobs"') :]
    assert table.index(web_lake.raw[0]) < table.index(web_lake.raw[1])  # failed first
    assert "RuntimeError: &lt;script&gt;window.__pwned = 1&lt;/script&gt; \\x1b[31m" in page
    assert "<script>window" not in page and "\x1b" not in page and "not-listed" not in page
    assert (api["jobs"]["pending"], api["jobs"]["failed"]) == (1, 1)
    assert [row["sources"] for row in api["jobs"]["shown"]] == web_lake.raw[:2]
    assert api["total"] == 7 and api["counts"]["status"]
    assert capped.count('<tr class="failed">') == 1 and 'class="reserved"' not in capped
    assert 'id="jobs-hidden">1 more not shown' in capped


def test_figures_come_from_the_lake_with_caching_headers(web_lake: WebLake) -> None:
    with TestClient(create_app(web_lake.site())) as client:
        page = client.get(f"/assets/{web_lake.raw[0]}").text
        assert f'src="/assets/{web_lake.sorted}/figures/figures/raster.png"' in page
        assert f'src="/assets/{web_lake.rates}/figures/rates.png"' in page
        url = f"/assets/{web_lake.sorted}/figures/figures/raster.png"
        response = client.get(url)
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"
        assert response.content == png(64, 32)
        assert "immutable" in response.headers["cache-control"]
        again = client.get(url, headers={"If-None-Match": response.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        for other in (
            f"/assets/{web_lake.sorted}/figures/metadata.nd.json",  # an object, not a figure
            f"/assets/{web_lake.sorted}/figures/../{web_lake.raw[1]}/subject.json",
            f"/assets/{HOSTILE}/figures/evil.png",  # a raw asset has no figures
        ):
            assert client.get(other).status_code == 404, other
        subject = client.get("/subjects/123456").text
        assert "raster.png" in subject and "rates.png" in subject


def test_a_lake_that_cannot_be_reached_keeps_the_last_catalogue(
    local_lake: str, tmp_path: Path
) -> None:
    web_lake = build_lake(local_lake, tmp_path)
    site = web_lake.site()
    site.refresh()
    assert site.notice is None
    shutil.move(local_lake, tmp_path / "moved")
    site.refresh()
    assert site.notice is not None and "cannot be reached" in site.notice
    with TestClient(create_app(site)) as client:
        page = client.get("/?subject=123456")
    assert 'id="notice"' in page.text and "showing the catalogue as of" in page.text
    assert page.text.count('class="status-') == 3 + 2  # 3 sessions, 2 derived


def test_a_refresh_indexes_new_assets(local_lake: str, tmp_path: Path) -> None:
    web_lake = build_lake(local_lake, tmp_path)
    site = web_lake.site()
    folder = make_raw_asset(tmp_path / "later", subject_id="4242")
    upload_folder(folder, local_lake)
    site.refresh()
    with TestClient(create_app(site)) as client:
        assert client.get(f"/api/assets/{folder.name}").status_code == 200


def test_a_kept_connection_sees_writes_and_a_replaced_file(
    catalogue_file: Path, tmp_path: Path
) -> None:
    site = Site(catalogue_file)
    with site.catalogue() as first:
        total = first.count()
    with Catalogue(catalogue_file) as writer:  # a refresh writing in place
        writer.upsert(
            [dataclasses.replace(writer.get(RAW_A), name="ecephys_777_2024-03-01_14-05-09")]
        )
    with site.catalogue() as same:
        assert same is first and same.count() == total + 1
    replacement = tmp_path / "published.sqlite"
    shutil.copy(catalogue_file, replacement)
    with Catalogue(replacement) as writer:
        writer.upsert(
            [dataclasses.replace(writer.get(RAW_A), name="ecephys_888_2024-03-01_14-05-09")]
        )
    os.replace(replacement, catalogue_file)  # a refresh fetching the published catalogue
    with site.catalogue() as fresh:
        assert fresh is not first and fresh.count() == total + 2


def test_serve_says_where_it_listens_and_serves(catalogue_file: Path, tmp_path: Path) -> None:
    env = {**os.environ, "ASSETLAKE_CACHE": str(tmp_path)}
    command = [str(Path(sys.executable).parent / "assetlake"), "serve", "--catalogue", str(catalogue_file),
               "--port", "0"]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        line = process.stdout.readline()
        assert line.startswith(f"assetlake serve: {catalogue_file} at http://127.0.0.1:"), line
        url = line.split(" at ")[1].split()[0]
        import urllib.request

        with urllib.request.urlopen(url + "api/assets?level=raw&sort=name") as response:
            assert (
                next(r["name"] for r in json.load(response)) == "behavior_1234_2023-12-31_23-00-00"
            )
    finally:
        process.terminate()
        process.wait(30)


def test_serve_indexes_its_lake_on_start(local_lake: str, tmp_path: Path) -> None:
    folder = make_raw_asset(tmp_path / "staging", subject_id="4242")
    upload_folder(folder, local_lake)
    env = {**os.environ, "ASSETLAKE_CACHE": str(tmp_path / "cache")}
    command = [str(Path(sys.executable).parent / "assetlake"), "serve", "--lake", local_lake,
               "--port", "0", "--refresh", "0"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        url = process.stdout.readline().split(" at ")[1].split()[0]
        assert process.stdout.readline() == "assetlake serve: catalogue up to date\n"
        import urllib.request

        with urllib.request.urlopen(url + "api/assets") as response:
            assert [r["name"] for r in json.load(response)] == [folder.name]
    finally:
        process.terminate()
        process.wait(30)
    assert list((tmp_path / "cache").glob("*.sqlite")), "the index lives in the user's cache"


def test_serve_without_a_catalogue_is_one_line(cli, tmp_path: Path) -> None:
    done = cli("serve")
    assert done.code == 2
    assert done.err == (
        "assetlake: error: no catalogue given: pass --lake URL (or set ASSETLAKE_LAKE) "
        "or --catalogue FILE\n"
    )
    done = cli("serve", "--catalogue", tmp_path / "cat.sqlite", "--port", "70000")
    assert done.code == 2 and "70000" in done.err and done.err[-1] == "\n"


def test_the_search_form_is_generated_from_the_query(client: TestClient) -> None:
    page = client.get("/?subject=222&invalid=true&sort=name&limit=5").text
    filters = [spec for spec in dataclasses.fields(Query) if not spec.metadata["paging"]]
    assert filters and all(f'name="{spec.name}"' in page for spec in filters)
    assert 'name="subject" value="222"' in page
    assert 'name="invalid" value="true" checked' in page
    assert '<input type="hidden" name="sort" value="name">' in page  # a new search keeps them
    assert '<input type="hidden" name="limit" value="5">' in page
    assert "assetlake find --subject 222 --invalid --sort name --limit 5" in page
