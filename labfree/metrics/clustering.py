"""Label-free pieces on a low-dimensional projection.

UMAP/PaCMAP, cosine k-means, AMI, silhouettes, histogram entropy.
"""

from __future__ import annotations

import functools
import logging
import math
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import ArrayLike

from ._checks import Features, _device, _features, _labels, _positive_int
from .neighbours import _METRICS, _chunk_rows

REDUCERS = ("umap", "pacmap", "pca", "tsne")
DEFAULT_NEIGHBORS = {"umap": 50, "pacmap": 15}   # thesis 4.1.3 and appendix A; PCA and t-SNE take none


@functools.cache  # once per process: the dispatchers stay switched
def _import_umap() -> Any:
    """``import umap``, with numba's on-disk cache switched on for umap's own compiled functions.

    pynndescent caches its numba code, but umap 0.5 compiles its distances, exact-neighbour search,
    fuzzy set and layout epoch afresh in every process: 8 s of a 10 s first fit of 1 000 points on
    one thread, paid by every chapter that draws a UMAP map. Caching them (under
    ``NUMBA_CACHE_DIR`` when set) leaves the results unchanged, bit for bit (tests/test_metrics.py).
    umap's exact distance matrix for fewer than 4 096 points is then computed in one compiled loop
    rather than pair by pair from Python (:mod:`labfree.metrics._umap_exact`): the same bits, and
    a 1 000-point fit 0.6 s shorter than its 2 s.
    """
    import umap
    import umap.umap_
    from numba.core.caching import NullCache
    from numba.core.registry import CPUDispatcher

    from . import _umap_exact

    for name, module in list(sys.modules.items()):
        if name == "umap" or name.startswith("umap."):
            for function in vars(module).values():
                # not yet compiled, so enabling the cache now covers its first compilation
                if (isinstance(function, CPUDispatcher) and isinstance(function._cache, NullCache)
                        and not function.signatures):
                    function.enable_caching()
    umap.umap_.pairwise_distances = _umap_exact.pairwise_distances
    return umap


def compile_reducers(methods: Sequence[str] = ("umap",)) -> None:
    """Fit each of ``methods`` (the numba-compiled reducers, ``"umap"``, ``"pacmap"``) once on 200
    random points, so that their compiled code lands in numba's on-disk cache (``NUMBA_CACHE_DIR``).

    A first UMAP fit on a cold cache compiles for about 30 s on one core; a process that finds the
    code cached fits in 2 s. Warming the cache once, before several processes (notebook kernels,
    test workers) reach their first map, spares each of them the compilation.
    """
    x = np.random.default_rng(0).normal(size=(200, 16)).astype(np.float32)
    for method in methods:
        reduce(x, method, n_neighbors=15)


