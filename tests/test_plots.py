"""Tests for labfree/plots.py (image_grid; the information-theory plots are tested in test_mi.py)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from scipy import stats  # noqa: E402

from labfree import plots  # noqa: E402


def test_image_grid_places_every_tile():
    images = torch.arange(5, dtype=torch.uint8).mul(40).reshape(5, 1, 1, 1).expand(5, 1, 4, 6).contiguous()
    fig, ax = plt.subplots()
    assert plots.image_grid(images, ncols=3, ax=ax, pad=1, pad_value=7) is ax
    canvas = np.asarray(ax.images[0].get_array())
    assert canvas.shape == (2 * (4 + 1) + 1, 3 * (6 + 1) + 1)
    for i in range(5):
        r, k = divmod(i, 3)
        tile = canvas[1 + r * 5: 1 + r * 5 + 4, 1 + k * 7: 1 + k * 7 + 6]
        assert (tile == 40 * i).all()
    assert (canvas[0] == 7).all() and (canvas[-5:-1, -7:-1] == 7).all()  # padding and the empty 6th slot
    plt.close(fig)


def test_image_grid_labels_rows_or_tiles():
    images = torch.zeros(8, 3, 5, 5, dtype=torch.uint8)
    fig, (left, right) = plt.subplots(1, 2)
    plots.image_grid(images, torch.tensor([0] * 4 + [1] * 4), ["cat", "dog"], ncols=4, ax=left)
    assert [t.get_text() for t in left.get_yticklabels()] == ["cat", "dog"] and not left.texts
    plots.image_grid(images, torch.tensor([0, 1] * 4), ["cat", "dog"], ncols=4, ax=right)
    assert [t.get_text() for t in right.texts] == ["cat", "dog"] * 4
    assert np.asarray(right.images[0].get_array()).shape[-1] == 3  # colour stays colour
    plt.close(fig)


def test_image_grid_rejects_bad_input():
    with pytest.raises(TypeError, match="uint8"):
        plots.image_grid(torch.zeros(2, 1, 4, 4))
    with pytest.raises(ValueError, match="N, C, H, W"):
        plots.image_grid(torch.zeros(2, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match="3 labels for 2 images"):
        plots.image_grid(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), [0, 1, 1])
    plt.close("all")


def _milestones(seed: int = 0, method: str = "simclr") -> pd.DataFrame:
    """Eleven milestones of a run whose probe accuracy rises: AMI(C1, C_GT) tracks it, the entropy
    mirrors it, AMI(C1, C2) is noise."""
    rng = np.random.default_rng(seed)
    epochs = np.arange(0, 220, 20)
    accuracy = 0.2 + 0.6 * (1 - np.exp(-epochs / 50)) + 0.01 * rng.normal(size=epochs.size)
    return pd.DataFrame({"method": method, "epoch": epochs, "probe_accuracy": accuracy,
                         "ami_c1_gt": accuracy + 0.02 * rng.normal(size=epochs.size),
                         "entropy": 5 - 2 * accuracy + 0.02 * rng.normal(size=epochs.size),
                         "ami_c1_c2": rng.normal(size=epochs.size)})


def test_metrics_over_epochs_draws_one_panel_per_metric():
    table = pd.concat([_milestones(0, "simclr"), _milestones(1, "moco")], ignore_index=True)
    axes = plots.metrics_over_epochs(table, ["entropy", "ami_c1_c2"], by="method")
    assert len(axes) == 2
    assert axes[0].get_ylabel() == "Entropy" and axes[0].get_xlabel() == "epoch"
    assert len(axes[0].lines) == 2 and axes[0].get_legend() is not None
    np.testing.assert_allclose(axes[1].lines[0].get_ydata(),
                               table[table.method == "simclr"].ami_c1_c2)
    _, given = plt.subplots(1, 3)
    used = plots.metrics_over_epochs(table[table.method == "moco"], axes=given)
    assert len(used) == 3 and used[2] is given[2]
    with pytest.raises(ValueError, match="2 axes for 3 metrics"):
        plots.metrics_over_epochs(table, axes=given[:2])
    plt.close("all")


def test_metric_vs_target_annotates_both_correlations():
    table = _milestones()
    ax = plots.metric_vs_target(table, "entropy")
    r_all = stats.pearsonr(table.entropy, table.probe_accuracy).statistic
    r_wo = stats.pearsonr(table.entropy[1:], table.probe_accuracy[1:]).statistic
    assert f"{r_all:+.2f} (w/ init), {r_wo:+.2f} (w/o init)" in ax.get_title()
    assert ax.get_xlabel() == "LP accuracy" and ax.get_ylabel() == "Entropy"
    plt.close("all")


def test_throughput_bars_draw_one_bar_per_pipeline_and_row():
    table = pd.DataFrame({"encoder": ["cnn", "cnn"], "precision": ["fp32", "bf16"],
                          "bare": [100.0, 250.0], "labfree": [95.0, 240.0], "conventional": [60.0, 70.0]})
    ax = plots.throughput_bars(table)
    heights = sorted(round(p.get_height()) for p in ax.patches)
    assert heights == sorted([100, 250, 95, 240, 60, 70])
    assert ax.get_yscale() == "log" and [t.get_text() for t in ax.get_legend().texts] == [
        "bare", "labfree", "conventional"]
    with pytest.raises(ValueError, match="columns"):
        plots.throughput_bars(table.drop(columns="labfree"))


def test_time_breakdown_stacks_each_rows_groups_to_its_step_time():
    rows = [{"encoder": "cnn", "precision": "fp32", "ms": {"conv": 60.0, "norm": 30.0, "rest": 10.0}},
            {"encoder": "cnn", "precision": "bf16", "ms": {"conv": 20.0, "norm": 25.0, "rest": 10.0}}]
    ax = plots.time_breakdown(rows, ["conv", "norm", "rest"])
    ends = {}
    for patch in ax.patches:  # each bar's segments end where the next starts
        y = round(patch.get_y(), 3)
        ends[y] = max(ends.get(y, 0.0), patch.get_x() + patch.get_width())
    assert sorted(round(e) for e in ends.values()) == [55, 100]
    labels = dict(zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels())))
    assert [labels[y] for y in sorted(labels, reverse=True)] == ["cnn fp32", "cnn bf16"]  # top down
    assert [t.get_text() for t in ax.get_legend().texts] == ["conv", "norm", "rest"]
    with pytest.raises(ValueError, match="lack the groups"):
        plots.time_breakdown(rows, ["conv", "pooling"])
    plt.close("all")
