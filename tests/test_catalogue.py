"""The SQLite catalogue: every filter, the search rules, lineage, and the file's life cycle."""

from __future__ import annotations

import random
import re
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from assetlake.catalogue import Catalogue, Record, default_catalogue_path
from assetlake.catalogue import plan as plan_module
from assetlake.errors import AssetNotFoundError, CatalogueError, QueryError

LAKE = "s3://lab-lake"
RAW_A = "ecephys_111_2024-03-01_14-05-09"
RAW_B = "pophys_222_2024-04-10_09-00-00"
RAW_C = "behavior_1234_2023-12-31_23-00-00"
SORTED = f"{RAW_A}_sorted_2024-03-02_09-30-00"
CURATED = f"{SORTED}_curated_2024-03-05_10-00-00"
ANALYSIS = f"{CURATED}_analysis_2024-03-09_10-00-00"
OTHER = f"{RAW_A}_lfp_2024-03-03_08-00-00"


def record(name: str, **fields) -> Record:
    return Record(name=name, url=f"{LAKE}/{name}", **fields)


def sample() -> list[Record]:
    return [
        record(RAW_A, level="raw", modalities=["ecephys", "behavior-videos"], subject_id="111",
               acquired="2024-03-01T14:05:09-08:00", project="Visual Coding",
               species="Mus musculus", genotype="Sst-IRES-Cre/wt;Ai32(RCL-ChR2(H134R)_EYFP)/wt",
               size=300, status="valid",
               metadata={"acquisition": {"notes": "probe drift after 20 min; \"quoted\" AND more"}},
               contents=[{"path": "ecephys.zarr", "format": "zarr", "size": 300, "objects": 3}]),
        record(RAW_B, level="raw", modalities=["pophys"], subject_id="222",
               acquired="2024-04-10T09:00:00-07:00", project="Motor Learning",
               species="Rattus norvegicus", genotype="wt/wt", size=100, status="invalid",
               problems=[{"file": "subject.json", "path": "sex", "message": "missing",
                          "value": None, "severity": "error"}],
               metadata={"acquisition": {"notes": "stable imaging plane, GCaMP6f"}}),
        record(RAW_C, level="raw", modalities=["behavior"], subject_id="1234",
               acquired="2023-12-31T23:00:00", project="Visual Coding", species="mus MUSCULUS",
               genotype="Pvalb-IRES-Cre/wt", size=50, status="unverified",
               metadata={"subject": {"notes": "Café diet"}}),
        record(SORTED, level="derived", modalities=["ecephys"], subject_id="111",
               acquired="2024-03-01T14:05:09-08:00", source=RAW_A, label="sorted",
               processed="2024-03-02T09:30:00-08:00", size=200, status="valid",
               metadata={"processing": {"notes": "kilosort4 run"}}),
        record(CURATED, level="derived", modalities=["ecephys"], subject_id="111",
               acquired="2024-03-01T14:05:09-08:00", source=SORTED, label="curated",
               processed="2024-03-05T10:00:00-08:00", size=20, status="valid"),
        record(ANALYSIS, level="derived", modalities=["ecephys"], subject_id="111",
               acquired="2024-03-01T14:05:09-08:00", source=CURATED, label="analysis",
               processed="2024-03-09T10:00:00-08:00", size=10, status="valid"),
        record(OTHER, level="derived", modalities=["ecephys"], subject_id="111",
               acquired="2024-03-01T14:05:09-08:00", source=RAW_A, label="lfp",
               processed="2024-03-03T08:00:00-08:00", size=30, status="valid"),
    ]  # fmt: skip


@pytest.fixture
def catalogue(tmp_path: Path) -> Catalogue:
    cat = Catalogue(tmp_path / "cat.sqlite")
    cat.upsert(sample())
    return cat


def names(records: list[Record]) -> list[str]:
    return [r.name for r in records]


def test_round_trip_keeps_every_field(catalogue: Catalogue) -> None:
    original = sample()[1]
    assert catalogue.get(RAW_B) == original
    assert catalogue.get("nope_1_2024-01-01_00-00-00") is None
    assert catalogue.count() == 7
    assert catalogue.known_names() == {r.name for r in sample()}
    assert [r.to_dict() for r in catalogue.records()] == sorted(
        (r.to_dict() for r in sample()), key=lambda d: d["name"]
    )


