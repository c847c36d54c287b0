"""The upload progress bar: the library reports :class:`~assetlake.upload.UploadProgress`, the
CLI draws it (a tqdm bar of bytes with a file count, imported only when a bar is shown)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assetlake.cli.output import drawing_stream

if TYPE_CHECKING:
    from assetlake.upload import UploadProgress


class ProgressBar:
    """A callable for ``upload_folder(progress=...)``; the bar appears with the first report."""

    def __init__(self) -> None:
        self._bar: Any = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.close()

    def __call__(self, state: UploadProgress) -> None:
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(
                total=state.bytes_total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=state.name,  # a validated asset name, safe for the raw stream
                file=drawing_stream(),
                dynamic_ncols=True,
            )
        self._bar.update(state.bytes_done - self._bar.n)
        self._bar.set_postfix_str(f"{state.files_done}/{state.files_total} files", refresh=False)
