"""The benchmarks' one clock: seconds of a call, with the CUDA work it queued counted.

On a CUDA device the call sits between two CUDA events recorded after a synchronise, so kernels
still queued when the Python call returns are timed too; elsewhere it is ``time.perf_counter``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

__all__ = ["clock", "repeat", "throughput"]


def clock(fn: Callable[[], Any], device: Any = None) -> tuple[Any, float]:
    """Call ``fn()`` once; returns ``(its value, seconds)``."""
    device = torch.device("cpu" if device is None else device)
    if device.type != "cuda":
        start = time.perf_counter()
        value = fn()
        return value, time.perf_counter() - start
    torch.cuda.synchronize(device)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    value = fn()
    end.record()
    torch.cuda.synchronize(device)
    return value, start.elapsed_time(end) / 1000


def repeat(fn: Callable[[], Any], device: Any = None, *, warmup: int = 0, repeats: int = 1) -> list[float]:
    """Seconds of ``repeats`` calls of ``fn()``, each on :func:`clock`, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    return [clock(fn, device)[1] for _ in range(repeats)]


def throughput(images: int, seconds: Sequence[float]) -> dict[str, Any]:
    """Images per second of calls that each handle ``images``: the median call is the headline; the
    best call shows the cost without interference from other processes (shared machines)."""
    median = statistics.median(seconds)
    return {"images_per_s": images / median, "images_per_s_best": images / min(seconds),
            "median_s": median, "seconds": list(seconds)}
