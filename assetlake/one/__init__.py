"""The bridge to IBL's ONE: the lake's sessions and files as ONE cache tables (:mod:`.tables`),
ALF file names (:mod:`.alf`), and :class:`LakeOne`, a ONE client that loads from the lake
(:mod:`.client`, needs the ``assetlake[one]`` extra and is imported only when asked for)."""

from __future__ import annotations

from typing import Any

__all__ = ["LakeOne"]


def __getattr__(name: str) -> Any:
    if name == "LakeOne":
        try:
            from assetlake.one.client import LakeOne
        except ModuleNotFoundError as error:
            if error.name != "one" and not (error.name or "").startswith("one."):
                raise
            raise ModuleNotFoundError(
                'LakeOne needs IBL\'s ONE-api, which is not installed: pip install "assetlake[one]"',
                name=error.name,
            ) from None
        return LakeOne
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
