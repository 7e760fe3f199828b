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

from .contrastive import MoCoQueue, info_nce, moco_loss, nt_xent
from .methods import METHODS, MethodSpec, method
from .metric_learning import npair_loss, triplet_loss, tuple_loss
from .redundancy import (
    VICRegTerms,
    barlow_twins_loss,
    covariance_term,
    invariance_term,
    variance_term,
    vicreg_loss,
)
from .siamese import (
    byol_loss,
    byol_tau,
    ema_update,
    momentum_copy,
    negative_cosine,
    simsiam_loss,
)

__all__ = [
    "nt_xent", "info_nce", "MoCoQueue", "moco_loss",
    "negative_cosine", "simsiam_loss", "byol_loss",
    "momentum_copy", "ema_update", "byol_tau",
    "invariance_term", "variance_term", "covariance_term", "VICRegTerms", "vicreg_loss",
    "barlow_twins_loss",
    "MethodSpec", "METHODS", "method",
    "triplet_loss", "tuple_loss", "npair_loss",
]
