"""Image data sets behind the book, all behind one call: :func:`load`.

* ``shapes`` — the synthetic toy set of the label-scheme study (thesis ch. 3.1.1): 28×28 grey images of
  irregular rectangles, squares, irregular ellipses and circles, drawn with OpenCV as black strokes on a
  white background. Generated on first use (< 1 s), cached on disk, fully offline.
* ``digits`` — scikit-learn's bundled 8×8 handwritten digits, brought to MNIST's 28×28 format; offline.
* ``mnist``, ``cifar10``, ``cifar100`` — read from their usual on-disk format; downloaded through
  torchvision only when asked (``download=True``).

Images travel as ``uint8`` tensors ``(N, C, H, W)``; :meth:`ImageSet.normalize` turns a batch into the
float, three-channel, standardised input an ImageNet-style encoder expects.

Geometry of the shapes (all coordinates are integer pixel centres):

* every shape is described by the box ``(x0, y0, x1, y1)`` of its stroke's centre line: the corners of a
  rectangle, or ``centre ± semi-axes`` of an ellipse;
* OpenCV's ``thickness=2`` paints the centre line and one pixel either side, so strokes are 3 px wide and
  the drawn shape covers exactly ``[x0 - 1, x1 + 1] × [y0 - 1, y1 + 1]``. The whole shape is visible iff
  ``1 <= x0`` and ``x1 <= 26`` (same for ``y``);
* size: sides ``x1 - x0 >= 5`` for rectangles and squares, semi-axes ``>= 3`` for ellipses and circles;
* irregular: rectangle sides differ by at least 2 px, ellipse semi-axes by at least 1 px — in both cases
  the drawn bounding box is at least 2 px longer one way than the other, while a square's or circle's
  is exactly square;
* sampling: the shape's centre is drawn uniformly among the centres that admit at least one valid shape,
  then the shape uniformly among the valid shapes with that centre (so the largest size depends on the
  position, "the maximum is determined such that the whole shape is visible"). This reading of the thesis
  reproduces its normalisation statistics (mean 0.87, std 0.33; see :data:`MEASURED_SHAPES_MEAN`);
  drawing the size first would give mean 0.80.

Shapes are axis-aligned; random rotation is a training augmentation, not part of the data.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import pickle
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from http.client import HTTPException
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import pandas as pd
import torch

__all__ = [
    "DATASETS", "SHAPES", "SCHEMES", "SPLITS", "IMAGE_SIZE", "THICKNESS", "MIN_EDGED", "MIN_ROUND",
    "N_TRAIN", "N_TEST", "SHAPES_MEAN", "SHAPES_STD", "MEASURED_SHAPES_MEAN", "MEASURED_SHAPES_STD",
    "DATA_VERSION", "DatasetNotAvailable", "ImageSet", "load", "data_root", "scheme_table",
    "scheme_classes", "scheme_counts", "scheme_labels", "possible_shapes", "draw_shape", "generate_shapes",
    "shape_streams", "measure_mean_std", "normalize",
]

DATASETS: tuple[str, ...] = ("shapes", "digits", "mnist", "cifar10", "cifar100")
SPLITS: tuple[str, ...] = ("train", "test")
SHAPES: tuple[str, ...] = ("rectangle", "square", "ellipse", "circle")

# Table 3.1 of the thesis: for each label scheme, the class of each shape.
SCHEMES: dict[str, dict[str, int]] = {
    "edge":      {"rectangle": 0, "square": 0, "ellipse": 1, "circle": 1},
    "rectangle": {"rectangle": 0, "square": 1, "ellipse": 1, "circle": 1},
    "square":    {"rectangle": 1, "square": 0, "ellipse": 1, "circle": 1},
    "ellipse":   {"rectangle": 0, "square": 0, "ellipse": 1, "circle": 0},
    "circle":    {"rectangle": 0, "square": 0, "ellipse": 0, "circle": 1},
    "regular":   {"rectangle": 0, "square": 1, "ellipse": 0, "circle": 1},
    "inverse":   {"rectangle": 0, "square": 1, "ellipse": 1, "circle": 0},
    "all":       {"rectangle": 0, "square": 1, "ellipse": 2, "circle": 3},
}

IMAGE_SIZE = 28
THICKNESS = 2          # OpenCV thickness; paints 3-px-wide strokes at integer coordinates
MIN_EDGED = 5          # smallest side of a rectangle or square, px
MIN_ROUND = 3          # smallest semi-axis (radius) of an ellipse or circle, px
N_TRAIN, N_TEST = 10_000, 1_000
DATA_VERSION = 1       # bump when the generator changes: invalidates every cached .npz

# Normalisation of the shapes set as stated in the thesis (one grey value broadcast to RGB).
SHAPES_MEAN, SHAPES_STD = 0.87, 0.33
# The same statistics measured on our generator: measure_mean_std(load("shapes").images), the default
# training set (seed 0, scheme "all", 10 000 images); seeds 0-4 give means 0.8707-0.8721. The images are
# binary, so std = sqrt(mean * (1 - mean)) exactly.
MEASURED_SHAPES_MEAN, MEASURED_SHAPES_STD = 0.8709, 0.3353

# Per-channel statistics of the training sets, as commonly reported for these data sets.
_MNIST_MEAN, _MNIST_STD = (0.1307,), (0.3081,)
_CIFAR10_MEAN, _CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
_CIFAR100_MEAN, _CIFAR100_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
# Measured on all 1 797 digits after the 28×28 conversion (measure_mean_std of both splits together).
_DIGITS_MEAN, _DIGITS_STD = (0.2242,), (0.3137,)

_DIGITS_TEST = 360     # held-out digits (20 %), stratified by class
_SPLIT_ID = {"train": 0, "test": 1}
_SCHEME_OPTIONS = {"shapes": tuple(SCHEMES), "cifar100": ("fine", "coarse")}


class DatasetNotAvailable(FileNotFoundError):
    """A data set's files are not on disk (and could not, or were not allowed to, be downloaded)."""


