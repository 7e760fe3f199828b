"""Example submissions of an assignment, made from its master: the solution, the untouched student
version, a partial one, a broken one and a renamed one (``python -m tools.grade demo DIR``); the
grading tests hand them in."""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat

from tools import student

from .submissions import specs

DEMO_STUDENTS = {"solution": "alice", "student": "bob", "partial": "carol", "broken": "dave",
                 "renamed": "erin"}
RENAMED_FILE = "Copy of assignment (2).ipynb"
HANG = "import time\n\nwhile True:  # a cell that never ends\n    time.sleep(1)"
RAISE = 'raise RuntimeError("a cell that raises")'


def student_version(spec: student.Spec) -> nbformat.NotebookNode:
    """The student version of an assignment, as handed out (nbgrader's release: about 1.4 s)."""
    return nbformat.reads(student.student_notebook(spec.source), as_version=4)


def filled(spec: student.Spec, parts: list[str], *, answers: bool = False,
           version: nbformat.NotebookNode | None = None) -> nbformat.NotebookNode:
    """The student version (``version``, if already made; it is copied) with the master's solution
    of ``parts`` written in (and the model answers, if ``answers``): what a student who did those
    parts hands in."""
    nb = copy.deepcopy(version) if version is not None else student_version(spec)
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


def broken(spec: student.Spec, *, base: str = "partial",
           version: nbformat.NotebookNode | None = None) -> tuple[nbformat.NotebookNode, list[str]]:
    """A submission broken three ways: a cell that raises, a cell that never ends, and two deleted
    cells (the first hidden-test cell of a part left undone, and the last solution cell). ``base``
    is what is broken: the ``"partial"`` submission (its completed parts keep their points) or the
    ``"student"`` version (``version``: as for :func:`filled`). Returns the notebook and the
    deleted cells' ids."""
    done = partial_parts(spec) if base == "partial" else []
    nb = filled(spec, done, version=version)
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
    version = student_version(spec)  # made once, each submission from a copy
    solution = filled(spec, spec.parts, answers=True, version=version)
    made = {"solution": solution,
            "student": version,
            "partial": filled(spec, partial_parts(spec), version=version),
            "broken": broken(spec, version=version)[0],
            "renamed": solution}  # the same notebook, under another file name
    paths = {}
    for kind, nb in made.items():
        file = RENAMED_FILE if kind == "renamed" else f"{stem}.ipynb"
        paths[kind] = folder / DEMO_STUDENTS[kind] / file
        paths[kind].parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, paths[kind])
    return paths
