"""Nearest neighbours: the weighted kNN classifier and kNN-distance anomaly scores with ROC."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import ArrayLike

from labfree._validate import number

from ._checks import Features, _device, _labels, _positive_int, _torch_features

_METRICS = ("cosine", "euclidean")


def _chunk_rows(n_reference: int, device: torch.device, chunk_size: int | None) -> int:
    if chunk_size is not None:
        return _positive_int(chunk_size, "chunk_size")
    budget = 2**28 if device.type == "cuda" else 2**25   # similarity entries per chunk
    return max(1, budget // max(n_reference, 1))


def _nearest(queries: torch.Tensor, references: torch.Tensor, k: int, metric: str,
             chunk_size: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` nearest references of every query, chunked over queries.

    Returns ``(similarity, index)`` for ``metric="cosine"`` (most similar first) or
    ``(distance, index)`` for ``"euclidean"`` (closest first), each ``(n_queries, k)``.
    """
    rows = _chunk_rows(references.shape[0], queries.device, chunk_size)
    values, indices = [], []
    if metric == "cosine":
        references = F.normalize(references, dim=1)
        for start in range(0, queries.shape[0], rows):
            q = F.normalize(queries[start:start + rows], dim=1)
            top = torch.topk(q @ references.t(), k, dim=1)
            values.append(top.values)
            indices.append(top.indices)
    else:
        ref_sq = references.pow(2).sum(dim=1)
        for start in range(0, queries.shape[0], rows):
            q = queries[start:start + rows]
            # ||q - r||^2 = ||q||^2 + ||r||^2 - 2 q.r, the matmul form (no (n, m, d) tensor)
            sq = torch.addmm(ref_sq[None, :], q, references.t(), alpha=-2).add_(q.pow(2).sum(1, keepdim=True))
            top = torch.topk(sq, k, dim=1, largest=False)
            values.append(top.values.clamp_min(0).sqrt())
            indices.append(top.indices)
    return torch.cat(values), torch.cat(indices)


@dataclass
class KNNResult:
    """Predictions of :func:`knn_classify` (label values) and, with ``test_y``, their accuracy."""

    predictions: np.ndarray
    accuracy: float | None


def knn_classify(
    train_h: Features,
    train_y: ArrayLike,
    test_h: Features,
    test_y: ArrayLike | None = None,
    *,
    k: int = 200,
    temperature: float = 0.1,
    device: torch.device | str | None = None,
    chunk_size: int | None = None,
) -> KNNResult:
    """Weighted k-nearest-neighbour classification (Wu et al., 2018).

    Each test feature finds its ``k`` most cosine-similar training features; neighbour ``i`` with
    similarity ``s_i`` votes for its class with weight ``exp(s_i / temperature)`` and the class with
    the largest total wins (ties go to the smaller class index). Queries are processed in chunks
    on ``device``, so the full similarity matrix is never stored. ``k = 200`` follows Wu et al.;
    ``temperature = 0.1`` is the value common in SSL monitoring (Wu et al. used 0.07).
    """
    k = _positive_int(k, "k")
    number(temperature, "temperature", low=0, low_open=True,
           fix="the votes weigh exp(similarity / temperature): pass e.g. temperature=0.1")
    device = _device(device)
    xtr = _torch_features(train_h, "train_h", device)
    xte = _torch_features(test_h, "test_h", device)
    if xtr.shape[1] != xte.shape[1]:
        raise ValueError(f"train_h has {xtr.shape[1]} features but test_h has {xte.shape[1]}")
    if k > xtr.shape[0]:
        raise ValueError(f"k={k} exceeds the {xtr.shape[0]} training samples; choose k <= "
                         f"{xtr.shape[0]}")
    ytr = _labels(train_y, xtr.shape[0], "train_y")
    yte = None if test_y is None else _labels(test_y, xte.shape[0], "test_y")
    classes, ytr_idx = np.unique(ytr, return_inverse=True)
    labels = torch.as_tensor(ytr_idx, dtype=torch.long, device=device)
    similarity, index = _nearest(xte, xtr, k, "cosine", chunk_size)
    # Subtracting each row's best similarity leaves the vote ranking unchanged and keeps
    # exp() finite for small temperatures.
    weights = torch.exp((similarity - similarity[:, :1]) / temperature)
    votes = torch.zeros(xte.shape[0], len(classes), device=device)
    votes.scatter_add_(1, labels[index], weights)
    predictions = classes[votes.argmax(dim=1).cpu().numpy()]
    accuracy = None if yte is None else float(np.mean(predictions == yte))
    return KNNResult(predictions=predictions, accuracy=accuracy)


