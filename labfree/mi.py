"""Entropy and mutual information: exact values, closed forms and the Gaussian benchmark.

Three layers live here.

* **Discrete, exact.** A distribution is a NumPy array of probabilities (any shape, non-negative,
  summing to 1); a *joint table* ``pxy`` is a 2-D array with ``X`` on axis 0 and ``Y`` on axis 1, so
  ``pxy[i, j] = P(X = i, Y = j)``. :func:`entropy`, :func:`conditional_entropy`,
  :func:`mutual_information` and :func:`kl_divergence` compute the quantities of
  Shannon (1948) and Cover & Thomas (2006, ch. 2) exactly, with the convention ``0 log 0 = 0``.
  Every information quantity takes ``base``: ``e`` (nats, the book's default) or ``2`` (bits).
* **Continuous, closed form.** Pairs of correlated standard Gaussians are the standard test bed for
  mutual-information estimators (Belghazi et al., 2018; Poole et al., 2019) because their MI is
  known exactly: :func:`gaussian_mi`, its inverse :func:`rho_for_mi` and the sampler
  :func:`sample_correlated_gaussians`, which returns ``torch`` tensors so that critics (``torch``
  modules) can consume the samples directly.
* **Estimators from samples.** Critics (``torch`` modules) score every pair of a batch as a matrix
  ``scores[i, j] = f(x_i, y_j)`` whose diagonal holds the positives (pairs drawn together) and whose
  off-diagonal entries serve as samples of ``p(x) p(y)``. Variational lower bounds turn a score
  matrix into an estimate: :func:`infonce_bound`, :func:`nwj_bound`, :func:`dv_bound`,
  :func:`mine_loss` and, from a decoder ``q(x | y)``, :func:`ba_bound` (Poole et al., 2019).
  :func:`train_estimator` runs Poole et al.'s staircase benchmark, and :func:`ksg_mi` is the
  non-parametric nearest-neighbour reference for low dimensions (Kraskov et al., 2004).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import Tensor, nn

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "entropy",
    "joint_entropy",
    "conditional_entropy",
    "mutual_information",
    "kl_divergence",
    "marginals",
    "binary_entropy",
    "random_distribution",
    "random_joint",
    "gaussian_entropy",
    "gaussian_mi",
    "rho_for_mi",
    "sample_correlated_gaussians",
    "SeparableCritic",
    "ConcatCritic",
    "GaussianOptimalCritic",
    "GaussianConditional",
    "infonce_bound",
    "nwj_bound",
    "dv_bound",
    "MovingAverage",
    "mine_loss",
    "ba_bound",
    "BOUNDS",
    "train_estimator",
    "ksg_mi",
]

# A distribution must sum to 1 within this absolute tolerance: loose enough for float32 tables and
# products of marginals, tight enough to catch an unnormalised histogram.
SUM_TOLERANCE = 1e-6


# --------------------------------------------------------------------------------------------------
# Validation and units
# --------------------------------------------------------------------------------------------------


def _log_base(base: float) -> float:
    """``log(base)``, the divisor that converts nats to the requested unit."""
    base = float(base)
    if not (base > 0 and base != 1 and math.isfinite(base)):
        raise ValueError(f"base must be a positive finite number other than 1 (e.g. math.e or 2), got {base}")
    return math.log(base)


def _as_distribution(p: ArrayLike, name: str = "p", ndim: int | None = None) -> np.ndarray:
    """Check that ``p`` is a probability distribution and return it as a float64 array."""
    arr = np.asarray(p, dtype=np.float64)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(
            f"{name} must be a {ndim}-D array (a joint table with X on axis 0 and Y on axis 1), "
            f"got shape {arr.shape}"
        )
    if arr.size == 0:
        raise ValueError(f"{name} is empty; a distribution needs at least one outcome")
    if np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN; pass finite probabilities")
    if np.isinf(arr).any():
        raise ValueError(f"{name} contains infinite entries; pass finite probabilities")
    if (arr < 0).any():
        raise ValueError(f"{name} has negative entries (min {arr.min():.3g}); probabilities must be >= 0")
    total = arr.sum()
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise ValueError(
            f"{name} sums to {total:.6g}, not 1; normalise it first (p / p.sum()) "
            f"if it holds counts or unnormalised weights"
        )
    return arr


def _xlogy_ratio(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Elementwise ``p * log(p / q)`` with ``0 * log(0 / q) = 0`` (q must be > 0 where p > 0)."""
    out = np.zeros_like(p)
    mask = p > 0
    out[mask] = p[mask] * (np.log(p[mask]) - np.log(q[mask]))
    return out


