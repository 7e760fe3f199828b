"""tools.kernel_client: notebook runs here never hang on a lost shell reply (nbclient#312).

Without the bounded shell channel, a notebook of 20 ``widgets.interactive`` cells hung in 2 of 4
runs under nbclient, one of 40 cells in 7 of 8 (AMD EPYC, 2 cores, nbclient 0.11.0, pyzmq 27.3):
nbclient sends an ``Output`` widget's state on the shell socket while it polls that socket for the
cell's reply, and the poll can miss the reply. With it, 12 runs of 20 cells and one of 100 finished
in 1.4-4.2 s each.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from queue import Empty

import nbformat
import pytest
from jupyter_client.channels import AsyncZMQSocketChannel

from tools import forked_kernels, kernel_client

ROOT = Path(__file__).resolve().parents[1]


def test_the_forking_manager_hands_out_the_bounded_client() -> None:
    client = forked_kernels.ForkingKernelManager().client()
    assert isinstance(client, kernel_client.BoundedKernelClient)
    assert client.shell_channel_class is kernel_client.BoundedShellChannel


def test_an_unbounded_wait_polls_in_bounded_steps_until_a_message_comes(monkeypatch) -> None:
    timeouts: list[float | None] = []

    async def get_msg(self, timeout=None):  # the socket: two empty polls, then the reply
        timeouts.append(timeout)
        if len(timeouts) < 3:
            raise Empty
        return {"msg_type": "execute_reply"}

    monkeypatch.setattr(AsyncZMQSocketChannel, "get_msg", get_msg)
    channel = kernel_client.BoundedShellChannel.__new__(kernel_client.BoundedShellChannel)
    assert asyncio.run(channel.get_msg())["msg_type"] == "execute_reply"
    assert timeouts == [kernel_client.POLL_S] * 3


def test_a_wait_with_a_timeout_keeps_it(monkeypatch) -> None:
    timeouts: list[float | None] = []

    async def get_msg(self, timeout=None):  # a socket that stays empty
        timeouts.append(timeout)
        raise Empty

    monkeypatch.setattr(AsyncZMQSocketChannel, "get_msg", get_msg)
    channel = kernel_client.BoundedShellChannel.__new__(kernel_client.BoundedShellChannel)
    with pytest.raises(Empty):
        asyncio.run(channel.get_msg(timeout=2.0))
    assert timeouts == [2.0]


RUN = """\
import sys, papermill
from tools import forked_kernels
for k in range(3):
    papermill.execute_notebook(sys.argv[1], sys.argv[2], kernel_name="python3", progress_bar=False,
                               request_save_on_cell_execute=False,
                               kernel_manager_class=forked_kernels.ForkingKernelManager)
"""


@pytest.mark.notebook
def test_widget_cells_do_not_hang_a_notebook_run(kernel_zygote, tmp_path: Path) -> None:
    """Three runs of 40 cells that draw into ``Output`` widgets, in kernels forked as the chapters'
    are (without the bounded channel, one such run hung in 7 of 8 tries)."""
    cells = ["import ipywidgets as widgets\n\ndef show(x):\n    for i in range(20):\n"
             "        print(x, i)"]
    cells += [f"widgets.interactive(show, x=widgets.IntSlider(value={k}))" for k in range(40)]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "widgets.ipynb")
    try:
        subprocess.run([sys.executable, "-c", RUN, tmp_path / "widgets.ipynb", tmp_path / "out.ipynb"],
                       cwd=ROOT, check=True, capture_output=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("a notebook of widget cells hung: nbclient lost a shell reply (nbclient#312)")
    out = nbformat.read(tmp_path / "out.ipynb", 4)
    assert all(c.execution_count for c in out.cells)
