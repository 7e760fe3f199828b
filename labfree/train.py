"""One training loop for every self-supervised method in the book, and for supervised training.

Methods differ only in their heads and their loss, which :func:`labfree.losses.method` describes
as data (a :class:`~labfree.losses.MethodSpec`); the loop never branches on a method's name::

    from labfree import data, train
    shapes, test = data.load("shapes", "train"), data.load("shapes", "test")
    config = train.TrainConfig("simclr", encoder="small_cnn", epochs=20, lr=0.5,
                               momentum=(0.85, 0.9), milestone_at=(1, 2, 5, 10))
    result = train.train(config, shapes, callbacks=[train.probe_callback(shapes, test)])
    result.frame()       # per epoch: loss, lr, images/s, embedding std (VICReg: its three terms)
    result.milestones    # per milestone (epoch 0 = initialisation): the callbacks' results

The data set moves to the device once, as ``uint8``; each epoch draws a permutation from an explicit
generator, slices batches on the device (dropping the last short one) and augments each image of a
batch with its own random parameters there (:mod:`labfree.augment`): no ``DataLoader``, no workers.

A step (:func:`train_step`) runs the forward pass under bf16 autocast (CUDA only), the loss in
float32 (:func:`loss_step`), the backward pass, the optimiser and schedule, then the momentum
target's EMA (MoCo, BYOL) and MoCo's enqueue. MoCo-v2's loss is symmetrised,
``(L(q1, k2) + L(q2, k1)) / 2``, as the other five losses are by construction; its queue receives
one key per image (view 2's), so it spans ``queue_length / batch_size`` steps as in the original.

Checks: a non-finite loss or embedding raises :class:`TrainingDiverged`. After each epoch the mean
per-dimension standard deviation of the last batch's L2-normalised projections is recorded
(``embedding_std``; SimSiam's collapse measure), and a :class:`CollapseWarning` raised below
``collapse_threshold / sqrt(d)``: unit vectors spread over ``d`` dimensions have about
``1/sqrt(d)``, a collapsed embedding 0. (A random network's projections can sit near
``0.1/sqrt(d)``, and so can MoCo's while its queue still holds random keys; hence the default 0.1.)

Milestones (epoch 0, every ``milestone_every`` epochs, each epoch in ``milestone_at``, and the last)
call the callbacks and write a checkpoint with everything needed to resume bit-exactly.
"""

from __future__ import annotations

import math
import random
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from labfree import augment, models
from labfree.losses import (METHODS, MethodSpec, MoCoQueue, VICRegTerms, byol_tau, ema_update, method,
                            momentum_copy)
from labfree.optim import OPTIMIZERS, SCHEDULES, build_optimizer, build_scheduler

__all__ = ["TrainConfig", "SSLModel", "build_model", "loss_step", "train_step", "train", "TrainResult",
           "TrainState", "TrainingDiverged", "CollapseWarning", "seed_everything", "probe_callback",
           "load_checkpoint", "load_model", "METHOD_CHOICES"]

METHOD_CHOICES = (*METHODS, "supervised")
ABLATIONS = ("predictor", "ema")  # parts of a method that TrainConfig.without can remove
# Supervised encoder preparation (thesis 3.1.2): the seeds fix only its length ("all supervised
# training, including LPs, 100 epochs"); the optimiser is theirs for the linear probe (Adam,
# one-cycle, peak lr 0.003, weight decay 1e-4), a labfree choice.
SUPERVISED_RECIPE = {"name": "adam", "lr": 3e-3, "weight_decay": 1e-4, "epochs": 100, "batch_size": 512,
                     "schedule": "one_cycle", "momentum": (0.85, 0.95)}
# Fields that change how a run is executed or observed, not what it computes.
_RUNTIME_FIELDS = ("device", "compile", "milestone_every", "milestone_at", "checkpoint_dir", "progress")


class TrainingDiverged(RuntimeError):
    """The loss or the embeddings became NaN or infinite."""


