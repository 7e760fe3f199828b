"""Tests for labfree.methods: the registry covers the six methods, each spec agrees with its loss'
signature and the heads it names, runs end to end, and keeps the thesis' hyper-parameters."""

from __future__ import annotations

import inspect

import pytest
import torch

from labfree import models
from labfree.losses import MoCoQueue, VICRegTerms
from labfree.methods import METHODS, method

torch.set_num_threads(1)


def test_methods_cover_the_six_methods():
    assert set(METHODS) == {"simclr", "moco_v2", "simsiam", "byol", "vicreg", "barlow_twins"}


@pytest.mark.parametrize("name", ["simclr", "moco_v2", "simsiam", "byol", "vicreg", "barlow_twins"])
def test_method_spec_is_consistent_with_code(name):
    spec = method(name)
    assert spec.name == name
    params = list(inspect.signature(spec.loss).parameters)
    assert params[: len(spec.inputs)] == list(spec.inputs)
    assert set(spec.loss_kwargs) <= set(params)
    assert spec.projector in models.HEADS
    assert spec.predictor is None or spec.predictor in models.HEADS
    assert spec.momentum_target == bool(spec.ema)
    assert (spec.queue_length is not None) == (name == "moco_v2")


def test_method_spec_runs_its_loss_on_its_heads():
    # build each method's heads at small widths and evaluate its loss end to end
    small = {"hidden_dim": 32, "out_dim": 8}  # one convention for every head
    torch.manual_seed(0)
    h1, h2 = torch.randn(8, 16), torch.randn(8, 16)
    for spec in METHODS.values():
        projector = models.head(spec.projector, 16, **small)
        z1, z2 = projector(h1), projector(h2)
        p1, p2 = z1, z2
        if spec.predictor:
            predictor = models.head(spec.predictor, projector.out_dim, hidden_dim=16)
            p1, p2 = predictor(z1), predictor(z2)
        values = {"z1": z1, "z2": z2, "p1": p1, "p2": p2, "q": z1, "k": z2, "z1_target": z1, "z2_target": z2,
                  "queue": MoCoQueue(projector.out_dim, spec.queue_length or 1)}
        out = spec.loss(*(values[i] for i in spec.inputs), **spec.loss_kwargs)
        loss = out.loss if isinstance(out, VICRegTerms) else out
        assert loss.ndim == 0 and torch.isfinite(loss)


def test_thesis_hyper_parameters():
    simclr, moco, simsiam = method("simclr"), method("moco_v2"), method("simsiam")
    assert simclr.loss_kwargs["temperature"] == 0.5 and simclr.optimizer["lr"] == 0.5
    assert moco.loss_kwargs["temperature"] == 0.1 and moco.queue_length == 4096 and moco.ema["tau"] == 0.99
    assert simsiam.optimizer["lr"] == 0.06 and simsiam.optimizer["weight_decay"] == 5e-4


def test_unknown_method_lists_choices():
    with pytest.raises(ValueError, match=r"unknown self-supervised method 'swav'.*simclr"):
        method("swav")


def test_registry_still_reachable_from_losses():
    # book/assignments/vicreg.md and labfree/profiles name ``losses.METHODS``
    from labfree import losses

    assert losses.METHODS is METHODS and losses.method("simclr") is method("simclr")
    assert "METHODS" not in losses.__all__  # documented once, under labfree.methods
    with pytest.raises(AttributeError, match="no attribute 'ema_update'"):
        losses.ema_update  # noqa: B018  (moved to labfree.momentum)
