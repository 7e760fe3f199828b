"""The training loop: data on the device as uint8, augmentation on the device, milestones."""

from __future__ import annotations

import math
import random
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from labfree import augment
from labfree.losses import MoCoQueue
from labfree.optim import build_optimizer, build_scheduler

from . import distributed
from .batches import epoch_batches, prefetched, use_prefetch
from .checkpoints import (
    _restore,
    _save,
    check_config,
    check_data,
    config_from,
    data_fingerprint,
    load_checkpoint,
)
from .config import _RUNTIME_FIELDS, CollapseWarning, TrainConfig, TrainingDiverged
from .model import SSLModel, build_model
from .step import _PENDING, Objective, _names, check_update, train_step


@dataclass
class TrainState:
    """What a milestone callback sees. ``model`` is in training mode; switch modes with care."""

    epoch: int
    model: SSLModel
    config: TrainConfig
    history: list[dict[str, float]]
    milestones: list[dict[str, Any]]


@dataclass
class TrainResult:
    """A finished run: the model, its resolved config, per-epoch ``history`` and ``milestones``
    (one record per milestone epoch holding the callbacks' results)."""

    model: SSLModel
    config: TrainConfig
    history: list[dict[str, float]]
    milestones: list[dict[str, Any]]

    def frame(self):
        """The history as a pandas DataFrame indexed by epoch."""
        import pandas as pd
        return pd.DataFrame(self.history).set_index("epoch")


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's (CPU and every CUDA device) global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def train(config: TrainConfig, data: Any, *, callbacks: Sequence[Callable[[TrainState], dict | None]] = (),
          resume: str | Path | None = None, positives: Tensor | None = None) -> TrainResult:
    """Train ``config.method`` on ``data`` (an :class:`~labfree.data.ImageSet`: uint8 ``images``,
    ``labels``, ``classes``, ``mean``, ``std``).

    ``positives`` changes what a positive pair is: an ``(N, k)`` tensor of image indices, row ``i``
    the candidate partners of image ``i``. View 1 augments image ``i``, view 2 augments one of its
    partners drawn at random at every step (e.g. its ``k`` nearest neighbours in another model's
    representation). By default view 2 augments image ``i`` itself.

    Each callback is called at every milestone with a :class:`TrainState`; a dict it returns is
    merged into that milestone's record (stored in checkpoints: numbers, strings, tensors, lists
    and dicts of them). ``resume`` is a checkpoint written by an earlier run of the same config on
    the same data set (checked against its fingerprint before any step); training continues from it
    to the same result as an uninterrupted run. A ``config.epochs`` other than the checkpoint's
    extends the run: see :func:`resume`.

    Every step is checked for NaN/inf (loss, embeddings, and after the update every gradient,
    parameter and buffer; one host sync per step). If anything goes non-finite, the model is
    restored to the end of the last complete epoch and :class:`TrainingDiverged` raised carrying it
    (``.model``, ``.state``, ``.restored_epoch``) with the epoch, step, learning rate and names of
    what went non-finite; a checkpoint is never written from a non-finite model.
    """
    config = config.resolved(getattr(data, "name", None))
    return _train(config, data, callbacks, resume, None if resume is None else load_checkpoint(resume),
                  positives)


