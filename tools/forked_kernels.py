"""Notebook kernels forked from a process that has already imported the chapters' libraries.

Every page of the book starts a fresh ipykernel, and before its first line of science runs the
kernel imports ipykernel, torch (with ``torch._dynamo``, which the optimizers import on their first
step), scikit-learn, pandas, matplotlib and labfree: about 5 s of one core a page, measured, for 23
pages. A *zygote* pays that once: ``python -m tools.forked_kernels serve SOCKET`` imports them and
waits on a Unix socket; for each kernel it forks, and the child becomes an ordinary ipykernel in
the page's directory and environment. The child is a fresh process in every other respect: no
cell has run in it, its random generators are seeded from the OS as a new process's are (Python's,
NumPy's global state, torch's default generator), and its site customisation runs again with the
kernel's environment. Like a kernel jupyter_client launches, it exits when the process that asked
for it does.

``ForkingKernelManager`` is the jupyter_client kernel manager that asks the zygote named by
``LABFREE_KERNEL_ZYGOTE`` for a kernel (pass it as nbclient's ``kernel_manager_class``); without
that variable, or for a kernelspec that is not this interpreter's ipykernel, it launches kernels
the usual way. :func:`zygote` starts and stops one for a block of work (``tools.book`` uses it).
The zygote forks only while it is single-threaded (it checks after its imports and refuses to
serve otherwise: an OpenMP or BLAS pool started on import, as without ``OMP_NUM_THREADS=1``, would
reach the kernels as a broken copy), and it exits when its parent does.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner
from traitlets import DottedObjectName, Type, default

from tools.kernel_client import BoundedKernelClient

ENV = "LABFREE_KERNEL_ZYGOTE"
# What the chapters' first cells import; a module missing here is imported by the kernel as usual.
PRELOAD = (
    "torch", "torch._dynamo", "numpy", "scipy.stats", "pandas", "matplotlib.pyplot",
    "sklearn.linear_model", "sklearn.metrics", "sklearn.manifold", "sklearn.decomposition",
    "sklearn.cluster", "tqdm.auto", "ipykernel.kernelapp", "ipywidgets",
    "labfree", "labfree.chapter", "labfree.data", "labfree.train", "labfree.embed",
    "labfree.evaluation", "labfree.metrics", "labfree.mi", "labfree.plots", "labfree.results",
    "umap",
)
# umap and pynndescent compile numba code on import when numba's cache does not hold it yet
# (14 s on one core): the zygote would repeat the compilation that tools.book runs beside it
COMPILES_ON_A_COLD_CACHE = ("umap",)
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"  # what ipykernel selects itself
# The OpenMP and BLAS pools whose size these variables set; the zygote can fork only with each at 1
THREAD_POOLS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


# ------------------------------------------------------------------------------------------------
# The zygote
# ------------------------------------------------------------------------------------------------


def preload(modules: tuple[str, ...] = PRELOAD) -> list[str]:
    """Import ``modules`` (those that exist); returns the ones imported."""
    # matplotlib reads its backend from the environment when first imported: the inline one,
    # as in a kernel that imported it itself
    os.environ.setdefault("MPLBACKEND", INLINE_BACKEND)
    done = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            continue
        done.append(name)
    return done


def _become_kernel(request: dict[str, Any]) -> None:
    """In the forked child: turn into ``python -m ipykernel_launcher ARGS`` started in ``cwd``
    with ``env``; never returns."""
    code = 0
    try:
        os.setsid()  # its own process group, as jupyter_client starts kernels
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        # ipykernel_launcher drops the entry `python -m` put first on sys.path; so does the child
        if sys.path and (sys.path[0] == "" or Path(sys.path[0]) == Path.cwd()):
            del sys.path[0]
        if request.get("parent"):
            _exit_with(request["parent"])
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        args = list(request["args"])
        # ipykernel reads JPY_PARENT_PID into a class default on import, which the zygote did
        # before any manager set it: the kernel's own value goes on the command line instead
        if os.environ.get("JPY_PARENT_PID"):
            args.append(f"--IPKernelApp.parent_handle={os.environ['JPY_PARENT_PID']}")
        sys.argv = [str(Path(importlib.import_module("ipykernel").__file__).parent / "__main__.py"), *args]
        # a new process's random states: NumPy's global one and torch's default generator are
        # seeded from the OS in every new process (Python's `random` reseeds itself on fork)
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed()
        if "torch" in sys.modules:
            sys.modules["torch"].seed()
        if "sitecustomize" in sys.modules:  # the kernel's own environment decides what it does
            importlib.reload(sys.modules["sitecustomize"])
        from ipykernel import kernelapp

        kernelapp.launch_new_instance(argv=args)
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        import atexit

        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)


def _exit_with(pid: int) -> None:
    """End this process when process ``pid`` ends. A kernel jupyter_client launches is a child of
    its manager and exits when that parent does (ipykernel polls for it); a forked kernel is the
    zygote's child, so it watches the manager that asked for it instead: a manager killed before
    it could shut its kernel down (a grading run past its time limit) takes the kernel with it."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        os._exit(1)

    def watch() -> None:
        select.select([pidfd], [], [])
        # the manager would have removed the connection file and the kernel's socket files
        with contextlib.suppress(Exception):
            from ipykernel.kernelapp import IPKernelApp

            if IPKernelApp.initialized():
                IPKernelApp.instance().cleanup_connection_file()  # and its ipc files
        os._exit(1)

    threading.Thread(target=watch, name="labfree-parent-watch", daemon=True).start()


