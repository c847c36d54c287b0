"""The record schema declared once: a catalogue built with other fields is refused, never misread,
and a newly declared field flows to SQLite, ``find --format json`` and the published Parquet."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from test_catalogue import RAW_A, RAW_B, record, sample

from assetlake.catalogue import SCHEMA, Catalogue, Level, Record, Schema, Status
from assetlake.catalogue import schema as record_schema
from assetlake.catalogue.publish import ASSETS, publish_catalogue
from assetlake.catalogue.record import column
from assetlake.errors import CatalogueError

#: A record with one more field, declared the way a newcomer declares one.
Coloured = dataclasses.make_dataclass(
    "Record",
    [
        (
            "colour",
            str | None,
            dataclasses.field(default=None, metadata=column("string", sql="TEXT")),
        )
    ],
    bases=(Record,),
)


@pytest.fixture
def coloured(monkeypatch: pytest.MonkeyPatch) -> Schema:
    schema = Schema(Coloured)
    monkeypatch.setattr(record_schema, "SCHEMA", schema)
    return schema


def test_rows_are_stored_in_field_order(tmp_path: Path) -> None:
    """A row is its values in field order (the digest, which lists the fields in order, refuses a
    file of other fields), without the document."""
    with Catalogue(tmp_path / "c.sqlite") as cat:
        cat.upsert(sample())
        (encoded,) = cat.db.execute("SELECT record FROM assets WHERE name = ?", (RAW_B,)).fetchone()
    stored = json.loads(encoded)
    assert isinstance(stored, list) and len(stored) == len(SCHEMA.encoded)
    values = dict(zip(SCHEMA.encoded, stored, strict=True))
    assert values["species"] == "Rattus norvegicus" and values["name"] == RAW_B
    assert "metadata" not in SCHEMA.encoded


def test_a_catalogue_built_with_other_fields_is_refused(tmp_path: Path, monkeypatch) -> None:
    old = tmp_path / "old.sqlite"
    with Catalogue(old) as cat:
        cat.upsert(sample())
    monkeypatch.setattr(record_schema, "SCHEMA", Schema(Coloured))
    for readonly in (False, True):
        with pytest.raises(CatalogueError) as refused:
            Catalogue(old, readonly=readonly)
        message = str(refused.value)
        assert "\n" not in message
        assert message.startswith(f"catalogue {old} was built with other record fields")
        assert message.endswith(f"delete {old} and re-index with 'assetlake index'")
    monkeypatch.undo()
    new = tmp_path / "new.sqlite"
    monkeypatch.setattr(record_schema, "SCHEMA", Schema(Coloured))
    Catalogue(new).close()
    monkeypatch.undo()
    with pytest.raises(CatalogueError, match="was built with other record fields"):
        Catalogue(new)
    with Catalogue(old, readonly=True) as cat:  # the schema it was built with reads it
        assert cat.get(RAW_B) == sample()[1]


def test_a_new_field_flows_to_sqlite_find_json_and_parquet(
    coloured: Schema, tmp_path: Path, local_lake: str, cli: Any
) -> None:
    path = tmp_path / "c.sqlite"
    blue = Coloured(**dataclasses.asdict(record(RAW_A, level="raw", size=3)), colour="blue")
    with Catalogue(path) as cat:
        cat.upsert([blue, Coloured(**dataclasses.asdict(record(RAW_B, level="raw")))])
        assert "colour" in [row[1] for row in cat.db.execute("PRAGMA table_info(assets)")]
        assert cat.db.execute("SELECT name FROM assets WHERE colour = 'blue'").fetchall() == [
            (RAW_A,)
        ]
        assert cat.get(RAW_A) == blue
        published = publish_catalogue(cat, local_lake)
    assert published.assets == 2
    done = cli("find", "--catalogue", path, "--format", "json", "--sort", "name")
    assert done.code == 0, done.err
    assert [r["colour"] for r in json.loads(done.out)] == ["blue", None]
    table = pq.read_table(Path(local_lake) / ASSETS)
    assert table.schema.field("colour").type == "string"
    assert table.column("colour").to_pylist() == ["blue", None]
    assert coloured.from_parquet(table.to_pylist()[0]) == blue


def test_level_and_status_are_enums_and_plain_strings_in_json(tmp_path: Path) -> None:
    with Catalogue(tmp_path / "c.sqlite") as cat:
        cat.upsert(sample())
        found = cat.get(RAW_B)
    assert found is not None
    assert (found.level, found.status) == (Level.RAW, Status.INVALID)
    assert json.loads(json.dumps(found.without_metadata()))["level"] == "raw"
    assert "sources" in found.without_metadata()
    db = sqlite3.connect(tmp_path / "c.sqlite")
    assert db.execute("SELECT DISTINCT typeof(level) FROM assets").fetchall() == [("text",)]
    db.close()
    assert record("x_1_2024-01-01_00-00-00", level="derived", source="y").sources == ["y"]
