"""Tests for labfree.embed: batched, frozen, mode-restoring feature extraction."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from labfree.embed import embed, pool_features

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class TinyEncoder(nn.Module):
    """Conv -> BatchNorm -> ReLU -> Dropout -> pooled 8-d features: eval mode changes its output."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.block = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Dropout(0.5))
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.block(self.stem(x))).flatten(1)


def normalize(batch: torch.Tensor) -> torch.Tensor:
    return (batch.float() / 255.0 - 0.5) / 0.25


@pytest.fixture
def setup():
    torch.manual_seed(0)
    encoder = TinyEncoder()
    with torch.no_grad():                                # non-trivial running statistics
        encoder.stem[1].running_mean.uniform_(-0.5, 0.5)
        encoder.stem[1].running_var.uniform_(0.5, 2.0)
    images = torch.randint(0, 256, (37, 3, 8, 8), dtype=torch.uint8)
    return encoder, images


def test_embed_matches_a_direct_eval_forward_pass(setup):
    encoder, images = setup
    encoder.eval()
    with torch.no_grad():
        expected = encoder(normalize(images))
    encoder.train()
    h = embed(encoder, images, normalize, batch_size=10)          # 37 = 3 x 10 + 7: ragged last batch
    assert h.shape == (37, 8) and h.dtype == torch.float32 and h.device.type == "cpu"
    assert not h.requires_grad
    torch.testing.assert_close(h, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(embed(encoder, images.numpy(), normalize, batch_size=64), expected,
                               rtol=1e-5, atol=1e-6)


def test_bf16_embedding_is_float32_features_within_bf16_precision(setup):
    encoder, images = setup
    h32 = embed(encoder, images, normalize, batch_size=10)
    h16 = embed(encoder, images, normalize, batch_size=10, amp=True)
    assert h16.dtype == torch.float32 and not torch.equal(h16, h32)  # the forward did run in bf16
    # bf16 keeps 8 bits of mantissa: a relative error of a few 2^-8 through two convolutions
    assert float((h16 - h32).norm() / h32.norm()) < 3 * 2.0 ** -8
    with pytest.raises(ValueError, match="amp must be True, False or 'auto'"):
        embed(encoder, images, normalize, amp="bf16")


def test_embed_restores_every_modules_mode(setup):
    encoder, images = setup
    encoder.train()
    encoder.stem[1].eval()                               # a frozen BatchNorm inside a training model
    before = {name: m.training for name, m in encoder.named_modules()}
    embed(encoder, images, normalize)
    assert {name: m.training for name, m in encoder.named_modules()} == before
    encoder.eval()
    embed(encoder, images, normalize)
    assert not any(m.training for m in encoder.modules())


def test_embed_restores_modes_even_when_the_forward_pass_fails(setup):
    encoder, images = setup
    encoder.train()

    def broken(batch: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("normalisation failed")

    with pytest.raises(RuntimeError, match="normalisation failed"):
        embed(encoder, images, broken)
    assert all(m.training for m in encoder.modules())


def test_embed_does_not_update_batchnorm_statistics(setup):
    encoder, images = setup
    encoder.train()
    running = encoder.stem[1].running_mean.clone()
    embed(encoder, images, normalize)
    torch.testing.assert_close(encoder.stem[1].running_mean, running)


def test_layer_hook_returns_the_pooled_intermediate_output(setup):
    encoder, images = setup
    encoder.eval()
    with torch.no_grad():
        expected = encoder.stem(normalize(images)).mean(dim=(2, 3))
    h = embed(encoder, images, normalize, layer="stem", batch_size=16)
    torch.testing.assert_close(h, expected, rtol=1e-5, atol=1e-6)
    conv = embed(encoder, images, normalize, layer="stem.0")
    assert conv.shape == (37, 8)
    assert not encoder.stem._forward_hooks and not encoder.stem[0]._forward_hooks   # hooks removed


def test_layer_hook_skips_the_layers_after_it(setup):
    encoder, images = setup
    calls = []
    encoder.block.register_forward_pre_hook(lambda *_: calls.append(1))
    embed(encoder, images, normalize, layer="stem", batch_size=10)
    assert calls == []                                   # block never ran
    embed(encoder, images, normalize, batch_size=10)
    assert len(calls) == 4                               # it does for the final features


def test_keep_on_device_and_explicit_device(setup):
    encoder, images = setup
    h = embed(encoder, images, normalize, device="cpu", keep_on_device=True)
    assert h.device.type == "cpu"
    assert next(encoder.parameters()).device.type == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_embed_on_cuda_moves_the_encoder_back(setup):
    encoder, images = setup
    encoder.eval()
    with torch.no_grad():
        expected = encoder(normalize(images))
    h = embed(encoder, images, normalize, device="cuda")
    assert next(encoder.parameters()).device.type == "cpu" and h.device.type == "cpu"
    torch.testing.assert_close(h, expected, rtol=1e-4, atol=1e-4)
    assert embed(encoder, images, normalize, device="cuda", keep_on_device=True).device.type == "cuda"


def test_pool_features_shapes():
    assert pool_features(torch.ones(4, 6, 5, 5)).shape == (4, 6)
    assert pool_features(torch.ones(4, 3, 7)).shape == (4, 21)
    assert pool_features((torch.ones(4, 2), torch.zeros(1))).shape == (4, 2)
    np.testing.assert_allclose(pool_features(torch.arange(8.0).reshape(1, 2, 2, 2)).numpy(),
                               [[1.5, 5.5]])


def test_bad_inputs_say_what_is_wrong(setup):
    encoder, images = setup
    with pytest.raises(ValueError, match="dtype uint8"):
        embed(encoder, images.float(), normalize)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        embed(encoder, images[0], normalize)
    with pytest.raises(ValueError, match="no module named 'layer9'.*'stem'"):
        embed(encoder, images, normalize, layer="layer9")
    with pytest.raises(ValueError, match="empty"):
        embed(encoder, images[:0], normalize)
    with pytest.raises(ValueError, match="batch_size"):
        embed(encoder, images, normalize, batch_size=0)
    unused = nn.Linear(2, 2)
    encoder.add_module("unused", unused)
    with pytest.raises(ValueError, match="not called during the forward pass"):
        embed(encoder, images, normalize, layer="unused")


def test_resnet18l_layer4_pooled_equals_the_encoder_output():
    # The encoder's own head is global average pooling of layer4, so the hooked, pooled layer4
    # output must equal the final features; layer3 gives the 256 channels of that stage.
    from functools import partial

    from labfree.data import normalize as normalize_images
    from labfree.models import resnet18l

    torch.manual_seed(0)
    encoder = resnet18l()
    grey = torch.randint(0, 256, (4, 1, 16, 16), dtype=torch.uint8)
    to_input = partial(normalize_images, mean=(0.87,) * 3, std=(0.33,) * 3)    # the shapes' statistics
    h = embed(encoder, grey, to_input, batch_size=3)
    assert h.shape == (4, 512)
    torch.testing.assert_close(embed(encoder, grey, to_input, layer="layer4"), h, rtol=1e-5, atol=1e-5)
    assert embed(encoder, grey, to_input, layer="layer3").shape == (4, 256)
    assert encoder.training                                   # built in train mode, left in train mode