def test_find_leaves_out_metadata_unless_full(catalogue: Catalogue) -> None:
    (found,) = catalogue.find(subject="222")
    assert found.metadata == {}
    assert found.problems[0]["message"] == "missing"
    assert catalogue.find(subject="222", full=True)[0].metadata["acquisition"]["notes"]


def test_upsert_replaces_and_remove_forgets_text(catalogue: Catalogue) -> None:
    changed = record(RAW_B, level="raw", subject_id="333", metadata={"x": "fresh words"})
    assert catalogue.upsert([changed]) == 1
    assert catalogue.count() == 7
    assert catalogue.get(RAW_B).subject_id == "333"
    assert catalogue.find(text="GCaMP6f") == []
    assert names(catalogue.find(text="fresh")) == [RAW_B]
    assert catalogue.remove([RAW_B, "unknown_1_2024-01-01_00-00-00"]) == 1
    assert catalogue.find(text="fresh") == []
    assert RAW_B not in catalogue.known_names()


def test_status_counts(catalogue: Catalogue, tmp_path: Path) -> None:
    assert catalogue.status_counts() == {"valid": 5, "invalid": 1, "unverified": 1}
    with Catalogue(tmp_path / "empty.sqlite") as empty:
        assert empty.status_counts() == {}


def test_subject_exact_wildcards_and_or(catalogue: Catalogue) -> None:
    assert names(catalogue.find(subject="222")) == [RAW_B]
    assert catalogue.find(subject="22") == []
    assert names(catalogue.find(subject="12*")) == [RAW_C]
    assert names(catalogue.find(subject=["222", "1234"])) == [RAW_C, RAW_B]
    assert names(catalogue.find(subject=["2?2", "1234"])) == [RAW_C, RAW_B]


def test_modality_matches_any_of_the_assets(catalogue: Catalogue) -> None:
    assert names(catalogue.find(modality="behavior-videos")) == [RAW_A]
    assert names(catalogue.find(modality=["pophys", "behavior"])) == [RAW_C, RAW_B]


def test_project_species_level_invalid(catalogue: Catalogue) -> None:
    assert names(catalogue.find(project="Visual Coding")) == [RAW_C, RAW_A]
    assert names(catalogue.find(species="MUS musculus")) == [RAW_C, RAW_A]
    assert names(catalogue.find(level="raw", sort="name")) == sorted([RAW_A, RAW_B, RAW_C])
    assert len(catalogue.find(level="derived")) == 4
    assert names(catalogue.find(invalid=True)) == [RAW_B]


def test_dates_and_times(catalogue: Catalogue) -> None:
    assert names(catalogue.find(after="2024-04-01")) == [RAW_B]
    assert names(catalogue.find(before="2024-01-01")) == [RAW_C]
    # 2024-03-01T14:05:09-08:00 is 22:05:09 UTC
    assert names(catalogue.find(after="2024-03-01T22:05:09Z", level="raw")) == [RAW_A, RAW_B]
    assert names(catalogue.find(after="2024-03-01T22:05:10+00:00", level="raw")) == [RAW_B]
    with pytest.raises(QueryError, match=r"^after '2024-13-01' is not a date; use YYYY-MM-DD"):
        catalogue.find(after="2024-13-01")
    with pytest.raises(QueryError, match=r"^before 'yesterday'"):
        catalogue.find(before="yesterday")


def test_derived_from_direct_and_transitive(catalogue: Catalogue) -> None:
    assert set(names(catalogue.find(derived_from=RAW_A))) == {SORTED, CURATED, ANALYSIS, OTHER}
    assert names(catalogue.find(derived_from=SORTED)) == [CURATED, ANALYSIS]
    assert names(catalogue.find(derived_from=[CURATED, RAW_B])) == [ANALYSIS]
    assert catalogue.find(derived_from=ANALYSIS) == []


def test_genotype_substring_any_case(catalogue: Catalogue) -> None:
    assert names(catalogue.find(genotype="sst-ires")) == [RAW_A]
    assert names(catalogue.find(genotype="IRES-Cre/wt")) == [RAW_C, RAW_A]
    assert names(catalogue.find(genotype="(H134R)_EY")) == [RAW_A]
    assert names(catalogue.find(genotype="wt", level="raw")) == [RAW_C, RAW_A, RAW_B]
    assert names(catalogue.find(genotype="_")) == [RAW_A]
    assert catalogue.find(genotype="%") == []
    with pytest.raises(QueryError, match="genotype is empty"):
        catalogue.find(genotype=" ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("probe drift", [RAW_A]),
        ("drift probe", [RAW_A]),
        ("PROBE", [RAW_A]),
        ('"quoted"', [RAW_A]),
        ("AND", [RAW_A]),
        ("kilo*", [SORTED]),
        ("kilosort4-run", [SORTED]),
        ("GCaMP6f NOT", []),
        ("cafe", [RAW_C]),
        ("probe OR stable", []),
        ("sst ( NEAR", []),
        ("111", [RAW_A, OTHER, SORTED, CURATED, ANALYSIS]),
    ],
)
def test_free_text_with_awkward_input(catalogue: Catalogue, text: str, expected: list[str]) -> None:
    assert names(catalogue.find(text=text)) == expected


