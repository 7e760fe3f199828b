"""Build the book: execute the chapters that changed, two at a time, then let Jupyter Book render.

    python -m tools.book build          # what `make book` runs
    python -m tools.book execute        # only bring the executed chapters up to date
    python -m tools.book status         # which chapters would run, and why
    python -m tools.book record-times   # keep this build's page times as the default order

Jupyter Book's own cache (``execute_notebooks: cache``, jupyter-cache under ``_build/.jupyter_cache``)
keys an executed notebook on its code cells alone, so a chapter would keep showing outputs computed
with an older package or from an older result file. This tool keeps a second key beside each
cached chapter (``_build/.jupyter_cache/labfree_keys.json``): the sha256 of the package's source
(``labfree/**/*.py``) and of every file under ``results/`` that the chapter opened when it last ran
(recorded by an audit hook in its kernel, ``tools/book_tracking/sitecustomize.py``). A chapter runs
again when its code, the package or one of those files changed, or when it never ran; the others
keep their cached outputs. The stale chapters run in parallel, ``--jobs`` at a time (two on a
two-core machine), each kernel on one thread, longest first (by their last run time); a chapter
that fails stops the build with its traceback. The kernels are forked from a zygote process that
has already imported torch, scikit-learn, matplotlib and labfree (``tools/forked_kernels.py``; about
5 s of one core a page). The kernels that draw UMAP maps load umap's compiled code from the shared
numba cache, which ``make``'s install step fills; should the cache still be cold, one worker first
compiles umap into it (about 30 s on one core) instead of the first kernels each compiling it.
The jupyter-book build that follows finds every chapter in the cache and executes none; a
prose-only edit re-renders that page without running it.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import yaml

from tools import forked_kernels

ROOT = Path(__file__).resolve().parents[1]
TRACKING = Path(__file__).resolve().parent / "book_tracking"
CACHE = ROOT / "_build" / ".jupyter_cache"
KEYS = CACHE / "labfree_keys.json"
# Each page's execution time as last measured from a clean build (seconds; `--record-times` writes
# it): only the order of a build without local times of its own, longest first.
TIMES = Path(__file__).resolve().parent / "book_times.json"
THREAD_POOLS = forked_kernels.THREAD_POOLS  # each page's kernel runs them on one thread


@dataclass
class Page:
    """A notebook page of the table of contents."""

    source: Path

    @property
    def name(self) -> str:
        return self.source.relative_to(ROOT).with_suffix("").as_posix()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def package_key() -> str:
    """sha256 over the package's Python sources (path and content)."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "labfree").rglob("*.py")):
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def pages() -> list[Page]:
    """The notebook pages of ``_toc.yml`` (MyST markdown with a kernelspec), in order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for part in toc.get("parts", []) for c in part.get("chapters", [])]
    out = []
    for name in files:
        source = ROOT / f"{name}.md"
        text = source.read_text() if source.is_file() else ""
        if text.startswith("---") and "kernelspec:" in text.split("---", 2)[1]:
            out.append(Page(source))
    return out


@functools.lru_cache
def _md_config(book_config: Path):
    """The MyST parser settings of the book's ``_config.yml`` (its extensions), read once."""
    from myst_parser.config.main import MdParserConfig

    config = yaml.safe_load(book_config.read_text()) if book_config.is_file() else {}
    extensions = (config.get("parse") or {}).get("myst_enable_extensions", [])
    return MdParserConfig(enable_extensions=set(extensions))


def _notebook(page: Page):
    """The notebook Jupyter Book will execute for ``page``: read as myst-nb reads it, with the
    book's MyST extensions (a colon fence changes what the parser sees as a code cell)."""
    from myst_nb.core.read import read_myst_markdown_notebook

    return read_myst_markdown_notebook(page.source.read_text(), path=page.source,
                                       config=_md_config(ROOT / "_config.yml"))


def _cache():
    from jupyter_cache import get_cache

    return get_cache(str(CACHE))