class CollapseWarning(UserWarning):
    """The embeddings of a batch have (nearly) collapsed to a single point."""


@dataclass
class TrainConfig:
    """Everything that defines a training run; ``None`` fields take the method's defaults
    (its :class:`~labfree.losses.MethodSpec`; ``SUPERVISED_RECIPE`` for ``"supervised"``).

    Args:
        method: one of ``METHOD_CHOICES``: the six self-supervised methods of ``losses.METHODS``
            or ``"supervised"`` (cross-entropy with a linear head on the encoder, one view).
        encoder, encoder_kwargs: name in ``models.ENCODERS`` and its keyword arguments.
        projector_kwargs, predictor_kwargs: overrides of the heads' widths (``models.head``).
        loss_kwargs: overrides of the loss' keyword arguments (e.g. ``{"var_weight": 0}``).
        augment: a stack of ``augment.STACKS``; default "shapes" ("rotation" for supervised) on the
            shapes set, else "simclr_cifar" (the thesis' stack for every method on CIFAR).
        augment_strength: multiplies the stack's colour-jitter ranges.
        augment_blur: the stack's ``blur`` argument (``None`` keeps the stack's, ``True`` adds
            SimCLR's blur, ``False`` removes it, a float sets its probability).
        augment_kwargs: overrides of :class:`~labfree.augment.Augment` fields in both views, e.g.
            ``{"rotation_degrees": 0}`` or ``{"crop_scale": (0.5, 1.0)}``.
        epochs, batch_size, optimizer, lr, weight_decay, schedule: the recipe; ``optimizer`` in
            ``optim.OPTIMIZERS``, ``schedule`` in ``optim.SCHEDULES``.
        momentum: ``(low, high)`` of the one-cycle momentum (other schedules use ``high``).
        warmup_epochs: linear warm-up of the ``"cosine"`` schedule.
        ema_tau, queue_length: MoCo's / BYOL's target rate and MoCo's queue length.
        without: ablations, a tuple of ``ABLATIONS``: ``"predictor"`` trains without the
            predictor (the loss compares projections, ``p = z``); ``"ema"`` replaces the momentum
            target by the online network itself at every step (``tau = 0``, still no gradient).
            SimSiam's stop-gradient is a loss keyword: ``loss_kwargs={"stop_gradient": False}``.
        device: default CUDA when available. amp: bf16 autocast (CUDA only).
        channels_last: NHWC memory layout (CUDA only). compile: ``torch.compile`` the modules.
        seed: seeds initialisation, batch order and augmentation.
        milestone_every, milestone_at: milestone epochs besides 0 and the last.
        checkpoint_dir: where milestone checkpoints go (``epoch_0005.pt``); ``None`` writes none.
        collapse_threshold: warn when the embedding std is below ``collapse_threshold / sqrt(d)``.
        progress: show a tqdm progress bar.
    """

    method: str = "simclr"
    encoder: str = "resnet18l"
    encoder_kwargs: dict[str, Any] = field(default_factory=dict)
    projector_kwargs: dict[str, Any] = field(default_factory=dict)
    predictor_kwargs: dict[str, Any] = field(default_factory=dict)
    loss_kwargs: dict[str, Any] = field(default_factory=dict)
    augment: str | None = None
    augment_strength: float = 1.0
    augment_blur: bool | float | None = None
    augment_kwargs: dict[str, Any] = field(default_factory=dict)
    epochs: int | None = None
    batch_size: int | None = None
    optimizer: str | None = None
    lr: float | None = None
    weight_decay: float | None = None
    momentum: tuple[float, float] | None = None
    schedule: str | None = None
    warmup_epochs: int = 10
    ema_tau: float | None = None
    queue_length: int | None = None
    without: tuple[str, ...] = ()
    device: str | None = None
    amp: bool = True
    channels_last: bool = True
    compile: bool = False
    seed: int = 0
    milestone_every: int | None = None
    milestone_at: tuple[int, ...] = ()
    checkpoint_dir: str | None = None
    collapse_threshold: float = 0.1
    progress: bool = True

    def resolved(self, dataset: str | None = None) -> TrainConfig:
        """A copy with every ``None`` filled from the method's defaults; names are checked here."""
        if self.method not in METHOD_CHOICES:
            raise ValueError(f"unknown method {self.method!r}; choose one of {METHOD_CHOICES}.")
        spec = METHODS.get(self.method)
        recipe = spec.optimizer if spec else SUPERVISED_RECIPE
        supervised = spec is None
        default_augment = ("rotation" if supervised else "shapes") if dataset == "shapes" else "simclr_cifar"
        filled = {
            "epochs": recipe["epochs"], "batch_size": recipe["batch_size"], "optimizer": recipe["name"],
            "lr": recipe["lr"], "weight_decay": recipe["weight_decay"], "momentum": recipe["momentum"],
            "schedule": recipe["schedule"], "augment": default_augment,
            "ema_tau": spec.ema.get("tau") if spec else None,
            "queue_length": spec.queue_length if spec else None,
            "device": "cuda" if torch.cuda.is_available() else "cpu",
        }
        config = replace(self, **{k: v for k, v in filled.items() if getattr(self, k) is None})
        config.momentum = tuple(config.momentum)
        config.milestone_at = tuple(sorted(set(config.milestone_at)))
        config.without = tuple(config.without)
        known = {f.name for f in fields(augment.Augment)} - {"mean", "std", "size"}
        if unknown := sorted(set(config.augment_kwargs) - known):
            raise ValueError(f"unknown augment_kwargs {unknown}; Augment's fields are {sorted(known)}.")
        for part in config.without:
            if part not in ABLATIONS:
                raise ValueError(f"unknown ablation {part!r}; choose from {ABLATIONS}.")
            if spec is None or (part == "predictor" and not spec.predictor) or (
                    part == "ema" and not spec.momentum_target):
                raise ValueError(f"{config.method} has no {part} to remove; "
                                 "'predictor' applies to simsiam and byol, 'ema' to byol and moco_v2.")
        if "ema" in config.without:
            config.ema_tau = 0.0
        for kind, name, choices in (("optimizer", config.optimizer, OPTIMIZERS),
                                    ("schedule", config.schedule, SCHEDULES),
                                    ("augmentation stack", config.augment, augment.STACKS),
                                    ("encoder", config.encoder, tuple(models.ENCODERS))):
            if name not in choices:
                raise ValueError(f"unknown {kind} {name!r}; choose one of {choices}.")
        if config.epochs < 1 or config.batch_size < 2:
            raise ValueError(f"need epochs >= 1 and batch_size >= 2; got {config.epochs}, {config.batch_size}.")
        return config

    def is_milestone(self, epoch: int) -> bool:
        """Whether the end of ``epoch`` is a milestone (epoch 0 is the initialisation)."""
        return (epoch in (0, self.epochs) or epoch in self.milestone_at
                or bool(self.milestone_every and epoch % self.milestone_every == 0))