@pytest.mark.parametrize("text", ["", "   ", "*", '""', "- ( ) :"])
def test_unsearchable_text(catalogue: Catalogue, text: str) -> None:
    with pytest.raises(QueryError, match="has no searchable words"):
        catalogue.find(text=text)


def test_sort_and_limit(catalogue: Catalogue) -> None:
    assert names(catalogue.find(sort="size", limit=3)) == [ANALYSIS, CURATED, OTHER]
    assert names(catalogue.find(sort="-size", limit=2)) == [RAW_A, SORTED]
    assert names(catalogue.find(sort="-name", limit=1)) == [RAW_B]
    assert names(catalogue.find(sort="subject", level="raw")) == [RAW_A, RAW_C, RAW_B]
    assert names(catalogue.find(sort="processed", level="derived")) == [
        SORTED, OTHER, CURATED, ANALYSIS
    ]  # fmt: skip
    assert names(catalogue.find(level="raw")) == [RAW_C, RAW_A, RAW_B]
    with pytest.raises(
        QueryError, match=r"sort key 'colour' is not known; use one of acquired, name"
    ):
        catalogue.find(sort="colour")
    for bad in (0, -1, True):
        with pytest.raises(QueryError, match="must be a positive whole number"):
            catalogue.find(limit=bad)
    with pytest.raises(QueryError, match="level 'cooked'"):
        catalogue.find(level="cooked")


def test_filters_combine_with_and(catalogue: Catalogue) -> None:
    found = catalogue.find(subject="111", level="derived", after="2024-01-01", text="kilosort4")
    assert names(found) == [SORTED]
    assert catalogue.find(subject="111", modality="pophys") == []


def test_lineage_from_any_generation(catalogue: Catalogue) -> None:
    lineage = catalogue.lineage(CURATED)
    assert lineage.ancestors == [RAW_A, SORTED]
    assert lineage.root.name == RAW_A
    assert [c.name for c in lineage.root.children] == [SORTED, OTHER]
    assert [c.name for c in lineage.descendants.children] == [ANALYSIS]
    assert catalogue.lineage(RAW_A).ancestors == []
    assert (
        catalogue.lineage(RAW_A).to_dict()["tree"]["children"][0]["children"][0]["name"] == CURATED
    )
    with pytest.raises(AssetNotFoundError, match="assetlake find"):
        catalogue.lineage("ecephys_9_2024-01-01_00-00-00")


def test_lineage_with_a_source_missing_from_the_catalogue(tmp_path: Path) -> None:
    cat = Catalogue(tmp_path / "c.sqlite")
    cat.upsert([record(CURATED, level="derived", source=SORTED)])
    lineage = cat.lineage(CURATED)
    assert lineage.ancestors == [SORTED]
    assert (lineage.root.name, lineage.root.known) == (SORTED, False)
    assert [c.name for c in lineage.root.children] == [CURATED]


def test_meta_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "cat.sqlite"
    with Catalogue(path) as cat:
        assert cat.meta("origin") is None
        cat.set_meta("origin", "index")
        cat.set_meta("origin", "published")
        cat.upsert(sample())
    with Catalogue(path, readonly=True) as cat:
        assert cat.meta("origin") == "published"
        assert cat.count() == 7


def test_unknown_version_and_garbage_and_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(
        CatalogueError, match=r"has version 99.*delete the file and run 'assetlake index'"
    ):
        Catalogue(path)
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"not a database at all" * 100)
    opened: list[sqlite3.Connection] = []
    real_connect = sqlite3.connect

    def connect(*args, **kwargs) -> sqlite3.Connection:
        opened.append(real_connect(*args, **kwargs))
        return opened[-1]

    monkeypatch.setattr(sqlite3, "connect", connect)
    for readonly in (False, True):
        with pytest.raises(
            CatalogueError,
            match=rf"^catalogue {re.escape(str(garbage))} cannot be read \(file is not a database\); "
            "delete it and run 'assetlake index'$",
        ):
            Catalogue(garbage, readonly=readonly)
    monkeypatch.undo()
    assert len(opened) == 2
    for db in opened:
        with pytest.raises(sqlite3.ProgrammingError, match="closed database"):
            db.execute("SELECT 1")
    with pytest.raises(CatalogueError, match="does not exist"):
        Catalogue(tmp_path / "missing.sqlite", readonly=True)
    assert not (tmp_path / "missing.sqlite").exists()


