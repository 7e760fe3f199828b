"""A grading run: every submission under a folder autograded in its assignment's course, then one
table of points per part and feedback per student."""

from __future__ import annotations

import contextlib
import csv
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import nbformat

from tools import forked_kernels, student

from . import course
from .submissions import Row, collect, identify, prepare, specs


def _errors(executed: nbformat.NotebookNode) -> list[tuple[int, str, str, str]]:
    """(cell number, nbgrader id or ``[check]`` for a public check, error name, message) of every
    code cell that raised."""
    out = []
    for number, cell in enumerate(executed.cells):
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if output.get("output_type") == "error":
                grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
                if not grade_id and student.CHECK in student.tags(cell):
                    grade_id = "[check]"
                value = str(output.get("evalue", "")).strip().splitlines()
                out.append((number, grade_id, output.get("ename", ""), value[0][:200] if value else ""))
    return out


def grade_one(row: Row, nb: nbformat.NotebookNode, spec: student.Spec, where: Path, sid: str, *,
              timeout: float, cell_timeout: float, profile: str | None) -> bool:
    """Grade one identified submission into ``row`` as student ``sid`` of the course ``where``;
    returns whether it was autograded (never raises for the submission's faults)."""
    course.submit(where, sid, prepare(nb, spec, row, profile))
    started = time.monotonic()
    done = course.autograde(where, sid, timeout=timeout, cell_timeout=cell_timeout)
    row.seconds = seconds = time.monotonic() - started
    row.maximum = spec.total
    if done is None:
        row.status = f"timed out: the notebook ran past {timeout:.0f} s"
        row.points = {part: 0.0 for part in spec.parts}
        row.total = 0.0
        course.drop_autograded(where, sid)
        return False
    scores = course.scores(where, sid)
    if done.returncode != 0 or scores is None:
        found = re.findall(r"^\s*((?:\w+\.)*\w+(?:Error|Exception): .*)$", done.stdout, re.M)
        shown = found[-1][:200] if found else "no error shown"
        row.status = f"not graded: nbgrader autograde failed ({shown})"
        row.errors.append(done.stdout[-2000:])
        course.drop_autograded(where, sid)
        return False
    errors = _errors(nbformat.read(course.autograded(where, sid), as_version=4))
    interrupted = {e[0] for e in errors if e[2] == "CellTimeoutError"}
    errors = [e for e in errors if not (e[2] == "KeyboardInterrupt" and e[0] in interrupted)]
    tests = {t.grade_id: t for t in spec.tests}
    for part in spec.parts:
        row.points[part] = sum(scores.get(t.grade_id, 0.0) for t in spec.tests if t.part == part)
    row.total = sum(row.points.values())
    timed_out = [e for e in errors if e[2] == "CellTimeoutError"]
    raised = [e for e in errors if e[2] != "CellTimeoutError" and e[1] not in tests]
    for number, grade_id, ename, evalue in errors:
        if grade_id in tests:
            row.failed.append(f"{grade_id} ({tests[grade_id].points} pt): {ename}: {evalue}")
        else:
            row.errors.append(f"cell {number}{f' ({grade_id})' if grade_id else ''}: {ename}: {evalue}")
    stubs = [e for e in raised if e[2] == "NotImplementedError"]
    others = [e for e in raised if e[2] != "NotImplementedError"]
    status = ["graded"]
    if timed_out:
        status.append(f"{len(timed_out)} cell(s) timed out after {cell_timeout:.0f} s")
    if others:
        status.append(f"{len(others)} cell(s) raised (first: cell {others[0][0]}, {others[0][2]})")
    if stubs:
        status.append(f"{len(stubs)} unfinished cell(s)")
    row.status = "; ".join(status)
    row.notes.append(f"ran in {seconds:.0f} s")
    return True


def write_feedback(row: Row, spec: student.Spec | None, folder: Path) -> Path:
    """``<student>.md``: the status, points per part, failed hidden tests, cells that raised or
    timed out, and the written answers left to grade by hand."""
    lines = [f"# Feedback: {row.student}", "", f"- file: `{row.file}`",
             f"- assignment: {row.assignment or 'not recognised'}", f"- status: {row.status}"]
    if row.total is not None:
        lines.append(f"- points: {row.total:g} of {row.maximum}")
    lines += [f"- note: {note}" for note in row.notes]
    if spec is not None and row.points:
        lines += ["", "| part | points | of |", "|---|---|---|"]
        lines += [f"| {part} | {row.points.get(part, 0):g} | {spec.points(part)} |" for part in spec.parts]
    if row.failed:
        lines += ["", "## Hidden tests that failed", ""] + [f"- {f}" for f in row.failed]
    if row.errors:
        lines += ["", "## Cells that raised or timed out", ""] + [f"- {e}" for e in row.errors]
    if spec is not None and spec.questions:
        lines += ["", "## Written answers (graded by hand against the rubric)", ""]
        lines += [f"- {grade_id}: {points} points" for grade_id, points in spec.questions]
    path = folder / f"{row.student}.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_table(rows: list[Row], known: dict[str, student.Spec], out: Path) -> None:
    """The CSV: one line per submission, one column per part of every assignment graded."""
    graded = {row.assignment for row in rows}
    parts = [f"{s.name}:{p}" for s in known.values() if s.name in graded for p in s.parts]
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as handle:
        table = csv.writer(handle)
        table.writerow(["student", "file", "assignment", "status", *parts, "total", "max", "notes"])
        for row in rows:
            points = [row.points.get(p.split(":", 1)[1], "") if p.startswith(f"{row.assignment}:")
                      and row.points else "" for p in parts]
            table.writerow([row.student, row.file, row.assignment, row.status,
                            *[f"{v:g}" if v != "" else "" for v in points],
                            "" if row.total is None else f"{row.total:g}",
                            "" if row.maximum is None else row.maximum, "; ".join(row.notes)])


