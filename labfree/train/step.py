"""One optimisation step: forward both views, the method's loss in float32, backward, EMA, enqueue."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from labfree.losses import (
    VICRegTerms,
)

from .config import TrainingDiverged
from .model import SSLModel

# Query/key losses (MoCo) are one-directional: evaluate them with q from view 1 and k from view 2,
# then the other way round. Symmetric losses take their spec's inputs as they are.
_DIRECTIONS = ({"q": "z1", "k": "z2_target"}, {"q": "z2", "k": "z1_target"})


def _embedding_std(z: Tensor) -> Tensor:
    """Mean over dimensions of the batch std of L2-normalised rows (about 1/sqrt(d) if spread)."""
    return F.normalize(z.detach().float(), dim=1).std(dim=0).mean()


def loss_step(model: SSLModel, x1: Tensor, x2: Tensor | None = None,
              y: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor], Tensor | None]:
    """Forward a batch and compute the method's loss (in float32, outside autocast).

    Returns ``(loss, logs, keys)``: ``logs`` holds detached scalars (``loss``, ``embedding_std``,
    VICReg's three unweighted terms, supervised ``accuracy``); ``keys`` are the keys to enqueue
    into MoCo's queue after the optimiser step (``None`` for other methods).
    """
    if model.spec is None:  # supervised: one view and its labels
        h = model.encoder(x1)
        logits = model.classifier(h)
        with torch.autocast(x1.device.type, enabled=False):
            loss = F.cross_entropy(logits.float(), y)
        accuracy = (logits.argmax(dim=1) == y).float().mean()
        return loss, {"loss": loss.detach(), "accuracy": accuracy, "embedding_std": _embedding_std(h)}, None
    t: dict[str, Any] = {"queue": model.queue}
    t["z1"], t["z2"] = model.projector(model.encoder(x1)), model.projector(model.encoder(x2))
    if model.predictor is not None:
        t["p1"], t["p2"] = model.predictor(t["z1"]), model.predictor(t["z2"])
    else:  # no predictor (or one ablated): the loss compares projections
        t["p1"], t["p2"] = t["z1"], t["z2"]
    if model.target_encoder is not None:
        with torch.no_grad():
            t["z1_target"] = model.target_projector(model.target_encoder(x1))
            t["z2_target"] = model.target_projector(model.target_encoder(x2))
    spec, outputs = model.spec, []
    with torch.autocast(x1.device.type, enabled=False):
        for alias in _DIRECTIONS if "q" in spec.inputs else ({},):
            args = [t[alias.get(name, name)] for name in spec.inputs]
            args = [a.float() if isinstance(a, Tensor) else a for a in args]
            try:
                outputs.append(spec.loss(*args, **model.loss_kwargs))
            except ValueError as err:  # the losses reject NaN/inf inputs
                if all(bool(torch.isfinite(a).all()) for a in args if isinstance(a, Tensor)):
                    raise
                raise TrainingDiverged(f"the {spec.name} embeddings contain NaN or inf ({err})") from None
    loss = sum(o.loss if isinstance(o, VICRegTerms) else o for o in outputs) / len(outputs)
    logs = {"loss": loss.detach(), "embedding_std": _embedding_std(t["z1"])}
    if isinstance(outputs[0], VICRegTerms):  # the three terms, unweighted
        logs.update({k: outputs[0][i].detach() for i, k in enumerate(VICRegTerms._fields) if i})
    keys = t["z2_target"] if model.queue is not None else None
    return loss, logs, keys


def train_step(model: SSLModel, optimizer: torch.optim.Optimizer, scheduler: Any, x1: Tensor,
               x2: Tensor | None = None, y: Tensor | None = None, *, step: int, total_steps: int,
               amp: bool = False, channels_last: bool = False) -> dict[str, Tensor]:
    """One optimisation step on augmented float views; returns the step's logs.

    Raises :class:`TrainingDiverged` when the loss is not finite (before the parameters change).
    """
    if channels_last:
        x1 = x1.contiguous(memory_format=torch.channels_last)
        x2 = None if x2 is None else x2.contiguous(memory_format=torch.channels_last)
    with torch.autocast(x1.device.type, dtype=torch.bfloat16, enabled=amp):
        loss, logs, keys = loss_step(model, x1, x2, y)
    if not math.isfinite(value := float(logs["loss"])):  # one host sync per step
        raise TrainingDiverged(f"the loss is {value}")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    scheduler.step()
    model.momentum_update(step, total_steps)
    if keys is not None:
        model.queue.enqueue(keys)  # the newest keys replace the oldest
    return logs
