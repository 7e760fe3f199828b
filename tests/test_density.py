"""Tests for labfree.density: the objective against a direct NumPy computation, the model against closed
forms, a zero expected gradient at the truth, consistency of the NCE estimator with tolerances taken
from its asymptotic covariance, that covariance's maximum-likelihood limit, and bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from labfree import density

torch.set_num_threads(1)
DT = torch.float64
MU, SIGMA = 1.0, 0.7
NOISE = torch.distributions.Normal(torch.tensor(1.5, dtype=DT), torch.tensor(2 * SIGMA, dtype=DT))


def data(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(MU, SIGMA, n)


def numpy_objective(lmd, lmn, lnd, lnn, nu):
    """J_T written out with h = 1 / (1 + nu exp(-G)), in float64 NumPy (no log-sigmoid tricks)."""
    h_data = 1 / (1 + nu * np.exp(-(lmd - lnd)))
    h_noise = 1 / (1 + nu * np.exp(-(lmn - lnn)))
    return (np.log(h_data).sum() + np.log(1 - h_noise).sum()) / len(lmd)


# ------------------------------------------------------------------ the objective

def test_logistic_with_nu():
    t = torch.linspace(-5, 5, 11, dtype=DT)
    for nu in (1.0, 0.3, 7.0):
        torch.testing.assert_close(density.logistic(t, nu), 1 / (1 + nu * torch.exp(-t)))
    torch.testing.assert_close(density.logistic(t), torch.sigmoid(t))


@pytest.mark.parametrize("t_d, t_n", [(5, 5), (4, 12), (10, 3)])
def test_objective_matches_numpy(t_d, t_n):
    rng = np.random.default_rng(t_d + t_n)
    lmd, lnd = rng.normal(size=t_d), rng.normal(size=t_d)
    lmn, lnn = rng.normal(size=t_n), rng.normal(size=t_n)
    nu = t_n / t_d
    expected = numpy_objective(lmd, lmn, lnd, lnn, nu)
    assert density.nce_objective(lmd, lmn, lnd, lnn).item() == pytest.approx(expected, rel=1e-12)
    assert density.nce_objective(lmd, lmn, lnd, lnn, nu=nu).item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("nu", [1, 3])
def test_objective_of_a_blind_classifier(nu):
    # G = 0 everywhere: h = 1 / (1 + nu), so J_T = -log(1 + nu) - nu log(1 + 1 / nu)
    z_d, z_n = np.zeros(4), np.zeros(4 * nu)
    expected = -math.log(1 + nu) - nu * math.log(1 + 1 / nu)
    assert density.nce_objective(z_d, z_n, z_d, z_n).item() == pytest.approx(expected, rel=1e-12)


def test_blind_classifier_scores_minus_two_log_two_at_nu_one():
    z = np.zeros(5)
    assert density.nce_objective(z, z, z, z).item() == pytest.approx(-2 * math.log(2), rel=1e-12)


def test_objective_is_stable_for_extreme_log_ratios():
    big = np.array([800.0, -800.0])
    value = density.nce_objective(big, -big, np.zeros(2), np.zeros(2))
    assert torch.isfinite(value)


# ------------------------------------------------------------------ the model

def test_unnormalised_gaussian_matches_scipy_up_to_c():
    cov = np.array([[1.0, 0.6, 0.0], [0.6, 2.0, -0.3], [0.0, -0.3, 0.5]])
    mean = np.array([0.5, -1.0, 2.0])
    model = density.UnnormalisedGaussian.from_moments(mean, cov, c=0.25)
    u = np.random.default_rng(0).normal(size=(6, 3))
    expected = stats.multivariate_normal(mean, cov).logpdf(u) + density.gaussian_log_normaliser(cov) + 0.25
    with torch.no_grad():
        np.testing.assert_allclose(model(torch.from_numpy(u)).numpy(), expected, rtol=1e-10)
        np.testing.assert_allclose(model.covariance().numpy(), cov, atol=1e-12)
        normalised = density.UnnormalisedGaussian.from_moments(mean, cov)
        assert float(normalised.c) == pytest.approx(float(normalised.normalising_c()), abs=1e-12)


def test_normalised_1d_model_integrates_to_one():
    model = density.UnnormalisedGaussian.from_moments([MU], [[SIGMA**2]])

    def p_model(u: float) -> float:
        with torch.no_grad():
            return math.exp(float(model(torch.tensor([u], dtype=DT))[0]))

    total, _ = integrate.quad(p_model, -np.inf, np.inf)
    assert total == pytest.approx(1.0, abs=1e-9)
    assert -model.c.item() == pytest.approx(math.log(math.sqrt(2 * math.pi) * SIGMA), abs=1e-12)


def test_parameter_gradients_match_autograd():
    cov = np.array([[1.0, 0.6], [0.6, 2.0]])
    model = density.UnnormalisedGaussian.from_moments([0.5, -1.0], cov, c=0.1)
    u = torch.randn(5, 2, dtype=DT, generator=torch.Generator().manual_seed(0))
    analytic = model.parameter_gradients(u)
    for row in range(5):
        model.zero_grad()
        model(u[row : row + 1]).sum().backward()
        auto = torch.cat([model.mean.grad, model.log_diag.grad, model.off_diag.grad, model.c.grad.reshape(1)])
        torch.testing.assert_close(analytic[row], auto)
    assert len(model.parameter_names()) == analytic.shape[1]


# ------------------------------------------------------------------ zero expected gradient at the truth

def test_gradient_vanishes_in_expectation_at_the_truth():
    # J_T is a sum of independent terms, so its gradient at theta* is a mean of i.i.d. per-point
    # gradients with expectation 0; compare it with its own standard error (5 sigma), then show the
    # same test rejects a normaliser off by 0.1
    n, nu = 100_000, 2
    x = torch.from_numpy(data(n, seed=1))[:, None]
    torch.manual_seed(2)
    y = NOISE.sample((nu * n,))[:, None]
    lnd, lnn = NOISE.log_prob(x[:, 0]), NOISE.log_prob(y[:, 0])

    def gradient_and_se(c_offset: float) -> tuple[torch.Tensor, torch.Tensor]:
        model = density.UnnormalisedGaussian.from_moments([MU], [[SIGMA**2]])
        with torch.no_grad():
            model.c += c_offset
        density.nce_objective(model(x), model(y), lnd, lnn).backward()
        grad = torch.cat([p.grad.reshape(-1) for p in (model.mean, model.log_diag, model.c)])
        with torch.no_grad():  # per-point terms: (1 - h) grad G on data, -h grad G on noise
            h_x = density.logistic(model(x) - lnd, nu)
            h_y = density.logistic(model(y) - lnn, nu)
            terms_x = (1 - h_x)[:, None] * model.parameter_gradients(x)[:, [0, 1, 2]]
            terms_y = -h_y[:, None] * model.parameter_gradients(y)[:, [0, 1, 2]]
        torch.testing.assert_close(grad, terms_x.mean(0) + nu * terms_y.mean(0))  # autograd == closed form
        se = torch.sqrt(terms_x.var(0) / n + nu**2 * terms_y.var(0) / (nu * n))
        return grad, se

    grad, se = gradient_and_se(0.0)
    assert bool((grad.abs() < 5 * se).all()), (grad, se)
    grad_off, se_off = gradient_and_se(0.1)
    assert abs(float(grad_off[2])) > 5 * float(se_off[2])


# ------------------------------------------------------------------ consistency

@pytest.mark.parametrize("n, nu", [(2_000, 1), (40_000, 8)])
def test_nce_recovers_mean_scale_and_normaliser(n, nu):
    # tolerance: 5 standard deviations of the asymptotic distribution (Gutmann & Hyvarinen 2012)
    truth = density.UnnormalisedGaussian.from_moments([MU], [[SIGMA**2]])
    sigma = density.nce_asymptotic_covariance(truth, NOISE, nu)
    fit = density.fit_nce(data(n, seed=n), NOISE, nu=nu, seed=n + 1)
    c_true = -math.log(math.sqrt(2 * math.pi) * SIGMA)
    errors = {"mean[0]": fit.mean[0] - MU, "log_diag[0]": -math.log(fit.scale[0]) + math.log(SIGMA),
              "c": fit.c - c_true}
    for name, error in errors.items():
        assert abs(error) < 5 * math.sqrt(sigma.variance(name) / n), (name, error)


def test_tolerance_shrinks_with_data_and_nu():
    truth = density.UnnormalisedGaussian.from_moments([MU], [[SIGMA**2]])
    var_c = {nu: density.nce_asymptotic_covariance(truth, NOISE, nu).variance("c") for nu in (1, 8)}
    assert var_c[8] < var_c[1]
    assert math.sqrt(var_c[8] / 40_000) < math.sqrt(var_c[1] / 2_000) / 5


def test_nce_recovers_a_2d_gaussian():
    cov = np.array([[1.0, 0.6], [0.6, 2.0]])
    mean = np.array([0.5, -1.0])
    noise = torch.distributions.MultivariateNormal(torch.tensor(mean, dtype=DT), torch.tensor(2 * cov))
    n, nu = 20_000, 4
    fit = density.fit_nce(np.random.default_rng(0).multivariate_normal(mean, cov, n), noise, nu=nu, seed=1)
    sigma = density.nce_asymptotic_covariance(density.UnnormalisedGaussian.from_moments(mean, cov), noise, nu)
    assert abs(fit.c + density.gaussian_log_normaliser(cov)) < 5 * math.sqrt(sigma.variance("c") / n)
    for i in range(2):
        assert abs(fit.mean[i] - mean[i]) < 5 * math.sqrt(sigma.variance(f"mean[{i}]") / n)


def test_adam_reaches_the_lbfgs_optimum():
    x = data(1_000, seed=3)
    lbfgs = density.fit_nce(x, NOISE, nu=2, seed=4)
    adam = density.fit_nce(x, NOISE, nu=2, seed=4, optimizer="adam", steps=1_500, lr=0.02)
    assert adam.objective <= lbfgs.objective + 1e-9
    assert adam.objective == pytest.approx(lbfgs.objective, abs=1e-6)
    assert adam.c == pytest.approx(lbfgs.c, abs=1e-2)


def test_asymptotic_covariance_tends_to_maximum_likelihood():
    # nu -> infinity: Var(mu) = sigma^2, Var(log sigma) = Var(c) = 1/2 (c = -log sigma - log sqrt(2 pi));
    # the Monte-Carlo estimate of I_nu (200k draws) is accurate to about 1%
    truth = density.UnnormalisedGaussian.from_moments([MU], [[SIGMA**2]])
    sigma = density.nce_asymptotic_covariance(truth, NOISE, nu=1e6)
    assert sigma.variance("mean[0]") == pytest.approx(SIGMA**2, rel=0.05)
    assert sigma.variance("log_diag[0]") == pytest.approx(0.5, rel=0.05)
    assert sigma.variance("c") == pytest.approx(0.5, rel=0.05)
    # and NCE is never more efficient than maximum likelihood
    for nu in (0.5, 2, 10):
        assert density.nce_asymptotic_covariance(truth, NOISE, nu).variance("c") > 0.5


def test_fit_mle_closed_form():
    x = data(500, seed=5)
    fit = density.fit_mle(x)
    assert fit.mean[0] == pytest.approx(x.mean())
    assert fit.scale[0] == pytest.approx(x.std())
    assert fit.c == pytest.approx(-math.log(math.sqrt(2 * math.pi) * x.std()))
    assert fit.objective == pytest.approx(stats.norm(x.mean(), x.std()).logpdf(x).mean())


# ------------------------------------------------------------------ bad inputs

def test_bad_inputs_raise_clear_errors():
    z4, z8 = np.zeros(4), np.zeros(8)
    with pytest.raises(ValueError, match=r"nu=3.*T_n / T_d = 2"):
        density.nce_objective(z4, z8, z4, z8, nu=3)
    with pytest.raises(ValueError, match="nu .* positive"):
        density.nce_objective(z4, z8, z4, z8, nu=-1.0)
    with pytest.raises(ValueError, match="same T_d data points"):
        density.nce_objective(z4, z8, np.zeros(5), z8)
    with pytest.raises(ValueError, match="1-D array"):
        density.nce_objective(np.zeros((4, 2)), z8, z4, z8)
    with pytest.raises(ValueError, match="NaN or Inf.*noise distribution"):
        density.nce_objective(z4, z8, np.array([0, 0, 0, -np.inf]), z8)
    with pytest.raises(ValueError, match="unknown optimizer 'sgd'.*lbfgs"):
        density.fit_nce(data(10, 0), NOISE, optimizer="sgd")
    with pytest.raises(ValueError, match="univariate.*2-D"):
        density.fit_nce(np.zeros((10, 2)), NOISE)
    with pytest.raises(TypeError, match="torch.distributions"):
        density.fit_nce(data(10, 0), "normal")
    with pytest.raises(ValueError, match="zero density"):
        density.fit_nce(data(10, 0) - 5, torch.distributions.Uniform(0.0, 1.0))
    with pytest.raises(ValueError, match="positive definite"):
        density.UnnormalisedGaussian.from_moments([0.0, 0.0], [[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(ValueError, match="not normalised"):
        unnormalised = density.UnnormalisedGaussian.from_moments([0], [[1]], c=0.0)
        density.nce_asymptotic_covariance(unnormalised, NOISE, 1)
    with pytest.raises(ValueError, match="dimension 2 but the model is 1-D"):
        density.UnnormalisedGaussian(1)(torch.zeros(3, 2))
