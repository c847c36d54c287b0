"""The asset name grammar: constants, one parser and one formatter that are exact inverses.

Raw:      ``<modality>_<subject-id>_<YYYY-MM-DD>_<HH-MM-SS>``      e.g. ``ecephys_123456_2024-03-01_14-05-09``
Derived:  ``<source-name>_<label>_<YYYY-MM-DD>_<HH-MM-SS>``        the source may itself be derived
Legacy:   ``<subject-id>_<YYYY-MM-DD>_<HH-MM-SS>``                 AIND's current style; read, never written

Parts are separated by ``_``, so subject ids and labels never contain it. A raw name has 4 parts,
a legacy one 3, and each derivation adds 3, so the part count alone tells the forms apart.

>>> name = parse_name("ecephys_123456_2024-03-01_14-05-09_sorted_2024-03-02_08-00-00")
>>> name.level.value, name.label, str(name.source)
('derived', 'sorted', 'ecephys_123456_2024-03-01_14-05-09')
>>> str(name) == "ecephys_123456_2024-03-01_14-05-09_sorted_2024-03-02_08-00-00"
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from assetlake.errors import InvalidNameError

SEP = "_"
DATE_FORMAT = "%Y-%m-%d"
TIME_FORMAT = "%H-%M-%S"
RAW_PATTERN = "<modality>_<subject-id>_<YYYY-MM-DD>_<HH-MM-SS>"
DERIVED_PATTERN = "<source-name>_<label>_<YYYY-MM-DD>_<HH-MM-SS>"
LEGACY_PATTERN = "<subject-id>_<YYYY-MM-DD>_<HH-MM-SS>"

_WORD = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"\d{2}-\d{2}-\d{2}")

#: Registered modality abbreviations (those of aind-data-schema, plus any a lab registers).
MODALITIES: dict[str, str] = {
    "behavior": "Behavior",
    "behavior-videos": "Behavior videos",
    "confocal": "Confocal microscopy",
    "ecephys": "Extracellular electrophysiology",
    "EEG": "Electroencephalography",
    "EMG": "Electromyography",
    "fib": "Fiber photometry",
    "fMOST": "Fluorescence micro-optical sectioning tomography",
    "icephys": "Intracellular electrophysiology",
    "ISI": "Intrinsic signal imaging",
    "merfish": "Multiplexed error-robust fluorescence in situ hybridization",
    "MRI": "Magnetic resonance imaging",
    "pophys": "Planar optical physiology",
    "slap": "Scanned line projection imaging",
    "SPIM": "Selective plane illumination microscopy",
}
#: The platforms of aind-data-schema-models. An AIND raw name begins with its platform
#: (``multiplane-ophys_726087_2024-06-21_16-16-26``), so those are registered as name prefixes
#: too, and AIND sessions keep their names here (a renamed asset would no longer match its own
#: ``data_description.json``). Their modalities (``pophys``, ``behavior-videos``) are above.
AIND_PLATFORMS: dict[str, str] = {
    "behavior": "Behavior platform",
    "confocal": "Confocal microscopy platform",
    "ecephys": "Electrophysiology platform",
    "exaSPIM": "ExaSPIM platform",
    "FIP": "Frame-projected independent-fiber photometry platform",
    "HCR": "Hybridization chain reaction platform",
    "HSFP": "Hyperspectral fiber photometry platform",
    "ISI": "Intrinsic signal imaging platform",
    "mesoSPIM": "MesoSPIM platform",
    "MERFISH": "MERFISH platform",
    "MRI": "Magnetic resonance imaging platform",
    "motor-observatory": "Motor observatory platform",
    "multiplane-ophys": "Multiplane optical physiology platform",
    "single-plane-ophys": "Single-plane optical physiology platform",
    "SLAP2": "SLAP2 platform",
    "SmartSPIM": "SmartSPIM platform",
}
MODALITIES.update({k: v for k, v in AIND_PLATFORMS.items() if k not in MODALITIES})


class Level(StrEnum):
    """Whether an asset was acquired (``raw``) or computed from other assets (``derived``): what
    a name's form says, the catalogue's ``level`` and AIND's ``data_level``."""

    RAW = "raw"
    DERIVED = "derived"


def register_modality(abbreviation: str, description: str) -> None:
    """Add a modality to the registry so names using it parse and format."""
    _check_word(abbreviation, "modality")
    MODALITIES[abbreviation] = description


