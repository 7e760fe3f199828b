"""Input checks shared by the metrics: what is wrong, said plainly."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike

Features = ArrayLike | torch.Tensor


def _numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _features(h: Features, name: str = "h", *, min_rows: int = 1,
              dtype: Any = np.float64) -> np.ndarray:
    """A validated ``(n, d)`` float array."""
    x = _numpy(h)
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise ValueError(f"{name} must be a numeric array of features, got dtype {x.dtype}")
    if x.ndim != 2:
        hint = " (reshape a single feature to (n, 1) with h[:, None])" if x.ndim == 1 else ""
        raise ValueError(f"{name} must be 2-D with shape (n_samples, n_features), "
                         f"got shape {x.shape}{hint}")
    if x.shape[0] < min_rows or x.shape[1] < 1:
        raise ValueError(f"{name} needs at least {min_rows} row(s) and one column, got shape {x.shape}")
    x = x.astype(dtype, copy=False)
    if not np.isfinite(x).all():
        bad = int((~np.isfinite(x)).any(axis=1).sum())
        raise ValueError(f"{name} contains NaN or inf in {bad} of {x.shape[0]} rows; "
                         "check the encoder (diverged training?) before measuring it")
    return x


def _torch_features(h: Features, name: str, device: torch.device, *, min_rows: int = 1) -> torch.Tensor:
    """A validated ``(n, d)`` float32 tensor on ``device`` (no host round trip for tensors)."""
    if isinstance(h, torch.Tensor):
        if h.ndim != 2 or h.shape[0] < min_rows or h.shape[1] < 1:
            _features(h.detach().cpu(), name, min_rows=min_rows)  # raises the descriptive error
        if h.is_complex():
            raise ValueError(f"{name} must be a real-valued tensor, got dtype {h.dtype}")
        x = h.detach().to(device=device, dtype=torch.float32)
        if not torch.isfinite(x).all():
            bad = int((~torch.isfinite(x)).any(dim=1).sum())
            raise ValueError(f"{name} contains NaN or inf in {bad} of {x.shape[0]} rows; "
                             "check the encoder (diverged training?) before measuring it")
        return x
    return torch.from_numpy(_features(h, name, min_rows=min_rows, dtype=np.float32)).to(device)


def _labels(y: Any, n: int | None, name: str) -> np.ndarray:
    """A validated 1-D label array, of length ``n`` when given."""
    a = _numpy(y)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one label per sample), got shape {a.shape}")
    if n is not None and a.shape[0] != n:
        raise ValueError(f"{name} has {a.shape[0]} labels but the features have {n} rows; "
                         "they must match one to one")
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or inf")
    return a


def _encode_classes(train_y: np.ndarray, test_y: np.ndarray | None,
                    what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Map labels to ``0..C-1`` by the classes present in training."""
    classes, train_idx = np.unique(train_y, return_inverse=True)
    if classes.size < 2:
        raise ValueError(f"train_y holds a single class ({classes[0]!r}); a {what} needs at least "
                         "two classes to discriminate")
    test_idx = None
    if test_y is not None:
        unseen = np.setdiff1d(np.unique(test_y), classes)
        if unseen.size:
            raise ValueError(f"test_y contains classes never seen in train_y: {unseen[:10].tolist()}; "
                             f"a {what} cannot predict them")
        test_idx = np.searchsorted(classes, test_y)
    return classes, train_idx, test_idx


def _device(device: torch.device | str | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or int(value) != value or int(value) < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


