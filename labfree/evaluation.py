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
    return metrics.knn_classify(*args, k=min(KNN_K, len(train_set)), device=device)
