"""What a grading run reads: the submissions under a folder, the assignment each one is, and the
repairs a submission gets before it runs (its locked hidden-test cells put back, its profile set)."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from tools import student


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
    seconds: float | None = None  # the autograde's wall time


def specs() -> dict[str, student.Spec]:
    """Every assignment of the book, by name."""
    return {s.name: s for s in map(student.spec, student.assignments())}


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


def prepare(nb: nbformat.NotebookNode, spec: student.Spec, row: Row,
            profile: str | None) -> nbformat.NotebookNode:
    """A copy of a submission ready to run: hidden-test cells put back, ``profile`` set; what was
    missing goes into the row's notes."""
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
    return nb