# --------------------------------------------------------------------------------------------
# The model: encoder + heads (+ momentum target, + queue)
# --------------------------------------------------------------------------------------------

class SSLModel(nn.Module):
    """Encoder plus the heads a method trains with; ``.encoder`` is what evaluation uses and
    ``model(x)`` returns its features ``h``. Build it with :func:`build_model`.

    Attributes: ``projector`` and ``predictor`` (or ``None``); ``target_encoder`` and
    ``target_projector``, the momentum copies (MoCo, BYOL); ``queue`` (MoCo); ``classifier``, the
    linear head of supervised training; ``spec`` (``None`` for supervised) and ``loss_kwargs``.
    """

    def __init__(self, spec: MethodSpec | None, encoder: nn.Module, *, projector: nn.Module | None = None,
                 predictor: nn.Module | None = None, classifier: nn.Module | None = None,
                 queue: MoCoQueue | None = None, loss_kwargs: dict[str, Any] | None = None,
                 ema_tau: float | None = None, ema_schedule: str = "constant") -> None:
        super().__init__()
        self.spec, self.encoder, self.projector, self.predictor = spec, encoder, projector, predictor
        self.classifier, self.queue = classifier, queue
        self.loss_kwargs = dict(loss_kwargs or {})
        self.ema_tau, self.ema_schedule = ema_tau, ema_schedule
        self.target_encoder = self.target_projector = None
        if spec is not None and spec.momentum_target:
            self.target_encoder, self.target_projector = momentum_copy(encoder), momentum_copy(projector)

    def forward(self, x: Tensor) -> Tensor:
        return self.encoder(x)

    @torch.no_grad()
    def momentum_update(self, step: int, total_steps: int) -> None:
        """EMA of the target after optimiser step ``step``: constant ``tau`` (MoCo) or BYOL's cosine
        schedule from ``tau`` to 1 (:func:`~labfree.losses.byol_tau`)."""
        if self.target_encoder is None:
            return
        tau = self.ema_tau
        if self.ema_schedule == "cosine":
            tau = byol_tau(min(step, total_steps), total_steps, tau)
        ema_update(self.target_encoder, self.encoder, tau)
        ema_update(self.target_projector, self.projector, tau)


