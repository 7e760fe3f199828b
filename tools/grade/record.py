"""The committed record of a grading run over an assignment's five demo submissions, which the
book's course page shows: what each submission got, how long each took, and where it ran.

    python -m tools.grade record [--assignment vicreg] [--profile ci]   # results/grading_demo_<name>.json

The submissions are :func:`tools.grade.demo`'s (the solution, the untouched student version, the
first parts done, those parts done but broken, the solution renamed), graded in the assignment's
``profile`` with the kernels of ``make grade`` (one thread, forked from a process that has imported
the libraries). ``tests/test_grade.py`` checks the record against the assignment as it is now.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import resource
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from labfree import profiles, results
from tools import forked_kernels

from .demo import DEMO_STUDENTS, demo, partial_parts
from .run import grade
from .submissions import specs

TIMEOUT = 900  # s a notebook: the solution's CI profile trains three encoders
CELL_TIMEOUT = 120  # s a cell: make grade's default, which the never-ending cell runs into


def name(assignment: str) -> str:
    """The record's name: ``grading_demo_<assignment's file stem>``."""
    return f"grading_demo_{assignment.rsplit('/', 1)[-1]}"


def settings(assignment: str, profile: str) -> dict[str, Any]:
    """What the record depends on besides the code: the profile's settings and the limits."""
    return {"assignment": assignment, "profile": profile,
            "recipe": profiles.get(f"assignments/{assignment}")[profile],
            "timeout": TIMEOUT, "cell_timeout": CELL_TIMEOUT}


def _cpu_seconds() -> float:
    """CPU time of this process and of its waited-for descendants (nbgrader, the zygote and, as
    the zygote reaps them, the kernels)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    previous = {name: os.environ.get(name) for name in forked_kernels.THREAD_POOLS}
    os.environ.update(dict.fromkeys(forked_kernels.THREAD_POOLS, "1"))
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def record(assignment: str = "vicreg", profile: str = "ci", *,
           directory: Path | None = None) -> Path:
    """Grade the demo submissions of ``assignment`` in ``profile`` and save the record."""
    spec = specs()[assignment]
    kind_of = {student: kind for kind, student in DEMO_STUDENTS.items()}
    with tempfile.TemporaryDirectory(prefix="labfree-demo-") as work:
        folder, out = Path(work) / "submissions", Path(work) / "grades.csv"
        demo(folder, assignment)
        started, cpu = time.monotonic(), _cpu_seconds()
        with _one_thread():  # as make grade runs: one thread a kernel, kernels forked
            rows = grade(folder, out, timeout=TIMEOUT, cell_timeout=CELL_TIMEOUT,
                         profile=profile)
        wall, cpu = time.monotonic() - started, _cpu_seconds() - cpu
    data = {"parts": {part: spec.points(part) for part in spec.parts},
            "partial_parts": partial_parts(spec), "cpu_time_s": round(cpu, 1),
            "rows": [{"kind": kind_of[row.student],
                      **{k: v for k, v in dataclasses.asdict(row).items() if k != "errors"},
                      "errors": row.errors[:20]} for row in rows]}
    return results.save(name(assignment), data, wall_time_s=wall, device="cpu",
                        directory=directory, threads=1, kernels="forked", profile=profile,
                        settings=settings(assignment, profile))
