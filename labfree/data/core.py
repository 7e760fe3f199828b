"""The image container, normalisation, the data directory and the shared argument checks."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

DATASETS: tuple[str, ...] = ("shapes", "digits", "mnist", "cifar10", "cifar100")
SPLITS: tuple[str, ...] = ("train", "test")

_SPLIT_ID = {"train": 0, "test": 1}
_FLOAT_MAX = 1.5  # a float image above this is on the 0..255 scale, not [0, 1]


class DatasetNotAvailable(FileNotFoundError):
    """A data set's files are not on disk (and could not, or were not allowed to, be downloaded)."""



@dataclass
class ImageSet:
    """Images, labels and what is needed to feed them to an encoder.

    Attributes:
        name: data set name (one of :data:`DATASETS`).
        images: ``uint8`` tensor ``(N, C, H, W)``; ``C`` is 1 for grey sets, 3 for CIFAR.
        labels: ``int64`` tensor ``(N,)`` of class indices into ``classes``.
        classes: class names.
        mean, std: three per-channel values for :meth:`normalize` (grey sets repeat theirs).
        split: ``"train"`` or ``"test"``.
        scheme: label scheme for shapes (CIFAR-100: ``"fine"``/``"coarse"``), else ``None``.
        subclass: shapes only — the shape of each image as an index into :data:`SHAPES`, so a study can
            relabel with :func:`scheme_labels`; ``None`` for the other sets.
        subclass_names: :data:`SHAPES` for shapes, else ``None``.
    """

    name: str
    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    split: str = "train"
    scheme: str | None = None
    subclass: torch.Tensor | None = None
    subclass_names: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], int(self.labels[index])

    def normalize(self, images: torch.Tensor | None = None) -> torch.Tensor:
        """Float, three-channel, standardised copy of ``images`` (default: all of this set's images).

        ``images`` is a batch of this set (possibly augmented): ``uint8`` in [0, 255] or float in [0, 1].
        """
        return normalize(self.images if images is None else images, self.mean, self.std)


def normalize(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Return ``(images / 255 - mean) / std`` as float32 ``(N, 3, H, W)``.

    A single grey channel is broadcast to three, the convention of the thesis for feeding a ResNet.
    ``uint8`` input is scaled by 1/255; floating input is taken to be in [0, 1] already, and a float
    batch with values above 1.5 (a 0..255 image stored as float, most likely) or NaN/inf raises
    ``ValueError`` rather than being standardised into nonsense (checking it reads one value back).
    """
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be (N, C, H, W) with C in (1, 3); got shape {tuple(images.shape)}")
    if images.dtype == torch.uint8:
        x = images.float().div_(255.0)
    elif images.is_floating_point():
        x = images.float()
        top = float(x.amax()) if x.numel() else 0.0  # NaN propagates through amax
        if not math.isfinite(top) or top > _FLOAT_MAX:
            what = "NaN or inf" if not math.isfinite(top) else f"values up to {top:g}"
            raise ValueError(
                f"images is a float batch with {what}; float images must lie in [0, 1]. Pass the uint8 "
                "images (0..255) as they come from labfree.data, or divide 0..255 floats by 255 first.")
    else:
        raise TypeError(f"images must be uint8 or floating point, got {images.dtype}")
    if not (all(math.isfinite(float(v)) for v in mean)
            and all(math.isfinite(float(v)) and float(v) > 0 for v in std)):
        raise ValueError(f"mean must be finite and std positive and finite; got mean={tuple(mean)}, "
                         f"std={tuple(std)}. Pass the data set's statistics, ImageSet.mean and .std.")
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    m = torch.as_tensor(mean, dtype=torch.float32, device=x.device).reshape(1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32, device=x.device).reshape(1, -1, 1, 1)
    if m.shape[1] not in (1, 3) or s.shape[1] not in (1, 3):
        raise ValueError(f"mean and std need 1 or 3 values, got {len(mean)} and {len(std)}")
    return (x - m) / s


def measure_mean_std(images: torch.Tensor | np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of ``uint8`` images ``(N, C, H, W)``, on the [0, 1] scale.

    Over every pixel of every image: the "empirically obtained" statistics of the thesis. The sums of
    pixel values and of their squares are accumulated exactly in integers, a chunk of images at a time,
    so even CIFAR-10's 150 million values need little memory. Returns ``(mean, std)``, one value per
    channel in each.
    """
    x = torch.as_tensor(images)
    if x.ndim != 4 or x.dtype != torch.uint8:
        raise ValueError(f"images must be uint8 (N, C, H, W), got {x.dtype} of shape {tuple(x.shape)}")
    total = torch.zeros(x.shape[1], dtype=torch.int64)
    squares = torch.zeros(x.shape[1], dtype=torch.int64)
    for chunk in x.split(4096):
        chunk = chunk.to(torch.int64)
        total += chunk.sum(dim=(0, 2, 3))
        squares += chunk.square().sum(dim=(0, 2, 3))
    count = x.shape[0] * x.shape[2] * x.shape[3]
    mean = total.double() / (255.0 * count)
    var = squares.double() / (255.0**2 * count) - mean.square()
    return tuple(mean.tolist()), tuple(var.clamp_min(0).sqrt().tolist())


def data_root(root: str | os.PathLike | None = None) -> Path:
    """Directory for data and caches: ``root``, else ``$LABFREE_DATA``, else ``~/.cache/labfree``."""
    if root is None:
        root = os.environ.get("LABFREE_DATA", "~/.cache/labfree")
    return Path(root).expanduser()



def _check_split(split: str) -> int:
    if split not in _SPLIT_ID:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    return _SPLIT_ID[split]


def _check_n(n: int | None, available: int, n_classes: int, name: str, split: str) -> int:
    if n is None:
        return available
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise ValueError(f"n must be an integer number of images, got {n!r}")
    if not n_classes <= n <= available:
        raise ValueError(f"n={n} is out of range for {name} ({split}): choose {n_classes} <= n <= "
                         f"{available} (at least one image per class, at most the whole split)")
    return int(n)



def _finish(name: str, split: str, images: np.ndarray, labels: np.ndarray, classes: tuple[str, ...],
            mean: Sequence[float], std: Sequence[float], n: int | None, seed: int,
            scheme: str | None = None) -> ImageSet:
    """Wrap arrays as an :class:`ImageSet`, keeping a class-balanced subset of ``n`` images if asked.

    The subset takes ``n // K`` images of each class (the first ``n % K`` classes one more), chosen at
    random with ``seed`` and kept in file order.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if n is not None:
        n = _check_n(n, len(labels), len(classes), name, split)
        rng = np.random.default_rng([seed, _SPLIT_ID[split], len(classes)])
        keep = []
        for c in range(len(classes)):
            members = np.flatnonzero(labels == c)
            want = n // len(classes) + (c < n % len(classes))
            if want > len(members):
                raise ValueError(f"{name} ({split}) has only {len(members)} images of class {classes[c]!r}, "
                                 f"a balanced subset of n={n} needs {want}; use a smaller n")
            keep.append(rng.choice(members, size=want, replace=False))
        index = np.sort(np.concatenate(keep))
        images, labels = images[index], labels[index]
    expand = lambda v: tuple(float(x) for x in (v * 3 if len(v) == 1 else v))  # noqa: E731
    return ImageSet(name=name, images=torch.from_numpy(np.ascontiguousarray(images)),
                    labels=torch.from_numpy(labels), classes=tuple(classes), mean=expand(mean),
                    std=expand(std), split=split, scheme=scheme)