def resume(checkpoint: str | Path, data: Any, *, epochs: int | None = None,
           callbacks: Sequence[Callable[[TrainState], dict | None]] = (), positives: Tensor | None = None,
           **runtime: Any) -> TrainResult:
    """Continue the run saved in ``checkpoint`` on ``data`` with the config it was written with.

    The data set must be the one the run trained on (its fingerprint is checked before any step);
    ``positives``, if the run had them, too. ``runtime`` may change how the run is executed, not
    what it computes: ``device``, ``compile``, ``milestone_every``, ``milestone_at``,
    ``checkpoint_dir`` (default: the run's own) and ``progress``.

    ``epochs=None`` finishes the run as planned: the result is bit for bit that of an uninterrupted
    run. ``epochs=N`` with a different ``N`` extends (or shortens) it to ``N`` epochs. The
    learning-rate schedule (and BYOL's EMA schedule) is then rebuilt for ``N`` epochs and entered at
    the checkpoint's step: the epochs after the checkpoint get exactly the learning rates and
    momenta of a run planned for ``N`` epochs, but the epochs before it were trained on the
    schedule planned for the original length, so the result differs from a run planned for ``N``
    from the start. With the one-cycle or cosine schedule, extending a finished run re-raises the
    learning rate from the end of its annealing to the ``N``-epoch schedule's value at that step
    (a warm restart); with the constant schedule nothing changes but the length.
    """
    saved = load_checkpoint(checkpoint)
    if unknown := sorted(set(runtime) - set(_RUNTIME_FIELDS)):
        raise ValueError(f"resume() can change only how the run is executed, {list(_RUNTIME_FIELDS)}; "
                         f"got {unknown}. Pass epochs=N to extend it; to change what it computes, train "
                         "a new run.")
    config = config_from(saved)
    config = replace(config, **runtime, **({} if epochs is None else {"epochs": epochs}))
    return _train(config.resolved(getattr(data, "name", None)), data, callbacks, checkpoint, saved,
                  positives)


