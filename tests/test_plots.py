"""Tests for labfree/plots.py (image_grid; the information-theory plots are tested in test_mi.py)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

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
