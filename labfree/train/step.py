"""One optimisation step: forward both views, the method's loss in float32, one finiteness check,
backward, EMA, enqueue.

The losses never read values back to the host; the step checks the loss and every tensor the loss
was given for NaN/Inf in one reduction, one host sync per step, before the parameters change.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from labfree.losses import VICRegTerms

from .config import TrainingDiverged
from .model import SSLModel

# Query/key losses (MoCo) are one-directional: evaluate them with q from view 1 and k from view 2,
# then the other way round. Symmetric losses take their spec's inputs as they are.
_DIRECTIONS = ({"q": "z1", "k": "z2_target"}, {"q": "z2", "k": "z1_target"})


def _embedding_std(z: Tensor) -> Tensor:
    """Mean over dimensions of the batch std of L2-normalised rows (about 1/sqrt(d) if spread)."""
    return F.normalize(z.detach().float(), dim=1).std(dim=0).mean()


def _check_finite(loss: Tensor, inputs: dict[str, Tensor], method: str) -> None:
    """Raise :class:`TrainingDiverged` unless ``loss`` and every tensor of ``inputs`` are finite.

    One reduction over all of them and one host sync (``.item()``); on failure, the names of the
    non-finite tensors (a second sync, on the way out only).
    """
    flags = torch.stack([torch.isfinite(loss.detach()), *(torch.isfinite(t).all() for t in inputs.values())])
    if flags.all().item():
        return
    bad = [name for name, ok in zip(inputs, flags[1:].tolist()) if not ok]
    if not bad:
        raise TrainingDiverged(f"the loss is {loss.item()}")
    raise TrainingDiverged(
        f"the {method} embeddings contain NaN or inf ({', '.join(bad)} contain(s) NaN or Inf. Training "
        "has probably diverged: lower the learning rate, check the input normalisation, or use "
        "gradient clipping.)"
    )


def loss_step(model: SSLModel, x1: Tensor, x2: Tensor | None = None,
              y: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor], Tensor | None]:
    """Forward a batch and compute the method's loss (in float32, outside autocast).

    Returns ``(loss, logs, keys)``: ``logs`` holds detached scalars (``loss``, ``embedding_std``,
    VICReg's three unweighted terms, supervised ``accuracy``); ``keys`` are the keys to enqueue
    into MoCo's queue after the optimiser step (``None`` for other methods). Nothing is checked
    for NaN/Inf here (no host sync): :func:`train_step` does that.
    """
    loss, logs, keys, _ = _forward(model, x1, x2, y)
    return loss, logs, keys


def _forward(model: SSLModel, x1: Tensor, x2: Tensor | None,
             y: Tensor | None) -> tuple[Tensor, dict[str, Tensor], Tensor | None, dict[str, Tensor]]:
    """:func:`loss_step`, plus the named tensors the loss was given (for the finiteness check)."""
    if model.spec is None:  # supervised: one view and its labels
        h = model.encoder(x1)
        logits = model.classifier(h)
        with torch.autocast(x1.device.type, enabled=False):
            loss = F.cross_entropy(logits.float(), y)
        accuracy = (logits.argmax(dim=1) == y).float().mean()
        logs = {"loss": loss.detach(), "accuracy": accuracy, "embedding_std": _embedding_std(h)}
        return loss, logs, None, {}
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
    spec, outputs, inputs = model.spec, [], {}
    with torch.autocast(x1.device.type, enabled=False):
        for alias in _DIRECTIONS if "q" in spec.inputs else ({},):
            names = [alias.get(name, name) for name in spec.inputs]
            args = [t[name].float() if isinstance(t[name], Tensor) else t[name] for name in names]
            outputs.append(spec.loss(*args, **model.loss_kwargs))
            # each tensor once, by its first name (without a predictor p1 is z1)
            for name in names:
                if isinstance(t[name], Tensor) and all(t[name] is not seen for seen in inputs.values()):
                    inputs[name] = t[name]
    loss = sum(o.loss if isinstance(o, VICRegTerms) else o for o in outputs) / len(outputs)
    logs = {"loss": loss.detach(), "embedding_std": _embedding_std(t["z1"])}
    if isinstance(outputs[0], VICRegTerms):  # the three terms, unweighted
        logs.update({k: outputs[0][i].detach() for i, k in enumerate(VICRegTerms._fields) if i})
    keys = t["z2_target"] if model.queue is not None else None
    return loss, logs, keys, inputs


def train_step(model: SSLModel, optimizer: torch.optim.Optimizer, scheduler: Any, x1: Tensor,
               x2: Tensor | None = None, y: Tensor | None = None, *, step: int, total_steps: int,
               amp: bool = False, channels_last: bool = False) -> dict[str, Tensor]:
    """One optimisation step on augmented float views; returns the step's logs.

    Raises :class:`TrainingDiverged` when the loss, or any embedding the loss was given (projections,
    predictions, the target's projections, which are also MoCo's keys to enqueue), is NaN or
    infinite: one combined check, one host sync per step, before the parameters change.
    """
    if channels_last:
        x1 = x1.contiguous(memory_format=torch.channels_last)
        x2 = None if x2 is None else x2.contiguous(memory_format=torch.channels_last)
    with torch.autocast(x1.device.type, dtype=torch.bfloat16, enabled=amp):
        loss, logs, keys, inputs = _forward(model, x1, x2, y)
    _check_finite(loss, inputs, "supervised" if model.spec is None else model.spec.name)  # the one host sync
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    scheduler.step()
    model.momentum_update(step, total_steps)
    if keys is not None:
        model.queue.enqueue(keys)  # the newest keys replace the oldest
    return logs
