"""Tests for labfree.optim: LARS against a hand-computed step, schedule shapes, name errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from labfree.optim import LARS, OPTIMIZERS, SCHEDULES, build_optimizer, build_scheduler

torch.set_num_threads(1)


def test_lars_step_matches_the_formula():
    w = nn.Parameter(torch.tensor([[3.0, 4.0]]))          # ||w|| = 5
    b = nn.Parameter(torch.tensor([1.0]))
    w.grad, b.grad = torch.tensor([[0.0, 2.0]]), torch.tensor([0.5])
    opt = LARS([{"params": [w]}, {"params": [b], "lars": False, "weight_decay": 0.0}],
               lr=0.1, momentum=0.9, weight_decay=0.5, trust_coefficient=0.01)
    opt.step()
    g = torch.tensor([[0.0, 2.0]]) + 0.5 * torch.tensor([[3.0, 4.0]])  # gradient plus decay
    g = g * (0.01 * 5.0 / g.norm())                                     # trust ratio
    assert torch.allclose(w.detach(), torch.tensor([[3.0, 4.0]]) - 0.1 * g)
    assert torch.allclose(b.detach(), torch.tensor([1.0 - 0.1 * 0.5]))  # plain SGD step
    # second step: the momentum buffer carries the first scaled gradient
    w.grad = torch.tensor([[0.0, 2.0]])
    before = w.detach().clone()
    opt.step()
    g2 = torch.tensor([[0.0, 2.0]]) + 0.5 * before
    g2 = g2 * (0.01 * before.norm() / g2.norm())
    assert torch.allclose(w.detach(), before - 0.1 * (0.9 * g + g2), atol=1e-7)


def test_lars_keeps_zero_weights_moving():
    w = nn.Parameter(torch.zeros(2, 2))
    w.grad = torch.ones(2, 2)
    LARS([w], lr=1.0, momentum=0.0).step()  # ||w|| = 0: trust ratio 1, not 0
    assert torch.allclose(w.detach(), -torch.ones(2, 2))


def test_lars_groups_exclude_biases_and_batchnorm():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    opt = build_optimizer("lars", model, lr=0.1, weight_decay=1e-4, momentum=0.9)
    adapted, plain = opt.param_groups
    assert [p.ndim for p in adapted["params"]] == [2] and adapted["lars"] and adapted["weight_decay"] == 1e-4
    assert all(p.ndim == 1 for p in plain["params"]) and not plain["lars"] and plain["weight_decay"] == 0


def _lrs(name: str, total: int, **kw) -> tuple[list[float], list[float]]:
    opt = build_optimizer(kw.pop("optimizer", "sgd"), nn.Linear(2, 2), lr=1.0, weight_decay=0.0, momentum=0.9)
    sched = build_scheduler(name, opt, total, lr=1.0, momentum=(0.85, 0.95), **kw)
    lrs, moms = [], []
    for _ in range(total):
        group = opt.param_groups[0]
        lrs.append(group["lr"])
        moms.append(group["betas"][0] if "betas" in group else group["momentum"])
        opt.step()
        sched.step()
    return lrs, moms


def test_cosine_schedule_warms_up_linearly_then_decays_to_zero():
    lrs, moms = _lrs("cosine", 20, warmup_steps=4)
    assert lrs[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert lrs[4] == pytest.approx(1.0)
    assert lrs[4 + 8] == pytest.approx(0.5 * (1 + math.cos(math.pi * 8 / 16)))
    assert all(a >= b for a, b in zip(lrs[4:], lrs[5:])) and lrs[-1] < 0.01
    assert set(moms) == {0.95}


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_one_cycle_peaks_and_cycles_momentum_inversely(optimizer):
    lrs, moms = _lrs("one_cycle", 100, optimizer=optimizer)
    peak = max(range(100), key=lrs.__getitem__)
    assert lrs[peak] == pytest.approx(1.0, rel=1e-3) and 25 <= peak <= 35  # 30 % warm-up
    assert lrs[0] == pytest.approx(1.0 / 25)
    assert moms[peak] == pytest.approx(0.85, abs=1e-3)                      # low momentum at peak lr
    assert moms[0] == pytest.approx(0.95) and moms[-1] == pytest.approx(0.95, abs=1e-3)


def test_constant_schedule():
    lrs, moms = _lrs("constant", 5)
    assert lrs == [1.0] * 5 and moms == [0.95] * 5


def test_unknown_names_list_the_choices():
    with pytest.raises(ValueError, match="sgd"):
        build_optimizer("rmsprop", nn.Linear(2, 2), lr=0.1, weight_decay=0.0, momentum=0.9)
    opt = build_optimizer("sgd", nn.Linear(2, 2), lr=0.1, weight_decay=0.0, momentum=0.9)
    with pytest.raises(ValueError, match="one_cycle"):
        build_scheduler("step", opt, 10, lr=0.1, momentum=(0.85, 0.95))
    assert OPTIMIZERS == ("sgd", "lars", "adam") and SCHEDULES == ("one_cycle", "cosine", "constant")
