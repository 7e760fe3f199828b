"""The chapters as tests: pairing, structure, Colab links, the offline guard, and papermill runs.

Every ``notebooks/**/*.ipynb`` runs under papermill with ``profile="ci"`` in a kernel whose network
is switched off; the executed copies land in ``_build/papermill/`` for inspection.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import nbformat
import papermill
import pytest
import yaml

from tools import forked_kernels, pairing
from tools.kernel_imports import unimported_submodules

ROOT = Path(__file__).resolve().parents[1]

EXECUTED = ROOT / "_build" / "papermill"
NOTEBOOKS = sorted(
    p for p in (ROOT / "notebooks").rglob("*.ipynb")
    if ".ipynb_checkpoints" not in p.parts and "student" not in p.parts
)
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())


def _colab_module():
    spec = importlib.util.spec_from_file_location("colab_link", ROOT / "book" / "_ext" / "colab_link.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


def _parameters_cell(path: Path):
    cells = [c for c in _code_cells(nbformat.read(path, as_version=4))
             if "parameters" in c.metadata.get("tags", [])]
    assert cells, f"{path.name} has no cell tagged parameters"
    return cells[0]


def test_there_are_chapters() -> None:
    assert NOTEBOOKS, "no notebooks under notebooks/: run `make sync`"
    # every notebook has its source, assignments' solution notebooks included (student versions,
    # written by tools.student, are checked in test_student.py)
    assert len(pairing.sources()) == len(NOTEBOOKS)


def test_sources_and_notebooks_are_in_sync() -> None:
    stale = pairing.stale()
    assert not stale, "book/ sources and notebooks/ differ (run `make sync`): " + ", ".join(
        f"{s} -> {t.relative_to(ROOT)}" for s, t in stale
    )


def test_every_chapter_is_in_the_table_of_contents() -> None:
    toc = (ROOT / "_toc.yml").read_text()
    for source in pairing.sources():
        page = source.relative_to(ROOT).with_suffix("").as_posix()
        assert re.search(rf"file:\s*{re.escape(page)}\s*$", toc, re.M), f"{page} is not in _toc.yml"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT / "notebooks").as_posix())
def test_chapter_structure(path: Path) -> None:
    """Install cell for Colab first, then the parameters cell with a profile; no stored outputs."""
    nb = nbformat.read(path, as_version=4)
    cells = _code_cells(nb)
    install, params = cells[0], cells[1]
    repo = CONFIG["repository"]["url"]
    assert "google.colab" in install.source and f"git+{repo}" in install.source, (
        f"{path.name}: the first code cell must install labfree from {repo} in Colab"
    )
    assert "remove-cell" in install.metadata.get("tags", []), \
        f"{path.name}: hide the install cell (tag remove-cell)"
    assert "parameters" in params.metadata.get("tags", []), \
        f"{path.name}: second code cell must be tagged parameters"
    assert re.search(r'^profile\s*=\s*"ci"', params.source, re.M), \
        f'{path.name}: parameters must set profile = "ci"'
    assert all(not c.outputs for c in cells), f"{path.name}: notebooks are stored without outputs"


@pytest.mark.parametrize("source", pairing.sources(), ids=lambda p: p.name)
def test_colab_link_targets_exist(source: Path) -> None:
    colab = _colab_module()
    page = source.relative_to(ROOT).with_suffix("").as_posix()
    notebook = colab.notebook_for(ROOT, page)
    assert notebook is not None and notebook.is_file(), f"no notebooks/ twin for {page}"
    url = colab.colab_url(CONFIG["repository"]["url"], CONFIG["repository"]["branch"],
                          notebook.relative_to(ROOT).as_posix())
    org_repo = CONFIG["repository"]["url"].removeprefix("https://github.com/")
    assert url == (f"https://colab.research.google.com/github/{org_repo}/blob/"
                   f"{CONFIG['repository']['branch']}/notebooks/"
                   f"{notebook.relative_to(ROOT / 'notebooks').as_posix()}")
    assert (ROOT / url.split(f"/blob/{CONFIG['repository']['branch']}/", 1)[1]).is_file()


def test_chapters_import_every_submodule_they_use() -> None:
    """The chapters run in kernels forked from a process that has imported torch, scikit-learn,
    SciPy... (fixture kernel_zygote), where a submodule reached through its parent
    (``scipy.stats`` after ``import scipy``) resolves even when a reader's fresh kernel would
    raise AttributeError; no chapter does that."""
    codes = {p.relative_to(ROOT).as_posix(): "\n".join(c.source for c in _code_cells(nbformat.read(p, 4)))
             for p in NOTEBOOKS}
    assert unimported_submodules(codes) == {}


def _run(path: Path, out: Path, **parameters) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        papermill.execute_notebook(str(path), str(out), parameters=parameters, cwd=str(path.parent),
                                   kernel_name="python3", progress_bar=False,
                                   request_save_on_cell_execute=False,
                                   kernel_manager_class=forked_kernels.ForkingKernelManager)
    except papermill.PapermillExecutionError as error:
        pytest.fail(f"{path.relative_to(ROOT)} failed in cell {error.cell_index} "
                    f"(executed copy: {out.relative_to(ROOT)}):\n{error.ename}: {error.evalue}",
                    pytrace=False)


@pytest.mark.parametrize("forked", [False, True], ids=["fresh", "forked"])
def test_kernels_are_offline(offline_kernels, kernel_zygote, forked: bool, tmp_path: Path) -> None:
    """The guard the chapter runs use: any non-local connection or lookup fails with a clear error,
    in a fresh kernel and in one forked from the zygote, which re-runs the guard's site set-up."""
    if forked and kernel_zygote is None:
        pytest.skip("kernels are not forked on this platform")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(  # a forked kernel starts with the zygote's imports
        f"import sys\nassert ('labfree.train' in sys.modules) is {forked}"), nbformat.v4.new_code_cell(
        "import socket, urllib.request, urllib.error\n"
        "try:\n    urllib.request.urlopen('https://example.com', timeout=5)\n"
        "    raise SystemExit('reached the network')\n"
        "except urllib.error.URLError as e:\n    assert 'blocked' in str(e.reason), e\n"
        "try:\n    socket.create_connection(('93.184.216.34', 80), timeout=5)\n"
        "    raise SystemExit('connected')\n"
        "except ConnectionRefusedError as e:\n    assert 'blocked' in str(e), e\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.close()  # loopback stays usable\n"
    )]
    path = tmp_path / "offline.ipynb"
    nbformat.write(nb, path)
    manager = {"kernel_manager_class": forked_kernels.ForkingKernelManager} if forked else {}
    papermill.execute_notebook(str(path), str(tmp_path / "offline.out.ipynb"), kernel_name="python3",
                               progress_bar=False, **manager)


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT / "notebooks").as_posix())
def test_notebook_runs(offline_kernels: int, kernel_zygote, path: Path) -> None:
    """Each chapter runs top to bottom in the CI profile, offline; its own asserts check its claims.
    Its kernel is forked from the zygote (fixture kernel_zygote): a fresh kernel, imports done."""
    parameters = {"profile": "ci"}
    if re.search(r"^threads = \d+", "".join(_parameters_cell(path).source), re.M):
        parameters["threads"] = offline_kernels  # the kernel's thread count (tests/conftest.py)
    _run(path, EXECUTED / path.relative_to(ROOT / "notebooks"), **parameters)