def _sid(name: str, taken: set[str]) -> str:
    """nbgrader's student id for a student name: safe characters, unique within the course."""
    base = re.sub(r"[^A-Za-z0-9_-]", "_", name)
    sid, k = base, 1
    while sid in taken:
        k += 1
        sid = f"{base}-{k}"
    taken.add(sid)
    return sid


def _kernels(fresh: bool) -> contextlib.AbstractContextManager:
    """Where this run's kernels come from. Forked from the zygote the environment already names
    (the test suite's), else from one of this run's own; new processes when ``fresh``, when the
    thread pools are not pinned to one thread (``make grade`` pins them) or off Linux (where
    :func:`tools.forked_kernels.zygote` starts none)."""
    if fresh:
        return _environment_without(forked_kernels.ENV)
    if forked_kernels.ENV in os.environ or not forked_kernels.single_threaded(os.environ):
        return contextlib.nullcontext()
    return forked_kernels.zygote()


@contextlib.contextmanager
def _environment_without(name: str):
    previous = os.environ.pop(name, None)
    try:
        yield
    finally:
        if previous is not None:
            os.environ[name] = previous


def grade(submissions: Path, out: Path, *, feedback: Path | None = None, timeout: float = 300,
          cell_timeout: float | None = None, profile: str | None = None,
          fresh_kernels: bool = False) -> list[Row]:
    """Grade every notebook under ``submissions``; write the table ``out`` and the feedback.

    Each submission runs in a new kernel; unless ``fresh_kernels``, a kernel forked from a process
    that has imported the assignments' libraries (:mod:`tools.forked_kernels`: seconds saved a
    submission, and nothing of one submission reaches the next)."""
    known = specs()
    feedback = feedback or out.with_name(out.stem + "-feedback")
    feedback.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    courses: dict[str, Path] = {}
    graded: dict[str, dict[str, Row]] = {}  # assignment: {student id: row} of autograded ones
    taken: dict[str, set[str]] = {}
    with tempfile.TemporaryDirectory(prefix="labfree-grading-") as work, _kernels(fresh_kernels):
        for name, path in collect(submissions):
            row = Row(name, path.relative_to(submissions).as_posix())
            rows.append(row)
            try:
                nb = nbformat.read(path, as_version=4)
            except Exception as error:  # noqa: BLE001 - any unreadable file is a line, not a crash
                row.status = f"not a notebook: {type(error).__name__}: {str(error)[:120]}"
                continue
            assignment, how = identify(nb, path, known)
            if assignment is None:
                row.status = ("not graded: matches no assignment (no labfree metadata, no nbgrader "
                              f"cell ids, file name not one of {sorted(known)})")
                continue
            row.assignment = assignment
            if how != "file name" and path.stem != assignment.rsplit("/", 1)[-1]:
                row.notes.append(f"renamed: the file is {path.name!r}, recognised as {assignment} "
                                 f"by its {how}")
            try:
                if assignment not in courses:
                    source, _ = student.nbgrader_source(known[assignment].source)
                    courses[assignment] = course.make(Path(work), assignment, source, timeout)
                sid = _sid(name, taken.setdefault(assignment, set()))
                if grade_one(row, nb, known[assignment], courses[assignment], sid, timeout=timeout,
                             cell_timeout=cell_timeout or timeout, profile=profile):
                    graded.setdefault(assignment, {})[sid] = row
            except Exception as error:  # noqa: BLE001 - the run goes on to the next submission
                row.status = f"not graded: {type(error).__name__}: {str(error)[:200]}"
        for assignment, done in graded.items():
            html = course.feedback(courses[assignment], list(done), timeout=60 + 30 * len(done))
            for sid, row in done.items():
                if sid in html:
                    shutil.copy(html[sid], feedback / f"{row.student}.html")
    write_table(rows, known, out)
    for row in rows:
        write_feedback(row, known.get(row.assignment), feedback)
    return rows
