"""Grading with tools.grade (nbgrader, offline): for every assignment under book/assignments/, the
solution gets full marks, the student version zero, and a partial submission broken after its
completed parts (a cell that raises, a cell that never ends, deleted cells) exactly the points of
those parts, with every breakage reported and the run going on; unreadable and unrecognised files
get their own line.

The submissions really run, in the assignment's ``grading`` profile when it has one (seconds: the
hidden tests check how each result is computed, not how good it is), else in its CI profile; the
solution's CI run with the hidden tests in place is ``test_notebooks.py``'s run of the master.
"""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

import nbformat
import pytest

from labfree import chapter, profiles
from tools import forked_kernels, grade, student
from tools.grade import course, record, run
from tools.grade.execute import ForkingExecute

SPECS = [student.spec(s) for s in student.assignments()]
# s; the never-ending cell sleeps until then. The longest cell of a grading-profile solution takes
# 7 s on one thread (the UMAP maps, with umap's compiled code cached: fixture umap_compiled)
CELL_TIMEOUT = {"grading": 20, "ci": 150}


def _profile(spec: student.Spec) -> str:
    try:
        return "grading" if "grading" in profiles.get(f"assignments/{spec.name}") else "ci"
    except KeyError:
        return "ci"


def _grade_three(spec: student.Spec, folder: Path) -> tuple[dict[str, grade.Row], Path, list[str]]:
    """One grading run over three submissions: the solution, the student version, and a partial
    submission broken after its completed parts (a cell that raises, one that never ends, two
    deleted cells), which must keep exactly the points of the parts it completed."""
    stem = spec.name.rsplit("/", 1)[-1]
    version = grade.student_version(spec)
    broken, deleted = grade.broken(spec, base="partial", version=version)
    made = {"solution": grade.filled(spec, spec.parts, answers=True, version=version),
            "student": version, "broken": broken}
    for kind, nb in made.items():
        (folder / kind).mkdir()
        nbformat.write(nb, folder / kind / f"{stem}.ipynb")
    out = folder / "grades.csv"
    profile = _profile(spec)
    rows = grade.grade(folder, out, timeout=900, cell_timeout=CELL_TIMEOUT[profile], profile=profile)
    return {row.student: row for row in rows}, out, deleted


# One test per assignment, not one per claim over a shared fixture: under `pytest -n 2` a
# module-scoped fixture is set up once per worker that runs one of its tests, and the grading run
# is the minute this file costs.
@pytest.mark.notebook
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_grading(spec: student.Spec, tmp_path: Path, offline_kernels, umap_compiled,
                 kernel_zygote) -> None:
    rows, out, deleted = _grade_three(spec, tmp_path)
    _the_solution_gets_full_marks(spec, rows["solution"])
    _the_student_version_gets_zero(spec, rows["student"])
    _a_partial_submission_gets_the_points_of_its_parts(spec, rows["broken"])
    _a_broken_submission_is_reported(spec, rows, out, deleted)


def _the_solution_gets_full_marks(spec: student.Spec, row: grade.Row) -> None:
    assert row.status.startswith("graded") and not row.failed, (row.status, row.errors, row.failed)
    # no cell raises, but in the seconds-long grading profile a public check's claim (the probe at
    # twice chance, ...) may not hold yet: those are asserts of cells tagged check, nothing else
    for error in row.errors:
        assert _profile(spec) != "ci" and "([check]): AssertionError: claims that do not hold" in error
    assert row.points == {part: spec.points(part) for part in spec.parts}
    assert row.total == row.maximum == spec.total


def _the_student_version_gets_zero(spec: student.Spec, row: grade.Row) -> None:
    assert row.points == {part: 0 for part in spec.parts} and row.total == 0
    assert "unfinished cell(s)" in row.status
    assert len(row.failed) == len(spec.tests)  # every hidden test failed, with its error shown
    for failed in row.failed:  # "<test id> (<n> pt): <error name>: <message>"
        assert re.fullmatch(r"\S+ \(\d+ pt\): \w+(Error|Exception): .*", failed), failed


def _a_partial_submission_gets_the_points_of_its_parts(spec: student.Spec, row: grade.Row) -> None:
    done = grade.partial_parts(spec)
    assert done, f"{spec.name} has one part: no partial submission to grade"
    expected = {part: spec.points(part) if part in done else 0 for part in spec.parts}
    assert row.points == expected
    assert 0 < row.total == sum(spec.points(p) for p in done) < spec.total