# --------------------------------------------------------------------------------------------------
# Discrete distributions
# --------------------------------------------------------------------------------------------------


def entropy(p: ArrayLike, base: float = math.e) -> float:
    r"""Shannon entropy :math:`H(p) = -\sum_x p(x) \log p(x)` of a discrete distribution.

    Args:
        p: probabilities of any shape (a joint table gives the joint entropy); non-negative,
            summing to 1. Zero entries contribute nothing (``0 log 0 = 0``).
        base: logarithm base: ``math.e`` for nats (default), ``2`` for bits.

    Returns:
        The entropy, between 0 (a point mass) and ``log(p.size)`` (the uniform distribution).
    """
    arr = _as_distribution(p, "p")
    nz = arr[arr > 0]
    return float(0.0 - (nz * np.log(nz)).sum() / _log_base(base))  # 0.0 - x: no -0.0 for a point mass


def joint_entropy(pxy: ArrayLike, base: float = math.e) -> float:
    r"""Joint entropy :math:`H(X, Y)` of a joint table ``pxy`` (``X`` on axis 0, ``Y`` on axis 1)."""
    return entropy(_as_distribution(pxy, "pxy", ndim=2), base)


def marginals(pxy: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Marginals ``(px, py)`` of a joint table: ``px`` sums over axis 1, ``py`` over axis 0."""
    arr = _as_distribution(pxy, "pxy", ndim=2)
    return arr.sum(axis=1), arr.sum(axis=0)


def conditional_entropy(pxy: ArrayLike, base: float = math.e) -> float:
    r"""Conditional entropy :math:`H(X \mid Y) = \sum_{x,y} p(x,y) \log \frac{p(y)}{p(x,y)}`.

    Convention: ``X`` is on axis 0 and ``Y`` on axis 1 of ``pxy``, so this is the uncertainty left in
    the *row* variable once the *column* variable is known. For :math:`H(Y \mid X)` pass ``pxy.T``.

    Computed term by term rather than as ``H(X, Y) - H(Y)``: each term is non-negative because
    ``p(x, y) <= p(y)``, so the result cannot dip below zero through round-off.
    """
    arr = _as_distribution(pxy, "pxy", ndim=2)
    py = np.broadcast_to(arr.sum(axis=0, keepdims=True), arr.shape)
    return float(0.0 - _xlogy_ratio(arr, py).sum() / _log_base(base))


def kl_divergence(p: ArrayLike, q: ArrayLike, base: float = math.e) -> float:
    r"""Kullback–Leibler divergence :math:`D_{\mathrm{KL}}(p \| q) = \sum_x p(x) \log \frac{p(x)}{q(x)}`.

    Args:
        p, q: distributions of the same shape.
        base: logarithm base (``math.e`` for nats, ``2`` for bits).

    Returns:
        The divergence, ``inf`` when ``q(x) = 0 < p(x)`` for some ``x`` (``p`` is not absolutely
        continuous with respect to ``q``). It is ``>= 0`` by Gibbs' inequality; round-off
        negatives of order 1e-16 (for ``p`` numerically equal to ``q``) are clipped to 0.
    """
    pa, qa = _as_distribution(p, "p"), _as_distribution(q, "q")
    if pa.shape != qa.shape:
        raise ValueError(f"p and q must have the same shape, got {pa.shape} and {qa.shape}")
    if ((qa == 0) & (pa > 0)).any():
        return math.inf
    return max(0.0, float(_xlogy_ratio(pa, qa).sum() / _log_base(base)))


def mutual_information(pxy: ArrayLike, base: float = math.e) -> float:
    r"""Mutual information :math:`I(X; Y) = D_{\mathrm{KL}}(p_{XY} \| p_X \otimes p_Y)`.

    Equal to :math:`H(X) - H(X \mid Y) = H(Y) - H(Y \mid X)`; symmetric, so the axis convention of
    ``pxy`` does not matter here. Round-off negatives (for independent tables) are clipped to 0.
    """
    arr = _as_distribution(pxy, "pxy", ndim=2)
    px, py = arr.sum(axis=1), arr.sum(axis=0)
    # p(x, y) > 0 implies p(x) p(y) > 0, so the KL is always finite here.
    return max(0.0, float(_xlogy_ratio(arr, np.outer(px, py)).sum() / _log_base(base)))


def binary_entropy(p: ArrayLike, base: float = math.e) -> float | np.ndarray:
    r"""Entropy of a Bernoulli(p) variable, :math:`-p \log p - (1-p) \log(1-p)`, elementwise.

    Args:
        p: probability (or array of probabilities) in ``[0, 1]``.
        base: logarithm base (``math.e`` for nats, ``2`` for bits: the maximum is then 1 at 0.5).

    Returns:
        A float for scalar input, else an array of the shape of ``p``.
    """
    arr = np.asarray(p, dtype=np.float64)
    if np.isnan(arr).any():
        raise ValueError("binary_entropy got NaN; pass probabilities in [0, 1]")
    if (arr < 0).any() or (arr > 1).any():
        raise ValueError(
            f"binary_entropy needs probabilities in [0, 1], got values in [{arr.min():.3g}, {arr.max():.3g}]"
        )
    q = 1.0 - arr
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(arr > 0, arr * np.log(arr), 0.0) - np.where(q > 0, q * np.log(q), 0.0)
    h = h / _log_base(base) + 0.0  # + 0.0 turns the -0.0 of the end points into 0.0
    return float(h) if h.ndim == 0 else h


def _numpy_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy Generator, an int seed or None, got {type(rng).__name__}")


def random_distribution(
    k: int, rng: np.random.Generator | int | None, concentration: float = 1.0
) -> np.ndarray:
    """A random distribution over ``k`` outcomes, drawn from a symmetric Dirichlet.

    Args:
        k: number of outcomes (>= 1).
        rng: a ``numpy.random.Generator`` (advanced in place), an int seed, or ``None`` (fresh entropy).
        concentration: the Dirichlet parameter. ``1`` is uniform on the simplex; small values
            (``0.1``) give peaked, nearly sparse distributions; large values (``100``) nearly uniform ones.

    Returns:
        A float64 array of shape ``(k,)`` summing to 1.
    """
    if int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer, got {k}")
    if not concentration > 0:
        raise ValueError(f"concentration must be > 0, got {concentration}")
    p = _numpy_rng(rng).dirichlet(np.full(int(k), float(concentration)))
    return p / p.sum()  # re-normalise away the last-ulp error of the sampler


def random_joint(
    kx: int, ky: int, rng: np.random.Generator | int | None, concentration: float = 1.0
) -> np.ndarray:
    """A random joint table of shape ``(kx, ky)`` (``X`` on axis 0), Dirichlet over all cells.

    With ``concentration`` small the table is sparse and ``X``, ``Y`` strongly dependent; with it large
    the table is nearly uniform and the two nearly independent. See :func:`random_distribution`.
    """
    return random_distribution(int(kx) * int(ky), rng, concentration).reshape(int(kx), int(ky))


# --------------------------------------------------------------------------------------------------
# Gaussians: closed forms and the standard MI benchmark
# --------------------------------------------------------------------------------------------------


def gaussian_entropy(cov: ArrayLike, base: float = math.e) -> float:
    r"""Differential entropy of :math:`\mathcal{N}(\mu, \Sigma)`: :math:`\tfrac12 \log\det(2\pi e\,\Sigma)`.

    Args:
        cov: a symmetric positive-definite covariance matrix of shape ``(n, n)`` (a scalar is a variance).
        base: logarithm base.

    Unlike discrete entropy this can be negative (a narrow Gaussian), and it changes under rescaling.
    """
    sigma = np.atleast_2d(np.asarray(cov, dtype=np.float64))
    if sigma.ndim != 2 or sigma.shape[0] != sigma.shape[1]:
        raise ValueError(f"cov must be a square matrix, got shape {sigma.shape}")
    if not np.allclose(sigma, sigma.T):
        raise ValueError("cov must be symmetric")
    sign, logdet = np.linalg.slogdet(sigma)
    if sign <= 0 or not np.isfinite(logdet):
        raise ValueError("cov must be positive definite (its determinant is not > 0)")
    n = sigma.shape[0]
    return float(0.5 * (n * math.log(2 * math.pi * math.e) + logdet) / _log_base(base))


def _check_rho(rho: ArrayLike) -> np.ndarray:
    arr = np.asarray(rho, dtype=np.float64)
    if np.isnan(arr).any():
        raise ValueError("rho contains NaN")
    if (np.abs(arr) >= 1).any():
        raise ValueError(
            f"|rho| must be < 1 (at |rho| = 1 the variables are deterministic functions of each other "
            f"and their mutual information is infinite), got max |rho| = {np.abs(arr).max()}"
        )
    return arr


def _check_d(d: int) -> int:
    if int(d) != d or d < 1:
        raise ValueError(f"d (the number of independent Gaussian pairs) must be a positive integer, got {d}")
    return int(d)


def gaussian_mi(rho: ArrayLike, d: int = 1, base: float = math.e) -> float | np.ndarray:
    r"""Mutual information of ``d`` independent pairs of standard Gaussians with correlation ``rho``.

    .. math:: I(X; Y) = -\frac{d}{2} \log(1 - \rho^2),

    since :math:`I = h(X) + h(Y) - h(X, Y)` and the :math:`2 \times 2` covariance of each pair has
    determinant :math:`1 - \rho^2`. Vectorised over ``rho``: a float for scalar input, else an array.

    Raises:
        ValueError: if ``|rho| >= 1`` (infinite MI) or ``rho`` is NaN.
    """
    arr = _check_rho(rho)
    out = -0.5 * _check_d(d) * np.log1p(-(arr**2)) / _log_base(base)
    return float(out) if out.ndim == 0 else out


def rho_for_mi(mi: ArrayLike, d: int = 1, base: float = math.e) -> float | np.ndarray:
    r"""The correlation :math:`\rho \ge 0` at which :func:`gaussian_mi` equals ``mi``.

    Inverts :math:`I = -\frac{d}{2}\log(1-\rho^2)`: :math:`\rho = \sqrt{1 - e^{-2I/d}}` (``mi`` in the
    unit of ``base``). Vectorised; ``mi`` must be finite and ``>= 0``.
    """
    arr = np.asarray(mi, dtype=np.float64)
    if np.isnan(arr).any() or np.isinf(arr).any() or (arr < 0).any():
        raise ValueError("mi must be finite and >= 0 (mutual information is never negative)")
    nats = arr * _log_base(base)
    out = np.sqrt(-np.expm1(-2.0 * nats / _check_d(d)))
    return float(out) if out.ndim == 0 else out


def sample_correlated_gaussians(
    n: int,
    rho: float | None = None,
    *,
    mi: float | None = None,
    d: int = 1,
    generator: torch.Generator | int | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Draw ``n`` samples of ``d`` independent pairs of standard Gaussians with correlation ``rho``.

    ``x ~ N(0, I_d)`` and ``y = rho * x + sqrt(1 - rho^2) * eps`` with ``eps ~ N(0, I_d)``, so every
    coordinate of ``y`` is standard normal, ``corr(x_i, y_i) = rho``, and the true mutual information
    is :func:`gaussian_mi` ``(rho, d)``. Pass exactly one of ``rho`` and ``mi`` (in nats; converted by
    :func:`rho_for_mi`), e.g. ``sample_correlated_gaussians(256, mi=4.0, d=20, generator=0)``.

    Args:
        n: number of samples.
        rho: correlation of each pair, ``|rho| < 1``.
        mi: target mutual information in nats, instead of ``rho``.
        d: number of pairs (the dimension of ``x`` and of ``y``).
        generator: a ``torch.Generator`` on ``device`` (advanced in place), an int seed, or ``None``
            for torch's global generator.
        dtype, device: of the returned tensors.

    Returns:
        ``(x, y)``, two tensors of shape ``(n, d)``.
    """
    if (rho is None) == (mi is None):
        raise ValueError("pass exactly one of rho (a correlation) or mi (a target MI in nats)")
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n}")
    d = _check_d(d)
    r = float(rho_for_mi(mi, d)) if mi is not None else float(_check_rho(rho))
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        generator = torch.Generator(device=device or "cpu").manual_seed(int(generator))
    kwargs: dict[str, Any] = dict(generator=generator, dtype=dtype, device=device)
    x = torch.randn(int(n), d, **kwargs)
    eps = torch.randn(int(n), d, **kwargs)
    y = r * x + math.sqrt(1.0 - r * r) * eps
    return x, y


