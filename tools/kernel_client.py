"""A kernel client whose shell channel never waits on its socket without a bound (nbclient#312).

nbclient waits for a cell's ``execute_reply`` with ``shell_channel.get_msg(timeout=None)``: one
unbounded poll of the shell socket. When a cell draws into an ipywidgets ``Output`` widget (what
``widgets.interactive`` does for its first view), nbclient's stand-in for that widget sends the
widget's new state to the kernel on the same shell socket, from the task that reads IOPub, while
that poll is pending. ZeroMQ signals a socket's file descriptor on edges, and the send can consume
the edge that announced the reply: the reply sits in the socket, the poll never wakes, and the run
hangs with the kernel idle. A notebook of 40 ``interactive`` cells hung in 7 of 8 runs
(``tests/test_kernel_client.py``); the entropy chapter's slider hung ``make test`` once.

:class:`BoundedShellChannel` turns an unbounded wait into polls of :data:`POLL_S` seconds, each of
which asks the socket afresh whether a message is queued, so a missed edge costs at most that long.
A wait with a timeout is left as it is. :class:`tools.forked_kernels.ForkingKernelManager`, the
manager of every notebook run here (tests, ``make book``, grading), hands out this client.
"""

from __future__ import annotations

from queue import Empty
from typing import Any

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from traitlets import Type

POLL_S = 0.5  # the longest a reply can wait unseen; one system call per interval otherwise


class BoundedShellChannel(AsyncZMQSocketChannel):
    """An async ZeroMQ channel whose ``get_msg(timeout=None)`` polls in bounded steps."""

    async def get_msg(self, timeout: float | None = None) -> dict[str, Any]:
        if timeout is not None:
            return await super().get_msg(timeout)
        while True:
            try:
                return await super().get_msg(POLL_S)
            except Empty:
                continue


class BoundedKernelClient(AsyncKernelClient):
    """jupyter_client's async kernel client with :class:`BoundedShellChannel` as its shell."""

    shell_channel_class = Type(BoundedShellChannel)