def build_model(config: TrainConfig, num_classes: int | None = None) -> SSLModel:
    """Build the :class:`SSLModel` of a (resolved) config; ``num_classes`` for supervised training."""
    encoder = models.encoder(config.encoder, **config.encoder_kwargs)
    if config.method == "supervised":
        if num_classes is None:
            raise ValueError("supervised training needs num_classes (the data set's number of classes).")
        return SSLModel(None, encoder, classifier=models.linear_head(encoder.out_dim, num_classes))
    spec = method(config.method)
    projector = models.head(spec.projector, encoder.out_dim, **config.projector_kwargs)
    predictor = (models.head(spec.predictor, projector.out_dim, **config.predictor_kwargs)
                 if spec.predictor and "predictor" not in config.without else None)
    queue = MoCoQueue(projector.out_dim, config.queue_length) if spec.queue_length else None
    return SSLModel(spec, encoder, projector=projector, predictor=predictor, queue=queue,
                    loss_kwargs={**spec.loss_kwargs, **config.loss_kwargs}, ema_tau=config.ema_tau,
                    ema_schedule="constant" if "ema" in config.without else spec.ema.get("schedule", "constant"))


# --------------------------------------------------------------------------------------------
# One step
# --------------------------------------------------------------------------------------------

# Query/key losses (MoCo) are one-directional: evaluate them with q from view 1 and k from view 2,
# then the other way round. Symmetric losses take their spec's inputs as they are.
_DIRECTIONS = ({"q": "z1", "k": "z2_target"}, {"q": "z2", "k": "z1_target"})


def _embedding_std(z: Tensor) -> Tensor:
    """Mean over dimensions of the batch std of L2-normalised rows (about 1/sqrt(d) if spread)."""
    return F.normalize(z.detach().float(), dim=1).std(dim=0).mean()


