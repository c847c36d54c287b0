"""The one exception hierarchy of assetlake.

Every message is one line that names the thing, the problem and what to do next; the CLI prints it
as is. Errors also subclass the matching builtin so callers can catch ``FileExistsError`` etc.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assetlake.problems import Problem


class AssetLakeError(Exception):
    """Base of every error assetlake raises on purpose; ``exit_code`` is what the CLI returns."""

    exit_code = 1


class UsageError(AssetLakeError, ValueError):
    """The command or call was given something it cannot use (bad option, bad query, bad URL)."""

    exit_code = 2


class HandOverError(UsageError):
    """A hand-over manifest in a drop folder cannot be used (unparsable, invalid, bad paths)."""


class QueryError(UsageError):
    """A catalogue query that cannot be run (unknown field, bad date, bad sort key). ``named`` is
    the word the message starts with when it names one query field (``after``), so a caller can
    name that field as its users know it (the CLI says ``--after``)."""

    def __init__(self, message: str, *, named: str | None = None) -> None:
        super().__init__(message)
        self.named = named

    def renamed(self, name: str) -> QueryError:
        """The same error with its field called ``name``."""
        if self.named is None:
            return self
        return QueryError(name + str(self).removeprefix(self.named), named=name)


class InvalidNameError(AssetLakeError, ValueError):
    """A string is not a valid asset name; the message says which part is wrong and why."""


class MetadataError(AssetLakeError, ValueError):
    """Sidecars are invalid or disagree with the asset name; ``problems`` lists every one."""

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [])


class LakeError(AssetLakeError, OSError):
    """The lake cannot be reached or used: missing bucket, denied access, unreachable endpoint."""


class TooDeepError(LakeError):
    """A lake folder nests deeper than an object's key can reach (S3's limit): not listed. The
    crawl makes it a problem of the one asset that holds it."""


class ObjectExistsError(LakeError, FileExistsError):
    """A create-only write found the object already there (the lake never overwrites)."""


class AssetExistsError(AssetLakeError, FileExistsError):
    """An asset of that name is already committed; assets are immutable."""


class AssetNotFoundError(AssetLakeError, FileNotFoundError):
    """No committed asset of that name in the lake or the catalogue."""


class ConflictError(AssetLakeError):
    """Another upload holds the name with different content, or won the race to commit it."""


class IntegrityError(AssetLakeError):
    """Stored objects do not match the asset's manifest."""


class CatalogueError(AssetLakeError):
    """The local or published catalogue is missing, unreadable or of an unknown version."""


class CatalogueBusyError(CatalogueError):
    """Another process is writing the catalogue; one writer at a time."""
