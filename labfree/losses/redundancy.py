"""Redundancy-reduction objectives: VICReg's three terms and Barlow Twins."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ._checks import _check_embeddings, _check_views, _check_weight


def invariance_term(z1: Tensor, z2: Tensor) -> Tensor:
    r"""VICReg invariance term: mean squared distance between the two views' embeddings.

    Bardes, Ponce & LeCun (2022), *VICReg: Variance-Invariance-Covariance Regularization for
    Self-Supervised Learning*.

    .. math::
        s(Z, Z') = \frac{1}{N d}\sum_{i=1}^N \lVert z_i - z'_i\rVert_2^2

    The paper writes :math:`\frac1N\sum_i\lVert z_i - z'_i\rVert^2`; its reference code (and
    ``lightly``) averages over the :math:`d` dimensions too, which is the scale the default
    weight :math:`\lambda = 25` was tuned for. We follow the code.

    Args:
        z1, z2: ``(N, d)``.
    """
    _check_views(("z1", "z2"), z1, z2)
    return F.mse_loss(z1, z2)


def variance_term(z: Tensor, gamma: float = 1.0, eps: float = 1e-4) -> Tensor:
    r"""VICReg variance term: a hinge keeping every dimension's standard deviation above
    :math:`\gamma` (Bardes et al. 2022).

    .. math::
        v(Z) = \frac1d \sum_{j=1}^d \max\!\big(0,\ \gamma - \sqrt{\operatorname{Var}(z^{j}) + \epsilon}\big)

    with the unbiased variance over the batch. Zero when every dimension has std :math:`\ge \gamma`;
    :math:`\gamma` (approximately) for collapsed embeddings.

    Args:
        z: ``(N, d)`` with :math:`N \ge 2`.
        gamma: target standard deviation.
        eps: numerical floor inside the square root.
    """
    _check_embeddings("z", z, min_batch=2, why="the variance term (a standard deviation over the batch)")
    _check_weight("gamma", gamma, "gamma is the target standard deviation, e.g. gamma=1")
    _check_weight("eps", eps, "eps is a small floor inside the square root, e.g. eps=1e-4")
    std = torch.sqrt(z.var(dim=0) + eps)
    return F.relu(gamma - std).mean()


def covariance_term(z: Tensor) -> Tensor:
    r"""VICReg covariance term: squared off-diagonal covariances, divided by :math:`d`
    (Bardes et al. 2022).

    .. math::
        C(Z) = \frac{1}{N-1}\sum_{i=1}^N (z_i - \bar z)(z_i - \bar z)^\top,\qquad
        c(Z) = \frac1d \sum_{j\ne k} C(Z)_{jk}^2

    Zero when the dimensions are decorrelated over the batch.

    Args:
        z: ``(N, d)`` with :math:`N \ge 2`.
    """
    _check_embeddings("z", z, min_batch=2, why="the covariance term (a covariance over the batch)")
    n, d = z.shape
    zc = z - z.mean(dim=0)
    cov = zc.T @ zc / (n - 1)
    off_diagonal = cov - torch.diag_embed(torch.diagonal(cov))
    return off_diagonal.pow(2).sum() / d


_VICREG_WEIGHTS = {"sim_weight": 25.0, "var_weight": 25.0, "cov_weight": 1.0}


class VICRegTerms(NamedTuple):
    """VICReg's weighted total and its three unweighted terms (all scalar tensors)."""

    loss: Tensor
    invariance: Tensor
    variance: Tensor
    covariance: Tensor


def vicreg_loss(
    z1: Tensor,
    z2: Tensor,
    sim_weight: float = 25.0,
    var_weight: float = 25.0,
    cov_weight: float = 1.0,
    *,
    gamma: float = 1.0,
    eps: float = 1e-4,
) -> VICRegTerms:
    r"""VICReg loss (Bardes, Ponce & LeCun 2022, *VICReg: Variance-Invariance-Covariance
    Regularization for Self-Supervised Learning*).

    .. math::
        \mathcal L = \lambda\, s(Z, Z') + \mu\,\tfrac12\big[v(Z) + v(Z')\big] + \nu\,\big[c(Z) + c(Z')\big]

    with :func:`invariance_term` :math:`s`, :func:`variance_term` :math:`v` and
    :func:`covariance_term` :math:`c`; defaults :math:`\lambda=\mu=25`, :math:`\nu=1`. The paper's
    equation sums the two variance terms; its reference code (and ``lightly``) averages them, the
    scale at which :math:`\mu = 25` was tuned, and we follow the code.

    Args:
        z1, z2: expander outputs for the two views, ``(N, d)``, :math:`N \ge 2`.
        sim_weight, var_weight, cov_weight: :math:`\lambda, \mu, \nu`.
        gamma, eps: passed to :func:`variance_term`.

    Returns:
        ``VICRegTerms(loss, invariance, variance, covariance)``; ``variance`` and ``covariance``
        are the two-view combinations above, before weighting.
    """
    _check_views(("z1", "z2"), z1, z2, min_batch=2, why="VICReg (variance and covariance over the batch)")
    for name, weight in (("sim_weight", sim_weight), ("var_weight", var_weight), ("cov_weight", cov_weight)):
        _check_weight(name, weight, f"VICReg's weights are >= 0 (the paper's {name}: "
                      f"{_VICREG_WEIGHTS[name]:g}); 0 switches the term off")
    invariance = invariance_term(z1, z2)
    variance = 0.5 * (variance_term(z1, gamma, eps) + variance_term(z2, gamma, eps))
    covariance = covariance_term(z1) + covariance_term(z2)
    loss = sim_weight * invariance + var_weight * variance + cov_weight * covariance
    return VICRegTerms(loss, invariance, variance, covariance)


def barlow_twins_loss(z1: Tensor, z2: Tensor, lambd: float = 5e-3, *, eps: float = 1e-5) -> Tensor:
    r"""Barlow Twins loss: drive the cross-correlation of the two views' standardised embeddings to
    the identity.

    Zbontar, Jing, Misra, LeCun & Deny (2021), *Barlow Twins: Self-Supervised Learning via
    Redundancy Reduction*.

    Each dimension is standardised over the batch,
    :math:`\hat z^{A}_{b i} = (z^{A}_{b i} - \mu_i)/\sqrt{\sigma_i^2 + \epsilon}` (biased variance, as
    the paper's affine-free BatchNorm), and

    .. math::
        \mathcal C_{ij} = \frac1N \sum_{b=1}^N \hat z^{A}_{b i}\,\hat z^{B}_{b j},\qquad
        \mathcal L = \sum_i (1 - \mathcal C_{ii})^2 + \lambda \sum_i\sum_{j\ne i} \mathcal C_{ij}^2 .

    :math:`\mathcal C` is the matrix of Pearson correlations between the dimensions of the two
    views (up to :math:`\epsilon`), so the loss is zero exactly when corresponding dimensions are
    perfectly correlated and different dimensions are uncorrelated.

    Args:
        z1, z2: projector outputs ``(N, d)``, :math:`N \ge 2`.
        lambd: :math:`\lambda`, weight of the redundancy-reduction term (paper: 5e-3).
        eps: variance floor of the standardisation (BatchNorm's default, 1e-5).
    """
    _check_views(("z1", "z2"), z1, z2, min_batch=2, why="Barlow Twins (standardisation over the batch)")
    _check_weight("lambd", lambd, "lambd weighs the off-diagonal term (the paper's: lambd=5e-3)")
    _check_weight("eps", eps, "eps is the variance floor of the standardisation, e.g. eps=1e-5")
    n = z1.shape[0]

    def standardise(z: Tensor) -> Tensor:
        return (z - z.mean(dim=0)) / torch.sqrt(z.var(dim=0, unbiased=False) + eps)

    c = standardise(z1).T @ standardise(z2) / n
    on_diagonal = torch.diagonal(c)
    off_diagonal = c - torch.diag_embed(on_diagonal)
    return (1 - on_diagonal).pow(2).sum() + lambd * off_diagonal.pow(2).sum()
