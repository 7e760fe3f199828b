"""The book's structure builds cleanly: references, citations, table of contents, Colab links.

The chapters are executed by ``test_notebooks.py`` (papermill) and by ``make book``; here the book is
built once *without* execution, with warnings as errors, so a broken reference, an unknown citation
or a page missing from the table of contents fails the suite without running every chapter twice.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("book")
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["execute"]["execute_notebooks"] = "off"
    # local extension paths resolve against the config file's folder: make them absolute
    extensions = config["sphinx"]["local_extensions"]
    config["sphinx"]["local_extensions"] = {k: str(ROOT / v) for k, v in extensions.items()}
    override = out / "_config.yml"
    override.write_text(yaml.safe_dump(config))
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run(
        [str(jupyter_book), "build", str(ROOT), "--config", str(override), "--path-output", str(out),
         "--warningiserror", "--keep-going", "--quiet"],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, f"book build failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return out / "_build" / "html"


def test_title_page_and_chapters_exist(built: Path) -> None:
    assert (built / "index.html").is_file()
    assert "Learning without labels" in (built / "book" / "index.html").read_text()
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    for page in pages:
        assert (built / f"{page}.html").is_file(), f"{page} was not built"


def test_chapters_link_to_colab(built: Path) -> None:
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    org_repo = config["repository"]["url"].removeprefix("https://github.com/")
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        html = (built / "book" / f"{notebook.stem}.html").read_text()
        assert f"colab.research.google.com/github/{org_repo}/blob/" in html, f"{notebook.stem}: no Colab link"
        assert f"notebooks/{notebook.name}" in html


def test_math_renders_without_a_network(built: Path) -> None:
    html = (built / "book" / "entropy.html").read_text()
    assert 'src="../_static/mathjax/tex-chtml.js"' in html, "MathJax should be served from the book"
    assert (built / "_static" / "mathjax" / "tex-chtml.js").is_file()


def test_bibliography_and_search(built: Path) -> None:
    bib = (built / "book" / "bibliography.html").read_text().lower()
    assert "elements of information theory" in bib and "mutual information in self-supervised learning" in bib
    assert (built / "searchindex.js").is_file() and (built / "search.html").is_file()


def test_every_chapter_page_ends_with_its_exercises(built: Path) -> None:
    """In the rendered page, the last section is Exercises and its solutions are folded dropdowns."""
    import re

    from test_exercises import chapters

    for page in chapters():
        html = (built / f"{page}.html").read_text()
        sections = re.findall(r'<section id="([^"]+)">\s*<h2>', html)
        assert sections and sections[-1] == "exercises", f"{page}: last section is {sections[-1:]}"
        tail = html[html.rindex('<section id="exercises">'):]
        assert tail.count("<details") >= 3 and "Solution" in tail, f"{page}: no folded solutions"