def _reap(*_: Any) -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def serve(path: str, modules: tuple[str, ...] = PRELOAD) -> None:
    """The zygote: listen on the Unix socket ``path`` at once (requests wait in its backlog),
    preload ``modules``, then fork a kernel for every request until the parent process exits or
    SIGTERM. If the imports fail the socket closes, and the managers launch kernels themselves."""
    parent = os.getppid()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)  # the socket file appearing tells zygote() that it listens
    server.listen(64)
    preload(modules)
    threads = len(os.listdir("/proc/self/task")) if Path("/proc/self/task").is_dir() else 1
    if threading.active_count() > 1 or threads > 1:
        raise RuntimeError(f"the zygote runs {threads} threads after its imports; forking it "
                           "would give kernels a broken copy of them")
    signal.signal(signal.SIGCHLD, _reap)
    server.settimeout(1.0)
    while os.getppid() == parent:
        try:
            conn, _ = server.accept()
        except TimeoutError:
            continue
        with conn:
            conn.settimeout(30)
            request = json.loads(conn.makefile("r").readline())
            pid = os.fork()
            if pid == 0:
                server.close()
                conn.close()
                _become_kernel(request)
            # a pidfd opened before the child can be reaped: the manager's handle on it
            pidfd = os.pidfd_open(pid)
            try:
                socket.send_fds(conn, [json.dumps({"pid": pid}).encode() + b"\n"], [pidfd])
            finally:
                os.close(pidfd)


def supported() -> bool:
    """Forking kernels needs Linux: pidfds (the manager's handle on a process it did not start)
    and passing them over a Unix socket; elsewhere kernels start the usual way."""
    return sys.platform == "linux" and hasattr(os, "pidfd_open") and hasattr(socket, "send_fds")


def single_threaded(env: dict[str, str] | os._Environ) -> bool:
    """Whether ``env`` runs every pool of :data:`THREAD_POOLS` on one thread, as a zygote needs
    (with a larger pool its imports start threads, and it refuses to fork)."""
    return all(env.get(name) == "1" for name in THREAD_POOLS)


@contextlib.contextmanager
def zygote(env: dict[str, str] | None = None, modules: tuple[str, ...] = PRELOAD,
           timeout: float = 60) -> Iterator[str | None]:
    """Start a zygote with ``env`` (default: this process's; give it the environment the kernels
    will have, as what the preloaded libraries read on import comes from it) and yield its socket
    path, which is also ``LABFREE_KERNEL_ZYGOTE`` for the block and the processes started in it;
    stop it afterwards. It yields as soon as the zygote listens: the first kernels wait for its
    imports of ``modules`` instead of doing their own. Where :func:`supported` is false it
    starts nothing and yields None."""
    if not supported():
        yield None
        return
    folder = tempfile.mkdtemp(prefix="labfree-zygote-")
    path = os.path.join(folder, "socket")
    # stdout and stderr are this process's, as a kernel jupyter_client starts inherits them
    process = subprocess.Popen([sys.executable, "-m", "tools.forked_kernels", "serve", path,
                                ",".join(modules)],
                               cwd=Path(__file__).resolve().parents[1], env=env,
                               stdin=subprocess.DEVNULL)
    previous = os.environ.get(ENV)
    try:
        deadline = time.monotonic() + timeout
        while not os.path.exists(path):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the kernel zygote did not start (exit status {process.poll()})")
            time.sleep(0.02)
        os.environ[ENV] = path
        yield path
    finally:
        if previous is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = previous
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        with contextlib.suppress(OSError):
            os.unlink(path)
        with contextlib.suppress(OSError):
            os.rmdir(folder)


# ------------------------------------------------------------------------------------------------
# The manager side
# ------------------------------------------------------------------------------------------------


