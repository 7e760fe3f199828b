"""tools.book: a page runs again exactly when its code, the package or a result file it read changed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tools import book

PAGE = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3 (ipykernel)
  language: python
  name: python3
---

# A page

```{code-cell} ipython3
import json
from pathlib import Path

value = json.loads(Path("../results/x.json").read_text())["value"]
assert value > 0
print(value)
```
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    (tmp_path / "book").mkdir()
    (tmp_path / "results").mkdir()
    (tmp_path / "labfree").mkdir()
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/page\n")
    (tmp_path / "book" / "page.md").write_text(PAGE)
    (tmp_path / "results" / "x.json").write_text(json.dumps({"value": 1}))
    (tmp_path / "results" / "unread.json").write_text("{}")
    (tmp_path / "labfree" / "core.py").write_text("A = 1\n")
    cache = tmp_path / "_build" / ".jupyter_cache"
    monkeypatch.setattr(book, "ROOT", tmp_path)
    monkeypatch.setattr(book, "CACHE", cache)
    monkeypatch.setattr(book, "KEYS", cache / "labfree_keys.json")
    return tmp_path


def test_a_page_reruns_only_when_what_it_depends_on_changes(project: Path) -> None:
    assert book.stale(book.pages()) == {"book/page": "never executed"}
    assert book.execute(jobs=1) == 0
    keys = json.loads(book.KEYS.read_text())["book/page"]
    assert list(keys["reads"]) == ["results/x.json"]  # what the kernel opened under results/, only
    assert book.stale(book.pages()) == {}
    (project / "results" / "unread.json").write_text('{"other": 2}')
    assert book.stale(book.pages()) == {}  # a file it never read
    (project / "book" / "page.md").write_text(PAGE.replace("# A page", "# A page, reworded"))
    assert book.stale(book.pages()) == {}  # prose: re-rendered from the cache, not re-run
    (project / "results" / "x.json").write_text(json.dumps({"value": 2}))
    assert book.stale(book.pages()) == {"book/page": "changed: results/x.json"}
    assert book.execute(jobs=1) == 0 and book.stale(book.pages()) == {}
    (project / "labfree" / "core.py").write_text("A = 2\n")
    assert book.stale(book.pages()) == {"book/page": "the package changed"}
    assert book.execute(jobs=1) == 0
    (project / "book" / "page.md").write_text(PAGE.replace("print(value)", "print(value + 1)"))
    assert book.stale(book.pages()) == {"book/page": "its code changed"}


def test_a_failing_page_is_reported_and_not_cached(project: Path, capsys) -> None:
    (project / "results" / "x.json").write_text(json.dumps({"value": -1}))
    assert book.execute(jobs=1) == 1
    assert "✗ book/page failed" in capsys.readouterr().out
    assert book.stale(book.pages()) == {"book/page": "never executed"}


@pytest.mark.usefixtures("umap_compiled")
def test_a_cold_numba_cache_is_told_from_a_warm_one(tmp_path: Path, monkeypatch) -> None:
    """`make book` warms a cold shared numba cache once, in one worker, before the kernels' first
    UMAP maps: the check reads numba's own layout (``umap_<hash>/*.nbi``) of the shared cache."""
    if not os.environ.get("NUMBA_CACHE_DIR"):
        pytest.skip("no shared numba cache (make sets NUMBA_CACHE_DIR)")
    assert book._numba_cache_holds()  # the cache the fixture filled
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert not book._numba_cache_holds()
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    assert book._numba_cache_holds()  # no shared cache: nothing to warm
