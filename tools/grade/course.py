"""A temporary nbgrader course per assignment, and the nbgrader commands a grading run gives it.

Every command runs in a process of its own, in its own session, so that a submission that runs
past its time limit is killed with its kernel. The course's configuration sets
:class:`tools.grade.execute.ForkingExecute` in the place of nbgrader's ``Execute``: under a
zygote (:func:`tools.forked_kernels.zygote`) the kernels are forks of a process that has imported
the assignments' libraries.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from tools import student

ROOT = student.ROOT
NBGRADER = [sys.executable, "-m", "nbgrader"]
ASSIGNMENT = "a"  # the one assignment of each course: course/source/a/a.ipynb
CONFIG_FAILED = "Exception while loading config file"  # what traitlets logs, carrying on
CONFIG = """\
import sys

sys.path.insert(0, {root!r})  # tools.grade.execute, from this checkout
from nbgrader.converters import Autograde
from nbgrader.preprocessors import Execute

from tools.grade.execute import ForkingExecute

c = get_config()
c.CourseDirectory.course_id = "labfree"
c.Autograde.autograde_preprocessors = [
    ForkingExecute if p is Execute else p
    for p in Autograde.class_traits()["autograde_preprocessors"].default()]
"""


def kill_tree(pid: int) -> None:
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


def nbgrader(course: Path, *args: str, timeout: float) -> subprocess.CompletedProcess | None:
    """Run an nbgrader command in ``course``; ``None`` when it ran past ``timeout`` (killed with
    its kernel: a launched kernel is in its process tree, a forked one exits with it)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    process = subprocess.Popen([*NBGRADER, *args, f"--CourseDirectory.root={course}"], cwd=course,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_tree(process.pid)
        process.communicate()
        return None
    return subprocess.CompletedProcess(process.args, process.returncode, out, "")


def make(work: Path, name: str, source: nbformat.NotebookNode, timeout: float) -> Path:
    """An nbgrader course for assignment ``name`` from its nbgrader ``source`` notebook
    (:func:`tools.student.nbgrader_source`), its gradebook filled by generate_assignment."""
    course = work / name.replace("/", "_")
    (course / "source" / ASSIGNMENT).mkdir(parents=True)
    nbformat.write(source, course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    (course / "nbgrader_config.py").write_text(CONFIG.format(root=str(ROOT)), encoding="utf-8")
    done = nbgrader(course, "generate_assignment", ASSIGNMENT, "--force", timeout=timeout)
    # nbgrader logs a configuration file that raises and goes on without it
    if done is None or done.returncode != 0 or CONFIG_FAILED in done.stdout:
        raise RuntimeError(f"nbgrader generate_assignment failed for {name}:\n"
                           f"{done.stdout[-3000:] if done else 'timed out'}")
    return course


def submit(course: Path, sid: str, nb: nbformat.NotebookNode) -> None:
    """Hand in ``nb`` as student ``sid`` (replacing an earlier submission)."""
    target = course / "submitted" / sid / ASSIGNMENT
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    nbformat.write(nb, target / f"{ASSIGNMENT}.ipynb")


def autograde(course: Path, sid: str, *, timeout: float,
              cell_timeout: float) -> subprocess.CompletedProcess | None:
    """``nbgrader autograde`` of one submission: its own kernel, a limit per cell (the cell is
    interrupted and marked, the notebook goes on) and one for the whole run (``None``: killed)."""
    return nbgrader(course, "autograde", ASSIGNMENT, f"--student={sid}", "--create", "--force",
                    f"--ExecutePreprocessor.timeout={int(cell_timeout)}",
                    # a busy machine may deliver a cell's last output late: wait, never fail the run
                    "--ExecutePreprocessor.iopub_timeout=120", "--Execute.raise_on_iopub_timeout=False",
                    timeout=timeout)


def autograded(course: Path, sid: str) -> Path:
    return course / "autograded" / sid / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"


def drop_autograded(course: Path, sid: str) -> None:
    """Remove what an autograde that failed or was killed left, so feedback skips the student."""
    shutil.rmtree(autograded(course, sid).parent.parent, ignore_errors=True)


def feedback(course: Path, sids: list[str], *, timeout: float) -> dict[str, Path]:
    """``nbgrader generate_feedback`` for every autograded submission of the course at once (one
    nbgrader start, not one a student); returns each student's HTML that it wrote."""
    if not sids:
        return {}
    nbgrader(course, "generate_feedback", ASSIGNMENT, "--force", timeout=timeout)
    html = {sid: course / "feedback" / sid / ASSIGNMENT / f"{ASSIGNMENT}.html" for sid in sids}
    return {sid: path for sid, path in html.items() if path.is_file()}


def scores(course: Path, sid: str) -> dict[str, float] | None:
    """Points per nbgrader grade cell of a student's autograded submission (None: not graded)."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        try:
            submission = gradebook.find_submission(ASSIGNMENT, sid)
        except MissingEntry:
            return None
        return {g.name: float(g.score) for nb in submission.notebooks for g in nb.grades}
