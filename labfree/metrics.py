"""Measuring representations: with labels, without labels, and for anomalies.

The instruments of the book, in four groups. All accept NumPy arrays or torch tensors of features
``h`` with shape ``(n, d)`` and return plain floats or NumPy arrays; bad inputs (non-finite values,
1-D features, mismatched lengths, a single class, ``k`` larger than the data) raise a ``ValueError``
that says what is wrong.

**Supervised evaluation** of frozen features ``h``:

* :func:`linear_probe` — a linear classifier trained with Adam and a one-cycle schedule, the
  protocol of the label-free-evaluation thesis (``shapes_thesis``, sections 3.1.2, 4.1.4 and 5.1):
  peak learning rate 0.003, cyclic momentum (Adam's beta1) 0.85–0.95, weight decay 1e-4,
  100 epochs, batch size 512. Features stay on the device and batches are index tensors.
* :func:`linear_probe_lbfgs` — the same model and objective (cross-entropy + L2) minimised
  full-batch with L-BFGS: the quick check.
* :func:`knn_classify` — the weighted k-nearest-neighbour classifier of Wu et al. (2018):
  cosine similarity, ``k = 200`` neighbours, each voting with weight ``exp(s / temperature)``.

**Anomaly detection**: :func:`knn_anomaly_scores` (distance to the ``k`` nearest reference
features), :func:`roc` and :func:`most_anomalous`.

**Label-free metrics** of section 4.1.3 of the thesis, computed on the test embeddings ``Z512``
of a training milestone:

1. reduce ``h`` to ``Z3`` with UMAP (``n_neighbors = 50``; PaCMAP as in appendix A) —
   :func:`reduce`;
2. cluster ``Z3`` with k-means under the cosine distance (:func:`cosine_kmeans`) with ``k1`` =
   the number of classes (``C1``) and ``k2 = 2 k1`` (``C2``);
3. clustering agreement ``AMI(C1, C2)`` (:func:`ami`) and, as labelled references,
   ``AMI(C1, C_GT)``;
4. the silhouette of ``C1`` and of the ground truth on the *original* embeddings (:func:`silhouette`);
5. the entropy of the 3-d histogram of ``Z3`` with bins ``0.4 sigma`` wide per dimension
   (``0.8 sigma`` in chapter 5) — :func:`histogram_entropy`.

Two spectral metrics from other papers join them: the eigenspectrum decay coefficient ``alpha``
of alpha-ReQ (Agrawal et al., 2022; :func:`alpha`) and RankMe, the effective rank of Garrido et al.
(2023; :func:`effective_rank`). :func:`label_free_metrics` computes all of them in one call, sharing
one reduction, and :func:`metrics_table` stacks the records of several milestones into a DataFrame.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import ArrayLike

__all__ = [
    "ProbeResult",
    "linear_probe",
    "linear_probe_lbfgs",
    "KNNResult",
    "knn_classify",
    "knn_anomaly_scores",
    "roc",
    "most_anomalous",
    "REDUCERS",
    "reduce",
    "cosine_kmeans",
    "ami",
    "silhouette",
    "histogram_entropy",
    "eigenspectrum",
    "PowerLawFit",
    "power_law_fit",
    "alpha",
    "ALPHA_FIT_RANGE",
    "effective_rank",
    "LABEL_FREE_METRICS",
    "LABELLED_METRICS",
    "label_free_metrics",
    "metrics_table",
]

Features = ArrayLike | torch.Tensor

# -------------------------------------------------------------------------------------------------
# input checks
# -------------------------------------------------------------------------------------------------


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


# -------------------------------------------------------------------------------------------------
# linear probes
# -------------------------------------------------------------------------------------------------


@dataclass
class ProbeResult:
    """Outcome of a linear probe.

    ``accuracy`` and ``loss`` are the test top-1 accuracy (a fraction in [0, 1]) and the test
    cross-entropy (nats per sample). ``weight`` ``(C, d)`` and ``bias`` ``(C,)`` act on the *raw*
    features (any standardisation is folded in), for the classes listed in ``classes``;
    ``history`` holds the mean training objective per epoch (Adam) or per evaluation (L-BFGS).
    """

    accuracy: float
    loss: float
    train_accuracy: float
    train_loss: float
    classes: np.ndarray
    weight: np.ndarray
    bias: np.ndarray
    history: list[float] = field(default_factory=list)

    def logits(self, h: Features) -> np.ndarray:
        """Class scores ``h W^T + b`` for new features."""
        x = _features(h, "h")
        if x.shape[1] != self.weight.shape[1]:
            raise ValueError(f"h has {x.shape[1]} features but the probe was trained on "
                             f"{self.weight.shape[1]}")
        return x @ self.weight.T.astype(np.float64) + self.bias

    def predict(self, h: Features) -> np.ndarray:
        """Predicted labels (values from ``classes``) for new features."""
        return self.classes[self.logits(h).argmax(axis=1)]


def _probe_inputs(train_h, train_y, test_h, test_y, device, standardize, what):
    xtr = _torch_features(train_h, "train_h", device)
    xte = _torch_features(test_h, "test_h", device)
    if xtr.shape[1] != xte.shape[1]:
        raise ValueError(f"train_h has {xtr.shape[1]} features but test_h has {xte.shape[1]}; "
                         "embed both with the same encoder")
    ytr = _labels(train_y, xtr.shape[0], "train_y")
    yte = _labels(test_y, xte.shape[0], "test_y")
    classes, ytr_idx, yte_idx = _encode_classes(ytr, yte, what)
    if standardize:
        mean = xtr.mean(dim=0)
        std = xtr.std(dim=0, unbiased=False)
        std = torch.where(std > 1e-12 * std.max().clamp_min(1e-30), std, torch.ones_like(std))
    else:
        mean = torch.zeros(xtr.shape[1], device=device)
        std = torch.ones(xtr.shape[1], device=device)
    ytr_t = torch.as_tensor(ytr_idx, dtype=torch.long, device=device)
    yte_t = torch.as_tensor(yte_idx, dtype=torch.long, device=device)
    return (xtr - mean) / std, ytr_t, (xte - mean) / std, yte_t, classes, mean, std


@torch.no_grad()
def _evaluate(weight: torch.Tensor, bias: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
              chunk: int = 65536) -> tuple[float, float]:
    correct = torch.zeros((), device=x.device, dtype=torch.float64)
    total_loss = torch.zeros((), device=x.device, dtype=torch.float64)
    for start in range(0, x.shape[0], chunk):
        logits = torch.addmm(bias, x[start:start + chunk], weight.t())
        target = y[start:start + chunk]
        total_loss += F.cross_entropy(logits, target, reduction="sum").double()
        correct += (logits.argmax(dim=1) == target).sum()
    n = x.shape[0]
    return float(correct) / n, float(total_loss) / n


def _probe_result(weight, bias, xtr, ytr, xte, yte, classes, mean, std, history) -> ProbeResult:
    acc, loss = _evaluate(weight, bias, xte, yte)
    train_acc, train_loss = _evaluate(weight, bias, xtr, ytr)
    with torch.no_grad():
        raw_weight = weight / std                        # W (x - mu) / s  =  (W / s) x - (W / s) mu
        raw_bias = bias - raw_weight @ mean
    return ProbeResult(accuracy=acc, loss=loss, train_accuracy=train_acc, train_loss=train_loss,
                       classes=classes, weight=raw_weight.cpu().numpy(),
                       bias=raw_bias.double().cpu().numpy(), history=history)


def linear_probe(
    train_h: Features,
    train_y: ArrayLike,
    test_h: Features,
    test_y: ArrayLike,
    *,
    epochs: int = 100,
    lr: float = 3e-3,
    weight_decay: float = 1e-4,
    batch_size: int = 512,
    momentum_range: tuple[float, float] = (0.85, 0.95),
    device: torch.device | str | None = None,
    seed: int = 0,
    standardize: bool = True,
) -> ProbeResult:
    """Train a linear classifier on frozen features and report test accuracy and loss.

    The protocol of ``shapes_thesis`` (3.1.2 and 5.1): Adam (Kingma & Ba, 2015) with a one-cycle
    schedule (Smith & Topin, 2019; ``torch.optim.lr_scheduler.OneCycleLR`` with its defaults:
    30 % warm-up, cosine annealing) peaking at ``lr = 0.003``, Adam's ``beta1`` cycled inversely
    between 0.85 and 0.95, L2 weight decay ``1e-4`` on the weights, 100 epochs of batches of 512.
    (Section 4.1.4 trained 20 epochs at peak 0.08 with AutoAugment on the *images*; on fixed
    features augmentation is impossible, so the feature-level protocol above is the default.)

    The objective is ``mean CE + (weight_decay / 2) ||W||^2`` (bias unpenalised) — the same as
    :func:`linear_probe_lbfgs`. The classifier starts from zero (the problem is convex, so no
    initialisation noise is needed); ``seed`` fixes the batch order. Features are moved to
    ``device`` once and batches are drawn by index, with no DataLoader.

    ``standardize`` z-scores each feature with the *training* mean and standard deviation. A
    linear classifier on standardised features is still a linear classifier on the raw ones (the
    returned ``weight``/``bias`` act on raw features), so the probe measures the same thing; it only
    makes one learning rate suit encoders whose feature scales differ by orders of magnitude (a
    random initialisation versus a trained milestone). Pass ``False`` for the literal protocol.

    The loop is thousands of small operations (9 800 steps for 50 000 samples), so per-step
    overhead sets its speed; on a CPU shared with other work, ``torch.set_num_threads(1)`` avoids
    threads waiting on one another at every step (14 s instead of minutes on a busy 2-core machine).
    """
    epochs = _positive_int(epochs, "epochs")
    batch_size = _positive_int(batch_size, "batch_size")
    if lr <= 0 or weight_decay < 0:
        raise ValueError(f"need lr > 0 and weight_decay >= 0, got lr={lr}, weight_decay={weight_decay}")
    low, high = momentum_range
    if not 0 <= low <= high < 1:
        raise ValueError(f"momentum_range must satisfy 0 <= low <= high < 1, got {momentum_range}")
    device = _device(device)
    xtr, ytr, xte, yte, classes, mean, std = _probe_inputs(
        train_h, train_y, test_h, test_y, device, standardize, "linear probe")
    n, d = xtr.shape
    weight = torch.zeros(len(classes), d, device=device, requires_grad=True)
    bias = torch.zeros(len(classes), device=device, requires_grad=True)
    optimizer = torch.optim.Adam(
        [{"params": [weight], "weight_decay": weight_decay}, {"params": [bias], "weight_decay": 0.0}],
        lr=lr, betas=(high, 0.999), fused=device.type in ("cuda", "cpu", "mps") or None)
    steps = math.ceil(n / batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=lr, total_steps=epochs * steps, cycle_momentum=True,
        base_momentum=low, max_momentum=high)
    generator = torch.Generator(device=device).manual_seed(seed)
    epoch_loss = torch.zeros(epochs, device=device)
    for epoch in range(epochs):
        order = torch.randperm(n, device=device, generator=generator)
        for start in range(0, n, batch_size):
            index = order[start:start + batch_size]
            loss = F.cross_entropy(torch.addmm(bias, xtr[index], weight.t()), ytr[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            # accumulated on the device: no host synchronisation inside the loop
            epoch_loss[epoch] += loss.detach() * index.numel()
    history = (epoch_loss / n).tolist()
    return _probe_result(weight.detach(), bias.detach(), xtr, ytr, xte, yte, classes, mean, std,
                         history)


def linear_probe_lbfgs(
    train_h: Features,
    train_y: ArrayLike,
    test_h: Features,
    test_y: ArrayLike,
    *,
    weight_decay: float = 1e-4,
    max_iter: int = 500,
    tolerance: float = 1e-6,
    device: torch.device | str | None = None,
    standardize: bool = True,
) -> ProbeResult:
    """Multinomial logistic regression with L2, fitted full-batch with L-BFGS.

    Minimises ``mean CE + (weight_decay / 2) ||W||^2`` — exactly the objective of
    :func:`linear_probe` — with ``torch.optim.LBFGS`` and a strong-Wolfe line search, on the whole
    training set at once (deterministic, no learning rate to tune). ``tolerance`` bounds the largest
    gradient entry at convergence; ``max_iter`` bounds the iterations. Fast when the features fit in
    device memory; the result is the optimum the Adam probe approaches.
    """
    max_iter = _positive_int(max_iter, "max_iter")
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
    device = _device(device)
    xtr, ytr, xte, yte, classes, mean, std = _probe_inputs(
        train_h, train_y, test_h, test_y, device, standardize, "linear probe")
    weight = torch.zeros(len(classes), xtr.shape[1], device=device, requires_grad=True)
    bias = torch.zeros(len(classes), device=device, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=max_iter, history_size=20,
                                  tolerance_grad=tolerance, tolerance_change=1e-12,
                                  line_search_fn="strong_wolfe")
    history: list[torch.Tensor] = []

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = (F.cross_entropy(torch.addmm(bias, xtr, weight.t()), ytr)
                + 0.5 * weight_decay * weight.pow(2).sum())
        loss.backward()
        history.append(loss.detach())
        return loss

    optimizer.step(closure)
    return _probe_result(weight.detach(), bias.detach(), xtr, ytr, xte, yte, classes, mean, std,
                         torch.stack(history).tolist())


# -------------------------------------------------------------------------------------------------
# nearest neighbours: kNN classifier and anomaly scores
# -------------------------------------------------------------------------------------------------

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
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
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


# -------------------------------------------------------------------------------------------------
# label-free metrics (thesis 4.1.3)
# -------------------------------------------------------------------------------------------------

REDUCERS = ("umap", "pacmap")
DEFAULT_NEIGHBORS = {"umap": 50, "pacmap": 15}   # thesis 4.1.3 and appendix A


def reduce(h: Features, method: str = "umap", n_components: int = 3, n_neighbors: int | None = None,
           seed: int | None = 0, **options: Any) -> np.ndarray:
    """Reduce features to ``n_components`` dimensions (``Z3`` of the thesis) with UMAP or PaCMAP.

    ``n_neighbors`` defaults to 50 for UMAP (thesis 4.1.3) and 15 for PaCMAP (appendix A). Other
    settings are the libraries' defaults (UMAP: Euclidean input metric, ``min_dist = 0.1``).
    An integer ``seed`` makes the result reproducible, at the price of UMAP running on one thread;
    ``seed=None`` lets it use every core. Further keyword ``options`` go to ``umap.UMAP`` or
    ``pacmap.PaCMAP`` (e.g. ``n_epochs=200``; UMAP's default is 500 epochs up to 10 000 samples and
    200 above). The first UMAP fit in a process compiles numba code
    (tens of seconds; set ``NUMBA_CACHE_DIR`` to keep the compiled code between processes).
    """
    if method not in REDUCERS:
        raise ValueError(f"unknown reduction method {method!r}; choose one of {REDUCERS}")
    x = _features(h, "h", min_rows=2, dtype=np.float32)
    n_components = _positive_int(n_components, "n_components")
    n_neighbors = DEFAULT_NEIGHBORS[method] if n_neighbors is None else _positive_int(n_neighbors,
                                                                                      "n_neighbors")
    if n_neighbors >= x.shape[0]:
        raise ValueError(f"n_neighbors={n_neighbors} needs more than {n_neighbors} samples, "
                         f"got {x.shape[0]}; lower n_neighbors or embed more samples")
    # UMAP warns that a seed disables parallelism; PaCMAP logs that a seed is set and that it is
    # less tested beyond 2-D. Both are understood here, so they are silenced.
    quiet = logging.getLogger("pacmap")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*n_jobs.*", category=UserWarning)
            if method == "umap":
                import umap

                options.setdefault("n_jobs", 1 if seed is not None else -1)
                reducer = umap.UMAP(n_components=n_components, n_neighbors=n_neighbors,
                                    random_state=seed, **options)
            else:
                import pacmap

                options.setdefault("verbose", False)
                reducer = pacmap.PaCMAP(n_components=n_components, n_neighbors=n_neighbors,
                                        random_state=seed, **options)
            z = reducer.fit_transform(x)
    finally:
        quiet.setLevel(level)
    return np.asarray(z, dtype=np.float32)


def cosine_kmeans(z: Features, k: int, seed: int = 0, *, n_init: int = 10,
                  max_iter: int = 300) -> np.ndarray:
    """k-means under the cosine distance (spherical k-means); returns labels ``0..k-1``.

    The thesis clusters ``Z3`` with "k-means, with the cosine distance metric". Here that is
    spherical k-means (Dhillon & Modha, 2001): rows are scaled to unit length, each point joins the
    centroid of highest cosine similarity, and each centroid is the normalised mean of its points,
    which minimises the summed cosine distance ``1 - cos`` within the cluster (the convention of,
    e.g., MATLAB's ``kmeans(..., 'Distance', 'cosine')``). Seeds come from k-means++ on the unit
    vectors (for which squared Euclidean distance is ``2 (1 - cos)``); the best of ``n_init``
    restarts by total cosine distance is kept. Points are compared by direction from the origin —
    for ``Z3`` the UMAP origin, as in the thesis; the data are not re-centred.
    """
    from scipy import sparse
    from sklearn.cluster import kmeans_plusplus

    x = _features(z, "z")
    k = _positive_int(k, "k")
    n_init = _positive_int(n_init, "n_init")
    if k > x.shape[0]:
        raise ValueError(f"k={k} clusters need at least {k} samples, got {x.shape[0]}")
    norms = np.linalg.norm(x, axis=1)
    if (norms == 0).any():
        raise ValueError(f"z has {int((norms == 0).sum())} all-zero rows, whose cosine distance "
                         "is undefined; drop them or shift the data")
    unit = x / norms[:, None]
    n = unit.shape[0]
    rng = np.random.default_rng(seed)
    best_labels, best_cost = None, np.inf
    for _ in range(n_init):
        centers, _ = kmeans_plusplus(unit, k, random_state=int(rng.integers(2**31 - 1)))
        centers /= np.linalg.norm(centers, axis=1, keepdims=True)
        labels = None
        for _ in range(max_iter):
            similarity = unit @ centers.T
            new = similarity.argmax(axis=1)
            counts = np.bincount(new, minlength=k)
            empty = np.flatnonzero(counts == 0)
            if empty.size:
                # an empty cluster restarts at the points worst served by their centroid
                worst = np.argsort(similarity[np.arange(n), new])[:empty.size]
                new[worst] = empty
            if labels is not None and np.array_equal(new, labels):
                break
            labels = new
            members = sparse.csr_matrix((np.ones(n), (labels, np.arange(n))), shape=(k, n))
            sums = np.asarray(members @ unit)
            length = np.linalg.norm(sums, axis=1, keepdims=True)
            # opposite directions can cancel exactly; keep the old centroid then
            centers = np.where(length > 1e-12, sums / np.maximum(length, 1e-12), centers)
        cost = float(np.sum(1.0 - np.sum(unit * centers[labels], axis=1)))
        if cost < best_cost - 1e-12:
            best_labels, best_cost = labels, cost
    return best_labels


def ami(a: ArrayLike, b: ArrayLike) -> float:
    """Adjusted mutual information of two labelings (Vinh et al., 2010; arithmetic-mean normaliser).

    1 for identical partitions (up to renaming), about 0 for independent ones; scikit-learn's
    ``adjusted_mutual_info_score``, as used in the thesis (eq. 2.5).
    """
    from sklearn.metrics import adjusted_mutual_info_score

    a = _labels(a, None, "a")
    b = _labels(b, a.shape[0], "b")
    return float(adjusted_mutual_info_score(a, b))


def silhouette(h: Features, labels: ArrayLike, *, metric: str = "euclidean",
               sample_size: int | None = 10_000, seed: int = 0,
               device: torch.device | str | None = None) -> float:
    """Mean silhouette coefficient of ``labels`` on features ``h`` (Rousseeuw, 1987; thesis eq. 2.6).

    ``s_i = (b_i - a_i) / max(a_i, b_i)`` with ``a_i`` the mean distance from ``i`` to the other
    members of its cluster and ``b_i`` the smallest mean distance to another cluster's members
    (``s_i = 0`` in a singleton cluster), averaged over samples — the definition of scikit-learn's
    ``silhouette_score``, which it matches to float32 precision. The thesis measures it on the
    original 512-d embeddings and names no distance, so the default is scikit-learn's, Euclidean;
    ``metric="cosine"`` uses ``1 - cos``. The cost grows as ``n^2 d``: above ``sample_size`` samples a
    uniform random subset of that size (fixed by ``seed``) is scored, as scikit-learn's
    ``sample_size`` does; ``sample_size=None`` scores all. Distances are computed in chunks with
    matrix products on ``device``.
    """
    x = _features(h, "h", min_rows=3, dtype=np.float32)
    return _silhouettes(x, [labels], metric=metric, sample_size=sample_size, seed=seed,
                        device=device)[0]


def _silhouettes(x: np.ndarray, label_sets: Sequence[ArrayLike], *, metric: str,
                 sample_size: int | None, seed: int,
                 device: torch.device | str | None) -> list[float]:
    """Silhouettes of several labelings of the same features, sharing one pass over distances."""
    if metric not in _METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {_METRICS}")
    n = x.shape[0]
    encoded = []
    for labels in label_sets:
        y = _labels(labels, n, "labels")
        _, idx = np.unique(y, return_inverse=True)
        if not 2 <= idx.max() + 1 <= n - 1:
            raise ValueError(f"the silhouette needs between 2 and n-1={n - 1} distinct labels, "
                             f"got {idx.max() + 1}")
        encoded.append(idx)
    if sample_size is not None and n > sample_size:
        keep = np.sort(np.random.default_rng(seed).choice(n, size=_positive_int(sample_size,
                                                                                   "sample_size"),
                                                          replace=False))
        x = x[keep]
        encoded = [np.unique(idx[keep], return_inverse=True)[1] for idx in encoded]
        if any(idx.max() < 1 for idx in encoded):
            raise ValueError("the subsample holds a single label; raise sample_size")
        n = x.shape[0]
    device = _device(device)
    data = torch.from_numpy(x).to(device)
    if metric == "cosine":
        data = F.normalize(data, dim=1)
    else:
        data = data - data.mean(dim=0)  # smaller norms, smaller cancellation in |x|^2+|y|^2-2xy
    sq = data.pow(2).sum(dim=1)
    onehots = [F.one_hot(torch.as_tensor(idx, device=device)).float() for idx in encoded]
    counts = [oh.sum(dim=0) for oh in onehots]
    totals = [torch.zeros((), dtype=torch.float64, device=device) for _ in encoded]
    rows = _chunk_rows(n, device, None)
    for start in range(0, n, rows):
        block = data[start:start + rows]
        if metric == "cosine":
            dist = 1.0 - block @ data.t()
        else:
            dist = torch.addmm(sq[None, :], block, data.t(), alpha=-2).add_(sq[start:start + rows, None])
            dist = dist.clamp_min_(0).sqrt_()
        local = torch.arange(block.shape[0], device=device)
        dist[local, start + local] = 0.0                 # exact zero self-distance
        for t, (idx, onehot, count) in enumerate(zip(encoded, onehots, counts)):
            own = torch.as_tensor(idx[start:start + rows], device=device)
            mean_to = (dist @ onehot) / count            # mean distance to each cluster
            own_size = count[own]
            a = mean_to[local, own] * own_size / (own_size - 1).clamp_min(1)   # exclude self
            mean_to[local, own] = float("inf")
            b = mean_to.min(dim=1).values
            s = torch.where(own_size > 1, (b - a) / torch.maximum(a, b).clamp_min(1e-30),
                            torch.zeros_like(a))
            totals[t] += s.double().sum()
    return [float(total) / n for total in totals]


def histogram_entropy(z: Features, bin_width: float = 0.4) -> float:
    """Entropy (nats) of the histogram of ``z`` with bins ``bin_width`` standard deviations wide.

    As in the thesis (4.1.3): along each dimension ``i`` the range ``[min_i, max_i]`` of the data is
    cut into bins of width ``l_i = bin_width * sigma_i`` (``sigma_i`` the standard deviation of
    dimension ``i``; ``bin_width = 0.8`` in chapter 5), starting at ``min_i``; the last bin also
    holds points equal to ``max_i``. The bin counts divided by ``n`` give ``p`` and the entropy is
    ``-sum p log p`` over occupied bins. Empty bins contribute nothing, so only the integer bin
    index of each point is formed and occupied bins are counted with ``np.unique``: memory is
    ``O(n d)`` whatever the number of bins. A constant dimension has a single bin.
    """
    x = _features(z, "z")
    if not bin_width > 0:
        raise ValueError(f"bin_width must be positive (in standard deviations), got {bin_width}")
    low = x.min(axis=0)
    span = x.max(axis=0) - low
    width = bin_width * x.std(axis=0)
    constant = width <= 0
    width = np.where(constant, 1.0, width)
    n_bins = np.where(constant, 1, np.maximum(np.ceil(span / width), 1)).astype(np.int64)
    index = np.floor((x - low) / width).astype(np.int64)
    index = np.minimum(index, n_bins - 1)              # max_i belongs to the last bin
    if np.sum(np.log(n_bins.astype(np.float64))) < math.log(2**62):
        # one int64 code per occupied cell (row-major), far faster than unique rows
        codes = np.ravel_multi_index(index.T, tuple(n_bins))
        _, counts = np.unique(codes, return_counts=True)
    else:
        _, counts = np.unique(index, axis=0, return_counts=True)
    p = counts / x.shape[0]
    return float(-np.sum(p * np.log(p)))


def eigenspectrum(h: Features) -> np.ndarray:
    """Eigenvalues of the centred covariance of ``h`` (divided by ``n``), in descending order.

    ``Cov = (1/n) sum (h_i - mean)(h_i - mean)^T`` as in alpha-ReQ. Computed in float64; when
    ``n < d`` from the ``n x n`` Gram matrix, which has the same non-zero eigenvalues. Returns
    ``min(n, d)`` values, tiny negative round-off clipped to zero.
    """
    x = _features(h, "h", min_rows=2)
    x = x - x.mean(axis=0)
    n, d = x.shape
    gram = (x.T @ x) if d <= n else (x @ x.T)
    values = np.linalg.eigvalsh(gram / n)[::-1]
    return np.clip(values, 0.0, None)


# Ranks fitted by default, 1-based and inclusive. The power law describes the body of the spectrum:
# the first few components carry the coarse (class/mean-like) structure and sit above the line, and
# the far tail is bent by finite-sample noise and by the feature width. The alpha-ReQ authors'
# reference code fits indices 5..99 (ranks 6..100), following Stringer et al. (2019); so do we.
ALPHA_FIT_RANGE = (6, 100)


@dataclass
class PowerLawFit:
    """A fit ``log lambda_k = intercept - alpha log k`` over the 1-based ``ranks``; ``r2`` its R^2."""

    alpha: float
    intercept: float
    r2: float
    ranks: np.ndarray

    def predict(self, ranks: ArrayLike) -> np.ndarray:
        """The fitted eigenvalues ``exp(intercept) k^-alpha`` at the given ranks."""
        k = np.asarray(ranks, dtype=np.float64)
        return np.exp(self.intercept - self.alpha * np.log(k))


def _spectrum(h_or_eigenvalues: Features) -> np.ndarray:
    a = _numpy(h_or_eigenvalues)
    if a.ndim == 2:
        return eigenspectrum(a)
    values = _labels(a, None, "eigenvalues").astype(np.float64)
    if (values < 0).any():
        raise ValueError("eigenvalues must be non-negative (pass a covariance spectrum)")
    if (np.diff(values) > 1e-12 * max(values[0], 1e-300)).any():
        raise ValueError("eigenvalues must be sorted in descending order (use eigenspectrum(h))")
    return values


def power_law_fit(h_or_eigenvalues: Features,
                  fit_range: tuple[int, int | None] = ALPHA_FIT_RANGE) -> PowerLawFit:
    """Least-squares fit of ``lambda_k ∝ k^-alpha`` on log-log axes (alpha-ReQ, Agrawal et al. 2022).

    Accepts features ``(n, d)`` (their :func:`eigenspectrum` is used) or a 1-D descending spectrum.
    ``fit_range = (k_min, k_max)`` are 1-based inclusive ranks, default ``(6, 100)``; ``k_max=None``
    means "to the last eigenvalue". ``k_max`` is clipped to the numerical rank (eigenvalues above
    ``1e-10`` times the largest), so a narrow representation is fitted over what it has; fewer than
    three ranks in range raise a ``ValueError``.
    """
    values = _spectrum(h_or_eigenvalues)
    k_min, k_max = fit_range
    k_min = _positive_int(k_min, "fit_range[0]")
    rank = int(np.sum(values > 1e-10 * values[0])) if values.size and values[0] > 0 else 0
    k_max = rank if k_max is None else min(_positive_int(k_max, "fit_range[1]"), rank)
    if k_max - k_min + 1 < 3:
        raise ValueError(f"the power-law fit needs at least 3 ranks in fit_range={fit_range}, but the "
                         f"spectrum has only {rank} non-zero eigenvalues; the representation is "
                         "(nearly) collapsed, or choose a lower fit_range")
    ranks = np.arange(k_min, k_max + 1)
    x, y = np.log(ranks), np.log(values[k_min - 1:k_max])
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (intercept + slope * x)
    r2 = 1.0 - float(residual @ residual) / float(((y - y.mean()) ** 2).sum())
    return PowerLawFit(alpha=float(-slope), intercept=float(intercept), r2=r2, ranks=ranks)


def alpha(h_or_eigenvalues: Features, fit_range: tuple[int, int | None] = ALPHA_FIT_RANGE) -> float:
    """Eigenspectrum decay coefficient ``alpha`` of ``lambda_k ∝ k^-alpha`` (see :func:`power_law_fit`).

    About 1 for mouse V1 responses (Stringer et al., 2019); alpha-ReQ finds well-trained encoders
    in a "Goldilocks zone" near it: much smaller means redundant, nearly isotropic features, much
    larger means a few directions dominate (towards collapse).
    """
    return power_law_fit(h_or_eigenvalues, fit_range).alpha


def effective_rank(h: Features, eps: float = 1e-7) -> float:
    """RankMe (Garrido et al., 2023): ``exp`` of the entropy of the normalised singular values.

    ``p_k = sigma_k / sum_j sigma_j + eps`` with ``sigma_k`` the singular values of the (uncentred)
    embedding matrix ``h`` and ``eps = 1e-7`` as in the paper; ``RankMe = exp(-sum p_k log p_k)``.
    Ranges from about 1 (collapse to a line) to ``min(n, d)`` (all directions equally used); the
    paper uses ``n`` well above ``d`` (25 600 samples).
    """
    x = _features(h, "h")
    n, d = x.shape
    gram = (x.T @ x) if d <= n else (x @ x.T)
    sigma = np.sqrt(np.clip(np.linalg.eigvalsh(gram), 0.0, None))
    if sigma.sum() == 0:
        raise ValueError("h is all zeros; its singular values are all zero and RankMe is undefined")
    p = sigma / sigma.sum() + eps
    return float(np.exp(-np.sum(p * np.log(p))))


# -------------------------------------------------------------------------------------------------
# everything at once
# -------------------------------------------------------------------------------------------------

#: metrics that need no labels, and the labelled references of the thesis (record keys)
LABEL_FREE_METRICS = ("entropy", "ami_c1_c2", "silhouette_c1", "alpha", "effective_rank")
LABELLED_METRICS = ("ami_c1_gt", "silhouette_gt")


def label_free_metrics(
    h: Features,
    labels: ArrayLike | None = None,
    *,
    n_classes: int | None = None,
    reducer: str = "umap",
    seed: int = 0,
    bin_width: float = 0.4,
    n_neighbors: int | None = None,
    z3: Features | None = None,
    silhouette_metric: str = "euclidean",
    silhouette_sample_size: int | None = 10_000,
    fit_range: tuple[int, int | None] = ALPHA_FIT_RANGE,
    device: torch.device | str | None = None,
    **reducer_options: Any,
) -> dict[str, float]:
    """All label-free metrics of one set of embeddings, as one tidy record.

    Following the thesis (4.1.3): ``Z3 = reduce(h)`` (computed once and shared), ``C1`` and ``C2``
    from :func:`cosine_kmeans` on ``Z3`` with ``k1 = n_classes`` and ``k2 = 2 k1`` clusters; then

    * ``entropy`` — :func:`histogram_entropy` of ``Z3`` (``bin_width`` standard deviations);
    * ``ami_c1_c2`` — clustering agreement ``AMI(C1, C2)``;
    * ``silhouette_c1`` — silhouette of ``C1`` on the original ``h``;
    * ``alpha`` — eigenspectrum decay of ``h``; ``effective_rank`` — RankMe of ``h``;

    and, when ``labels`` are given, the labelled references ``ami_c1_gt = AMI(C1, C_GT)`` and
    ``silhouette_gt`` (silhouette of the ground truth on ``h``). Without labels ``n_classes`` must be
    given (``k1`` is the number of classes the data are believed to hold); with labels it defaults to
    their number of distinct values. Pass a precomputed ``z3`` to reuse one reduction; other keyword
arguments go to the reducer (see :func:`reduce`). ``device`` runs the silhouettes' distance
computations (default: CUDA when available).

    A metric that is undefined for these embeddings (e.g. the silhouette when every point falls in
    one cluster, or ``alpha`` of a collapsed spectrum) is NaN, with a warning, so a sweep over
    milestones does not stop at a collapsed one.
    """
    x = _features(h, "h", min_rows=3)
    y = None if labels is None else _labels(labels, x.shape[0], "labels")
    if n_classes is None:
        if y is None:
            raise ValueError("without labels, pass n_classes (k1, the number of clusters C1 should "
                             "have; C2 gets 2 * n_classes)")
        n_classes = int(np.unique(y).size)
    k1 = _positive_int(n_classes, "n_classes")
    if k1 < 2:
        raise ValueError(f"n_classes must be at least 2 for clustering metrics, got {k1}")
    if 2 * k1 > x.shape[0]:
        raise ValueError(f"C2 needs 2 * n_classes = {2 * k1} clusters but there are only "
                         f"{x.shape[0]} samples")
    if z3 is None:
        z = reduce(x, method=reducer, n_components=3, n_neighbors=n_neighbors, seed=seed,
                   **reducer_options)
    else:
        z = _features(z3, "z3")
        if z.shape[0] != x.shape[0]:
            raise ValueError(f"z3 has {z.shape[0]} rows but h has {x.shape[0]}; z3 must be reduce(h)")
    c1 = cosine_kmeans(z, k1, seed)
    c2 = cosine_kmeans(z, 2 * k1, seed)

    def undefined(name: str, error: Exception) -> float:
        warnings.warn(f"{name} is undefined for these embeddings ({error}); recorded as NaN",
                      RuntimeWarning, stacklevel=3)
        return float("nan")

    # Both silhouettes share one pass over the pairwise distances of h.
    names = ["silhouette_c1"] + (["silhouette_gt"] if y is not None else [])
    label_sets = [c1] + ([y] if y is not None else [])
    try:
        scores = _silhouettes(x.astype(np.float32), label_sets, metric=silhouette_metric,
                              sample_size=silhouette_sample_size, seed=seed, device=device)
    except ValueError:                                   # one labeling is degenerate: go one by one
        scores = []
        for name, labeling in zip(names, label_sets):
            try:
                scores.append(silhouette(x, labeling, metric=silhouette_metric,
                                         sample_size=silhouette_sample_size, seed=seed,
                                         device=device))
            except ValueError as error:
                scores.append(undefined(name, error))
    silhouettes = dict(zip(names, scores))
    try:
        decay = alpha(x, fit_range)
    except ValueError as error:
        decay = undefined("alpha", error)
    record = {
        "entropy": histogram_entropy(z, bin_width),
        "ami_c1_c2": ami(c1, c2),
        "silhouette_c1": silhouettes["silhouette_c1"],
        "alpha": decay,
        "effective_rank": effective_rank(x),
    }
    if y is not None:
        record["ami_c1_gt"] = ami(c1, y)
        record["silhouette_gt"] = silhouettes["silhouette_gt"]
    return record


def metrics_table(records: Iterable[Mapping[str, Any]]) -> "pd.DataFrame":  # noqa: F821
    """Stack metric records (one per milestone, e.g. ``{"epoch": 20, **label_free_metrics(h)}``)
    into a DataFrame, sorted by ``epoch`` when present, identifying columns first."""
    import pandas as pd

    rows = list(records)
    if not rows:
        raise ValueError("records is empty; pass one dict per milestone")
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise ValueError(f"record {i} is a {type(row).__name__}, expected a dict of metrics")
    table = pd.DataFrame.from_records(rows)
    known = set(LABEL_FREE_METRICS + LABELLED_METRICS)
    ids = [c for c in table.columns if c not in known and not _is_float_column(table[c])]
    table = table[ids + [c for c in table.columns if c not in ids]]
    if "epoch" in table.columns:
        table = table.sort_values("epoch", kind="stable").reset_index(drop=True)
    return table


def _is_float_column(column: Sequence[Any]) -> bool:
    return getattr(column, "dtype", None) is not None and column.dtype.kind == "f"