def knn_anomaly_scores(
    reference_h: Features,
    query_h: Features,
    *,
    k: int = 5,
    metric: str = "cosine",
    reduction: str = "mean",
    exclude_self: bool = False,
    device: torch.device | str | None = None,
    chunk_size: int | None = None,
) -> np.ndarray:
    """Anomaly score of each query: its distance to the ``k`` nearest reference features.

    ``reference_h`` holds normal data (e.g. the training set's features). The score is the
    ``reduction="mean"`` distance over the ``k`` nearest references, or the distance to the
    ``reduction="kth"`` (k-th) nearest one — a k-NN density estimate in both cases: far from the
    normal data means low density, hence anomalous. Distances are ``1 - cosine similarity``
    (``metric="cosine"``, in [0, 2]) or Euclidean (``metric="euclidean"``). Higher = more anomalous.

    When the queries *are* the references (scoring the training set itself), pass
    ``exclude_self=True`` to skip each point's zero distance to itself.
    """
    if metric not in _METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {_METRICS}")
    if reduction not in ("mean", "kth"):
        raise ValueError(f"unknown reduction {reduction!r}; choose 'mean' or 'kth'")
    k = _positive_int(k, "k")
    device = _device(device)
    ref = _torch_features(reference_h, "reference_h", device)
    query = _torch_features(query_h, "query_h", device)
    if ref.shape[1] != query.shape[1]:
        raise ValueError(f"reference_h has {ref.shape[1]} features but query_h has {query.shape[1]}")
    if exclude_self and ref.shape[0] != query.shape[0]:
        raise ValueError("exclude_self=True requires query_h to be reference_h itself "
                         f"(got {query.shape[0]} queries and {ref.shape[0]} references)")
    needed = k + int(exclude_self)
    if needed > ref.shape[0]:
        raise ValueError(f"k={k}{' (+1 for exclude_self)' if exclude_self else ''} exceeds the "
                         f"{ref.shape[0]} reference samples")
    values, _ = _nearest(query, ref, needed, metric, chunk_size)
    distance = 1.0 - values if metric == "cosine" else values
    distance = distance[:, int(exclude_self):]
    score = distance.mean(dim=1) if reduction == "mean" else distance[:, -1]
    return score.double().cpu().numpy()


def roc(scores: ArrayLike, is_anomaly: ArrayLike) -> tuple[np.ndarray, np.ndarray, float]:
    """ROC curve and its area for anomaly ``scores`` (higher = more anomalous).

    ``is_anomaly`` marks the true anomalies (bool or 0/1). Returns ``(fpr, tpr, auc)`` computed by
    scikit-learn: AUC is the probability that a random anomaly scores above a random normal sample
    (1 = perfect separation, 0.5 = chance).
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    s = _labels(scores, None, "scores").astype(np.float64)
    truth = _labels(is_anomaly, s.shape[0], "is_anomaly")
    if not np.isin(truth, (0, 1)).all():
        raise ValueError("is_anomaly must be boolean (or 0/1)")
    truth = truth.astype(bool)
    if truth.all() or not truth.any():
        raise ValueError("is_anomaly must contain both anomalies and normal samples for a ROC curve")
    fpr, tpr, _ = roc_curve(truth, s)
    return fpr, tpr, float(roc_auc_score(truth, s))


def most_anomalous(scores: ArrayLike, m: int) -> np.ndarray:
    """Indices of the ``m`` highest scores, most anomalous first (ties keep the original order)."""
    s = _labels(scores, None, "scores").astype(np.float64)
    m = _positive_int(m, "m")
    if m > s.shape[0]:
        raise ValueError(f"m={m} exceeds the {s.shape[0]} scores")
    return np.argsort(-s, kind="stable")[:m]


