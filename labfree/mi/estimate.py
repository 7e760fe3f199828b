"""Training an estimator (the staircase benchmark of Poole et al. 2019) and the KSG kNN reference."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import nn

if TYPE_CHECKING:
    import pandas as pd

from .bounds import (
    MovingAverage,
    ba_bound,
    dv_bound,
    infonce_bound,
    mine_loss,
    nwj_bound,
)
from .gaussian import gaussian_entropy, sample_correlated_gaussians

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
                             f"{tuple(out.shape)}; a decoder such as GaussianConditional goes with "
                             "bound='ba'")
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
        raise ValueError("x, y contain repeated points; KSG needs continuous data "
                         "(add tiny noise to break ties)")
    radius = np.nextafter(eps, 0)  # "strictly within": shrink the closed ball by one ulp
    counts = [cKDTree(v).query_ball_point(v, radius, p=np.inf, return_length=True) - 1 for v in xs]
    return float(digamma(k) + digamma(n) - np.mean(digamma(counts[0] + 1) + digamma(counts[1] + 1)))