def test_default_catalogue_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import hashlib

    digest = hashlib.sha1(LAKE.encode()).hexdigest()[:16]
    monkeypatch.setenv("ASSETLAKE_CACHE", str(tmp_path / "c"))
    assert default_catalogue_path(LAKE) == tmp_path / "c" / f"{digest}.sqlite"
    monkeypatch.delenv("ASSETLAKE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert default_catalogue_path(LAKE) == tmp_path / "x" / "assetlake" / f"{digest}.sqlite"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "h"))
    assert (
        default_catalogue_path(LAKE) == tmp_path / "h" / ".cache" / "assetlake" / f"{digest}.sqlite"
    )


def test_default_catalogue_path_is_one_per_lake(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import hashlib

    monkeypatch.setenv("ASSETLAKE_CACHE", str(tmp_path / "c"))
    digest = hashlib.sha1(b"s3://b/raw").hexdigest()[:16]
    assert {
        default_catalogue_path(url) for url in ("s3://b/raw", "s3://b/raw/", "s3://b//raw")
    } == {tmp_path / "c" / f"{digest}.sqlite"}
    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
    monkeypatch.chdir(tmp_path / "one")
    lake = tmp_path / "one" / "lake"
    digest = hashlib.sha1(lake.as_uri().encode()).hexdigest()[:16]
    spellings = ("lake", "./lake", "lake/", str(lake), lake.as_uri())
    assert {default_catalogue_path(url) for url in spellings} == {
        tmp_path / "c" / f"{digest}.sqlite"
    }
    monkeypatch.chdir(tmp_path / "two")
    assert default_catalogue_path("lake") != tmp_path / "c" / f"{digest}.sqlite"


def test_queries_use_indexes(catalogue: Catalogue) -> None:
    def plan(**query) -> str:
        sql, params = catalogue.query(**query, limit=100)
        return " | ".join(r[3] for r in catalogue.db.execute(f"EXPLAIN QUERY PLAN {sql}", params))

    assert "USING INDEX assets_subject" in plan(subject="111")
    assert "USING COVERING INDEX asset_sources_source" in plan(derived_from=RAW_A)
    assert "SEARCH a USING INDEX assets_genotype" in plan(genotype="sst-ires")  # a rare one
    assert "USING INDEX assets_acquired" in plan(after="2024-01-01", before="2024-06-01")
    # The two-pass searches walk ids in order and stop: no sort of every match.
    assert plan(text="probe").startswith("SCAN f VIRTUAL TABLE")
    assert plan(modality="ecephys", after="2024-01-01", before="2024-06-01").startswith(
        "SEARCH m USING COVERING INDEX asset_modalities_modality (modality=? AND asset>? AND asset<?)"
    )
    for query in ({"text": "probe"}, {"modality": "ecephys"}):
        assert "TEMP B-TREE" not in plan(**query)


def crowd(n: int) -> list[Record]:
    """Records crowded into few seconds (and some with no time), so limits cut through ties."""
    rng = random.Random(7)
    moments = [f"2024-03-0{d}T1{h}:00:00-08:00" for d in range(1, 4) for h in range(4)]
    return [
        record(
            f"{rng.choice(['ecephys', 'pophys'])}_{i}_{rng.randrange(9)}_2024-03-01_14-05-09",
            level="raw",
            modalities=rng.sample(["ecephys", "pophys", "behavior"], rng.randint(1, 2)),
            acquired=rng.choice([*moments, None]),
            metadata={"notes": " ".join(rng.sample(["probe", "drift", "rig", "quiet"], 2))},
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("sort", ["acquired", "-acquired"])
def test_limited_searches_agree_with_the_full_sort(tmp_path: Path, sort: str) -> None:
    """The two-pass search (limit, sorted by acquired) returns the head of the full sort."""
    records = crowd(400)
    cat = Catalogue(tmp_path / "cat.sqlite")
    cat.upsert(records[:250])
    cat.upsert(records[250:])  # into a non-empty catalogue: ids join seconds already used
    cat.upsert(records[:20])  # replaced assets get new ids
    queries = [
        {"text": "probe"},
        {"text": "probe drift", "modality": "pophys"},
        {"modality": "ecephys"},
        {"modality": "behavior", "after": "2024-03-02", "before": "2024-03-03T19:00:00Z"},
        {"modality": ["ecephys", "behavior"]},
    ]
    for query in queries:
        everything = names(cat.find(**query, sort=sort))
        assert everything
        for limit in (1, 7, 30, 100, 1000):
            assert names(cat.find(**query, sort=sort, limit=limit)) == everything[:limit]
    (first,) = cat.find(text="probe", sort=sort, limit=1, full=True)
    assert first == cat.get(first.name)
    weird = record("ecephys_9_2024-03-01_14-05-09", level="raw", modalities=["ecephys"],
                   acquired="spring", metadata={"notes": "probe"})  # fmt: skip
    cat.upsert([weird])
    everything = names(cat.find(text="probe", sort=sort))
    assert everything[0 if sort.startswith("-") else -1] == weird.name
    assert names(cat.find(text="probe", sort=sort, limit=5)) == everything[:5]


@pytest.mark.parametrize("sort", ["acquired", "-acquired"])
def test_rare_and_common_genotypes_are_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sort: str
) -> None:
    """A rare genotype is read through its index and sorted, a common one walks the acquired
    index; both return the head of the full sort, with counts kept through replace and remove."""
    monkeypatch.setattr(plan_module, "FEW_MATCHES", 10)
    rng = random.Random(3)
    records = crowd(300)
    for i, r in enumerate(records):
        r.genotype = (
            "Tac1-IRES2-Cre/wt" if i % 40 == 0 else rng.choice(["Sst-IRES-Cre/wt", "wt/wt"])
        )
    cat = Catalogue(tmp_path / "cat.sqlite")
    cat.upsert(records[:200])
    cat.upsert(records[200:])
    records[1].genotype = "Tac1-IRES2-Cre/wt"
    cat.upsert(records[:60])
    cat.remove([records[40].name])
    kept = [r for r in records if r.name != records[40].name]
    counts = dict(cat.db.execute("SELECT genotype, assets FROM genotypes"))
    assert counts == Counter(r.genotype for r in kept)

    def plan(**query) -> str:
        sql, params = cat.query(**query, sort=sort, limit=5)
        return " | ".join(r[3] for r in cat.db.execute(f"EXPLAIN QUERY PLAN {sql}", params))

    assert plan(genotype="tac1").startswith("SEARCH a USING INDEX assets_genotype")
    assert plan(genotype="sst-ires") == "SCAN a USING INDEX assets_acquired"
    assert plan(genotype="tac1", text="probe").startswith("SEARCH a USING INDEX assets_genotype")
    rare = {r.name for r in kept if r.genotype.startswith("Tac1")}
    assert len(rare) == counts["Tac1-IRES2-Cre/wt"] == 8
    queries = [
        {"genotype": "tac1"},
        {"genotype": "TAC1-ires", "text": "probe"},
        {"genotype": "tac1", "modality": "ecephys"},
        {"genotype": "sst-ires"},
        {"genotype": "sst-ires", "modality": "pophys"},
        {"genotype": "no-such-genotype"},
    ]
    for query in queries:
        everything = names(cat.find(**query, sort=sort))
        for limit in (1, 3, 100):
            assert names(cat.find(**query, sort=sort, limit=limit)) == everything[:limit]
    assert set(names(cat.find(genotype="tac1", sort=sort))) == rare
    assert cat.find(genotype="no-such-genotype", limit=5) == []


def test_counts_by_modality_project_month_and_status(catalogue: Catalogue) -> None:
    counts = catalogue.counts()
    assert counts["modality"] == [
        ("ecephys", 5),
        ("behavior", 1),
        ("behavior-videos", 1),
        ("pophys", 1),
    ]
    assert counts["project"] == [("(none)", 4), ("Visual Coding", 2), ("Motor Learning", 1)]
    assert counts["month"] == [("2023-12", 1), ("2024-03", 5), ("2024-04", 1)]  # in UTC
    assert counts["status"] == [("valid", 5), ("invalid", 1), ("unverified", 1)]
    few = catalogue.counts(top=2)
    assert few["modality"] == [("ecephys", 5), ("(other)", 3)]
    assert few["month"] == [("2024-03", 5), ("2024-04", 1)]  # the latest months
