"""nbgrader's Execute preprocessor with kernels forked from the grading run's zygote.

``nbgrader autograde`` runs each submission in a new kernel, which first imports torch,
scikit-learn and labfree: seconds of a core a submission that :mod:`tools.forked_kernels` saves
by forking kernels from a process that has imported them. nbgrader's ``Execute`` names its kernel
manager in its constructor, where configuration cannot reach it, hence this subclass; the course's
``nbgrader_config.py`` (:func:`tools.grade.course.make`) puts it in the place of ``Execute``.
Without ``LABFREE_KERNEL_ZYGOTE`` in the environment its kernels start the usual way.
"""

from __future__ import annotations

from typing import Any

from nbgrader.preprocessors import Execute

from tools.forked_kernels import ForkingKernelManager


class ForkingExecute(Execute):
    """``Execute`` whose kernels come from the zygote at ``$LABFREE_KERNEL_ZYGOTE``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("kernel_manager_class", ForkingKernelManager)
        super().__init__(*args, **kwargs)
