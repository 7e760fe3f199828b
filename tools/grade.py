"""Grade a folder of submitted assignment notebooks offline with nbgrader; make a demo folder.

    python -m tools.grade SUBMISSIONS [--out grades.csv] [--feedback DIR] [--timeout 300]
                          [--cell-timeout 120]
    python -m tools.grade demo DIR [--assignment vicreg]     # five example submissions
    make grade SUBMISSIONS=dir [OUT=grades.csv] [TIMEOUT=300] [CELL_TIMEOUT=120]

A submission is any ``*.ipynb`` under SUBMISSIONS: ``SUBMISSIONS/<student>/<file>.ipynb`` (the
student is the folder) or ``SUBMISSIONS/<student>.ipynb``. Its assignment is read from the
notebook's metadata (``labfree.assignment``, written into every student version), else from the
nbgrader ids of its cells, else from its file name, so a renamed notebook is still graded (the
table says so); a notebook that matches no assignment gets its own line.

For each assignment a temporary nbgrader course is made (``nbgrader generate_assignment`` from the
master, :func:`tools.student.nbgrader_source`); each submission is put back in shape (the hidden
tests that nbgrader restores need their locked cells: a deleted one is put back where the master
has it, and the table says so), its ``profile`` set, and ``nbgrader autograde`` runs it in a fresh
kernel with a limit per cell (``--cell-timeout``, 120 s, at most ``--timeout``: the cell is
interrupted and marked, the notebook goes on, so a never-ending cell costs its own parts only)
and a limit for the whole notebook (``--timeout``: the run is killed, the line says so). Then
``nbgrader generate_feedback`` writes the HTML feedback.

Written: OUT (one line per submission: student, file, assignment, status, points per part, total,
maximum, notes) and, in the feedback folder (default: OUT's name without ``.csv``, plus
``-feedback``), ``<student>.md`` (points per part, the hidden tests that failed with the error
shown, cells that raised or timed out, the written questions left to grade by hand with their
rubric points) and ``<student>.html`` (nbgrader's feedback: the executed notebook with the hidden
tests and their points).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from tools import student

ROOT = student.ROOT
NBGRADER = [sys.executable, "-m", "nbgrader"]
DEMO_STUDENTS = {"solution": "alice", "student": "bob", "partial": "carol", "broken": "dave",
                 "renamed": "erin"}
RENAMED_FILE = "Copy of assignment (2).ipynb"
HANG = "import time\n\nwhile True:  # a cell that never ends\n    time.sleep(1)"
RAISE = 'raise RuntimeError("a cell that raises")'


@dataclass
class Row:
    """One line of the table: a submission and what grading it gave."""

    student: str
    file: str
    assignment: str = ""
    status: str = ""
    points: dict[str, float] = field(default_factory=dict)
    total: float | None = None
    maximum: int | None = None
    notes: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def specs() -> dict[str, student.Spec]:
    return {s.name: s for s in map(student.spec, student.assignments())}


def identify(nb: nbformat.NotebookNode, path: Path,
             known: dict[str, student.Spec]) -> tuple[str | None, str]:
    """The assignment a notebook is, and how it was told: metadata, cell ids or file name."""
    name = nb.metadata.get("labfree", {}).get("assignment")
    if name in known:
        return name, "metadata"
    ids = {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells} - {None}
    best = max(known.values(), key=lambda s: len(ids & {t.grade_id for t in s.tests}), default=None)
    if best is not None and ids & {t.grade_id for t in best.tests}:
        return best.name, "cell ids"
    if path.stem in known:
        return path.stem, "file name"
    return None, "nothing"


def set_parameters(nb: nbformat.NotebookNode, **values) -> None:
    """Set ``name = value`` lines of the cell tagged ``parameters`` (added when missing)."""
    cells = [c for c in nb.cells if c.cell_type == "code" and "parameters" in student.tags(c)]
    if not cells:
        return
    cell = cells[0]
    for name, value in values.items():
        line = f"{name} = {value!r}"
        pattern = re.compile(rf"^{name}\s*=.*$", re.M)
        cell.source = pattern.sub(line, cell.source) if pattern.search(cell.source) \
            else cell.source + "\n" + line


def restore_grade_cells(nb: nbformat.NotebookNode, source: nbformat.NotebookNode) -> list[str]:
    """Put back the locked hidden-test cells a submission lacks, right after the nearest cell
    before them in the master that the submission still has (the same nbgrader id, or the same
    text for an unmarked cell), else at the top; return their ids."""
    def key(cell) -> tuple[str, str]:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        return ("id", grade_id) if grade_id else ("text", cell.source)

    restored = []
    for index, cell in enumerate(source.cells):
        meta = cell.metadata.get("nbgrader", {})
        have = {key(c) for c in nb.cells}
        if not meta.get("grade") or cell.cell_type != "code" or ("id", meta["grade_id"]) in have:
            continue
        anchors = [key(c) for c in source.cells[:index] if key(c) in have]
        at = 0
        if anchors:
            at = 1 + max(i for i, c in enumerate(nb.cells) if key(c) == anchors[-1])
        nb.cells.insert(at, copy.deepcopy(cell))
        restored.append(meta["grade_id"])
    return restored


def _kill_tree(pid: int) -> None:
    """Kill a process and all its descendants: the kernels jupyter starts sit in sessions of
    their own, out of reach of a kill of the process group."""
    import psutil

    try:
        parent = psutil.Process(pid)
        family = [*parent.children(recursive=True), parent]
    except psutil.NoSuchProcess:
        return
    for process in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(family, timeout=10)


def _nbgrader(course: Path, *args: str, timeout: float) -> subprocess.CompletedProcess | None:
    """Run an nbgrader command in ``course``; ``None`` when it ran past ``timeout`` (killed with
    its kernel: the process group)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    process = subprocess.Popen([*NBGRADER, *args, f"--CourseDirectory.root={course}"], cwd=course,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_tree(process.pid)
        process.communicate()
        return None
    return subprocess.CompletedProcess(process.args, process.returncode, out, "")


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


def _scores(course: Path, name: str, sid: str) -> dict[str, float] | None:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        try:
            submission = gradebook.find_submission(name, sid)
        except MissingEntry:
            return None
        return {g.name: float(g.score) for nb in submission.notebooks for g in nb.grades}


def _course(work: Path, spec: student.Spec, timeout: float) -> Path:
    """An nbgrader course for one assignment, its gradebook filled by generate_assignment."""
    course = work / spec.name.replace("/", "_")
    source, _ = student.nbgrader_source(spec.source)
    (course / "source" / "a").mkdir(parents=True)
    nbformat.write(source, course / "source" / "a" / "a.ipynb")
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.course_id = 'labfree'\n", encoding="utf-8")
    done = _nbgrader(course, "generate_assignment", "a", "--force", timeout=timeout)
    if done is None or done.returncode != 0:
        raise RuntimeError(f"nbgrader generate_assignment failed for {spec.name}:\n"
                           f"{done.stdout[-3000:] if done else 'timed out'}")
    return course


def grade_one(row: Row, nb: nbformat.NotebookNode, spec: student.Spec, course: Path, *,
              timeout: float, cell_timeout: float, profile: str | None, feedback: Path) -> None:
    """Grade one identified submission into ``row`` (never raises for the submission's faults)."""
    source, _ = student.nbgrader_source(spec.source)
    nb = copy.deepcopy(nb)
    restored = restore_grade_cells(nb, source)
    if restored:
        row.notes.append(f"missing hidden-test cell(s) put back: {', '.join(restored)}")
    present = {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells}
    missing = [i for ids in spec.solution_ids.values() for i in ids if i not in present]
    if missing:
        row.notes.append(f"missing solution cell(s): {', '.join(missing)}")
    if profile:
        set_parameters(nb, profile=profile)
    sid = re.sub(r"[^A-Za-z0-9_-]", "_", row.student)
    target = course / "submitted" / sid / "a"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    nbformat.write(nb, target / "a.ipynb")
    started = time.monotonic()
    done = _nbgrader(course, "autograde", "a", f"--student={sid}", "--create", "--force",
                     f"--ExecutePreprocessor.timeout={int(cell_timeout)}",
                     # a busy machine may deliver a cell's last output late: wait, never fail the run
                     "--ExecutePreprocessor.iopub_timeout=120", "--Execute.raise_on_iopub_timeout=False",
                     timeout=timeout)
    seconds = time.monotonic() - started
    row.maximum = spec.total
    if done is None:
        row.status = f"timed out: the notebook ran past {timeout:.0f} s"
        row.points = {part: 0.0 for part in spec.parts}
        row.total = 0.0
        return
    scores = _scores(course, "a", sid)
    if done.returncode != 0 or scores is None:
        found = re.findall(r"^\s*((?:\w+\.)*\w+(?:Error|Exception): .*)$", done.stdout, re.M)
        shown = found[-1][:200] if found else "no error shown"
        row.status = f"not graded: nbgrader autograde failed ({shown})"
        row.errors.append(done.stdout[-2000:])
        return
    executed = nbformat.read(course / "autograded" / sid / "a" / "a.ipynb", as_version=4)
    errors = _errors(executed)
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
    _nbgrader(course, "generate_feedback", "a", f"--student={sid}", "--force", timeout=120)
    html = course / "feedback" / sid / "a" / "a.html"
    if html.is_file():
        shutil.copy(html, feedback / f"{row.student}.html")


def write_feedback(row: Row, spec: student.Spec | None, folder: Path) -> Path:
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


def collect(submissions: Path) -> list[tuple[str, Path]]:
    """(student, path) of every notebook under ``submissions``; the student is the first folder
    below it, or the file's stem for a notebook directly in it (made unique)."""
    found, seen = [], {}
    for path in sorted(submissions.rglob("*.ipynb")):
        if ".ipynb_checkpoints" in path.parts:
            continue
        relative = path.relative_to(submissions)
        sid = relative.parts[0] if len(relative.parts) > 1 else path.stem
        seen[sid] = seen.get(sid, 0) + 1
        found.append((sid if seen[sid] == 1 else f"{sid}-{seen[sid]}", path))
    return found


def grade(submissions: Path, out: Path, *, feedback: Path | None = None, timeout: float = 300,
          cell_timeout: float | None = None, profile: str | None = None) -> list[Row]:
    """Grade every notebook under ``submissions``; write the table ``out`` and the feedback."""
    known = specs()
    feedback = feedback or out.with_name(out.stem + "-feedback")
    feedback.mkdir(parents=True, exist_ok=True)
    rows, courses = [], {}
    with tempfile.TemporaryDirectory(prefix="labfree-grading-") as work:
        for sid, path in collect(submissions):
            row = Row(sid, path.relative_to(submissions).as_posix())
            rows.append(row)
            try:
                nb = nbformat.read(path, as_version=4)
            except Exception as error:  # noqa: BLE001 - any unreadable file is a line, not a crash
                row.status = f"not a notebook: {type(error).__name__}: {str(error)[:120]}"
                continue
            name, how = identify(nb, path, known)
            if name is None:
                row.status = ("not graded: matches no assignment (no labfree metadata, no nbgrader "
                              f"cell ids, file name not one of {sorted(known)})")
                continue
            row.assignment = name
            if how != "file name" and path.stem != name.rsplit("/", 1)[-1]:
                row.notes.append(f"renamed: the file is {path.name!r}, recognised as {name} by its {how}")
            try:
                if name not in courses:
                    courses[name] = _course(Path(work), known[name], timeout)
                grade_one(row, nb, known[name], courses[name], timeout=timeout,
                          cell_timeout=cell_timeout or timeout, profile=profile, feedback=feedback)
            except Exception as error:  # noqa: BLE001 - the run goes on to the next submission
                row.status = f"not graded: {type(error).__name__}: {str(error)[:200]}"
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
    for row in rows:
        write_feedback(row, known.get(row.assignment), feedback)
    return rows


def filled(spec: student.Spec, parts: list[str], *, answers: bool = False) -> nbformat.NotebookNode:
    """The student version with the master's solution of ``parts`` written in (and the model
    answers, if ``answers``): what a student who did those parts hands in."""
    nb = nbformat.reads(student.student_notebook(spec.source), as_version=4)
    source, _ = student.nbgrader_source(spec.source)
    code = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
            if c.metadata.get("nbgrader", {}).get("solution")}
    wanted = {i for p in parts for i in spec.solution_ids[p]}
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in wanted or (answers and cell.cell_type == "markdown" and grade_id in code):
            text = code[grade_id]
            cell.source = "\n".join(line for line in text.splitlines()
                                    if line not in (student.BEGIN_SOLUTION, student.END_SOLUTION))
    return nb


