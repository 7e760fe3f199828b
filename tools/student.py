"""Student versions of the assignments, written by nbgrader from the MyST masters.

An assignment is a MyST notebook ``book/assignments/<name>.md`` with cells tagged ``solution``
(the authoring convention is in CONTRIBUTING.md, "Course kit"). This module turns a master into
nbgrader's *source* format and lets nbgrader's own preprocessors (those of ``nbgrader
generate_assignment``) write the student version ``notebooks/assignments/student/<name>.ipynb``:

* a code cell tagged ``solution`` (metadata ``part``) keeps its leading comment lines (the task);
  the code after them becomes nbgrader's solution region, replaced by ``# YOUR CODE HERE`` and
  ``raise NotImplementedError()``;
* a code cell tagged ``autograde`` (``part``, ``points``) becomes a locked nbgrader grade cell whose
  body is a hidden-tests region: the student sees only its first comment line and its points; the
  grader (:mod:`tools.grade`) puts the tests back before it runs the notebook;
* a markdown cell tagged ``answer`` becomes the prompt ``*Your answer here.*`` (a manually graded
  cell worth the points of the ``rubric`` cell after it); cells tagged ``rubric`` or
  ``instructor`` are dropped;
* everything else (prose, parameters, cells tagged ``check``) is kept as it is; book-only tags
  (``hide-input``, ``remove-cell``, ...) are dropped; a note under the title says how the file was
  made; the notebook's metadata names the assignment (``labfree.assignment``), which is how the
  grader recognises a renamed submission.

    python -m tools.student           # (re)write every student notebook
    python -m tools.student --check   # exit 1 and list the student notebooks that are out of date
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from tools import pairing

ROOT = pairing.ROOT
ASSIGNMENTS = pairing.BOOK / "assignments"
STUDENT = pairing.NOTEBOOKS / "assignments" / "student"
SOLUTION, ANSWER, CHECK, INSTRUCTOR = "solution", "answer", "check", "instructor"
AUTOGRADE, RUBRIC = "autograde", "rubric"
STUB = "# YOUR CODE HERE"
CODE_STUB = f"{STUB}\nraise NotImplementedError()"
PROMPT = "*Your answer here.*"
BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
# Book-only tags: they fold or remove cells in the rendered page.
BOOK_TAGS = ("hide-input", "hide-output", "hide-cell", "remove-cell", "remove-input", "remove-output")
RUBRIC_POINTS = re.compile(r"Rubric \((\d+) points?\)")
NBGRADER_SCHEMA = 3


def tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def master(source: Path) -> nbformat.NotebookNode:
    """The master notebook with its cells' metadata (``tags``, ``part``, ``points``)."""
    return pairing.read(source)


def assignments() -> list[Path]:
    """Assignment sources: notebook sources under book/assignments/ with a cell tagged solution."""
    return [s for s in pairing.sources() if ASSIGNMENTS in s.parents
            and any(SOLUTION in tags(c) for c in master(s).cells)]


def name_of(source: Path) -> str:
    """An assignment's name: its path under book/assignments/ without ``.md`` (``"vicreg"``)."""
    if ASSIGNMENTS not in source.parents:
        return source.stem
    return source.relative_to(ASSIGNMENTS).with_suffix("").as_posix()


def student_path(source: Path) -> Path:
    return STUDENT / source.relative_to(ASSIGNMENTS).with_suffix(".ipynb")


def task_comment(code: str) -> list[str]:
    """The leading comment lines of a solution cell: the statement of what to compute."""
    lines = []
    for line in code.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return lines


def solution_body(code: str) -> str:
    """A solution cell without its leading comment: the code a student must not be given."""
    return "\n".join(code.splitlines()[len(task_comment(code)):]).strip()


@dataclass
class Test:
    """One hidden test cell: its nbgrader id, part and points."""

    grade_id: str
    part: str
    points: int


