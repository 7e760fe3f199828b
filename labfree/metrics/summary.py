"""Every metric of a set of embeddings in one call, and a table over milestones."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike

from ._checks import Features, _features, _labels, _positive_int
from .clustering import _silhouettes, ami, cosine_kmeans, histogram_entropy, reduce, silhouette
from .spectrum import ALPHA_FIT_RANGE, alpha, effective_rank

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


def metrics_table(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:  # noqa: F821
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
