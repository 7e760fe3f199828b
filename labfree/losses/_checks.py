"""Input validation shared by every loss: types, shapes, temperatures, margins.

Nothing here reads a tensor's values, so a loss never waits for the device: finiteness (NaN/Inf) is
checked once per training step, for every loss input together, by :func:`labfree.train.train_step`.
"""

from __future__ import annotations

import math

from torch import Tensor

from labfree._validate import number


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


def _check_views(names: tuple[str, str], a: Tensor, b: Tensor, *, min_batch: int = 1, why: str = "") -> None:
    _check_embeddings(names[0], a, min_batch=min_batch, why=why)
    _check_embeddings(names[1], b, min_batch=min_batch, why=why)
    if a.shape != b.shape:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same shape (the two views of one batch, through "
            f"the same head); got {tuple(a.shape)} and {tuple(b.shape)}."
        )


def _check_temperature(temperature: float) -> None:
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a positive finite number (e.g. 0.5); got {temperature!r}.")


def _check_margin(margin: float) -> None:
    if not (isinstance(margin, (int, float)) and math.isfinite(margin) and margin >= 0):
        raise ValueError(f"margin must be a non-negative finite number (FaceNet: 0.2); got {margin!r}.")


def _check_weight(name: str, value: float, fix: str) -> float:
    """A loss weight or coefficient: a finite number >= 0 (NaN or a negative weight would train
    towards the opposite of the term)."""
    return number(value, name, low=0, fix=fix)


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
