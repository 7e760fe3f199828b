r"""Density estimation by noise-contrastive estimation (NCE): fitting an unnormalised density.

Gutmann & Hyvärinen (2010), *Noise-contrastive estimation: A new estimation principle for
unnormalized statistical models* (AISTATS); the asymptotic analysis is in their 2012 JMLR paper.

A model :math:`\log p_m(u;\theta) = \log p_m^0(u;\alpha) + c` need not integrate to one: its
log-normaliser :math:`c` is one more parameter. NCE learns :math:`\theta = (\alpha, c)` by logistic
regression between :math:`T_d` data points :math:`x_t` and :math:`T_n = \nu T_d` points :math:`y_t`
drawn from a known noise density :math:`p_n`. With the log-ratio
:math:`G(u) = \log p_m(u;\theta) - \log p_n(u)` the posterior that a point is data is
:math:`h(u) = r_\nu(G(u))`, :math:`r_\nu(t) = 1/(1 + \nu e^{-t})`, and the estimator maximises

.. math::
    J_T(\theta) = \frac{1}{T_d}\Big\{\sum_{t=1}^{T_d} \log h(x_t)
                  + \sum_{t=1}^{T_n} \log\big(1 - h(y_t)\big)\Big\}.

The optimum of the population objective is :math:`G^* = \log p_d - \log p_n`, so the fitted
:math:`c` converges to the value that normalises the model.

API::

    logistic(t, nu=1.0)                                         # r_nu(t)
    nce_objective(log_model_data, log_model_noise, log_noise_data, log_noise_noise, nu=None)  # J_T
    UnnormalisedGaussian(dim)  .from_moments(mean, covariance, c=None)  model(u) -> log p_m(u)
    gaussian_log_normaliser(covariance)                         # log Z = 1/2 log det(2 pi Sigma)
    fit_nce(data, noise_dist, nu=1.0, steps=100, lr=None, seed=0, optimizer="lbfgs") -> GaussianFit
    fit_mle(data) -> GaussianFit
    nce_asymptotic_covariance(model, noise_dist, nu) -> AsymptoticCovariance

Everything runs in float64: the quantities of interest (errors of :math:`c` of order
:math:`10^{-3}`) are below float32's comfort zone once sums over :math:`10^5` points enter.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import ArrayLike
from torch import Tensor, nn
from torch.distributions import Distribution

from labfree._validate import covariance as _check_covariance

__all__ = [
    "logistic",
    "nce_objective",
    "UnnormalisedGaussian",
    "gaussian_log_normaliser",
    "GaussianFit",
    "fit_nce",
    "fit_mle",
    "AsymptoticCovariance",
    "nce_asymptotic_covariance",
]

DTYPE = torch.float64
OPTIMIZERS = ("lbfgs", "adam")
_DEFAULT_LR = {"lbfgs": 1.0, "adam": 0.05}
# nu given explicitly must equal T_n / T_d to this relative tolerance (see nce_objective)
_NU_RTOL = 1e-6


def _check_nu(nu: float) -> float:
    if isinstance(nu, bool) or not (isinstance(nu, numbers.Real) and math.isfinite(nu) and nu > 0):
        raise ValueError("nu (noise samples per data sample, T_n / T_d) must be a positive finite number; "
                         f"got {nu!r}.")
    return float(nu)


def logistic(t: Tensor, nu: float = 1.0) -> Tensor:
    r"""The logistic function with parameter :math:`\nu`: :math:`r_\nu(t) = 1 / (1 + \nu e^{-t})`.

    :math:`r_1` is the standard logistic (sigmoid) :math:`\sigma`; :math:`r_\nu(t) = \sigma(t - \log\nu)`,
    which is how it is computed (stable for large :math:`|t|`).
    """
    return torch.sigmoid(torch.as_tensor(t) - math.log(_check_nu(nu)))


def _as_vector(name: str, values: ArrayLike | Tensor) -> Tensor:
    t = torch.as_tensor(values)
    if not t.is_floating_point():
        t = t.to(DTYPE)
    if t.ndim != 1 or t.numel() == 0:
        raise ValueError(
            f"{name} must be a non-empty 1-D array of log-densities, one per sample; "
            f"got shape {tuple(t.shape)}."
        )
    if not bool(torch.isfinite(t).all()):
        raise ValueError(
            f"{name} contains NaN or Inf. A log-density of -inf means a point where the density is zero: "
            "choose a noise distribution that is positive wherever the data can be."
        )
    return t


def nce_objective(
    log_model_data: ArrayLike | Tensor,
    log_model_noise: ArrayLike | Tensor,
    log_noise_data: ArrayLike | Tensor,
    log_noise_noise: ArrayLike | Tensor,
    nu: float | None = None,
) -> Tensor:
    r"""The NCE objective :math:`J_T(\theta)` of Gutmann & Hyvärinen (2010), to be *maximised*.

    .. math::
        J_T = \frac{1}{T_d}\Big\{\sum_{t=1}^{T_d} \log r_\nu\big(G(x_t)\big)
              + \sum_{t=1}^{T_n} \log\big[1 - r_\nu\big(G(y_t)\big)\big]\Big\},\qquad
        G(u) = \log p_m(u;\theta) - \log p_n(u),

    with :math:`r_\nu(t) = 1/(1+\nu e^{-t})` (:func:`logistic`). It is the conditional
    log-likelihood of logistic regression between data (class 1) and noise (class 0) divided by
    :math:`T_d`; :math:`\log r_\nu(t) = \log\sigma(t - \log\nu)` and
    :math:`\log(1 - r_\nu(t)) = \log\sigma(\log\nu - t)` are evaluated stably.

    Args:
        log_model_data: :math:`\log p_m(x_t;\theta)` at the ``T_d`` data points (differentiable).
        log_model_noise: :math:`\log p_m(y_t;\theta)` at the ``T_n`` noise points.
        log_noise_data: :math:`\log p_n(x_t)`, the noise log-density at the data points.
        log_noise_noise: :math:`\log p_n(y_t)`, the noise log-density at the noise points.
        nu: :math:`\nu = T_n / T_d`. ``None`` (default) takes it from the lengths; an explicit value
            must agree with them, because :math:`\nu` is the prior odds of noise against data: a
            mismatch shifts the optimum of :math:`c` by :math:`\log(\nu T_d / T_n)`.

    Returns:
        Scalar tensor :math:`J_T \le 0`. A classifier that cannot tell the classes apart
        (:math:`G \equiv 0`) scores :math:`-\log(1+\nu) - \nu\log(1 + 1/\nu)`, i.e. :math:`-2\log 2`
        at :math:`\nu = 1`.
    """
    lmd = _as_vector("log_model_data", log_model_data)
    lmn = _as_vector("log_model_noise", log_model_noise)
    lnd = _as_vector("log_noise_data", log_noise_data)
    lnn = _as_vector("log_noise_noise", log_noise_noise)
    if lmd.shape != lnd.shape:
        raise ValueError(
            f"log_model_data and log_noise_data must be evaluated at the same T_d data points; "
            f"got lengths {lmd.numel()} and {lnd.numel()}."
        )
    if lmn.shape != lnn.shape:
        raise ValueError(
            f"log_model_noise and log_noise_noise must be evaluated at the same T_n noise points; "
            f"got lengths {lmn.numel()} and {lnn.numel()}."
        )
    t_d, t_n = lmd.numel(), lmn.numel()
    if nu is None:
        nu = t_n / t_d
    elif abs(_check_nu(nu) - t_n / t_d) > _NU_RTOL * (t_n / t_d):
        raise ValueError(
            f"nu={nu} but there are T_n={t_n} noise and T_d={t_d} data points (T_n / T_d = {t_n / t_d:.6g}); "
            "draw round(nu * T_d) noise points, or pass nu=None to use the ratio of the lengths."
        )
    log_nu = math.log(nu)
    g_data = lmd - lnd.to(lmd.dtype)
    g_noise = lmn - lnn.to(lmn.dtype)
    return (F.logsigmoid(g_data - log_nu).sum() + F.logsigmoid(log_nu - g_noise).sum()) / t_d


# --------------------------------------------------------------------------------------------------
# An unnormalised Gaussian model
# --------------------------------------------------------------------------------------------------


def gaussian_log_normaliser(covariance: ArrayLike) -> float:
    r"""Log-partition function of a Gaussian, :math:`\log Z = \tfrac12 \log\det(2\pi\Sigma)`.

    :math:`Z = \int \exp\{-\tfrac12 (u-\mu)^\top \Sigma^{-1} (u-\mu)\}\,du`, so the normalised
    log-density is :math:`-\tfrac12 (u-\mu)^\top\Sigma^{-1}(u-\mu) - \log Z`: the correct
    log-normaliser of :class:`UnnormalisedGaussian` is :math:`c^* = -\log Z`. A scalar is read as
    a 1-D variance :math:`\sigma^2`.
    """
    cov = np.atleast_2d(np.asarray(covariance, dtype=np.float64))
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1]:
        raise ValueError(f"covariance must be a variance or a square (d, d) matrix; got shape {cov.shape}.")
    cov = _check_covariance(cov, "covariance")  # finite, symmetric, positive definite (by Cholesky)
    _, logdet = np.linalg.slogdet(2 * np.pi * cov)
    return float(0.5 * logdet)


class UnnormalisedGaussian(nn.Module):
    r"""A Gaussian log-density with a free log-normaliser, :math:`\log p_m(u) = -\tfrac12
    (u-\mu)^\top \Lambda (u-\mu) + c`; in 1-D :math:`-\tfrac12 (u-\mu)^2/\sigma^2 + c`.

    Nothing ties :math:`c` to :math:`\mu, \Lambda`: the model is normalised only when
    :math:`c = -\log Z = \tfrac12\log\det\Lambda - \tfrac d2 \log 2\pi` (:meth:`normalising_c`).
    This is the model Gutmann & Hyvärinen (2010) estimate by NCE.

    Parameters (float64, in this order for :func:`nce_asymptotic_covariance`):

    * ``mean`` :math:`\mu`, shape ``(d,)``;
    * ``log_diag``, shape ``(d,)``, and ``off_diag``, the ``d(d-1)/2`` strictly-lower entries, of
      the Cholesky factor :math:`L` of the precision :math:`\Lambda = L L^\top`, with
      :math:`L_{ii} = e^{\text{log\_diag}_i}` so that :math:`\Lambda` is positive definite for any
      value. In 1-D, ``log_diag`` :math:`= -\log\sigma`;
    * ``c``, a scalar.

    Args:
        dim: dimension ``d`` of the data. Starts at :math:`\mu = 0`, :math:`\Lambda = I`, :math:`c = 0`.
    """

    def __init__(self, dim: int = 1) -> None:
        super().__init__()
        if not (isinstance(dim, int) and dim >= 1):
            raise ValueError(f"dim must be a positive integer (the data dimension); got {dim!r}.")
        self.dim = dim
        self.mean = nn.Parameter(torch.zeros(dim, dtype=DTYPE))
        self.log_diag = nn.Parameter(torch.zeros(dim, dtype=DTYPE))
        self.off_diag = nn.Parameter(torch.zeros(dim * (dim - 1) // 2, dtype=DTYPE))
        self.c = nn.Parameter(torch.zeros((), dtype=DTYPE))
        self.register_buffer("_rows", torch.tril_indices(dim, dim, offset=-1)[0], persistent=False)
        self.register_buffer("_cols", torch.tril_indices(dim, dim, offset=-1)[1], persistent=False)

    @classmethod
    def from_moments(cls, mean: ArrayLike, covariance: ArrayLike,
                     c: float | None = None) -> UnnormalisedGaussian:
        """A model with the given mean and covariance; ``c=None`` sets the normalising value."""
        mu = np.atleast_1d(np.asarray(mean, dtype=np.float64))
        cov = np.atleast_2d(np.asarray(covariance, dtype=np.float64))
        if mu.ndim != 1 or cov.shape != (mu.size, mu.size):
            raise ValueError(f"mean must be (d,) and covariance (d, d); got {mu.shape} and {cov.shape}.")
        gaussian_log_normaliser(cov)  # validates positive definiteness
        chol = np.linalg.cholesky(np.linalg.inv(cov))
        model = cls(mu.size)
        with torch.no_grad():
            model.mean.copy_(torch.from_numpy(mu))
            model.log_diag.copy_(torch.from_numpy(np.log(np.diag(chol)).copy()))
            rows, cols = np.tril_indices(mu.size, k=-1)
            model.off_diag.copy_(torch.from_numpy(chol[rows, cols].copy()))
            model.c.fill_(-gaussian_log_normaliser(cov) if c is None else float(c))
        return model

    def cholesky(self) -> Tensor:
        """The lower-triangular factor :math:`L` of the precision, ``(d, d)``."""
        chol = torch.diag(self.log_diag.exp())
        return chol.index_put((self._rows, self._cols), self.off_diag)

    def precision(self) -> Tensor:
        r""":math:`\Lambda = L L^\top`, ``(d, d)``."""
        chol = self.cholesky()
        return chol @ chol.T

    def covariance(self) -> Tensor:
        r""":math:`\Sigma = \Lambda^{-1}`, ``(d, d)``."""
        return torch.cholesky_inverse(self.cholesky())

    def normalising_c(self) -> Tensor:
        r"""The :math:`c` that would normalise the current :math:`\mu, \Lambda`:
        :math:`\tfrac12\log\det\Lambda - \tfrac d2\log 2\pi
        = \sum_i \text{log\_diag}_i - \tfrac d2\log 2\pi`."""
        return self.log_diag.sum() - 0.5 * self.dim * math.log(2 * math.pi)

    def parameter_names(self) -> tuple[str, ...]:
        """Names of the scalar parameters, in the order of :meth:`parameter_gradients`."""
        d = self.dim
        return tuple([f"mean[{i}]" for i in range(d)] + [f"log_diag[{i}]" for i in range(d)]
                     + [f"off_diag[{k}]" for k in range(d * (d - 1) // 2)] + ["c"])

    @torch.no_grad()
    def parameter_gradients(self, u: Tensor) -> Tensor:
        r"""Per-point gradients :math:`\nabla_\theta \log p_m(u;\theta)`, shape ``(n, P)``, in the
        order ``mean, log_diag, off_diag, c`` (closed form; the tests check it against autograd).

        With :math:`\delta = u - \mu` and :math:`w = L^\top\delta`:
        :math:`\partial_\mu = \Lambda\delta`, :math:`\partial_{L_{ij}} = -\delta_i w_j`
        (times :math:`L_{ii}` for ``log_diag``) and :math:`\partial_c = 1`.
        """
        delta = _as_points(u, self.dim, "u") - self.mean
        chol = self.cholesky()
        w = delta @ chol
        d_chol = -delta[:, :, None] * w[:, None, :]  # (n, d, d)
        idx = torch.arange(self.dim)
        return torch.cat([
            w @ chol.T,
            d_chol[:, idx, idx] * chol.diagonal(),
            d_chol[:, self._rows, self._cols],
            torch.ones(delta.shape[0], 1, dtype=delta.dtype),
        ], dim=1)

    def forward(self, u: Tensor) -> Tensor:
        r"""Unnormalised log-density :math:`\log p_m(u)` at ``u`` of shape ``(n, d)`` (or ``(n,)`` if
        ``d = 1``); returns ``(n,)``."""
        u = _as_points(u, self.dim, "u")
        # (u - mu)^T L L^T (u - mu) = ||L^T (u - mu)||^2
        white = (u - self.mean) @ self.cholesky()
        return -0.5 * white.pow(2).sum(dim=1) + self.c


def _as_points(x: ArrayLike | Tensor, dim: int | None, name: str) -> Tensor:
    t = torch.as_tensor(x).to(DTYPE)
    if t.ndim == 1:
        t = t[:, None]
    if t.ndim != 2 or t.shape[0] == 0:
        raise ValueError(
            f"{name} must be a non-empty array of shape (n, d) (or (n,) for 1-D data); got {tuple(t.shape)}."
        )
    if dim is not None and t.shape[1] != dim:
        raise ValueError(f"{name} has dimension {t.shape[1]} but the model is {dim}-D.")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} contains NaN or Inf; drop or impute those points first.")
    return t


def _noise_log_prob(noise_dist: Distribution, u: Tensor) -> Tensor:
    """``log p_n(u)`` for points ``(n, d)``, accepting univariate (event_shape ``()``) noise in 1-D."""
    if tuple(noise_dist.event_shape) == ():
        if u.shape[1] != 1:
            raise ValueError(
                f"noise_dist is univariate but the data are {u.shape[1]}-D; use a "
                "torch.distributions.MultivariateNormal (or Independent) of the data's dimension."
            )
        return noise_dist.log_prob(u[:, 0]).to(DTYPE)
    return noise_dist.log_prob(u).to(DTYPE)


def _sample_noise(noise_dist: Distribution, n: int, dim: int, seed: int) -> Tensor:
    if not isinstance(noise_dist, Distribution):
        raise TypeError(
            "noise_dist must be a torch.distributions.Distribution with sample() and log_prob(), e.g. "
            f"torch.distributions.Normal(0.0, 2.0); got {type(noise_dist).__name__}."
        )
    event = tuple(noise_dist.event_shape)
    if event == () and dim != 1:
        raise ValueError(
            f"noise_dist is univariate (event_shape ()) but the data are {dim}-D; use a "
            "torch.distributions.MultivariateNormal (or Independent) of the data's dimension."
        )
    if event not in ((), (dim,)):
        raise ValueError(f"noise_dist has event_shape {event} but the data are {dim}-D; they must match.")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        y = noise_dist.sample((n,)).to(DTYPE)
    return y.reshape(n, dim)


@dataclass(frozen=True)
class GaussianFit:
    r"""A fitted Gaussian: ``mean`` ``(d,)``, ``covariance`` ``(d, d)``, log-normaliser ``c`` (for
    NCE the estimated parameter, for MLE :math:`-\log Z` of the fitted covariance), the final
    objective (:math:`J_T` for NCE, the mean log-likelihood for MLE) and the ``method``."""

    mean: np.ndarray
    covariance: np.ndarray
    c: float
    objective: float
    method: str

    @property
    def scale(self) -> np.ndarray:
        """Standard deviations ``sqrt(diag(covariance))``, ``(d,)``."""
        return np.sqrt(np.diag(self.covariance))


def fit_nce(
    data: ArrayLike | Tensor,
    noise_dist: Distribution,
    nu: float = 1.0,
    steps: int = 100,
    lr: float | None = None,
    seed: int = 0,
    optimizer: str = "lbfgs",
) -> GaussianFit:
    r"""Fit an :class:`UnnormalisedGaussian` (mean, precision *and* :math:`c`) by NCE.

    Draws :math:`T_n = \mathrm{round}(\nu T_d)` noise points from ``noise_dist`` and maximises
    :func:`nce_objective` over the full batch. The model starts equal to the noise (its mean and
    covariance if ``noise_dist`` has them, :math:`G \equiv 0` up to :math:`c`), i.e. a classifier
    that cannot tell the classes apart.

    Args:
        data: ``(T_d, d)`` or ``(T_d,)`` samples of the unknown density.
        noise_dist: a ``torch.distributions`` density with ``sample`` and ``log_prob``, positive
            wherever the data can be (e.g. ``Normal(0, 2)`` or ``MultivariateNormal``).
        nu: noise points per data point.
        steps: L-BFGS iterations (within one ``step``, strong-Wolfe line search) or Adam steps.
        lr: learning rate; default 1.0 for L-BFGS, 0.05 for Adam.
        seed: seeds the noise sample, so a fit is reproducible.
        optimizer: ``"lbfgs"`` (default; the objective is smooth and the batch small) or ``"adam"``.

    Returns:
        A :class:`GaussianFit` with ``method="nce"`` and ``objective`` the final :math:`J_T`.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {list(OPTIMIZERS)}.")
    if not (isinstance(steps, int) and steps >= 1):
        raise ValueError(f"steps must be a positive integer; got {steps!r}.")
    x = _as_points(data, None, "data")
    t_d, dim = x.shape
    t_n = round(_check_nu(nu) * t_d)
    if t_n < 1:
        raise ValueError(f"nu * T_d = {nu * t_d:.3g} rounds to no noise points; raise nu or use more data.")
    y = _sample_noise(noise_dist, t_n, dim, seed)
    zero_density = ("noise_dist has zero density at some data points; NCE needs p_n > 0 wherever p_d > 0: "
                    "use a noise distribution with full support, e.g. a Gaussian wider than the data.")
    try:
        log_noise_data = _noise_log_prob(noise_dist, x)
    except ValueError as err:  # torch's argument validation rejects points outside the support
        raise ValueError(zero_density) from err
    if not bool(torch.isfinite(log_noise_data).all()):
        raise ValueError(zero_density)
    log_noise_noise = _noise_log_prob(noise_dist, y)

    model = _start_at_noise(noise_dist, dim)

    def loss() -> Tensor:
        return -nce_objective(model(x), model(y), log_noise_data, log_noise_noise)

    lr = _DEFAULT_LR[optimizer] if lr is None else float(lr)
    if optimizer == "lbfgs":
        opt = torch.optim.LBFGS(model.parameters(), lr=lr, max_iter=steps, line_search_fn="strong_wolfe",
                                tolerance_grad=1e-12, tolerance_change=1e-15, history_size=20)

        def closure() -> Tensor:
            opt.zero_grad()
            value = loss()
            value.backward()
            return value

        opt.step(closure)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        for _ in range(steps):
            opt.zero_grad()
            loss().backward()
            opt.step()
    with torch.no_grad():
        objective = -float(loss())
        if not math.isfinite(objective):
            raise RuntimeError("NCE diverged (non-finite objective); lower lr or use optimizer='lbfgs'.")
        return GaussianFit(model.mean.numpy().copy(), model.covariance().numpy(), float(model.c), objective,
                           "nce")