def _keys() -> dict:
    return json.loads(KEYS.read_text()) if KEYS.is_file() else {}


def stale(pages_: list[Page], package: str | None = None) -> dict[str, str]:
    """``{page name: why it must run}`` for the pages whose cached outputs are out of date
    (``package``: the :func:`package_key`, if already computed)."""
    cache, keys, package = _cache(), _keys(), package or package_key()
    why = {}
    for page in pages_:
        entry = keys.get(page.name)
        try:
            cache.match_cache_notebook(_notebook(page))
        except KeyError:
            why[page.name] = "its code changed" if entry else "never executed"
            continue
        if entry is None:
            why[page.name] = "never executed by this tool"
        elif entry["package"] != package:
            why[page.name] = "the package changed"
        elif changed := [p for p, sha in entry["reads"].items()
                         if not (ROOT / p).is_file() or _sha(ROOT / p) != sha]:
            why[page.name] = "changed: " + ", ".join(changed)
    return why


def kernel_env(base: dict[str, str]) -> dict[str, str]:
    """``base`` with what every page's kernel runs under: one thread in every pool, the tracking
    ``sitecustomize`` first on the path, reads under results/ recorded (the log is per page)."""
    env = {**base, **{name: "1" for name in THREAD_POOLS}, "LABFREE_TRACK_ROOT": str(ROOT / "results")}
    paths = [p for p in base.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(TRACKING)]
    env["PYTHONPATH"] = os.pathsep.join([str(TRACKING), *paths])
    env.pop("LABFREE_TRACK_READS", None)
    return env


def _execute(source: str, timeout: int) -> dict:
    """Run one page in a fresh kernel (one thread, reads under results/ recorded); cache it."""
    from jupyter_cache.base import CacheBundleIn
    from jupyter_cache.executors.utils import single_nb_execution

    page = Page(Path(source))
    log = CACHE / f"reads-{page.name.replace('/', '__')}.txt"
    log.unlink(missing_ok=True)
    os.environ.update(kernel_env(os.environ))
    os.environ["LABFREE_TRACK_READS"] = str(log)
    nb = _notebook(page)
    result = single_nb_execution(nb, cwd=str(page.source.parent), timeout=timeout, allow_errors=False,
                                 meta_override=True,
                                 kernel_manager_class=forked_kernels.ForkingKernelManager)
    if result.err is not None:
        return {"page": page.name, "error": result.exc_string or repr(result.err), "seconds": result.time}
    bundle = CacheBundleIn(nb, str(page.source), data={"execution_seconds": result.time})
    _cache().cache_notebook_bundle(bundle, check_validity=False, overwrite=True)
    reads = sorted(set(log.read_text().split())) if log.is_file() else []
    log.unlink(missing_ok=True)
    read = [Path(p) for p in reads if Path(p).is_file()]
    return {"page": page.name, "seconds": result.time,
            "reads": {p.relative_to(ROOT).as_posix(): _sha(p) for p in read}}


def _compile_reducers() -> dict:
    """Fill the shared numba cache with umap's compiled code, in a pool worker on one thread."""
    os.environ.update({name: "1" for name in THREAD_POOLS})
    start = time.perf_counter()
    from labfree.metrics import compile_reducers

    compile_reducers()
    return {"page": None, "seconds": time.perf_counter() - start}