def reduce(h: Features, method: str = "umap", n_components: int = 3, n_neighbors: int | None = None,
           seed: int | None = 0, **options: Any) -> np.ndarray:
    """Reduce features to ``n_components`` dimensions (``Z3`` of the thesis) with UMAP or PaCMAP,
    or, for pictures, with PCA or t-SNE (scikit-learn; t-SNE initialised by PCA).

    ``n_neighbors`` (UMAP and PaCMAP only) defaults to 50 for UMAP (thesis 4.1.3) and 15 for PaCMAP
    (appendix A). Other settings are the libraries' defaults (UMAP: Euclidean input metric,
    ``min_dist = 0.1``).
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
    if method in ("pca", "tsne"):
        if n_neighbors is not None:
            raise ValueError(f"{method} takes no n_neighbors (t-SNE's analogue is perplexity=...)")
        if method == "pca":
            from sklearn.decomposition import PCA
            return PCA(n_components, random_state=seed, **options).fit_transform(x).astype(np.float32)
        from sklearn.manifold import TSNE
        options.setdefault("perplexity", min(30.0, (x.shape[0] - 1) / 3))
        tsne = TSNE(n_components, init="pca", random_state=seed, **options)
        return tsne.fit_transform(x).astype(np.float32)
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
                umap = _import_umap()
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


HISTOGRAM_BOUNDS = ("range", "hull")


def histogram_entropy(z: Features, bin_width: float = 0.4, *, bounds: str = "range") -> float:
    """Entropy (nats) of the histogram of ``z`` with bins ``bin_width`` standard deviations wide.

    As in the thesis (4.1.3): along each dimension ``i`` the range ``[min_i, max_i]`` of the data is
    cut into bins of width ``l_i = bin_width * sigma_i`` (``sigma_i`` the standard deviation of
    dimension ``i``; ``bin_width = 0.8`` in chapter 5), starting at ``min_i``; the last bin also
    holds points equal to ``max_i``. The bin counts divided by ``n`` give ``p`` and the entropy is
    ``-sum p log p`` over occupied bins. Empty bins contribute nothing, so only the integer bin
    index of each point is formed and occupied bins are counted with ``np.unique``: memory is
    ``O(n d)`` whatever the number of bins. A constant dimension has a single bin.

    ``bounds="range"`` (the default) is the thesis' min-max box above. ``bounds="hull"`` is the
    alternative the thesis proposes (5.3 and appendix A): the convex hull of ``z``, rather than its
    bounding box, bounds the histogram. Precisely: the grid is the same, but only bins whose
    *centre* lies inside the convex hull of ``z`` (closed; ``scipy.spatial.ConvexHull``) are counted;
    points in the other bins are left out and ``p`` is the share of the remaining points. A bin
    whose centre is outside the hull holds only a sliver of it — typically the tip of a thin spike
    that a few far outliers stretch out of the bulk, or a corner of the box the data do not fill.
    Both choices give the same value when every occupied bin's centre is inside the hull. The
    hull needs ``z`` to span its ``d`` dimensions (``d >= 2``; in 1-D it is ``[min, max]``); it
    raises ``ValueError`` when no occupied bin has its centre inside the hull (lower
    ``bin_width``).
    """
    x = _features(z, "z")
    if not bin_width > 0:
        raise ValueError(f"bin_width must be positive (in standard deviations), got {bin_width}")
    if bounds not in HISTOGRAM_BOUNDS:
        raise ValueError(f"unknown bounds {bounds!r}; choose one of {HISTOGRAM_BOUNDS}")
    low = x.min(axis=0)
    span = x.max(axis=0) - low
    width = bin_width * x.std(axis=0)
    constant = width <= 0
    width = np.where(constant, 1.0, width)
    n_bins = np.where(constant, 1, np.maximum(np.ceil(span / width), 1)).astype(np.int64)
    index = np.floor((x - low) / width).astype(np.int64)
    index = np.minimum(index, n_bins - 1)              # max_i belongs to the last bin
    if bounds == "hull":
        index = index[_centres_in_hull(x, index, low, width, span <= 0)]
        if index.shape[0] == 0:
            raise ValueError("no occupied bin has its centre inside the convex hull of z; "
                             f"lower bin_width (got {bin_width})")
    if np.sum(np.log(n_bins.astype(np.float64))) < math.log(2**62):
        # one int64 code per occupied cell (row-major), far faster than unique rows
        codes = np.ravel_multi_index(index.T, tuple(n_bins))
        _, counts = np.unique(codes, return_counts=True)
    else:
        _, counts = np.unique(index, axis=0, return_counts=True)
    p = counts / index.shape[0]
    return float(-np.sum(p * np.log(p)))


def _centres_in_hull(x: np.ndarray, index: np.ndarray, low: np.ndarray, width: np.ndarray,
                     flat: np.ndarray) -> np.ndarray:
    """Boolean mask over the rows of ``x``: whether the centre of the row's bin lies in the convex
    hull of ``x`` (closed). Dimensions in which every value is equal (``flat``) are dropped."""
    from scipy.spatial import ConvexHull, QhullError

    cells, inverse = np.unique(index, axis=0, return_inverse=True)
    inverse = np.ravel(inverse)
    centres = low + (cells + 0.5) * width
    live = ~flat
    points, centres = x[:, live].astype(np.float64), centres[:, live]
    if points.shape[1] == 0:                            # every dimension constant: one point
        return np.ones(x.shape[0], dtype=bool)
    if points.shape[1] == 1:
        scale = max(float(np.abs(points).max()), 1.0) * 1e-12
        inside = (centres[:, 0] >= points.min() - scale) & (centres[:, 0] <= points.max() + scale)
    else:
        try:
            hull = ConvexHull(points)
        except QhullError as error:
            raise ValueError("the convex hull of z is degenerate (the points do not span their "
                             f"{points.shape[1]} non-constant dimensions): {error}") from None
        # inside the closed hull: on the inner side of every facet's plane (unit outward normals)
        scale = max(float(np.abs(points).max()), 1.0) * 1e-9
        normals, offsets = hull.equations[:, :-1], hull.equations[:, -1]
        inside = (centres @ normals.T + offsets <= scale).all(axis=1)
    return inside[inverse]
