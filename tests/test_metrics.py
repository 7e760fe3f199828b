"""Known-answer tests for labfree.metrics.

Every metric is checked against a case whose answer is known in advance: synthetic spectra for
alpha, isotropic and rank-r data for RankMe, lattices and uniform data for the histogram entropy,
separable classes for the probes and kNN, disjoint and identical distributions for ROC AUC,
scikit-learn for the silhouette. UMAP is slow to compile, so the UMAP-based tests share one module-
scoped reduction of small Gaussian blobs.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from labfree import metrics as M

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def gaussian_blobs(n_per_class: int, dim: int, n_classes: int, separation: float, seed: int):
    """Isotropic unit-variance Gaussians around class means drawn at scale ``separation``."""
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(n_classes, dim)) * separation
    y = np.repeat(np.arange(n_classes), n_per_class)
    return (means[y] + rng.normal(size=(y.size, dim))).astype(np.float32), y


def split_blobs(n_train: int, n_test: int, dim: int, n_classes: int, separation: float, seed: int):
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(n_classes, dim)) * separation
    y_train = rng.integers(0, n_classes, n_train)
    y_test = rng.integers(0, n_classes, n_test)
    x_train = means[y_train] + rng.normal(size=(n_train, dim))
    x_test = means[y_test] + rng.normal(size=(n_test, dim))
    return x_train.astype(np.float32), y_train, x_test.astype(np.float32), y_test


def power_law_gaussian(alpha: float, n: int, d: int, seed: int) -> np.ndarray:
    """Gaussian samples whose covariance has eigenvalues k^-alpha, in a random orthonormal basis."""
    rng = np.random.default_rng(seed)
    spectrum = np.arange(1, d + 1, dtype=np.float64) ** -alpha
    basis, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return (rng.normal(size=(n, d)) * np.sqrt(spectrum)) @ basis.T


# ------------------------------------------------------------------------------ eigenspectrum, alpha


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0])
def test_alpha_recovered_from_gaussian_with_power_law_spectrum(alpha):
    # n / d = 80: sample eigenvalues at ranks 6-100 sit within a few percent of k^-alpha
    h = power_law_gaussian(alpha, n=20_000, d=256, seed=int(alpha * 10))
    fit = M.power_law_fit(h)
    assert fit.alpha == pytest.approx(alpha, abs=0.05)
    assert M.alpha(h) == fit.alpha
    assert fit.r2 > 0.99
    assert fit.ranks[0] == 6 and fit.ranks[-1] == 100


def test_alpha_exact_on_an_exact_spectrum_and_fit_range():
    spectrum = 3.0 * np.arange(1, 301, dtype=float) ** -1.3
    fit = M.power_law_fit(spectrum, fit_range=(1, None))
    assert fit.alpha == pytest.approx(1.3, abs=1e-12)
    assert math.exp(fit.intercept) == pytest.approx(3.0, rel=1e-10)
    assert fit.r2 == pytest.approx(1.0)
    assert fit.ranks[-1] == 300
    np.testing.assert_allclose(fit.predict([1, 10]), spectrum[[0, 9]], rtol=1e-10)
    # a bend outside the fit range does not matter
    bent = spectrum.copy()
    bent[:5] *= 10
    bent[150:] = bent[150] * np.arange(1, 151, dtype=float) ** -5
    assert M.alpha(bent, fit_range=(6, 100)) == pytest.approx(1.3, abs=1e-12)


def test_eigenspectrum_matches_numpy_covariance_in_both_shapes():
    rng = np.random.default_rng(0)
    tall = rng.normal(size=(300, 20)) @ rng.normal(size=(20, 20))
    expected = np.sort(np.linalg.eigvalsh(np.cov(tall, rowvar=False, bias=True)))[::-1]
    np.testing.assert_allclose(M.eigenspectrum(tall), expected, rtol=1e-9, atol=1e-12)
    wide = rng.normal(size=(15, 40))
    expected = np.sort(np.linalg.eigvalsh(np.cov(wide, rowvar=False, bias=True)))[::-1][:15]
    got = M.eigenspectrum(wide)
    assert got.shape == (15,)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-10)
    assert np.all(np.diff(got) <= 0) and got.min() >= 0


def test_alpha_of_a_collapsed_representation_raises_and_says_why():
    rng = np.random.default_rng(0)
    h = rng.normal(size=(500, 3)) @ rng.normal(size=(3, 64))           # rank 3
    with pytest.raises(ValueError, match="collapsed"):
        M.alpha(h)
    with pytest.raises(ValueError, match="descending"):
        M.alpha(np.array([1.0, 2.0, 0.5, 0.1]))
    with pytest.raises(ValueError, match="non-negative"):
        M.alpha(np.array([1.0, 0.5, -0.1]))


# ------------------------------------------------------------------------------------------ RankMe


def test_rankme_isotropic_gaussian_is_close_to_the_dimension():
    h = np.random.default_rng(0).normal(size=(20_000, 64))
    assert M.effective_rank(h) == pytest.approx(64, rel=0.01)


def test_rankme_of_rank_r_data_is_r():
    rng = np.random.default_rng(1)
    basis, _ = np.linalg.qr(rng.normal(size=(128, 8)))                  # 8 orthonormal directions
    h = rng.normal(size=(20_000, 8)) @ basis.T
    assert M.effective_rank(h) == pytest.approx(8, rel=0.01)


def test_rankme_follows_its_formula_with_the_papers_epsilon():
    h = np.diag([3.0, 1.0, 1.0, 1.0])                                   # singular values 3, 1, 1, 1
    p = np.array([3.0, 1.0, 1.0, 1.0]) / 6.0 + 1e-7
    assert M.effective_rank(h) == pytest.approx(math.exp(-(p * np.log(p)).sum()), rel=1e-12)
    with pytest.raises(ValueError, match="all zeros"):
        M.effective_rank(np.zeros((5, 3)))


# ------------------------------------------------------------------------------ histogram entropy


def test_histogram_entropy_of_a_lattice_is_log_of_the_occupied_bins():
    m = 7
    grid = np.stack(np.meshgrid(*[np.arange(m)] * 3, indexing="ij"), axis=-1).reshape(-1, 3) + 0.5
    points = np.repeat(grid, 4, axis=0)                                 # 4 copies of every node
    # bins slightly narrower than the lattice step, so each node gets its own bin (m per axis)
    sigma = math.sqrt((m * m - 1) / 12)
    width = (1 - 0.5 / m) / sigma
    assert M.histogram_entropy(points, bin_width=width) == pytest.approx(3 * math.log(m), abs=1e-12)


def test_histogram_entropy_of_uniform_data_matches_the_discretised_uniform():
    u = np.random.default_rng(0).uniform(size=(200_000, 3))
    for bin_width in (0.4, 0.8):
        width = bin_width / math.sqrt(12)                               # sigma of U(0, 1)
        full = math.floor(1 / width)
        p = np.r_[np.full(full, width), 1 - full * width]               # last bin is partial
        expected = 3 * float(-(p * np.log(p)).sum())
        assert M.histogram_entropy(u, bin_width) == pytest.approx(expected, abs=0.01)
        assert expected < 3 * math.log(len(p))          # log(occupied bins), less the partial bin


def test_histogram_entropy_is_invariant_to_shift_and_scale_and_handles_constants():
    rng = np.random.default_rng(2)
    z = rng.normal(size=(5000, 3))
    h = M.histogram_entropy(z)
    assert M.histogram_entropy(z * np.array([7.0, 0.01, 3.0]) + 100.0) == pytest.approx(h, abs=1e-9)
    with_constant = np.c_[z[:, :2], np.full(5000, 4.2)]
    assert M.histogram_entropy(with_constant) == pytest.approx(M.histogram_entropy(z[:, :2]), abs=1e-12)
    assert M.histogram_entropy(z, 0.8) < h                              # wider bins, fewer states


def test_histogram_entropy_in_many_dimensions_never_builds_a_dense_grid():
    # 40 dimensions at ~25 bins each: 25^40 cells. Every point lands alone -> entropy log(n).
    z = np.random.default_rng(3).uniform(size=(2000, 40))
    assert M.histogram_entropy(z) == pytest.approx(math.log(2000), abs=1e-12)
    with pytest.raises(ValueError, match="bin_width"):
        M.histogram_entropy(z, bin_width=0)


def test_histogram_entropy_hull_bounds_drop_bins_whose_centre_leaves_the_hull():
    # The lattice of the first test: m bins per axis, but the last bin's centre lies beyond the
    # last node (0.5 + (m - 0.5) * w > m - 0.5 with w just under the step), outside the hull (the
    # cube spanned by the corner nodes). The hull keeps the other (m - 1)^3 nodes, equally weighted.
    m = 7
    grid = np.stack(np.meshgrid(*[np.arange(m)] * 3, indexing="ij"), axis=-1).reshape(-1, 3) + 0.5
    points = np.repeat(grid, 4, axis=0)
    width = (1 - 0.5 / m) / math.sqrt((m * m - 1) / 12)
    assert M.histogram_entropy(points, width, bounds="range") == pytest.approx(3 * math.log(m), abs=1e-12)
    assert M.histogram_entropy(points, width, bounds="hull") == pytest.approx(3 * math.log(m - 1),
                                                                              abs=1e-12)


def test_histogram_entropy_hull_bounds_of_a_triangle_match_the_geometry():
    # Points filling the triangle x, y >= 0, x + y <= 1, its vertices included: the hull is the
    # triangle itself, so a bin counts exactly when its centre c has c_x + c_y <= 1.
    rng = np.random.default_rng(4)
    u = rng.uniform(size=(20_000, 2))
    u = np.where(u.sum(axis=1, keepdims=True) > 1, 1 - u, u)
    z = np.r_[[[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], u]
    for bin_width in (0.4, 0.8):
        w = bin_width * z.std(axis=0)
        n_bins = np.ceil(1 / w).astype(int)
        index = np.minimum(np.floor(z / w).astype(int), n_bins - 1)
        centres = (index + 0.5) * w
        kept = index[centres.sum(axis=1) <= 1]
        _, counts = np.unique(kept, axis=0, return_counts=True)
        p = counts / counts.sum()
        expected = float(-(p * np.log(p)).sum())
        assert len(kept) < len(z)                        # some bins straddle the hypotenuse
        assert M.histogram_entropy(z, bin_width, bounds="hull") == pytest.approx(expected, abs=1e-12)
        assert M.histogram_entropy(z, bin_width) == M.histogram_entropy(z, bin_width, bounds="range")


def test_histogram_entropy_hull_bounds_invariance_and_errors():
    rng = np.random.default_rng(5)
    z = rng.normal(size=(3000, 3))
    h = M.histogram_entropy(z, bounds="hull")
    assert 0 < h <= M.histogram_entropy(z) + math.log(2)
    scaled = z * np.array([7.0, 0.01, 3.0]) + 100.0
    assert M.histogram_entropy(scaled, bounds="hull") == pytest.approx(h, abs=1e-9)
    with_constant = np.c_[z[:, :2], np.full(3000, 4.2)]
    assert M.histogram_entropy(with_constant, bounds="hull") == pytest.approx(
        M.histogram_entropy(z[:, :2], bounds="hull"), abs=1e-12)
    line = np.linspace(0, 1, 101)[:, None]               # 1-D: the hull is [min, max]
    assert M.histogram_entropy(line, 1.0, bounds="hull") <= M.histogram_entropy(line, 1.0)
    with pytest.raises(ValueError, match="bounds"):
        M.histogram_entropy(z, bounds="box")
    flat = np.c_[z[:, :2], z[:, 0] + z[:, 1]]            # a plane in 3-D: no volume
    with pytest.raises(ValueError, match="degenerate"):
        M.histogram_entropy(flat, bounds="hull")
    with pytest.raises(ValueError, match="bin_width"):
        M.histogram_entropy(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), 100.0, bounds="hull")


# -------------------------------------------------------------------------------- AMI, k-means


def test_ami_identical_permuted_and_independent():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 10, 5000)
    assert M.ami(a, a) == pytest.approx(1.0)
    assert M.ami(a, (a + 3) % 10) == pytest.approx(1.0)                 # renamed clusters
    assert abs(M.ami(a, rng.integers(0, 10, 5000))) < 0.01
    with pytest.raises(ValueError, match="must match"):
        M.ami(a, a[:-1])


def test_cosine_kmeans_groups_by_direction_not_distance():
    rng = np.random.default_rng(0)
    directions = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [-1, -1, 0]], dtype=float)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    y = rng.integers(0, 4, 2000)
    radius = rng.uniform(0.5, 20.0, size=(2000, 1))                     # far and near mixed
    z = (directions[y] + 0.05 * rng.normal(size=(2000, 3))) * radius
    labels = M.cosine_kmeans(z, 4, seed=0)
    assert M.ami(labels, y) == pytest.approx(1.0)
    assert set(labels) == {0, 1, 2, 3}
    np.testing.assert_array_equal(labels, M.cosine_kmeans(z, 4, seed=0))
    euclidean = KMeans(4, n_init=10, random_state=0)
    assert M.ami(euclidean.fit_predict(z), y) < 0.9                     # why the distance matters


def test_cosine_kmeans_rejects_bad_input():
    with pytest.raises(ValueError, match="at least 5 samples"):
        M.cosine_kmeans(np.ones((4, 3)), 5)
    with pytest.raises(ValueError, match="all-zero rows"):
        M.cosine_kmeans(np.zeros((10, 3)), 2)


# ---------------------------------------------------------------------------------- silhouette


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_silhouette_matches_scikit_learn(metric):
    rng = np.random.default_rng(0)
    h = rng.normal(size=(900, 12)) + 3.0
    y = rng.integers(0, 4, 900)
    h[y == 1] += 1.5
    y[0] = 7                                                            # a singleton cluster
    expected = silhouette_score(h, y, metric=metric)
    assert M.silhouette(h, y, metric=metric, device="cpu") == pytest.approx(expected, abs=1e-5)


def test_silhouette_subsample_is_seeded_and_close_to_the_full_score():
    h, y = gaussian_blobs(400, 8, 3, separation=2.0, seed=0)
    full = M.silhouette(h, y, sample_size=None)
    part = M.silhouette(h, y, sample_size=600, seed=1)
    assert part == M.silhouette(h, y, sample_size=600, seed=1)
    assert part == pytest.approx(full, abs=0.05)
    with pytest.raises(ValueError, match="distinct labels"):
        M.silhouette(h, np.zeros(len(h)))


# ------------------------------------------------------------------------------------- probes, kNN


def test_linear_probes_and_knn_are_perfect_on_separable_data():
    x, y, xt, yt = split_blobs(1500, 500, 16, 4, separation=4.0, seed=0)
    adam = M.linear_probe(x, y, xt, yt, epochs=30, device="cpu")
    lbfgs = M.linear_probe_lbfgs(x, y, xt, yt, device="cpu")
    knn = M.knn_classify(x, y, xt, yt, k=50, device="cpu")
    assert adam.accuracy == 1.0 and adam.train_accuracy == 1.0
    assert lbfgs.accuracy == 1.0
    assert knn.accuracy == 1.0
    np.testing.assert_array_equal(knn.predictions, yt)
    assert len(adam.history) == 30 and adam.history[-1] < adam.history[0]


def test_probe_weights_act_on_raw_features_and_labels_keep_their_values():
    x, y, xt, yt = split_blobs(1000, 400, 10, 3, separation=1.0, seed=1)
    names = np.array(["cat", "dog", "emu"])
    for standardize in (True, False):
        result = M.linear_probe_lbfgs(x * 50 + 7, names[y], xt * 50 + 7, names[yt],
                                      standardize=standardize, device="cpu")
        assert set(result.classes) == set(names)
        predicted = result.predict(xt * 50 + 7)
        assert np.mean(predicted == names[yt]) == pytest.approx(result.accuracy)
        logits = result.logits(xt * 50 + 7)
        log_p = logits - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1, keepdims=True)) \
            - logits.max(1, keepdims=True)
        target = np.searchsorted(result.classes, names[yt])
        assert -log_p[np.arange(len(yt)), target].mean() == pytest.approx(result.loss, rel=1e-3)


def test_adam_probe_approaches_the_lbfgs_optimum_of_the_same_objective():
    x, y, xt, yt = split_blobs(2000, 500, 20, 5, separation=0.6, seed=2)   # overlapping classes
    lbfgs = M.linear_probe_lbfgs(x, y, xt, yt, device="cpu")
    adam = M.linear_probe(x, y, xt, yt, batch_size=32, device="cpu")     # 6 300 steps
    assert 0.5 < lbfgs.accuracy < 1.0
    assert adam.train_loss == pytest.approx(lbfgs.train_loss, abs=0.01)
    assert adam.accuracy == pytest.approx(lbfgs.accuracy, abs=0.02)


def test_knn_matches_a_brute_force_reference():
    rng = np.random.default_rng(3)
    x, xt = rng.normal(size=(300, 6)), rng.normal(size=(120, 6))
    y = rng.integers(0, 4, 300)
    k, temperature = 15, 0.1
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    qn = xt / np.linalg.norm(xt, axis=1, keepdims=True)
    sim = qn @ xn.T
    expected = []
    for row in sim:
        top = np.argsort(-row)[:k]
        votes = np.bincount(y[top], weights=np.exp(row[top] / temperature), minlength=4)
        expected.append(votes.argmax())
    got = M.knn_classify(x, y, xt, k=k, temperature=temperature, device="cpu", chunk_size=7)
    np.testing.assert_array_equal(got.predictions, expected)
    assert got.accuracy is None
    tiny = M.knn_classify(x, y, xt, k=k, temperature=1e-4, device="cpu")   # no overflow
    assert np.isin(tiny.predictions, y).all()


def test_probe_and_knn_inputs_are_validated():
    x, y, xt, yt = split_blobs(50, 20, 4, 2, separation=3.0, seed=0)
    with pytest.raises(ValueError, match="NaN or inf"):
        bad = x.copy()
        bad[3, 1] = np.nan
        M.linear_probe(bad, y, xt, yt, device="cpu")
    with pytest.raises(ValueError, match="2-D"):
        M.linear_probe_lbfgs(x[:, 0], y, xt, yt, device="cpu")
    with pytest.raises(ValueError, match="must match"):
        M.linear_probe_lbfgs(x, y[:-1], xt, yt, device="cpu")
    with pytest.raises(ValueError, match="single class"):
        M.linear_probe_lbfgs(x, np.zeros_like(y), xt, yt, device="cpu")
    with pytest.raises(ValueError, match="never seen"):
        M.linear_probe_lbfgs(x, y, xt, yt + 5, device="cpu")
    with pytest.raises(ValueError, match="same encoder"):
        M.linear_probe(x, y, xt[:, :3], yt, device="cpu")
    with pytest.raises(ValueError, match="exceeds the 50 training samples"):
        M.knn_classify(x, y, xt, yt, k=51, device="cpu")
    with pytest.raises(ValueError, match="NaN or inf"):
        M.knn_classify(torch.full((5, 4), float("inf")), np.arange(5) % 2, xt, device="cpu", k=2)


# --------------------------------------------------------------------------------- anomalies, ROC


def test_roc_auc_is_one_on_disjoint_and_half_on_identical_distributions():
    rng = np.random.default_rng(0)
    normal_mean, anomaly_mean = 8.0 * np.eye(8)[0], 8.0 * np.eye(8)[1]  # apart in angle and distance
    reference = rng.normal(size=(2000, 8)) + normal_mean
    normal_queries = rng.normal(size=(1000, 8)) + normal_mean
    anomalies = rng.normal(size=(1000, 8)) + anomaly_mean
    queries = np.vstack([normal_queries, anomalies])
    truth = np.r_[np.zeros(1000, bool), np.ones(1000, bool)]
    for metric in ("euclidean", "cosine"):
        scores = M.knn_anomaly_scores(reference, queries, k=5, metric=metric, device="cpu")
        fpr, tpr, auc = M.roc(scores, truth)
        assert auc == 1.0
        assert fpr[0] == 0 and tpr[-1] == 1
    same = rng.normal(size=(1000, 8)) + normal_mean                      # same distribution
    scores = M.knn_anomaly_scores(reference, np.vstack([normal_queries, same]), device="cpu")
    assert M.roc(scores, truth)[2] == pytest.approx(0.5, abs=0.05)


def test_anomaly_scores_match_brute_force_distances():
    rng = np.random.default_rng(1)
    reference, queries = rng.normal(size=(200, 5)), rng.normal(size=(30, 5))
    distance = np.linalg.norm(queries[:, None] - reference[None], axis=2)
    nearest = np.sort(distance, axis=1)
    np.testing.assert_allclose(M.knn_anomaly_scores(reference, queries, k=4, metric="euclidean",
                                                    device="cpu", chunk_size=8),
                               nearest[:, :4].mean(1), rtol=1e-4)
    np.testing.assert_allclose(M.knn_anomaly_scores(reference, queries, k=4, metric="euclidean",
                                                    reduction="kth", device="cpu"),
                               nearest[:, 3], rtol=1e-4)
    cosine = 1 - (queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ \
        (reference / np.linalg.norm(reference, axis=1, keepdims=True)).T
    np.testing.assert_allclose(M.knn_anomaly_scores(reference, queries, k=3, device="cpu"),
                               np.sort(cosine, axis=1)[:, :3].mean(1), atol=1e-5)
    self_distance = np.linalg.norm(reference[:, None] - reference[None], axis=2)
    np.testing.assert_allclose(
        M.knn_anomaly_scores(reference, reference, k=2, metric="euclidean", exclude_self=True,
                             device="cpu"),
        np.sort(self_distance, axis=1)[:, 1:3].mean(1), rtol=1e-4, atol=1e-4)


def test_most_anomalous_and_roc_validate_and_order():
    scores = np.array([0.1, 0.9, 0.5, 0.9, 0.3])
    np.testing.assert_array_equal(M.most_anomalous(scores, 3), [1, 3, 2])
    with pytest.raises(ValueError, match="exceeds"):
        M.most_anomalous(scores, 6)
    with pytest.raises(ValueError, match="both anomalies and normal"):
        M.roc(scores, np.zeros(5, bool))
    with pytest.raises(ValueError, match="must match"):
        M.roc(scores, np.array([0, 1]))
    with pytest.raises(ValueError, match="choose one of"):
        M.knn_anomaly_scores(np.ones((3, 2)), np.ones((3, 2)), k=1, metric="manhattan")


# ------------------------------------------------------------------- label-free metrics (UMAP)


@pytest.fixture(scope="module")
def blobs():
    """Five well-separated 64-d Gaussian blobs and one shared UMAP reduction (compiles once)."""
    h, y = gaussian_blobs(80, 64, 5, separation=3.0, seed=0)
    return h, y, M.reduce(h, "umap", n_neighbors=50, seed=0)


def test_reduce_gives_three_dimensions_reproducibly(blobs):
    h, _, z3 = blobs
    assert z3.shape == (len(h), 3) and z3.dtype == np.float32 and np.isfinite(z3).all()
    with pytest.raises(ValueError, match="choose one of"):
        M.reduce(h, method="isomap")
    with pytest.raises(ValueError, match="more than 500 samples"):
        M.reduce(h[:100], n_neighbors=500)


def test_umap_compiled_code_is_cached_and_reused(blobs, tmp_path):
    """umap's own numba functions are cached (pynndescent caches its own): a second process loads
    them from ``NUMBA_CACHE_DIR`` and reduces to the same numbers, bit for bit."""
    import umap.layouts
    import umap.umap_

    h, _, z3 = blobs
    for function in (umap.umap_.smooth_knn_dist, umap.umap_.compute_membership_strengths,
                     umap.umap_.fast_knn_indices,
                     umap.layouts._nb_optimize_layout_euclidean_single_epoch):
        assert type(function._cache).__name__ == "FunctionCache", function
    assert any(p.name.startswith("umap_") for p in Path(os.environ["NUMBA_CACHE_DIR"]).iterdir())
    np.save(tmp_path / "h.npy", h)
    script = ("import sys, numpy as np; from labfree.metrics import reduce; "
              "np.save(sys.argv[2], reduce(np.load(sys.argv[1]), 'umap', n_neighbors=50, seed=0))")
    subprocess.run([sys.executable, "-c", script, tmp_path / "h.npy", tmp_path / "z3.npy"],
                   check=True, cwd=ROOT)
    np.testing.assert_array_equal(np.load(tmp_path / "z3.npy"), z3)


def test_umap_exact_distances_are_sklearns_bit_for_bit(blobs, monkeypatch):
    """The compiled distance matrix is scikit-learn's callable path to the bit, in float32 and
    float64; other calls go to scikit-learn; a UMAP map is the same either way."""
    import sklearn.metrics
    import umap.umap_
    from umap.distances import euclidean

    from labfree.metrics import _umap_exact

    h, _, z3 = blobs
    assert umap.umap_.pairwise_distances is _umap_exact.pairwise_distances   # reduce() installed it
    rng = np.random.default_rng(1)
    for x in (h.astype(np.float32), rng.normal(size=(300, 7)) * 1e3, rng.normal(size=(50, 513))):
        expected = sklearn.metrics.pairwise_distances(x, metric=euclidean)
        got = _umap_exact.pairwise_distances(x, metric=euclidean)
        assert got.dtype == expected.dtype and np.array_equal(got, expected)
    y = rng.normal(size=(5, 64)).astype(np.float32)
    np.testing.assert_array_equal(_umap_exact.pairwise_distances(h, y, metric=euclidean),
                                  sklearn.metrics.pairwise_distances(h, y, metric=euclidean))
    np.testing.assert_array_equal(_umap_exact.pairwise_distances(h, metric="manhattan"),
                                  sklearn.metrics.pairwise_distances(h, metric="manhattan"))
    monkeypatch.setattr(umap.umap_, "pairwise_distances", sklearn.metrics.pairwise_distances)
    np.testing.assert_array_equal(M.reduce(h, "umap", n_neighbors=50, seed=0), z3)


def test_label_free_metrics_on_separated_blobs(blobs):
    h, y, z3 = blobs
    record = M.label_free_metrics(h, y, z3=z3, device="cpu")
    assert set(record) == set(M.LABEL_FREE_METRICS + M.LABELLED_METRICS)
    assert record["ami_c1_gt"] == pytest.approx(1.0, abs=0.02)
    # C2 splits each of the 5 clusters in two: AMI of a nested 5/10 partition is ~ log5 / mean(log5, log10)
    assert record["ami_c1_c2"] > 0.7
    assert record["silhouette_gt"] > 0.5
    assert record["silhouette_c1"] == pytest.approx(record["silhouette_gt"], abs=0.02)
    assert record["entropy"] == pytest.approx(M.histogram_entropy(z3, 0.4))
    assert record["effective_rank"] == pytest.approx(M.effective_rank(h))
    # the record reuses the reduction it is given; computing it inside gives the same numbers
    assert M.label_free_metrics(h, y, device="cpu") == pytest.approx(record)


def test_label_free_metrics_without_labels(blobs):
    h, y, z3 = blobs
    record = M.label_free_metrics(h, n_classes=5, z3=z3, device="cpu")
    assert set(record) == set(M.LABEL_FREE_METRICS)
    assert record["ami_c1_c2"] == M.label_free_metrics(h, y, z3=z3, device="cpu")["ami_c1_c2"]
    with pytest.raises(ValueError, match="pass n_classes"):
        M.label_free_metrics(h, z3=z3)
    with pytest.raises(ValueError, match="z3 has 10 rows"):
        M.label_free_metrics(h, y, z3=z3[:10])


def test_label_free_metrics_marks_undefined_metrics_nan(blobs):
    h, y, z3 = blobs
    narrow = h[:, :4]                                                    # too few ranks for alpha
    with pytest.warns(RuntimeWarning, match="alpha is undefined"):
        record = M.label_free_metrics(narrow, y, z3=z3, device="cpu")
    assert math.isnan(record["alpha"])
    assert np.isfinite(record["entropy"])


def test_metrics_table_sorts_milestones():
    records = [{"epoch": 20, "entropy": 1.0, "method": "simclr"},
               {"epoch": 0, "entropy": 2.0, "method": "simclr"}]
    table = M.metrics_table(records)
    assert isinstance(table, pd.DataFrame)
    assert table["epoch"].tolist() == [0, 20]
    assert list(table.columns[:2]) == ["epoch", "method"]
    with pytest.raises(ValueError, match="empty"):
        M.metrics_table([])



@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_reduce_with_pca_and_tsne_separates_the_blobs(blobs, method):
    h, y, _ = blobs
    z2 = M.reduce(h, method, n_components=2, seed=0)
    assert z2.shape == (len(h), 2) and z2.dtype == np.float32
    np.testing.assert_array_equal(z2, M.reduce(h, method, n_components=2, seed=0))
    labels = KMeans(5, n_init=10, random_state=0).fit_predict(z2)
    assert M.ami(labels, y) == pytest.approx(1.0, abs=0.02)
    with pytest.raises(ValueError, match="no n_neighbors"):
        M.reduce(h, method, n_neighbors=5)


def test_reduce_with_pacmap_separates_the_blobs(blobs):
    h, y, _ = blobs
    z3 = M.reduce(h, "pacmap", seed=0)                                  # appendix A: 15 neighbours
    assert z3.shape == (len(h), 3) and np.isfinite(z3).all()
    assert M.ami(M.cosine_kmeans(z3, 5), y) == pytest.approx(1.0, abs=0.02)
