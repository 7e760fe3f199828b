"""Keep the book's MyST sources and their Colab/papermill notebooks in step.

``book/<path>.md`` (MyST-markdown notebook, the source you edit) is paired with
``notebooks/<path>.ipynb`` (outputs stripped: what Colab opens and papermill runs), sub-folders
included: ``book/assignments/X.md`` pairs with ``notebooks/assignments/X.ipynb`` (an assignment with
its solutions). The student versions ``notebooks/assignments/student/X.ipynb`` are written from the
same sources by :mod:`tools.student`; ``sync`` and ``check`` cover them too. From the repository
root (``make sync`` runs the first)::

    python -m tools.pairing sync     # write every notebooks/ twin from its book/ source
    python -m tools.pairing check    # exit 1 and list the pairs that differ

(The module is not called ``notebooks``: from the repository root that name is the notebooks/
folder.)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
NOTEBOOKS = ROOT / "notebooks"


def is_notebook_source(path: Path) -> bool:
    """A book/ markdown file is a notebook source when its front matter names a kernel."""
    head = path.read_text(encoding="utf-8")[:2000]
    return head.startswith("---") and "kernelspec:" in head.split("\n---", 1)[0]


def sources() -> list[Path]:
    """Every notebook source under book/, sorted."""
    return sorted(p for p in BOOK.rglob("*.md") if "_build" not in p.parts and is_notebook_source(p))


def twin(source: Path) -> Path:
    """The notebooks/ path paired with a book/ source."""
    return (NOTEBOOKS / source.relative_to(BOOK)).with_suffix(".ipynb")


def read(source: Path) -> nbformat.NotebookNode:
    """A source as a notebook, every cell's metadata kept, without jupytext's own metadata."""
    nb = jupytext.read(source)
    nb.metadata.pop("jupytext", None)
    return nb


def render(source: Path) -> str:
    """The .ipynb text for a source: code and markdown cells with their tags, no outputs."""
    nb = read(source)
    nb.metadata["colab"] = {"provenance": []}
    nb.nbformat, nb.nbformat_minor = 4, 5
    for index, cell in enumerate(nb.cells):
        cell.metadata = {k: v for k, v in cell.metadata.items() if k in ("tags",)}
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.id = f"cell-{index:03d}"  # stable ids: the same source always renders to the same file
    return nbformat.writes(nb, version=4) + "\n"


def is_student(notebook: Path) -> bool:
    """Whether a notebook is a student version (written by tools.student, not paired here)."""
    return (NOTEBOOKS / "assignments" / "student") in notebook.parents


def stale() -> list[tuple[Path, Path]]:
    """Pairs whose notebook is missing or differs from what its source renders to, plus orphans."""
    out = []
    for source in sources():
        target = twin(source)
        if not target.exists() or target.read_text(encoding="utf-8") != render(source):
            out.append((source, target))
    paired = {twin(s) for s in sources()}
    for nb in sorted(NOTEBOOKS.rglob("*.ipynb")):
        if ".ipynb_checkpoints" not in nb.parts and nb not in paired and not is_student(nb):
            out.append((Path("<no source>"), nb))
    return out


def write_if_changed(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` unless it already holds exactly that; whether it wrote."""
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


def sync() -> list[Path]:
    """Write every stale twin; return the paths written."""
    return [twin(s) for s in sources() if write_if_changed(twin(s), render(s))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["sync", "check"])
    args = parser.parse_args(argv)
    from tools import student  # imported here: it imports this module

    if args.command == "sync":
        for path in sync() + student.write():
            print(f"wrote {path.relative_to(ROOT)}")
        return 0
    bad = stale()
    for source, target in bad:
        print(f"out of sync: {source} -> {target.relative_to(ROOT)} (run `make sync`)")
    old = student.stale()
    for path in old:
        print(f"out of date: {path.relative_to(ROOT)} (run `python -m tools.student`)")
    return 1 if bad or old else 0


if __name__ == "__main__":
    sys.exit(main())
