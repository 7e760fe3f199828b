"""tools.forked_kernels: a kernel forked from the zygote behaves as a freshly started one."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time

import nbformat
import pytest
from jupyter_cache.executors.utils import single_nb_execution
from nbclient.exceptions import CellTimeoutError

from tools import book, forked_kernels

PROBE = """\
import json, os, sys
preloaded = "torch" in sys.modules and "labfree.train" in sys.modules
import matplotlib, numpy as np, torch
from ipykernel.kernelapp import IPKernelApp
print(json.dumps({"cwd": os.getcwd(), "var": os.environ.get("PAGE_VARIABLE"), "path": sys.path,
                  "parent": [os.environ.get("JPY_PARENT_PID"), IPKernelApp.instance().parent_handle],
                  "backend": matplotlib.get_backend(), "preloaded": preloaded, "pid": os.getpid(),
                  "torch": torch.rand(4).tolist(), "numpy": np.random.rand(4).tolist()}))
"""


@pytest.fixture(autouse=True)
def one_thread(monkeypatch) -> None:
    """The kernels' thread pools as tools.book sets them (a BLAS pool started on import would
    leave the zygote with threads, and it refuses to fork then)."""
    for name in book.THREAD_POOLS:
        monkeypatch.setenv(name, "1")


def _notebook(*cells: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _probe(cwd: str, value: str, forked: bool, monkeypatch) -> dict:
    monkeypatch.setenv("PAGE_VARIABLE", value)
    nb = _notebook(PROBE, "import matplotlib.pyplot as plt\nplt.plot([0, 1]); plt.show()")
    kwargs = {"kernel_manager_class": forked_kernels.ForkingKernelManager} if forked else {}
    result = single_nb_execution(nb, cwd=cwd, timeout=120, allow_errors=False, **kwargs)
    assert result.err is None
    assert "image/png" in nb.cells[1].outputs[0]["data"]  # the inline backend drew the figure
    return json.loads(nb.cells[0].outputs[0]["text"])


def _gone(pid: int, within: float = 10) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().split(") ")[-1].startswith("Z"):
                    return True  # exited, waiting for the zygote to reap it
        except FileNotFoundError:
            return True
        time.sleep(0.1)
    return False


def test_a_forked_kernel_is_a_fresh_kernel_with_the_imports_done(tmp_path, monkeypatch) -> None:
    fresh = _probe(str(tmp_path), "fresh", forked=False, monkeypatch=monkeypatch)
    with forked_kernels.zygote():
        first = _probe(str(tmp_path), "first", forked=True, monkeypatch=monkeypatch)
        second = _probe(str(tmp_path), "second", forked=True, monkeypatch=monkeypatch)
    assert not fresh["preloaded"] and first["preloaded"] and second["preloaded"]
    for forked, value in ((first, "first"), (second, "second")):
        # the page's directory, environment, import path and plotting backend, as a fresh kernel's
        assert forked["cwd"] == fresh["cwd"] == str(tmp_path)
        assert forked["var"] == value
        assert forked["path"] == fresh["path"]
        assert forked["backend"] == fresh["backend"]
        # the manager's process, in the environment and where ipykernel reads it (with none, it
        # takes itself for a terminal's `ipython kernel` and prints a banner to stdout)
        assert forked["parent"] == fresh["parent"] == [str(os.getpid()), os.getpid()]
        assert _gone(forked["pid"])  # shut down with the notebook
    # random states seeded per process, as in fresh processes, not copied from the zygote
    assert first["torch"] != second["torch"] and first["numpy"] != second["numpy"]


def test_a_cell_timeout_interrupts_a_forked_kernel(tmp_path) -> None:
    nb = _notebook("import os, sys\nprint(os.getpid(), 'torch' in sys.modules)",
                   "import time\ntime.sleep(600)")
    with forked_kernels.zygote():
        result = single_nb_execution(nb, cwd=str(tmp_path), timeout=3, allow_errors=False,
                                     kernel_manager_class=forked_kernels.ForkingKernelManager)
    assert isinstance(result.err, CellTimeoutError)
    pid, preloaded = nb.cells[0].outputs[0]["text"].split()
    assert preloaded == "True" and _gone(int(pid))


MANAGER = """\
import asyncio, json
from tools.forked_kernels import ForkingKernelManager

