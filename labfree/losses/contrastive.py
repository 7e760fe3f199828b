"""Contrastive objectives: SimCLR's NT-Xent, InfoNCE, MoCo's queue and loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import (
    _check_embeddings,
    _check_negatives,
    _check_temperature,
    _check_views,
)


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
    buffers: they follow ``.to(device)`` and are saved in ``state_dict``. Neither :meth:`keys` nor
    :meth:`enqueue` reads a value back to the host (the write position stays on the device), and
    neither checks the keys for NaN/Inf: the training step does, once per step.

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

    def _slots(self, count: int) -> Tensor:
        # the next ``count`` slots from the oldest key on, computed on the device (no host sync)
        return (self.ptr + torch.arange(count, device=self.memory.device)) % len(self)

    def keys(self) -> Tensor:
        """All keys, oldest first, shape ``(length, dim)`` (no gradient)."""
        return self.memory[self._slots(len(self))]

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
        slots = self._slots(b)
        evicted = self.memory[slots]  # indexing with a tensor copies
        self.memory[slots] = F.normalize(keys.detach(), dim=1).to(self.memory.dtype)
        self.ptr.copy_((self.ptr + b) % len(self))
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
