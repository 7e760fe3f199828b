"""Tests for labfree.models: encoder shapes and stems, head widths, and ImageNet-weight loading from
a fixture checkpoint in a temporary torch hub directory (no download)."""

from __future__ import annotations

import inspect
import os
import urllib.error
from pathlib import Path
from urllib.parse import urlparse

import pytest
import torch
from torch import nn
from torchvision import models as tvm

from labfree import models as M

torch.set_num_threads(1)


def images(size: int, channels: int = 3, n: int = 2) -> torch.Tensor:
    return torch.randn(n, channels, size, size, generator=torch.Generator().manual_seed(size))


def linear_widths(head: nn.Module) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in head.modules() if isinstance(m, nn.Linear)]


# ------------------------------------------------------------------ encoders

@pytest.mark.parametrize("size", [28, 32])
def test_resnet18l_features(size):
    model = M.resnet18l().eval()
    with torch.no_grad():
        h = model(images(size))
    assert h.shape == (2, 512) and model.out_dim == 512


@pytest.mark.parametrize("build", [M.resnet18l, M.resnet34l])
def test_light_stem(build):
    model = build()
    conv = model.conv1
    assert (conv.kernel_size, conv.stride, conv.padding, conv.bias) == ((3, 3), (1, 1), (1, 1), None)
    assert isinstance(model.maxpool, nn.Identity) and isinstance(model.fc, nn.Identity)
    assert not any(isinstance(m, nn.MaxPool2d) for m in model.modules())


def test_resnet34l_features_and_depth():
    model = M.resnet34l().eval()
    with torch.no_grad():
        assert model(images(28)).shape == (2, 512)
    assert [len(getattr(model, f"layer{i}")) for i in range(1, 5)] == [3, 4, 6, 3]


def test_resnet18l_classifier_and_channels():
    model = M.resnet18l(num_classes=10, in_channels=1).eval()
    with torch.no_grad():
        assert model(images(28, channels=1)).shape == (2, 10)
    assert model.out_dim == 10 and model.feature_dim == 512


def test_resnet18_keeps_imagenet_stem():
    model = M.resnet18()
    assert model.conv1.kernel_size == (7, 7) and isinstance(model.maxpool, nn.MaxPool2d)
    assert model.out_dim == 512


@pytest.mark.parametrize("size", [28, 32])
def test_small_cnn_shapes(size):
    model = M.small_cnn(width=8, out_dim=24).eval()
    with torch.no_grad():
        assert model(images(size)).shape == (2, 24)
    assert model.out_dim == 24
    one_channel = M.small_cnn(width=8, out_dim=16, in_channels=1).eval()
    with torch.no_grad():
        assert one_channel(images(size, channels=1)).shape == (2, 16)


# ------------------------------------------------------------------ small VGG and ViT

@pytest.mark.parametrize("size", [28, 32])
def test_small_vgg_shapes(size):
    model = M.small_vgg(width=8, out_dim=24).eval()
    with torch.no_grad():
        assert model(images(size)).shape == (2, 24)
    assert model.out_dim == 24
    one_channel = M.small_vgg(width=4, out_dim=8, in_channels=1).eval()
    with torch.no_grad():
        assert one_channel(images(size, channels=1)).shape == (2, 8)


def test_small_vgg_is_plain_with_max_pooling():
    model = M.small_vgg(width=8, out_dim=16, convs=(1, 1, 2, 2))
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [8, 16, 32, 32, 16, 16]
    assert all(c.kernel_size == (3, 3) and c.stride == (1, 1) for c in convs)
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.modules()) == 3
    # parameters: 3x3 conv weights (no bias, BN follows) plus BN's scale and shift
    small = M.small_vgg(width=8, out_dim=16, convs=(1, 1, 1, 1))
    expected = sum(9 * a * b + 2 * b for a, b in [(3, 8), (8, 16), (16, 32), (32, 16)])
    assert sum(p.numel() for p in small.parameters()) == expected == 10_728
    with pytest.raises(ValueError, match="convs"):
        M.small_vgg(convs=(1, 1, 1))


def _rectify_then_pool(model: nn.Sequential) -> nn.Sequential:
    """The same modules in the textbook order conv-BN-ReLU-pool."""
    layers = list(model)
    for i in range(len(layers) - 1):
        if isinstance(layers[i], nn.MaxPool2d) and isinstance(layers[i + 1], nn.ReLU):
            layers[i], layers[i + 1] = layers[i + 1], layers[i]
    return nn.Sequential(*layers)


@pytest.mark.parametrize("amp", [False, True])
def test_small_vgg_pools_before_relu_with_the_same_values_and_gradients(amp):
    model = M.small_vgg(width=8, out_dim=16, convs=(1, 2, 1, 2))
    kinds = [type(m).__name__ for m in model]
    assert kinds[:7] == ["Conv2d", "BatchNorm2d", "MaxPool2d", "ReLU", "Conv2d", "BatchNorm2d", "ReLU"]
    textbook = _rectify_then_pool(model)
    assert [type(m).__name__ for m in textbook][2:4] == ["ReLU", "MaxPool2d"]
    x = images(28, n=4)
    outputs, grads = [], []
    for net in (model, textbook):  # the same modules, so the same parameters
        net.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            h = net(x)
        (h.float() * torch.arange(16.0)).sum().backward()
        outputs.append(h)
        grads.append([p.grad.clone() for p in net.parameters()])
    assert torch.equal(*outputs)
    assert all(torch.equal(a, b) for a, b in zip(*grads))


