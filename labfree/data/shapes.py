"""The shapes data set (thesis ch. 3.1.1): the eight label schemes and the OpenCV generator."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
import zipfile
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch

from .core import _SPLIT_ID, ImageSet, _check_n, _check_split, data_root

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


@cache
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