def loss_step(model: SSLModel, x1: Tensor, x2: Tensor | None = None,
              y: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor], Tensor | None]:
    """Forward a batch and compute the method's loss (in float32, outside autocast).

    Returns ``(loss, logs, keys)``: ``logs`` holds detached scalars (``loss``, ``embedding_std``,
    VICReg's three unweighted terms, supervised ``accuracy``); ``keys`` are the keys to enqueue
    into MoCo's queue after the optimiser step (``None`` for other methods).
    """
    if model.spec is None:  # supervised: one view and its labels
        h = model.encoder(x1)
        logits = model.classifier(h)
        with torch.autocast(x1.device.type, enabled=False):
            loss = F.cross_entropy(logits.float(), y)
        accuracy = (logits.argmax(dim=1) == y).float().mean()
        return loss, {"loss": loss.detach(), "accuracy": accuracy, "embedding_std": _embedding_std(h)}, None
    t: dict[str, Any] = {"queue": model.queue}
    t["z1"], t["z2"] = model.projector(model.encoder(x1)), model.projector(model.encoder(x2))
    if model.predictor is not None:
        t["p1"], t["p2"] = model.predictor(t["z1"]), model.predictor(t["z2"])
    else:  # no predictor (or one ablated): the loss compares projections
        t["p1"], t["p2"] = t["z1"], t["z2"]
    if model.target_encoder is not None:
        with torch.no_grad():
            t["z1_target"] = model.target_projector(model.target_encoder(x1))
            t["z2_target"] = model.target_projector(model.target_encoder(x2))
    spec, outputs = model.spec, []
    with torch.autocast(x1.device.type, enabled=False):
        for alias in _DIRECTIONS if "q" in spec.inputs else ({},):
            args = [t[alias.get(name, name)] for name in spec.inputs]
            args = [a.float() if isinstance(a, Tensor) else a for a in args]
            try:
                outputs.append(spec.loss(*args, **model.loss_kwargs))
            except ValueError as err:  # the losses reject NaN/inf inputs
                if all(bool(torch.isfinite(a).all()) for a in args if isinstance(a, Tensor)):
                    raise
                raise TrainingDiverged(f"the {spec.name} embeddings contain NaN or inf ({err})") from None
    loss = sum(o.loss if isinstance(o, VICRegTerms) else o for o in outputs) / len(outputs)
    logs = {"loss": loss.detach(), "embedding_std": _embedding_std(t["z1"])}
    if isinstance(outputs[0], VICRegTerms):  # the three terms, unweighted
        logs.update({k: outputs[0][i].detach() for i, k in enumerate(VICRegTerms._fields) if i})
    keys = t["z2_target"] if model.queue is not None else None
    return loss, logs, keys


def train_step(model: SSLModel, optimizer: torch.optim.Optimizer, scheduler: Any, x1: Tensor,
               x2: Tensor | None = None, y: Tensor | None = None, *, step: int, total_steps: int,
               amp: bool = False, channels_last: bool = False) -> dict[str, Tensor]:
    """One optimisation step on augmented float views; returns the step's logs.

    Raises :class:`TrainingDiverged` when the loss is not finite (before the parameters change).
    """
    if channels_last:
        x1 = x1.contiguous(memory_format=torch.channels_last)
        x2 = None if x2 is None else x2.contiguous(memory_format=torch.channels_last)
    with torch.autocast(x1.device.type, dtype=torch.bfloat16, enabled=amp):
        loss, logs, keys = loss_step(model, x1, x2, y)
    if not math.isfinite(value := float(logs["loss"])):  # one host sync per step
        raise TrainingDiverged(f"the loss is {value}")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    scheduler.step()
    model.momentum_update(step, total_steps)
    if keys is not None:
        model.queue.enqueue(keys)  # the newest keys replace the oldest
    return logs


