"""Tests for labfree.momentum: the EMA update against its formula, its limits and errors, BYOL's
cosine schedule for the rate."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from labfree.momentum import byol_tau, ema_update, momentum_copy

torch.set_num_threads(1)
DT = torch.float64


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=DT)


def test_momentum_copy_is_a_frozen_equal_copy():
    online = nn.Linear(3, 4)
    target = momentum_copy(online)
    assert target is not online and not any(p.requires_grad for p in target.parameters())
    assert all(torch.equal(a, b) for a, b in zip(online.parameters(), target.parameters()))


def _bn_net() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).double()


def test_ema_update_is_exact_average():
    torch.manual_seed(0)
    online, target = _bn_net(), _bn_net()
    online(randn(6, 3, seed=1))  # give the online BN non-default running stats
    xi = {k: v.clone() for k, v in target.named_parameters()}
    tau = 0.9
    ema_update(target, online, tau)
    for name, theta in online.named_parameters():
        torch.testing.assert_close(dict(target.named_parameters())[name], tau * xi[name] + (1 - tau) * theta)
    for (name, b_t), (_, b_o) in zip(target.named_buffers(), online.named_buffers()):
        torch.testing.assert_close(b_t, b_o, msg=name)


def test_ema_update_limits():
    online, target = _bn_net(), _bn_net()
    before = [p.clone() for p in target.parameters()]
    ema_update(target, online, 1.0)
    assert all(torch.equal(a, b) for a, b in zip(before, target.parameters()))
    ema_update(target, online, 0.0)
    assert all(torch.equal(a, b) for a, b in zip(online.parameters(), target.parameters()))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ema_update(target, online, 1.5)
    with pytest.raises(ValueError, match="momentum_copy"):
        ema_update(nn.Linear(3, 4), nn.Sequential(nn.Linear(3, 4)), 0.5)


def test_byol_tau_cosine_schedule():
    assert byol_tau(0, 100) == pytest.approx(0.996)
    assert byol_tau(100, 100) == pytest.approx(1.0)
    assert byol_tau(50, 100, base_tau=0.9) == pytest.approx(1 - 0.1 / 2)
    taus = [byol_tau(s, 10) for s in range(11)]
    assert all(a < b for a, b in zip(taus, taus[1:]))
    with pytest.raises(ValueError, match="step"):
        byol_tau(11, 10)