# ---------------------------------------------------------------------------------------------------
# The image container
# ---------------------------------------------------------------------------------------------------

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
    ``uint8`` input is scaled by 1/255; floating input is taken to be in [0, 1] already.
    """
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be (N, C, H, W) with C in (1, 3); got shape {tuple(images.shape)}")
    if images.dtype == torch.uint8:
        x = images.float().div_(255.0)
    elif images.is_floating_point():
        x = images.float()
    else:
        raise TypeError(f"images must be uint8 or floating point, got {images.dtype}")
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


# ---------------------------------------------------------------------------------------------------
# Label schemes (Table 3.1)
# ---------------------------------------------------------------------------------------------------

def _check_scheme(scheme: str) -> dict[str, int]:
    if scheme not in SCHEMES:
        raise ValueError(f"unknown label scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    return SCHEMES[scheme]


def scheme_table() -> pd.DataFrame:
    """Table 3.1's class assignment: one row per shape, one column per scheme, entries are classes."""
    table = pd.DataFrame(SCHEMES, index=list(SHAPES), dtype="int64")
    table.index.name, table.columns.name = "shape", "scheme"
    return table


def scheme_classes(scheme: str) -> tuple[str, ...]:
    """Class names of a scheme: the shapes each class holds, joined by ``+`` (e.g. ``"ellipse+circle"``)."""
    mapping = _check_scheme(scheme)
    n_classes = max(mapping.values()) + 1
    return tuple("+".join(s for s in SHAPES if mapping[s] == c) for c in range(n_classes))