def _a_broken_submission_is_reported(spec: student.Spec, rows: dict[str, grade.Row], out: Path,
                                     deleted: list[str]) -> None:
    row = rows["broken"]
    assert row.status.startswith("graded")
    assert "1 cell(s) timed out" in row.status and "raised" in row.status
    assert any("RuntimeError: a cell that raises" in e for e in row.errors)
    assert any("CellTimeoutError" in e for e in row.errors)
    assert f"missing hidden-test cell(s) put back: {deleted[0]}" in row.notes
    assert f"missing solution cell(s): {deleted[1]}" in row.notes
    # the table: one line per submission, points per part, the broken line says what happened
    with out.open(encoding="utf-8") as handle:
        table = {line["student"]: line for line in csv.DictReader(handle)}
    assert set(table) == set(rows)
    assert table["broken"]["status"] == row.status
    assert table["solution"]["total"] == str(spec.total) == table["solution"]["max"]
    for part in spec.parts:
        assert table["solution"][f"{spec.name}:{part}"] == str(spec.points(part))
    feedback = (out.with_name("grades-feedback") / "broken.md").read_text(encoding="utf-8")
    assert "Hidden tests that failed" in feedback and "CellTimeoutError" in feedback
    assert (out.with_name("grades-feedback") / "solution.html").is_file()


def test_unreadable_and_unrecognised_files_get_a_line(tmp_path: Path) -> None:
    """No kernel starts for them: a file that is not JSON, a notebook of no assignment."""
    (tmp_path / "junk.ipynb").write_text("not a notebook {", encoding="utf-8")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")])
    nbformat.write(nb, tmp_path / "homework.ipynb")
    rows = {r.student: r for r in grade.grade(tmp_path, tmp_path / "out" / "grades.csv")}
    assert rows["junk"].status.startswith("not a notebook")
    assert rows["homework"].status.startswith("not graded: matches no assignment")
    lines = (tmp_path / "out" / "grades.csv").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3 and (tmp_path / "out" / "grades-feedback" / "junk.md").is_file()


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_a_renamed_notebook_is_recognised(spec: student.Spec) -> None:
    """By its metadata; without it, by the nbgrader ids of its cells; a bare notebook by nothing."""
    known = {s.name: s for s in SPECS}
    nb = grade.student_version(spec)
    assert grade.identify(nb, Path(grade.RENAMED_FILE), known) == (spec.name, "metadata")
    nb.metadata.pop("labfree")
    assert grade.identify(nb, Path(grade.RENAMED_FILE), known) == (spec.name, "cell ids")
    bare = nbformat.v4.new_notebook()
    assert grade.identify(bare, Path(grade.RENAMED_FILE), known) == (None, "nothing")
    assert grade.identify(bare, Path(f"{spec.name}.ipynb"), known) == (spec.name, "file name")


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_the_demo_folder(spec: student.Spec, tmp_path: Path) -> None:
    """Five submissions; the filled ones hold the master's code exactly where the stubs were."""
    paths = grade.demo(tmp_path, spec.name)
    assert sorted(paths) == sorted(grade.DEMO_STUDENTS)
    assert paths["renamed"].name == grade.RENAMED_FILE
    solution = nbformat.read(paths["solution"], as_version=4)
    code = "\n".join(c.source for c in solution.cells if c.cell_type == "code")
    assert student.STUB not in code and "NotImplementedError()" not in code
    for cell in student.master(spec.source).cells:
        if student.SOLUTION in student.tags(cell):
            assert student.solution_body(cell.source) in code
    partial = "\n".join(c.source for c in nbformat.read(paths["partial"], as_version=4).cells
                        if c.cell_type == "code")
    assert partial.count(student.CODE_STUB) == sum(
        len(ids) for part, ids in spec.solution_ids.items() if part not in grade.partial_parts(spec))


def test_restore_and_parameters() -> None:
    """A deleted hidden-test cell comes back after the cell that precedes it in the master."""
    spec = SPECS[0]
    source, _ = student.nbgrader_source(spec.source)
    nb = grade.student_version(spec)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    first = spec.tests[0].grade_id
    position = ids.index(first)
    nb.cells.pop(position)
    assert grade.restore_grade_cells(nb, source) == [first]
    assert nb.cells[position].metadata["nbgrader"]["grade_id"] == first
    assert grade.restore_grade_cells(nb, source) == []
    grade.set_parameters(nb, profile="grading")
    params = next(c for c in nb.cells if "parameters" in student.tags(c))
    assert 'profile = \'grading\'' in params.source and 'profile = "ci"' not in params.source


