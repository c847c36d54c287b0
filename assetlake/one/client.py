"""``LakeOne``: IBL's ONE client reading a lake, so ``one.search``/``load_object`` work unchanged.

Its cache tables are the lake's published ``one/`` tables, fetched again whenever the published
catalogue changes; its files come from the lake through assetlake's store, only when a load asks
for them, into ONE's cache folder, each checked against the asset's manifest (size and SHA-256)
before it takes its name there. It only reads: nothing here can write to the lake.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
from one.api import One

from assetlake.asset import MANIFEST, ManifestEntry
from assetlake.asset import Manifest as AssetManifest
from assetlake.catalogue.db import cache_folder
from assetlake.catalogue.publish import MANIFEST as PUBLISHED
from assetlake.catalogue.publish import PREFIX
from assetlake.document import read_document
from assetlake.download import copy_verified
from assetlake.errors import CatalogueError, IntegrityError, LakeError
from assetlake.one.tables import DATASETS, FOLDER, SESSIONS, safe_parts
from assetlake.problems import Problem
from assetlake.store import Store, normalise_lake_url, open_store

#: Written beside the tables: which published catalogue they came from.
STAMP = ".assetlake-one.json"
#: How often a long-lived client asks the lake whether its catalogue changed (one small GET).
CHECK_EVERY = 60.0


class LakeOne(One):
    """A local-mode ONE whose tables and files come from ``lake`` (default ``$ASSETLAKE_LAKE``);
    ``cache_dir`` defaults to ``<assetlake cache>/one/<lake digest>``."""

    def __init__(
        self, lake: str | None = None, *, cache_dir: str | Path | None = None, **kwargs: Any
    ) -> None:
        self._store = open_store(lake or os.environ.get("ASSETLAKE_LAKE"))
        folder = Path(cache_dir) if cache_dir else default_cache_dir(self._store.url)
        folder.mkdir(parents=True, exist_ok=True)
        self._manifests: dict[str, dict[str, ManifestEntry]] = {}
        self._catalogue = sync_tables(self._store, folder)
        self._checked = time.monotonic()
        super().__init__(cache_dir=folder, mode="local", **kwargs)

    @property
    def lake(self) -> str:
        return self._store.url

    def refresh_cache(self) -> bool:
        """Fetch the lake's tables again if they changed and reload them; whether they had."""
        self._checked = time.monotonic()
        catalogue = sync_tables(self._store, Path(self._tables_dir))
        if catalogue == self._catalogue:
            return False
        self._catalogue = catalogue
        self._manifests.clear()
        self.load_cache()
        return True

    def search(self, details: bool = False, **kwargs: Any) -> Any:
        if time.monotonic() - self._checked > CHECK_EVERY:
            self.refresh_cache()
        return super().search(details=details, **kwargs)

    def _check_filesystem(
        self,
        datasets: Any,
        offline: bool | None = None,
        update_exists: bool = True,
        check_hash: bool = True,
    ) -> Any:
        """Fetch the requested datasets that are not in the cache folder, then let ONE list them."""
        for target, rel_path, size in self._wanted(datasets):
            if not target.exists() or (size and target.is_file() and target.stat().st_size != size):
                self._fetch(rel_path, target)
        return super()._check_filesystem(
            datasets, offline=True, update_exists=update_exists, check_hash=check_hash
        )

    def _wanted(self, datasets: Any) -> list[tuple[Path, str, int]]:
        """(cache path, rel_path, expected size) of each dataset record ONE asks for. The path is
        built by ONE from table values that come from the bucket, so it must resolve inside the
        cache folder before anything is written there."""
        if isinstance(datasets, pd.Series):
            datasets = pd.DataFrame([datasets])
        if not isinstance(datasets, pd.DataFrame):
            return []
        table = self._cache["datasets"]
        cache = Path(self.cache_dir).resolve()
        wanted = []
        for index, row in datasets.iterrows():
            eid = index[0] if isinstance(index, tuple) else table.xs(index, level="id").index[0]
            session = self.eid2path(eid)
            rel_path = row["rel_path"]
            target = None
            if session is not None and isinstance(rel_path, str) and safe_parts(rel_path):
                target = Path(session).joinpath(*rel_path.split("/")).resolve()
            if target is None or not target.is_relative_to(cache) or target == cache:
                raise IntegrityError(
                    f"dataset {rel_path!r} of lake {self.lake} has no safe place in the cache "
                    f"{cache}; ask the lake's steward to run `assetlake index --publish` again"
                )
            size = row.get("file_size")
            wanted.append((target, rel_path, int(size) if pd.notna(size) else 0))
        return wanted

    def _fetch(self, rel_path: str, target: Path) -> None:
        """Download one file, or every object of a Zarr folder, checked against the manifest."""
        asset, _, inner = rel_path.partition("/")
        objects = self._manifest(asset)
        if inner in objects:
            target.parent.mkdir(parents=True, exist_ok=True)
            copy_verified(self._store, asset, objects[inner], target)
            return
        inside = [e for path, e in objects.items() if path.startswith(inner + "/")]
        if not inside:
            raise IntegrityError(
                f"{rel_path} is not in the manifest of asset {asset} in {self.lake}; "
                f"run `assetlake verify {asset} --lake {self.lake}`"
            )
        # The folder is filled under a temporary name and renamed once every object is checked,
        # so a folder under its own name is always whole (a failed fetch leaves none).
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.assetlake-tmp-{uuid.uuid4().hex[:8]}")
        try:
            for entry in inside:
                below = entry.path[len(inner) + 1 :]
                if safe_parts(below):
                    file = partial.joinpath(*below.split("/"))
                    file.parent.mkdir(parents=True, exist_ok=True)
                    copy_verified(self._store, asset, entry, file)
            partial.mkdir(exist_ok=True)
            os.replace(partial, target)
        finally:
            shutil.rmtree(partial, ignore_errors=True)

    def _manifest(self, asset: str) -> dict[str, ManifestEntry]:
        if asset not in self._manifests:
            data = self._store.get(f"{asset}/{MANIFEST}")
            try:
                manifest = AssetManifest.from_bytes(data or b"")
            except ValueError as error:
                raise IntegrityError(
                    f"asset {asset} in {self.lake} has no readable {MANIFEST} ({error}), so its "
                    f"files cannot be checked; run `assetlake verify {asset} --lake {self.lake}`"
                ) from None
            self._manifests[asset] = {entry.path: entry for entry in manifest.objects}
        return self._manifests[asset]


