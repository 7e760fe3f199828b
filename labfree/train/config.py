"""What defines a training run: :class:`TrainConfig`, its defaults and checks, and the loop's exceptions."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

import torch

from labfree import augment, models, precision
from labfree.methods import METHODS, SUPERVISED_RECIPE
from labfree.optim import OPTIMIZERS, SCHEDULES

METHOD_CHOICES = (*METHODS, "supervised")
ABLATIONS = ("predictor", "ema")  # parts of a method that TrainConfig.without can remove
# Fields that change how a run is executed or observed, not what it computes.
_RUNTIME_FIELDS = ("device", "compile", "milestone_every", "milestone_at", "checkpoint_dir", "progress")


class TrainingDiverged(RuntimeError):
    """The loss or the embeddings became NaN or infinite."""


class CollapseWarning(UserWarning):
    """The embeddings of a batch have (nearly) collapsed to a single point."""


@dataclass
class TrainConfig:
    """Everything that defines a training run; ``None`` fields take the method's defaults
    (its :class:`~labfree.methods.MethodSpec`; ``SUPERVISED_RECIPE`` for ``"supervised"``).

    Args:
        method: one of ``METHOD_CHOICES``: the six self-supervised methods of ``methods.METHODS``
            or ``"supervised"`` (cross-entropy with a linear head on the encoder, one view).
        encoder, encoder_kwargs: name in ``models.ENCODERS`` and its keyword arguments.
        projector_kwargs, predictor_kwargs: overrides of the heads' widths, ``hidden_dim``, ``out_dim``,
            ``num_layers`` (``models.head``).
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
        device: default CUDA when available.
        amp: bf16 autocast; ``"auto"`` turns it on where the device multiplies bf16 natively
            (CUDA, or a CPU with AVX-512-BF16/AMX; :func:`labfree.precision.bf16_native`).
        channels_last: NHWC memory layout; ``"auto"`` follows ``amp``.
        compile: ``torch.compile`` the modules.
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
    amp: bool | str = "auto"
    channels_last: bool | str = "auto"
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
        config.amp, config.channels_last = precision.resolve(config.amp, config.channels_last,
                                                             config.device)
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
            raise ValueError("need epochs >= 1 and batch_size >= 2; "
                             f"got {config.epochs}, {config.batch_size}.")
        return config

    def is_milestone(self, epoch: int) -> bool:
        """Whether the end of ``epoch`` is a milestone (epoch 0 is the initialisation)."""
        return (epoch in (0, self.epochs) or epoch in self.milestone_at
                or bool(self.milestone_every and epoch % self.milestone_every == 0))
