"""Momentum targets (MoCo, BYOL): the frozen copy, its EMA update and BYOL's schedule for the rate.

A momentum (target, key) network is a copy of the online encoder + projector whose parameters
follow the online ones by an exponential moving average after every optimiser step::

    target = momentum_copy(online)      # frozen deep copy (xi = theta at step 0)
    ema_update(target, online, tau)     # xi <- tau * xi + (1 - tau) * theta, after optimizer.step()
    byol_tau(step, total, base_tau=0.996)   # BYOL's cosine schedule from base_tau to 1

MoCo keeps ``tau`` constant (0.99 in the thesis' CIFAR runs); :class:`labfree.train.SSLModel` calls
these after each step for the methods whose :class:`~labfree.methods.MethodSpec` has a target.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

__all__ = ["momentum_copy", "ema_update", "byol_tau"]


def momentum_copy(online: nn.Module) -> nn.Module:
    """A deep copy of ``online`` with ``requires_grad=False``: the initial target / key network
    (:math:`\\xi = \\theta` at step 0) for BYOL and MoCo."""
    target = copy.deepcopy(online)
    target.requires_grad_(False)
    return target


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, tau: float, *, copy_buffers: bool = True) -> None:
    r"""Exponential moving average of parameters, in place:
    :math:`\xi \leftarrow \tau\,\xi + (1-\tau)\,\theta`.

    BYOL (Grill et al. 2020) and MoCo (He et al. 2020, where :math:`\tau` is called :math:`m`).
    Call after ``optimizer.step()``. Buffers (BatchNorm running statistics) are not averaged; with
    ``copy_buffers=True`` they are copied from ``online`` so the target is usable in eval mode.
    (During training the target runs in train mode and uses batch statistics, so buffers do not
    enter the loss.)

    Args:
        target: the momentum network (parameters :math:`\xi`), same architecture as ``online``.
        online: the trained network (parameters :math:`\theta`).
        tau: :math:`\tau \in [0, 1]`; 1 freezes the target, 0 copies the online network.
    """
    if not (0.0 <= tau <= 1.0):
        raise ValueError(f"tau must be in [0, 1] (e.g. 0.99 for MoCo, 0.996 for BYOL); got {tau}.")
    target_params = dict(target.named_parameters())
    online_params = dict(online.named_parameters())
    if target_params.keys() != online_params.keys():
        missing = sorted(set(online_params) ^ set(target_params))[:5]
        raise ValueError(
            f"target and online networks differ in their parameters (e.g. {missing}); build the target "
            "with momentum_copy(online)."
        )
    for name, xi in target_params.items():
        theta = online_params[name]
        if xi.shape != theta.shape:
            raise ValueError(
                f"parameter {name!r} has shape {tuple(xi.shape)} in target but {tuple(theta.shape)} online."
            )
        xi.mul_(tau).add_(theta.detach(), alpha=1.0 - tau)
    if copy_buffers:
        online_buffers = dict(online.named_buffers())
        for name, buf in target.named_buffers():
            if name in online_buffers:
                buf.copy_(online_buffers[name])


def byol_tau(step: int, total: int, base_tau: float = 0.996) -> float:
    r"""BYOL's cosine schedule for the EMA rate (Grill et al. 2020):

    .. math::
        \tau_k = 1 - (1 - \tau_{\text{base}})\,\frac{\cos(\pi k / K) + 1}{2},

    rising from ``base_tau`` at step :math:`k=0` to 1 at :math:`k=K` (``total`` steps).
    """
    if total < 1:
        raise ValueError(f"total must be the number of training steps (>= 1); got {total}.")
    if not (0 <= step <= total):
        raise ValueError(f"step must be in [0, total={total}]; got {step}.")
    if not (0.0 <= base_tau <= 1.0):
        raise ValueError(f"base_tau must be in [0, 1]; got {base_tau}.")
    return 1.0 - (1.0 - base_tau) * (math.cos(math.pi * step / total) + 1.0) / 2.0
