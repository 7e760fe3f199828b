"""Non-contrastive objectives with a predictor (SimSiam, BYOL); their momentum target: labfree.momentum."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

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
