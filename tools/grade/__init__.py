"""Grade a folder of submitted assignment notebooks offline with nbgrader; make a demo folder.

    python -m tools.grade SUBMISSIONS [--out grades.csv] [--feedback DIR] [--timeout 300]
                          [--cell-timeout 120] [--fresh-kernels]
    python -m tools.grade demo DIR [--assignment vicreg]     # five example submissions
    python -m tools.grade record [--assignment vicreg]       # grade them: the book's record
    make grade SUBMISSIONS=dir [OUT=grades.csv] [TIMEOUT=300] [CELL_TIMEOUT=120]

A submission is any ``*.ipynb`` under SUBMISSIONS: ``SUBMISSIONS/<student>/<file>.ipynb`` (the
student is the folder) or ``SUBMISSIONS/<student>.ipynb``. Its assignment is read from the
notebook's metadata (``labfree.assignment``, written into every student version), else from the
nbgrader ids of its cells, else from its file name, so a renamed notebook is still graded (the
table says so); a notebook that matches no assignment gets its own line.

For each assignment a temporary nbgrader course is made (``nbgrader generate_assignment`` from the
master, :func:`tools.student.nbgrader_source`); each submission is put back in shape (the hidden
tests that nbgrader restores need their locked cells: a deleted one is put back where the master
has it, and the table says so), its ``profile`` set, and ``nbgrader autograde`` runs it in a new
kernel with a limit per cell (``--cell-timeout``, 120 s, at most ``--timeout``: the cell is
interrupted and marked, the notebook goes on, so a never-ending cell costs its own parts only)
and a limit for the whole notebook (``--timeout``: the run is killed, the line says so). The
kernels are forked from a process that has imported the assignments' libraries
(:mod:`tools.forked_kernels`; ``--fresh-kernels`` starts each the usual way). Then one ``nbgrader
generate_feedback`` per assignment writes the HTML feedback.

Written: OUT (one line per submission: student, file, assignment, status, points per part, total,
maximum, notes) and, in the feedback folder (default: OUT's name without ``.csv``, plus
``-feedback``), ``<student>.md`` (points per part, the hidden tests that failed with the error
shown, cells that raised or timed out, the written questions left to grade by hand with their
rubric points) and ``<student>.html`` (nbgrader's feedback: the executed notebook with the hidden
tests and their points).

The modules: :mod:`~tools.grade.submissions` (finding, identifying and repairing submissions),
:mod:`~tools.grade.course` (the nbgrader course and commands), :mod:`~tools.grade.execute` (its
forking ``Execute``), :mod:`~tools.grade.run` (a grading run, the table and the feedback),
:mod:`~tools.grade.demo` (example submissions) and :mod:`~tools.grade.record` (the committed
record of grading them).
"""

from __future__ import annotations

from .demo import (
                   DEMO_STUDENTS,
                   HANG,
                   RAISE,
                   RENAMED_FILE,
                   broken,
                   demo,
                   filled,
                   partial_parts,
                   student_version,
)
from .run import grade, grade_one, write_feedback, write_table
from .submissions import Row, collect, identify, prepare, restore_grade_cells, set_parameters, specs

__all__ = ["DEMO_STUDENTS", "HANG", "RAISE", "RENAMED_FILE", "Row", "broken", "collect", "demo",
           "filled", "grade", "grade_one", "identify", "partial_parts", "prepare",
           "restore_grade_cells", "set_parameters", "specs", "student_version", "write_feedback",
           "write_table"]
