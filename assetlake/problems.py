"""Validation problems as data: the library reports them, only the CLI turns them into output."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an asset: which file, where in it (JSON path), the value, and why."""

    file: str
    path: str
    message: str
    value: Any = None
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        where = f"{self.file}:{self.path}" if self.path else self.file
        shown = "" if self.value is None else f" (got {json.dumps(self.value, default=str)[:80]})"
        return f"{self.severity}: {where}: {self.message}{shown}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Problem:
        """The inverse of :meth:`to_dict` (for problems assetlake wrote, not ones from a bucket)."""
        return cls(**{**data, "severity": Severity(data.get("severity", Severity.ERROR))})


def has_errors(problems: list[Problem]) -> bool:
    return any(p.severity == Severity.ERROR for p in problems)
