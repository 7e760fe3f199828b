"""Tests for labfree.mi: known answers, identities on random tables, the Gaussian closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate

from labfree import mi


@pytest.fixture
def joints() -> list[np.ndarray]:
    """Random joint tables of assorted shapes and sparsities."""
    rng = np.random.default_rng(0)
    shapes = [(2, 2), (3, 5), (6, 4), (1, 3), (8, 8)]
    return [mi.random_joint(kx, ky, rng, concentration=c) for kx, ky in shapes for c in (0.1, 1.0, 10.0)]


# -- entropy ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 6, 100])
def test_uniform_entropy_is_log_k(k: int) -> None:
    assert mi.entropy(np.full(k, 1 / k)) == pytest.approx(math.log(k), abs=1e-12)
    assert mi.entropy(np.full(k, 1 / k), base=2) == pytest.approx(math.log2(k), abs=1e-12)


def test_point_mass_has_zero_entropy_in_any_shape() -> None:
    p = np.zeros((3, 4))
    p[1, 2] = 1.0
    assert mi.entropy(p) == 0.0
    assert mi.entropy([0.0, 1.0, 0.0]) == 0.0


def test_entropy_known_value_and_units() -> None:
    p = [0.5, 0.25, 0.125, 0.125]  # 1/2*1 + 1/4*2 + 2 * 1/8*3 = 1.75 bits
    assert mi.entropy(p, base=2) == pytest.approx(1.75)
    assert mi.entropy(p) == pytest.approx(1.75 * math.log(2))


def test_entropy_bounds_on_random_distributions() -> None:
    rng = np.random.default_rng(1)
    for k in (2, 5, 30):
        for c in (0.05, 1.0, 50.0):
            h = mi.entropy(mi.random_distribution(k, rng, c))
            assert 0.0 <= h <= math.log(k)


def test_entropy_accepts_torch_tensors() -> None:
    assert mi.entropy(torch.full((4,), 0.25)) == pytest.approx(math.log(4))


def test_binary_entropy_known_values() -> None:
    assert mi.binary_entropy(0.5) == pytest.approx(math.log(2))
    assert mi.binary_entropy(0.5, base=2) == pytest.approx(1.0)
    assert mi.binary_entropy(0.0) == 0.0 and mi.binary_entropy(1.0) == 0.0
    p = np.linspace(0, 1, 11)
    h = mi.binary_entropy(p)
    assert h.shape == p.shape
    np.testing.assert_allclose(h, h[::-1], atol=1e-15)  # symmetric about 1/2
    np.testing.assert_allclose(h, [mi.entropy([q, 1 - q]) for q in p], atol=1e-15)


# -- KL, conditional entropy, mutual information ------------------------------------------------------


def test_kl_divergence_known_values() -> None:
    a, b = 0.3, 0.6
    expected = a * math.log(a / b) + (1 - a) * math.log((1 - a) / (1 - b))
    assert mi.kl_divergence([a, 1 - a], [b, 1 - b]) == pytest.approx(expected)
    assert mi.kl_divergence([a, 1 - a], [a, 1 - a]) == 0.0
    assert mi.kl_divergence([0.5, 0.5], [1.0, 0.0]) == math.inf
    assert mi.kl_divergence([1.0, 0.0], [0.5, 0.5]) == pytest.approx(math.log(2))  # 0 log 0 = 0


def test_kl_divergence_is_nonnegative_and_asymmetric() -> None:
    rng = np.random.default_rng(2)
    gaps = []
    for _ in range(200):
        p, q = mi.random_distribution(5, rng), mi.random_distribution(5, rng)
        assert mi.kl_divergence(p, q) >= 0
        gaps.append(abs(mi.kl_divergence(p, q) - mi.kl_divergence(q, p)))
    assert max(gaps) > 1e-3


def test_log_k_minus_entropy_is_kl_to_uniform() -> None:
    p = mi.random_distribution(7, 3)
    assert math.log(7) - mi.entropy(p) == pytest.approx(mi.kl_divergence(p, np.full(7, 1 / 7)))


def test_marginals_follow_axis_convention() -> None:
    pxy = np.array([[0.1, 0.2, 0.3], [0.0, 0.15, 0.25]])
    px, py = mi.marginals(pxy)
    np.testing.assert_allclose(px, [0.6, 0.4])
    np.testing.assert_allclose(py, [0.1, 0.35, 0.55])


def test_conditional_entropy_matches_its_definition() -> None:
    # H(X|Y) = sum_y p(y) H(X | Y = y), with X on axis 0.
    pxy = np.array([[0.70, 0.05], [0.20, 0.05]])
    py = pxy.sum(axis=0)
    expected = sum(py[j] * mi.entropy(pxy[:, j] / py[j]) for j in range(2))
    assert mi.conditional_entropy(pxy) == pytest.approx(expected)
    assert mi.conditional_entropy(pxy) != pytest.approx(mi.conditional_entropy(pxy.T))


def test_chain_rule(joints: list[np.ndarray]) -> None:
    for pxy in joints:
        px, py = mi.marginals(pxy)
        hxy = mi.joint_entropy(pxy)
        assert hxy == pytest.approx(mi.entropy(py) + mi.conditional_entropy(pxy), abs=1e-12)
        assert hxy == pytest.approx(mi.entropy(px) + mi.conditional_entropy(pxy.T), abs=1e-12)


def test_mutual_information_identities(joints: list[np.ndarray]) -> None:
    for pxy in joints:
        px, py = mi.marginals(pxy)
        i = mi.mutual_information(pxy)
        assert i == pytest.approx(mi.kl_divergence(pxy, np.outer(px, py)), abs=1e-12)
        assert i == pytest.approx(mi.entropy(px) - mi.conditional_entropy(pxy), abs=1e-12)
        assert i == pytest.approx(mi.entropy(px) + mi.entropy(py) - mi.joint_entropy(pxy), abs=1e-12)
        assert i == pytest.approx(mi.mutual_information(pxy.T), abs=1e-12)  # symmetry
        assert 0 <= i <= min(mi.entropy(px), mi.entropy(py)) + 1e-12
        assert mi.conditional_entropy(pxy) <= mi.entropy(px) + 1e-12


def test_independent_joint_has_zero_mi() -> None:
    rng = np.random.default_rng(4)
    for _ in range(20):
        px, py = mi.random_distribution(4, rng), mi.random_distribution(6, rng)
        pxy = np.outer(px, py)
        assert mi.mutual_information(pxy) == pytest.approx(0.0, abs=1e-12)
        assert mi.conditional_entropy(pxy) == pytest.approx(mi.entropy(px), abs=1e-12)


def test_copy_has_mi_equal_to_entropy() -> None:
    p = mi.random_distribution(6, 5)
    pxy = np.diag(p)  # X = Y
    assert mi.mutual_information(pxy) == pytest.approx(mi.entropy(p))
    assert mi.conditional_entropy(pxy) == 0.0


def test_mi_invariant_under_relabelling_and_reduced_by_merging(joints: list[np.ndarray]) -> None:
    rng = np.random.default_rng(6)
    for pxy in joints:
        relabelled = pxy[rng.permutation(pxy.shape[0])][:, rng.permutation(pxy.shape[1])]
        assert mi.mutual_information(relabelled) == pytest.approx(mi.mutual_information(pxy), abs=1e-12)
        if pxy.shape[1] > 1:  # Y -> f(Y) merging the first two values loses information
            merged = np.column_stack([pxy[:, 0] + pxy[:, 1], pxy[:, 2:]])
            assert mi.mutual_information(merged) <= mi.mutual_information(pxy) + 1e-12


def test_random_samplers() -> None:
    p = mi.random_distribution(5, 0)
    assert p.shape == (5,) and p.sum() == pytest.approx(1.0) and (p >= 0).all()
    np.testing.assert_array_equal(p, mi.random_distribution(5, 0))  # an int seed reproduces
    pxy = mi.random_joint(3, 4, np.random.default_rng(0))
    assert pxy.shape == (3, 4) and pxy.sum() == pytest.approx(1.0)
    rng = np.random.default_rng(1)
    peaked = np.mean([mi.entropy(mi.random_distribution(10, rng, 0.1)) for _ in range(200)])
    flat = np.mean([mi.entropy(mi.random_distribution(10, rng, 10.0)) for _ in range(200)])
    assert peaked < flat < math.log(10)


# -- Gaussians -----------------------------------------------------------------------------------


def _gaussian_mi_by_quadrature(rho: float) -> float:
    """I(X;Y) = E log p(x,y)/(p(x)p(y)) for a standard bivariate normal, by 2-D quadrature."""
    s = 1 - rho**2

    def integrand(y: float, x: float) -> float:
        q = (x * x - 2 * rho * x * y + y * y) / s
        log_ratio = -0.5 * math.log(s) - 0.5 * q + 0.5 * (x * x + y * y)
        return math.exp(-0.5 * q) / (2 * math.pi * math.sqrt(s)) * log_ratio

    value, _ = integrate.dblquad(integrand, -9, 9, -9, 9, epsabs=1e-10)
    return value


@pytest.mark.parametrize("rho", [0.0, 0.3, -0.6, 0.9])
def test_gaussian_mi_matches_quadrature(rho: float) -> None:
    assert mi.gaussian_mi(rho) == pytest.approx(_gaussian_mi_by_quadrature(rho), abs=1e-7)


@pytest.mark.parametrize("d", [1, 3])
def test_gaussian_mi_matches_differential_entropies(d: int) -> None:
    rho = 0.7
    block = np.array([[1.0, rho], [rho, 1.0]])
    # Reorder the 2d x 2d covariance to (x_1..x_d, y_1..y_d).
    order = np.r_[0:2 * d:2, 1:2 * d:2]
    cov = np.kron(np.eye(d), block)[np.ix_(order, order)]
    expected = mi.gaussian_entropy(np.eye(d)) * 2 - mi.gaussian_entropy(cov)
    assert mi.gaussian_mi(rho, d) == pytest.approx(expected)


def test_gaussian_entropy_known_value() -> None:
    assert mi.gaussian_entropy(1.0) == pytest.approx(0.5 * math.log(2 * math.pi * math.e))
    # Scaling by sigma shifts differential entropy by log sigma (so it can go negative).
    assert mi.gaussian_entropy(0.01) == pytest.approx(mi.gaussian_entropy(1.0) + math.log(0.1))
    assert mi.gaussian_entropy(0.01) < 0


def test_gaussian_mi_vectorised_and_in_bits() -> None:
    rho = np.array([0.0, 0.5, 0.99])
    out = mi.gaussian_mi(rho, d=4)
    assert out.shape == (3,) and out[0] == 0.0
    np.testing.assert_allclose(out, [4 * mi.gaussian_mi(r) for r in rho])
    assert mi.gaussian_mi(math.sqrt(0.75), base=2) == pytest.approx(1.0)  # -1/2 log2(1/4) = 1 bit


def test_rho_for_mi_round_trip() -> None:
    for d in (1, 5, 20):
        targets = np.array([0.0, 0.1, 2.0, 10.0])
        rho = mi.rho_for_mi(targets, d)
        assert (rho >= 0).all() and (rho < 1).all()
        # Near |rho| = 1 the map is ill-conditioned: one ulp of rho moves the MI by about
        # d * eps / (1 - rho^2), so the tolerance follows that condition number.
        tol = 8 * d * np.finfo(float).eps / (1 - rho**2)
        np.testing.assert_array_less(np.abs(mi.gaussian_mi(rho, d) - targets), tol + 1e-12)
    r = 0.42
    assert mi.rho_for_mi(mi.gaussian_mi(r, 3), 3) == pytest.approx(r)
    assert mi.rho_for_mi(1.0, base=2) == pytest.approx(math.sqrt(0.75))


@pytest.mark.parametrize("rho", [0.0, 0.5, -0.8])
def test_sampler_empirical_correlation(rho: float) -> None:
    n, d = 20_000, 4
    x, y = mi.sample_correlated_gaussians(n, rho, d=d, generator=0)
    assert x.shape == y.shape == (n, d) and x.dtype == torch.float32
    tol = 5 * (1 - rho**2) / math.sqrt(n) + 1e-3  # five standard errors of a sample correlation
    for j in range(d):
        r = torch.corrcoef(torch.stack([x[:, j], y[:, j]]))[0, 1].item()
        assert r == pytest.approx(rho, abs=tol)
    assert y.var(dim=0).sub(1).abs().max().item() < 5 * math.sqrt(2 / n)  # y stays standard normal
    # Different pairs are independent of each other.
    assert torch.corrcoef(torch.stack([x[:, 0], y[:, 1]]))[0, 1].abs().item() < 5 / math.sqrt(n)


def test_sampler_target_mi_generator_and_reproducibility() -> None:
    g = torch.Generator().manual_seed(3)
    x, y = mi.sample_correlated_gaussians(50_000, mi=1.0, d=2, generator=g, dtype=torch.float64)
    assert x.dtype == torch.float64
    rho = float(mi.rho_for_mi(1.0, d=2))
    r = torch.corrcoef(torch.stack([x[:, 0], y[:, 0]]))[0, 1].item()
    assert r == pytest.approx(rho, abs=5 * (1 - rho**2) / math.sqrt(50_000))
    a = mi.sample_correlated_gaussians(10, 0.5, generator=7)
    b = mi.sample_correlated_gaussians(10, 0.5, generator=7)
    assert all(torch.equal(u, v) for u, v in zip(a, b))


# -- bad inputs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "p, message",
    [
        ([0.5, -0.1, 0.6], "negative"),
        ([0.2, 0.2], "sums to"),
        ([0.5, float("nan"), 0.5], "NaN"),
        ([], "empty"),
    ],
)
def test_not_a_distribution_raises(p: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        mi.entropy(p)


def test_bad_inputs_raise() -> None:
    with pytest.raises(ValueError, match="2-D"):
        mi.mutual_information([0.5, 0.5])
    with pytest.raises(ValueError, match="sums to"):
        mi.conditional_entropy(np.ones((2, 2)))
    with pytest.raises(ValueError, match="same shape"):
        mi.kl_divergence([0.5, 0.5], [0.2, 0.3, 0.5])
    with pytest.raises(ValueError, match="base"):
        mi.entropy([0.5, 0.5], base=1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        mi.binary_entropy(1.5)
    with pytest.raises(ValueError, match="infinite"):
        mi.gaussian_mi(1.0)
    with pytest.raises(ValueError, match="rho"):
        mi.gaussian_mi([0.5, -1.2])
    with pytest.raises(ValueError, match=">= 0"):
        mi.rho_for_mi(-0.1)
    with pytest.raises(ValueError, match="exactly one"):
        mi.sample_correlated_gaussians(10, 0.5, mi=1.0)
    with pytest.raises(ValueError, match="exactly one"):
        mi.sample_correlated_gaussians(10)
    with pytest.raises(ValueError, match="positive integer"):
        mi.gaussian_mi(0.5, d=0)
    with pytest.raises(ValueError, match="concentration"):
        mi.random_distribution(3, 0, concentration=0.0)
    with pytest.raises(ValueError, match="positive definite"):
        mi.gaussian_entropy([[1.0, 1.0], [1.0, 1.0]])


# -- the plot helpers built on this module (labfree.plots) -------------------------------------------


@pytest.mark.parametrize(
    "pxy",
    [
        np.array([[0.40, 0.02], [0.20, 0.08], [0.05, 0.25]]),  # partial overlap
        np.diag([0.5, 0.3, 0.2]),  # X = Y: the circles coincide
        np.outer([0.5, 0.5], [0.25, 0.25, 0.5]),  # independent: the circles touch
        np.array([[0.25, 0.25, 0.0, 0.0], [0.0, 0.0, 0.25, 0.25]]),  # X = f(Y): X's circle inside Y's
    ],
)
def test_information_diagram_is_to_scale(pxy: np.ndarray) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle

    from labfree import plots

    ax = plots.information_diagram(pxy, base=2)
    c1, c2 = [p for p in ax.patches if isinstance(p, Circle)]
    px, py = mi.marginals(pxy)
    assert math.pi * c1.radius**2 == pytest.approx(mi.entropy(px, 2))
    assert math.pi * c2.radius**2 == pytest.approx(mi.entropy(py, 2))
    # Overlap area by counting grid points inside both discs; the count errs by at most the
    # cells the two boundaries cross, about perimeter * spacing.
    (x1, y1), (x2, y2), r1, r2 = c1.center, c2.center, c1.radius, c2.radius
    h = 2 * max(r1, r2) / 2000
    gx, gy = np.meshgrid(np.arange(x1 - r1, x1 + r1, h) + h / 2, np.arange(-r1, r1, h) + h / 2)
    inside = ((gx - x1) ** 2 + (gy - y1) ** 2 <= r1**2) & ((gx - x2) ** 2 + (gy - y2) ** 2 <= r2**2)
    overlap = inside.sum() * h * h
    assert overlap == pytest.approx(mi.mutual_information(pxy, 2), abs=2 * math.pi * (r1 + r2) * h)
    plt.close("all")


def test_binary_entropy_curve_returns_axes_with_the_curve() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from labfree import plots

    fig, ax = plt.subplots()
    assert plots.binary_entropy_curve(ax, mark=0.3) is ax
    p, h = ax.lines[0].get_data()
    np.testing.assert_allclose(h, mi.binary_entropy(p, base=2))
    assert h.max() == pytest.approx(1.0)
    plt.close(fig)
