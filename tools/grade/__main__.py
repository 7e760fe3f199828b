"""``python -m tools.grade``: grade a folder of submissions, write a demo folder, or record the
grading of one."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import __doc__ as DOC
from . import record
from .demo import demo
from .run import grade
from .submissions import specs


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["demo"]:
        parser = argparse.ArgumentParser(prog="python -m tools.grade demo",
                                         description="write five demo submissions of an assignment")
        parser.add_argument("folder", type=Path)
        parser.add_argument("--assignment", default="vicreg", choices=sorted(specs()))
        args = parser.parse_args(argv[1:])
        for kind, path in demo(args.folder, args.assignment).items():
            print(f"{kind:9s} {path}")
        return 0
    if argv[:1] == ["record"]:
        parser = argparse.ArgumentParser(prog="python -m tools.grade record",
                                         description="grade the demo submissions and save the "
                                                     "record the book's course page shows")
        parser.add_argument("--assignment", default="vicreg", choices=sorted(specs()))
        parser.add_argument("--profile", default="ci")
        args = parser.parse_args(argv[1:])
        print(record.record(args.assignment, args.profile))
        return 0
    parser = argparse.ArgumentParser(prog="python -m tools.grade", description=DOC,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submissions", type=Path)
    parser.add_argument("--out", type=Path, default=Path("grades.csv"))
    parser.add_argument("--feedback", type=Path, default=None)
    parser.add_argument("--timeout", type=float, default=300, help="seconds per notebook (default 300)")
    # the longest CI-profile cell of the assignments takes ~20 s on one thread: 120 s leaves room for
    # a slow machine and still grades the parts after a cell that never ends
    parser.add_argument("--cell-timeout", type=float, default=120,
                        help="seconds per cell (default 120, at most --timeout)")
    parser.add_argument("--profile", default=None,
                        help="set the notebooks' profile (default: as submitted)")
    parser.add_argument("--fresh-kernels", action="store_true",
                        help="start every kernel as a new process instead of forking it from one "
                             "that has imported the libraries")
    args = parser.parse_args(argv)
    if not args.submissions.is_dir():
        parser.error(f"{args.submissions} is not a folder of submissions")
    started = time.monotonic()
    rows = grade(args.submissions, args.out, feedback=args.feedback, timeout=args.timeout,
                 cell_timeout=min(args.cell_timeout, args.timeout), profile=args.profile,
                 fresh_kernels=args.fresh_kernels)
    for row in rows:
        total = "" if row.total is None else f"{row.total:g}/{row.maximum}"
        print(f"{row.student:12s} {row.assignment or '-':10s} {total:7s} {row.status}")
    print(f"{len(rows)} submission(s) in {time.monotonic() - started:.0f} s: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
