"""Critics: a batch of pairs in, the score matrix ``scores[i, j] = f(x_i, y_j)`` out."""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor, nn

from .gaussian import _check_d, _check_rho


def _mlp(in_dim: int, hidden: int, out_dim: int, layers: int) -> nn.Sequential:
    """``layers`` hidden ReLU layers of width ``hidden``, then a linear map: Poole et al.'s critic MLP."""
    if layers < 1 or hidden < 1:
        raise ValueError(f"layers and hidden must be >= 1, got layers={layers}, hidden={hidden}")
    widths = [in_dim] + [hidden] * layers
    blocks: list[nn.Module] = []
    for a, b in itertools.pairwise(widths):
        blocks += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*blocks, nn.Linear(hidden, out_dim))


def _check_xy(x: Tensor, y: Tensor, dim_x: int, dim_y: int, paired: bool = False) -> None:
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != dim_x or y.shape[1] != dim_y:
        raise ValueError(f"expected x of shape (N, {dim_x}) and y of shape (M, {dim_y}), "
                         f"got {tuple(x.shape)} and {tuple(y.shape)}")
    if paired and x.shape[0] != y.shape[0]:
        raise ValueError(f"pair_scores needs as many x as y rows, got {x.shape[0]} and {y.shape[0]}")


class SeparableCritic(nn.Module):
    r"""Separable critic :math:`f(x, y) = g(x)^\top h(y)` with two MLPs (Oord et al., 2018; Poole et al.,
    2019).

    ``forward(x, y)`` returns the ``(N, M)`` matrix ``scores[i, j] = f(x_i, y_j)`` with one matrix
    product: ``N + M`` network evaluations for ``N * M`` scores, which is why contrastive learning
    uses this form. ``pair_scores(x, y)`` gives ``f(x_i, y_i)`` for paired rows, shape ``(N,)``.
    """

    def __init__(self, dim_x: int, dim_y: int, hidden: int = 256, embed: int = 32, layers: int = 2) -> None:
        super().__init__()
        self.dim_x, self.dim_y = dim_x, dim_y
        self.g, self.h = _mlp(dim_x, hidden, embed, layers), _mlp(dim_y, hidden, embed, layers)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        _check_xy(x, y, self.dim_x, self.dim_y)
        return self.g(x) @ self.h(y).T

    def pair_scores(self, x: Tensor, y: Tensor) -> Tensor:
        _check_xy(x, y, self.dim_x, self.dim_y, paired=True)
        return (self.g(x) * self.h(y)).sum(dim=-1)


class ConcatCritic(nn.Module):
    r"""Joint critic :math:`f(x, y) = \mathrm{MLP}([x, y])` (Belghazi et al., 2018; Poole et al., 2019).

    More expressive than :class:`SeparableCritic` but it must run on all ``N * M`` pairs. The first
    layer is linear in the concatenation, ``W [x; y] + b = W_x x + W_y y + b``, so it is applied to the
    ``N + M`` rows and broadcast to the pairs; only the deeper layers pay the ``N * M`` cost.
    """

    def __init__(self, dim_x: int, dim_y: int, hidden: int = 256, layers: int = 2) -> None:
        super().__init__()
        self.dim_x, self.dim_y = dim_x, dim_y
        self.net = _mlp(dim_x + dim_y, hidden, 1, layers)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        _check_xy(x, y, self.dim_x, self.dim_y)
        first = self.net[0]
        wx, wy = first.weight[:, : self.dim_x], first.weight[:, self.dim_x :]
        pre = (x @ wx.T)[:, None, :] + (y @ wy.T + first.bias)[None, :, :]  # (N, M, hidden)
        return self.net[1:](pre).squeeze(-1)

    def pair_scores(self, x: Tensor, y: Tensor) -> Tensor:
        _check_xy(x, y, self.dim_x, self.dim_y, paired=True)
        return self.net(torch.cat([x, y], dim=-1)).squeeze(-1)


class GaussianOptimalCritic(nn.Module):
    r"""The true log density ratio of :func:`sample_correlated_gaussians`: the optimal critic.

    .. math:: f^*(x, y) = \log \frac{p(y \mid x)}{p(y)}
        = -\frac{d}{2}\log(1-\rho^2) - \frac{\lVert y - \rho x \rVert^2}{2(1-\rho^2)}
          + \frac{\lVert y \rVert^2}{2},

    plus ``offset``; at ``offset=0``, :math:`\mathbb{E}_{p(x,y)}[f^*] = I(X; Y)`. InfoNCE and DV are
    optimal at any offset, NWJ at ``offset=1``. It has no parameters; :func:`train_estimator` just
    evaluates it, which shows what each bound gives at its optimum.
    """

    def __init__(self, rho: float, d: int, offset: float = 0.0) -> None:
        super().__init__()
        self.rho, self.d, self.offset = float(_check_rho(rho)), _check_d(d), float(offset)

    def _ratio(self, sq_dist: Tensor, y_sq: Tensor) -> Tensor:
        s = 1.0 - self.rho**2
        return self.offset - 0.5 * self.d * math.log(s) - sq_dist / (2 * s) + 0.5 * y_sq

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        _check_xy(x, y, self.d, self.d)
        # Exact distances (no |a|^2 - 2ab + |b|^2 expansion, which cancels badly when rho -> 1).
        sq = torch.cdist(self.rho * x, y, compute_mode="donot_use_mm_for_euclid_dist") ** 2
        return self._ratio(sq, (y**2).sum(dim=-1)[None, :])

    def pair_scores(self, x: Tensor, y: Tensor) -> Tensor:
        _check_xy(x, y, self.d, self.d, paired=True)
        return self._ratio(((y - self.rho * x) ** 2).sum(dim=-1), (y**2).sum(dim=-1))


class GaussianConditional(nn.Module):
    r"""A Gaussian decoder :math:`q(x \mid y) = \mathcal{N}(\mu(y), \mathrm{diag}\,\sigma^2(y))` for
    :func:`ba_bound`.

    One MLP maps ``y`` to the mean and log-variance. ``forward(x, y)`` returns ``log q(x_i | y_i)``,
    shape ``(N,)``. For the Gaussian benchmark the true conditional, :math:`\mathcal{N}(\rho y,
    (1 - \rho^2) I)`, is in this family, so the Barber–Agakov bound can be tight.
    """

    def __init__(self, dim_y: int, dim_x: int, hidden: int = 256, layers: int = 2) -> None:
        super().__init__()
        self.dim_x, self.dim_y = dim_x, dim_y
        self.net = _mlp(dim_y, hidden, 2 * dim_x, layers)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        _check_xy(x, y, self.dim_x, self.dim_y, paired=True)
        mean, log_var = self.net(y).chunk(2, dim=-1)
        nll = 0.5 * (log_var + (x - mean) ** 2 * torch.exp(-log_var) + math.log(2 * math.pi))
        return -nll.sum(dim=-1)
