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

import os

import numpy as np

from .core import (
    DATASETS,
    SPLITS,
    DatasetNotAvailable,
    ImageSet,
    _check_split,
    data_root,
    measure_mean_std,
    normalize,
)
from .files import _load_cifar, _load_digits, _load_mnist
from .shapes import (
    DATA_VERSION,
    IMAGE_SIZE,
    MEASURED_SHAPES_MEAN,
    MEASURED_SHAPES_STD,
    MIN_EDGED,
    MIN_ROUND,
    N_TEST,
    N_TRAIN,
    SCHEMES,
    SHAPES,
    SHAPES_MEAN,
    SHAPES_STD,
    THICKNESS,
    _load_shapes,
    draw_shape,
    generate_shapes,
    possible_shapes,
    scheme_classes,
    scheme_counts,
    scheme_labels,
    scheme_table,
    shape_streams,
)

__all__ = [
    "DATASETS", "SHAPES", "SCHEMES", "SPLITS", "IMAGE_SIZE", "THICKNESS", "MIN_EDGED", "MIN_ROUND",
    "N_TRAIN", "N_TEST", "SHAPES_MEAN", "SHAPES_STD", "MEASURED_SHAPES_MEAN", "MEASURED_SHAPES_STD",
    "DATA_VERSION", "DatasetNotAvailable", "ImageSet", "load", "data_root", "scheme_table",
    "scheme_classes", "scheme_counts", "scheme_labels", "possible_shapes", "draw_shape", "generate_shapes",
    "shape_streams", "measure_mean_std", "normalize",
]

_SCHEME_OPTIONS = {"shapes": tuple(SCHEMES), "cifar100": ("fine", "coarse")}


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
