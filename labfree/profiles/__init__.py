"""Each experiment chapter's profiles, one module per chapter (``labfree/profiles/simclr.py``).

A module holds ``PROFILES``: for each profile name (``"ci"``, ``"reference"``, ``"full"``,
``"online"``) a dict of plain settings (numbers, strings, lists, dicts) that the chapter reads
through :func:`labfree.chapter.setup`. Keeping them here, not in the notebook, lets the reader's
page start with prose, lets ``tools.run_profiles`` list and run chapters by profile, and lets a test
compare a committed record's settings with the profile it claims to come from.

A module may set ``MINUTES``, the wall time each recorded profile is expected to take on the
machine it was sized for (the runner's estimate until a record exists), and ``CHAPTER`` when the
chapter's page is not ``book/<module>.md`` (the VICReg assignment is ``"assignments/vicreg"``).
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from types import ModuleType
from typing import Any


@cache
def _modules() -> dict[str, ModuleType]:
    found = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        found[getattr(module, "CHAPTER", info.name)] = module
    return found


def chapters(profile: str | None = None) -> list[str]:
    """The chapters that have profiles (those with ``profile``, if given), in name order."""
    return sorted(name for name, module in _modules().items()
                  if profile is None or profile in module.PROFILES)


def get(chapter: str) -> dict[str, dict[str, Any]]:
    """The profiles of ``chapter`` (``"simclr"``, ``"assignments/vicreg"``); a clear error lists
    the chapters that have profiles."""
    modules = _modules()
    if chapter not in modules:
        raise KeyError(f"no profiles for chapter {chapter!r}; chapters with profiles: {chapters()}")
    return modules[chapter].PROFILES


def estimate_minutes(chapter: str, profile: str) -> float | None:
    """The minutes ``chapter``'s module expects ``profile`` to take (``MINUTES``), if it says."""
    get(chapter)
    return getattr(_modules()[chapter], "MINUTES", {}).get(profile)