def scheme_counts(scheme: str, n: int) -> dict[str, int]:
    """How many images of each shape a balanced set of ``n`` images holds under ``scheme``.

    Every class gets ``n // K`` images (``K`` classes), the first ``n % K`` classes one more; within a
    class, its shapes share the class's images the same way (in :data:`SHAPES` order). So class counts,
    and shape counts within a class, differ by at most one and sum exactly to ``n``.
    """
    mapping = _check_scheme(scheme)
    n_classes = max(mapping.values()) + 1
    counts: dict[str, int] = {}
    for c in range(n_classes):
        n_class = n // n_classes + (c < n % n_classes)
        members = [s for s in SHAPES if mapping[s] == c]
        for j, s in enumerate(members):
            counts[s] = n_class // len(members) + (j < n_class % len(members))
    return {s: counts[s] for s in SHAPES}


def scheme_labels(subclass: torch.Tensor, scheme: str) -> torch.Tensor:
    """Relabel images by shape index (``ImageSet.subclass``) under ``scheme``: an ``int64`` tensor.

    Note that a set balanced for one scheme is generally not balanced for another; load the set with
    ``load("shapes", scheme=...)`` to get the balanced version of each.
    """
    mapping = _check_scheme(scheme)
    lookup = torch.tensor([mapping[s] for s in SHAPES], dtype=torch.int64)
    return lookup[torch.as_tensor(subclass, dtype=torch.int64)]


def _stream_length(n: int) -> int:
    """Images per shape needed so that every scheme's balanced set of up to ``n`` images is a prefix."""
    return max(max(scheme_counts(s, n).values()) for s in SCHEMES)


# ---------------------------------------------------------------------------------------------------
# Shape generation
# ---------------------------------------------------------------------------------------------------

def _check_shape(shape: str) -> int:
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; choose one of {', '.join(SHAPES)}")
    return SHAPES.index(shape)


