"""Switch the network off inside notebook kernels started by the test suite.

Python imports ``sitecustomize`` at start-up from the first ``sys.path`` entry that has one;
``tests/conftest.py`` puts this folder on ``PYTHONPATH`` and sets ``LABFREE_OFFLINE=1`` before
papermill starts a kernel, so every chapter runs as it would on a machine without a network.
Loopback and Unix sockets stay open (the kernel talks to papermill over them, and ZeroMQ's own
sockets never pass through Python's ``socket`` module).
"""

import os
import socket

if os.environ.get("LABFREE_OFFLINE") == "1":

    class NetworkBlockedError(ConnectionRefusedError):
        """Raised for any attempt to reach a non-local address while the guard is on."""

    _LOCAL_NAMES = {"localhost", "ip6-localhost", "::1", "0.0.0.0", ""}

    def _is_local(host) -> bool:
        host = host.decode() if isinstance(host, bytes) else str(host)
        return host in _LOCAL_NAMES or host.startswith("127.")

    def _refuse(what):
        raise NetworkBlockedError(
            f"network access is blocked while labfree's notebooks run as tests (tried {what}); "
            "chapters must run offline on the embedded data"
        )

    _connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex
    _getaddrinfo = socket.getaddrinfo

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address[0]):
            _refuse(f"to connect to {address!r}")
        return _connect(self, address)

    def connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address[0]):
            _refuse(f"to connect to {address!r}")
        return _connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if host is not None and not _is_local(host):
            _refuse(f"to resolve {host!r}")
        return _getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.getaddrinfo = getaddrinfo
    socket.NetworkBlockedError = NetworkBlockedError