@dataclass
class Spec:
    """What the grader needs to know of an assignment: its parts (in order), tests and written
    questions (nbgrader id and rubric points)."""

    name: str
    source: Path
    parts: list[str] = field(default_factory=list)
    tests: list[Test] = field(default_factory=list)
    questions: list[tuple[str, int]] = field(default_factory=list)
    solution_ids: dict[str, list[str]] = field(default_factory=dict)  # part -> its solution cells

    def points(self, part: str) -> int:
        return sum(t.points for t in self.tests if t.part == part)

    @property
    def total(self) -> int:
        return sum(t.points for t in self.tests)


def _marked(cell, key: str, source: Path):
    value = cell.metadata.get(key)
    if value in (None, ""):
        raise ValueError(f"{source.name}: a cell tagged {tags(cell)} needs the metadata `:{key}:` "
                         f"(see CONTRIBUTING.md, Course kit); its first line: {cell.source[:60]!r}")
    return value


def nbgrader_source(source: Path) -> tuple[nbformat.NotebookNode, Spec]:
    """The master in nbgrader's source format (solution regions, grade cells with hidden tests,
    manually graded answers; rubric and instructor cells dropped), and its :class:`Spec`."""
    nb = master(source)
    spec = Spec(name_of(source), source)
    cells, counters = [], {}
    for index, cell in enumerate(nb.cells):
        cell_tags = tags(cell)
        if RUBRIC in cell_tags or INSTRUCTOR in cell_tags:
            continue
        meta = {"tags": [t for t in cell_tags if t not in BOOK_TAGS]}
        grading = None
        if cell.cell_type == "code" and SOLUTION in cell_tags:
            part = str(_marked(cell, "part", source))
            counters[part] = counters.get(part, 0) + 1
            grade_id = f"{part}-code-{counters[part]}"
            spec.parts += [part] if part not in spec.parts else []
            spec.solution_ids.setdefault(part, []).append(grade_id)
            comment = task_comment(cell.source) or ["# Write the solution of this step."]
            body = solution_body(cell.source)
            cell.source = "\n".join([*comment, BEGIN_SOLUTION, body, END_SOLUTION])
            grading = {"solution": True, "grade": False, "locked": False, "grade_id": grade_id}
        elif cell.cell_type == "code" and AUTOGRADE in cell_tags:
            part, points = str(_marked(cell, "part", source)), int(_marked(cell, "points", source))
            counters[f"{part} tests"] = counters.get(f"{part} tests", 0) + 1
            grade_id = f"{part}-test-{counters[f'{part} tests']}"
            spec.tests.append(Test(grade_id, part, points))
            lines = cell.source.strip().splitlines()
            title = lines[0] if lines and lines[0].startswith("#") else f"# tests of {part}"
            rest = lines[1:] if lines and lines[0].startswith("#") else lines
            plural = "s" if points != 1 else ""
            cell.source = "\n".join([f"{title} [hidden tests, {points} point{plural}]",
                                     BEGIN_HIDDEN, *rest, END_HIDDEN])
            grading = {"solution": False, "grade": True, "locked": True, "points": points,
                       "grade_id": grade_id}
        elif cell.cell_type == "markdown" and ANSWER in cell_tags:
            following = nb.cells[index + 1] if index + 1 < len(nb.cells) else None
            found = (RUBRIC_POINTS.search(following.source)
                     if following is not None and RUBRIC in tags(following) else None)
            grade_id = f"written-{len(spec.questions) + 1}"
            if found:
                spec.questions.append((grade_id, int(found.group(1))))
                grading = {"solution": True, "grade": True, "locked": False,
                           "points": int(found.group(1)), "grade_id": grade_id, "task": False}
            else:
                grading = {"solution": True, "grade": False, "locked": False, "grade_id": grade_id}
        if grading is not None:
            meta["nbgrader"] = {**grading, "schema_version": NBGRADER_SCHEMA}
        if not meta["tags"]:
            meta.pop("tags")
        cell.metadata = meta
        cells.append(cell)
    for test in spec.tests:
        if test.part not in spec.parts:
            raise ValueError(f"{source.name}: hidden tests of part {test.part!r}, which no solution "
                             f"cell has (parts: {spec.parts})")
    nb.cells = cells
    nb.metadata["labfree"] = {"assignment": spec.name}
    return nb, spec


