"""The Python API for rigs and pipelines: build an asset from sidecar models, then commit it.

The builder stages the asset in a local folder named by the grammar (from the models, so name and
metadata cannot disagree), writes data there in the formats of :mod:`assetlake.formats`, and
commits with :func:`assetlake.upload.upload_folder`, under the same rules as ``assetlake upload``.
Nothing reaches the lake before :meth:`AssetBuilder.commit`.

>>> with AssetBuilder.raw(description, subject) as asset:          # doctest: +SKIP
...     asset.write_array("traces.zarr", "ap", data, sampling_rate=30_000)
...     asset.write_nwb(nwbfile, "ecephys.nwb.zarr")
...     asset.add_file("~/rig/video.mp4")
...     asset.commit("s3://my-lake")
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import TYPE_CHECKING, Any, BinaryIO, Self

from assetlake.asset import RESERVED_FILES
from assetlake.errors import MetadataError, UsageError
from assetlake.naming import AssetName, parse_name
from assetlake.problems import Severity

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np
    import zarr
    from numcodecs.abc import Codec
    from pynwb import NWBFile

    from assetlake.progress import ProgressReport
    from assetlake.schema import (
        Acquisition,
        DataDescription,
        Procedures,
        Processing,
        Rig,
        Sidecar,
        Subject,
    )
    from assetlake.store import Store
    from assetlake.upload import UploadResult


class AssetBuilder:
    """An asset being staged locally; build with :meth:`raw` or :meth:`derived`.

    Staging happens in ``staging/<name>`` when a staging folder is given (kept afterwards), else in
    a temporary folder removed once the asset is committed or the ``with`` block fails.
    """

    def __init__(
        self, name: AssetName, sidecars: list[Sidecar | None], *, staging: Path | None = None
    ) -> None:
        self._name = name
        self._committed = False
        documents = _documents(str(name), [s for s in sidecars if s is not None])
        if staging is None:
            self._temp: Path | None = Path(tempfile.mkdtemp(prefix="assetlake-"))
            root = self._temp
        else:
            self._temp = None
            root = Path(staging).expanduser()
            if not root.is_dir():
                raise UsageError(f"staging folder {root} does not exist; create it first")
        self._path = root / str(name)
        try:
            self._path.mkdir()
        except FileExistsError:
            raise UsageError(
                f"staging folder {self._path} already exists; upload it with 'assetlake upload "
                f"{self._path}' or remove it"
            ) from None
        for filename, text in documents.items():
            (self._path / filename).write_text(text, encoding="utf-8")

    # -- constructors ------------------------------------------------------------------------
    @classmethod
    def raw(
        cls,
        data_description: DataDescription,
        subject: Subject,
        *,
        procedures: Procedures | None = None,
        rig: Rig | None = None,
        acquisition: Acquisition | None = None,
        processing: Processing | None = None,
        staging: Path | None = None,
    ) -> AssetBuilder:
        """A raw asset named ``<modalities[0]>_<subject_id>_<creation_time>`` of the description."""
        _check_models(
            data_description=data_description,
            subject=subject,
            procedures=procedures,
            rig=rig,
            acquisition=acquisition,
            processing=processing,
        )
        name = AssetName.raw(
            data_description.modalities[0],
            data_description.subject_id,
            data_description.creation_time,
        )
        sidecars = [data_description, subject, procedures, rig, acquisition, processing]
        return cls(name, sidecars, staging=staging)

    @classmethod
    def derived(
        cls,
        source: str,
        label: str,
        data_description: DataDescription,
        processing: Processing,
        *,
        created: datetime | None = None,
        subject: Subject | None = None,
        procedures: Procedures | None = None,
        rig: Rig | None = None,
        acquisition: Acquisition | None = None,
        staging: Path | None = None,
    ) -> AssetBuilder:
        """An asset derived from ``source``: ``<source>_<label>_<created>``, ``created`` defaulting
        to the description's ``creation_time`` (the processing time)."""
        _check_models(
            data_description=data_description,
            processing=processing,
            subject=subject,
            procedures=procedures,
            rig=rig,
            acquisition=acquisition,
        )
        name = parse_name(source).derive(label, created or data_description.creation_time)
        sidecars = [data_description, subject, procedures, rig, processing, acquisition]
        return cls(name, sidecars, staging=staging)

    # -- what is being built -----------------------------------------------------------------
    @property
    def name(self) -> str:
        return str(self._name)

    @property
    def path(self) -> Path:
        """The staging folder; anything put here before :meth:`commit` is part of the asset."""
        return self._path

    # -- data ---------------------------------------------------------------------------------
    def write_array(
        self,
        group: str,
        name: str,
        data: np.ndarray | Any,
        *,
        sampling_rate: float | None = None,
        chunks: tuple[int, ...] | None = None,
        codec: Codec | str | None = None,
        attrs: dict[str, Any] | None = None,
    ) -> zarr.Array:
        """Write array ``name`` into the Zarr group ``group`` of the asset (e.g. ``behavior.zarr``);
        see :func:`assetlake.formats.write_array` for chunking and the default codec."""
        from assetlake.formats import write_array

        target = self._target(group, new=False)
        return write_array(
            target, name, data, sampling_rate=sampling_rate, chunks=chunks, codec=codec, attrs=attrs
        )

    def write_nwb(self, nwbfile: NWBFile, dest: str = "ecephys.nwb.zarr") -> Path:
        """Write a pynwb ``NWBFile`` into the asset as NWB-Zarr."""
        from assetlake.formats import write_nwb_zarr

        return write_nwb_zarr(nwbfile, self._target(dest))

    def add_nwb_hdf5(self, src: str | Path, dest: str | None = None) -> Path:
        """Convert an NWB HDF5 file into the asset as NWB-Zarr (``x.nwb`` → ``x.nwb.zarr``)."""
        from assetlake.formats import convert_nwb_hdf5

        src = Path(src).expanduser()
        return convert_nwb_hdf5(src, self._target(dest or f"{src.stem}.nwb.zarr"))

    def write_ome_zarr(
        self, volume: np.ndarray, dest: str = "volume.ome.zarr", **options: Any
    ) -> zarr.hierarchy.Group:
        """Write a (z, y, x) volume as multiscale OME-Zarr; options as in
        :func:`assetlake.formats.write_ome_zarr` (``voxel_size``, ``levels``, ``chunks``)."""
        from assetlake.formats import write_ome_zarr

        return write_ome_zarr(volume, self._target(dest), **options)

    def add_file(self, src: str | Path, dest: str | None = None) -> Path:
        """Copy a file or a folder (e.g. a video, a sorter's output) into the asset."""
        src = Path(src).expanduser()
        if not src.exists():
            raise UsageError(f"{src} does not exist; give the path of a file or folder to add")
        target = self._target(dest or src.name)
        if src.is_dir():
            shutil.copytree(src, target)
        else:
            shutil.copy2(src, target)
        return target

    def new_file(self, dest: str) -> BinaryIO:
        """A new file of the asset, open for writing (e.g. an ALF ``spikes.times.npy``)."""
        return open(self._target(dest), "xb")

    # -- commit ---------------------------------------------------------------------------------
    def commit(
        self,
        lake: str | Store,
        *,
        progress: ProgressReport | None = None,
        workers: int | None = None,
        guard: Callable[[], None] | None = None,
        then: Callable[[], None] | None = None,
    ) -> UploadResult:
        """Validate and upload the staged asset to ``lake``; it is visible once this returns.
        ``guard`` runs before the first write and ``then`` after the commit, each beside the
        upload's own requests (see upload_folder)."""
        from assetlake.upload import upload_folder

        self._check_open()
        try:
            result = upload_folder(
                self._path, lake, progress=progress, workers=workers, guard=guard, then=then
            )
        except BaseException as error:
            # The data may exist nowhere else (written from memory): keep it, so that the same
            # upload can resume, and say where it is.
            self._temp = None
            error.add_note(
                f"asset {self.name} stays staged in {self._path}; run 'assetlake upload "
                f"{self._path} --lake LAKE' to resume, or delete the folder"
            )
            raise
        self._committed = True
        self.discard()
        return result

    def discard(self) -> None:
        """Remove a temporary staging folder (a staging folder the caller gave is kept, and so is
        one whose commit failed)."""
        if self._temp is not None:
            shutil.rmtree(self._temp, ignore_errors=True)
            self._temp = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is not None:
            self.discard()
            return
        if not self._committed:
            raise UsageError(
                f"asset {self.name} was built but not committed; it is staged in {self._path}: "
                f"call .commit(lake) inside the with block, or run 'assetlake upload {self._path}'"
            )

    def __repr__(self) -> str:
        state = "committed" if self._committed else f"staged in {self._path}"
        return f"<AssetBuilder {self.name} {state}>"

    # -- helpers ------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._committed:
            raise UsageError(
                f"asset {self.name} is already committed and immutable; build a derived asset to "
                "add to it"
            )
        if not self._path.is_dir():
            raise UsageError(f"staging folder {self._path} is gone; build the asset again")

    def _target(self, dest: str, *, new: bool = True) -> Path:
        """The local path of ``dest``, a relative path inside the asset that is not a sidecar."""
        self._check_open()
        parts = PurePosixPath(dest).parts
        if not parts or dest.startswith("/") or ".." in parts or "\\" in dest:
            raise UsageError(
                f"destination {dest!r} must be a relative path inside the asset, e.g. video.mp4"
            )
        if parts[0] in RESERVED_FILES:
            raise UsageError(f"destination {dest!r} is written by assetlake itself; choose another")
        target = self._path.joinpath(*parts)
        if new and target.exists():
            raise UsageError(
                f"{dest} already exists in asset {self.name}; data in an asset is never "
                "overwritten, choose another destination"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        return target


def _check_models(**models: object) -> None:
    """Refuse a dict or a wrong model where a sidecar model is expected (None means absent)."""
    from assetlake.schema import SIDECARS

    expected = {model.filename.removesuffix(".json"): model for model in SIDECARS.values()}
    for argument, value in models.items():
        model = expected[argument]
        if value is not None and not isinstance(value, model):
            raise UsageError(
                f"{argument} must be an assetlake.schema.{model.__name__} model, not "
                f"{type(value).__name__}; build it with {model.__name__}(...)"
            )


def _documents(name: str, sidecars: list[Sidecar]) -> dict[str, str]:
    """Each sidecar's JSON, refused (MetadataError, before anything is written) when a model is
    invalid or disagrees with the asset name, exactly as the uploader would refuse it."""
    from assetlake.schema import dump_sidecar
    from assetlake.validate import validate_documents

    documents = {sidecar.filename: dump_sidecar(sidecar) for sidecar in sidecars}
    report = validate_documents(name, documents, strict=True)
    errors = [p for p in report.problems if p.severity == Severity.ERROR]
    if errors:
        more = f" and {len(errors) - 1} more" if len(errors) > 1 else ""
        raise MetadataError(f"asset {name} cannot be built: {errors[0]}{more}", report.problems)
    return documents
