"""What each self-supervised method needs: heads, target network, loss inputs and optimiser recipe.

The registry is data that the training loop reads (:mod:`labfree.train`); the losses themselves
stay pure functions of tensors (:mod:`labfree.losses`)::

    spec = method("simclr")       # a MethodSpec; METHODS maps every name to its spec
    spec.loss, spec.inputs        # nt_xent, ("z1", "z2")
    spec.optimizer                # the default recipe: SGD, one-cycle, lr, weight decay, epochs
    SUPERVISED_RECIPE             # the recipe of supervised encoder training
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from torch import Tensor

from labfree.losses.contrastive import moco_loss, nt_xent
from labfree.losses.redundancy import VICRegTerms, barlow_twins_loss, vicreg_loss
from labfree.losses.siamese import byol_loss, simsiam_loss

__all__ = ["MethodSpec", "METHODS", "method", "SUPERVISED_RECIPE"]


@dataclass(frozen=True)
class MethodSpec:
    """How to train one self-supervised method. Pure data; the training loop reads it.

    Attributes:
        name: method name (a key of ``METHODS``).
        loss: the loss function (from :mod:`labfree.losses`).
        inputs: the loss' positional arguments, by the book's names. ``z`` = online projector output,
            ``p`` = predictor output, ``*_target`` / ``k`` = momentum (target) network's projection
            (computed under ``torch.no_grad()``), ``q`` = online projection used as a query,
            ``queue`` = a :class:`~labfree.losses.MoCoQueue`.
        projector: name of the projector builder in ``labfree.models.HEADS``.
        predictor: name of the predictor builder in ``labfree.models.HEADS``, or ``None``.
        momentum_target: whether a target copy of encoder + projector is kept with
            :func:`labfree.momentum.ema_update`.
        loss_kwargs: default keyword arguments of ``loss``.
        ema: ``{"tau": 0.99, "schedule": "constant"}`` (MoCo) or ``{"tau": 0.996, "schedule":
            "cosine"}`` (BYOL, :func:`labfree.momentum.byol_tau`); empty without a target network.
        queue_length: length of the :class:`~labfree.losses.MoCoQueue`, or ``None``.
        global_batch: whether the loss compares samples across the batch (negatives, batch
            statistics), so that data-parallel training gathers its inputs from every rank
            (:mod:`labfree.train.distributed`); per-sample losses need no gather.
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
    global_batch: bool = False
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


#: Supervised encoder preparation (thesis 3.1.2): the seeds fix only its length ("all supervised
#: training, including LPs, 100 epochs"); the optimiser is theirs for the linear probe (Adam,
#: one-cycle, peak lr 0.003, weight decay 1e-4), a labfree choice.
SUPERVISED_RECIPE = {"name": "adam", "lr": 3e-3, "weight_decay": 1e-4, "epochs": 100, "batch_size": 512,
                     "schedule": "one_cycle", "momentum": (0.85, 0.95)}

_THESIS = ("label-free evaluation thesis (seed 000), sec. 4.1.2: ResNet-18L on CIFAR, SGD with a "
           "one-cycle schedule and momentum cycled 0.85-0.95; batch_size 512 (sec. 3.1.2)")
_LABFREE_CHOICE = ("the seeds give no CIFAR recipe for this method: loss and head settings follow the "
                   "paper; the SGD recipe reuses the thesis' SimSiam values (lr 0.06, weight decay 5e-4, "
                   "800 epochs; LARS at lr 0.3 for VICReg and Barlow Twins), a labfree choice, "
                   "not a published result")

METHODS: Mapping[str, MethodSpec] = MappingProxyType({
    "simclr": MethodSpec(
        name="simclr", loss=nt_xent, inputs=("z1", "z2"), global_batch=True,
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
        name="vicreg", loss=vicreg_loss, inputs=("z1", "z2"), global_batch=True,
        projector="vicreg_expander", predictor=None, momentum_target=False,
        loss_kwargs={"sim_weight": 25.0, "var_weight": 25.0, "cov_weight": 1.0},
        optimizer=_lars_recipe(),
        cite="bardes2022vicreg",
        source="variance weight mu = 25 (seed 003); lambda = 25, nu = 1 from the paper; " + _LABFREE_CHOICE,
    ),
    "barlow_twins": MethodSpec(
        name="barlow_twins", loss=barlow_twins_loss, inputs=("z1", "z2"), global_batch=True,
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
