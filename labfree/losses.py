"""Self-supervised objectives, one small function each, plus the momentum-target helpers.

Every loss takes the batch it is given and nothing else: no global configuration, no implicit
world size. Inputs are 2-D float tensors ``(batch_size, dim)``; two views of the same batch must
have the same shape. Bad inputs (wrong ndim, mismatched views, NaN/Inf, a batch too small for the
objective) raise ``ValueError`` saying what to change. Each function returns a scalar tensor
(VICReg returns a :class:`VICRegTerms` tuple so the three terms can be plotted separately).
Under mixed precision, pass ``z.float()``: batch statistics and softmaxes want float32.

**API at a glance.**
Contrastive (negatives needed)::

    nt_xent(z1, z2, temperature=0.5)                       # SimCLR
    info_nce(query, positive_key, negative_keys, temperature)
    MoCoQueue(dim, length=4096)  .enqueue(k) -> evicted    # MoCo's FIFO of negative keys
    moco_loss(q, k, queue, temperature=0.2)                # MoCo-v2; then queue.enqueue(k)

Non-contrastive::

    negative_cosine(p, z)          simsiam_loss(p1, p2, z1, z2)          # SimSiam
    byol_loss(p1, p2, z1_target, z2_target)                              # BYOL
    invariance_term(z1, z2)  variance_term(z)  covariance_term(z)
    vicreg_loss(z1, z2, sim_weight=25, var_weight=25, cov_weight=1) -> VICRegTerms
    barlow_twins_loss(z1, z2, lambd=5e-3)                                # Barlow Twins

Metric learning (the ancestors of InfoNCE)::

    triplet_loss(anchor, positive, negative, margin=0.2)                 # FaceNet
    tuple_loss(anchor, positive, negatives)                              # (N+1)-tuple
    npair_loss(anchors, positives, temperature=1.0)                      # multi-class N-pair

Momentum targets (MoCo, BYOL)::

    target = momentum_copy(online)      # frozen deep copy
    ema_update(target, online, tau)     # xi <- tau * xi + (1 - tau) * theta, after optimizer.step()
    byol_tau(step, total, base_tau=0.996)

What each method needs (heads, target network, loss inputs, default hyper-parameters)::

    spec = method("simclr")   # a MethodSpec; METHODS maps every name to its spec

A training step, e.g. for BYOL (``online``/``target`` = encoder + projector)::

    p1, p2 = predictor(online(x1)), predictor(online(x2))
    with torch.no_grad():
        z1_target, z2_target = target(x1), target(x2)
    loss = byol_loss(p1, p2, z1_target, z2_target)
    loss.backward(); optimizer.step(); ema_update(target, online, byol_tau(step, total))

and for MoCo-v2 (``queue = MoCoQueue(projector.out_dim, spec.queue_length)``)::

    q = online(x1)
    with torch.no_grad():
        k = target(x2)
    loss = moco_loss(q, k, queue, **spec.loss_kwargs)
    loss.backward(); optimizer.step(); ema_update(target, online, spec.ema["tau"]); queue.enqueue(k)
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "nt_xent", "info_nce", "MoCoQueue", "moco_loss",
    "negative_cosine", "simsiam_loss", "byol_loss",
    "momentum_copy", "ema_update", "byol_tau",
    "invariance_term", "variance_term", "covariance_term", "VICRegTerms", "vicreg_loss",
    "barlow_twins_loss",
    "MethodSpec", "METHODS", "method",
    "triplet_loss", "tuple_loss", "npair_loss",
]


# --------------------------------------------------------------------------------------------
# Input validation shared by every loss
# --------------------------------------------------------------------------------------------

def _check_embeddings(name: str, t: Tensor, *, min_batch: int = 1, why: str = "") -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (batch_size, dim); got {type(t).__name__}.")
    if t.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (batch_size, dim); got shape {tuple(t.shape)}. "
            "Flatten per-sample features first, e.g. z.flatten(1)."
        )
    if not t.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor; got dtype {t.dtype}. Call .float() first.")
    if t.shape[0] < min_batch:
        raise ValueError(
            f"{name} has batch_size {t.shape[0]}, but {why or 'this loss'} needs at least {min_batch} "
            "samples. Use a larger batch (and drop_last=True in the DataLoader so the last batch is not "
            "short)."
        )
    if t.shape[1] < 1:
        raise ValueError(f"{name} has no feature dimensions (shape {tuple(t.shape)}).")


def _check_finite(**tensors: Tensor) -> None:
    # one device sync for all tensors instead of one per tensor
    flags = torch.stack([torch.isfinite(t).all() for t in tensors.values()])
    if bool(flags.all()):
        return
    bad = [name for name, ok in zip(tensors, flags.tolist()) if not ok]
    raise ValueError(
        f"{', '.join(bad)} contain(s) NaN or Inf. Training has probably diverged: lower the learning "
        "rate, check the input normalisation, or use gradient clipping."
    )


def _check_views(names: tuple[str, str], a: Tensor, b: Tensor, *, min_batch: int = 1, why: str = "") -> None:
    _check_embeddings(names[0], a, min_batch=min_batch, why=why)
    _check_embeddings(names[1], b, min_batch=min_batch, why=why)
    if a.shape != b.shape:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same shape (the two views of one batch, through "
            f"the same head); got {tuple(a.shape)} and {tuple(b.shape)}."
        )
    _check_finite(**{names[0]: a, names[1]: b})


def _check_temperature(temperature: float) -> None:
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a positive finite number (e.g. 0.5); got {temperature!r}.")


# --------------------------------------------------------------------------------------------
# Contrastive: SimCLR, InfoNCE, MoCo
# --------------------------------------------------------------------------------------------

def nt_xent(z1: Tensor, z2: Tensor, temperature: float = 0.5) -> Tensor:
    r"""NT-Xent (normalised temperature-scaled cross entropy), the SimCLR loss.

    Chen, Kornblith, Norouzi & Hinton (2020), *A Simple Framework for Contrastive Learning of
    Visual Representations*.

    Stack the views into :math:`2N` projections :math:`z_1,\dots,z_{2N}` (``z1`` then ``z2``), so
    the positive of :math:`i` is :math:`j(i) = i \pm N`. With
    :math:`s_{ik} = z_i^\top z_k / (\lVert z_i\rVert \lVert z_k\rVert)`,

    .. math::
        \ell_i = -\log \frac{\exp(s_{i,j(i)}/\tau)}{\sum_{k=1}^{2N} \mathbb 1_{[k\neq i]} \exp(s_{ik}/\tau)},
        \qquad \mathcal L = \frac{1}{2N}\sum_{i=1}^{2N} \ell_i .

    Each anchor has one positive and :math:`2N-2` negatives, so
    :math:`\log(1 + (2N-2)e^{-2/\tau}) \le \mathcal L` and collapsed embeddings give
    :math:`\log(2N-1)`.

    Args:
        z1, z2: projections of the two views, shape ``(N, D)``, row ``i`` of both from image ``i``.
            Any positive per-row scale is irrelevant (rows are L2-normalised here).
        temperature: :math:`\tau > 0`.

    Returns:
        Scalar tensor, the mean of :math:`\ell_i` over all :math:`2N` anchors.
    """
    _check_views(("z1", "z2"), z1, z2, min_batch=2,
                 why="a contrastive loss (each sample needs at least one negative)")
    _check_temperature(temperature)
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.T / temperature
    # an anchor is never its own negative
    self_mask = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    positives = (torch.arange(2 * n, device=z.device) + n) % (2 * n)  # i <-> i + N
    return F.cross_entropy(logits, positives)


def _check_negatives(negatives: object, reference: Tensor, names: tuple[str, str, str]) -> None:
    """Negatives are (M, D) shared by every row of ``reference`` (N, D), or (N, M, D) per row.

    ``names`` = (the negatives' name, what one negative is, the reference's name) for the messages.
    """
    name, item, ref = names
    if not isinstance(negatives, Tensor) or negatives.ndim not in (2, 3):
        got = tuple(negatives.shape) if isinstance(negatives, Tensor) else type(negatives).__name__
        raise ValueError(f"{name} must be (M, D) shared or (N, M, D) per {ref}; got {got}.")
    d = reference.shape[1]
    if negatives.shape[-1] != d or negatives.shape[-2] < 1:
        raise ValueError(f"{name} must hold at least one {item} of dimension {d} (the {ref}'s); "
                         f"got shape {tuple(negatives.shape)}.")
    if negatives.ndim == 3 and negatives.shape[0] != reference.shape[0]:
        raise ValueError(f"per-{ref} {name} must have batch_size {reference.shape[0]} in dim 0; "
                         f"got {tuple(negatives.shape)}.")


def info_nce(query: Tensor, positive_key: Tensor, negative_keys: Tensor, temperature: float) -> Tensor:
    r"""InfoNCE with explicit negatives (van den Oord, Li & Vinyals 2018, *Representation Learning
    with Contrastive Predictive Coding*); the form MoCo uses with its queue.

    With unit vectors :math:`\hat q_i, \hat k_i^+` and negatives :math:`\hat k_m`,

    .. math::
        \mathcal L = -\frac1N \sum_{i=1}^N \log
        \frac{\exp(\hat q_i^\top \hat k_i^+/\tau)}
             {\exp(\hat q_i^\top \hat k_i^+/\tau) + \sum_{m=1}^{M} \exp(\hat q_i^\top \hat k_m/\tau)} .

    Args:
        query: ``(N, D)``.
        positive_key: ``(N, D)``, the positive of each query.
        negative_keys: ``(M, D)`` shared by all queries (a MoCo queue) or ``(N, M, D)`` per query.
        temperature: :math:`\tau > 0`.

    Returns:
        Scalar tensor, a cross entropy with the positive as class 0 of :math:`M+1`.
    """
    _check_views(("query", "positive_key"), query, positive_key)
    _check_temperature(temperature)
    _check_negatives(negative_keys, query, ("negative_keys", "key", "query"))
    _check_finite(negative_keys=negative_keys)
    q = F.normalize(query, dim=-1)
    k_pos = F.normalize(positive_key, dim=-1)
    k_neg = F.normalize(negative_keys, dim=-1)
    l_pos = (q * k_pos).sum(dim=1, keepdim=True)
    l_neg = q @ k_neg.T if k_neg.ndim == 2 else torch.einsum("nd,nmd->nm", q, k_neg)
    logits = torch.cat([l_pos, l_neg], dim=1) / temperature
    labels = torch.zeros(q.shape[0], dtype=torch.long, device=q.device)
    return F.cross_entropy(logits, labels)


class MoCoQueue(nn.Module):
    """MoCo's memory of negative keys: a fixed-length first-in-first-out queue of unit vectors.

    He, Fan, Wu, Xie & Girshick (2020), *Momentum Contrast for Unsupervised Visual Representation
    Learning*. Like the reference implementation, the queue starts full of random unit vectors, so
    it always holds ``length`` keys; each :meth:`enqueue` overwrites the oldest ones. The keys are
    buffers: they follow ``.to(device)`` and are saved in ``state_dict``.

    Args:
        dim: key dimension (the projector's output width).
        length: number of keys kept (MoCo-v2 in the thesis: 4096).
        generator: optional ``torch.Generator`` for the random initial keys.
    """

    memory: Tensor
    ptr: Tensor

    def __init__(self, dim: int, length: int = 4096, *, generator: torch.Generator | None = None) -> None:
        super().__init__()
        if dim < 1 or length < 1:
            raise ValueError(f"MoCoQueue needs dim >= 1 and length >= 1; got dim={dim}, length={length}.")
        self.register_buffer("memory", F.normalize(torch.randn(length, dim, generator=generator), dim=1))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))  # slot of the oldest key

    def __len__(self) -> int:
        return self.memory.shape[0]

    @property
    def dim(self) -> int:
        return self.memory.shape[1]

    def keys(self) -> Tensor:
        """All keys, oldest first, shape ``(length, dim)`` (no gradient)."""
        return torch.roll(self.memory, -int(self.ptr), dims=0)

    @torch.no_grad()
    def enqueue(self, keys: Tensor) -> Tensor:
        """Append a batch of keys ``(B, dim)`` (L2-normalised, detached) and drop as many of the
        oldest. Returns the dropped keys, oldest first, shape ``(B, dim)``."""
        _check_embeddings("keys", keys)
        if keys.shape[1] != self.dim:
            raise ValueError(f"keys have dimension {keys.shape[1]} but the queue holds {self.dim}-d keys.")
        b = keys.shape[0]
        if b > len(self):
            raise ValueError(
                f"cannot enqueue {b} keys into a queue of length {len(self)}; use a queue at least as long "
                "as the batch_size."
            )
        _check_finite(keys=keys)
        slots = (int(self.ptr) + torch.arange(b, device=self.memory.device)) % len(self)
        evicted = self.memory[slots].clone()
        self.memory[slots] = F.normalize(keys.detach(), dim=1).to(self.memory.dtype)
        self.ptr.fill_((int(self.ptr) + b) % len(self))
        return evicted


def moco_loss(q: Tensor, k: Tensor, queue: MoCoQueue | Tensor, temperature: float = 0.2) -> Tensor:
    r"""MoCo-v2 loss: InfoNCE of queries against their keys and a queue of negative keys.

    He et al. (2020), *Momentum Contrast for Unsupervised Visual Representation Learning*;
    Chen, Fan, Girshick & He (2020), *Improved Baselines with Momentum Contrastive Learning*.

    .. math::
        \mathcal L = -\frac1N\sum_i \log
        \frac{\exp(\hat q_i^\top \hat k_i/\tau)}{\exp(\hat q_i^\top \hat k_i/\tau)
        + \sum_{m=1}^{M}\exp(\hat q_i^\top \hat k_m^{\text{queue}}/\tau)}

    with :math:`\operatorname{sg}` on the keys: :math:`k` comes from the momentum (key) encoder and
    receives no gradient. Update the queue *after* computing the loss: ``queue.enqueue(k)``.
    The function does not enqueue itself, so calling it has no side effects. The MoCo-v2 paper uses
    :math:`\tau = 0.2` (the default); the thesis' CIFAR runs use 0.1 (see ``METHODS``). To
    symmetrise, call it twice with the views swapped and average.

    Args:
        q: queries from the online encoder + projector, ``(N, D)``.
        k: keys of the other view from the momentum encoder + projector, ``(N, D)``.
        queue: a :class:`MoCoQueue` or an ``(M, D)`` tensor of negative keys.
        temperature: :math:`\tau > 0`.
    """
    _check_views(("q", "k"), q, k)
    negatives = queue.keys() if isinstance(queue, MoCoQueue) else queue
    if not isinstance(negatives, Tensor) or negatives.ndim != 2:
        got = tuple(negatives.shape) if isinstance(negatives, Tensor) else type(negatives).__name__
        raise ValueError(f"queue must be a MoCoQueue or an (M, D) tensor of negative keys; got {got}.")
    return info_nce(q, k.detach(), negatives.detach(), temperature)


# --------------------------------------------------------------------------------------------
# Non-contrastive with a predictor: SimSiam, BYOL
# --------------------------------------------------------------------------------------------

def negative_cosine(p: Tensor, z: Tensor, stop_gradient: bool = True) -> Tensor:
    r"""Negative cosine similarity with a stop-gradient on the target, SimSiam's :math:`\mathcal D`.

    Chen & He (2021), *Exploring Simple Siamese Representation Learning*.

    .. math::
        \mathcal D(p, z) = -\frac1N\sum_{i=1}^N
        \frac{p_i^\top \operatorname{sg}(z_i)}{\lVert p_i\rVert\,\lVert z_i\rVert}
        \in [-1, 1]

    Args:
        p: predictions ``(N, D)`` (receive gradient).
        z: targets ``(N, D)`` (detached: no gradient flows into ``z``).
        stop_gradient: ``False`` lets the gradient flow into ``z`` too — SimSiam's ablation, which
            collapses (Chen & He 2021, sec. 4.1).
    """
    _check_views(("p", "z"), p, z)
    return -F.cosine_similarity(p, z.detach() if stop_gradient else z, dim=1).mean()


def simsiam_loss(p1: Tensor, p2: Tensor, z1: Tensor, z2: Tensor, stop_gradient: bool = True) -> Tensor:
    r"""Symmetric SimSiam loss (Chen & He 2021, *Exploring Simple Siamese Representation Learning*).

    .. math::
        \mathcal L = \tfrac12\,\mathcal D(p_1, z_2) + \tfrac12\,\mathcal D(p_2, z_1),

    where :math:`p_i = h(z_i)` is the predictor's output and :math:`\mathcal D` is
    :func:`negative_cosine` (stop-gradient on :math:`z`). Minimum :math:`-1`.

    Args:
        p1, p2: predictions for views 1 and 2, ``(N, D)``.
        z1, z2: projections of views 1 and 2, ``(N, D)`` (detached inside).
        stop_gradient: ``False`` removes the stop-gradient (the ablation that collapses).
    """
    return 0.5 * negative_cosine(p1, z2, stop_gradient) + 0.5 * negative_cosine(p2, z1, stop_gradient)


def byol_loss(p1: Tensor, p2: Tensor, z1_target: Tensor, z2_target: Tensor) -> Tensor:
    r"""BYOL loss: symmetric normalised mean squared error, :math:`2 - 2\cos`.

    Grill et al. (2020), *Bootstrap Your Own Latent: A New Approach to Self-Supervised Learning*.

    .. math::
        \mathcal L = \frac1N\sum_i \Big\lVert \bar p_{1,i} - \bar z'_{2,i}\Big\rVert_2^2
        + \frac1N\sum_i \Big\lVert \bar p_{2,i} - \bar z'_{1,i}\Big\rVert_2^2,
        \qquad \lVert \bar a - \bar b\rVert^2 = 2 - 2\cos(a, b),

    where bars denote L2 normalisation, :math:`p_v` is the online prediction for view :math:`v` and
    :math:`z'_v` the target network's projection of view :math:`v` (stop-gradient). Range
    :math:`[0, 8]`.

    Args:
        p1, p2: online predictions for views 1 and 2, ``(N, D)``.
        z1_target, z2_target: target projections of views 1 and 2, ``(N, D)`` (detached inside).
            ``p1`` is paired with ``z2_target`` and ``p2`` with ``z1_target``.
    """
    _check_views(("p1", "z2_target"), p1, z2_target)
    _check_views(("p2", "z1_target"), p2, z1_target)
    loss_12 = 2 - 2 * F.cosine_similarity(p1, z2_target.detach(), dim=1)
    loss_21 = 2 - 2 * F.cosine_similarity(p2, z1_target.detach(), dim=1)
    return loss_12.mean() + loss_21.mean()


def momentum_copy(online: nn.Module) -> nn.Module:
    """A deep copy of ``online`` with ``requires_grad=False``: the initial target / key network
    (:math:`\\xi = \\theta` at step 0) for BYOL and MoCo."""
    target = copy.deepcopy(online)
    target.requires_grad_(False)
    return target


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, tau: float, *, copy_buffers: bool = True) -> None:
    r"""Exponential moving average of parameters, in place:
    :math:`\xi \leftarrow \tau\,\xi + (1-\tau)\,\theta`.

    BYOL (Grill et al. 2020) and MoCo (He et al. 2020, where :math:`\tau` is called :math:`m`).
    Call after ``optimizer.step()``. Buffers (BatchNorm running statistics) are not averaged; with
    ``copy_buffers=True`` they are copied from ``online`` so the target is usable in eval mode.
    (During training the target runs in train mode and uses batch statistics, so buffers do not
    enter the loss.)

    Args:
        target: the momentum network (parameters :math:`\xi`), same architecture as ``online``.
        online: the trained network (parameters :math:`\theta`).
        tau: :math:`\tau \in [0, 1]`; 1 freezes the target, 0 copies the online network.
    """
    if not (0.0 <= tau <= 1.0):
        raise ValueError(f"tau must be in [0, 1] (e.g. 0.99 for MoCo, 0.996 for BYOL); got {tau}.")
    target_params = dict(target.named_parameters())
    online_params = dict(online.named_parameters())
    if target_params.keys() != online_params.keys():
        missing = sorted(set(online_params) ^ set(target_params))[:5]
        raise ValueError(
            f"target and online networks differ in their parameters (e.g. {missing}); build the target "
            "with momentum_copy(online)."
        )
    for name, xi in target_params.items():
        theta = online_params[name]
        if xi.shape != theta.shape:
            raise ValueError(
                f"parameter {name!r} has shape {tuple(xi.shape)} in target but {tuple(theta.shape)} online."
            )
        xi.mul_(tau).add_(theta.detach(), alpha=1.0 - tau)
    if copy_buffers:
        online_buffers = dict(online.named_buffers())
        for name, buf in target.named_buffers():
            if name in online_buffers:
                buf.copy_(online_buffers[name])


def byol_tau(step: int, total: int, base_tau: float = 0.996) -> float:
    r"""BYOL's cosine schedule for the EMA rate (Grill et al. 2020):

    .. math::
        \tau_k = 1 - (1 - \tau_{\text{base}})\,\frac{\cos(\pi k / K) + 1}{2},

    rising from ``base_tau`` at step :math:`k=0` to 1 at :math:`k=K` (``total`` steps).
    """
    if total < 1:
        raise ValueError(f"total must be the number of training steps (>= 1); got {total}.")
    if not (0 <= step <= total):
        raise ValueError(f"step must be in [0, total={total}]; got {step}.")
    if not (0.0 <= base_tau <= 1.0):
        raise ValueError(f"base_tau must be in [0, 1]; got {base_tau}.")
    return 1.0 - (1.0 - base_tau) * (math.cos(math.pi * step / total) + 1.0) / 2.0


# --------------------------------------------------------------------------------------------
# Redundancy reduction: VICReg, Barlow Twins
# --------------------------------------------------------------------------------------------

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
    _check_finite(z=z)
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
    _check_finite(z=z)
    n, d = z.shape
    zc = z - z.mean(dim=0)
    cov = zc.T @ zc / (n - 1)
    off_diagonal = cov - torch.diag_embed(torch.diagonal(cov))
    return off_diagonal.pow(2).sum() / d


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
    n = z1.shape[0]

    def standardise(z: Tensor) -> Tensor:
        return (z - z.mean(dim=0)) / torch.sqrt(z.var(dim=0, unbiased=False) + eps)

    c = standardise(z1).T @ standardise(z2) / n
    on_diagonal = torch.diagonal(c)
    off_diagonal = c - torch.diag_embed(on_diagonal)
    return (1 - on_diagonal).pow(2).sum() + lambd * off_diagonal.pow(2).sum()


# --------------------------------------------------------------------------------------------
# What each method needs: data for the training loop
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MethodSpec:
    """How to train one self-supervised method. Pure data; the training loop reads it.

    Attributes:
        name: method name (a key of ``METHODS``).
        loss: the loss function in this module.
        inputs: the loss' positional arguments, by the book's names. ``z`` = online projector output,
            ``p`` = predictor output, ``*_target`` / ``k`` = momentum (target) network's projection
            (computed under ``torch.no_grad()``), ``q`` = online projection used as a query,
            ``queue`` = a :class:`MoCoQueue`.
        projector: name of the projector builder in ``labfree.models.HEADS``.
        predictor: name of the predictor builder in ``labfree.models.HEADS``, or ``None``.
        momentum_target: whether a target copy of encoder + projector is kept with :func:`ema_update`.
        loss_kwargs: default keyword arguments of ``loss``.
        ema: ``{"tau": 0.99, "schedule": "constant"}`` (MoCo) or ``{"tau": 0.996, "schedule":
            "cosine"}`` (BYOL, :func:`byol_tau`); empty without a target network.
        queue_length: length of the :class:`MoCoQueue`, or ``None``.
        optimizer: default optimisation recipe (SGD, one-cycle with cyclic momentum).
        cite: key in ``references.bib``.
        source: where the numbers come from.

    The dicts are shared defaults: override with ``dataclasses.replace(spec, loss_kwargs={...})`` or
    copy them (``{**spec.loss_kwargs, "temperature": 0.2}``) rather than mutating them.
    """

    name: str
    loss: Callable[..., Tensor | VICRegTerms]
    inputs: tuple[str, ...]
    projector: str
    predictor: str | None
    momentum_target: bool
    loss_kwargs: dict[str, float] = field(default_factory=dict)
    ema: dict[str, float | str] = field(default_factory=dict)
    queue_length: int | None = None
    optimizer: dict[str, object] = field(default_factory=dict)
    cite: str = ""
    source: str = ""


def _recipe(lr: float, weight_decay: float, epochs: int) -> dict[str, object]:
    return {
        "name": "sgd", "lr": lr, "weight_decay": weight_decay, "epochs": epochs, "batch_size": 512,
        "schedule": "one_cycle", "momentum": (0.85, 0.95),
    }


def _lars_recipe() -> dict[str, object]:
    # VICReg and Barlow Twins train with LARS in their papers. With the 3x2048 heads, plain SGD at
    # the thesis' lr 0.06 diverges within two epochs on shapes (measured); LARS at lr 0.3 with the
    # papers' small weight decay trains stably. A labfree choice, not a published CIFAR recipe.
    return {**_recipe(lr=0.3, weight_decay=1e-6, epochs=800), "name": "lars"}


_THESIS = ("label-free evaluation thesis (seed 000), sec. 4.1.2: ResNet-18L on CIFAR, SGD with a "
           "one-cycle schedule and momentum cycled 0.85-0.95; batch_size 512 (sec. 3.1.2)")
_LABFREE_CHOICE = ("the seeds give no CIFAR recipe for this method: loss and head settings follow the "
                   "paper; the SGD recipe reuses the thesis' SimSiam values (lr 0.06, weight decay 5e-4, "
                   "800 epochs; LARS at lr 0.3 for VICReg and Barlow Twins), a labfree choice, not a published result")

METHODS: Mapping[str, MethodSpec] = MappingProxyType({
    "simclr": MethodSpec(
        name="simclr", loss=nt_xent, inputs=("z1", "z2"),
        projector="simclr_projector", predictor=None, momentum_target=False,
        loss_kwargs={"temperature": 0.5},
        optimizer=_recipe(lr=0.5, weight_decay=1e-4, epochs=1000),
        cite="chen2020simclr", source=_THESIS,
    ),
    "moco_v2": MethodSpec(
        name="moco_v2", loss=moco_loss, inputs=("q", "k", "queue"),
        projector="moco_v2_projector", predictor=None, momentum_target=True,
        loss_kwargs={"temperature": 0.1},
        ema={"tau": 0.99, "schedule": "constant"}, queue_length=4096,
        optimizer=_recipe(lr=0.06, weight_decay=5e-4, epochs=800),
        cite="chen2020mocov2", source=_THESIS,
    ),
    "simsiam": MethodSpec(
        name="simsiam", loss=simsiam_loss, inputs=("p1", "p2", "z1", "z2"),
        projector="simsiam_projector", predictor="simsiam_predictor", momentum_target=False,
        optimizer=_recipe(lr=0.06, weight_decay=5e-4, epochs=800),
        cite="chen2021simsiam", source=_THESIS,
    ),
    "byol": MethodSpec(
        name="byol", loss=byol_loss, inputs=("p1", "p2", "z1_target", "z2_target"),
        projector="byol_projector", predictor="byol_predictor", momentum_target=True,
        ema={"tau": 0.996, "schedule": "cosine"},
        optimizer=_recipe(lr=0.06, weight_decay=5e-4, epochs=800),
        cite="grill2020byol",
        source="EMA xi <- tau xi + (1 - tau) theta (seed 002, ch. 8); " + _LABFREE_CHOICE,
    ),
    "vicreg": MethodSpec(
        name="vicreg", loss=vicreg_loss, inputs=("z1", "z2"),
        projector="vicreg_expander", predictor=None, momentum_target=False,
        loss_kwargs={"sim_weight": 25.0, "var_weight": 25.0, "cov_weight": 1.0},
        optimizer=_lars_recipe(),
        cite="bardes2022vicreg",
        source="variance weight mu = 25 (seed 003); lambda = 25, nu = 1 from the paper; " + _LABFREE_CHOICE,
    ),
    "barlow_twins": MethodSpec(
        name="barlow_twins", loss=barlow_twins_loss, inputs=("z1", "z2"),
        projector="barlow_projector", predictor=None, momentum_target=False,
        loss_kwargs={"lambd": 5e-3},
        optimizer=_lars_recipe(),
        cite="zbontar2021barlow",
        source=("objective and its (d, lambda) sweep (seed 001); lambda = 5e-3 from the paper; "
                + _LABFREE_CHOICE),
    ),
})


def method(name: str) -> MethodSpec:
    """The :class:`MethodSpec` of a method; ``ValueError`` listing the choices for an unknown name."""
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown self-supervised method {name!r}; choose one of {sorted(METHODS)}."
        ) from None


# --------------------------------------------------------------------------------------------
# Deep metric learning: triplet, (N+1)-tuple and multi-class N-pair losses
# --------------------------------------------------------------------------------------------

def _check_margin(margin: float) -> None:
    if not (isinstance(margin, (int, float)) and math.isfinite(margin) and margin >= 0):
        raise ValueError(f"margin must be a non-negative finite number (FaceNet: 0.2); got {margin!r}.")


def triplet_loss(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 0.2,
                 squared: bool = True) -> Tensor:
    r"""Triplet loss with a margin (Schroff, Kalenichenko & Philbin 2015, *FaceNet: A Unified
    Embedding for Face Recognition and Clustering*).

    For triplets :math:`(f_i, f_i^+, f_i^-)` of anchor, positive and negative embeddings,

    .. math::
        \mathcal L = \frac1N \sum_{i=1}^N \max\big(0,\; d(f_i, f_i^+) - d(f_i, f_i^-) + \alpha\big),
        \qquad d(a, b) = \lVert a - b\rVert_2^2 \ (\texttt{squared=True}) \text{ or } \lVert a - b\rVert_2 .

    A triplet stops contributing (zero loss, zero gradient) once its negative is farther than its
    positive by the margin :math:`\alpha`: most random triplets are such *easy* triplets, hence
    FaceNet's mining of hard / semi-hard negatives. FaceNet L2-normalises its embeddings (so
    :math:`\alpha = 0.2` is on the unit sphere) and sums over triplets; this function uses the
    embeddings as given and averages. Pass ``F.normalize(f, dim=1)`` to reproduce FaceNet's scale.

    Args:
        anchor, positive, negative: ``(N, D)`` embeddings, row ``i`` of the three forming triplet ``i``.
        margin: :math:`\alpha \ge 0`.
        squared: squared Euclidean distances (FaceNet) or plain Euclidean distances.

    Returns:
        Scalar tensor, the mean hinge over the ``N`` triplets.
    """
    _check_views(("anchor", "positive"), anchor, positive)
    _check_views(("anchor", "negative"), anchor, negative)
    _check_margin(margin)
    if squared:
        d_pos = (anchor - positive).pow(2).sum(dim=1)
        d_neg = (anchor - negative).pow(2).sum(dim=1)
    else:
        # vector_norm's gradient at a zero distance is 0, where sqrt(sum of squares) would give NaN
        d_pos = torch.linalg.vector_norm(anchor - positive, dim=1)
        d_neg = torch.linalg.vector_norm(anchor - negative, dim=1)
    return F.relu(d_pos - d_neg + margin).mean()


def tuple_loss(anchor: Tensor, positive: Tensor, negatives: Tensor) -> Tensor:
    r"""The :math:`(N+1)`-tuple loss (Sohn 2016, *Improved Deep Metric Learning with Multi-class
    N-pair Loss Objective*): one anchor against one positive and several negatives at once.

    .. math::
        \ell(f, f^+, \{f_m^-\}) = \log\Big(1 + \sum_{m=1}^{M} \exp\big(f^\top f_m^- - f^\top f^+\big)\Big)
        = -\log\frac{e^{f^\top f^+}}{e^{f^\top f^+} + \sum_m e^{f^\top f_m^-}},

    a softmax cross-entropy with the positive as the correct class among :math:`M + 1`
    (Sohn's :math:`N + 1` with :math:`M = N - 1` negatives). With one negative it is
    :math:`\mathrm{softplus}(f^\top f^- - f^\top f^+)`, a smooth margin-free version of the triplet
    hinge. Inner products of the raw embeddings, no temperature and no normalisation, as in Sohn
    (2016), who keeps the norms in check with an L2 penalty on the embeddings (add it yourself).

    Args:
        anchor: ``(N, D)``, a batch of anchors :math:`f`.
        positive: ``(N, D)``, the positive of each anchor.
        negatives: ``(M, D)`` shared by all anchors, or ``(N, M, D)`` per anchor.

    Returns:
        Scalar tensor, the mean of :math:`\ell` over the ``N`` anchors.
    """
    _check_views(("anchor", "positive"), anchor, positive)
    _check_negatives(negatives, anchor, ("negatives", "embedding", "anchor"))
    _check_finite(negatives=negatives)
    s_pos = (anchor * positive).sum(dim=1, keepdim=True)
    s_neg = anchor @ negatives.T if negatives.ndim == 2 else torch.einsum("nd,nmd->nm", anchor, negatives)
    logits = torch.cat([s_pos, s_neg], dim=1)
    labels = torch.zeros(anchor.shape[0], dtype=torch.long, device=anchor.device)
    return F.cross_entropy(logits, labels)


def npair_loss(anchors: Tensor, positives: Tensor, temperature: float = 1.0) -> Tensor:
    r"""Multi-class N-pair loss (Sohn 2016): :math:`N` pairs from :math:`N` different classes, each
    anchor's positive is every other anchor's negative.

    .. math::
        \mathcal L = \frac1N \sum_{i=1}^N \log\Big(1 + \sum_{j\ne i}
        \exp\big((f_i^\top f_j^+ - f_i^\top f_i^+)/\tau\big)\Big)
        = \frac1N\sum_{i=1}^N -\log\frac{e^{f_i^\top f_i^+/\tau}}{\sum_{j=1}^N e^{f_i^\top f_j^+/\tau}} .

    The :math:`2N` embeddings yield all :math:`N^2` anchor–candidate scores in one matrix product,
    where :math:`N` separate :math:`(N+1)`-tuples would need :math:`N(N+1)` embeddings. Sohn's
    loss is :math:`\tau = 1` on raw embeddings. It equals InfoNCE's cross entropy with the
    separable critic :math:`f(x, y) = f_x^\top f_y/\tau`, so the InfoNCE bound is
    :math:`I_{\mathrm{NCE}} = \log N - \mathcal L` (van den Oord et al. 2018; Poole et al. 2019).
    Like Sohn's, this is one-directional (anchors against positives; symmetrise by averaging
    with ``npair_loss(positives, anchors)``), and unlike NT-Xent it has no same-view negatives.

    Args:
        anchors, positives: ``(N, D)``, row ``i`` of both from class / image ``i``; :math:`N \ge 2`.
        temperature: :math:`\tau > 0` dividing every score (1 in Sohn 2016).

    Returns:
        Scalar tensor, the mean over the ``N`` anchors.
    """
    _check_views(("anchors", "positives"), anchors, positives, min_batch=2,
                 why="the N-pair loss (each anchor needs another pair's positive as its negative)")
    _check_temperature(temperature)
    logits = anchors @ positives.T / temperature
    labels = torch.arange(anchors.shape[0], device=anchors.device)
    return F.cross_entropy(logits, labels)
