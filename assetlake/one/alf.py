"""ALF file names (``object.attribute[.extra].ext``), the names ONE's ``load_object`` groups by,
and the writer that puts arrays and tables into an asset under them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assetlake.builder import AssetBuilder

#: ONE's grammar for the parts of a name (one.alf.spec): object and attribute are words, the
#: extension letters and digits; attributes may carry a unit after '_' (``times_s``).
_PART = re.compile(r"^[A-Za-z0-9]+(?:_[A-Za-z0-9]+)*$")
EXTENSIONS = ("npy", "pqt")


def alf_name(obj: str, attribute: str, ext: str) -> str:
    """``spikes``, ``times``, ``npy`` → ``spikes.times.npy``; refuses what ONE would not parse."""
    if not (_PART.match(obj) and _PART.match(attribute) and ext in EXTENSIONS):
        raise ValueError(f"not an ALF name: {obj}.{attribute}.{ext}")
    return f"{obj}.{attribute}.{ext}"


def write_object(asset: AssetBuilder, obj: str, attributes: Mapping[str, Any]) -> list[str]:
    """Write each attribute of ALF object ``obj`` as ``obj.attribute.npy`` at the asset's top
    level (arrays of one length, as ``load_object`` expects); returns the names written."""
    import numpy as np

    names = []
    for attribute, values in attributes.items():
        name = alf_name(obj, attribute, "npy")
        with asset.new_file(name) as stream:
            np.save(stream, np.asarray(values), allow_pickle=False)
        names.append(name)
    return names