def _train(config: TrainConfig, data: Any, callbacks: Sequence[Callable[[TrainState], dict | None]],
           resume: str | Path | None, checkpoint: dict[str, Any] | None,
           positives: Tensor | None) -> TrainResult:
    ctx, device = distributed.setup(torch.device(config.device))  # a torchrun launch: join its group
    on_cuda = device.type == "cuda"
    amp, channels_last = config.amp, config.channels_last  # resolved for the device
    supervised = config.method == "supervised"
    n, batch_size = len(data.images), config.batch_size
    if supervised:
        _check_labels(data, n)
    steps = n // batch_size
    if steps == 0:
        raise ValueError(f"batch_size {batch_size} exceeds the {n} images; choose batch_size <= {n}.")
    if batch_size % ctx.world_size:
        raise ValueError(f"batch_size {batch_size} (the global batch) does not split over "
                         f"{ctx.world_size} processes; choose a multiple of {ctx.world_size}.")
    if positives is not None:
        positives = _check_positives(positives, n)
    fingerprint = None
    if checkpoint is not None or config.checkpoint_dir is not None:
        fingerprint = data_fingerprint(data, positives)
    if checkpoint is not None:  # before any step: the same computation, on the same data
        check_config(checkpoint, resume, config)
        check_data(checkpoint, resume, fingerprint, supervised)
    seed_everything(config.seed)
    images = data.images.to(device)  # once, as uint8
    labels = data.labels.to(device) if supervised else None  # only supervised training reads them
    total_steps = config.epochs * steps
    if positives is not None:
        positives = positives.to(device)
    model = build_model(config, num_classes=len(data.classes))
    if ctx.active:  # BatchNorm statistics over the global batch
        model = distributed.sync_batchnorm(model, device)
    model = model.to(device)  # keeps the layout build_model gave it
    optimizer = build_optimizer(config.optimizer, model, lr=config.lr, weight_decay=config.weight_decay,
                                momentum=config.momentum[1])
    scheduler = build_scheduler(config.schedule, optimizer, total_steps, lr=config.lr,
                                momentum=config.momentum, warmup_steps=config.warmup_epochs * steps)
    aug1, aug2 = view_augmentations(config, data)
    generator = torch.Generator(device).manual_seed(config.seed)  # batch order and augmentation
    history: list[dict[str, float]] = []
    milestones: list[dict[str, Any]] = []
    start, elapsed = 0, 0.0
    if checkpoint is not None:
        start, elapsed = _restore(checkpoint, config, model, optimizer, scheduler, generator, history,
                                  milestones, steps)
    last_good = (start, _snapshot(model))  # the last state known finite: restored on divergence
    if config.compile:
        for module in model.children():
            if not isinstance(module, MoCoQueue):
                module.compile()
    objective = distributed.wrap(Objective(model), device) if ctx.active else None
    prefetch = use_prefetch(config.prefetch, device)

    def milestone(epoch: int) -> None:
        state = TrainState(epoch, model, config, history, milestones)
        record: dict[str, Any] = {"epoch": epoch}
        for callback in callbacks:
            record.update(callback(state) or {})
        milestones.append(record)
        if config.checkpoint_dir is not None and ctx.main:
            _save(Path(config.checkpoint_dir) / f"epoch_{epoch:04d}.pt", config, epoch, elapsed, model,
                  optimizer, scheduler, generator, history, milestones, fingerprint)

    def diverged(err: TrainingDiverged, epoch: int, i: int) -> TrainingDiverged:
        """The error of a run: where, at what learning rate, what; the model restored."""
        what = str(err)
        if err.step is not None:  # an update went non-finite: say which step made it so
            epoch, i, lr = err.step // steps + 1, err.step % steps, err.lr
            what = f"its update left NaN or inf in {_names(err.nonfinite)}"
        else:
            lr = optimizer.param_groups[0]["lr"]
        setattr(model, _PENDING, None)
        restored_epoch, state = last_good
        model.load_state_dict(state)
        where = "its initialisation" if restored_epoch == 0 else f"the end of epoch {restored_epoch}"
        return TrainingDiverged(
            f"training diverged at epoch {epoch}, step {i + 1} of {steps} (lr {lr:.3g}): {what}. "
            f"The model is restored to its last finite state, {where} (TrainingDiverged.model and "
            ".state). Try a lower learning rate (or a longer warm-up), check that the inputs are "
            "normalised and finite, and run with amp=False to rule out reduced precision.",
            epoch=epoch, step=i + 1, lr=lr, nonfinite=err.nonfinite, model=model, state=state,
            restored_epoch=restored_epoch)

    if start == 0:
        milestone(0)
    from tqdm.auto import tqdm
    bar = tqdm(total=total_steps, initial=start * steps, disable=not (config.progress and ctx.main),
               desc=config.method, unit="step")
    for epoch in range(start + 1, config.epochs + 1):
        model.train()
        t0 = time.perf_counter()
        if ctx.active:  # one permutation for every rank, augmentations of each rank's own
            generator.manual_seed(_epoch_seed(config.seed, epoch))
            order = torch.randperm(n, device=device, generator=generator)
            generator.manual_seed(_epoch_seed(config.seed, epoch, ctx.rank + 1))
        else:
            order = torch.randperm(n, device=device, generator=generator)
        sums: dict[str, Tensor] = {}
        batches = epoch_batches(images, order, batch_size, steps, aug1, aug2, generator,
                                two_views=not supervised, positives=positives,
                                shard=(ctx.rank, ctx.world_size))
        if prefetch:  # the next batch is made on another core while this one steps
            batches = prefetched(batches)
        try:
            for i, b in enumerate(batches):
                try:
                    logs = train_step(model, optimizer, scheduler, b.x1, b.x2,
                                      labels[b.index] if supervised else None,
                                      step=(epoch - 1) * steps + i, total_steps=total_steps, amp=amp,
                                      channels_last=channels_last, objective=objective)
                except TrainingDiverged as err:
                    bar.close()
                    raise diverged(err, epoch, i) from None
                for key, value in logs.items():
                    sums[key] = sums.get(key, 0.0) + value
                bar.update()
                if not bar.disable:  # reading the loss waits for the step: only for a visible bar
                    bar.set_postfix(loss=f"{float(logs['loss']):.4f}",
                                    img_s=f"{(i + 1) * batch_size / (time.perf_counter() - t0):.0f}",
                                    refresh=False)
        finally:
            batches.close()  # stops a prefetching thread, however the epoch ends
        try:
            check_update(model)  # the epoch's last update, before anything records or saves it
        except TrainingDiverged as err:
            bar.close()
            raise diverged(err, epoch, steps - 1) from None
        last_good = (epoch, _snapshot(model))
        if on_cuda:
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - t0
        elapsed += seconds
        record = {"epoch": epoch, **{k: float(distributed.mean(v)) / steps for k, v in sums.items()},
                  "embedding_std": float(logs["embedding_std"]),  # the last batch's, not the mean
                  "lr": optimizer.param_groups[0]["lr"],
                  "images_per_s": n // batch_size * batch_size / seconds,
                  "epoch_time_s": seconds, "wall_time_s": elapsed}
        history.append(record)
        _check_collapse(record, model, config, epoch)
        if config.is_milestone(epoch):
            milestone(epoch)
    bar.close()
    return TrainResult(model, config, history, milestones)


