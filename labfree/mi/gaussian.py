"""Correlated Gaussians: closed-form entropy and MI, and samplers with a target MI.

The standard benchmark of MI estimators.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike

from labfree._validate import covariance

from .discrete import _log_base


def gaussian_entropy(cov: ArrayLike, base: float = math.e) -> float:
    r"""Differential entropy of :math:`\mathcal{N}(\mu, \Sigma)`: :math:`\tfrac12 \log\det(2\pi e\,\Sigma)`.

    Args:
        cov: a symmetric positive-definite covariance matrix of shape ``(n, n)`` (a scalar is a variance).
        base: logarithm base.

    Unlike discrete entropy this can be negative (a narrow Gaussian), and it changes under rescaling.
    """
    sigma = covariance(cov, "cov")  # finite, symmetric, positive definite (by Cholesky)
    _, logdet = np.linalg.slogdet(sigma)
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