def _start_at_noise(noise_dist: Distribution, dim: int) -> UnnormalisedGaussian:
    try:
        mean = noise_dist.mean.detach().to(DTYPE).reshape(dim).numpy()
        cov = (noise_dist.covariance_matrix if hasattr(noise_dist, "covariance_matrix")
               else torch.diag_embed(noise_dist.variance.reshape(dim)))
        cov = cov.detach().to(DTYPE).reshape(dim, dim).numpy()
        if not np.all(np.isfinite(cov)) or not np.all(np.isfinite(mean)):
            raise ValueError
        return UnnormalisedGaussian.from_moments(mean, cov)
    except (NotImplementedError, ValueError, RuntimeError, AttributeError):
        return UnnormalisedGaussian(dim)  # no usable moments (e.g. Cauchy): standard start


def fit_mle(data: ArrayLike | Tensor) -> GaussianFit:
    r"""Maximum-likelihood Gaussian in closed form: sample mean, biased sample covariance
    :math:`\frac1T\sum_t (x_t - \bar x)(x_t - \bar x)^\top`, and :math:`c = -\log Z` of that
    covariance (the likelihood is only defined for a normalised model). ``objective`` is the mean
    log-likelihood :math:`-\tfrac d2 - \log Z`."""
    x = _as_points(data, None, "data").numpy()
    if x.shape[0] < x.shape[1] + 1:
        raise ValueError("fit_mle needs more points than dimensions for a full-rank covariance; "
                         f"got {x.shape}.")
    mean = x.mean(axis=0)
    cov = np.atleast_2d(np.cov(x, rowvar=False, bias=True))
    log_z = gaussian_log_normaliser(cov)
    return GaussianFit(mean, cov, -log_z, -0.5 * x.shape[1] - log_z, "mle")