# --------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------

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
    merged into that milestone's record. ``resume`` is a checkpoint written by an earlier run of
    the same config; training continues from it to the same result as an uninterrupted run.
    """
    config = config.resolved(getattr(data, "name", None))
    device = torch.device(config.device)
    on_cuda = device.type == "cuda"
    amp, channels_last = config.amp and on_cuda, config.channels_last and on_cuda
    seed_everything(config.seed)
    images, labels = data.images.to(device), data.labels.to(device)  # once, as uint8
    n, batch_size = images.shape[0], config.batch_size
    steps = n // batch_size
    if steps == 0:
        raise ValueError(f"batch_size {batch_size} exceeds the {n} images; choose batch_size <= {n}.")
    total_steps = config.epochs * steps
    if positives is not None:
        positives = _check_positives(positives, n).to(device)
    model = build_model(config, num_classes=len(data.classes)).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(config.optimizer, model, lr=config.lr, weight_decay=config.weight_decay,
                                momentum=config.momentum[1])
    scheduler = build_scheduler(config.schedule, optimizer, total_steps, lr=config.lr,
                                momentum=config.momentum, warmup_steps=config.warmup_epochs * steps)
    aug1, aug2 = augment.pair(config.augment, mean=data.mean, std=data.std,
                              strength=config.augment_strength, blur=config.augment_blur)
    if config.augment_kwargs:
        aug1, aug2 = (replace(a, **config.augment_kwargs) for a in (aug1, aug2))
    generator = torch.Generator(device).manual_seed(config.seed)  # batch order and augmentation
    history: list[dict[str, float]] = []
    milestones: list[dict[str, Any]] = []
    start, elapsed = 0, 0.0
    if resume is not None:
        start, elapsed = _restore(resume, config, model, optimizer, scheduler, generator, history, milestones)
    if config.compile:
        for module in model.children():
            if not isinstance(module, MoCoQueue):
                module.compile()

    def milestone(epoch: int) -> None:
        state = TrainState(epoch, model, config, history, milestones)
        record: dict[str, Any] = {"epoch": epoch}
        for callback in callbacks:
            record.update(callback(state) or {})
        milestones.append(record)
        if config.checkpoint_dir is not None:
            _save(Path(config.checkpoint_dir) / f"epoch_{epoch:04d}.pt", config, epoch, elapsed, model,
                  optimizer, scheduler, generator, history, milestones)

    if start == 0:
        milestone(0)
    from tqdm.auto import tqdm
    bar = tqdm(total=total_steps, initial=start * steps, disable=not config.progress,
               desc=config.method, unit="step")
    supervised = model.spec is None
    for epoch in range(start + 1, config.epochs + 1):
        model.train()
        t0 = time.perf_counter()
        order = torch.randperm(n, device=device, generator=generator)
        sums: dict[str, Tensor] = {}
        for i in range(steps):
            index = order[i * batch_size:(i + 1) * batch_size]
            batch = images[index]
            x1 = aug1(batch, generator)
            if positives is not None and not supervised:
                if positives.shape[1] == 1:  # one partner each: no draw (keeps the generator's stream)
                    partner = positives[index, 0]
                else:
                    pick = torch.randint(positives.shape[1], (len(index),), device=device, generator=generator)
                    partner = positives[index, pick]
                x2 = aug2(images[partner], generator)
            else:
                x2 = None if supervised else aug2(batch, generator)
            try:
                logs = train_step(model, optimizer, scheduler, x1, x2, labels[index],
                                  step=(epoch - 1) * steps + i, total_steps=total_steps, amp=amp,
                                  channels_last=channels_last)
            except TrainingDiverged as err:
                raise TrainingDiverged(
                    f"training diverged at epoch {epoch}, step {i + 1} of {steps} (lr "
                    f"{optimizer.param_groups[0]['lr']:.3g}): {err}. Try a lower learning rate "
                    "(or a longer warm-up), check that the inputs are normalised and finite, and "
                    "run with amp=False to rule out reduced precision.") from None
            for key, value in logs.items():
                sums[key] = sums.get(key, 0.0) + value
            bar.update()
            bar.set_postfix(loss=f"{float(logs['loss']):.4f}",
                            img_s=f"{(i + 1) * batch_size / (time.perf_counter() - t0):.0f}", refresh=False)
        if on_cuda:
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - t0
        elapsed += seconds
        record = {"epoch": epoch, **{k: float(v) / steps for k, v in sums.items()},
                  "embedding_std": float(logs["embedding_std"]),  # the last batch's, not the mean
                  "lr": optimizer.param_groups[0]["lr"], "images_per_s": n // batch_size * batch_size / seconds,
                  "epoch_time_s": seconds, "wall_time_s": elapsed}
        history.append(record)
        _check_collapse(record, model, config, epoch)
        if config.is_milestone(epoch):
            milestone(epoch)
    bar.close()
    return TrainResult(model, config, history, milestones)


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


# --------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------

def _save(path: Path, config: TrainConfig, epoch: int, elapsed: float, model: SSLModel,
          optimizer: torch.optim.Optimizer, scheduler: Any, generator: torch.Generator,
          history: list, milestones: list) -> None:
    np_state = np.random.get_state()
    rng = {"torch": torch.get_rng_state(), "generator": generator.get_state(),
           "python": random.getstate(), "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)),
                                                  *np_state[2:])}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": asdict(config), "epoch": epoch, "elapsed": elapsed, "model": model.state_dict(),
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rng,
                "history": history, "milestones": milestones}, path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a milestone checkpoint: a dict with ``config`` (as a dict), ``epoch``, ``model`` (a
    state_dict), ``optimizer``, ``scheduler``, ``rng``, ``history`` and ``milestones``."""
    return torch.load(path, map_location=map_location, weights_only=True)


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> SSLModel:
    """Rebuild the :class:`SSLModel` saved in a checkpoint (e.g. to embed a milestone's encoder)."""
    checkpoint = load_checkpoint(path, map_location)
    config = TrainConfig(**checkpoint["config"])
    state = checkpoint["model"]
    num_classes = state["classifier.weight"].shape[0] if "classifier.weight" in state else None
    model = build_model(config, num_classes=num_classes)
    model.load_state_dict(state)
    return model


