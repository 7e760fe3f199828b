"""Write the student versions of the course assignments from their sources (solutions included).

An assignment is a MyST notebook ``book/assignments/<name>.md`` with at least one cell tagged
``solution``. Its solution notebook ``notebooks/assignments/<name>.ipynb`` is written by
``python -m tools.pairing sync``; this module writes ``notebooks/assignments/student/<name>.ipynb``:

* a code cell tagged ``solution`` keeps its leading comment lines (what to compute) and gets
  ``# YOUR CODE HERE`` and a ``raise NotImplementedError(...)`` in place of the code;
* a markdown cell tagged ``answer`` becomes the prompt ``*Your answer here.*``;
* cells tagged ``instructor`` (e.g. saving the full run's results) are dropped;
* everything else — the prose, the parameters, the cells tagged ``check`` that tell a student
  whether a result is plausible — is kept as it is; a note under the title says how the file was made.

    python -m tools.student           # (re)write every student notebook
    python -m tools.student --check   # exit 1 and list the student notebooks that are out of date
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

from tools import pairing  # the sources and their rendering

ROOT = pairing.ROOT
ASSIGNMENTS = pairing.BOOK / "assignments"
STUDENT = pairing.NOTEBOOKS / "assignments" / "student"
SOLUTION, ANSWER, CHECK, INSTRUCTOR = "solution", "answer", "check", "instructor"
STUB = "# YOUR CODE HERE"
PROMPT = "*Your answer here.*"
# Book-only tags of solution cells: they fold the solution in the rendered page.
BOOK_TAGS = ("hide-input", "hide-output", "hide-cell")


def tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def assignments() -> list[Path]:
    """Assignment sources: notebook sources under book/assignments/ with a cell tagged solution."""
    out = []
    for source in pairing.sources():
        if ASSIGNMENTS in source.parents:
            nb = nbformat.reads(pairing.render(source), as_version=4)
            if any(SOLUTION in tags(c) for c in nb.cells):
                out.append(source)
    return out


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


def stub(code: str, number: int) -> str:
    comment = task_comment(code) or ["# Write the solution of this step."]
    return "\n".join([*comment, STUB, f'raise NotImplementedError("exercise {number}: replace this line '
                                       'with your code")'])


def note(source: Path) -> nbformat.NotebookNode:
    text = (f"> **Student version**, written by `python -m tools.student` from "
            f"`{source.relative_to(ROOT).as_posix()}`. Fill in the cells marked `{STUB}` (each raises "
            "`NotImplementedError` until you do) and the answer cells marked *Your answer here.*; "
            "the cells after them check that your results are plausible. Run the notebook top to "
            "bottom with `profile = \"ci\"` first.")
    return nbformat.v4.new_markdown_cell(text)


def student_notebook(source: Path) -> str:
    """The student notebook's text for an assignment source (deterministic)."""
    nb = nbformat.reads(pairing.render(source), as_version=4)
    cells, exercise, noted = [], 0, False
    for cell in nb.cells:
        cell_tags = tags(cell)
        if INSTRUCTOR in cell_tags:
            continue
        if SOLUTION in cell_tags and cell.cell_type == "code":
            exercise += 1
            cell.source = stub(cell.source, exercise)
            cell.metadata["tags"] = ["exercise"]
        elif ANSWER in cell_tags and cell.cell_type == "markdown":
            cell.source = PROMPT
            cell.metadata["tags"] = ["answer"]
        elif any(t in cell_tags for t in BOOK_TAGS):
            cell.metadata["tags"] = [t for t in cell_tags if t not in BOOK_TAGS]
        cells.append(cell)
        if not noted and cell.cell_type == "markdown" and cell.source.lstrip().startswith("# "):
            cells.append(note(source))
            noted = True
    if not noted:
        cells.insert(0, note(source))
    for index, cell in enumerate(cells):
        cell.id = f"cell-{index:03d}"
        if not cell.metadata.get("tags"):
            cell.metadata.pop("tags", None)
    nb.cells = cells
    return nbformat.writes(nb, version=4) + "\n"


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