def default_cache_dir(lake_url: str) -> Path:
    """One ONE cache folder per lake, named like the lake's catalogue file."""
    digest = hashlib.sha1(normalise_lake_url(lake_url).encode()).hexdigest()[:16]
    return cache_folder() / "one" / digest


def sync_tables(store: Store, folder: Path) -> str | None:
    """Bring ``folder``'s ``sessions.pqt``/``datasets.pqt`` up to the lake's published ones and
    return the fingerprint of the catalogue they come from. Tables already here serve when the
    lake cannot be reached."""
    stamp = folder / STAMP
    have = (folder / SESSIONS).exists() and (folder / DATASETS).exists()
    try:
        published = store.get(PUBLISHED)
    except LakeError:
        if have:
            return _stamp(stamp)
        raise
    if published is None:
        raise CatalogueError(
            f"lake {store.url} has no published catalogue; ask its steward to run "
            f"`assetlake index --publish --lake {store.url}`"
        )
    fingerprint = hashlib.sha256(published).hexdigest()
    if have and _stamp(stamp) == fingerprint:
        return fingerprint
    tables = {}
    for name in (SESSIONS, DATASETS):
        data = store.get(PREFIX + FOLDER + name)
        if data is None or not _readable(data):
            raise CatalogueError(
                f"lake {store.url} has no readable {PREFIX}{FOLDER}{name}; ask its steward to "
                f"run `assetlake index --publish --lake {store.url}` with this assetlake"
            )
        tables[name] = data
    for name, data in tables.items():
        _replace(folder / name, data)
    _replace(stamp, json.dumps({"lake": store.url, "catalogue": fingerprint}).encode())
    return fingerprint


def _stamp(path: Path) -> str | None:
    try:
        document = read_document(path.name, path.read_bytes())
    except OSError:
        return None
    value = None if isinstance(document, Problem) else document.get("catalogue")
    return value if isinstance(value, str) else None


def _readable(data: bytes) -> bool:
    """A Parquet table ONE will load: it carries ONE's metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_schema(pa.BufferReader(data)).metadata or {}
        document = read_document("one_metadata", metadata[b"one_metadata"])
    except (pa.ArrowException, KeyError):
        return False
    return not isinstance(document, Problem) and "date_created" in document


def _replace(path: Path, data: bytes) -> None:
    # Not ``*.pqt``: ONE loads every such file in its folder, a half-written one included.
    tmp = path.with_name(f".{path.name}.assetlake-tmp-{uuid.uuid4().hex[:8]}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
