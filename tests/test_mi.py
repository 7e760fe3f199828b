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


# -- critics -------------------------------------------------------------------------------------


def _all_pairs(critic: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """f(x_i, y_j) for every pair, one explicit row per pair: the slow reference for forward()."""
    n, m = len(x), len(y)
    return critic.pair_scores(x.repeat_interleave(m, dim=0), y.repeat(n, 1)).view(n, m)


@pytest.mark.parametrize(
    "make",
    [
        lambda: mi.SeparableCritic(3, 4, hidden=16, embed=5, layers=2),
        lambda: mi.SeparableCritic(3, 4, hidden=8, embed=2, layers=1),
        lambda: mi.ConcatCritic(3, 4, hidden=16, layers=2),
        lambda: mi.ConcatCritic(3, 4, hidden=8, layers=3),
    ],
)
def test_critic_matrix_equals_explicit_pairs(make) -> None:
    torch.manual_seed(0)
    critic = make().double()
    x, y = torch.randn(7, 3, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64)
    scores = critic(x, y)
    assert scores.shape == (7, 5)
    torch.testing.assert_close(scores, _all_pairs(critic, x, y), rtol=1e-12, atol=1e-12)
    # The separable score is the inner product of the two embeddings.
    if isinstance(critic, mi.SeparableCritic):
        torch.testing.assert_close(scores, critic.g(x) @ critic.h(y).T)


def test_gaussian_optimal_critic_is_the_log_density_ratio() -> None:
    rho, d = 0.6, 3
    critic = mi.GaussianOptimalCritic(rho, d)
    x, y = mi.sample_correlated_gaussians(6, rho, d=d, generator=0, dtype=torch.float64)
    cov = torch.eye(2 * d, dtype=torch.float64)
    cov[:d, d:] = cov[d:, :d] = rho * torch.eye(d, dtype=torch.float64)
    joint = torch.distributions.MultivariateNormal(torch.zeros(2 * d, dtype=torch.float64), cov)
    marginal = torch.distributions.Normal(0.0, 1.0)
    xx, yy = x.repeat_interleave(6, dim=0), y.repeat(6, 1)
    expected = (joint.log_prob(torch.cat([xx, yy], dim=1)) - marginal.log_prob(xx).sum(1)
                - marginal.log_prob(yy).sum(1)).view(6, 6)
    torch.testing.assert_close(critic(x, y), expected)
    torch.testing.assert_close(critic(x, y), _all_pairs(critic, x, y))
    torch.testing.assert_close(mi.GaussianOptimalCritic(rho, d, offset=1.0)(x, y), expected + 1)


def test_gaussian_optimal_critic_mean_is_the_mutual_information() -> None:
    rho, d, n = 0.5, 4, 200_000
    x, y = mi.sample_correlated_gaussians(n, rho, d=d, generator=1, dtype=torch.float64)
    f = mi.GaussianOptimalCritic(rho, d).pair_scores(x, y)
    assert f.mean().item() == pytest.approx(mi.gaussian_mi(rho, d), abs=4 * f.std().item() / math.sqrt(n))


def test_gaussian_conditional_log_prob() -> None:
    torch.manual_seed(0)
    decoder = mi.GaussianConditional(dim_y=3, dim_x=2, hidden=8).double()
    x, y = torch.randn(5, 2, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    mean, log_var = decoder.net(y).chunk(2, dim=-1)
    expected = torch.distributions.Normal(mean, torch.exp(0.5 * log_var)).log_prob(x).sum(-1)
    torch.testing.assert_close(decoder(x, y), expected)


# -- bounds ---------------------------------------------------------------------------------------


def _random_scores(rng: torch.Generator, n: int, scale: float) -> torch.Tensor:
    return scale * torch.randn(n, n, generator=rng, dtype=torch.float64)


def test_infonce_never_exceeds_log_n() -> None:
    g = torch.Generator().manual_seed(0)
    for n in (2, 5, 64):
        for scale in (0.1, 10.0, 1e3):
            assert mi.infonce_bound(_random_scores(g, n, scale)).item() <= math.log(n) + 1e-12
        # A perfect classifier (positives far above the rest) reaches the ceiling.
        perfect = torch.zeros(n, n, dtype=torch.float64) + 1e3 * torch.eye(n, dtype=torch.float64)
        assert mi.infonce_bound(perfect).item() == pytest.approx(math.log(n))
        # A constant critic cannot tell pairs apart: the bound is 0.
        assert mi.infonce_bound(torch.zeros(n, n)).item() == pytest.approx(0.0, abs=1e-6)


def test_infonce_is_log_n_minus_cross_entropy() -> None:
    scores = _random_scores(torch.Generator().manual_seed(1), 9, 2.0)
    loss = torch.nn.functional.cross_entropy(scores, torch.arange(9))  # row i: which y is y_i?
    assert mi.infonce_bound(scores).item() == pytest.approx(math.log(9) - loss.item())


def test_dv_at_least_nwj_for_any_critic() -> None:
    # log z <= z / e (the tangent of log at z = e) turns DV's log-mean-exp into NWJ's mean-exp / e.
    g = torch.Generator().manual_seed(2)
    for n in (2, 8, 50):
        for scale in (0.01, 1.0, 5.0):
            scores = _random_scores(g, n, scale) + torch.randn(1, generator=g, dtype=torch.float64)
            assert mi.dv_bound(scores).item() >= mi.nwj_bound(scores).item()
    # Equality where the tangent touches: every off-diagonal score equal to 1 (mean exp = e).
    scores = torch.ones(4, 4, dtype=torch.float64)
    assert mi.dv_bound(scores).item() == pytest.approx(mi.nwj_bound(scores).item())


def test_bounds_know_their_product_of_marginals_is_off_diagonal() -> None:
    # Known answer on a hand-made 3 x 3 matrix.
    scores = torch.tensor([[2.0, 0.0, 1.0], [0.5, 3.0, -1.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    off = torch.tensor([0.0, 1.0, 0.5, -1.0, 0.0, 0.0], dtype=torch.float64)
    joint = 2.0
    assert mi.dv_bound(scores).item() == pytest.approx(joint - math.log(off.exp().mean().item()))
    assert mi.nwj_bound(scores).item() == pytest.approx(joint - off.exp().mean().item() / math.e)
    # DV is unchanged by adding a constant to the critic; NWJ is not.
    assert mi.dv_bound(scores + 3.0).item() == pytest.approx(mi.dv_bound(scores).item())
    assert mi.nwj_bound(scores + 3.0).item() != pytest.approx(mi.nwj_bound(scores).item())


def _batch_estimates(bound, critic, rho: float, d: int, n: int, batches: int, seed: int) -> np.ndarray:
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(batches):
        x, y = mi.sample_correlated_gaussians(n, rho, d=d, generator=g, dtype=torch.float64)
        out.append(bound(critic(x, y)).item())
    return np.array(out)


def test_nwj_at_its_optimal_critic_is_unbiased() -> None:
    # f* = 1 + log p(x,y)/(p(x)p(y)) gives E[nwj] = 1 + I - E_q[e^{f*-1}] = I exactly; the batches are
    # independent, so the tolerance is four standard errors of their mean.
    rho, d = 0.4, 5
    est = _batch_estimates(mi.nwj_bound, mi.GaussianOptimalCritic(rho, d, offset=1.0), rho, d, 32, 400, 3)
    assert est.mean() == pytest.approx(mi.gaussian_mi(rho, d), abs=4 * est.std(ddof=1) / math.sqrt(len(est)))


def test_infonce_with_optimal_critic_approaches_min_of_mi_and_log_n() -> None:
    d = 10
    # Small I, large N: below I, by at most log(1 + (E_p[r] - 1) / N) with E_p[r] = e^{2I} for
    # Gaussians (Jensen on the mean of the N ratios in the denominator).
    rho = float(mi.rho_for_mi(1.0, d))
    est = _batch_estimates(mi.infonce_bound, mi.GaussianOptimalCritic(rho, d), rho, d, 256, 40, 4)
    se = est.std(ddof=1) / math.sqrt(len(est))
    assert 1.0 - math.log1p((math.exp(2.0) - 1) / 256) - 4 * se <= est.mean() <= 1.0 + 4 * se
    # Large I, small N: pinned just under log N.
    rho = float(mi.rho_for_mi(12.0, d))
    est = _batch_estimates(mi.infonce_bound, mi.GaussianOptimalCritic(rho, d), rho, d, 8, 200, 5)
    assert math.log(8) - 0.02 <= est.mean() <= math.log(8)


def test_ba_with_the_true_conditional_is_the_mutual_information() -> None:
    rho, d, n = 0.7, 3, 100_000
    x, y = mi.sample_correlated_gaussians(n, rho, d=d, generator=6, dtype=torch.float64)
    true_conditional = torch.distributions.Normal(rho * y, math.sqrt(1 - rho**2))  # p(x | y)
    log_q = true_conditional.log_prob(x).sum(dim=1)
    h_x = mi.gaussian_entropy(np.eye(d))
    se = log_q.std().item() / math.sqrt(n)
    assert mi.ba_bound(log_q, h_x).item() == pytest.approx(mi.gaussian_mi(rho, d), abs=4 * se)
    # A worse decoder (the right mean, twice the variance) gives a lower bound: the gap is the KL.
    wide = torch.distributions.Normal(rho * y, math.sqrt(2 * (1 - rho**2))).log_prob(x).sum(dim=1)
    kl = d * 0.5 * (math.log(2) + 0.5 - 1)  # KL(N(0, s) || N(0, 2s)) per coordinate
    assert mi.ba_bound(wide, h_x).item() == pytest.approx(mi.gaussian_mi(rho, d) - kl, abs=4 * se)


def test_mine_moving_average_and_gradient() -> None:
    g = torch.Generator().manual_seed(7)
    n, alpha = 6, 0.1
    ema = mi.MovingAverage()
    first = _random_scores(g, n, 1.0)
    mask = ~torch.eye(n, dtype=torch.bool)
    estimate, _ = mi.mine_loss(first, ema, alpha)
    m1 = first[mask].exp().mean().item()
    assert ema.value == pytest.approx(m1)  # the first batch initialises the average
    assert estimate.item() == pytest.approx(mi.dv_bound(first).item())
    scores = _random_scores(g, n, 1.0).requires_grad_()
    estimate, loss = mi.mine_loss(scores, ema, alpha)
    m2 = scores[mask].exp().mean().item()
    m_bar = (1 - alpha) * m1 + alpha * m2
    assert ema.value == pytest.approx(m_bar)
    assert loss.item() == pytest.approx(-estimate.item())
    loss.backward()
    # d loss / d f_ii = -1/N; d loss / d f_ij = e^{f_ij} / (N(N-1) m_bar): the moving average divides.
    expected = scores.detach().exp() / (n * (n - 1) * m_bar)
    expected[~mask] = -1.0 / n
    torch.testing.assert_close(scores.grad, expected)


def test_mine_with_alpha_one_is_plain_dv() -> None:
    scores = _random_scores(torch.Generator().manual_seed(8), 5, 1.0).requires_grad_()
    _, loss = mi.mine_loss(scores, mi.MovingAverage(log_value=3.0), alpha=1.0)
    (grad_mine,) = torch.autograd.grad(loss, scores)
    (grad_dv,) = torch.autograd.grad(-mi.dv_bound(scores), scores)
    torch.testing.assert_close(grad_mine, grad_dv)


def test_mine_average_survives_huge_scores() -> None:
    ema = mi.MovingAverage()
    for shift in (0.0, 500.0, 1000.0):  # e^1000 overflows float64; its log does not
        estimate, loss = mi.mine_loss(torch.eye(4) * 2 + shift, ema, alpha=0.5)
        assert math.isfinite(estimate.item()) and math.isfinite(loss.item()) and math.isfinite(ema.log_value)


# -- the staircase -----------------------------------------------------------------------------------


def test_train_estimator_with_a_fixed_critic_replays_the_batches() -> None:
    rho = float(mi.rho_for_mi(2.0, 5))
    df = mi.train_estimator("dv", mi.GaussianOptimalCritic(rho, 5), [2.0], d=5, batch_size=16,
                            steps_per_stage=4, seed=9)
    assert list(df.columns) == ["step", "stage", "true_mi", "estimate", "bound", "critic"]
    g = torch.Generator().manual_seed(9)
    expected = [mi.dv_bound(mi.GaussianOptimalCritic(rho, 5)(*mi.sample_correlated_gaussians(
        16, mi=2.0, d=5, generator=g))).item() for _ in range(4)]
    np.testing.assert_allclose(df["estimate"], expected, rtol=1e-6)
    staircase = mi.train_estimator("infonce", mi.GaussianOptimalCritic(0.5, 5), [1.0, 3.0], d=5,
                                   batch_size=8, steps_per_stage=3)
    assert staircase["true_mi"].tolist() == [1.0] * 3 + [3.0] * 3
    assert staircase["stage"].tolist() == [0, 0, 0, 1, 1, 1]
    assert (staircase["estimate"] <= math.log(8) + 1e-6).all()


@pytest.mark.parametrize("bound", ["infonce", "nwj", "mine", "ba"])
def test_train_estimator_learns(bound: str) -> None:
    torch.manual_seed(0)
    d, steps = 4, 300
    critic = (mi.GaussianConditional(d, d, hidden=32) if bound == "ba"
              else mi.SeparableCritic(d, d, hidden=32, embed=8))
    df = mi.train_estimator(bound, critic, [1.0], d=d, batch_size=64, steps_per_stage=steps, lr=3e-3)
    start, end = df["estimate"].iloc[:10].mean(), df["estimate"].iloc[-100:].mean()
    # Training climbs toward the truth (1 nat) and the averaged estimate stays below it.
    assert end > start + 0.3 and end > 0.5
    assert end <= 1.0 + 4 * df["estimate"].iloc[-100:].std() / 10


# -- KSG --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rho, d", [(0.8, 1), (0.6, 2), (0.0, 1)])
def test_ksg_matches_the_closed_form(rho: float, d: int) -> None:
    est = []
    for seed in range(8):
        x, y = mi.sample_correlated_gaussians(2_000, rho, d=d, generator=seed, dtype=torch.float64)
        est.append(mi.ksg_mi(x.numpy(), y.numpy()))
    se = np.std(est, ddof=1) / math.sqrt(len(est))
    assert np.mean(est) == pytest.approx(mi.gaussian_mi(rho, d), abs=4 * se)


def test_ksg_matches_scikit_learn_in_one_dimension() -> None:
    from sklearn.feature_selection import mutual_info_regression

    for seed, rho in enumerate((0.3, 0.7, -0.9)):
        x, y = mi.sample_correlated_gaussians(1_500, rho, generator=seed, dtype=torch.float64)
        x, y = x.numpy(), y.numpy()[:, 0]
        for k in (3, 6):
            reference = mutual_info_regression(x, y, n_neighbors=k, random_state=seed)[0]
            assert mi.ksg_mi(x, y, k=k) == pytest.approx(reference, abs=1e-9)


def test_standardized_ksg_is_invariant_to_affine_maps() -> None:
    x, y = mi.sample_correlated_gaussians(1_000, 0.7, d=2, generator=10, dtype=torch.float64)
    x, y = x.numpy(), y.numpy()
    # Standardising removes each column's scale, and the max-norm neighbour counts ignore shifts.
    scaled = x * np.array([3.0, 0.01]) + 5.0
    assert mi.ksg_mi(scaled, -2.0 * y) == pytest.approx(mi.ksg_mi(x, y), abs=1e-12)
    # Without standardising, units matter: the max-norm then mixes the two spaces differently.
    assert mi.ksg_mi(scaled, y, standardize=False) != pytest.approx(mi.ksg_mi(x, y, standardize=False))


# -- bad inputs to the estimators ----------------------------------------------------------------------


def test_estimator_bad_inputs_raise() -> None:
    with pytest.raises(ValueError, match="square"):
        mi.infonce_bound(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="square"):
        mi.dv_bound(torch.zeros(3))
    with pytest.raises(ValueError, match="N >= 2"):
        mi.nwj_bound(torch.zeros(1, 1))
    with pytest.raises(ValueError, match="N >= 2"):
        mi.mine_loss(torch.zeros(1, 1), mi.MovingAverage())
    with pytest.raises(ValueError, match="alpha"):
        mi.mine_loss(torch.zeros(3, 3), mi.MovingAverage(), alpha=0.0)
    with pytest.raises(ValueError, match="1-D"):
        mi.ba_bound(torch.zeros(3, 3), 1.0)
    with pytest.raises(ValueError, match="shape"):
        mi.SeparableCritic(3, 4)(torch.zeros(5, 3), torch.zeros(5, 3))
    with pytest.raises(ValueError, match="as many"):
        mi.ConcatCritic(3, 3).pair_scores(torch.zeros(5, 3), torch.zeros(4, 3))
    with pytest.raises(ValueError, match="infonce"):
        mi.train_estimator("jsd", mi.SeparableCritic(2, 2), [1.0], d=2, steps_per_stage=1)
    with pytest.raises(ValueError, match="score matrix"):
        mi.train_estimator("nwj", mi.GaussianConditional(2, 2), [1.0], d=2, steps_per_stage=1)
    with pytest.raises(ValueError, match="same number"):
        mi.ksg_mi(np.zeros(5), np.zeros(6))
    with pytest.raises(ValueError, match="k must"):
        mi.ksg_mi(np.arange(5.0), np.arange(5.0), k=5)
    with pytest.raises(ValueError, match="repeated"):
        mi.ksg_mi(np.r_[np.zeros(4), np.arange(6.0)], np.r_[np.zeros(4), np.arange(6.0)])
    with pytest.raises(ValueError, match="constant"):
        mi.ksg_mi(np.ones(10), np.arange(10.0))
