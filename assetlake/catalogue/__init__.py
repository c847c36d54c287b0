"""The catalogue of a lake: records (:mod:`.record`) whose fields are the schema (:mod:`.schema`),
one :class:`Query` (:mod:`.query`) planned by a pure function (:mod:`.plan`) and run on the local
SQLite file (:mod:`.db`), and the published Parquet copy (:mod:`.publish`, loaded on demand).

Only the standard library is imported here, so ``assetlake find`` starts and answers fast.
"""

from assetlake.catalogue.db import (
    VERSION,
    Catalogue,
    Prepared,
    cache_folder,
    default_catalogue_path,
    flatten_text,
    prepare,
    writer_lock,
)
from assetlake.catalogue.query import SORT_KEYS, Page, Query, parse_moment
from assetlake.catalogue.record import Level, Lineage, LineageNode, Record, Status
from assetlake.catalogue.schema import SCHEMA, Schema

__all__ = [
    "SCHEMA",
    "SORT_KEYS",
    "VERSION",
    "Catalogue",
    "Level",
    "Lineage",
    "LineageNode",
    "Page",
    "Prepared",
    "Query",
    "Record",
    "Schema",
    "Status",
    "cache_folder",
    "default_catalogue_path",
    "flatten_text",
    "parse_moment",
    "prepare",
    "writer_lock",
]
