"""One Query: validated when built, round-tripped through HTTP-style parameters, planned by a pure
function (tested here without a database), paged by a keyset cursor, and the only source of
``find``'s options."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from test_catalogue import CURATED, RAW_A, RAW_B, SORTED, crowd, names, record, sample

from assetlake.catalogue import Catalogue, Level, Query
from assetlake.catalogue.plan import FEW_MATCHES, Statistics, keyset, plan
from assetlake.catalogue.query import MAX_CURSOR_CHARS, MAX_VALUE_CHARS
from assetlake.cli.cmd_find import command as find_command
from assetlake.errors import QueryError

ORDERED = Statistics(genotypes=None, ordered=True)


def test_query_is_frozen_and_normalised() -> None:
    query = Query(subject="111", level="raw", after="2024-03-01T14:05:09-08:00", limit=5)
    assert query.subject == ("111",)
    assert query.level is Level.RAW
    assert query.after == "2024-03-01T22:05:09"
    assert query == Query(subject=["111"], level=Level.RAW, after="2024-03-01T22:05:09Z", limit=5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        query.limit = 6  # type: ignore[misc]
    assert Query() == Query(sort="acquired", invalid=False)


@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ({"level": "cooked"}, "level 'cooked' is not known; use raw or derived"),
        ({"sort": "colour"}, "sort key 'colour' is not known"),
        ({"limit": 0}, "limit 0 must be a positive whole number"),
        ({"text": "( )"}, "has no searchable words"),
        ({"genotype": " "}, "genotype is empty"),
        ({"after": "0001-01-01T00:00:00+14:00"}, "falls outside the years 1 to 9999 in UTC"),
        ({"before": "9999-12-31T23:59:59-14:00"}, "falls outside the years 1 to 9999 in UTC"),
        ({"cursor": "bm9wZQ=="}, "is not a cursor of this search"),
    ],
)
def test_bad_queries_are_one_line(keywords: dict[str, Any], message: str) -> None:
    with pytest.raises(QueryError, match=message) as refused:
        Query(**keywords)
    assert "\n" not in str(refused.value)


def cursor(document: Any) -> str:
    """A cursor holding ``document`` (JSON text as is), as a hostile URL or command line gives."""
    text = document if isinstance(document, str) else json.dumps(document)
    return base64.urlsafe_b64encode(text.encode()).decode()


#: Cursors the audit crafted, each of which raised out of the search (RecursionError,
#: sqlite3.ProgrammingError, OverflowError, ValueError) instead of one line.
HOSTILE_CURSORS = {
    "nested": cursor("[" * 100_000 + "]" * 100_000),
    "nested values": cursor('["acquired", [' + "[" * 5000 + "]" * 5000 + ', "x"]]'),
    "object value": cursor(["acquired", [{"a": 1}, RAW_A]]),
    "beyond 64 bits": cursor(["acquired", [1 << 70, RAW_A]]),
    "float": cursor(["acquired", [1.5, RAW_A]]),
    "NaN": cursor('["acquired", [NaN, "x"]]'),
    "duplicate keys": cursor('{"a": 1, "a": 2}'),
    "one value": cursor(["acquired"]),
    "not UTF-8": base64.urlsafe_b64encode(b'["acquired", ["\xff", "x"]]').decode(),
    "not ASCII": "\u00e9" * 8,
    "too long": cursor(["acquired", ["x" * MAX_CURSOR_CHARS, RAW_A]]),
}


@pytest.mark.parametrize("hostile", HOSTILE_CURSORS.values(), ids=HOSTILE_CURSORS)
def test_a_hostile_cursor_is_one_line_and_never_reaches_sqlite(
    tmp_path: Path, hostile: str
) -> None:
    with pytest.raises(QueryError, match="is not a cursor of this search") as refused:
        Query(cursor=hostile)
    assert "\n" not in str(refused.value)


def test_a_forged_time_in_a_cursor_is_one_line(tmp_path: Path) -> None:
    """Sorted by time with a limit over free text, a search walks ids from the cursor's second:
    a forged time there raised ValueError out of the planner."""
    with Catalogue(tmp_path / "c.sqlite") as cat:
        cat.upsert(sample())
        for value in ("not a time", "9999-99-99"):
            query = Query(text="probe", limit=1, cursor=cursor(["acquired", [value, RAW_A]]))
            with pytest.raises(QueryError, match="is not a cursor of this search"):
                cat.page(query)


def test_the_api_refuses_a_deep_cursor_with_400_and_one_line(catalogue_file: Path) -> None:
    from starlette.testclient import TestClient

    from assetlake.web.app import create_app
    from assetlake.web.site import Site

    deep = cursor("[" * 5000 + "]" * 5000)
    assert len(deep) <= MAX_CURSOR_CHARS
    with TestClient(create_app(Site(catalogue_file))) as client:
        response = client.get("/api/assets", params={"cursor": deep})
        page = client.get("/", params={"cursor": deep})
    assert response.status_code == 400
    (message,) = response.json().values()
    assert message.startswith("cursor ") and "is not a cursor of this search" in message
    assert "\n" not in message
    assert page.status_code == 400 and "is not a cursor of this search" in page.text


def test_a_cursor_longer_than_other_parameters_still_pages_the_site(tmp_path: Path) -> None:
    """A cursor carries a page's last sort values (a subject id and a name may be long): it is
    bounded by its own limit, not by the 200 characters of a filter value."""
    long_subject = "s" * 150
    with Catalogue(tmp_path / "c.sqlite") as cat:
        cat.upsert([record(n, level="raw", subject_id=long_subject) for n in (RAW_A, RAW_B)])
        page = cat.page(Query(sort="subject", limit=1))
    assert page.cursor is not None and len(page.cursor) > MAX_VALUE_CHARS
    query = Query.from_params({"sort": "subject", "limit": "1", "cursor": page.cursor})
    assert query.cursor_values() is not None


def test_params_round_trip() -> None:
    queries = [
        Query(),
        Query(subject=["1*", "222"], modality="ecephys", level="derived", invalid=True, limit=7),
        Query(text="probe drift", after="2024-01-01", before="2024-06-01", sort="-size"),
        Query(derived_from=[RAW_A], species="Mus musculus", genotype="sst", project="VC"),
        Query(limit=2).next_page(["2024-01-01T00:00:00", RAW_A]),
    ]
    for query in queries:
        params = query.to_params()
        assert all(isinstance(v, str | list) for v in params.values())
        assert Query.from_params(params) == query
    assert Query.from_params({"limit": "3", "invalid": "true"}) == Query(limit=3, invalid=True)
    with pytest.raises(QueryError, match="unknown filter 'colour'; use one of text, subject"):
        Query.from_params({"colour": "blue"})
    with pytest.raises(QueryError, match="limit 'many' must be a whole number at least 1"):
        Query.from_params({"limit": "many"})
    with pytest.raises(QueryError, match="level is given 2 times; give it once"):
        Query.from_params({"level": ["raw", "derived"]})


def test_params_from_untrusted_text_are_bounded() -> None:
    """What a URL or a form sends: blanks left out, on/off checkboxes, bounded sizes and counts."""
    given = {"subject": ["", " 111 "], "genotype": "", "invalid": "on", "limit": "5"}
    assert Query.from_params(given) == Query(subject="111", invalid=True, limit=5)
    with pytest.raises(QueryError, match="limit '5000' must be a whole number from 1 to 1000"):
        Query.from_params({"limit": "5000"}, max_limit=1000)
    with pytest.raises(QueryError, match="subject is given 21 times; give it at most 20 times"):
        Query.from_params({"subject": [str(n) for n in range(21)]})
    with pytest.raises(QueryError, match="text is longer than 200 characters"):
        Query.from_params({"text": "x" * 201})
    with pytest.raises(QueryError, match=r"^after 'soon' is not a date") as refused:
        Query.from_params({"after": "soon"})
    assert str(refused.value.renamed("--after")).startswith("--after 'soon' is not a date")


def test_a_last_full_page_has_no_cursor(tmp_path: Path) -> None:
    cat = Catalogue(tmp_path / "c.sqlite")
    cat.upsert(crowd(6))
    first = cat.page(Query(sort="name", limit=3))
    assert first.cursor is not None
    last = cat.page(Query(sort="name", limit=3, cursor=first.cursor))
    assert len(last.records) == 3 and last.cursor is None
    assert names(first.records) + names(last.records) == names(cat.find(sort="name"))


def test_find_options_are_generated_from_the_query() -> None:
    options = {opt for param in find_command.params for opt in param.opts}
    for spec in dataclasses.fields(Query):
        flag = "--" + spec.name.replace("_", "-")
        if spec.name == "text":
            assert "text" in options
        else:
            assert (flag in options) is spec.metadata["cli"], flag


def test_plan_is_pure() -> None:
    limited = plan(Query(text="probe", limit=10), ORDERED)
    assert (limited.key, limited.source.split()[0]) == ("f.rowid", "documents_fts")
    assert plan(Query(text="probe"), ORDERED).key is None  # no limit: one sorted pass
    assert plan(Query(text="probe", limit=10), Statistics(None, ordered=False)).key is None
    assert plan(Query(modality="ecephys", limit=10), ORDERED).key == "m.asset"
    assert plan(Query(modality=["a", "b"], limit=10), ORDERED).key is None
    rare = Statistics(genotypes={"Sst-IRES-Cre/wt": FEW_MATCHES}, ordered=True)
    common = Statistics(genotypes={"Sst-IRES-Cre/wt": FEW_MATCHES + 1}, ordered=True)
    assert "INDEXED BY assets_genotype" in plan(Query(genotype="sst", limit=5), rare).source
    walk = plan(Query(genotype="sst", limit=5), common)
    assert walk.source == "assets a" and "+a.genotype IN (?)" in walk.where
    by_subject = plan(Query(genotype="sst", subject="1", limit=5), rare)
    assert by_subject.source == "assets a"
    sql, params = plan(Query(subject=["1*", "2"], level="raw", limit=3), ORDERED).statement(
        "a.name"
    )
    assert sql == (
        "SELECT a.name FROM assets a WHERE (a.subject_id IN (?) OR a.subject_id GLOB ?) "
        "AND a.level = ? ORDER BY a.acquired_at, a.name LIMIT ?"
    )
    assert params == ["2", "1*", "raw", 3]


def test_keyset_orders_nulls_like_sqlite() -> None:
    """NULL sorts first ascending and last descending, so "after NULL" differs by direction."""
    assert keyset(("a.size", "a.name"), [None, "n"], descending=False) == (
        "((a.size IS NOT NULL) OR (a.size IS ? AND a.name > ?))",
        [None, "n"],
    )
    assert keyset(("a.size", "a.name"), [None, "n"], descending=True) == (
        "((a.size IS ? AND (a.name < ? OR a.name IS NULL)))",
        [None, "n"],
    )
    assert keyset(("a.size", "a.name"), [3, "n"], descending=True) == (
        "(((a.size < ? OR a.size IS NULL)) OR (a.size IS ? AND (a.name < ? OR a.name IS NULL)))",
        [3, 3, "n"],
    )


@pytest.mark.parametrize("sort", ["acquired", "-acquired", "name", "subject", "-size", "processed"])
def test_pages_by_cursor_are_the_full_result(tmp_path: Path, sort: str) -> None:
    cat = Catalogue(tmp_path / "c.sqlite")
    records = crowd(120)
    for i, r in enumerate(records):
        r.size = i % 5
        r.subject_id = None if i % 4 == 0 else f"s{i % 3}"
    cat.upsert(records)
    for filters in ({}, {"text": "probe"}, {"modality": "ecephys"}):
        everything = names(cat.find(**filters, sort=sort))
        for size in (1, 7, 50):
            seen: list[str] = []
            query: Query | None = Query(**filters, sort=sort, limit=size)
            while query is not None:
                page = cat.page(query)
                seen += names(page.records)
                query = dataclasses.replace(query, cursor=page.cursor) if page.cursor else None
            assert seen == everything, (filters, size)


def test_every_source_of_a_multi_source_asset_is_followed(tmp_path: Path) -> None:
    merged = f"{SORTED}_merged_2024-03-06_10-00-00"
    cat = Catalogue(tmp_path / "c.sqlite")
    cat.upsert(
        [
            *sample(),
            record(
                merged,
                level="derived",
                source=SORTED,
                sources=[SORTED, RAW_B],
                processed="2024-03-06T10:00:00-08:00",
            ),
        ]
    )
    assert cat.get(merged).sources == [SORTED, RAW_B]
    assert names(cat.find(derived_from=RAW_B)) == [merged]
    assert merged in names(cat.find(derived_from=RAW_A))
    lineage = cat.lineage(merged)
    assert lineage.ancestors == [RAW_A, SORTED, RAW_B]
    assert [c.name for c in lineage.root.find(SORTED).children] == [CURATED, merged]
    assert [c.name for c in cat.lineage(RAW_B).root.children] == [merged]
    looped = record("x_1_2024-01-01_00-00-00", level="raw", sources=["y_1_2024-01-01_00-00-00"])
    back = record("y_1_2024-01-01_00-00-00", level="raw", sources=["x_1_2024-01-01_00-00-00"])
    cat.upsert([looped, back])  # a hostile cycle of sources ends
    assert cat.lineage(looped.name).ancestors == [back.name]
    assert cat.lineage(looped.name).to_dict()["tree"]["name"] == back.name
