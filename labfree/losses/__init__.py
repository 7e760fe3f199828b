"""Self-supervised objectives, one small function each: pure functions of tensors.

Every loss takes the batch it is given and nothing else: no global configuration, no implicit
world size. Inputs are 2-D float tensors ``(batch_size, dim)``; two views of the same batch must
have the same shape. Bad inputs (wrong ndim, mismatched views, a batch too small for the objective,
a bad temperature or margin) raise ``ValueError`` saying what to change. The losses never read a
tensor's values back to the host, so they do not check for NaN/Inf (which would wait for the
device at every call): :func:`labfree.train.train_step` checks every loss input and the loss
together, once per step, and raises :class:`~labfree.train.TrainingDiverged`; NaN inputs give a
NaN loss. Each function returns a scalar tensor
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

The momentum target of MoCo and BYOL (``momentum_copy``, ``ema_update``, ``byol_tau``) lives in
:mod:`labfree.momentum`; what each method needs (heads, target network, loss inputs, optimiser
recipe: ``MethodSpec``, ``METHODS``, ``method``) in :mod:`labfree.methods`.

A training step, e.g. for BYOL (``online``/``target`` = encoder + projector)::

    p1, p2 = predictor(online(x1)), predictor(online(x2))
    with torch.no_grad():
        z1_target, z2_target = target(x1), target(x2)
    loss = byol_loss(p1, p2, z1_target, z2_target)
    loss.backward(); optimizer.step()
    momentum.ema_update(target, online, momentum.byol_tau(step, total))

and for MoCo-v2 (``spec = methods.method("moco_v2")``,
``queue = MoCoQueue(projector.out_dim, spec.queue_length)``)::

    q = online(x1)
    with torch.no_grad():
        k = target(x2)
    loss = moco_loss(q, k, queue, **spec.loss_kwargs)
    loss.backward(); optimizer.step()
    momentum.ema_update(target, online, spec.ema["tau"]); queue.enqueue(k)
"""


from __future__ import annotations

from typing import Any

from .contrastive import MoCoQueue, info_nce, moco_loss, nt_xent
from .metric_learning import npair_loss, triplet_loss, tuple_loss
from .redundancy import (
    VICRegTerms,
    barlow_twins_loss,
    covariance_term,
    invariance_term,
    variance_term,
    vicreg_loss,
)
from .siamese import byol_loss, negative_cosine, simsiam_loss

__all__ = [
    "nt_xent", "info_nce", "MoCoQueue", "moco_loss",
    "negative_cosine", "simsiam_loss", "byol_loss",
    "invariance_term", "variance_term", "covariance_term", "VICRegTerms", "vicreg_loss",
    "barlow_twins_loss",
    "triplet_loss", "tuple_loss", "npair_loss",
]

# The method registry moved to labfree.methods. ``losses.METHODS`` stays readable for the pages that
# still name it (book/assignments/vicreg.md, labfree/profiles/{methods,siamese}.py); it is resolved
# lazily (labfree.methods imports the losses) and kept out of __all__ so that the API page lists it
# once, under labfree.methods.
_MOVED_TO_METHODS = ("METHODS", "MethodSpec", "method")


def __getattr__(name: str) -> Any:
    if name in _MOVED_TO_METHODS:
        from labfree import methods

        return getattr(methods, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
