"""The spectrum of a representation: eigenvalues, the power-law decay alpha (alpha-ReQ), RankMe."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ._checks import Features, _features, _labels, _numpy, _positive_int


def eigenspectrum(h: Features) -> np.ndarray:
    """Eigenvalues of the centred covariance of ``h`` (divided by ``n``), in descending order.

    ``Cov = (1/n) sum (h_i - mean)(h_i - mean)^T`` as in alpha-ReQ. Computed in float64; when
    ``n < d`` from the ``n x n`` Gram matrix, which has the same non-zero eigenvalues. Returns
    ``min(n, d)`` values, tiny negative round-off clipped to zero.
    """
    x = _features(h, "h", min_rows=2)
    x = x - x.mean(axis=0)
    n, d = x.shape
    gram = (x.T @ x) if d <= n else (x @ x.T)
    values = np.linalg.eigvalsh(gram / n)[::-1]
    return np.clip(values, 0.0, None)


# Ranks fitted by default, 1-based and inclusive. The power law describes the body of the spectrum:
# the first few components carry the coarse (class/mean-like) structure and sit above the line, and
# the far tail is bent by finite-sample noise and by the feature width. The alpha-ReQ authors'
# reference code fits indices 5..99 (ranks 6..100), following Stringer et al. (2019); so do we.
ALPHA_FIT_RANGE = (6, 100)


@dataclass
class PowerLawFit:
    """A fit ``log lambda_k = intercept - alpha log k`` over the 1-based ``ranks``; ``r2`` its R^2."""

    alpha: float
    intercept: float
    r2: float
    ranks: np.ndarray

    def predict(self, ranks: ArrayLike) -> np.ndarray:
        """The fitted eigenvalues ``exp(intercept) k^-alpha`` at the given ranks."""
        k = np.asarray(ranks, dtype=np.float64)
        return np.exp(self.intercept - self.alpha * np.log(k))


def _spectrum(h_or_eigenvalues: Features) -> np.ndarray:
    a = _numpy(h_or_eigenvalues)
    if a.ndim == 2:
        return eigenspectrum(a)
    values = _labels(a, None, "eigenvalues").astype(np.float64)
    if (values < 0).any():
        raise ValueError("eigenvalues must be non-negative (pass a covariance spectrum)")
    if (np.diff(values) > 1e-12 * max(values[0], 1e-300)).any():
        raise ValueError("eigenvalues must be sorted in descending order (use eigenspectrum(h))")
    return values


def power_law_fit(h_or_eigenvalues: Features,
                  fit_range: tuple[int, int | None] = ALPHA_FIT_RANGE) -> PowerLawFit:
    """Least-squares fit of ``lambda_k ∝ k^-alpha`` on log-log axes (alpha-ReQ, Agrawal et al. 2022).

    Accepts features ``(n, d)`` (their :func:`eigenspectrum` is used) or a 1-D descending spectrum.
    ``fit_range = (k_min, k_max)`` are 1-based inclusive ranks, default ``(6, 100)``; ``k_max=None``
    means "to the last eigenvalue". ``k_max`` is clipped to the numerical rank (eigenvalues above
    ``1e-10`` times the largest), so a narrow representation is fitted over what it has; fewer than
    three ranks in range raise a ``ValueError``.
    """
    values = _spectrum(h_or_eigenvalues)
    k_min, k_max = fit_range
    k_min = _positive_int(k_min, "fit_range[0]")
    rank = int(np.sum(values > 1e-10 * values[0])) if values.size and values[0] > 0 else 0
    k_max = rank if k_max is None else min(_positive_int(k_max, "fit_range[1]"), rank)
    if k_max - k_min + 1 < 3:
        raise ValueError(f"the power-law fit needs at least 3 ranks in fit_range={fit_range}, but the "
                         f"spectrum has only {rank} non-zero eigenvalues; the representation is "
                         "(nearly) collapsed, or choose a lower fit_range")
    ranks = np.arange(k_min, k_max + 1)
    x, y = np.log(ranks), np.log(values[k_min - 1:k_max])
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (intercept + slope * x)
    r2 = 1.0 - float(residual @ residual) / float(((y - y.mean()) ** 2).sum())
    return PowerLawFit(alpha=float(-slope), intercept=float(intercept), r2=r2, ranks=ranks)


def alpha(h_or_eigenvalues: Features, fit_range: tuple[int, int | None] = ALPHA_FIT_RANGE) -> float:
    """Eigenspectrum decay coefficient ``alpha`` of ``lambda_k ∝ k^-alpha`` (see :func:`power_law_fit`).

    About 1 for mouse V1 responses (Stringer et al., 2019); alpha-ReQ finds well-trained encoders
    in a "Goldilocks zone" near it: much smaller means redundant, nearly isotropic features, much
    larger means a few directions dominate (towards collapse).
    """
    return power_law_fit(h_or_eigenvalues, fit_range).alpha


def effective_rank(h: Features, eps: float = 1e-7) -> float:
    """RankMe (Garrido et al., 2023): ``exp`` of the entropy of the normalised singular values.

    ``p_k = sigma_k / sum_j sigma_j + eps`` with ``sigma_k`` the singular values of the (uncentred)
    embedding matrix ``h`` and ``eps = 1e-7`` as in the paper; ``RankMe = exp(-sum p_k log p_k)``.
    Ranges from about 1 (collapse to a line) to ``min(n, d)`` (all directions equally used); the
    paper uses ``n`` well above ``d`` (25 600 samples).
    """
    x = _features(h, "h")
    n, d = x.shape
    gram = (x.T @ x) if d <= n else (x @ x.T)
    sigma = np.sqrt(np.clip(np.linalg.eigvalsh(gram), 0.0, None))
    if sigma.sum() == 0:
        raise ValueError("h is all zeros; its singular values are all zero and RankMe is undefined")
    p = sigma / sigma.sum() + eps
    return float(np.exp(-np.sum(p * np.log(p))))


