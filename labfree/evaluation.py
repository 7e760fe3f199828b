"""The book's one probe protocol: embed with the frozen encoder, fit a linear probe, report.

Every chapter that asks "how good is this representation, given labels?" calls :func:`probe`:
the encoder embeds a labelled training set and the test set (both normalised with the training
set's statistics, ``h`` in eval mode), and multinomial logistic regression with L2 weight decay
``1e-4`` on standardised features is solved to its optimum with L-BFGS
(:func:`labfree.metrics.linear_probe_lbfgs`). That is the objective of the thesis' 100-epoch Adam
probe (``shapes_thesis`` 3.1.2; :func:`labfree.metrics.linear_probe`) at the point Adam heads for,
without a learning rate or seed to tune; a chapter that studies the probe itself passes
``protocol="adam"`` (the thesis' literal recipe) or ``protocol="knn"`` (the weighted kNN of Wu et
al., 2018, ``k = 200`` capped at the training-set size).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from labfree import embed as _embed
from labfree import metrics

PROTOCOLS = ("lbfgs", "adam", "knn")
WEIGHT_DECAY = 1e-4   # the thesis' L2 on the probe's weights
KNN_K = 200           # Wu et al. (2018)


def features(encoder: nn.Module, train_set: Any, test_set: Any, *,
             device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(h_train, h_test)``: both sets embedded by the frozen ``encoder``, normalised with the
    *training* set's statistics (a probe never sees test statistics)."""
    return tuple(_embed.embed(encoder, s.images, train_set.normalize, device=device)
                 for s in (train_set, test_set))


def probe(encoder: nn.Module, train_set: Any, test_set: Any, *, protocol: str = "lbfgs",
          device: torch.device | str | None = None, seed: int = 0) -> metrics.ProbeResult:
    """Probe ``encoder`` on ``train_set`` / ``test_set`` (:class:`~labfree.data.ImageSet`) with the
    book's protocol (see the module docstring); ``.accuracy`` is the number the chapters report.
    ``protocol="knn"`` returns a :class:`~labfree.metrics.KNNResult` (``.accuracy`` too)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown probe protocol {protocol!r}; choose one of {PROTOCOLS}")
    h_train, h_test = features(encoder, train_set, test_set, device=device)
    return probe_features(h_train, train_set.labels, h_test, test_set.labels,
                          protocol=protocol, device=device, seed=seed)


def probe_features(h_train: Any, y_train: Any, h_test: Any, y_test: Any, *,
                   protocol: str = "lbfgs", device: torch.device | str | None = None,
                   seed: int = 0) -> metrics.ProbeResult:
    """The protocol of :func:`probe` on features already computed (any labels: a chapter's own
    task, such as telling darkened images from the originals)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown probe protocol {protocol!r}; choose one of {PROTOCOLS}")
    args = (h_train, y_train, h_test, y_test)
    if protocol == "lbfgs":
        return metrics.linear_probe_lbfgs(*args, weight_decay=WEIGHT_DECAY, device=device)
    if protocol == "adam":
        return metrics.linear_probe(*args, epochs=100, lr=3e-3, weight_decay=WEIGHT_DECAY,
                                    device=device, seed=seed)
    return metrics.knn_classify(*args, k=min(KNN_K, len(y_train)), device=device)


def spread(x: Any) -> float:
    """How far the rows of ``x`` (``(n, d)``) are spread over the unit sphere: ``sqrt(d)`` times
    the training step's collapse measure (the mean per-dimension std of the L2-normalised rows,
    ``embedding_std`` in a run's history). About 1 when spread evenly, 0 when every row is the
    same point."""
    from labfree.train.step import _embedding_std

    x = torch.as_tensor(x)
    return float(_embedding_std(x) * x.shape[1] ** 0.5)


def mean_abs_correlation(x: Any) -> float:
    """The mean absolute Pearson correlation between pairs of columns of ``x`` (``(n, d)``): 0 for
    decorrelated dimensions, 1 for copies of one; constant columns are left out (NaN when every
    column is constant: a collapsed embedding has no correlations to measure)."""
    import numpy as np

    x = torch.as_tensor(x).detach().double().cpu().numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = np.corrcoef(x.T)
    off_diagonal = np.abs(correlation[~np.eye(x.shape[1], dtype=bool)])
    if np.isnan(off_diagonal).all():
        return float("nan")
    return float(np.nanmean(off_diagonal))


def assess(model: nn.Module, train_set: Any, test_set: Any, *,
           device: torch.device | str | None = None) -> dict[str, float]:
    """A self-supervised model (``.encoder`` and ``.projector``) in four numbers on the test set:
    the ``"probe accuracy"`` of :func:`probe` on the encoder's ``h``, the :func:`spread` of ``h``
    and of the projections ``z = projector(h)``, and the ``"mean |correlation| of z"``
    (:func:`mean_abs_correlation`). The model's training flags are restored afterwards."""
    h_train, h_test = features(model.encoder, train_set, test_set, device=device)
    head = model.projector
    modes = {module: module.training for module in head.modules()}
    home = _embed.module_device(head)
    try:
        head.eval()
        with torch.no_grad():
            z = head(h_test.to(home)).float().cpu()
    finally:
        for module, mode in modes.items():
            module.train(mode)
    accuracy = probe_features(h_train, train_set.labels, h_test, test_set.labels,
                              device=device).accuracy
    return {"probe accuracy": accuracy, "spread of h": spread(h_test), "spread of z": spread(z),
            "mean |correlation| of z": mean_abs_correlation(z)}
