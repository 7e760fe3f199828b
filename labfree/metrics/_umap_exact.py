"""UMAP's exact distance matrix for small data, compiled instead of called pair by pair.

Below 4 096 points umap-learn computes every pairwise distance with scikit-learn's
``pairwise_distances(X, metric=umap.distances.euclidean)``. scikit-learn calls a callable metric
once per pair from Python: half a million calls for 1 000 points, about 0.6 s of a 2 s fit on one
thread, and 2.5 s of a 6 s fit for 2 000 points. :func:`pairwise_distances` computes the same
matrix in one compiled loop over the same numba function, in the same order and dtype, so the
distances, and every UMAP map made from them, are the same bit for bit (tests/test_metrics.py);
any other call goes to scikit-learn unchanged. Imported by ``clustering._import_umap`` only, after
``umap`` itself.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from sklearn.metrics import pairwise_distances as sklearn_pairwise_distances
from umap.distances import euclidean


@numba.njit(cache=True)
def _euclidean_matrix(x: np.ndarray) -> np.ndarray:
    # scikit-learn's callable path: the upper triangle, mirrored, then the diagonal, in x's dtype
    n = x.shape[0]
    out = np.zeros((n, n), dtype=x.dtype)
    for i in range(n):
        for j in range(i + 1, n):
            d = euclidean(x[i], x[j])
            out[i, j] = d
            out[j, i] = d
        out[i, i] = euclidean(x[i], x[i])
    return out


def pairwise_distances(X: Any, Y: Any = None, metric: Any = "euclidean", **kwds: Any) -> np.ndarray:
    """``sklearn.metrics.pairwise_distances``, compiled for the call umap makes on small dense data
    (``X`` alone, float32 or float64, finite, with umap's Euclidean metric and no options)."""
    if (Y is None and metric is euclidean and not kwds and isinstance(X, np.ndarray) and X.ndim == 2
            and X.dtype in (np.float32, np.float64) and np.isfinite(X).all()):
        return _euclidean_matrix(np.ascontiguousarray(X))
    return sklearn_pairwise_distances(X, Y, metric=metric, **kwds)
