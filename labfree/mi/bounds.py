"""Variational lower bounds on MI from a critic's score matrix: InfoNCE, NWJ, DV, MINE, Barber-Agakov."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


def _check_scores(scores: Tensor) -> int:
    if not isinstance(scores, Tensor) or scores.ndim != 2 or scores.shape[0] != scores.shape[1]:
        shape = tuple(scores.shape) if hasattr(scores, "shape") else type(scores).__name__
        raise ValueError(f"scores must be a square (N, N) tensor with scores[i, j] = f(x_i, y_j) and the "
                         f"positive pairs on the diagonal, got {shape}")
    if scores.shape[0] < 2:
        raise ValueError("a batch of N >= 2 pairs is needed: the off-diagonal pairs are the negatives")
    return scores.shape[0]


def _logmeanexp_off_diagonal(scores: Tensor) -> Tensor:
    """``log mean_{i != j} exp(scores[i, j])``: the N(N-1) mismatched pairs, each distributed as p(x)p(y)."""
    n = scores.shape[0]
    eye = torch.eye(n, dtype=torch.bool, device=scores.device)
    return scores.masked_fill(eye, -math.inf).logsumexp(dim=(0, 1)) - math.log(n * (n - 1))


def infonce_bound(scores: Tensor) -> Tensor:
    r"""InfoNCE (Oord et al., 2018): :math:`\log N - \mathcal{L}_{\mathrm{InfoNCE}}`, never above
    :math:`\log N`.

    .. math:: I_{\mathrm{NCE}} = \frac{1}{N}\sum_{i=1}^N \log
        \frac{e^{f(x_i, y_i)}}{\frac{1}{N}\sum_{j=1}^N e^{f(x_i, y_j)}}

    Each row is an ``N``-way classification of the positive ``y_i`` among the batch's ``y`` for
    anchor ``x_i``; every term is at most ``log N``. A lower bound on ``I(X; Y)`` in expectation
    (Poole et al., 2019, eq. 12), low-variance but capped at ``log N``.
    """
    n = _check_scores(scores)
    return math.log(n) + (scores.diagonal() - scores.logsumexp(dim=1)).mean()


def nwj_bound(scores: Tensor) -> Tensor:
    r"""NWJ (Nguyen, Wainwright & Jordan, 2010), the f-divergence bound on the KL divergence.

    .. math:: I_{\mathrm{NWJ}} = \mathbb{E}_{p(x,y)}[f] - e^{-1}\,\mathbb{E}_{p(x)p(y)}[e^{f}],

    with the diagonal as the joint samples and the ``N(N-1)`` off-diagonal pairs as the product of
    marginals. Unbiased for a fixed critic; tight at :math:`f^* = 1 + \log \frac{p(x,y)}{p(x)p(y)}`.
    Its variance grows like :math:`e^{I}` (Poole et al., 2019; Song & Ermon, 2020).
    """
    _check_scores(scores)
    return scores.diagonal().mean() - torch.exp(_logmeanexp_off_diagonal(scores) - 1.0)


def dv_bound(scores: Tensor) -> Tensor:
    r"""Donsker–Varadhan (1983): :math:`\mathbb{E}_{p(x,y)}[f] - \log \mathbb{E}_{p(x)p(y)}[e^{f}]`.

    The diagonal supplies the joint expectation; the ``N(N-1)`` off-diagonal pairs ``(x_i, y_j)``,
    ``i != j``, supply the product of marginals (each such pair is distributed as ``p(x) p(y)``; the
    diagonal must be left out). Tight at :math:`f^* = \log \frac{p(x,y)}{p(x)p(y)} + c` for any ``c``.
    Always ``>= nwj_bound(scores)``, since :math:`\log z \le z / e`. The log of a batch mean makes it a
    biased estimate of the bound, and its gradient too; :func:`mine_loss` corrects the gradient.
    """
    _check_scores(scores)
    return scores.diagonal().mean() - _logmeanexp_off_diagonal(scores)


@dataclass
class MovingAverage:
    """MINE's running estimate of the denominator :math:`\\mathbb{E}_{p(x)p(y)}[e^f]`, stored as its log.

    ``log_value`` is ``None`` until the first batch; :func:`mine_loss` updates it in place.
    """

    log_value: float | None = None

    @property
    def value(self) -> float | None:
        return None if self.log_value is None else math.exp(self.log_value)


def mine_loss(scores: Tensor, ema_state: MovingAverage, alpha: float = 0.01) -> tuple[Tensor, Tensor]:
    r"""MINE (Belghazi et al., 2018): the DV estimate and a surrogate loss with a less biased gradient.

    The gradient of :math:`\log \mathbb{E}_Q[e^f]` is :math:`\mathbb{E}_Q[\nabla f\, e^f] /
    \mathbb{E}_Q[e^f]`; on a batch, the denominator is a noisy mean inside a ratio, which biases the
    gradient. MINE divides by a moving average instead. Each call first updates ``ema_state`` with
    this batch's :math:`m = \mathrm{mean}_{i \ne j} e^{f_{ij}}`,

    .. math::
        \bar m \leftarrow (1 - \alpha)\,\bar m + \alpha\, m \qquad (\bar m = m \text{ at the first call}),

    (in log space, so large scores cannot overflow), then returns ``(estimate, loss)``: ``estimate`` is
    :func:`dv_bound` and ``loss`` equals ``-estimate`` in value while its gradient is

    .. math::
        -\big(\nabla \mathrm{mean}_i f_{ii}
              - \mathrm{mean}_{i \ne j} \nabla f_{ij}\, e^{f_{ij}} / \bar m\big).

    ``alpha = 1`` recovers the plain DV gradient.
    """
    _check_scores(scores)
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha (the weight of the current batch in the moving average) must be in (0, 1], "
                         f"got {alpha}")
    lme = _logmeanexp_off_diagonal(scores)
    batch = float(lme.detach())
    if ema_state.log_value is None or alpha == 1:
        ema_state.log_value = batch
    else:
        ema_state.log_value = float(np.logaddexp(math.log1p(-alpha) + ema_state.log_value,
                                                 math.log(alpha) + batch))
    joint = scores.diagonal().mean()
    ratio = torch.exp(lme - ema_state.log_value)  # mean e^f / m_bar: gradient mean(grad f e^f) / m_bar
    estimate = joint - lme
    loss = -(joint - ratio) + (lme - ratio).detach()  # value: -estimate; gradient: through the ratio
    return estimate, loss


def ba_bound(log_q_x_given_y: Tensor, entropy_x: float) -> Tensor:
    r"""Barber–Agakov (2003): :math:`I(X; Y) \ge H(X) + \mathbb{E}_{p(x,y)}[\log q(x \mid y)]`.

    Args:
        log_q_x_given_y: ``log q(x_i | y_i)`` for a batch of joint samples, shape ``(N,)`` (e.g. from
            :class:`GaussianConditional`).
        entropy_x: :math:`H(X)`, which must be known: ``d/2 log(2 pi e)`` nats for the benchmark's
            standard Gaussian ``x`` (:func:`gaussian_entropy` of the identity).

    The gap is :math:`\mathbb{E}_{p(y)} D_{\mathrm{KL}}(p(x \mid y) \| q(x \mid y))`, zero for the true
    conditional.
    """
    if not isinstance(log_q_x_given_y, Tensor) or log_q_x_given_y.ndim != 1 or log_q_x_given_y.numel() == 0:
        raise ValueError("log_q_x_given_y must be a non-empty 1-D tensor of log q(x_i | y_i), "
                         "one per joint sample")
    return entropy_x + log_q_x_given_y.mean()
