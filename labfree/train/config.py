"""What defines a training run: :class:`TrainConfig`, its defaults and checks, and the loop's exceptions."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field, fields, replace
from typing import Any

import torch

from labfree import augment, models, precision
from labfree._validate import integer, number
from labfree.methods import METHODS, SUPERVISED_RECIPE
from labfree.optim import OPTIMIZERS, SCHEDULES

METHOD_CHOICES = (*METHODS, "supervised")
ABLATIONS = ("predictor", "ema")  # parts of a method that TrainConfig.without can remove
# Fields that change how a run is executed or observed, not what it computes.
_RUNTIME_FIELDS = ("device", "compile", "milestone_every", "milestone_at", "checkpoint_dir", "progress",
                   "prefetch")


class TrainingDiverged(RuntimeError):
    """The loss, the embeddings, the gradients or the parameters and buffers became NaN or infinite.

    Raised by :func:`~labfree.train.train` with the model restored to its last finite state (the
    end of the last complete epoch, or the initialisation) and these attributes, ``None`` where they
    do not apply (e.g. when :func:`~labfree.train.train_step` raises on its own):

    * ``epoch``, ``step``: where it diverged (1-based; ``step`` within the epoch);
    * ``lr``: the learning rate of that step;
    * ``nonfinite``: what went non-finite, e.g. ``("loss",)``, ``("z1", "z2")`` or
      ``("buffer encoder.1.running_var", "gradient of encoder.0.weight")``;
    * ``model``: the :class:`~labfree.train.SSLModel`, restored; ``state``: its ``state_dict``;
    * ``restored_epoch``: the epoch whose end ``state`` is (0: the initialisation).
    """

    def __init__(self, message: str, *, epoch: int | None = None, step: int | None = None,
                 lr: float | None = None, nonfinite: tuple[str, ...] = (), model: Any = None,
                 state: dict[str, torch.Tensor] | None = None, restored_epoch: int | None = None) -> None:
        super().__init__(message)
        self.epoch, self.step, self.lr, self.nonfinite = epoch, step, lr, tuple(nonfinite)
        self.model, self.state, self.restored_epoch = model, state, restored_epoch


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
        channels_last: NHWC memory layout; ``"auto"``: on every CPU (float32 too), on CUDA where
            ``amp`` is on (:func:`labfree.precision.resolve`). On a CPU it trades float32's
            accuracy for speed: pass ``False`` for gradients at float32's rounding
            (:mod:`labfree.bench.accuracy`).
        compile: ``torch.compile`` the modules.
        seed: seeds initialisation, batch order and augmentation.
        milestone_every, milestone_at: milestone epochs besides 0 and the last.
        checkpoint_dir: where milestone checkpoints go (``epoch_0005.pt``); ``None`` writes none.
        collapse_threshold: warn when the embedding std is below ``collapse_threshold / sqrt(d)``.
        progress: show a tqdm progress bar.
        prefetch: make the next batch (sampling, augmentation) on a background thread while the
            current one steps; ``"auto"`` does on a CPU with a core to spare beyond torch's threads
            (:mod:`labfree.train.batches`). The run is the same bit for bit either way.
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
    prefetch: bool | str = "auto"

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
        if not (isinstance(config.prefetch, bool) or config.prefetch == "auto"):
            raise ValueError(f"prefetch must be True, False or 'auto', got {config.prefetch!r}.")
        _check_numbers(config, spec)
        return config

    def is_milestone(self, epoch: int) -> bool:
        """Whether the end of ``epoch`` is a milestone (epoch 0 is the initialisation)."""
        return (epoch in (0, self.epochs) or epoch in self.milestone_at
                or bool(self.milestone_every and epoch % self.milestone_every == 0))


# Ranges of the loss keywords a config may override (the losses check them again at every call).
_LOSS_NUMBERS: dict[str, dict[str, Any]] = {
    "temperature": dict(low=0, low_open=True, fix="pass e.g. loss_kwargs={'temperature': 0.5}"),
    "sim_weight": dict(low=0, fix="VICReg's weights are >= 0 (the paper's: 25, 25, 1)"),
    "var_weight": dict(low=0, fix="VICReg's weights are >= 0 (the paper's: 25, 25, 1)"),
    "cov_weight": dict(low=0, fix="VICReg's weights are >= 0 (the paper's: 25, 25, 1)"),
    "lambd": dict(low=0, fix="Barlow Twins' off-diagonal weight is >= 0 (the paper's: 5e-3)"),
    "gamma": dict(low=0, fix="VICReg's target standard deviation is >= 0 (the paper's: 1)"),
    "eps": dict(low=0, fix="pass a small floor, e.g. 1e-4"),
}


def _check_numbers(config: TrainConfig, spec: Any) -> None:
    """Every numeric field of a resolved config: finite, in range, integral where it counts."""
    integer(config.epochs, "epochs", low=1,
            fix="pass a whole number of passes over the data, e.g. epochs=100")
    integer(config.batch_size, "batch_size", low=2,
            fix="batch statistics and negatives need two images or more, e.g. batch_size=512")
    number(config.lr, "lr", low=0, low_open=True,
           fix="pass the peak learning rate, e.g. lr=0.06, or lr=None for the method's default")
    number(config.weight_decay, "weight_decay", low=0, fix="pass e.g. weight_decay=5e-4, or 0 for none")
    low_high = tuple(config.momentum)
    if len(low_high) != 2 or not all(
            isinstance(m, (int, float)) and not isinstance(m, bool) and 0 <= m < 1 for m in low_high) or (
            low_high[0] > low_high[1]):
        raise ValueError(f"momentum must be a pair (low, high) with 0 <= low <= high < 1; got "
                         f"{config.momentum!r}. Pass e.g. momentum=(0.85, 0.95), or None for the default.")
    integer(config.warmup_epochs, "warmup_epochs", low=0, fix="pass e.g. warmup_epochs=10, or 0 for none")
    if config.ema_tau is not None:
        number(config.ema_tau, "ema_tau", low=0, high=1,
               fix="the target keeps a fraction tau of itself per step, e.g. ema_tau=0.99")
    if spec is not None and spec.queue_length:
        integer(config.queue_length, "queue_length", low=1, fix="pass e.g. queue_length=4096")
    integer(config.seed, "seed", low=0, fix="pass a non-negative integer, e.g. seed=0")
    if config.milestone_every is not None:
        integer(config.milestone_every, "milestone_every", low=1,
                fix="pass e.g. milestone_every=10, or None for no periodic milestones")
    for epoch in config.milestone_at:
        integer(epoch, "milestone_at", low=0, fix="list whole epochs, e.g. milestone_at=(1, 2, 5, 10)")
    number(config.collapse_threshold, "collapse_threshold", low=0,
           fix="the warning fires below collapse_threshold / sqrt(d); the default is 0.1, 0 turns it off")
    number(config.augment_strength, "augment_strength", low=0,
           fix="it multiplies the colour-jitter ranges: 1 as published, 0 for no jitter")
    blur = config.augment_blur
    if blur is not None and not isinstance(blur, bool):
        number(blur, "augment_blur", low=0, high=1,
               fix="pass True/False, or the blur probability as a float in [0, 1]")
    if spec is not None:
        accepted = [name for name in inspect.signature(spec.loss).parameters if name not in spec.inputs]
        if unknown := sorted(set(config.loss_kwargs) - set(accepted)):
            raise ValueError(f"unknown loss_kwargs {unknown} for {config.method}; its loss "
                             f"({spec.loss.__name__}) takes {accepted}.")
    for key, value in config.loss_kwargs.items():
        if key in _LOSS_NUMBERS:
            number(value, f"loss_kwargs[{key!r}]", **_LOSS_NUMBERS[key])
