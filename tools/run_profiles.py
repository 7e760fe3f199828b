"""Run chapters in a recorded profile (``reference`` on a CPU, ``full`` on a GPU) and keep records.

Each chapter with the profile runs under papermill, one after another (or ``--jobs`` at a time,
each on one thread), and saves ``results/<chapter>_<profile>.json`` with its provenance and
settings (:meth:`labfree.chapter.Chapter.save`). A chapter whose committed record was made with
its profile's current settings is skipped, so a run killed half-way resumes where it stopped::

    python -m tools.run_profiles --list                    # chapters, estimates, record status
    python -m tools.run_profiles                           # every chapter's reference profile
    python -m tools.run_profiles simclr schemes --jobs 2   # these two, side by side
    nohup python -m tools.run_profiles > reference.log 2>&1 &   # in the background

Records name the commit they ran from, so run from a clean checkout of a commit on main (the
runner refuses a tree with uncommitted changes unless told ``--allow-dirty``), then commit the new
``results/*.json``. Executed notebooks are kept under ``_build/<profile>/`` for inspection.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORDED = ("reference", "full")


@dataclass
class Outcome:
    chapter: str
    status: str          # "ran", "failed: ...", "skipped (current)"
    seconds: float = 0.0


def notebook(chapter: str) -> Path:
    return ROOT / "notebooks" / f"{chapter}.ipynb"


def record_status(chapter: str, profile: str) -> tuple[str, float | None]:
    """``("current" | "stale" | "missing", wall time of the record in s)``."""
    from labfree import chapter as layer
    from labfree import profiles, results

    path = results.results_dir() / f"{layer.record_name(chapter, profile)}.json"
    if not path.is_file():
        return "missing", None
    provenance = json.loads(path.read_text())["provenance"]
    current = layer.same_settings(provenance.get("settings"), profiles.get(chapter)[profile])
    return ("current" if current else "stale"), provenance.get("wall_time_s")


def estimate_s(chapter: str, profile: str) -> float:
    """Seconds the chapter is expected to take: its last record's wall time, else the estimate
    its profile module states (``MINUTES``), else 10 minutes."""
    from labfree import profiles

    _, seconds = record_status(chapter, profile)
    if seconds:
        return float(seconds)
    minutes = profiles.estimate_minutes(chapter, profile)
    return 60.0 * (minutes if minutes is not None else 10)


def run_one(chapter: str, profile: str, out: Path, threads: int) -> Outcome:
    import papermill

    target = out / f"{chapter}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    parameters = {"profile": profile, "threads": threads}
    try:
        papermill.execute_notebook(str(notebook(chapter)), str(target), parameters=parameters,
                                   cwd=str(notebook(chapter).parent), kernel_name="python3",
                                   progress_bar=False)
        status = "ran"
    except papermill.PapermillExecutionError as error:
        status = f"failed in cell {error.cell_index}: {error.ename}: {error.evalue}"[:300]
    return Outcome(chapter, status, time.perf_counter() - start)


def tree_is_dirty() -> bool:
    from labfree import results

    return results.git_commit(ROOT).endswith("-dirty")  # the same test the provenance applies


def main(argv: list[str] | None = None) -> int:
    from labfree import profiles

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="*", help="chapters to run (default: all with the profile)")
    parser.add_argument("--profile", choices=RECORDED, default="reference")
    parser.add_argument("--jobs", type=int, default=1, help="chapters at a time (one thread each)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per chapter")
    parser.add_argument("--force", action="store_true", help="re-run chapters whose record is current")
    parser.add_argument("--allow-dirty", action="store_true",
                        help="run although the tree has uncommitted changes (records say -dirty)")
    parser.add_argument("--list", action="store_true", help="list chapters, estimates and records")
    parser.add_argument("--out", type=Path, default=None,
                        help="executed notebooks (default _build/<profile>)")
    args = parser.parse_args(argv)

    available = profiles.chapters(args.profile)
    names = args.chapters or available
    if unknown := [n for n in names if n not in available]:
        parser.error(f"no {args.profile} profile in {unknown}; chapters with one: {available}")
    if args.jobs < 1 or args.threads < 1:
        parser.error("--jobs and --threads must be at least 1")
    if args.list:
        print(f"{'chapter':<22} {'estimate':>9}  record")
        for name in names:
            status, seconds = record_status(name, args.profile)
            made = f" ({seconds / 60:.1f} min)" if seconds else ""
            print(f"{name:<22} {estimate_s(name, args.profile) / 60:>6.1f} min  {status}{made}")
        return 0
    if tree_is_dirty() and not args.allow_dirty:
        parser.error("the tree has uncommitted changes, so the records could not name the code "
                     "they ran; commit first (or pass --allow-dirty for a trial run)")

    out = args.out or ROOT / "_build" / args.profile
    todo = [n for n in names if args.force or record_status(n, args.profile)[0] != "current"]
    outcomes = [Outcome(n, "skipped (current)") for n in names if n not in todo]
    for outcome in outcomes:
        print(f"{outcome.chapter}: record is current, skipped", flush=True)
    estimates = {n: estimate_s(n, args.profile) for n in todo}
    started = time.perf_counter()
    print(f"{len(todo)} chapter(s) to run in the {args.profile} profile, {args.jobs} at a time; "
          f"estimated {sum(estimates.values()) / 60 / args.jobs:.0f} min", flush=True)

    def job(name: str) -> Outcome:
        print(f"[{_clock(started)}] start {name}", flush=True)
        return run_one(name, args.profile, out, args.threads)

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for outcome in pool.map(job, todo):
            outcomes.append(outcome)
            estimates.pop(outcome.chapter)
            remaining = sum(estimates.values())
            print(f"[{_clock(started)}] {outcome.chapter}: {outcome.status} in "
                  f"{outcome.seconds / 60:.1f} min; about {remaining / 60 / args.jobs:.0f} min "
                  f"left", flush=True)
    _summary(outcomes, args.profile)
    return 1 if any(o.status.startswith("failed") for o in outcomes) else 0


def _clock(started: float) -> str:
    minutes, seconds = divmod(int(time.perf_counter() - started), 60)
    return f"{minutes:3d}:{seconds:02d}"


def _summary(outcomes: list[Outcome], profile: str) -> None:
    print(f"\n{'chapter':<22} {'minutes':>8}  status")
    for o in sorted(outcomes, key=lambda o: o.chapter):
        print(f"{o.chapter:<22} {o.seconds / 60:>8.1f}  {o.status}")
    total = sum(o.seconds for o in outcomes)
    print(f"{len(outcomes)} chapter(s), {total / 60:.1f} min of chapter time; commit the new "
          f"results/*_{profile}.json")


if __name__ == "__main__":
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    sys.exit(main())
