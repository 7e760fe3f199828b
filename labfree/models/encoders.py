"""Encoders (backbones): ResNet-18L/34L, torchvision's ResNet-18, a small CNN, a small VGG, a small ViT.

Every encoder maps float images ``(N, C, H, W)`` (already converted from ``uint8`` and normalised)
to features ``h`` of shape ``(N, encoder.out_dim)`` and carries ``.out_dim``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from labfree._validate import integer, number

from .pretrained import _load_imagenet

if TYPE_CHECKING:  # torchvision is imported where a ResNet is built: it costs a second at start-up
    from torchvision import models as tvm

__all__ = ["encoder", "ENCODERS", "resnet18l", "resnet34l", "resnet18", "small_cnn", "small_vgg", "SmallViT",
           "small_vit"]


def _finish_resnet(model: tvm.ResNet, num_classes: int | None) -> tvm.ResNet:
    if num_classes is not None:
        integer(num_classes, "num_classes", low=1, fix="pass the number of classes, or None for the encoder")
    feature_dim = model.fc.in_features
    model.fc = nn.Identity() if num_classes is None else nn.Linear(feature_dim, num_classes)
    model.feature_dim = feature_dim
    model.out_dim = feature_dim if num_classes is None else num_classes
    return model


def _resnet_l(
    arch: str, num_classes: int | None, pretrained: bool, download: bool, in_channels: int
) -> tvm.ResNet:
    (in_channels,) = _sizes(in_channels=in_channels)
    from torchvision import models as tvm

    model = getattr(tvm, arch)(weights=None)
    model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    model = _finish_resnet(model, num_classes)
    if pretrained:
        # everything but the 7x7 stem (shape no longer fits) and the ImageNet classifier
        _load_imagenet(model, arch, skip=("conv1.", "fc."), download=download)
    return model


def resnet18l(
    num_classes: int | None = None, *, pretrained: bool = False, download: bool = True, in_channels: int = 3
) -> tvm.ResNet:
    """ResNet-18L: torchvision ResNet-18 with a 3x3 stride-1 stem and no max-pool.

    Args:
        num_classes: ``None`` gives the encoder (``fc`` is the identity; output ``h`` is 512-d);
            an int adds a linear classifier (for supervised preparation).
        pretrained: load torchvision's ImageNet weights for every layer except the 7x7 ``conv1``,
            which is replaced (the thesis' preparation 6), and ``fc``. See :func:`imagenet_state_dict`.
        download: allow downloading the weights when they are not cached.
        in_channels: image channels (the new stem is trained from scratch, so any number works).

    The model has ``.out_dim`` (its output width) and ``.feature_dim`` (512).
    """
    return _resnet_l("resnet18", num_classes, pretrained, download, in_channels)


def resnet34l(
    num_classes: int | None = None, *, pretrained: bool = False, download: bool = True, in_channels: int = 3
) -> tvm.ResNet:
    """ResNet-34L: torchvision ResNet-34 with a 3x3 stride-1 stem and no max-pool; as :func:`resnet18l`."""
    return _resnet_l("resnet34", num_classes, pretrained, download, in_channels)


def resnet18(
    num_classes: int | None = None, *, pretrained: bool = False, download: bool = True
) -> tvm.ResNet:
    """Unmodified torchvision ResNet-18 (7x7 stride-2 stem, max-pool), ``fc`` replaced as in
    :func:`resnet18l`. With ``pretrained=True`` every ImageNet weight but ``fc`` is loaded (the
    thesis' preparation 5). Expects 3-channel input."""
    from torchvision import models as tvm

    model = _finish_resnet(tvm.resnet18(weights=None), num_classes)
    if pretrained:
        _load_imagenet(model, "resnet18", skip=("fc.",), download=download)
    return model


def _sizes(**sizes: object) -> tuple[int, ...]:
    """Layer sizes as positive integers (a float such as 1.5 would build a wrong layer or fail inside
    torch with a less helpful message)."""
    return tuple(integer(v, k, low=1, fix=f"pass a whole number of units, e.g. {k}=16")
                 for k, v in sizes.items())


def _conv_bn(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c_out)]


def _relu() -> nn.ReLU:
    # Out of place on purpose: on a bf16 channels-last activation PyTorch's in-place ReLU
    # (clamp_min_) ran 2.7x slower than in float32 inside a training step (3.0 against 1.1 ms
    # for 256x16x28x28 on a Xeon), the out-of-place one as fast; small_cnn-16's bf16 step gained 3-6%.
    return nn.ReLU()


def _conv_bn_relu(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
    return [*_conv_bn(c_in, c_out, stride), _relu()]


def small_cnn(width: int = 32, out_dim: int = 128, *, in_channels: int = 3) -> nn.Sequential:
    """A small, fast encoder for 28x28 and 32x32 images on CPU.

    Four 3x3 conv-BN-ReLU blocks with ``width, 2*width, 4*width, out_dim`` channels (the last three
    stride 2, so 32 -> 16 -> 8 -> 4), then global average pooling. Output ``(N, out_dim)``; like a
    ResNet's features it is non-negative (after ReLU). The model has ``.out_dim``.
    """
    width, out_dim, in_channels = _sizes(width=width, out_dim=out_dim, in_channels=in_channels)
    model = nn.Sequential(
        *_conv_bn_relu(in_channels, width, 1),
        *_conv_bn_relu(width, 2 * width, 2),
        *_conv_bn_relu(2 * width, 4 * width, 2),
        *_conv_bn_relu(4 * width, out_dim, 2),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )
    model.out_dim = out_dim
    return model


def small_vgg(width: int = 16, out_dim: int = 128, *, convs: Sequence[int] = (1, 1, 2, 2),
              in_channels: int = 3) -> nn.Sequential:
    """A small VGG-style encoder (Simonyan & Zisserman 2015): plain 3x3 conv-BN-ReLU stacks, no
    skip connections, 2x2 max-pooling between stages (applied before the stage's last ReLU, with
    which it commutes).

    Four stages with ``width, 2*width, 4*width, out_dim`` channels and ``convs[i]`` convolutions
    each (the default ``(1, 1, 2, 2)`` is VGG-11's pattern with its first stage halved); a max-pool
    follows each of the first three stages (28 -> 14 -> 7 -> 3, 32 -> 16 -> 8 -> 4), then global
    average pooling. Output ``(N, out_dim)``, non-negative. The model has ``.out_dim``.
    """
    width, out_dim, in_channels = _sizes(width=width, out_dim=out_dim, in_channels=in_channels)
    convs = tuple(convs)
    if len(convs) != 4:
        raise ValueError(f"convs must hold four conv counts, one per stage; got convs={convs}. "
                         "Pass e.g. convs=(1, 1, 2, 2) (VGG-11's pattern).")
    convs = tuple(integer(c, f"convs[{i}]", low=1, fix="each stage needs a whole number of convolutions")
                  for i, c in enumerate(convs))
    layers: list[nn.Module] = []
    c_in = in_channels
    for stage, (c_out, n) in enumerate(zip((width, 2 * width, 4 * width, out_dim), convs)):
        for _ in range(n - 1):
            layers += _conv_bn_relu(c_in, c_out, 1)
            c_in = c_out
        layers += _conv_bn(c_in, c_out, 1)
        c_in = c_out
        # max-pooling and ReLU commute exactly (ReLU is monotone, so the maximum of the rectified
        # values is the rectified maximum, with the same arg-max and gradient); pooling first
        # rectifies a quarter of the values, which makes a bf16 step on a CPU 8% faster
        layers += [nn.MaxPool2d(2), _relu()] if stage < 3 else [_relu()]
    model = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
    model.out_dim = out_dim
    return model


class SmallViT(nn.Module):
    """A small Vision Transformer (Dosovitskiy et al. 2021); see :func:`small_vit`."""

    def __init__(self, dim: int = 64, depth: int = 4, heads: int = 4, *, patch_size: int = 4,
                 mlp_ratio: float = 2.0, image_size: int = 28, in_channels: int = 3,
                 dropout: float = 0.0) -> None:
        super().__init__()
        dim, depth, heads, patch_size, image_size, in_channels = _sizes(
            dim=dim, depth=depth, heads=heads, patch_size=patch_size, image_size=image_size,
            in_channels=in_channels)
        number(mlp_ratio, "mlp_ratio", low=0, low_open=True, fix="the MLP is mlp_ratio * dim wide, e.g. 2")
        number(dropout, "dropout", low=0, high=1, high_open=True, fix="pass a probability, e.g. dropout=0.1")
        if dim % heads:
            raise ValueError(f"need positive sizes and dim divisible by heads; got dim={dim}, "
                             f"depth={depth}, heads={heads}, patch_size={patch_size}, "
                             f"image_size={image_size}.")
        if image_size % patch_size:
            raise ValueError(f"image_size {image_size} is not a multiple of patch_size {patch_size}.")
        self.patch_size, self.grid = patch_size, image_size // patch_size
        self.patch_embed = nn.Conv2d(in_channels, dim, patch_size, stride=patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + self.grid ** 2, dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, int(dim * mlp_ratio), dropout=dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.out_dim = dim

    def _positions(self, grid_h: int, grid_w: int) -> Tensor:
        if (grid_h, grid_w) == (self.grid, self.grid):
            return self.pos_embed
        # another input size: interpolate the patch positions bicubically, as ViT fine-tuning does
        cls, patches = self.pos_embed[:, :1], self.pos_embed[:, 1:]
        patches = patches.reshape(1, self.grid, self.grid, -1).permute(0, 3, 1, 2)
        patches = nn.functional.interpolate(patches, size=(grid_h, grid_w), mode="bicubic",
                                            align_corners=False)
        return torch.cat([cls, patches.flatten(2).transpose(1, 2)], dim=1)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] % self.patch_size or x.shape[-2] % self.patch_size:
            raise ValueError(f"image size {tuple(x.shape[-2:])} is not a multiple of the patch size "
                             f"{self.patch_size}.")
        tokens = self.patch_embed(x)                                  # (N, dim, H/p, W/p)
        grid_h, grid_w = tokens.shape[-2:]
        tokens = tokens.flatten(2).transpose(1, 2)                    # (N, patches, dim)
        tokens = torch.cat([self.cls_token.expand(len(x), -1, -1), tokens], dim=1)
        tokens = self.blocks(tokens + self._positions(grid_h, grid_w))
        return self.norm(tokens[:, 0])                                # the class token


def small_vit(dim: int = 64, depth: int = 4, heads: int = 4, *, patch_size: int = 4,
              mlp_ratio: float = 2.0, image_size: int = 28, in_channels: int = 3) -> SmallViT:
    """A small Vision Transformer for 28x28 / 32x32 images (Dosovitskiy et al. 2021).

    Non-overlapping ``patch_size`` patches are embedded linearly to ``dim``, a learned class token
    and learned position embeddings are added, then ``depth`` pre-norm transformer blocks (``heads``
    attention heads, MLP ``mlp_ratio * dim`` wide, GELU); the output is the final LayerNorm of the
    class token, ``(N, dim)``, so ``.out_dim == dim``. Position embeddings are sized for
    ``image_size`` and interpolated for other sizes (any multiple of ``patch_size``).
    """
    return SmallViT(dim, depth, heads, patch_size=patch_size, mlp_ratio=mlp_ratio,
                    image_size=image_size, in_channels=in_channels)


ENCODERS: dict[str, Callable[..., nn.Module]] = {
    "resnet18l": resnet18l,
    "resnet34l": resnet34l,
    "resnet18": resnet18,
    "small_cnn": small_cnn,
    "small_vgg": small_vgg,
    "small_vit": small_vit,
}


def encoder(name: str, **kw: object) -> nn.Module:
    """Build the encoder called ``name`` (one of ``ENCODERS``) with keyword arguments ``kw``."""
    if name not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r}; choose one of {sorted(ENCODERS)}.")
    return ENCODERS[name](**kw)
