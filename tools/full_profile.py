"""Run chapters in their "full" profile (GPU) and collect the result files they write.

The chapters' CI profile runs in the test suite on a CPU. Their "full" profile trains ResNet-18L for
hundreds of epochs and needs a GPU; run there, each chapter saves its numbers with provenance
(device, commit, date, wall time) to ``results/<name>.json`` through :func:`labfree.results.save`,
and the book draws those files. This script runs the chosen chapters one after another under
papermill, keeps each executed notebook, and prints a summary of wall times.

    python tools/full_profile.py                       # every chapter with a full profile
    python tools/full_profile.py simclr schemes        # just these
    python tools/full_profile.py --out /tmp/out --list # where executed notebooks and results go

Commit the new ``results/*.json`` afterwards; the book build then shows the full-profile numbers.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def full_profile_notebooks() -> list[Path]:
    """Chapter notebooks whose parameters cell mentions a "full" profile (assignments included)."""
    found = []
    for path in sorted(NOTEBOOKS.rglob("*.ipynb")):
        if "student" in path.parts or ".ipynb_checkpoints" in path.parts:
            continue
        cells = json.loads(path.read_text())["cells"]
        params = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        if params and '"full"' in "".join(params[0]["source"]):
            found.append(path)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="*", help="notebook names (default: all with a full profile)")
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "full",
                        help="where executed notebooks and copies of the result files go")
    parser.add_argument("--list", action="store_true", help="only list the chapters")
    parser.add_argument("--profile", default="full")
    args = parser.parse_args(argv)

    available = {p.stem: p for p in full_profile_notebooks()}
    names = args.chapters or list(available)
    unknown = [n for n in names if n not in available]
    if unknown:
        parser.error(f"no full profile in {unknown}; chapters with one: {sorted(available)}")
    if args.list:
        print("\n".join(str(available[n].relative_to(ROOT)) for n in names))
        return 0

    import papermill
    import torch
    if not torch.cuda.is_available():  # some full profiles (the MI staircase) run on a CPU
        print("no CUDA GPU: chapters whose full profile trains ResNet-18L will stop with their own "
              "error; the CI profile runs in `make test`.", file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    before = {p: p.stat().st_mtime for p in (ROOT / "results").glob("*.json")}
    summary, failed = [], []
    for name in names:
        start = time.perf_counter()
        try:
            papermill.execute_notebook(str(available[name]), str(args.out / f"{name}.ipynb"),
                                       parameters={"profile": args.profile}, cwd=str(available[name].parent),
                                       kernel_name="python3", progress_bar=False)
            status = "ok"
        except papermill.PapermillExecutionError as error:
            status = f"failed in cell {error.cell_index}: {error.ename}: {error.evalue}"[:300]
            failed.append(name)
        seconds = time.perf_counter() - start
        summary.append((name, seconds, status))
        print(f"{name}: {seconds:.0f} s, {status}", flush=True)
    for path in (ROOT / "results").glob("*.json"):
        if before.get(path) != path.stat().st_mtime:
            shutil.copy2(path, args.out / path.name)
            print(f"wrote {path.relative_to(ROOT)}")
    print(f"{len(summary) - len(failed)} of {len(summary)} chapters ran; "
          f"{sum(s for _, s, _ in summary):.0f} s in all")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