# --------------------------------------------------------------------------------------------------
# Critics: a batch of pairs in, the score matrix scores[i, j] = f(x_i, y_j) out
# --------------------------------------------------------------------------------------------------


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
    r"""Separable critic :math:`f(x, y) = g(x)^\top h(y)` with two MLPs (Oord et al., 2018; Poole et al., 2019).

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
        = -\frac{d}{2}\log(1-\rho^2) - \frac{\lVert y - \rho x \rVert^2}{2(1-\rho^2)} + \frac{\lVert y \rVert^2}{2},

    plus ``offset``; at ``offset=0``, :math:`\mathbb{E}_{p(x,y)}[f^*] = I(X; Y)`. InfoNCE and DV are
    optimal at any offset, NWJ at ``offset=1``. It has no parameters; :func:`train_estimator` just evaluates it,
    which shows what each bound gives at its optimum.
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
    r"""A Gaussian decoder :math:`q(x \mid y) = \mathcal{N}(\mu(y), \mathrm{diag}\,\sigma^2(y))` for :func:`ba_bound`.

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


# --------------------------------------------------------------------------------------------------
# Variational lower bounds from a score matrix
# --------------------------------------------------------------------------------------------------


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
    r"""InfoNCE (Oord et al., 2018): :math:`\log N - \mathcal{L}_{\mathrm{InfoNCE}}`, never above :math:`\log N`.

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

    .. math:: \bar m \leftarrow (1 - \alpha)\,\bar m + \alpha\, m \qquad (\bar m = m \text{ at the first call}),

    (in log space, so large scores cannot overflow), then returns ``(estimate, loss)``: ``estimate`` is
    :func:`dv_bound` and ``loss`` equals ``-estimate`` in value while its gradient is
    :math:`-\big(\nabla \mathrm{mean}_i f_{ii} - \mathrm{mean}_{i \ne j} \nabla f_{ij}\, e^{f_{ij}} / \bar m\big)`.
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
        ema_state.log_value = float(np.logaddexp(math.log1p(-alpha) + ema_state.log_value, math.log(alpha) + batch))
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

    The gap is :math:`\mathbb{E}_{p(y)} D_{\mathrm{KL}}(p(x \mid y) \| q(x \mid y))`, zero for the true conditional.
    """
    if not isinstance(log_q_x_given_y, Tensor) or log_q_x_given_y.ndim != 1 or log_q_x_given_y.numel() == 0:
        raise ValueError("log_q_x_given_y must be a non-empty 1-D tensor of log q(x_i | y_i), one per joint sample")
    return entropy_x + log_q_x_given_y.mean()


