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

from .bounds import MovingAverage, ba_bound, dv_bound, infonce_bound, mine_loss, nwj_bound
from .critics import ConcatCritic, GaussianConditional, GaussianOptimalCritic, SeparableCritic
from .discrete import (
    binary_entropy,
    conditional_entropy,
    entropy,
    joint_entropy,
    kl_divergence,
    marginals,
    mutual_information,
    random_distribution,
    random_joint,
)
from .estimate import BOUNDS, ksg_mi, train_estimator
from .gaussian import gaussian_entropy, gaussian_mi, rho_for_mi, sample_correlated_gaussians

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
