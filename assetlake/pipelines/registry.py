"""Finding steps: by import path (``package.module:step``) or by a name registered in the
entry-point group ``assetlake.steps``, so a lab's package adds steps without touching assetlake."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from assetlake.errors import UsageError
from assetlake.pipelines.step import Step

GROUP = "assetlake.steps"


def registered() -> dict[str, str]:
    """Registered step names and the import path each one points to."""
    return {point.name: point.value for point in entry_points(group=GROUP)}


def resolve(reference: str) -> Step:
    """The step an import path or a registered name refers to."""
    points = registered()
    if ":" not in reference and reference not in points:
        known = ", ".join(sorted(points)) or "none"
        raise UsageError(
            f"step {reference!r} is not registered (registered: {known}); give a registered name "
            "or an import path package.module:step (see 'assetlake steps')"
        )
    path = points.get(reference, reference)
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise UsageError(
            f"step {reference!r}: module {module_name!r} cannot be imported ({error}); check the "
            "import path or install the package that holds it"
        ) from None
    found = getattr(module, attribute, None)
    if not isinstance(found, Step):
        raise UsageError(
            f"step {reference!r}: {path} is not a step declared with @assetlake.pipelines.step"
        )
    return found


def available() -> list[tuple[str, Step | None, str]]:
    """Every registered step as (name, step or None, why it cannot load), sorted by name."""
    found: list[tuple[str, Step | None, str]] = []
    for name in sorted(registered()):
        try:
            found.append((name, resolve(name), ""))
        except UsageError as error:
            found.append((name, None, str(error)))
    return found