def _restore(path: str | Path, config: TrainConfig, model: SSLModel, optimizer: torch.optim.Optimizer,
             scheduler: Any, generator: torch.Generator, history: list, milestones: list) -> tuple[int, float]:
    checkpoint = load_checkpoint(path)
    saved, current = checkpoint["config"], asdict(config)
    differ = [f.name for f in fields(config) if f.name not in _RUNTIME_FIELDS
              and _plain(saved.get(f.name)) != _plain(current[f.name])]
    if differ:
        raise ValueError(f"cannot resume {path}: the config differs in {differ} "
                         f"(checkpoint: {[saved.get(k) for k in differ]}, now: {[current[k] for k in differ]}); "
                         "resume with the config the checkpoint was written with.")
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler.load_state_dict(checkpoint["scheduler"])
    rng = checkpoint["rng"]
    torch.set_rng_state(rng["torch"])
    generator.set_state(rng["generator"])
    random.setstate(rng["python"])
    kind, keys, *rest = rng["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), *rest))
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    history.extend(checkpoint["history"])
    milestones.extend(checkpoint["milestones"])
    return checkpoint["epoch"], checkpoint["elapsed"]


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, (tuple, list)) else value


# --------------------------------------------------------------------------------------------
# A ready callback: linear probe and kNN at each milestone
# --------------------------------------------------------------------------------------------

def probe_callback(train_set: Any, test_set: Any, *, linear: bool = True, knn: bool = True,
                   probe_epochs: int = 100, k: int = 200, batch_size: int = 512,
                   seed: int = 0) -> Callable[[TrainState], dict[str, float]]:
    """A milestone callback that embeds ``train_set`` and ``test_set`` (ImageSets) with the frozen
    encoder and returns ``probe_accuracy`` (:func:`~labfree.metrics.linear_probe`, the thesis'
    protocol) and ``knn_accuracy`` (:func:`~labfree.metrics.knn_classify`, ``k`` capped at the
    training-set size)."""
    from labfree.embed import embed, module_device
    from labfree.metrics import knn_classify, linear_probe

    def callback(state: TrainState) -> dict[str, float]:
        device = module_device(state.model)
        h_train, h_test = (embed(state.model.encoder, s.images, s.normalize, batch_size=batch_size,
                                 device=device, keep_on_device=True) for s in (train_set, test_set))
        out = {}
        if linear:
            out["probe_accuracy"] = linear_probe(h_train, train_set.labels, h_test, test_set.labels,
                                                 epochs=probe_epochs, device=device, seed=seed).accuracy
        if knn:
            out["knn_accuracy"] = knn_classify(h_train, train_set.labels, h_test, test_set.labels,
                                               k=min(k, len(train_set)), device=device).accuracy
        return out

    return callback
