"""Shared test set-up: caches shared with the book build, the offline guard for notebook kernels."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OFFLINE = Path(__file__).resolve().parent / "offline"
KERNEL_THREADS = os.environ.get("LABFREE_KERNEL_THREADS", "1")  # CPU threads per notebook kernel

# One CPU thread per test process: `make test` runs two workers on two cores, and a worker whose torch
# and OpenMP pools spread over both cores stalls the other (measured: a 16 s SimCLR test took 210 s
# beside a notebook). The training tests' thresholds were calibrated on one thread.
for _pool in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_pool, "1")

# One numba JIT cache and one dataset cache for every process of the run (umap compiles once).
os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".cache" / "numba"))
os.environ.setdefault("LABFREE_DATA", str(ROOT / ".cache" / "data"))


def offline_kernel_env() -> None:
    """Make kernels started from now on load tests/offline/sitecustomize.py (network off)."""
    paths = [str(OFFLINE)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    os.environ["LABFREE_OFFLINE"] = "1"
    # The suite runs two workers on two cores (pytest -n 2), so each kernel gets one thread: torch's,
    # and the OpenMP/BLAS pools of numba (UMAP) and scikit-learn, whose idle spinning workers
    # otherwise stall torch on an oversubscribed CPU (measured: a 0.9 s probe took 29 s after UMAP).
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[name] = KERNEL_THREADS


@pytest.fixture(scope="session")
def offline_kernels() -> int:
    """Kernels started from now on are offline and single-pool; returns their CPU thread count."""
    offline_kernel_env()
    return int(KERNEL_THREADS)


@pytest.fixture(scope="session")
def umap_compiled() -> None:
    """umap's numba code compiled into the shared cache (NUMBA_CACHE_DIR) before a kernel times its
    cells: on a fresh clone the first UMAP fit compiles for about 30 s, a cached one takes 2 s."""
    from labfree.metrics import compile_reducers

    compile_reducers()


@pytest.fixture(scope="session")
def kernel_zygote(offline_kernels, umap_compiled) -> Iterator[str | None]:
    """A zygote for this test process's notebook kernels (tools/forked_kernels.py): each kernel is
    a fork of a process that has imported torch, scikit-learn, matplotlib, umap and labfree, which
    saves about 5 s of one core a notebook. Started once the offline guard and the one-thread
    settings are in the environment, as what those libraries read on import comes from it; None
    where forking is not supported, and kernels start the usual way. What a fork could hide, a
    submodule reached without its import, test_notebooks.py checks in every chapter."""
    from tools import forked_kernels

    with forked_kernels.zygote(dict(os.environ)) as path:
        yield path


@pytest.fixture
def one_torch_thread():
    """Pin torch to one thread for the test (small ops on a shared 2-core machine run faster so)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Chapter notebooks first: they are the suite's long tests (30-100 s each against the unit
    tests' seconds), so with two workers stealing work (`--dist worksteal`) the run ends on short
    tests instead of one worker finishing a notebook while the other idles."""
    items.sort(key=lambda item: item.get_closest_marker("notebook") is None)