# --------------------------------------------------------------------------------------------------
# The staircase benchmark (Poole et al., 2019, fig. 2)
# --------------------------------------------------------------------------------------------------

BOUNDS = ("infonce", "nwj", "dv", "mine", "ba")


def train_estimator(
    bound: str,
    critic: nn.Module,
    mi_schedule: Sequence[float],
    *,
    d: int = 20,
    batch_size: int = 64,
    steps_per_stage: int = 4000,
    lr: float = 5e-4,
    alpha: float = 0.01,
    seed: int = 0,
    progress: bool = False,
) -> pd.DataFrame:
    """Maximise a bound with Adam while the true MI steps through ``mi_schedule`` (Poole et al., 2019).

    Stage ``s`` lasts ``steps_per_stage`` steps; every step draws a fresh batch of ``batch_size`` pairs
    from :func:`sample_correlated_gaussians` at the ``rho`` that gives ``mi_schedule[s]`` nats in ``d``
    dimensions, evaluates the bound on it, records the value and takes one Adam step on ``-bound``
    (for ``"mine"``, on :func:`mine_loss`'s surrogate). The paper's settings are the defaults: ``d=20``,
    batch 64, 4 000 steps per stage, learning rate ``5e-4``, schedule ``(2, 4, 6, 8, 10)``.

    Args:
        bound: one of :data:`BOUNDS`. ``"ba"`` needs a decoder (:class:`GaussianConditional`) and uses
            ``H(X) = d/2 log(2 pi e)``; the others need a critic returning an ``(N, N)`` score matrix.
        critic: the module to train, initialised by the caller (seed torch before building it). A
            module without parameters (:class:`GaussianOptimalCritic`) is only evaluated.
        seed: seeds the sampling of the batches.
        progress: show a tqdm progress bar.

    Returns:
        A tidy DataFrame, one row per step: ``step``, ``stage``, ``true_mi``, ``estimate``, ``bound``,
        ``critic`` (the module's class name).
    """
    import pandas as pd
    from tqdm.auto import tqdm

    if bound not in BOUNDS:
        raise ValueError(f"unknown bound {bound!r}; choose one of {BOUNDS}")
    schedule = [float(m) for m in mi_schedule]
    if not schedule or steps_per_stage < 1 or batch_size < 2:
        raise ValueError("need a non-empty mi_schedule, steps_per_stage >= 1 and batch_size >= 2")
    params = [p for p in critic.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr) if params else None
    device = params[0].device if params else torch.device("cpu")
    generator = torch.Generator(device=device).manual_seed(seed)
    entropy_x = gaussian_entropy(np.eye(d))
    ema, estimates = MovingAverage(), []
    total = len(schedule) * steps_per_stage
    for step in tqdm(range(total), disable=not progress, desc=bound):
        x, y = sample_correlated_gaussians(batch_size, mi=schedule[step // steps_per_stage], d=d,
                                           generator=generator, device=device)
        out = critic(x, y)
        if bound == "ba":
            estimate = ba_bound(out, entropy_x)
        elif out.ndim != 2:
            raise ValueError(f"bound {bound!r} needs a critic returning an (N, N) score matrix, got shape "
                             f"{tuple(out.shape)}; a decoder such as GaussianConditional goes with bound='ba'")
        elif bound == "mine":
            estimate, loss = mine_loss(out, ema, alpha)
        else:
            estimate = {"infonce": infonce_bound, "nwj": nwj_bound, "dv": dv_bound}[bound](out)
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
            (loss if bound == "mine" else -estimate).backward()
            optimizer.step()
        estimates.append(float(estimate.detach()))
    steps = np.arange(total)
    return pd.DataFrame({"step": steps, "stage": steps // steps_per_stage,
                         "true_mi": np.repeat(schedule, steps_per_stage), "estimate": estimates,
                         "bound": bound, "critic": type(critic).__name__})


# --------------------------------------------------------------------------------------------------
# A non-parametric reference: the Kraskov–Stögbauer–Grassberger estimator
# --------------------------------------------------------------------------------------------------


def ksg_mi(x: ArrayLike, y: ArrayLike, k: int = 3, *, standardize: bool = True) -> float:
    r"""KSG estimator 1 of :math:`I(X; Y)` in nats (Kraskov, Stögbauer & Grassberger, 2004, eq. 8).

    .. math:: \hat I = \psi(k) + \psi(N) - \big\langle \psi(n_x + 1) + \psi(n_y + 1) \big\rangle,

    where, for each point, :math:`\varepsilon_i` is the max-norm distance to its ``k``-th neighbour in
    the joint space and :math:`n_x` (:math:`n_y`) counts the other points strictly within
    :math:`\varepsilon_i` of it in the ``x`` (``y``) space. Reliable in a few dimensions; in many it
    underestimates large MI badly, which is why neural bounds exist.

    Args:
        x, y: samples of shape ``(N,)`` or ``(N, d_x)``, ``(N, d_y)``, continuous (no repeated points).
        k: neighbours; larger means less variance, more bias.
        standardize: scale every column to unit variance first (the max-norm mixes the two spaces, so
            units matter; scikit-learn does the same).

    Returns:
        The estimate; unlike scikit-learn's ``mutual_info_regression`` it is not clipped at 0.
    """
    from scipy.spatial import cKDTree
    from scipy.special import digamma

    xs = [np.asarray(v, dtype=np.float64) for v in (x, y)]
    xs = [v.reshape(-1, 1) if v.ndim == 1 else v for v in xs]
    n = xs[0].shape[0]
    if any(v.ndim != 2 for v in xs) or xs[1].shape[0] != n:
        raise ValueError(f"x and y need the same number of samples as 1-D or 2-D arrays, got shapes "
                         f"{xs[0].shape} and {xs[1].shape}")
    if int(k) != k or not 1 <= k < n:
        raise ValueError(f"k must be an integer with 1 <= k < N = {n}, got {k}")
    if not all(np.isfinite(v).all() for v in xs):
        raise ValueError("x and y must be finite")
    if standardize:
        std = [v.std(axis=0) for v in xs]
        if any((s == 0).any() for s in std):
            raise ValueError("a column of x or y is constant; drop it (it carries no information)")
        xs = [v / s for v, s in zip(xs, std)]
    joint = np.hstack(xs)
    eps = cKDTree(joint).query(joint, k=int(k) + 1, p=np.inf)[0][:, -1]
    if (eps == 0).any():
        raise ValueError("x, y contain repeated points; KSG needs continuous data (add tiny noise to break ties)")
    radius = np.nextafter(eps, 0)  # "strictly within": shrink the closed ball by one ulp
    counts = [cKDTree(v).query_ball_point(v, radius, p=np.inf, return_length=True) - 1 for v in xs]
    return float(digamma(k) + digamma(n) - np.mean(digamma(counts[0] + 1) + digamma(counts[1] + 1)))