@pytest.mark.parametrize("size", [28, 32])
def test_small_vit_shapes(size):
    model = M.small_vit(dim=32, depth=2, heads=4, patch_size=4, image_size=28).eval()
    with torch.no_grad():
        h = model(images(size))  # 32x32 interpolates the 7x7 position grid to 8x8
    assert h.shape == (2, 32) and model.out_dim == 32
    assert torch.isfinite(h).all()


def test_small_vit_parameter_count():
    dim, depth, heads, p, hidden = 32, 2, 4, 4, 64
    model = M.small_vit(dim=dim, depth=depth, heads=heads, patch_size=p, mlp_ratio=2.0, image_size=28)
    embed = 3 * p * p * dim + dim + dim + (1 + 7 * 7) * dim           # patches, cls token, positions
    block = (4 * dim + (3 * dim * dim + 3 * dim) + (dim * dim + dim)
             + (dim * hidden + hidden) + (hidden * dim + dim))
    assert sum(q.numel() for q in model.parameters()) == embed + depth * block + 2 * dim == 20_352


def test_small_vit_uses_position_and_class_token():
    model = M.small_vit(dim=16, depth=1, heads=2, image_size=28).eval()
    x = images(28)
    flipped = x.flip(-1)  # the same patches rearranged: without positions the output would match
    with torch.no_grad():
        assert not torch.allclose(model(x), model(flipped))
    with pytest.raises(ValueError, match="multiple of the patch size"):
        model(images(30))
    with pytest.raises(ValueError, match="divisible"):
        M.small_vit(dim=10, heads=4)


@pytest.mark.parametrize("name, kwargs", [
    ("small_vgg", {"width": 4, "out_dim": 16}),
    ("small_vit", {"dim": 16, "depth": 1, "heads": 2}),
])
def test_new_encoders_train_a_step(name, kwargs):
    from labfree import train

    torch.manual_seed(0)
    config = train.TrainConfig("simclr", encoder=name, encoder_kwargs=kwargs,
                               projector_kwargs={"hidden_dim": 16, "out_dim": 8}, epochs=1,
                               batch_size=8, device="cpu", progress=False).resolved("shapes")
    model = train.build_model(config)
    assert model.encoder.out_dim == kwargs.get("out_dim", kwargs.get("dim"))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    before = [p.detach().clone() for p in model.encoder.parameters()]
    x1, x2 = images(28, n=8), images(28, n=8).flip(0)
    loss = train.loss_step(model, x1, x2)[0]
    assert torch.isfinite(loss)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    changed = [not torch.equal(a, b.detach()) for a, b in zip(before, model.encoder.parameters())]
    assert all(changed), f"{name}: {changed.count(False)} encoder tensors got no update"


def test_encoder_factory():
    for name in ("resnet18l", "resnet34l", "small_cnn", "small_vgg", "small_vit"):
        assert hasattr(M.encoder(name), "out_dim")
    assert M.encoder("small_cnn", width=4, out_dim=12).out_dim == 12
    with pytest.raises(ValueError, match=r"unknown encoder 'vit'.*resnet18l.*small_cnn"):
        M.encoder("vit")


# ------------------------------------------------------------------ heads

def test_projector_widths_follow_the_seeds():
    assert linear_widths(M.simclr_projector(512)) == [(512, 2048), (2048, 128)]
    assert linear_widths(M.moco_v2_projector(512)) == [(512, 2048), (2048, 128)]
    assert linear_widths(M.simsiam_projector(512)) == [(512, 2048), (2048, 2048), (2048, 2048)]
    assert linear_widths(M.simsiam_predictor()) == [(2048, 512), (512, 2048)]
    assert linear_widths(M.byol_projector(512)) == [(512, 4096), (4096, 256)]
    assert linear_widths(M.byol_predictor()) == [(256, 4096), (4096, 256)]
    assert linear_widths(M.vicreg_expander(512)) == [(512, 2048), (2048, 2048), (2048, 2048)]
    assert linear_widths(M.barlow_projector(512)) == [(512, 2048), (2048, 2048), (2048, 2048)]


def test_every_head_builder_has_one_signature():
    for name, build in M.HEADS.items():
        params = inspect.signature(build).parameters
        assert list(params)[:4] == ["in_dim", "hidden_dim", "out_dim", "num_layers"], name
        assert all(params[k].kind is inspect.Parameter.KEYWORD_ONLY for k in list(params)[1:]), name
        narrow = M.head(name, 16, hidden_dim=8, out_dim=4, num_layers=3)
        assert linear_widths(narrow) == [(16, 8), (8, 8), (8, 4)], name
        assert (narrow.in_dim, narrow.out_dim) == (16, 4)