async def main():
    manager = ForkingKernelManager()
    await manager.start_kernel()
    info = manager.get_connection_info()
    files = [manager.connection_file, *(f"{info['ip']}-{info[name]}" for name in info
                                        if name.endswith("_port"))]
    print(json.dumps([manager.provisioner.pid, files]), flush=True)
    await asyncio.sleep(600)

asyncio.run(main())
"""


def test_a_forked_kernel_exits_with_the_process_that_asked_for_it() -> None:
    # as a launched kernel exits with its manager: a grading run killed at its time limit
    # (tools.grade) must not leave its kernel running in the zygote's family
    with forked_kernels.zygote():
        manager = subprocess.Popen([sys.executable, "-c", MANAGER], cwd=book.ROOT,
                                   stdout=subprocess.PIPE, text=True)
        try:
            pid, files = json.loads(manager.stdout.readline())
            assert not _gone(pid, within=1)  # it runs while its manager does
            assert len(files) == 6 and all(os.path.exists(f) for f in files)
            manager.kill()
            manager.wait(10)
            assert _gone(pid)
            # the files its manager would have removed: the connection file, the socket files
            assert not any(os.path.exists(f) for f in files)
        finally:
            manager.kill()
            manager.stdout.close()


def test_without_a_zygote_kernels_start_the_usual_way(tmp_path, monkeypatch) -> None:
    nb = _notebook("import sys\nprint('torch' in sys.modules)")
    monkeypatch.setenv(forked_kernels.ENV, str(tmp_path / "no-such-socket"))
    result = single_nb_execution(nb, cwd=str(tmp_path), timeout=60, allow_errors=False,
                                 kernel_manager_class=forked_kernels.ForkingKernelManager)
    assert result.err is None and nb.cells[0].outputs[0]["text"].strip() == "False"


def test_only_this_interpreters_ipykernel_is_forked() -> None:
    assert forked_kernels.kernel_args([sys.executable, "-m", "ipykernel_launcher", "-f", "c.json"]) \
        == ["-f", "c.json"]
    assert forked_kernels.kernel_args(["/other/python", "-m", "ipykernel_launcher", "-f", "c.json"]) is None
    assert forked_kernels.kernel_args([sys.executable, "-m", "other_kernel", "-f", "c.json"]) is None


def test_where_kernels_cannot_be_forked_no_zygote_starts(monkeypatch) -> None:
    assert forked_kernels.supported()  # Linux, Python >= 3.9: the machines the book builds on
    monkeypatch.setattr(forked_kernels.sys, "platform", "darwin")
    assert not forked_kernels.supported()
    monkeypatch.delenv(forked_kernels.ENV, raising=False)  # a session's zygote (conftest.py)
    with forked_kernels.zygote() as path:
        assert path is None and forked_kernels.ENV not in os.environ


SOCKETS = """\
import json, os, stat
from ipykernel.kernelapp import IPKernelApp
app = IPKernelApp.instance()
ports = [app.shell_port, app.iopub_port, app.stdin_port, app.control_port, app.hb_port]
paths = [f"{app.ip}-{port}" for port in ports]
print(json.dumps({"transport": app.transport, "paths": paths,
                  "sockets": [stat.S_ISSOCK(os.stat(p).st_mode) for p in paths]}))
"""


@pytest.mark.parametrize("forked", [True, False], ids=["forked", "fresh"])
def test_kernels_talk_over_unix_sockets_removed_with_them(tmp_path, monkeypatch, forked) -> None:
    """No TCP port to lose to a kernel another process starts at the same moment ("Address
    already in use" in a kernel the manager had picked a free port for)."""
    if not forked:
        monkeypatch.delenv(forked_kernels.ENV, raising=False)
    nb = _notebook(SOCKETS)
    with forked_kernels.zygote() if forked else contextlib.nullcontext():
        result = single_nb_execution(nb, cwd=str(tmp_path), timeout=120, allow_errors=False,
                                     kernel_manager_class=forked_kernels.ForkingKernelManager)
    assert result.err is None
    seen = json.loads(nb.cells[0].outputs[0]["text"])
    assert seen["transport"] == "ipc" and all(seen["sockets"]) and len(set(seen["paths"])) == 5
    # absolute (the kernel runs in the page's folder), short enough for a socket address
    assert all(os.path.isabs(p) and len(p.encode()) < 100 for p in seen["paths"])
    assert not any(os.path.exists(p) for p in seen["paths"])  # gone with the kernel
