"""Student versions of the assignments: written by nbgrader from the masters, free of solutions and
hidden tests, up to date. Parametrized over every assignment under book/assignments/.

Grading (the hidden tests run on submissions) is tested in ``test_grade.py``.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from tools import pairing, student

ROOT = Path(__file__).resolve().parents[1]

ASSIGNMENTS = student.assignments()


def _master(source: Path) -> list:
    return student.master(source).cells


def _student(source: Path) -> nbformat.NotebookNode:
    return nbformat.read(student.student_path(source), as_version=4)


def _tagged(cells: list, tag: str) -> list:
    return [c for c in cells if tag in student.tags(c)]


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
def test_the_master_follows_the_convention(source: Path) -> None:
    """Every graded part has hidden tests worth points; every answer has a rubric; book tags fold
    solutions and rubrics and remove hidden tests."""
    cells = _master(source)
    spec = student.spec(source)
    assert spec.parts and spec.total > 0
    for part in spec.parts:
        assert spec.points(part) > 0, f"part {part!r} has no hidden tests (cells tagged autograde)"
    for cell in _tagged(cells, student.SOLUTION):
        assert "hide-input" in student.tags(cell), "tag solution cells hide-input so the book folds them"
        assert student.task_comment(cell.source), "a solution cell starts with a comment stating the task"
        assert student.solution_body(cell.source), "a solution cell holds code after its task comment"
    for cell in _tagged(cells, student.AUTOGRADE):
        assert "remove-cell" in student.tags(cell), "hidden tests are removed from the book page"
        assert isinstance(cell.metadata["points"], int) and cell.metadata["points"] > 0
    for index, cell in enumerate(cells):
        if student.ANSWER in student.tags(cell):
            assert cell.source.lstrip().startswith(":::{dropdown}"), "answers go in a dropdown"
            rubric = cells[index + 1]
            assert student.RUBRIC in student.tags(rubric), "each answer is followed by its rubric"
            assert rubric.source.lstrip().startswith(":::{dropdown} Rubric ("), "rubrics fold too"
    assert len(spec.questions) == len(_tagged(cells, student.ANSWER))


@pytest.mark.parametrize("source", ASSIGNMENTS, ids=lambda p: p.stem)
def test_no_solution_in_the_student_version(source: Path) -> None:
    """No solution code, hidden test, model answer, rubric or instructor cell survives, line by line."""
    cells = _master(source)
    nb = _student(source)
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    everything = prose + "\n" + code
    for cell in _tagged(cells, student.SOLUTION):
        body = student.solution_body(cell.source)
        assert body not in code
        for line in body.splitlines():
            if len(line.strip()) >= 30:
                assert line.strip() not in code, f"solution line leaked: {line.strip()!r}"
    for cell in _tagged(cells, student.AUTOGRADE):
        for line in cell.source.strip().splitlines()[1:]:  # the first line, a comment, stays
            if len(line.strip()) >= 30:
                assert line.strip() not in code, f"hidden test leaked: {line.strip()!r}"
    for tag in (student.ANSWER, student.RUBRIC, student.INSTRUCTOR):
        for cell in _tagged(cells, tag):
            for line in cell.source.splitlines():
                if len(line.strip()) >= 40:
                    assert line.strip() not in everything, f"{tag} text leaked: {line.strip()!r}"
    assert nb.metadata["labfree"]["assignment"] == student.name_of(source)


@pytest.mark.parametrize("source", ASSIGNMENTS, ids=lambda p: p.stem)
def test_student_cells_are_stubs_prompts_tests_or_kept(source: Path) -> None:
    """Exercises keep the task comment and raise; answers are prompts; hidden tests are locked
    placeholders with their points; checks, prose and parameters are kept as they are."""
    kept = [c for c in _master(source)
            if not {student.INSTRUCTOR, student.RUBRIC} & set(student.tags(c))]
    cells = [c for c in _student(source).cells if not c.source.startswith("> **Student version**")]
    assert len(cells) == len(kept)
    for original, cell in zip(kept, cells):
        tags = student.tags(original)
        assert not set(student.BOOK_TAGS) & set(student.tags(cell))
        if student.SOLUTION in tags:
            comment = student.task_comment(original.source)
            assert cell.source == "\n".join([*comment, student.CODE_STUB])
        elif student.AUTOGRADE in tags:
            points = original.metadata["points"]
            assert cell.metadata["nbgrader"]["locked"] and cell.metadata["nbgrader"]["points"] == points
            assert len(cell.source.splitlines()) == 1 and "hidden tests" in cell.source
        elif student.ANSWER in tags:
            assert cell.source == student.PROMPT
        else:
            assert cell.source == original.source
    checks = _tagged(kept, student.CHECK)
    assert checks and all(any(c.source == k.source for k in cells) for c in checks)


def test_stub_raises() -> None:
    """A student who runs an unfinished exercise gets NotImplementedError, not a silent pass."""
    source = "\n".join(["# Compute x.", student.CODE_STUB])
    with pytest.raises(NotImplementedError):
        exec(compile(source, "<stub>", "exec"), {})


def test_a_master_without_part_metadata_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "x.md"
    source.write_text("---\nkernelspec:\n  name: python3\n  display_name: Python 3\n---\n\n"
                      "```{code-cell} ipython3\n:tags: [solution, hide-input]\n\n# Compute x.\nx = 1\n```\n",
                      encoding="utf-8")
    with pytest.raises(ValueError, match="part"):
        student.nbgrader_source(source)


def test_student_notebooks_are_not_paired_orphans() -> None:
    """tools.pairing neither pairs nor flags the student versions; it does flag other orphans."""
    for source in ASSIGNMENTS:
        assert pairing.is_student(student.student_path(source))
        assert not pairing.is_student(pairing.twin(source))
    assert not any(pairing.is_student(t) for _, t in pairing.stale())