@dataclass(frozen=True)
class AssetName:
    """A parsed asset name. Build with :meth:`raw` / :meth:`derive`, or :func:`parse_name`."""

    subject_id: str
    acquired: datetime
    modality: str | None = None
    source: AssetName | None = None
    label: str | None = None
    processed: datetime | None = None

    @classmethod
    def raw(cls, modality: str, subject_id: str, acquired: datetime) -> AssetName:
        """The name of a raw asset; times are written to the second, in the wall clock given."""
        _check_modality(modality)
        _check_word(subject_id, "subject id")
        return cls(subject_id=subject_id, acquired=_to_second(acquired), modality=modality)

    def derive(self, label: str, processed: datetime) -> AssetName:
        """The name of an asset derived from this one by a processing run at ``processed``."""
        _check_word(label, "label")
        return AssetName(
            subject_id=self.subject_id,
            acquired=self.acquired,
            modality=self.modality,
            source=self,
            label=label,
            processed=_to_second(processed),
        )

    @property
    def level(self) -> Level:
        return Level.RAW if self.source is None else Level.DERIVED

    @property
    def legacy(self) -> bool:
        """True for a name in AIND's modality-less style (readable, never written by assetlake)."""
        return self.modality is None

    @property
    def root(self) -> AssetName:
        """The raw asset this one descends from (itself when raw)."""
        return self if self.source is None else self.source.root

    @property
    def timestamp(self) -> datetime:
        """The time written in this name: acquisition for raw, processing for derived."""
        return self.acquired if self.processed is None else self.processed

    def __str__(self) -> str:
        stamp = _format_time(self.timestamp)
        if self.source is not None:
            return SEP.join((str(self.source), self.label or "", stamp))
        head = () if self.modality is None else (self.modality,)
        return SEP.join((*head, self.subject_id, stamp))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form printed by ``assetlake name parse --json``; its keys ``kind`` (the level)
        and ``created`` (the processing time) predate the one vocabulary and stay, as a contract."""
        return {
            "name": str(self),
            "kind": self.level.value,
            "modality": self.modality,
            "subject_id": self.subject_id,
            "acquired": self.acquired.isoformat(),
            "legacy": self.legacy,
            "source": None if self.source is None else str(self.source),
            "label": self.label,
            "created": None if self.processed is None else self.processed.isoformat(),
        }


def parse_name(text: str) -> AssetName:
    """Parse an asset name; raise :class:`InvalidNameError` naming the wrong part and why."""
    if not text:
        raise InvalidNameError("asset name is empty; expected " + RAW_PATTERN)
    bad = re.search(r"[\s/\\]", text)
    if bad:
        raise InvalidNameError(
            f"asset name {text!r} contains {bad.group()!r}; names are one path segment without spaces"
        )
    parts = text.split(SEP)
    count = len(parts)
    if count >= 4 and count % 3 == 1:
        modality, subject, date, time = parts[:4]
        _check_modality(modality, text)
        name = AssetName(
            subject_id=_check_word(subject, "subject id", text),
            acquired=_parse_time(date, time, text),
            modality=modality,
        )
        rest = parts[4:]
    elif count >= 3 and count % 3 == 0:
        subject, date, time = parts[:3]
        if subject in MODALITIES:
            raise InvalidNameError(
                f"asset name {text!r} has {count} parts but starts with modality {subject!r}: "
                f"expected {RAW_PATTERN}, then _<label>_<YYYY-MM-DD>_<HH-MM-SS> per derivation"
            )
        name = AssetName(
            subject_id=_check_word(subject, "subject id", text),
            acquired=_parse_time(date, time, text),
        )
        rest = parts[3:]
    else:
        raise InvalidNameError(
            f"asset name {text!r} has {count} '_'-separated parts; a raw name has 4 ({RAW_PATTERN}) "
            f"and each derivation adds 3 (_<label>_<YYYY-MM-DD>_<HH-MM-SS>); "
            "subject ids and labels must not contain '_'"
        )
    for i in range(0, len(rest), 3):
        label, date, time = rest[i : i + 3]
        name = AssetName(
            subject_id=name.subject_id,
            acquired=name.acquired,
            modality=name.modality,
            source=name,
            label=_check_word(label, "label", text),
            processed=_parse_time(date, time, text),
        )
    return name


def is_asset_name(text: str) -> bool:
    """True when ``text`` parses as an asset name (used to skip stray prefixes when crawling)."""
    try:
        parse_name(text)
    except InvalidNameError:
        return False
    return True


def _in(text: str | None) -> str:
    return f" in {text!r}" if text else ""


def _check_word(word: str, what: str, text: str | None = None) -> str:
    if not _WORD.fullmatch(word):
        why = "is empty" if not word else "may contain only letters, digits and inner '-'"
        raise InvalidNameError(f"{what} {word!r}{_in(text)} {why}")
    return word


def _check_modality(modality: str, text: str | None = None) -> None:
    if modality not in MODALITIES:
        known = ", ".join(sorted(MODALITIES, key=str.lower))
        raise InvalidNameError(
            f"modality {modality!r}{_in(text)} is not registered (known: {known}); "
            "register new ones with assetlake.naming.register_modality"
        )


def _parse_time(date: str, time: str, text: str) -> datetime:
    if not _DATE.fullmatch(date):
        raise InvalidNameError(f"date {date!r} in {text!r} must be YYYY-MM-DD")
    if not _TIME.fullmatch(time):
        raise InvalidNameError(f"time {time!r} in {text!r} must be HH-MM-SS")
    try:
        day = datetime(int(date[:4]), int(date[5:7]), int(date[8:]))  # strptime costs 5x more
    except ValueError:
        raise InvalidNameError(f"date {date!r} in {text!r} is not a calendar date") from None
    hour, minute, second = (int(x) for x in time.split("-"))
    if hour > 23 or minute > 59 or second > 59:
        raise InvalidNameError(
            f"time {time!r} in {text!r} is not a clock time (00-00-00 to 23-59-59)"
        )
    return day.replace(hour=hour, minute=minute, second=second)


def _format_time(m: datetime) -> str:
    # Not strftime: it drops the leading zeros of years before 1000 on some platforms.
    return f"{m.year:04d}-{m.month:02d}-{m.day:02d}{SEP}{m.hour:02d}-{m.minute:02d}-{m.second:02d}"


def _to_second(moment: datetime) -> datetime:
    """Names hold wall-clock time to the second; the timezone lives in the sidecars."""
    return moment.replace(microsecond=0, tzinfo=None)
