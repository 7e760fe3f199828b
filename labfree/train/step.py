"""One optimisation step: forward both views, the method's loss in float32, one finiteness check,
backward, EMA, enqueue.

The losses never read values back to the host. Each step reads back one value (one host sync): the
finiteness of its loss and of every tensor the loss was given, checked before the parameters
change, together with that of the previous step's update (every gradient, parameter and floating
buffer after it, reduced on the device to one norm per tensor right after the update). The last
update of a run (or of an epoch) is checked by :func:`check_update`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from labfree.losses import VICRegTerms

from . import distributed
from .config import TrainingDiverged
from .model import SSLModel

# Query/key losses (MoCo) are one-directional: evaluate them with q from view 1 and k from view 2,
# then the other way round. Symmetric losses take their spec's inputs as they are.
_DIRECTIONS = ({"q": "z1", "k": "z2_target"}, {"q": "z2", "k": "z1_target"})


def _embedding_std(z: Tensor) -> Tensor:
    """Mean over dimensions of the batch std of L2-normalised rows (about 1/sqrt(d) if spread)."""
    return F.normalize(z.detach().float(), dim=1).std(dim=0).mean()


@dataclass
class _Update:
    """What an update left behind, not yet read back: one finiteness flag per tensor (on the device)."""

    flags: Tensor
    names: list[str]
    tensors: list[Tensor]
    step: int
    lr: float


_PENDING = "_unchecked_update"  # the SSLModel attribute holding the last update's _Update


def _norms(tensors: list[Tensor]) -> Tensor:
    """One L2 norm per tensor, in as few kernels as the device allows (NaN and inf propagate)."""
    if not tensors:
        return torch.zeros(0)
    foreach = getattr(torch, "_foreach_norm", None)
    norms = foreach(tensors) if foreach is not None else [torch.linalg.vector_norm(t) for t in tensors]
    return torch.stack([n.float() for n in norms])


def nonfinite(named: list[tuple[str, Tensor]]) -> list[str]:
    """The names of the tensors holding NaN or inf (one host sync when all are finite)."""
    named = [(n, t) for n, t in named if t.is_floating_point() and t.numel()]
    if not named:
        return []
    flags = torch.isfinite(_norms([t for _, t in named]))
    if bool(flags.all()):
        return []
    # a norm can overflow float32 with every value finite (|values| ~ 1e19): confirm exactly
    return [name for (name, t), ok in zip(named, flags.tolist())
            if not ok and not bool(torch.isfinite(t).all())]


def _record_update(model: SSLModel, step: int, lr: float) -> None:
    """After an update: every gradient, parameter and floating buffer, reduced to one flag each."""
    named = [(f"gradient of {n}", p.grad) for n, p in model.named_parameters() if p.grad is not None]
    named += [(f"parameter {n}", p) for n, p in model.named_parameters()]
    named += [(f"buffer {n}", b) for n, b in model.named_buffers() if b.is_floating_point()]
    named = [(n, t.detach()) for n, t in named if t.numel()]
    if named:
        tensors = [t for _, t in named]
        flags = torch.isfinite(_norms(tensors))
        setattr(model, _PENDING, _Update(flags, [n for n, _ in named], tensors, step, lr))


def _update_failure(update: _Update) -> TrainingDiverged | None:
    """The error for an update whose flags failed, or ``None`` for a false alarm (finite values whose
    norm overflowed float32)."""
    bad = [name for name, t, ok in zip(update.names, update.tensors, update.flags.tolist())
           if not ok and not bool(torch.isfinite(t).all())]
    if not bad:
        return None
    return TrainingDiverged(
        f"the update of step {update.step + 1} (lr {update.lr:.3g}) left NaN or inf in {_names(bad)}",
        step=update.step, lr=update.lr, nonfinite=tuple(bad))


def _names(names: list[str] | tuple[str, ...], shown: int = 6) -> str:
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


def check_update(model: SSLModel) -> None:
    """Read back the check of the last :func:`train_step`'s update (its gradients, parameters and
    buffers; one host sync) and raise :class:`TrainingDiverged` if any went NaN or infinite.

    :func:`train_step` folds this check into the next step's; call this after the last step of a
    loop of your own (:func:`~labfree.train.train` does at the end of every epoch).
    """
    update = getattr(model, _PENDING, None)
    setattr(model, _PENDING, None)
    if update is None or bool(update.flags.all()):
        return
    if (error := _update_failure(update)) is not None:
        raise error


def _check_finite(loss: Tensor, inputs: dict[str, Tensor], method: str,
                  update: _Update | None = None) -> None:
    """Raise :class:`TrainingDiverged` unless ``loss`` and every tensor of ``inputs`` are finite,
    and every flag of the previous ``update``.

    One reduction over all of them and one host sync (``.item()``); on failure, the names of the
    non-finite tensors (more syncs, on the way out only). A failed update is reported first: it
    is the cause of whatever this step computed from its parameters.
    """
    flags = torch.stack([torch.isfinite(loss.detach()), *(torch.isfinite(t).all() for t in inputs.values())])
    if update is not None:
        flags = torch.cat([update.flags, flags])
    flags = distributed.all_true(flags)  # under torchrun: every rank stops at the same step
    if flags.all().item():
        return
    if update is not None:
        if (error := _update_failure(update)) is not None:
            raise error
        flags = flags[len(update.flags):]
        if bool(flags.all()):
            return  # a false alarm of the update's norms, and this step is finite
    bad = [name for name, ok in zip(inputs, flags[1:].tolist()) if not ok]
    if not bad:
        raise TrainingDiverged(f"the loss is {loss.item()}", nonfinite=("loss",))
    raise TrainingDiverged(
        f"the {method} embeddings contain NaN or inf ({', '.join(bad)} contain(s) NaN or Inf. Training "
        "has probably diverged: lower the learning rate, check the input normalisation, or use "
        "gradient clipping.)", nonfinite=tuple(bad)
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
    if spec.global_batch:  # data-parallel: the loss sees the global batch (identity in one process)
        for name in spec.inputs:
            t[name] = distributed.gather(t[name])
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
    keys = distributed.gather_detached(t["z2_target"]) if model.queue is not None else None
    return loss, logs, keys, inputs


class Objective(nn.Module):
    """A model's loss as a module (``forward(x1, x2, y)`` returns what :func:`loss_step` computes,
    plus the loss' named inputs): what :class:`~torch.nn.parallel.DistributedDataParallel` wraps,
    so that its gradient hooks see every forward pass."""

    def __init__(self, model: SSLModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, x1: Tensor, x2: Tensor | None, y: Tensor | None):
        return _forward(self.model, x1, x2, y)


def train_step(model: SSLModel, optimizer: torch.optim.Optimizer, scheduler: Any, x1: Tensor,
               x2: Tensor | None = None, y: Tensor | None = None, *, step: int, total_steps: int,
               amp: bool = False, channels_last: bool = False,
               objective: nn.Module | None = None) -> dict[str, Tensor]:
    """One optimisation step on augmented float views; returns the step's logs.

    Raises :class:`TrainingDiverged` when the loss, or any embedding the loss was given (projections,
    predictions, the target's projections, which are also MoCo's keys to enqueue), is NaN or
    infinite, before the parameters change; or when the previous call's update left a gradient, a
    parameter or a buffer (BatchNorm statistics, MoCo's queue) NaN or infinite. One combined check,
    one host sync per step: the flags of this step's update are computed on the device and read
    back by the next call, or by :func:`check_update` after the last one.

    ``objective`` computes the loss instead of the model itself: :func:`~labfree.train.train` passes
    the :class:`Objective` wrapped in ``DistributedDataParallel`` under ``torchrun``.
    """
    if channels_last:
        x1 = x1.contiguous(memory_format=torch.channels_last)
        x2 = None if x2 is None else x2.contiguous(memory_format=torch.channels_last)
    with torch.autocast(x1.device.type, dtype=torch.bfloat16, enabled=amp):
        if objective is None:
            loss, logs, keys, inputs = _forward(model, x1, x2, y)
        else:
            loss, logs, keys, inputs = objective(x1, x2, y)
    update = getattr(model, _PENDING, None)
    setattr(model, _PENDING, None)
    _check_finite(loss, inputs, "supervised" if model.spec is None else model.spec.name,
                  update)  # the one host sync: this step's loss and inputs, the previous update
    update = None  # let the previous step's gradients go before this step's backward
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    lr = optimizer.param_groups[0]["lr"]
    optimizer.step()
    scheduler.step()
    model.momentum_update(step, total_steps)
    if keys is not None:
        model.queue.enqueue(keys)  # the newest keys replace the oldest
    _record_update(model, step, float(lr))  # on the device; read back by the next check
    return logs
