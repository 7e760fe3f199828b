"""Student versions of the assignments: generated from the sources, free of solutions, up to date.

The solution notebooks themselves run under papermill in ``test_notebooks.py`` (CI profile).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from tools import pairing, student

ROOT = Path(__file__).resolve().parents[1]

ASSIGNMENTS = student.assignments()


def _cells(source: Path) -> list:
    return nbformat.reads(pairing.render(source), as_version=4).cells


def _student(source: Path) -> nbformat.NotebookNode:
    return nbformat.read(student.student_path(source), as_version=4)


def test_there_are_assignments() -> None:
    assert ASSIGNMENTS, "no book/assignments/*.md source with cells tagged 'solution'"
    for source in ASSIGNMENTS:
        assert student.student_path(source).is_file(), f"run `python -m tools.student` for {source.name}"


def test_student_notebooks_are_up_to_date() -> None:
    """Regenerating from the sources gives the committed files, byte for byte, and no orphans."""
    assert not student.stale(), "run `python -m tools.student`: " + ", ".join(
        p.relative_to(ROOT).as_posix() for p in student.stale())


@pytest.mark.parametrize("source", ASSIGNMENTS, ids=lambda p: p.stem)
def test_generation_is_deterministic(source: Path) -> None:
    assert student.student_notebook(source) == student.student_notebook(source)


@pytest.mark.parametrize("source", ASSIGNMENTS, ids=lambda p: p.stem)
def test_no_solution_in_the_student_version(source: Path) -> None:
    cells = _cells(source)
    solutions = [c for c in cells if student.SOLUTION in c.metadata.get("tags", [])]
    answers = [c for c in cells if student.ANSWER in c.metadata.get("tags", [])]
    instructor = [c for c in cells if student.INSTRUCTOR in c.metadata.get("tags", [])]
    assert solutions and answers
    prose = "\n".join(c.source for c in _student(source).cells if c.cell_type == "markdown")
    code = "\n".join(c.source for c in _student(source).cells if c.cell_type == "code")
    for cell in solutions:
        body = student.solution_body(cell.source)
        assert body, "a solution cell holds code after its task comment"
        # no cell's code, and no single substantial line of it, survives in the student notebook
        assert body not in code
        for line in body.splitlines():
            line = line.strip()
            if len(line) >= 30:
                assert line not in code, f"solution line leaked into the student version: {line!r}"
    for cell in answers:
        for line in cell.source.splitlines():
            if len(line.strip()) >= 40:
                assert line.strip() not in prose + code, f"answer text leaked: {line.strip()!r}"
    for cell in instructor:
        assert cell.source.strip() not in code


@pytest.mark.parametrize("source", ASSIGNMENTS, ids=lambda p: p.stem)
def test_student_cells_are_stubs_prompts_or_kept(source: Path) -> None:
    """Exercises keep the task comment and raise; answers are prompts; checks and prose are kept."""
    cells = [c for c in _cells(source) if student.INSTRUCTOR not in c.metadata.get("tags", [])]
    kept = [c for c in _student(source).cells if not c.source.startswith("> **Student version**")]
    assert len(kept) == len(cells)
    for original, cell in zip(cells, kept):
        tags = original.metadata.get("tags", [])
        if student.SOLUTION in tags:
            assert cell.metadata["tags"] == ["exercise"]
            assert student.STUB in cell.source and "raise NotImplementedError" in cell.source
            assert cell.source.startswith("\n".join(student.task_comment(original.source)))
            assert all(line.startswith("#") or line.startswith("raise NotImplementedError")
                       for line in cell.source.splitlines())
        elif student.ANSWER in tags:
            assert cell.source == student.PROMPT
        else:
            assert cell.source == original.source
            assert not set(student.BOOK_TAGS) & set(cell.metadata.get("tags", []))
    checks = [c for c in cells if student.CHECK in c.metadata.get("tags", [])]
    assert checks and all(any(c.source == k.source for k in kept) for c in checks)


@pytest.mark.parametrize("source", ASSIGNMENTS, ids=lambda p: p.stem)
def test_solution_cells_fold_in_the_book(source: Path) -> None:
    for cell in _cells(source):
        tags = cell.metadata.get("tags", [])
        if student.SOLUTION in tags:
            assert "hide-input" in tags, "tag solution cells hide-input so the book folds them"
            assert student.task_comment(cell.source), "a solution cell starts with a comment stating the task"
        if student.ANSWER in tags:
            assert cell.source.lstrip().startswith(":::{dropdown}"), "answers go in a dropdown in the book"


def test_stub_raises(tmp_path: Path) -> None:
    """A student who runs an unfinished exercise gets NotImplementedError, not a silent pass."""
    source = student.stub("# Compute x.\nx = 1\n", 3)
    assert source.splitlines()[0] == "# Compute x."
    with pytest.raises(NotImplementedError, match="exercise 3"):
        exec(compile(source, "<stub>", "exec"), {})


def test_student_notebooks_are_not_paired_orphans() -> None:
    """tools.pairing neither pairs nor flags the student versions; it does flag other orphans."""
    for source in ASSIGNMENTS:
        assert pairing.is_student(student.student_path(source))
        assert not pairing.is_student(pairing.twin(source))
    assert not any(pairing.is_student(t) for _, t in pairing.stale())
