"""The batches of an epoch: a permutation, slices of the uint8 images on the device, two augmented
views per image; optionally made one batch ahead on a second CPU thread.

On a GPU the augmentation kernels queue up behind the previous step's and run asynchronously: the
input pipeline costs the step almost nothing. On a CPU every kernel runs where it is called, so
augmenting the next batch would wait for the step. ``prefetch`` moves batch making to a background
thread (torch's kernels release the GIL), where a second core augments batch ``i + 1`` while the
first steps on batch ``i``; the batches, and so the run, are bit for bit the same, because only that
thread draws from the generator during an epoch, in the same order, and it stops at the epoch's end
(a checkpoint sees the generator exactly where a run without prefetch leaves it).
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from labfree import augment


@dataclass
class Batch:
    """One step's input: the images' indices in the data set and their views (``x2`` is ``None``
    for supervised training)."""

    index: Tensor
    x1: Tensor
    x2: Tensor | None


def epoch_batches(images: Tensor, order: Tensor, batch_size: int, steps: int, aug1: augment.Augment,
                  aug2: augment.Augment, generator: torch.Generator, *, two_views: bool,
                  positives: Tensor | None = None, shard: tuple[int, int] = (0, 1)) -> Iterator[Batch]:
    """The ``steps`` batches of an epoch in ``order`` (the last short batch dropped).

    ``positives`` (``(N, k)`` partner indices) makes view 2 augment a partner of each image, drawn at
    random when ``k > 1``. ``shard = (rank, world_size)`` keeps this rank's ``batch_size /
    world_size`` images of each global batch.
    """
    rank, world = shard
    local = batch_size // world
    for i in range(steps):
        start = i * batch_size + rank * local
        index = order[start:start + local]
        batch = images[index]
        x1 = aug1(batch, generator)
        x2 = None
        if two_views:
            if positives is None:
                x2 = aug2(batch, generator)
            elif positives.shape[1] == 1:  # one partner each: no draw (keeps the generator's stream)
                x2 = aug2(images[positives[index, 0]], generator)
            else:
                pick = torch.randint(positives.shape[1], (len(index),), device=images.device,
                                     generator=generator)
                x2 = aug2(images[positives[index, pick]], generator)
        yield Batch(index, x1, x2)


def use_prefetch(choice: bool | str, device: torch.device) -> bool:
    """Resolve ``TrainConfig.prefetch``: ``"auto"`` prefetches on a CPU that has a core to spare
    beyond torch's threads (never on CUDA, whose kernels are asynchronous already)."""
    if choice != "auto":
        return bool(choice)
    if device.type != "cpu":
        return False
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return cores > torch.get_num_threads()


_DONE = object()


def prefetched(batches: Iterator[Any], depth: int = 2) -> Iterator[Any]:
    """``batches``, made by a background thread at most ``depth`` items ahead of the consumer.

    An exception raised while making a batch is re-raised here, in the consumer's thread; closing
    the returned generator (or breaking out of the loop) stops the thread.
    """
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in batches:
                while not stop.is_set():
                    try:
                        items.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            items.put(_DONE)
        except BaseException as error:  # handed to the consumer, raised there
            items.put(error)

    worker = threading.Thread(target=produce, name="labfree-batches", daemon=True)
    worker.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue, then let it end
            try:
                items.get_nowait()
            except queue.Empty:
                pass
            worker.join(timeout=0.05)
