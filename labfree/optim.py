"""Optimisers and learning-rate schedules for :mod:`labfree.train`.

Three optimisers and three schedules, each chosen by name; every schedule steps once per
*optimiser step* (not per epoch)::

    optimizer = build_optimizer("sgd", model, lr=0.5, weight_decay=1e-4, momentum=0.9)
    scheduler = build_scheduler("one_cycle", optimizer, total_steps, lr=0.5, momentum=(0.85, 0.9))

* ``"sgd"`` — SGD with heavy-ball momentum and L2 weight decay on every parameter (PyTorch's
  convention, the thesis' recipe).
* ``"lars"`` — :class:`LARS` (You, Gitman & Ginsburg 2017), SimCLR's and BYOL's large-batch
  optimiser: biases and BatchNorm parameters get neither weight decay nor the layer-wise scaling.
* ``"adam"`` — Adam with L2 weight decay (the thesis' linear-probe and supervised recipe); its
  ``beta1`` plays the role of the momentum.

* ``"one_cycle"`` — Smith & Topin (2019), PyTorch's ``OneCycleLR`` with its defaults (30 % warm-up,
  cosine annealing, start at ``lr/25``, end at ``lr/(25 * 1e4)``); the momentum is cycled inversely
  between ``momentum[0]`` and ``momentum[1]`` (the thesis: 0.85-0.9 on shapes, 0.85-0.95 on CIFAR).
* ``"cosine"`` — linear warm-up from ``lr / warmup_steps`` to ``lr``, then cosine decay to 0
  (SimCLR, BYOL, VICReg); constant momentum ``momentum[1]``.
* ``"constant"`` — the same learning rate at every step; constant momentum ``momentum[1]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, OneCycleLR

__all__ = ["OPTIMIZERS", "SCHEDULES", "LARS", "build_optimizer", "build_scheduler"]

OPTIMIZERS = ("sgd", "lars", "adam")
SCHEDULES = ("one_cycle", "cosine", "constant")


class LARS(Optimizer):
    r"""SGD with momentum and layer-wise adaptive rate scaling (You, Gitman & Ginsburg 2017).

    For a parameter group with ``lars=True``, each tensor's gradient (with weight decay added) is
    rescaled so its norm is a fixed fraction :math:`\eta` of the weight's norm:

    .. math::
        g \leftarrow g + \lambda w,\qquad
        g \leftarrow \eta\,\frac{\lVert w\rVert}{\lVert g\rVert}\, g,\qquad
        v \leftarrow \mu v + g,\qquad w \leftarrow w - \text{lr}\; v .

    Groups with ``lars=False`` (biases and BatchNorm parameters, as in SimCLR and BYOL) take plain
    momentum SGD steps. Unlike SimCLR's TensorFlow code, the learning rate multiplies the momentum
    buffer rather than entering it, as ``torch.optim.SGD`` does, so a learning-rate schedule acts at
    once.

    Args:
        params: parameters or parameter groups (a group may set ``lars`` and ``weight_decay``).
        lr: learning rate.
        momentum: :math:`\mu`.
        weight_decay: :math:`\lambda`, applied only in groups with ``lars=True``.
        trust_coefficient: :math:`\eta` (SimCLR and BYOL: 0.001).
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float, momentum: float = 0.9,
                 weight_decay: float = 0.0, trust_coefficient: float = 0.001) -> None:
        # written so that NaN fails every test (a comparison with NaN is false); inf fails too
        if not (0 <= lr < math.inf and 0 <= momentum < 1 and 0 <= weight_decay < math.inf
                and 0 < trust_coefficient < math.inf):
            raise ValueError(
                "LARS needs lr >= 0, 0 <= momentum < 1, weight_decay >= 0 and trust_coefficient > 0; "
                f"got lr={lr}, momentum={momentum}, weight_decay={weight_decay}, "
                f"trust_coefficient={trust_coefficient}."
            )
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                        trust_coefficient=trust_coefficient, lars=True)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for w in group["params"]:
                if w.grad is None:
                    continue
                g = w.grad
                if group["lars"]:
                    g = g.add(w, alpha=group["weight_decay"])
                    w_norm, g_norm = torch.linalg.vector_norm(w), torch.linalg.vector_norm(g)
                    # a zero weight (fresh layer) or zero gradient keeps the plain step
                    trust = torch.where((w_norm > 0) & (g_norm > 0),
                                        group["trust_coefficient"] * w_norm / g_norm, 1.0)
                    g = g.mul(trust)
                state = self.state[w]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = g.clone()
                else:
                    state["momentum_buffer"].mul_(group["momentum"]).add_(g)
                w.add_(state["momentum_buffer"], alpha=-group["lr"])
        return loss


def _check_name(kind: str, name: str, choices: tuple[str, ...]) -> None:
    if name not in choices:
        raise ValueError(f"unknown {kind} {name!r}; choose one of {choices}.")


def build_optimizer(name: str, model: nn.Module, *, lr: float, weight_decay: float,
                    momentum: float) -> Optimizer:
    """The optimiser called ``name`` (one of ``OPTIMIZERS``) over ``model``'s trainable parameters.

    ``momentum`` is SGD's and LARS' momentum and Adam's ``beta1``; a one-cycle schedule overrides it
    at every step.
    """
    _check_name("optimizer", name, OPTIMIZERS)
    params = [p for p in model.parameters() if p.requires_grad]
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(momentum, 0.999), weight_decay=weight_decay)
    # LARS: weights (matrices, kernels) are adapted and decayed; biases and BN parameters are not
    groups = [{"params": [p for p in params if p.ndim > 1]},
              {"params": [p for p in params if p.ndim <= 1], "lars": False, "weight_decay": 0.0}]
    return LARS([g for g in groups if g["params"]], lr=lr, momentum=momentum, weight_decay=weight_decay)


def build_scheduler(name: str, optimizer: Optimizer, total_steps: int, *, lr: float,
                    momentum: tuple[float, float], warmup_steps: int = 0) -> LRScheduler:
    """The schedule called ``name`` (one of ``SCHEDULES``) over ``total_steps`` optimiser steps.

    Args:
        lr: the peak learning rate.
        momentum: ``(low, high)``; ``"one_cycle"`` cycles between them, the others keep ``high``.
        warmup_steps: linear warm-up length of ``"cosine"``.
    """
    _check_name("schedule", name, SCHEDULES)
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1; got {total_steps}.")
    low, high = momentum
    if not 0 <= low <= high < 1:
        raise ValueError(f"momentum must be (low, high) with 0 <= low <= high < 1; got {momentum}.")
    if name == "one_cycle":
        return OneCycleLR(optimizer, max_lr=lr, total_steps=total_steps, cycle_momentum=True,
                          base_momentum=low, max_momentum=high)
    for group in optimizer.param_groups:
        group["lr"] = lr
        if "betas" in group:
            group["betas"] = (high, group["betas"][1])
        else:
            group["momentum"] = high
    if name == "constant":
        return LambdaLR(optimizer, lambda step: 1.0)
    warmup = max(0, min(int(warmup_steps), total_steps - 1))

    def cosine(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    return LambdaLR(optimizer, cosine)