def partial_parts(spec: student.Spec) -> list[str]:
    """The parts a partial submission completes: the first half (at least one, never all)."""
    return spec.parts[:max(1, len(spec.parts) // 2)] if len(spec.parts) > 1 else []


def broken(spec: student.Spec, *, base: str = "partial") -> tuple[nbformat.NotebookNode, list[str]]:
    """A submission broken three ways: a cell that raises, a cell that never ends, and two deleted
    cells (the first hidden-test cell of a part left undone, and the last solution cell). ``base``
    is what is broken: the ``"partial"`` submission (its completed parts keep their points) or the
    ``"student"`` version. Returns the notebook and the deleted cells' ids."""
    done = partial_parts(spec) if base == "partial" else []
    nb = filled(spec, done)
    todo = [t for t in spec.tests if t.part not in done]
    deleted = [todo[0].grade_id, spec.solution_ids[spec.parts[-1]][-1]]

    def position(grade_id: str) -> int:
        return next(i for i, c in enumerate(nb.cells)
                    if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)

    nb.cells.pop(position(deleted[1]))
    index = position(deleted[0])
    nb.cells.pop(index)
    nb.cells.insert(index, nbformat.v4.new_code_cell(RAISE))
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(HANG))
    return nb, deleted


def demo(folder: Path, name: str) -> dict[str, Path]:
    """Five submissions of assignment ``name`` under ``folder``, one per student: the solution,
    the student version untouched, a partial one, a broken one, a renamed one (the solution)."""
    spec = specs()[name]
    stem = name.rsplit("/", 1)[-1]
    made = {"solution": filled(spec, spec.parts, answers=True),
            "student": nbformat.reads(student.student_notebook(spec.source), as_version=4),
            "partial": filled(spec, partial_parts(spec)),
            "broken": broken(spec)[0],
            "renamed": filled(spec, spec.parts, answers=True)}
    paths = {}
    for kind, nb in made.items():
        file = RENAMED_FILE if kind == "renamed" else f"{stem}.ipynb"
        paths[kind] = folder / DEMO_STUDENTS[kind] / file
        paths[kind].parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, paths[kind])
    return paths


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["demo"]:
        parser = argparse.ArgumentParser(prog="python -m tools.grade demo",
                                         description="write five demo submissions of an assignment")
        parser.add_argument("folder", type=Path)
        parser.add_argument("--assignment", default="vicreg", choices=sorted(specs()))
        args = parser.parse_args(argv[1:])
        for kind, path in demo(args.folder, args.assignment).items():
            print(f"{kind:9s} {path}")
        return 0
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submissions", type=Path)
    parser.add_argument("--out", type=Path, default=Path("grades.csv"))
    parser.add_argument("--feedback", type=Path, default=None)
    parser.add_argument("--timeout", type=float, default=300, help="seconds per notebook (default 300)")
    # the longest CI-profile cell of the assignments takes ~20 s on one thread: 120 s leaves room for
    # a slow machine and still grades the parts after a cell that never ends
    parser.add_argument("--cell-timeout", type=float, default=120,
                        help="seconds per cell (default 120, at most --timeout)")
    parser.add_argument("--profile", default=None,
                        help="set the notebooks' profile (default: as submitted)")
    args = parser.parse_args(argv)
    if not args.submissions.is_dir():
        parser.error(f"{args.submissions} is not a folder of submissions")
    started = time.monotonic()
    rows = grade(args.submissions, args.out, feedback=args.feedback, timeout=args.timeout,
                 cell_timeout=min(args.cell_timeout, args.timeout), profile=args.profile)
    for row in rows:
        total = "" if row.total is None else f"{row.total:g}/{row.maximum}"
        print(f"{row.student:12s} {row.assignment or '-':10s} {total:7s} {row.status}")
    print(f"{len(rows)} submission(s) in {time.monotonic() - started:.0f} s: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