class ForkedProcess:
    """The part of :class:`subprocess.Popen` that jupyter_client uses, for a kernel the zygote
    forked (a child of the zygote, not of this process: its exit is seen through a pidfd)."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int, pidfd: int) -> None:
        self.pid, self._pidfd, self.returncode = pid, pidfd, None

    def poll(self) -> int | None:
        if self.returncode is None and select.select([self._pidfd], [], [], 0)[0]:
            self.returncode = 0  # its status belongs to the zygote, which reaps it
            os.close(self._pidfd)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired("forked kernel", timeout)
            select.select([self._pidfd], [], [], left)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def _fork_kernel(path: str, args: list[str], env: dict[str, str], cwd: str) -> ForkedProcess | None:
    """Ask the zygote at ``path`` for a kernel; None when it is gone or gave up."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(120)  # the first requests wait for the zygote's imports
            conn.connect(path)
            request = {"args": args, "env": env, "cwd": cwd, "parent": os.getpid()}
            conn.sendall(json.dumps(request).encode() + b"\n")
            message, fds, _, _ = socket.recv_fds(conn, 1024, 1)
    except OSError:
        return None
    if not message or not fds:
        return None
    return ForkedProcess(json.loads(message)["pid"], fds[0])


def kernel_args(cmd: list[str]) -> list[str] | None:
    """The ipykernel arguments of a kernel command ``[python, -m, ipykernel_launcher, ...]`` for
    this interpreter, or None for any other kernel (it is launched the usual way)."""
    same = len(cmd) >= 3 and os.path.realpath(cmd[0]) == os.path.realpath(sys.executable)
    return cmd[3:] if same and cmd[1:3] == ["-m", "ipykernel_launcher"] else None


class ForkProvisioner(LocalProvisioner):
    """Launches the kernel by asking the zygote for a fork; everything else is LocalProvisioner's
    (signals go to the kernel's process group, ports, connection file)."""

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> dict[str, Any]:
        args, path = kernel_args(cmd), os.environ.get(ENV)
        if args is None or not path:
            return await super().launch_kernel(cmd, **kwargs)
        cwd = str(kwargs.get("cwd") or os.getcwd())
        env = {str(k): str(v) for k, v in (kwargs.get("env") or os.environ).items()}
        # what jupyter_client's launcher tells the kernels it starts (the child hands it on to
        # ipykernel, _become_kernel); without it ipykernel takes itself for a terminal's
        # `ipython kernel` and prints a connection banner to stdout
        env.setdefault("JPY_PARENT_PID", str(os.getpid()))
        process = _fork_kernel(path, args, env, cwd)
        if process is None:
            self.log.warning("the kernel zygote at %s is gone; starting the kernel directly", path)
            return await super().launch_kernel(cmd, **kwargs)
        self.process = process
        self.pid = self.pgid = process.pid
        self.cwd = cwd
        return self.connection_info


class ForkingKernelManager(AsyncKernelManager):
    """An AsyncKernelManager whose kernels come from the zygote at ``$LABFREE_KERNEL_ZYGOTE``.

    On Linux its kernels talk ZeroMQ over Unix sockets (``transport="ipc"``), forked or not.
    Over TCP the manager picks free ports by binding port 0 and closing it, and the kernel binds
    them later: a kernel started at the same moment by another process (the second test worker,
    the book's second job) can take one in between, and the kernel dies with "Address already in
    use" (papermill#511). A socket file named after the kernel has no such window."""

    # its clients' shell channel never waits unboundedly (nbclient#312: tools/kernel_client.py)
    client_class = DottedObjectName("tools.kernel_client.BoundedKernelClient", config=True)
    client_factory = Type(BoundedKernelClient, klass=AsyncKernelClient, config=True)

    @default("transport")
    def _default_transport(self) -> str:
        return "ipc" if sys.platform == "linux" else "tcp"

    @default("ip")
    def _default_ip(self) -> str:
        if self.transport != "ipc":
            return super()._ip_default()
        # short and absolute: a Unix socket path holds 107 bytes (a long $TMPDIR falls back to
        # /tmp), and the kernel runs in the page's directory; jupyter_client removes the files
        # when the kernel shuts down
        name = f"labfree-kernel-{uuid.uuid4().hex[:12]}"
        path = os.path.join(tempfile.gettempdir(), name)
        return path if len(path.encode()) < 100 else os.path.join("/tmp", name)

    async def _async_pre_start_kernel(self, **kw: Any) -> tuple[list[str], dict[str, Any]]:
        if self.provisioner is None and os.environ.get(ENV):
            self.kernel_id = self.kernel_id or kw.pop("kernel_id", str(uuid.uuid4()))
            self.provisioner = ForkProvisioner(kernel_id=self.kernel_id, kernel_spec=self.kernel_spec,
                                               parent=self)
        return await super()._async_pre_start_kernel(**kw)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (2, 3) or args[0] != "serve":
        print("usage: python -m tools.forked_kernels serve SOCKET [MODULE,MODULE,...]", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    serve(args[1], tuple(filter(None, args[2].split(","))) if len(args) == 3 else PRELOAD)
    return 0


if __name__ == "__main__":
    sys.exit(main())