def execute(jobs: int = 2, timeout: int = 1800, only: list[str] | None = None) -> int:
    """Bring every page's cached outputs up to date (or those of the pages named in ``only``);
    returns the number of failed pages."""
    CACHE.mkdir(parents=True, exist_ok=True)
    all_pages, package = pages(), package_key()
    todo = stale([p for p in all_pages if not only or p.name in only or p.source.stem in only], package)
    keys = _keys()
    by_name = {p.name: p for p in all_pages}
    if not todo:
        print(f"book: all {len(all_pages)} executed pages are up to date")
        return 0
    # longest first (this machine's last times, else the committed ones; unknown pages first of
    # all), so that the workers finish together
    hints = json.loads(TIMES.read_text()) if TIMES.is_file() else {}
    order = sorted(todo, key=lambda name: -keys.get(name, {}).get("seconds", hints.get(name, 1e9)))
    print(f"book: executing {len(order)} of {len(all_pages)} pages, {jobs} at a time")
    for name in order:
        print(f"  {name}: {todo[name]}")
    failed, start = 0, time.perf_counter()
    # kernels forked from a process that has imported torch, scikit-learn, labfree...: about 5 s
    # of one core saved a page (tools/forked_kernels.py); the workers inherit its address
    warm = _numba_cache_holds()
    preload = tuple(m for m in forked_kernels.PRELOAD
                    if warm or m not in forked_kernels.COMPILES_ON_A_COLD_CACHE)
    with forked_kernels.zygote(kernel_env(dict(os.environ)), preload), \
            ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = []
        if jobs > 1 and len(order) > 1 and not warm:
            # a cold cache: one worker compiles umap (~30 s) while the other starts the longest
            # page, instead of the first kernels each compiling it on their own
            futures.append(pool.submit(_compile_reducers))
        futures += [pool.submit(_execute, str(by_name[name].source), timeout) for name in order]
        for done in as_completed(futures):
            result = done.result()
            name = result["page"]
            if name is None:
                print(f"✓ umap's numba code compiled into the cache ({result['seconds']:.0f} s)", flush=True)
                continue
            if "error" in result:
                failed += 1
                print(f"✗ {name} failed after {result['seconds']:.0f} s:\n{result['error']}", flush=True)
                keys.pop(name, None)
                continue
            keys[name] = {"package": package, "reads": result["reads"],
                          "seconds": round(result["seconds"], 1)}
            KEYS.write_text(json.dumps(keys, indent=1, sort_keys=True))
            by_name[name].source.touch()  # Sphinx re-reads the page, with its new outputs
            print(f"✓ {name} ({result['seconds']:.0f} s)", flush=True)
    print(f"book: executed {len(order) - failed} pages in {time.perf_counter() - start:.0f} s"
          + (f", {failed} failed" if failed else ""))
    return failed


def _numba_cache_holds() -> bool:
    """Whether the shared numba cache (``NUMBA_CACHE_DIR``, which ``make`` sets) holds umap's
    compiled code; without a shared cache there is nothing to warm for the kernels."""
    cache = os.environ.get("NUMBA_CACHE_DIR")
    return not cache or any(Path(cache).glob("umap_*/*.nbi"))


def record_times() -> Path:
    """Write this machine's last execution time of every page to ``tools/book_times.json``."""
    times = {name: entry["seconds"] for name, entry in sorted(_keys().items())}
    TIMES.write_text(json.dumps(times, indent=1) + "\n")
    return TIMES


def build(jobs: int = 2) -> int:
    """Execute what changed, then render the book with warnings as errors."""
    if execute(jobs):
        return 1
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    env = {**os.environ, **{name: "1" for name in THREAD_POOLS}}
    return subprocess.call([str(jupyter_book), "build", str(ROOT), "--warningiserror", "--keep-going"],
                           cwd=ROOT, env=env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.book", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("build", "execute", "status", "record-times"))
    parser.add_argument("pages", nargs="*", help="execute: only these pages (e.g. book/entropy or entropy)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="chapters executed at a time (default: 2, or 1 on a one-core machine)")
    args = parser.parse_args(argv)
    if args.command == "record-times":
        print(f"wrote {record_times()}")
        return 0
    if args.command == "status":
        todo = stale(pages())
        for name, why in todo.items():
            print(f"{name}: {why}")
        print(f"{len(todo)} of {len(pages())} pages would run")
        return 0
    return build(args.jobs) if args.command == "build" else int(execute(args.jobs, only=args.pages) > 0)


if __name__ == "__main__":
    sys.exit(main())
