"""Results with provenance: what ran, where, from which commit, when, and for how long.

Full-profile experiments run on a GPU outside CI; their numbers are committed under ``results/``
as JSON and drawn by the chapters. Each file records the device, the library versions, the git
commit, the date and the wall time beside the numbers, so a reader can tell where a figure came from::

    from labfree import results
    with results.timer() as t:
        acc = run_experiment()
    results.save("simclr_shapes_full", {"probe_accuracy": acc}, wall_time_s=t.seconds)
    record = results.load("simclr_shapes_full")      # -> dict with "data" and "provenance"
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

_CHECKOUT = Path(__file__).resolve().parents[1]
ENVIRONMENT_VARIABLE = "LABFREE_RESULTS"


def results_dir() -> Path:
    """Where records are read and written: ``$LABFREE_RESULTS`` if set; else the checkout's
    ``results/`` when the package runs from a clone of the repository (the committed records);
    else a user cache directory (``~/.cache/labfree/results``), so that an installed package
    (pip, Colab) never writes into site-packages."""
    if os.environ.get(ENVIRONMENT_VARIABLE):
        return Path(os.environ[ENVIRONMENT_VARIABLE]).expanduser()
    if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "results").is_dir():
        return _CHECKOUT / "results"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "labfree" / "results"


RESULTS_DIR = results_dir()  # as resolved at import; functions call results_dir() afresh


@dataclass
class Timer:
    """Wall-clock seconds of a ``with results.timer() as t:`` block (``t.seconds``)."""

    start: float = 0.0
    seconds: float = 0.0


@contextmanager
def timer() -> Iterator[Timer]:
    t = Timer(start=time.perf_counter())
    try:
        yield t
    finally:
        t.seconds = time.perf_counter() - t.start


def git_commit(cwd: Path | None = None) -> str:
    """The current commit (with ``-dirty`` if the tree has changes), or ``"unknown"`` outside git."""
    cwd = cwd or _CHECKOUT
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                             check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return sha + ("-dirty" if dirty else "")


def device_name(device: Any = None) -> str:
    """A human name for the device a run used: the GPU's name, or the CPU's."""
    import torch

    device = torch.device(device) if device is not None else (
        torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu"))
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({cpu_model()}, {torch.get_num_threads()} threads)"


def cpu_model() -> str:
    """The processor's model name (``/proc/cpuinfo`` on Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def provenance(device: Any = None, wall_time_s: float | None = None, **extra: Any) -> dict[str, Any]:
    """Where and when a result was produced."""
    import torch

    from labfree import precision

    record = {
        "device": device_name(device),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "precision": precision.describe(device or ("cuda" if torch.cuda.is_available() else "cpu")),
        "commit": git_commit(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "wall_time_s": None if wall_time_s is None else round(float(wall_time_s), 3),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
    }
    record.update(extra)
    return record


def save(name: str, data: Any, *, wall_time_s: float | None = None, device: Any = None,
         directory: Path | str | None = None, **extra: Any) -> Path:
    """Write ``data`` (anything JSON can hold) with its provenance to ``results/<name>.json``."""
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"result name must be a plain file stem like 'simclr_shapes_full', got {name!r}")
    path = Path(directory or results_dir()) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"name": name, "provenance": provenance(device, wall_time_s, **extra), "data": data}
    return write(record, path)


def write(record: dict[str, Any], path: Path | str) -> Path:
    """Write a benchmark record (already holding its ``provenance``) as JSON to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(record, indent=2, default=_jsonable) + "\n"
    partial = path.with_name(f".{path.name}.partial")  # a killed write never leaves half a record
    partial.write_text(text)
    os.replace(partial, path)
    return path


def load(name: str, *, directory: Path | str | None = None) -> dict[str, Any]:
    """Read a result written by :func:`save`; a clear error names the file and how to produce it."""
    path = Path(directory or results_dir()) / f"{name}.json"
    if not path.is_file():
        available = sorted(p.stem for p in path.parent.glob("*.json"))
        raise FileNotFoundError(
            f"no result {name!r} at {path}; records are produced by a chapter's reference or "
            f"full profile (python -m tools.run_profiles --profile reference CHAPTER). "
            f"Available: {available or 'none'}"
        )
    return json.loads(path.read_text())


def _jsonable(value: Any) -> Any:
    """Numbers from numpy/torch become plain Python numbers or lists."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in a result file")