def spec(source: Path) -> Spec:
    return nbgrader_source(source)[1]


def _preprocess(nb: nbformat.NotebookNode, steps) -> nbformat.NotebookNode:
    resources: dict = {}
    for step in steps:
        nb, resources = step.preprocess(nb, resources)
    return nb


def release(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """nbgrader's student version of a source notebook: its ``generate_assignment`` steps
    (locked cells, solutions cleared, outputs cleared, hidden tests cleared, checksums)."""
    from nbgrader.preprocessors import (
        CheckCellMetadata,
        ClearHiddenTests,
        ClearOutput,
        ClearSolutions,
        ComputeChecksums,
        LockCells,
    )

    steps = [LockCells(), ClearSolutions(code_stub={"python": CODE_STUB}, text_stub=PROMPT),
             ClearOutput(), CheckCellMetadata(), ComputeChecksums(), ClearHiddenTests(),
             ComputeChecksums(), CheckCellMetadata()]
    return _preprocess(copy.deepcopy(nb), steps)


def note(source: Path) -> nbformat.NotebookNode:
    text = (f"> **Student version**, written by nbgrader (`python -m tools.student`) from "
            f"`{source.relative_to(ROOT).as_posix()}`. Fill in the cells marked `{STUB}` (each raises "
            "`NotImplementedError` until you do) and the answer cells marked *Your answer here.*; "
            "the cells tagged `check` after them tell you whether your results are plausible, and "
            "the locked cells marked *hidden tests* are where the grader tests your code (keep "
            "them, and keep the names the tasks ask for). Run the notebook top to bottom with "
            "`profile = \"ci\"` first.")
    return nbformat.v4.new_markdown_cell(text)


def finish(nb: nbformat.NotebookNode, source: Path) -> str:
    """Add the note under the title, number the cells, and write the notebook's text."""
    cells, noted = [], False
    for cell in nb.cells:
        cells.append(cell)
        if not noted and cell.cell_type == "markdown" and cell.source.lstrip().startswith("# "):
            cells.append(note(source))
            noted = True
    if not noted:
        cells.insert(0, note(source))
    for index, cell in enumerate(cells):
        cell.id = f"cell-{index:03d}"
    nb.cells = cells
    nb.metadata["colab"] = {"provenance": []}
    nb.nbformat, nb.nbformat_minor = 4, 5
    return nbformat.writes(nb, version=4) + "\n"


def student_notebook(source: Path) -> str:
    """The student notebook's text for an assignment source (deterministic)."""
    return finish(release(nbgrader_source(source)[0]), source)


def stale() -> list[Path]:
    """Student notebooks missing or differing from what their sources give, and orphans."""
    expected = {student_path(s): s for s in assignments()}
    out = [p for p, s in expected.items()
           if not p.exists() or p.read_text(encoding="utf-8") != student_notebook(s)]
    out += [p for p in sorted(STUDENT.glob("*.ipynb")) if p not in expected]
    return out


def write() -> list[Path]:
    """Write every out-of-date student notebook; return the paths written."""
    return [student_path(s) for s in assignments()
            if pairing.write_if_changed(student_path(s), student_notebook(s))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only report out-of-date student notebooks")
    args = parser.parse_args(argv)
    if args.check:
        bad = stale()
        for path in bad:
            print(f"out of date: {path.relative_to(ROOT)} (run `python -m tools.student`)")
        return 1 if bad else 0
    for path in write():
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