# --------------------------------------------------------------------------------------------------
# Asymptotic covariance (Gutmann & Hyvärinen 2012, Theorem 3)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AsymptoticCovariance:
    r"""Covariance :math:`\Sigma` of :math:`\sqrt{T_d}(\hat\theta - \theta^*)` over the named
    parameters of :class:`UnnormalisedGaussian` (``mean[i]``, ``log_diag[i]``, ``off_diag[k]``, ``c``)."""

    names: tuple[str, ...]
    matrix: np.ndarray

    def variance(self, name: str) -> float:
        """Asymptotic variance of one parameter (divide by :math:`T_d` for the estimator's variance)."""
        if name not in self.names:
            raise ValueError(f"unknown parameter {name!r}; choose one of {list(self.names)}.")
        i = self.names.index(name)
        return float(self.matrix[i, i])


def nce_asymptotic_covariance(
    model: UnnormalisedGaussian, noise_dist: Distribution, nu: float, n_samples: int = 200_000, seed: int = 0,
) -> AsymptoticCovariance:
    r"""Asymptotic covariance of NCE when the data follow the normalised ``model`` (Gutmann &
    Hyvärinen 2012, *JMLR* 13, Theorem 3):

    .. math::
        \Sigma = I_\nu^{-1} - \Big(1 + \frac1\nu\Big) I_\nu^{-1} m_\nu m_\nu^\top I_\nu^{-1},\quad
        I_\nu = \mathbb E_{p_d}\big[g g^\top P_\nu\big],\quad m_\nu = \mathbb E_{p_d}\big[g P_\nu\big],

    with :math:`g(u) = \nabla_\theta \log p_m(u;\theta^*)` and
    :math:`P_\nu(u) = \nu p_n(u) / (p_d(u) + \nu p_n(u))`. As :math:`\nu\to\infty`,
    :math:`P_\nu \to 1` and :math:`\Sigma` tends to the covariance of maximum likelihood (the
    Cramér–Rao bound of the normalised model, with :math:`c` following the precision).
    The expectations are Monte-Carlo averages over ``n_samples`` draws from ``model``.

    Args:
        model: the true parameters :math:`\theta^*`; must be normalised (``c`` = ``normalising_c()``).
        noise_dist: the noise density.
        nu: noise points per data point.
        n_samples, seed: Monte-Carlo sample size and seed.
    """
    nu = _check_nu(nu)
    with torch.no_grad():
        gap = abs(float(model.c - model.normalising_c()))
    if gap > 1e-9:
        raise ValueError(
            f"model is not normalised (c - normalising_c() = {gap:.3g}); the theorem assumes the data follow "
            "the model at theta*. Build it with UnnormalisedGaussian.from_moments(mean, covariance)."
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        truth = torch.distributions.MultivariateNormal(model.mean.detach(), model.covariance().detach())
        u = truth.sample((n_samples,))
    names = model.parameter_names()
    g = model.parameter_gradients(u)  # (n, P)
    with torch.no_grad():
        log_pd = model(u)
        log_pn = _noise_log_prob(noise_dist, u)
        p_nu = torch.sigmoid(math.log(nu) + log_pn - log_pd)  # nu p_n / (p_d + nu p_n)
        i_nu = (g * p_nu[:, None]).T @ g / n_samples
        m_nu = (g * p_nu[:, None]).mean(dim=0)
        i_inv = torch.linalg.inv(i_nu)
        sigma = i_inv - (1 + 1 / nu) * torch.outer(i_inv @ m_nu, i_inv @ m_nu)
    return AsymptoticCovariance(names, sigma.numpy())
