"""Non-contrastive objectives with a predictor (SimSiam, BYOL) and the momentum-target helpers."""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import _check_views


def negative_cosine(p: Tensor, z: Tensor, stop_gradient: bool = True) -> Tensor:
    r"""Negative cosine similarity with a stop-gradient on the target, SimSiam's :math:`\mathcal D`.

    Chen & He (2021), *Exploring Simple Siamese Representation Learning*.

    .. math::
        \mathcal D(p, z) = -\frac1N\sum_{i=1}^N
        \frac{p_i^\top \operatorname{sg}(z_i)}{\lVert p_i\rVert\,\lVert z_i\rVert}
        \in [-1, 1]

    Args:
        p: predictions ``(N, D)`` (receive gradient).
        z: targets ``(N, D)`` (detached: no gradient flows into ``z``).
        stop_gradient: ``False`` lets the gradient flow into ``z`` too — SimSiam's ablation, which
            collapses (Chen & He 2021, sec. 4.1).
    """
    _check_views(("p", "z"), p, z)
    return -F.cosine_similarity(p, z.detach() if stop_gradient else z, dim=1).mean()


def simsiam_loss(p1: Tensor, p2: Tensor, z1: Tensor, z2: Tensor, stop_gradient: bool = True) -> Tensor:
    r"""Symmetric SimSiam loss (Chen & He 2021, *Exploring Simple Siamese Representation Learning*).

    .. math::
        \mathcal L = \tfrac12\,\mathcal D(p_1, z_2) + \tfrac12\,\mathcal D(p_2, z_1),

    where :math:`p_i = h(z_i)` is the predictor's output and :math:`\mathcal D` is
    :func:`negative_cosine` (stop-gradient on :math:`z`). Minimum :math:`-1`.

    Args:
        p1, p2: predictions for views 1 and 2, ``(N, D)``.
        z1, z2: projections of views 1 and 2, ``(N, D)`` (detached inside).
        stop_gradient: ``False`` removes the stop-gradient (the ablation that collapses).
    """
    return 0.5 * negative_cosine(p1, z2, stop_gradient) + 0.5 * negative_cosine(p2, z1, stop_gradient)


def byol_loss(p1: Tensor, p2: Tensor, z1_target: Tensor, z2_target: Tensor) -> Tensor:
    r"""BYOL loss: symmetric normalised mean squared error, :math:`2 - 2\cos`.

    Grill et al. (2020), *Bootstrap Your Own Latent: A New Approach to Self-Supervised Learning*.

    .. math::
        \mathcal L = \frac1N\sum_i \Big\lVert \bar p_{1,i} - \bar z'_{2,i}\Big\rVert_2^2
        + \frac1N\sum_i \Big\lVert \bar p_{2,i} - \bar z'_{1,i}\Big\rVert_2^2,
        \qquad \lVert \bar a - \bar b\rVert^2 = 2 - 2\cos(a, b),

    where bars denote L2 normalisation, :math:`p_v` is the online prediction for view :math:`v` and
    :math:`z'_v` the target network's projection of view :math:`v` (stop-gradient). Range
    :math:`[0, 8]`.

    Args:
        p1, p2: online predictions for views 1 and 2, ``(N, D)``.
        z1_target, z2_target: target projections of views 1 and 2, ``(N, D)`` (detached inside).
            ``p1`` is paired with ``z2_target`` and ``p2`` with ``z1_target``.
    """
    _check_views(("p1", "z2_target"), p1, z2_target)
    _check_views(("p2", "z1_target"), p2, z1_target)
    loss_12 = 2 - 2 * F.cosine_similarity(p1, z2_target.detach(), dim=1)
    loss_21 = 2 - 2 * F.cosine_similarity(p2, z1_target.detach(), dim=1)
    return loss_12.mean() + loss_21.mean()


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
