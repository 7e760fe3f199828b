"""labfree.precision in training: bf16 autocast learns what float32 learns, within seed noise.

Three seeds of a CI-size SimCLR run (width-8 CNN, 1 024 shapes, 10 epochs of batch 128) in float32
and in bf16 autocast with channels-last. Measured on one thread (AMD EPYC with AVX-512-BF16): probe
accuracy float32 0.467/0.428/0.423, bf16 0.497/0.451/0.460 (Welch's t-test p = 0.20); final loss
float32 4.854/4.864/4.899, bf16 4.854/4.857/4.872. The test asks that neither the probe accuracy
nor any epoch's loss differs between the precisions by more than seed noise allows (Welch's
t-test at p > 0.01), not that bf16 reproduces float32's numbers.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from labfree import data, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def runs() -> dict[bool, list[tuple[list[float], float]]]:
    shapes, test = data.load("shapes", "train", n=1024), data.load("shapes", "test")
    out: dict[bool, list[tuple[list[float], float]]] = {}
    for amp in (False, True):
        out[amp] = []
        for seed in SEEDS:
            config = train.TrainConfig("simclr", encoder="small_cnn",
                                       encoder_kwargs=dict(width=8, out_dim=32), batch_size=128,
                                       epochs=10, device="cpu", progress=False,
                                       augment="simclr_cifar", momentum=(0.85, 0.9), amp=amp,
                                       channels_last=amp, seed=seed)
            result = train.train(config, shapes, callbacks=[train.probe_callback(shapes, test, knn=False)])
            out[amp].append(([h["loss"] for h in result.history], result.milestones[-1]["probe_accuracy"]))
    return out


def test_bf16_probe_accuracy_agrees_with_float32_within_seed_noise(runs):
    fp32, bf16 = ([accuracy for _, accuracy in runs[amp]] for amp in (False, True))
    assert stats.ttest_ind(bf16, fp32, equal_var=False).pvalue > 0.01, (fp32, bf16)


def test_bf16_loss_curve_agrees_with_float32_within_seed_noise(runs):
    fp32, bf16 = (np.array([loss for loss, _ in runs[amp]]) for amp in (False, True))
    assert fp32.shape == bf16.shape == (len(SEEDS), 10)
    pvalues = stats.ttest_ind(bf16, fp32, axis=0, equal_var=False).pvalue
    assert (pvalues > 0.01).all(), pvalues
    assert (np.diff(bf16.mean(axis=0)[[0, -1]]) < 0).all()  # and it does learn: the loss falls
