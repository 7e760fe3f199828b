"""labfree.evaluation: the measures of a self-supervised model (assess, spread, correlation)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from labfree import evaluation
from labfree.data import ImageSet
from labfree.train.step import _embedding_std


def separable(n: int, seed: int) -> ImageSet:
    """Four classes of 8x8 grey images, each class bright in its own quadrant, plus noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(4).repeat(n // 4)
    images = torch.randint(0, 40, (n, 1, 8, 8), generator=g)
    for k in range(4):
        rows, cols = divmod(k, 2)
        images[labels == k, :, 4 * rows:4 * rows + 4, 4 * cols:4 * cols + 4] += 200
    return ImageSet("shapes", images.to(torch.uint8), labels, ("a", "b", "c", "d"),
                    (0.3,) * 3, (0.3,) * 3)


class Model(nn.Module):
    def __init__(self, projector: nn.Module) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(192, 16))
        self.projector = projector


def test_assess_probes_h_and_measures_z_on_separable_data() -> None:
    torch.manual_seed(0)
    train_set, test_set = separable(200, seed=1), separable(100, seed=2)
    model = Model(nn.Sequential(nn.Linear(16, 8), nn.BatchNorm1d(8))).train()
    out = evaluation.assess(model, train_set, test_set)
    assert set(out) == {"probe accuracy", "spread of h", "spread of z", "mean |correlation| of z"}
    assert out["probe accuracy"] == 1.0
    assert 0.2 < out["spread of h"] < 1.5 and 0.2 < out["spread of z"] < 1.5
    assert 0 <= out["mean |correlation| of z"] <= 1
    assert all(m.training for m in model.modules())  # every training flag is put back


def test_collapsed_projections_have_no_spread_and_copies_full_correlation() -> None:
    train_set, test_set = separable(40, seed=1), separable(40, seed=2)
    constant = nn.Linear(16, 8)
    nn.init.zeros_(constant.weight)
    nn.init.ones_(constant.bias)
    out = evaluation.assess(Model(constant), train_set, test_set)
    assert out["spread of z"] == pytest.approx(0.0, abs=1e-6)
    assert math.isnan(out["mean |correlation| of z"])  # constant columns: nothing to correlate
    assert out["probe accuracy"] == 1.0  # the collapse is in z, the encoder's h still separates
    copies = torch.randn(50, 1).expand(50, 6) * torch.tensor([1.0, 2, 3, -1, -2, -3])
    assert evaluation.mean_abs_correlation(copies) == pytest.approx(1.0)
    assert evaluation.mean_abs_correlation(torch.randn(5000, 6)) < 0.05


def test_spread_is_the_training_steps_measure_times_sqrt_d() -> None:
    z = torch.randn(300, 32)
    assert evaluation.spread(z) == pytest.approx(float(_embedding_std(z)) * math.sqrt(32))
    assert 0.9 < evaluation.spread(z) < 1.1  # an isotropic cloud is spread over the sphere


@pytest.mark.parametrize("protocol", evaluation.PROTOCOLS)
def test_every_probe_protocol_separates_separable_data(protocol: str) -> None:
    torch.manual_seed(0)
    train_set, test_set = separable(200, seed=1), separable(100, seed=2)
    encoder = nn.Flatten()  # the raw pixels: each class lights its own quadrant
    result = evaluation.probe(encoder, train_set, test_set, protocol=protocol)
    assert result.accuracy == 1.0


def test_unknown_probe_protocol_lists_the_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown probe protocol 'svm'.*'lbfgs', 'adam', 'knn'"):
        evaluation.probe_features(torch.zeros(4, 2), [0, 1, 0, 1], torch.zeros(4, 2), [0, 1, 0, 1],
                                  protocol="svm")
