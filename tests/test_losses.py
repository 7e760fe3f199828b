"""Tests for labfree.losses: each loss against a naive loop over its formula (float64), gradient
checks, closed-form special cases, stop-gradients, the MoCo queue, and an independent oracle
(lightly) where its conventions match ours."""

from __future__ import annotations

import contextlib
import math

import pytest
import torch
from scipy.linalg import hadamard
from torch import nn

from labfree import losses as L
from labfree.momentum import momentum_copy

torch.set_num_threads(1)
DT = torch.float64


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=DT)


def decorrelated(n: int = 8, d: int = 4) -> torch.Tensor:
    """(n, d) with zero-mean, mutually orthogonal columns of biased variance 1 (Hadamard columns)."""
    return torch.tensor(hadamard(n)[:, 1 : d + 1], dtype=DT)


# ------------------------------------------------------------------ naive references (loops)

def cos(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return (u * v).sum() / (u.norm() * v.norm())


def naive_nt_xent(z1, z2, temperature):
    z = list(z1) + list(z2)
    n2 = len(z)
    total = 0.0
    for i in range(n2):
        j = (i + n2 // 2) % n2
        den = sum(torch.exp(cos(z[i], z[k]) / temperature) for k in range(n2) if k != i)
        total += -torch.log(torch.exp(cos(z[i], z[j]) / temperature) / den)
    return total / n2


def naive_info_nce(q, k_pos, k_neg, temperature):
    total = 0.0
    for i in range(len(q)):
        negs = k_neg if k_neg.ndim == 2 else k_neg[i]
        pos = torch.exp(cos(q[i], k_pos[i]) / temperature)
        den = pos + sum(torch.exp(cos(q[i], k) / temperature) for k in negs)
        total += -torch.log(pos / den)
    return total / len(q)


def naive_negative_cosine(p, z):
    return -sum(cos(p[i], z[i]) for i in range(len(p))) / len(p)


def naive_byol(p1, p2, z1t, z2t):
    def nmse(a, b):
        return sum(((a[i] / a[i].norm() - b[i] / b[i].norm()) ** 2).sum() for i in range(len(a))) / len(a)
    return nmse(p1, z2t) + nmse(p2, z1t)


def naive_invariance(z1, z2):
    n, d = z1.shape
    return sum(((z1[i] - z2[i]) ** 2).sum() for i in range(n)) / (n * d)


def naive_variance(z, gamma=1.0, eps=1e-4):
    n, d = z.shape
    total = 0.0
    for j in range(d):
        mean = sum(z[i, j] for i in range(n)) / n
        var = sum((z[i, j] - mean) ** 2 for i in range(n)) / (n - 1)
        total += max(0.0, gamma - math.sqrt(float(var) + eps))
    return total / d


def naive_cov_matrix(z):
    n, d = z.shape
    mean = [sum(z[i, j] for i in range(n)) / n for j in range(d)]
    return [[sum((z[i, a] - mean[a]) * (z[i, b] - mean[b]) for i in range(n)) / (n - 1) for b in range(d)]
            for a in range(d)]


def naive_covariance(z):
    d = z.shape[1]
    c = naive_cov_matrix(z)
    return sum(c[a][b] ** 2 for a in range(d) for b in range(d) if a != b) / d


def naive_barlow(z1, z2, lambd, eps=1e-5):
    n, d = z1.shape

    def standardised(z, j):
        col = [float(z[i, j]) for i in range(n)]
        m = sum(col) / n
        s = math.sqrt(sum((x - m) ** 2 for x in col) / n + eps)
        return [(x - m) / s for x in col]

    a = [standardised(z1, j) for j in range(d)]
    b = [standardised(z2, j) for j in range(d)]
    total = 0.0
    for i in range(d):
        for j in range(d):
            c_ij = sum(a[i][k] * b[j][k] for k in range(n)) / n
            total += (1 - c_ij) ** 2 if i == j else lambd * c_ij**2
    return total


# ------------------------------------------------------------------ against the formulas

@pytest.mark.parametrize("temperature", [0.1, 0.5, 1.0])
def test_nt_xent_matches_formula(temperature):
    z1, z2 = randn(5, 3, seed=1), randn(5, 3, seed=2)
    torch.testing.assert_close(L.nt_xent(z1, z2, temperature), naive_nt_xent(z1, z2, temperature))


@pytest.mark.parametrize("shared", [True, False])
def test_info_nce_matches_formula(shared):
    q, k = randn(4, 3, seed=1), randn(4, 3, seed=2)
    negatives = randn(6, 3, seed=3) if shared else randn(4, 6, 3, seed=3)
    torch.testing.assert_close(L.info_nce(q, k, negatives, 0.2), naive_info_nce(q, k, negatives, 0.2))


def test_moco_loss_matches_formula_with_queue():
    queue = L.MoCoQueue(3, length=7, generator=torch.Generator().manual_seed(0)).to(DT)
    q, k = randn(4, 3, seed=1), randn(4, 3, seed=2)
    expected = naive_info_nce(q, k, queue.keys(), 0.2)
    torch.testing.assert_close(L.moco_loss(q, k, queue, temperature=0.2), expected)
    # a raw (M, D) tensor of negatives is accepted as well
    torch.testing.assert_close(L.moco_loss(q, k, queue.keys(), temperature=0.2), expected)


def test_negative_cosine_and_simsiam_match_formula():
    p1, p2, z1, z2 = (randn(6, 4, seed=s) for s in range(4))
    torch.testing.assert_close(L.negative_cosine(p1, z2), naive_negative_cosine(p1, z2))
    expected = 0.5 * naive_negative_cosine(p1, z2) + 0.5 * naive_negative_cosine(p2, z1)
    torch.testing.assert_close(L.simsiam_loss(p1, p2, z1, z2), expected)


def test_byol_loss_matches_formula():
    p1, p2, z1t, z2t = (randn(6, 4, seed=s) for s in range(4))
    torch.testing.assert_close(L.byol_loss(p1, p2, z1t, z2t), naive_byol(p1, p2, z1t, z2t))


def test_vicreg_terms_match_formula():
    z1, z2 = randn(7, 4, seed=1) * 0.6, randn(7, 4, seed=2) * 1.5  # some std below 1, some above
    torch.testing.assert_close(L.invariance_term(z1, z2), naive_invariance(z1, z2))
    torch.testing.assert_close(L.variance_term(z1).item(), naive_variance(z1))
    torch.testing.assert_close(L.variance_term(z2, gamma=2.0, eps=0.0).item(), naive_variance(z2, 2.0, 0.0))
    torch.testing.assert_close(L.covariance_term(z1), naive_covariance(z1))
    terms = L.vicreg_loss(z1, z2, sim_weight=3.0, var_weight=5.0, cov_weight=7.0)
    variance = 0.5 * (naive_variance(z1) + naive_variance(z2))
    covariance = naive_covariance(z1) + naive_covariance(z2)
    torch.testing.assert_close(terms.variance.item(), variance)
    torch.testing.assert_close(terms.covariance, covariance)
    expected = 3.0 * naive_invariance(z1, z2) + 5.0 * variance + 7.0 * covariance
    torch.testing.assert_close(terms.loss, expected)


def test_vicreg_default_weights_are_25_25_1():
    z1, z2 = randn(7, 4, seed=1), randn(7, 4, seed=2)
    t = L.vicreg_loss(z1, z2)
    torch.testing.assert_close(t.loss, 25 * t.invariance + 25 * t.variance + 1 * t.covariance)


@pytest.mark.parametrize("lambd", [5e-3, 0.5])
def test_barlow_twins_matches_formula(lambd):
    z1, z2 = randn(9, 4, seed=1), 2 * randn(9, 4, seed=2) + 1
    torch.testing.assert_close(L.barlow_twins_loss(z1, z2, lambd).item(), naive_barlow(z1, z2, lambd))


# ------------------------------------------------------------------ gradients

def _leaf(*shape, seed):
    return randn(*shape, seed=seed).requires_grad_(True)


def test_gradcheck_contrastive():
    z1, z2 = _leaf(3, 4, seed=1), _leaf(3, 4, seed=2)
    assert torch.autograd.gradcheck(lambda a, b: L.nt_xent(a, b, 0.3), (z1, z2))
    q, k, neg = _leaf(3, 4, seed=3), _leaf(3, 4, seed=4), _leaf(5, 4, seed=5)
    assert torch.autograd.gradcheck(lambda a, b, c: L.info_nce(a, b, c, 0.3), (q, k, neg))


def test_gradcheck_predictive():
    p1, p2 = _leaf(3, 4, seed=1), _leaf(3, 4, seed=2)
    z1, z2 = randn(3, 4, seed=3), randn(3, 4, seed=4)
    assert torch.autograd.gradcheck(lambda a, b: L.simsiam_loss(a, b, z1, z2), (p1, p2))
    assert torch.autograd.gradcheck(lambda a, b: L.byol_loss(a, b, z1, z2), (p1, p2))


def test_gradcheck_redundancy_reduction():
    z1, z2 = _leaf(5, 3, seed=1), _leaf(5, 3, seed=2)
    assert torch.autograd.gradcheck(lambda a, b: L.vicreg_loss(a, b).loss, (z1, z2))
    assert torch.autograd.gradcheck(lambda a, b: L.barlow_twins_loss(a, b, 0.1), (z1, z2))


# ------------------------------------------------------------------ properties with known answers

def test_nt_xent_invariant_to_scaling_before_normalisation():
    z1, z2 = randn(6, 5, seed=1), randn(6, 5, seed=2)
    a, b = randn(6, 1, seed=3).abs() + 0.1, 10 * randn(6, 1, seed=4).abs() + 0.1
    torch.testing.assert_close(L.nt_xent(a * z1, b * z2), L.nt_xent(z1, z2))


@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_nt_xent_aligned_orthogonal_views(temperature):
    # positives identical, all 2N - 2 negatives orthogonal: l = log(1 + (2N - 2) exp(-1 / tau))
    n = 4
    z = torch.eye(n, 6, dtype=DT)
    expected = math.log(1 + (2 * n - 2) * math.exp(-1 / temperature))
    torch.testing.assert_close(L.nt_xent(z, z.clone(), temperature).item(), expected)


@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_nt_xent_attains_lower_bound_with_antipodal_negatives(temperature):
    # N = 2, sample 2 = -sample 1: every negative has similarity -1, the lower bound
    e = torch.tensor([[1.0, 2.0, -1.0]], dtype=DT)
    z = torch.cat([e, -e])
    lower = math.log(1 + 2 * math.exp(-2 / temperature))
    torch.testing.assert_close(L.nt_xent(z, 3 * z, temperature).item(), lower)
    # random views stay above it
    assert L.nt_xent(randn(2, 3, seed=1), randn(2, 3, seed=2), temperature).item() > lower


def test_nt_xent_collapse_gives_log_2n_minus_1():
    n = 5
    z = torch.ones(n, 3, dtype=DT)
    torch.testing.assert_close(L.nt_xent(z, z, 0.5).item(), math.log(2 * n - 1))


def test_negative_cosine_extremes():
    p = randn(4, 3, seed=1)
    torch.testing.assert_close(L.negative_cosine(p, 2 * p).item(), -1.0)
    torch.testing.assert_close(L.negative_cosine(p, -p).item(), 1.0)
    torch.testing.assert_close(L.byol_loss(p, p, 3 * p, 3 * p).item(), 0.0)
    torch.testing.assert_close(L.byol_loss(p, p, -p, -p).item(), 8.0)


def test_vicreg_variance_zero_when_all_std_at_least_one():
    z = 2 * decorrelated(8, 4)  # std = 2 * sqrt(8/7) in every dimension
    assert L.variance_term(z).item() == 0.0
    # shrink one dimension: only it contributes, (gamma - std) / d
    z_small = z.clone()
    z_small[:, 0] *= 0.1
    std = math.sqrt(float(z_small[:, 0].var()) + 1e-4)
    torch.testing.assert_close(L.variance_term(z_small).item(), (1 - std) / 4)


def test_vicreg_collapse_variance_is_gamma():
    z = torch.ones(6, 3, dtype=DT)
    torch.testing.assert_close(L.variance_term(z, eps=0.0).item(), 1.0)


def test_vicreg_covariance_zero_for_decorrelated_data():
    z = decorrelated(8, 5) * torch.tensor([1.0, 2.0, 3.0, 0.5, 4.0], dtype=DT) + 7.0
    torch.testing.assert_close(L.covariance_term(z).item(), 0.0)
    # two perfectly correlated dimensions: off-diagonal covariance = var(a) * 1 each way
    zc = torch.cat([z[:, :1], z[:, :1]], dim=1)
    var = float(z[:, 0].var())
    torch.testing.assert_close(L.covariance_term(zc).item(), 2 * var**2 / 2)


def test_barlow_twins_zero_for_correlated_decorrelated_pair():
    z1 = decorrelated(8, 4)
    z2 = 3 * z1 + torch.tensor([1.0, -2.0, 0.0, 5.0], dtype=DT)  # per-dimension affine: still correlation 1
    assert L.barlow_twins_loss(z1, z2, eps=0.0).item() == pytest.approx(0.0, abs=1e-12)
    # swap two dimensions of one view: two diagonal entries drop to 0, two off-diagonal become 1
    lambd = 0.2
    swapped = L.barlow_twins_loss(z1, z2[:, [1, 0, 2, 3]], lambd, eps=0.0)
    torch.testing.assert_close(swapped.item(), 2 + 2 * lambd)


# ------------------------------------------------------------------ stop-gradients

def test_simsiam_stop_gradient():
    p1, p2, z1, z2 = (_leaf(4, 3, seed=s) for s in range(4))
    L.simsiam_loss(p1, p2, z1, z2).backward()
    assert z1.grad is None and z2.grad is None
    assert p1.grad is not None and p1.grad.abs().sum() > 0


def test_byol_stop_gradient_into_target():
    online = nn.Linear(3, 4).double()
    target = momentum_copy(online)
    assert not any(p.requires_grad for p in target.parameters())
    x1, x2 = randn(5, 3, seed=1), randn(5, 3, seed=2)
    for p in target.parameters():  # even if someone re-enables grads on the target ...
        p.requires_grad_(True)
    loss = L.byol_loss(online(x1), online(x2), target(x1), target(x2))
    loss.backward()
    assert all(p.grad is None for p in target.parameters())  # ... no gradient reaches it
    assert all(p.grad is not None for p in online.parameters())


def test_moco_stop_gradient_into_keys():
    q, k = _leaf(4, 3, seed=1), _leaf(4, 3, seed=2)
    L.moco_loss(q, k, L.MoCoQueue(3, 8).to(DT)).backward()
    assert k.grad is None and q.grad is not None


# ------------------------------------------------------------------ MoCo queue

def test_moco_queue_fifo():
    queue = L.MoCoQueue(3, length=5, generator=torch.Generator().manual_seed(0)).to(DT)
    initial = queue.keys().clone()
    torch.testing.assert_close(initial.norm(dim=1), torch.ones(5, dtype=DT))
    a, b, c = (torch.nn.functional.normalize(randn(2, 3, seed=s), dim=1) for s in (1, 2, 3))
    torch.testing.assert_close(queue.enqueue(5 * a), initial[:2])  # stored normalised
    torch.testing.assert_close(queue.enqueue(b), initial[2:4])
    torch.testing.assert_close(queue.enqueue(c), torch.cat([initial[4:], a[:1]]))  # wraps around
    torch.testing.assert_close(queue.keys(), torch.cat([a[1:], b, c]))  # oldest first
    assert len(queue) == 5 and int(queue.ptr) == 1


def test_moco_queue_state_dict_roundtrip_and_errors():
    queue = L.MoCoQueue(3, length=4)
    queue.enqueue(torch.randn(3, 3))
    copy = L.MoCoQueue(3, length=4)
    copy.load_state_dict(queue.state_dict())
    torch.testing.assert_close(copy.keys(), queue.keys())
    with pytest.raises(ValueError, match="at least as long"):
        queue.enqueue(torch.randn(5, 3))
    with pytest.raises(ValueError, match="dimension"):
        queue.enqueue(torch.randn(2, 4))


# ------------------------------------------------------------------ oracle: lightly

def test_lightly_nt_xent():
    lightly_loss = pytest.importorskip("lightly.loss")
    z1, z2 = randn(16, 8, seed=1), randn(16, 8, seed=2)
    for temperature in (0.1, 0.5):
        oracle = lightly_loss.NTXentLoss(temperature)(z1, z2)
        torch.testing.assert_close(L.nt_xent(z1, z2, temperature), oracle)


def test_lightly_vicreg():
    # same conventions: mse over N*d, variance averaged over the views, covariance summed
    lightly_loss = pytest.importorskip("lightly.loss")
    z1, z2 = randn(16, 8, seed=1), 0.5 * randn(16, 8, seed=2)
    oracle = lightly_loss.VICRegLoss(lambda_param=25.0, mu_param=25.0, nu_param=1.0)(z1, z2)
    torch.testing.assert_close(L.vicreg_loss(z1, z2).loss, oracle)


def test_lightly_barlow_twins():
    # lightly standardises with F.batch_norm (biased variance, eps 1e-5), as we do by default
    lightly_loss = pytest.importorskip("lightly.loss")
    z1, z2 = randn(16, 8, seed=1), randn(16, 8, seed=2) + 3
    for lambd in (5e-3, 0.1):
        oracle = lightly_loss.BarlowTwinsLoss(lambda_param=lambd)(z1, z2)
        torch.testing.assert_close(L.barlow_twins_loss(z1, z2, lambd), oracle)


def test_lightly_negative_cosine():
    lightly_loss = pytest.importorskip("lightly.loss")
    p, z = randn(16, 8, seed=1), randn(16, 8, seed=2)
    torch.testing.assert_close(L.negative_cosine(p, z), lightly_loss.NegativeCosineSimilarity()(p, z))


# ------------------------------------------------------------------ bad inputs

TWO_VIEW_LOSSES = {
    "nt_xent": L.nt_xent,
    "negative_cosine": L.negative_cosine,
    "invariance_term": L.invariance_term,
    "vicreg_loss": L.vicreg_loss,
    "barlow_twins_loss": L.barlow_twins_loss,
    "simsiam_loss": lambda a, b: L.simsiam_loss(a, b, a, b),
    "byol_loss": lambda a, b: L.byol_loss(a, b, a, b),
    "moco_loss": lambda a, b: L.moco_loss(a, b, L.MoCoQueue(a.shape[1], 8).to(a.dtype)),
}


@pytest.mark.parametrize("name", TWO_VIEW_LOSSES)
def test_mismatched_views_rejected(name):
    with pytest.raises(ValueError, match="same shape"):
        TWO_VIEW_LOSSES[name](randn(4, 3), randn(5, 3))


@pytest.mark.parametrize("name", TWO_VIEW_LOSSES)
def test_non_finite_inputs_give_a_non_finite_loss(name):
    # the losses do not check values (that would sync with the device at every call); a NaN input
    # reaches the loss, and the training step's one check catches it (test_train.py)
    z = randn(4, 3)
    z[1, 2] = float("nan")
    out = TWO_VIEW_LOSSES[name](randn(4, 3), z)
    assert not torch.isfinite(out.loss if isinstance(out, L.VICRegTerms) else out)


@contextlib.contextmanager
def no_host_reads():
    """Fail on any Python-level read of a tensor's values (``.item()``, ``bool(t)``, ...): on a GPU
    each is a device synchronisation."""
    def refuse(*args, **kwargs):
        raise AssertionError("a loss read a tensor value back to the host")

    names = ("item", "tolist", "__bool__", "__float__", "__int__")
    saved = {n: getattr(torch.Tensor, n) for n in names}
    try:
        for n in names:
            setattr(torch.Tensor, n, refuse)
        yield
    finally:
        for n, f in saved.items():
            setattr(torch.Tensor, n, f)


@pytest.mark.parametrize("name", TWO_VIEW_LOSSES)
def test_losses_never_read_values_back(name):
    a, b = randn(6, 3, seed=1), randn(6, 3, seed=2)
    torch.manual_seed(0)  # MoCo's queue starts random
    expected = TWO_VIEW_LOSSES[name](a, b)
    torch.manual_seed(0)
    with no_host_reads():
        out = TWO_VIEW_LOSSES[name](a, b)
    torch.testing.assert_close(out, expected)


def test_metric_learning_losses_and_the_queue_never_read_values_back():
    a, p, n = randn(6, 3, seed=1), randn(6, 3, seed=2), randn(6, 3, seed=3)
    queue = L.MoCoQueue(3, 8).to(DT)
    with no_host_reads():
        L.triplet_loss(a, p, n)
        L.tuple_loss(a, p, n[:5])
        L.npair_loss(a, p)
        L.info_nce(a, p, n, 0.5)
        queue.keys()
        queue.enqueue(a)


@pytest.mark.parametrize("name", TWO_VIEW_LOSSES)
def test_wrong_ndim_rejected(name):
    with pytest.raises(ValueError, match=r"2-D \(batch_size, dim\).*flatten"):
        TWO_VIEW_LOSSES[name](randn(4, 3, 2), randn(4, 3, 2))


@pytest.mark.parametrize("loss", [L.nt_xent, L.vicreg_loss, L.barlow_twins_loss])
def test_batch_of_one_rejected(loss):
    with pytest.raises(ValueError, match="needs at least 2 samples.*larger batch"):
        loss(randn(1, 3), randn(1, 3))


def test_nt_xent_batch_of_one_message_names_contrastive():
    with pytest.raises(ValueError, match="contrastive loss"):
        L.nt_xent(randn(1, 3), randn(1, 3))


def test_bad_temperature_and_negatives():
    with pytest.raises(ValueError, match="temperature must be a positive"):
        L.nt_xent(randn(4, 3), randn(4, 3), temperature=0.0)
    with pytest.raises(ValueError, match="negative_keys"):
        L.info_nce(randn(4, 3), randn(4, 3), randn(6, 2), 0.1)
    with pytest.raises(ValueError, match="MoCoQueue"):
        L.moco_loss(randn(4, 3), randn(4, 3), [1, 2, 3])


def test_integer_input_rejected():
    with pytest.raises(ValueError, match="floating-point"):
        L.nt_xent(torch.ones(4, 3, dtype=torch.long), torch.ones(4, 3, dtype=torch.long))


# ------------------------------------------------------------- deep metric learning: triplet, tuple, N-pair

def naive_triplet(a, p, n, margin, squared):
    total = 0.0
    for i in range(len(a)):
        d_pos = math.sqrt(sum(float(a[i, k] - p[i, k]) ** 2 for k in range(a.shape[1])))
        d_neg = math.sqrt(sum(float(a[i, k] - n[i, k]) ** 2 for k in range(a.shape[1])))
        if squared:
            d_pos, d_neg = d_pos**2, d_neg**2
        total += max(0.0, d_pos - d_neg + margin)
    return total / len(a)


def naive_tuple(a, p, negs):
    total = 0.0
    for i in range(len(a)):
        own = negs if negs.ndim == 2 else negs[i]
        s_pos = float(a[i] @ p[i])
        total += math.log(1 + sum(math.exp(float(a[i] @ m) - s_pos) for m in own))
    return total / len(a)


def naive_npair(a, p, temperature=1.0):
    n = len(a)
    total = 0.0
    for i in range(n):
        s_pos = float(a[i] @ p[i])
        others = (math.exp((float(a[i] @ p[j]) - s_pos) / temperature) for j in range(n) if j != i)
        total += math.log(1 + sum(others))
    return total / n


def naive_infonce_bound(g, h):
    """Poole et al.'s I_NCE = 1/N sum_i log( e^{f(x_i, y_i)} / (1/N sum_j e^{f(x_i, y_j)}) ), f = g^T h."""
    n = len(g)
    total = 0.0
    for i in range(n):
        f = [float(g[i] @ h[j]) for j in range(n)]
        total += f[i] - math.log(sum(math.exp(v) for v in f) / n)
    return total / n


@pytest.mark.parametrize("squared", [True, False])
@pytest.mark.parametrize("margin", [0.0, 0.2, 1.0])
def test_triplet_loss_matches_formula(squared, margin):
    a, p, n = randn(6, 4, seed=1), randn(6, 4, seed=2), randn(6, 4, seed=3)
    got = L.triplet_loss(a, p, n, margin=margin, squared=squared).item()
    assert got == pytest.approx(naive_triplet(a, p, n, margin, squared), rel=1e-12, abs=1e-12)


def test_triplet_loss_zero_for_far_negative_and_hinge_otherwise():
    a = randn(5, 3, seed=1)
    p = a + 0.01 * randn(5, 3, seed=2)
    far = a + 100.0
    assert L.triplet_loss(a, p, far, margin=0.0).item() == 0.0
    assert L.triplet_loss(a, p, far, margin=0.0, squared=False).item() == 0.0
    # negative == positive: every triplet sits exactly at the margin
    assert L.triplet_loss(a, p, p, margin=0.3).item() == pytest.approx(0.3)


def test_triplet_on_unit_sphere_is_a_hinge_on_the_similarity_gap():
    # ||a - b||^2 = 2 - 2 a.b for unit vectors: triplet = max(0, 2 (s- - s+) + margin)
    a, p, n = (torch.nn.functional.normalize(randn(7, 5, seed=s), dim=1) for s in (1, 2, 3))
    gap = (a * n).sum(1) - (a * p).sum(1)
    torch.testing.assert_close(L.triplet_loss(a, p, n, margin=0.2), torch.relu(2 * gap + 0.2).mean())
    # and the (2+1)-tuple loss is the softplus of the same gap: a smooth, margin-free hinge
    torch.testing.assert_close(L.tuple_loss(a, p, n[:, None, :]), torch.nn.functional.softplus(gap).mean())


def test_triplet_gradient_finite_at_zero_distance():
    a = _leaf(3, 4, seed=1)
    L.triplet_loss(a, a.detach().clone(), randn(3, 4, seed=2), margin=100.0, squared=False).backward()
    assert torch.isfinite(a.grad).all() and a.grad.abs().sum() > 0


@pytest.mark.parametrize("shared", [True, False])
def test_tuple_loss_matches_formula(shared):
    a, p = randn(4, 3, seed=1), randn(4, 3, seed=2)
    negs = randn(5, 3, seed=3) if shared else randn(4, 5, 3, seed=3)
    assert L.tuple_loss(a, p, negs).item() == pytest.approx(naive_tuple(a, p, negs), rel=1e-12)


@pytest.mark.parametrize("temperature", [1.0, 0.1])
def test_npair_loss_matches_formula(temperature):
    a, p = randn(6, 4, seed=1), randn(6, 4, seed=2)
    assert L.npair_loss(a, p, temperature).item() == pytest.approx(naive_npair(a, p, temperature), rel=1e-12)


def test_npair_is_tuple_loss_with_the_other_positives_as_negatives():
    a, p = randn(5, 3, seed=1), randn(5, 3, seed=2)
    others = torch.stack([torch.cat([p[:i], p[i + 1:]]) for i in range(len(p))])  # (N, N-1, D)
    torch.testing.assert_close(L.npair_loss(a, p), L.tuple_loss(a, p, others))


@pytest.mark.parametrize("n", [2, 7, 32])
def test_infonce_bound_with_separable_critic_is_log_n_minus_npair(n):
    # I_NCE = log N - L_N-pair exactly, for any embeddings g(x_i), h(y_i) (temperature 1, raw scores)
    g, h = randn(n, 6, seed=n), randn(n, 6, seed=n + 100)
    expected = naive_infonce_bound(g, h)
    assert math.log(n) - L.npair_loss(g, h).item() == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_info_nce_with_in_batch_negatives_is_npair_on_unit_vectors():
    q, k = randn(6, 4, seed=1), randn(6, 4, seed=2)
    negatives = torch.stack([torch.cat([k[:i], k[i + 1:]]) for i in range(len(k))])
    q_hat, k_hat = torch.nn.functional.normalize(q, dim=1), torch.nn.functional.normalize(k, dim=1)
    for temperature in (1.0, 0.2):
        torch.testing.assert_close(L.info_nce(q, k, negatives, temperature),
                                   L.npair_loss(q_hat, k_hat, temperature))


def test_gradcheck_metric_losses():
    a, p, n = _leaf(3, 4, seed=1), _leaf(3, 4, seed=2), _leaf(3, 4, seed=3)
    assert torch.autograd.gradcheck(lambda x, y, z: L.triplet_loss(x, y, z, margin=5.0), (a, p, n))
    assert torch.autograd.gradcheck(lambda x, y, z: L.tuple_loss(x, y, z), (a, p, n))
    assert torch.autograd.gradcheck(lambda x, y: L.npair_loss(x, y, 0.5), (a, p))


def test_metric_losses_reject_bad_inputs():
    a = randn(4, 3)
    with pytest.raises(ValueError, match="same shape"):
        L.triplet_loss(a, a, randn(5, 3))
    with pytest.raises(ValueError, match="same shape"):
        L.npair_loss(a, randn(4, 2))
    with pytest.raises(ValueError, match="margin must be a non-negative"):
        L.triplet_loss(a, a, a, margin=-1.0)
    with pytest.raises(ValueError, match="negatives must hold .* dimension 3"):
        L.tuple_loss(a, a, randn(6, 2))
    with pytest.raises(ValueError, match="batch_size 4 in dim 0"):
        L.tuple_loss(a, a, randn(5, 6, 3))
    with pytest.raises(ValueError, match="negatives must be"):
        L.tuple_loss(a, a, randn(3))
    with pytest.raises(ValueError, match="N-pair loss.*at least 2 samples"):
        L.npair_loss(randn(1, 3), randn(1, 3))
    with pytest.raises(ValueError, match="temperature"):
        L.npair_loss(a, a, temperature=0)
    bad = randn(4, 3)
    bad[0, 0] = float("inf")
    assert not torch.isfinite(L.tuple_loss(a, a, bad))  # not checked here: the training step does