def test_widths_still_build_the_plain_heads():
    # the older spelling that some chapter profiles pass: every layer's width
    for build in (M.vicreg_expander, M.barlow_projector):
        assert linear_widths(build(512, widths=(64, 32))) == [(512, 64), (64, 32)]
        assert linear_widths(build(512, widths=(64, 64))) == linear_widths(
            build(512, hidden_dim=64, out_dim=64, num_layers=2))


def test_simsiam_projector_ends_with_plain_batchnorm():
    last = M.simsiam_projector(16, hidden_dim=8, out_dim=8)[-1]
    assert isinstance(last, nn.BatchNorm1d) and not last.affine
    # the other heads end with a Linear layer
    for build in (M.simclr_projector, M.byol_projector, M.vicreg_expander, M.barlow_projector):
        assert isinstance(build(16)[-1], nn.Linear)


def test_mlp_structure_and_output():
    head = M.mlp(10, 6, 4, num_layers=3, last_bn=True)
    kinds = [type(m).__name__ for m in head]
    hidden = ["Linear", "BatchNorm1d", "ReLU"]
    assert kinds == hidden + hidden + ["Linear", "BatchNorm1d"]
    assert head[0].bias is None  # a BN follows, so no bias
    assert (head.in_dim, head.out_dim) == (10, 4)
    assert head(torch.randn(5, 10)).shape == (5, 4)
    assert linear_widths(M.mlp(10, 6, 4, num_layers=1)) == [(10, 4)]
    with pytest.raises(ValueError, match="num_layers"):
        M.mlp(10, 6, 4, num_layers=0)


def test_head_factory_and_linear_head():
    head = M.head("vicreg_expander", 8, hidden_dim=16, out_dim=4, num_layers=2)
    assert head(torch.randn(3, 8)).shape == (3, 4)
    assert M.head("simsiam_predictor", 32, hidden_dim=8).out_dim == 32
    assert M.linear_head(512, 10).weight.shape == (10, 512)
    with pytest.raises(ValueError, match=r"unknown head 'projector'.*simclr_projector"):
        M.head("projector", 8)


# ------------------------------------------------------------------ ImageNet weights

def _checkpoint(arch: str) -> Path:
    weights = {"resnet18": tvm.ResNet18_Weights, "resnet34": tvm.ResNet34_Weights}[arch].IMAGENET1K_V1
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(weights.url).path)


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty torch hub directory under tmp_path."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert Path(torch.hub.get_dir()).is_relative_to(tmp_path)
    return tmp_path


@pytest.fixture
def fake_imagenet(hub):
    """A random torchvision ResNet-18 state_dict saved where torchvision would cache its weights."""
    torch.manual_seed(123)
    state = tvm.resnet18(weights=None).state_dict()
    path = _checkpoint("resnet18")
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    return state


def test_resnet18l_loads_everything_but_the_stem(fake_imagenet):
    model = M.resnet18l(pretrained=True, download=False)
    loaded = model.state_dict()
    assert loaded["conv1.weight"].shape == (64, 3, 3, 3)  # new stem, not the 7x7 one
    for key, value in loaded.items():
        if key != "conv1.weight":
            assert torch.equal(value, fake_imagenet[key]), key
    assert set(loaded) == set(fake_imagenet) - {"fc.weight", "fc.bias"}


def test_resnet18l_classifier_from_imagenet_gets_fresh_fc(fake_imagenet):
    model = M.resnet18l(num_classes=10, pretrained=True, download=False)
    assert model.fc.weight.shape == (10, 512)
    assert torch.equal(model.layer4[1].bn2.running_var, fake_imagenet["layer4.1.bn2.running_var"])


def test_resnet18_loads_the_full_stem(fake_imagenet):
    model = M.resnet18(pretrained=True, download=False)
    assert torch.equal(model.conv1.weight, fake_imagenet["conv1.weight"])


def test_missing_weights_error_explains_what_to_do(hub):
    with pytest.raises(FileNotFoundError) as info:
        M.resnet18l(pretrained=True, download=False)
    message = str(info.value)
    path = _checkpoint("resnet18")
    for needed in (path.name, str(path.parent), "imagenet_state_dict('resnet18')", "pretrained=False"):
        assert needed in message


def test_failed_download_error(hub, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    expected = r"(?s)download from https://.*failed: .*no network.*pretrained=False"
    with pytest.raises(FileNotFoundError, match=expected):
        M.resnet34l(pretrained=True)
    assert not _checkpoint("resnet34").exists()


def test_wrong_checkpoint_is_rejected(hub):
    path = _checkpoint("resnet18")
    path.parent.mkdir(parents=True)
    torch.save(tvm.resnet34(weights=None).state_dict(), path)  # more blocks than ResNet-18
    with pytest.raises(RuntimeError, match="does not fit"):
        M.resnet18l(pretrained=True, download=False)