def _epoch_seed(seed: int, epoch: int, stream: int = 0) -> int:
    """A seed per (run, epoch, stream) for data-parallel runs: stream 0 orders the data (the same
    on every rank), stream ``rank + 1`` augments a rank's shard. A resumed run re-derives them from
    the epoch, so its checkpoint needs no per-rank generator state."""
    return (seed * 1_000_003 + epoch) * 1_009 + stream


def view_augmentations(config: TrainConfig, data: Any) -> tuple[augment.Augment, augment.Augment]:
    """The two view augmentations a run applies: the stack ``config.augment`` with its strength and
    blur, normalised with the data set's statistics, then the ``augment_kwargs`` overrides."""
    aug1, aug2 = augment.pair(config.augment, mean=data.mean, std=data.std,
                              strength=config.augment_strength, blur=config.augment_blur)
    if config.augment_kwargs:
        aug1, aug2 = (replace(a, **config.augment_kwargs) for a in (aug1, aug2))
    return aug1, aug2


def _snapshot(model: SSLModel) -> dict[str, Tensor]:
    """A copy of the model's parameters and buffers, on their device."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _check_labels(data: Any, n: int) -> None:
    """Supervised training reads one class index per image: as many labels as images, in range."""
    labels, k = torch.as_tensor(data.labels), len(data.classes)
    if labels.ndim != 1 or len(labels) != n:
        raise ValueError(f"data.labels has shape {tuple(labels.shape)} but data.images holds {n} images; "
                         "supervised training needs one label per image: pass an ImageSet whose labels "
                         "match its images (e.g. subset both with the same index).")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise ValueError(f"data.labels must hold integer class indices, got dtype {labels.dtype}; "
                         "convert them with labels.long().")
    low, high = (int(v) for v in torch.aminmax(labels)) if n else (0, 0)
    if low < 0 or high >= k:
        raise ValueError(f"data.labels holds values in [{low}, {high}] but data.classes names {k} classes; "
                         f"labels must be class indices 0..{k - 1}: relabel (e.g. data.scheme_labels) or "
                         "pass the matching classes.")


def _check_positives(positives: Any, n: int) -> Tensor:
    positives = torch.as_tensor(positives)
    if positives.ndim == 1:
        positives = positives[:, None]
    if positives.ndim != 2 or positives.shape[0] != n or positives.dtype.is_floating_point:
        raise ValueError(f"positives must be an (N, k) integer tensor of partner indices with N = {n} "
                         f"images; got shape {tuple(positives.shape)} and dtype {positives.dtype}.")
    if positives.numel() and (positives.min() < 0 or positives.max() >= n):
        raise ValueError(f"positives index images 0..{n - 1}; got values in "
                         f"[{int(positives.min())}, {int(positives.max())}].")
    return positives.long()


def _check_collapse(record: dict[str, float], model: SSLModel, config: TrainConfig, epoch: int) -> None:
    head = model.classifier if model.spec is None else model.projector
    d = head.in_features if model.spec is None else head.out_dim
    threshold = config.collapse_threshold / math.sqrt(d)
    if record["embedding_std"] < threshold:
        warnings.warn(
            f"epoch {epoch}: the L2-normalised {'features' if model.spec is None else 'projections'} "
            f"of the last batch have a mean per-dimension std of {record['embedding_std']:.2e}, below "
            f"{threshold:.2e} ({config.collapse_threshold} / sqrt({d})); embeddings spread over the "
            f"sphere have about 1/sqrt(d) = {1 / math.sqrt(d):.2e}. The representation is collapsing "
            "towards a single point: check the loss weights (e.g. VICReg's variance term), the "
            "learning rate and the augmentations.", CollapseWarning, stacklevel=3)