@lru_cache(maxsize=None)
def _valid_boxes(shape: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every valid shape as centre-line boxes, grouped by centre.

    Returns ``(boxes, offsets, counts)``: ``boxes`` (M, 4) int ``(x0, y0, x1, y1)`` sorted by centre;
    the shapes with the ``c``-th centre are ``boxes[offsets[c] : offsets[c] + counts[c]]``.
    """
    lo, hi = 1, IMAGE_SIZE - 2  # the 3-px stroke reaches one pixel beyond the centre line
    x0, x1 = np.meshgrid(np.arange(lo, hi + 1), np.arange(lo, hi + 1), indexing="ij")
    x0, x1 = x0.ravel(), x1.ravel()
    extent = x1 - x0
    if shape in ("rectangle", "square"):
        ok = extent >= MIN_EDGED
    else:  # round shapes are centred on a pixel: even extent 2a with semi-axis a >= MIN_ROUND
        ok = (extent >= 2 * MIN_ROUND) & (extent % 2 == 0)
    axis = np.stack([x0[ok], x1[ok]], axis=1)
    i, j = np.meshgrid(np.arange(len(axis)), np.arange(len(axis)), indexing="ij")
    boxes = np.concatenate([axis[i.ravel()], axis[j.ravel()]], axis=1)[:, [0, 2, 1, 3]]
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    if shape in ("square", "circle"):
        boxes = boxes[w == h]
    elif shape == "rectangle":
        boxes = boxes[np.abs(w - h) >= 2]
    else:  # ellipse: semi-axes differ by >= 1 px, i.e. extents by >= 2 px
        boxes = boxes[w != h]
    centre = (boxes[:, 0] + boxes[:, 2]) * 4 * IMAGE_SIZE + (boxes[:, 1] + boxes[:, 3])
    order = np.argsort(centre, kind="stable")
    boxes = boxes[order]
    _, offsets, counts = np.unique(centre[order], return_index=True, return_counts=True)
    for a in (boxes, offsets, counts):
        a.setflags(write=False)
    return boxes, offsets, counts


def possible_shapes(shape: str) -> np.ndarray:
    """Every distinct image of ``shape`` the generator can draw, as centre-line boxes ``(M, 4)``.

    On the 28×28 grid there are 43 890 irregular rectangles, 3 311 squares, 10 560 irregular ellipses and
    1 540 circles; with thousands of images per shape, the regular ones necessarily repeat.
    """
    _check_shape(shape)
    return _valid_boxes(shape)[0]


def draw_shape(shape: str, box: Sequence[int]) -> np.ndarray:
    """Draw one shape: a white 28×28 ``uint8`` image with a black 3-px stroke.

    ``box`` is the stroke centre line's ``(x0, y0, x1, y1)``: the corners of a rectangle or square, or
    ``centre ± semi-axes`` of an ellipse or circle.
    """
    _check_shape(shape)
    x0, y0, x1, y1 = (int(v) for v in box)
    image = np.full((IMAGE_SIZE, IMAGE_SIZE), 255, dtype=np.uint8)
    if shape in ("rectangle", "square"):
        cv2.rectangle(image, (x0, y0), (x1, y1), color=0, thickness=THICKNESS)
    else:
        centre, axes = ((x0 + x1) // 2, (y0 + y1) // 2), ((x1 - x0) // 2, (y1 - y0) // 2)
        if shape == "circle":
            # At thickness 2 OpenCV's circle equals its ellipse with equal axes (the thesis' footnote).
            cv2.circle(image, centre, axes[0], color=0, thickness=THICKNESS)
        else:
            cv2.ellipse(image, centre, axes, 0, 0, 360, color=0, thickness=THICKNESS)
    return image


def generate_shapes(shape: str, n: int, *, seed: int = 0,
                    split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Draw the first ``n`` images of one shape's reproducible stream (no caching).

    Image ``i`` depends only on ``(seed, split, shape, i)``: each image consumes two uniforms of a
    stream seeded by ``(seed, split, shape)``, so a longer stream extends a shorter one, and the train
    and test streams are independent. Returns ``images`` (n, 28, 28) ``uint8`` and their centre-line
    ``boxes`` (n, 4) ``int16`` ``(x0, y0, x1, y1)``.
    """
    shape_id = _check_shape(shape)
    split_id = _check_split(split)
    boxes, offsets, counts = _valid_boxes(shape)
    u = np.random.default_rng([seed, split_id, shape_id]).random((n, 2))
    centre = (u[:, 0] * len(counts)).astype(np.int64)             # centre first ...
    pick = offsets[centre] + (u[:, 1] * counts[centre]).astype(np.int64)  # ... then a shape there
    chosen = boxes[pick].astype(np.int16)
    images = np.empty((n, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    for i, box in enumerate(chosen):
        images[i] = draw_shape(shape, box)
    return images, chosen


def _cache_key(seed: int) -> dict:
    return {
        "version": DATA_VERSION, "size": IMAGE_SIZE, "thickness": THICKNESS, "min_edged": MIN_EDGED,
        "min_round": MIN_ROUND, "n_train": N_TRAIN, "n_test": N_TEST, "seed": int(seed),
    }


def _cache_path(seed: int, root: str | os.PathLike | None) -> Path:
    key = json.dumps(_cache_key(seed), sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return data_root(root) / f"shapes-v{DATA_VERSION}-seed{seed}-{digest}.npz"


def _expected_shapes() -> dict[str, tuple[int, ...]]:
    out = {}
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        length = _stream_length(n)
        out[f"{split}_images"] = (len(SHAPES), length, IMAGE_SIZE, IMAGE_SIZE)
        out[f"{split}_boxes"] = (len(SHAPES), length, 4)
    return out


def _read_cache(path: Path) -> dict[str, np.ndarray] | None:
    """The cached streams, or ``None`` when the file is missing, unreadable or not what we expect."""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in _expected_shapes()}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    for k, expected in _expected_shapes().items():
        if arrays[k].shape != expected or arrays[k].dtype != (np.uint8 if "images" in k else np.int16):
            return None
    return arrays


def shape_streams(seed: int = 0, root: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
    """Every shape's train and test stream for ``seed``, from the disk cache or freshly generated.

    Returns ``{"train_images": (4, L, 28, 28), "train_boxes": (4, L, 4), "test_images", "test_boxes"}``
    in :data:`SHAPES` order, with ``L`` the longest stream any scheme needs (half the split: a class
    made of a single shape). The cache is ``<root>/shapes-v<version>-seed<seed>-<hash>.npz``, the hash
    covering every generator parameter (a changed generator writes a new file); a missing or corrupt
    file is regenerated and rewritten atomically. When the directory is not writable the data is
    generated without caching (with a warning).
    """
    path = _cache_path(seed, root)
    arrays = _read_cache(path)
    if arrays is not None:
        return arrays
    arrays = {}
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        parts = [generate_shapes(s, _stream_length(n), seed=seed, split=split) for s in SHAPES]
        arrays[f"{split}_images"] = np.stack([p[0] for p in parts])
        arrays[f"{split}_boxes"] = np.stack([p[1] for p in parts])
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write aside, then rename: readers in other processes never see a half-written file.
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npz.tmp", delete=False) as tmp:
            np.savez_compressed(tmp, **arrays)
        os.replace(tmp.name, path)
    except OSError as err:
        if tmp is not None:
            Path(tmp.name).unlink(missing_ok=True)
        warnings.warn(f"could not cache the shapes data set at {path} ({err}); set LABFREE_DATA to a "
                      "writable directory to avoid regenerating it", stacklevel=2)
    return arrays


def _load_shapes(split: str, scheme: str, seed: int, root, n: int | None) -> ImageSet:
    n_total = N_TRAIN if split == "train" else N_TEST
    n = _check_n(n, n_total, len(scheme_classes(scheme)), "shapes", split)
    streams = shape_streams(seed, root)
    counts = scheme_counts(scheme, n)
    images = np.concatenate([streams[f"{split}_images"][k, :counts[s]] for k, s in enumerate(SHAPES)])
    subclass = np.concatenate([np.full(counts[s], k) for k, s in enumerate(SHAPES)])
    # Interleave the shapes (deterministically) so that any slice of the set looks like the whole.
    order = np.random.default_rng([seed, _SPLIT_ID[split], len(SHAPES)]).permutation(n)
    images, subclass = images[order], torch.from_numpy(subclass[order]).long()
    return ImageSet(
        name="shapes", images=torch.from_numpy(np.ascontiguousarray(images[:, None])),
        labels=scheme_labels(subclass, scheme), classes=scheme_classes(scheme),
        mean=(SHAPES_MEAN,) * 3, std=(SHAPES_STD,) * 3, split=split, scheme=scheme,
        subclass=subclass, subclass_names=SHAPES,
    )


# ---------------------------------------------------------------------------------------------------
# Digits (scikit-learn), MNIST and CIFAR (on-disk formats)
# ---------------------------------------------------------------------------------------------------

def _digits_28(images: np.ndarray) -> np.ndarray:
    """8×8 digits (0..16) → 28×28 uint8 like MNIST: ×255/16, bilinear ×3 to 24×24, 2-px black frame."""
    scaled = np.clip(np.rint(images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    big = np.stack([cv2.resize(im, (24, 24), interpolation=cv2.INTER_LINEAR) for im in scaled])
    return np.pad(big, ((0, 0), (2, 2), (2, 2)))


def _load_digits(split: str, seed: int, n: int | None) -> ImageSet:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    index = np.arange(len(digits.target))
    train, test = train_test_split(index, test_size=_DIGITS_TEST, stratify=digits.target,
                                   random_state=seed)
    index = np.sort(train if split == "train" else test)
    images, labels = _digits_28(digits.images[index]), digits.target[index]
    return _finish("digits", split, images[:, None], labels, tuple(str(d) for d in range(10)),
                   _DIGITS_MEAN, _DIGITS_STD, n, seed)


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickle CIFAR's batches without running arbitrary code: only numpy's array rebuilders allowed."""

    _ALLOWED = {
        ("_codecs", "encode"),  # how Python 3's protocol-2 pickles store bytes; only encodes a string
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file")
        return super().find_class(module, name)


def _unpickle(path: Path) -> dict[str, object]:
    with open(path, "rb") as f:
        raw = _ArrayUnpickler(f, encoding="bytes").load()
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in raw.items()}


def _names(values) -> tuple[str, ...]:
    return tuple(v.decode() if isinstance(v, bytes) else str(v) for v in values)


_SOURCES = {
    "cifar10": ("cifar-10-batches-py", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", "163 MB"),
    "cifar100": ("cifar-100-python", "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz", "161 MB"),
    "mnist": ("MNIST/raw", "https://ossci-datasets.s3.amazonaws.com/mnist/ (four *-ubyte.gz files)", "11 MB"),
}
_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _required_files(name: str, split: str) -> list[str]:
    if name == "cifar10":
        data = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
        return data + ["batches.meta"]
    if name == "cifar100":
        return [split, "meta"]
    return list(_MNIST_FILES[split])


def _find(folder: Path, filename: str, gzipped_too: bool = False) -> Path | None:
    """``folder/filename``, else (MNIST) ``folder/filename.gz``, else ``None``."""
    for candidate in (folder / filename, folder / f"{filename}.gz")[: 1 + gzipped_too]:
        if candidate.is_file():
            return candidate
    return None


def _missing(name: str, split: str, root: Path) -> list[str]:
    folder = root / _SOURCES[name][0]
    return [f for f in _required_files(name, split) if _find(folder, f, name == "mnist") is None]


def _not_available(name: str, split: str, root: Path, missing: list[str], reason: str) -> DatasetNotAvailable:
    folder, url, size = _SOURCES[name]
    return DatasetNotAvailable(
        f"{name} ({split} split) is not available: {reason}. Missing {', '.join(missing)} in "
        f"{root / folder}. To get it ({size}, needs internet): labfree.data.load({name!r}, download=True"
        f"{'' if root == data_root() else f', root={str(root)!r}'}), or download {url} yourself and "
        f"unpack it so that the files are in {root / folder}. Offline, use load('shapes') or "
        f"load('digits') instead."
    )


def _download(name: str, root: Path) -> None:
    """Fetch a data set with torchvision (which checks its MD5 sums) into ``root``."""
    import torchvision.datasets as tvd

    cls = {"cifar10": tvd.CIFAR10, "cifar100": tvd.CIFAR100, "mnist": tvd.MNIST}[name]
    root.mkdir(parents=True, exist_ok=True)
    cls(str(root), train=True, download=True)  # one archive (CIFAR) or all four files (MNIST)


def _ensure(name: str, split: str, root: Path, download: bool) -> Path:
    missing = _missing(name, split, root)
    if missing and download:
        try:
            _download(name, root)
        except (OSError, RuntimeError, HTTPException) as err:
            raise _not_available(name, split, root, missing, f"the download failed ({err})") from err
        missing = _missing(name, split, root)
    if missing:
        reason = "the download did not produce these files" if download else "the files are not on disk"
        raise _not_available(name, split, root, missing, reason)
    return root / _SOURCES[name][0]


def _read_idx(path: Path) -> np.ndarray:
    """An IDX array (the MNIST format: big-endian header, ``uint8`` payload), gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype_code, ndim = data[0] << 8 | data[1], data[2], data[3]
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file (header {data[:4].hex()})")
    dims = np.frombuffer(data, dtype=">u4", count=ndim, offset=4).astype(np.int64)
    payload = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if payload.size != int(np.prod(dims)):
        raise ValueError(f"{path} is truncated: header says {tuple(dims)}, found {payload.size} bytes")
    return payload.reshape(tuple(dims)).copy()  # a writable array: torch refuses to share read-only memory


def _load_mnist(split: str, root: Path, download: bool, seed: int, n: int | None) -> ImageSet:
    folder = _ensure("mnist", split, root, download)
    images_file, labels_file = (_find(folder, f, gzipped_too=True) for f in _MNIST_FILES[split])
    images, labels = _read_idx(images_file), _read_idx(labels_file)
    if len(images) != len(labels):
        raise ValueError(f"{images_file} has {len(images)} images but {labels_file} {len(labels)} labels")
    return _finish("mnist", split, images[:, None], labels, tuple(str(d) for d in range(10)),
                   _MNIST_MEAN, _MNIST_STD, n, seed)


def _load_cifar(name: str, split: str, scheme: str | None, root: Path, download: bool, seed: int,
                n: int | None) -> ImageSet:
    folder = _ensure(name, split, root, download)
    if name == "cifar10":
        batches = [_unpickle(folder / f) for f in _required_files(name, split)[:-1]]
        labels = np.concatenate([np.asarray(b["labels"]) for b in batches])
        classes = _names(_unpickle(folder / "batches.meta")["label_names"])
        mean, std = _CIFAR10_MEAN, _CIFAR10_STD
    else:
        batches = [_unpickle(folder / split)]
        labels = np.asarray(batches[0][f"{scheme}_labels"])
        classes = _names(_unpickle(folder / "meta")[f"{scheme}_label_names"])
        mean, std = _CIFAR100_MEAN, _CIFAR100_STD
    images = np.concatenate([np.asarray(b["data"], dtype=np.uint8) for b in batches]).reshape(-1, 3, 32, 32)
    return _finish(name, split, images, labels, classes, mean, std, n, seed, scheme=scheme)


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


# ---------------------------------------------------------------------------------------------------
# One call for all
# ---------------------------------------------------------------------------------------------------

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


def load(name: str, split: str = "train", *, scheme: str | None = None,
         root: str | os.PathLike | None = None, download: bool = False, seed: int = 0,
         n: int | None = None) -> ImageSet:
    """Load a data set as an :class:`ImageSet` of ``uint8`` images.

    Args:
        name: one of :data:`DATASETS` — ``"shapes"``, ``"digits"``, ``"mnist"``, ``"cifar10"``,
            ``"cifar100"``.
        split: ``"train"`` or ``"test"``.
        scheme: shapes: the label scheme of Table 3.1 (one of :data:`SCHEMES`, default ``"all"``), which
            also fixes how many images of each shape the balanced set holds; CIFAR-100: ``"fine"``
            (default, 100 classes) or ``"coarse"`` (20 super-classes); no other set takes a scheme.
        root: data directory (default ``$LABFREE_DATA`` or ``~/.cache/labfree``): the shapes cache, and
            the parent of ``cifar-10-batches-py``, ``cifar-100-python`` and ``MNIST/raw`` (torchvision's
            layout).
        download: fetch MNIST/CIFAR through torchvision when their files are missing (needs internet).
        seed: shapes: the generator's seed; digits: the train/test split; with ``n``: which images form
            the balanced subset.
        n: number of images; ``None`` keeps the whole split (shapes: 10 000 train, 1 000 test). A smaller
            ``n`` gives a class-balanced subset (for shapes also balanced over shapes within a class).

    Raises:
        ValueError: unknown name, split or scheme, or a bad ``n`` (the message lists valid choices).
        DatasetNotAvailable: MNIST/CIFAR files missing offline or a failed download.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    _check_split(split)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if scheme is not None:
        options = _SCHEME_OPTIONS.get(name)
        if options is None:
            takes = " and ".join(f"{k} ({', '.join(v)})" for k, v in _SCHEME_OPTIONS.items())
            raise ValueError(f"{name} takes no label scheme (got scheme={scheme!r}); only {takes} do")
        if scheme not in options:
            raise ValueError(f"unknown scheme {scheme!r} for {name}; choose one of {', '.join(options)}")
    if name == "shapes":
        return _load_shapes(split, scheme or "all", seed, root, n)
    if name == "digits":
        return _load_digits(split, seed, n)
    if name == "mnist":
        return _load_mnist(split, data_root(root), download, seed, n)
    return _load_cifar(name, split, scheme or ("fine" if name == "cifar100" else None), data_root(root),
                       download, seed, n)
