"""Deep metric learning, the ancestors of InfoNCE: triplet, (N+1)-tuple and multi-class N-pair losses."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ._checks import (
    _check_margin,
    _check_negatives,
    _check_temperature,
    _check_views,
)


def triplet_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 0.2,
                 squared: bool = True) -> Tensor:
    r"""Triplet loss with a margin (Schroff, Kalenichenko & Philbin 2015, *FaceNet: A Unified
    Embedding for Face Recognition and Clustering*).

    For triplets :math:`(f_i, f_i^+, f_i^-)` of anchor, positive and negative embeddings,

    .. math::
        \mathcal L = \frac1N \sum_{i=1}^N \max\big(0,\; d(f_i, f_i^+) - d(f_i, f_i^-) + \alpha\big),
        \qquad d(a, b) = \lVert a - b\rVert_2^2 \ (\texttt{squared=True}) \text{ or } \lVert a - b\rVert_2 .

    A triplet stops contributing (zero loss, zero gradient) once its negative is farther than its
    positive by the margin :math:`\alpha`: most random triplets are such *easy* triplets, hence
    FaceNet's mining of hard / semi-hard negatives. FaceNet L2-normalises its embeddings (so
    :math:`\alpha = 0.2` is on the unit sphere) and sums over triplets; this function uses the
    embeddings as given and averages. Pass ``F.normalize(f, dim=1)`` to reproduce FaceNet's scale.

    Args:
        anchor, positive, negative: ``(N, D)`` embeddings, row ``i`` of the three forming triplet ``i``.
        margin: :math:`\alpha \ge 0`.
        squared: squared Euclidean distances (FaceNet) or plain Euclidean distances.

    Returns:
        Scalar tensor, the mean hinge over the ``N`` triplets.
    """
    _check_views(("anchor", "positive"), anchor, positive)
    _check_views(("anchor", "negative"), anchor, negative)
    _check_margin(margin)
    if squared:
        d_pos = (anchor - positive).pow(2).sum(dim=1)
        d_neg = (anchor - negative).pow(2).sum(dim=1)
    else:
        # vector_norm's gradient at a zero distance is 0, where sqrt(sum of squares) would give NaN
        d_pos = torch.linalg.vector_norm(anchor - positive, dim=1)
        d_neg = torch.linalg.vector_norm(anchor - negative, dim=1)
    return F.relu(d_pos - d_neg + margin).mean()


def tuple_loss(anchor: Tensor, positive: Tensor, negatives: Tensor) -> Tensor:
    r"""The :math:`(N+1)`-tuple loss (Sohn 2016, *Improved Deep Metric Learning with Multi-class
    N-pair Loss Objective*): one anchor against one positive and several negatives at once.

    .. math::
        \ell(f, f^+, \{f_m^-\}) = \log\Big(1 + \sum_{m=1}^{M} \exp\big(f^\top f_m^- - f^\top f^+\big)\Big)
        = -\log\frac{e^{f^\top f^+}}{e^{f^\top f^+} + \sum_m e^{f^\top f_m^-}},

    a softmax cross-entropy with the positive as the correct class among :math:`M + 1`
    (Sohn's :math:`N + 1` with :math:`M = N - 1` negatives). With one negative it is
    :math:`\mathrm{softplus}(f^\top f^- - f^\top f^+)`, a smooth margin-free version of the triplet
    hinge. Inner products of the raw embeddings, no temperature and no normalisation, as in Sohn
    (2016), who keeps the norms in check with an L2 penalty on the embeddings (add it yourself).

    Args:
        anchor: ``(N, D)``, a batch of anchors :math:`f`.
        positive: ``(N, D)``, the positive of each anchor.
        negatives: ``(M, D)`` shared by all anchors, or ``(N, M, D)`` per anchor.

    Returns:
        Scalar tensor, the mean of :math:`\ell` over the ``N`` anchors.
    """
    _check_views(("anchor", "positive"), anchor, positive)
    _check_negatives(negatives, anchor, ("negatives", "embedding", "anchor"))
    s_pos = (anchor * positive).sum(dim=1, keepdim=True)
    s_neg = anchor @ negatives.T if negatives.ndim == 2 else torch.einsum("nd,nmd->nm", anchor, negatives)
    logits = torch.cat([s_pos, s_neg], dim=1)
    labels = torch.zeros(anchor.shape[0], dtype=torch.long, device=anchor.device)
    return F.cross_entropy(logits, labels)


def npair_loss(anchors: Tensor, positives: Tensor, temperature: float = 1.0) -> Tensor:
    r"""Multi-class N-pair loss (Sohn 2016): :math:`N` pairs from :math:`N` different classes, each
    anchor's positive is every other anchor's negative.

    .. math::
        \mathcal L = \frac1N \sum_{i=1}^N \log\Big(1 + \sum_{j\ne i}
        \exp\big((f_i^\top f_j^+ - f_i^\top f_i^+)/\tau\big)\Big)
        = \frac1N\sum_{i=1}^N -\log\frac{e^{f_i^\top f_i^+/\tau}}{\sum_{j=1}^N e^{f_i^\top f_j^+/\tau}} .

    The :math:`2N` embeddings yield all :math:`N^2` anchor–candidate scores in one matrix product,
    where :math:`N` separate :math:`(N+1)`-tuples would need :math:`N(N+1)` embeddings. Sohn's
    loss is :math:`\tau = 1` on raw embeddings. It equals InfoNCE's cross entropy with the
    separable critic :math:`f(x, y) = f_x^\top f_y/\tau`, so the InfoNCE bound is
    :math:`I_{\mathrm{NCE}} = \log N - \mathcal L` (van den Oord et al. 2018; Poole et al. 2019).
    Like Sohn's, this is one-directional (anchors against positives; symmetrise by averaging
    with ``npair_loss(positives, anchors)``), and unlike NT-Xent it has no same-view negatives.

    Args:
        anchors, positives: ``(N, D)``, row ``i`` of both from class / image ``i``; :math:`N \ge 2`.
        temperature: :math:`\tau > 0` dividing every score (1 in Sohn 2016).

    Returns:
        Scalar tensor, the mean over the ``N`` anchors.
    """
    _check_views(("anchors", "positives"), anchors, positives, min_batch=2,
                 why="the N-pair loss (each anchor needs another pair's positive as its negative)")
    _check_temperature(temperature)
    logits = anchors @ positives.T / temperature
    labels = torch.arange(anchors.shape[0], device=anchors.device)
    return F.cross_entropy(logits, labels)
