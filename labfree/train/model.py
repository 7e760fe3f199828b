"""The model a method trains: encoder + heads (+ momentum target, + queue)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from labfree import models
from labfree.losses import MoCoQueue
from labfree.methods import MethodSpec, method
from labfree.momentum import byol_tau, ema_update, momentum_copy

from .config import TrainConfig


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
        schedule from ``tau`` to 1 (:func:`~labfree.momentum.byol_tau`)."""
        if self.target_encoder is None:
            return
        tau = self.ema_tau
        if self.ema_schedule == "cosine":
            tau = byol_tau(min(step, total_steps), total_steps, tau)
        ema_update(self.target_encoder, self.encoder, tau)
        ema_update(self.target_projector, self.projector, tau)


def build_model(config: TrainConfig, num_classes: int | None = None) -> SSLModel:
    """Build the :class:`SSLModel` of a (resolved) config; ``num_classes`` for supervised training.

    A config resolved to ``channels_last=True`` gets its parameters in that layout here, where the
    training loop, the benchmark and a checkpoint's reload all build their model."""
    encoder = models.encoder(config.encoder, **config.encoder_kwargs)
    if config.method == "supervised":
        if num_classes is None:
            raise ValueError("supervised training needs num_classes (the data set's number of classes).")
        model = SSLModel(None, encoder, classifier=models.linear_head(encoder.out_dim, num_classes))
    else:
        spec = method(config.method)
        projector = models.head(spec.projector, encoder.out_dim, **config.projector_kwargs)
        predictor = (models.head(spec.predictor, projector.out_dim, **config.predictor_kwargs)
                     if spec.predictor and "predictor" not in config.without else None)
        queue = MoCoQueue(projector.out_dim, config.queue_length) if spec.queue_length else None
        model = SSLModel(spec, encoder, projector=projector, predictor=predictor, queue=queue,
                         loss_kwargs={**spec.loss_kwargs, **config.loss_kwargs}, ema_tau=config.ema_tau,
                         ema_schedule=("constant" if "ema" in config.without
                                       else spec.ema.get("schedule", "constant")))
    if config.channels_last is True:  # "auto" is resolved by TrainConfig.resolved()
        model = model.to(memory_format=torch.channels_last)
    return model
