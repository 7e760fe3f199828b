"""Loaded by the kernels ``python -m tools.book`` starts: records which files under
``LABFREE_TRACK_ROOT`` (the results/ folder) the chapter opens, one path a line in
``LABFREE_TRACK_READS``, so that the chapter runs again when one of them changes."""

import os
import sys

_LOG = os.environ.get("LABFREE_TRACK_READS")
_ROOT = os.path.realpath(os.environ.get("LABFREE_TRACK_ROOT", "")) + os.sep
_SEEN: set = set()


def _record(event: str, args: tuple) -> None:
    if event != "open" or not args or isinstance(args[0], int):
        return
    try:
        path = os.path.realpath(os.fsdecode(args[0]))
    except (TypeError, ValueError):
        return
    if path.startswith(_ROOT) and path not in _SEEN:
        _SEEN.add(path)
        with open(_LOG, "a") as log:  # the log lies outside the root: no recursion
            log.write(path + "\n")


if _LOG and _ROOT != os.sep:
    sys.addaudithook(_record)
