"""Discrete information theory in nats (or any base): entropy, KL, mutual information."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

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