def test_the_course_runs_submissions_in_forked_kernels(tmp_path: Path) -> None:
    """The course's nbgrader_config.py puts ForkingExecute where nbgrader has Execute, and
    nothing else changes in the autograde pipeline."""
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import Execute
    from traitlets.config import Config

    config = Config()
    exec(course.CONFIG.format(root=str(course.ROOT)), {"get_config": lambda: config})
    default = Autograde.class_traits()["autograde_preprocessors"].default()
    chosen = config.Autograde.autograde_preprocessors
    assert Execute in default and ForkingExecute not in default
    assert chosen == [ForkingExecute if p is Execute else p for p in default]
    assert ForkingExecute().kernel_manager_class is forked_kernels.ForkingKernelManager
    assert config.CourseDirectory.course_id == "labfree"


@pytest.mark.parametrize("fresh", [False, True], ids=["forked", "fresh"])
def test_autograde_runs_a_submission_in_a_kernel_forked_from_the_zygote(
        tmp_path: Path, offline_kernels, kernel_zygote, fresh: bool) -> None:
    """End to end, through nbgrader (which ignores a configuration file that raises): the kernel
    starts with the zygote's imports done, or without them under --fresh-kernels."""
    if kernel_zygote is None:
        pytest.skip("kernels cannot be forked on this platform")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import sys\nprint('labfree.train' in sys.modules)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    where = course.make(tmp_path, "probe", nb, timeout=120)
    course.submit(where, "s", nb)
    with run._kernels(fresh):
        done = course.autograde(where, "s", timeout=120, cell_timeout=60)
    assert done is not None and done.returncode == 0, done and done.stdout[-2000:]
    executed = nbformat.read(course.autograded(where, "s"), as_version=4)
    assert executed.cells[0].outputs[0]["text"].strip() == str(not fresh)


def test_where_kernels_come_from(monkeypatch) -> None:
    """A zygote of the run's own only with one-thread pools and none named already; fresh kernels
    hide a zygote the environment names."""
    for name in forked_kernels.THREAD_POOLS:
        monkeypatch.setenv(name, "1")
    monkeypatch.setenv(forked_kernels.ENV, "/suite/zygote")
    with run._kernels(fresh=False):
        assert os.environ[forked_kernels.ENV] == "/suite/zygote"  # the suite's
    with run._kernels(fresh=True):
        assert forked_kernels.ENV not in os.environ
    assert os.environ[forked_kernels.ENV] == "/suite/zygote"
    monkeypatch.delenv(forked_kernels.ENV)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # its imports would start threads: no zygote
    with run._kernels(fresh=False):
        assert forked_kernels.ENV not in os.environ


def test_student_ids_are_safe_and_unique() -> None:
    taken: set[str] = set()
    assert [run._sid(n, taken) for n in ("ann lee", "ann_lee", "bo", "ann-lee")] == [
        "ann_lee", "ann_lee-2", "bo", "ann-lee"]


def test_the_books_grading_record_is_committed_current_and_from_a_commit() -> None:
    """The course page's table is read from results/grading_demo_vicreg.json: it must come from a
    clean commit, with the assignment's CI profile and the limits record.py grades with now, and
    hold one line per demo submission, graded against the assignment's parts as they are now."""
    name = record.name("vicreg")
    path = Path(__file__).resolve().parents[1] / "results" / f"{name}.json"
    assert path.is_file(), f"{path.name} is missing: run python -m tools.grade record and commit it"
    saved = json.loads(path.read_text(encoding="utf-8"))
    provenance, data = saved["provenance"], saved["data"]
    assert chapter.same_settings(provenance["settings"], record.settings("vicreg", "ci")), (
        f"{path.name} is stale: the assignment's CI profile or the limits changed since it was made")
    commit = provenance["commit"]
    assert len(commit) == 40 and not commit.endswith("-dirty"), commit
    assert provenance["threads"] == 1 and provenance["kernels"] == "forked"
    spec = grade.specs()["vicreg"]
    assert data["parts"] == {part: spec.points(part) for part in spec.parts}
    assert data["partial_parts"] == grade.partial_parts(spec)
    rows = {row["kind"]: row for row in data["rows"]}
    assert {kind: row["student"] for kind, row in rows.items()} == grade.DEMO_STUDENTS
    for row in rows.values():
        assert set(row["points"]) == set(spec.parts) and row["maximum"] == spec.total
        assert row["total"] == sum(row["points"].values()) and row["seconds"] > 0
