"""Planning a search: a pure function of the :class:`Query` and a few catalogue statistics.

:func:`plan` decides which index a search walks and whether it runs in one pass or two, and writes
the SQL; it touches no database, so every decision is unit-tested on plain values. Sorted by
acquired time with a limit, a search over free text or one modality runs in two passes: the first
``limit`` matches in id order (which walks an index and stops early, see
:mod:`assetlake.catalogue.ids`), plus the matches sharing the last one's second; the second pass
sorts those few exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from assetlake.catalogue.ids import SLOT_BITS, second
from assetlake.catalogue.query import Query, fts_query

#: A genotype search with at most this many matching assets reads them all through the genotype
#: index and sorts them; more, and walking the acquired index until ``limit`` matches is cheaper.
FEW_MATCHES = 2000
#: A subject pattern: ``*`` and ``?`` are GLOB wildcards, anything else an exact subject.
WILDCARD = re.compile(r"[*?]")


@dataclass(frozen=True)
class Statistics:
    """What planning needs to know of the catalogue: the known genotypes matching the query's
    (with how many assets have each; None without a genotype filter), and whether id order is
    acquired order for every asset."""

    genotypes: dict[str, int] | None
    ordered: bool


@dataclass(frozen=True)
class Plan:
    """A search in parts: run as one sorted query, or (``key`` set) as the two-pass search."""

    prefix: str
    source: str
    where: tuple[str, ...]
    params: tuple[Any, ...]
    order: str
    key: str | None
    descending: bool
    limit: int | None

    def sql(self, select: str, *, order: str, extra: str = "", limit: bool = False) -> str:
        """The statement selecting the columns ``select``."""
        conditions = [*self.where, extra] if extra else list(self.where)
        sql = f"{self.prefix}SELECT {select} FROM {self.source}"
        if conditions:
            sql += " WHERE " + " AND ".join(conditions)
        if order:
            sql += f" ORDER BY {order}"
        return sql + (" LIMIT ?" if limit else "")

    def statement(self, select: str) -> tuple[str, list[Any]]:
        """The sorted query, or the first pass of the two-pass search (id order, id first)."""
        limit_params = [] if self.limit is None else [self.limit]
        if self.key is None:
            sql = self.sql(select, order=self.order, limit=self.limit is not None)
        else:
            direction = " DESC" if self.descending else ""
            sql = self.sql(f"{self.key}, {select}", order=self.key + direction, limit=True)
        return sql, [*self.params, *limit_params]

    def ties(self, select: str) -> str:
        """The second pass: every match within one second (two id bounds follow the params)."""
        return self.sql(f"{self.key}, {select}", order="", extra=f"{self.key} BETWEEN ? AND ?")


def plan(query: Query, statistics: Statistics) -> Plan:
    """The plan of ``query`` over a catalogue with ``statistics``."""
    where: list[str] = []
    params: list[Any] = []
    prefix = ""
    genotypes = statistics.genotypes if query.genotype is not None else None
    # A rare genotype's few assets are read through its index and sorted; walking the
    # acquired index (or ids, below) for them would read most of the catalogue.
    rare = genotypes is not None and sum(genotypes.values()) <= FEW_MATCHES
    by_time = query.sort_key == "acquired" and query.limit is not None
    source, key = "assets a", None
    if rare and not query.subject and not query.derived_from:
        source = "assets a INDEXED BY assets_genotype"
    elif by_time and not rare and statistics.ordered:
        # Other searches have an index in sort order already; these two would sort every match.
        if query.text is not None:
            source, key = "documents_fts f JOIN assets a ON a.id = f.rowid", "f.rowid"
        elif len(query.modality) == 1:
            source, key = "asset_modalities m JOIN assets a ON a.id = m.asset", "m.asset"

    subjects = query.subject
    exact = [s for s in subjects if not WILDCARD.search(s)]
    patterns = [re.sub(r"([\[\]])", r"[\1]", s) for s in subjects if WILDCARD.search(s)]
    if subjects:
        tests = [f"a.subject_id IN ({_placeholders(exact)})"] if exact else []
        tests += ["a.subject_id GLOB ?"] * len(patterns)
        where.append("(" + " OR ".join(tests) + ")")
        params += exact + patterns
    if key == "m.asset":
        where.append("m.modality = ?")
        params += query.modality
    elif query.modality:
        where.append(
            "EXISTS (SELECT 1 FROM asset_modalities m WHERE m.asset = a.id "
            f"AND m.modality IN ({_placeholders(query.modality)}))"
        )
        params += query.modality
    if query.project:
        where.append(f"a.project IN ({_placeholders(query.project)})")
        params += query.project
    for moment, test in ((query.after, ">="), (query.before, "<")):
        if moment is not None:
            where.append(f"a.acquired_at {test} ?")
            params.append(moment)
            if key is not None:
                where.append(f"{key} {test} ?")
                params.append(_first_id(moment))
    if query.level is not None:
        where.append("a.level = ?")
        params.append(str(query.level))
    if query.derived_from:
        prefix = (
            "WITH RECURSIVE descendants(id) AS ("
            f"SELECT asset FROM asset_sources WHERE source IN ({_placeholders(query.derived_from)}) "
            "UNION SELECT s.asset FROM asset_sources s JOIN assets p ON p.name = s.source "
            "JOIN descendants d ON p.id = d.id) "
        )
        where.append("a.id IN (SELECT id FROM descendants)")
        params = [*query.derived_from, *params]
    if query.species:
        where.append(f"a.species IN ({_placeholders(query.species)})")
        params += query.species
    if genotypes is not None:
        # A common genotype walks assets_acquired, which stops after ``limit`` matches; the
        # genotype index (which ``+`` turns off) would read and sort every one of them.
        walk = "+" if by_time and not rare else ""
        where.append(f"{walk}a.genotype IN ({_placeholders(list(genotypes))})")
        params += genotypes
    if query.invalid:
        where.append("a.status = 'invalid'")
    if query.text is not None:
        if key == "f.rowid":
            where.append("documents_fts MATCH ?")
        else:
            where.append("a.id IN (SELECT rowid FROM documents_fts WHERE documents_fts MATCH ?)")
        params.append(fts_query(query.text))
    values = query.cursor_values()
    if values is not None:
        condition, bound = keyset(query.order, values, descending=query.descending)
        where.append(condition)
        params += bound
        if key is not None and values[0] is not None:
            # Ids in order: start the walk at the cursor's second, not at the first asset.
            try:
                first = _first_id(values[0])
            except (TypeError, ValueError):  # a forged cursor: its time is not a stored one
                raise query.cursor_error() from None
            where.append(f"{key} {'<' if query.descending else '>='} ?")
            params.append(first + (1 << SLOT_BITS if query.descending else 0))

    direction = " DESC" if query.descending else ""
    order = ", ".join(column + direction for column in query.order)
    return Plan(
        prefix, source, tuple(where), tuple(params), order, key, query.descending, query.limit
    )


def keyset(
    columns: tuple[str, ...], values: list[Any], *, descending: bool
) -> tuple[str, list[Any]]:
    """The condition "sorts after ``values``" on ``columns`` in SQLite's order (NULL first
    ascending, last descending), comparing columns left to right."""
    alternatives, params = [], []
    for i, (column, value) in enumerate(zip(columns, values, strict=True)):
        if value is None:
            beyond, bound = (None, []) if descending else (f"{column} IS NOT NULL", [])
        elif descending:
            beyond, bound = f"({column} < ? OR {column} IS NULL)", [value]
        else:
            beyond, bound = f"{column} > ?", [value]
        if beyond is None:
            continue
        equal = [f"{c} IS ?" for c in columns[:i]]
        alternatives.append("(" + " AND ".join([*equal, beyond]) + ")")
        params += [*values[:i], *bound]
    return "(" + (" OR ".join(alternatives) or "0") + ")", params


def _first_id(moment: str) -> int:
    return second(moment) << SLOT_BITS


def _placeholders(values: Any) -> str:
    return ", ".join("?" * len(values))
