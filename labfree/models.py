"""Encoders (backbones) and the projector/predictor heads of self-supervised methods.

Encoders map float images ``(N, C, H, W)`` (already converted from ``uint8`` and normalised) to
features ``h`` of shape ``(N, encoder.out_dim)``; every encoder carries ``.out_dim``. Heads are
:class:`MLP` instances carrying ``.in_dim`` and ``.out_dim``; their widths are arguments so the CPU
profile can use narrow heads.

**API at a glance.**
Encoders::

    encoder(name, **kw)    # name in ENCODERS: resnet18l, resnet34l, resnet18, small_cnn, small_vgg, small_vit
    resnet18l(num_classes=None, *, pretrained=False, download=True, in_channels=3)   # out_dim 512
    resnet34l(num_classes=None, *, pretrained=False, download=True, in_channels=3)   # out_dim 512
    resnet18(num_classes=None, *, pretrained=False, download=True)   # unmodified torchvision ResNet-18
    small_cnn(width=32, out_dim=128, *, in_channels=3)               # fast CPU encoder
    small_vgg(width=16, out_dim=128, *, convs=(1, 1, 2, 2), in_channels=3)  # plain conv stack + max-pool
    small_vit(dim=64, depth=4, heads=4, *, patch_size=4, mlp_ratio=2.0, image_size=28, in_channels=3)
    imagenet_state_dict(arch, *, download=True)   # torchvision ImageNet weights from the hub cache

Heads (``head(name, in_dim, **kw)`` builds any name in HEADS)::

    mlp(in_dim, hidden_dim, out_dim, num_layers, *, last_bn=False)
    simclr_projector(in_dim)            in -> 2048 -> 128
    moco_v2_projector(in_dim)           in -> 2048 -> 128
    simsiam_projector(in_dim)           in -> 2048 -> 2048 -> 2048, BN on the output
    simsiam_predictor(in_dim=2048)      2048 -> 512 -> 2048
    byol_projector(in_dim)              in -> 4096 -> 256
    byol_predictor(in_dim=256)          256 -> 4096 -> 256
    vicreg_expander(in_dim, widths=(2048, 2048, 2048))
    barlow_projector(in_dim, widths=(2048, 2048, 2048))
    linear_head(in_dim, num_classes)    a linear probe / supervised classifier

ResNet-18L ("light", the thesis' name) is ResNet-18 for small images as in SimCLR's CIFAR
experiments: the 7x7 stride-2 first convolution becomes 3x3 stride 1 and the first max-pool is
removed, so a 32x32 image reaches the last stage at 4x4 instead of 1x1.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import Tensor, nn
from torchvision import models as tvm

__all__ = [
    "encoder", "ENCODERS", "resnet18l", "resnet34l", "resnet18", "small_cnn", "small_vgg", "SmallViT",
    "small_vit", "imagenet_state_dict",
    "MLP", "mlp", "head", "HEADS", "simclr_projector", "moco_v2_projector", "simsiam_projector",
    "simsiam_predictor", "byol_projector", "byol_predictor", "vicreg_expander", "barlow_projector",
    "linear_head",
]

# --------------------------------------------------------------------------------------------
# ImageNet weights (torchvision's files in the torch hub cache)
# --------------------------------------------------------------------------------------------

_IMAGENET_WEIGHTS = {
    "resnet18": tvm.ResNet18_Weights.IMAGENET1K_V1,
    "resnet34": tvm.ResNet34_Weights.IMAGENET1K_V1,
}


def _weights_file(arch: str) -> tuple[str, Path]:
    if arch not in _IMAGENET_WEIGHTS:
        raise ValueError(
            f"no ImageNet weights registered for {arch!r}; choose one of {sorted(_IMAGENET_WEIGHTS)}."
        )
    url = _IMAGENET_WEIGHTS[arch].url
    # the same place torchvision's own loader uses, so a cache filled by torchvision is found
    return url, Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def imagenet_state_dict(arch: str, *, download: bool = True) -> dict[str, Tensor]:
    """torchvision's ImageNet state_dict for ``arch`` ("resnet18" or "resnet34").

    Looks in ``torch.hub.get_dir()/checkpoints`` (``$TORCH_HOME/hub/checkpoints``, by default
    ``~/.cache/torch/hub/checkpoints``) under torchvision's filename; if the file is absent and
    ``download`` is true, downloads it there (hash-checked). Offline with no cached file, raises
    ``FileNotFoundError`` saying what to run where there is internet.
    """
    url, path = _weights_file(arch)
    if not path.is_file():
        reason = "downloading was switched off (download=False)"
        if download:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                # torchvision filenames end in the first hex digits of the file's sha256
                hash_prefix = path.stem.split("-")[-1]
                torch.hub.download_url_to_file(url, str(path), hash_prefix=hash_prefix, progress=False)
            except (OSError, RuntimeError) as err:  # no network, DNS, HTTP error, hash mismatch
                reason = f"download from {url} failed: {err}"
            else:
                reason = ""
        if reason:
            raise FileNotFoundError(
                f"ImageNet weights for {arch} are not available: {path.name} is missing from "
                f"{path.parent} (torch.hub.get_dir()/checkpoints; set TORCH_HOME to move it) and {reason}. "
                f"On a machine with internet run\n"
                f"    python -c \"import labfree.models as m; m.imagenet_state_dict('{arch}')\"\n"
                f"and copy {path.name} into {path.parent} here. Offline, use pretrained=False "
                "(random initialisation) instead."
            )
    return torch.load(path, map_location="cpu", weights_only=True)


# --------------------------------------------------------------------------------------------
# Encoders
# --------------------------------------------------------------------------------------------

def _finish_resnet(model: tvm.ResNet, num_classes: int | None) -> tvm.ResNet:
    feature_dim = model.fc.in_features
    model.fc = nn.Identity() if num_classes is None else nn.Linear(feature_dim, num_classes)
    model.feature_dim = feature_dim
    model.out_dim = feature_dim if num_classes is None else num_classes
    return model


def _load_imagenet(model: nn.Module, arch: str, *, skip: Sequence[str], download: bool) -> None:
    state = imagenet_state_dict(arch, download=download)
    state = {k: v for k, v in state.items() if not any(k.startswith(s) for s in skip)}
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not any(k.startswith(s) for s in skip)]
    if missing or result.unexpected_keys:
        raise RuntimeError(
            f"the cached {arch} ImageNet checkpoint does not fit the model (missing {missing[:5]}, "
            f"unexpected {result.unexpected_keys[:5]}); delete it and download again."
        )


def _resnet_l(
    arch: str, num_classes: int | None, pretrained: bool, download: bool, in_channels: int
) -> tvm.ResNet:
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
    model = _finish_resnet(tvm.resnet18(weights=None), num_classes)
    if pretrained:
        _load_imagenet(model, "resnet18", skip=("fc.",), download=download)
    return model


def _conv_bn_relu(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    ]


def small_cnn(width: int = 32, out_dim: int = 128, *, in_channels: int = 3) -> nn.Sequential:
    """A small, fast encoder for 28x28 and 32x32 images on CPU.

    Four 3x3 conv-BN-ReLU blocks with ``width, 2*width, 4*width, out_dim`` channels (the last three
    stride 2, so 32 -> 16 -> 8 -> 4), then global average pooling. Output ``(N, out_dim)``; like a
    ResNet's features it is non-negative (after ReLU). The model has ``.out_dim``.
    """
    if width < 1 or out_dim < 1:
        raise ValueError(f"width and out_dim must be positive; got width={width}, out_dim={out_dim}.")
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
    skip connections, 2x2 max-pooling between stages.

    Four stages with ``width, 2*width, 4*width, out_dim`` channels and ``convs[i]`` convolutions
    each (the default ``(1, 1, 2, 2)`` is VGG-11's pattern with its first stage halved); a max-pool
    follows each of the first three stages (28 -> 14 -> 7 -> 3, 32 -> 16 -> 8 -> 4), then global
    average pooling. Output ``(N, out_dim)``, non-negative. The model has ``.out_dim``.
    """
    convs = tuple(int(c) for c in convs)
    if width < 1 or out_dim < 1 or len(convs) != 4 or min(convs) < 1:
        raise ValueError(f"need positive width and out_dim and four positive conv counts; got "
                         f"width={width}, out_dim={out_dim}, convs={convs}.")
    layers: list[nn.Module] = []
    c_in = in_channels
    for stage, (c_out, n) in enumerate(zip((width, 2 * width, 4 * width, out_dim), convs)):
        for _ in range(n):
            layers += _conv_bn_relu(c_in, c_out, 1)
            c_in = c_out
        if stage < 3:
            layers.append(nn.MaxPool2d(2))
    model = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
    model.out_dim = out_dim
    return model


class SmallViT(nn.Module):
    """A small Vision Transformer (Dosovitskiy et al. 2021); see :func:`small_vit`."""

    def __init__(self, dim: int = 64, depth: int = 4, heads: int = 4, *, patch_size: int = 4,
                 mlp_ratio: float = 2.0, image_size: int = 28, in_channels: int = 3,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if min(dim, depth, heads, patch_size, image_size, in_channels) < 1 or dim % heads:
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


# --------------------------------------------------------------------------------------------
# Heads
# --------------------------------------------------------------------------------------------

class MLP(nn.Sequential):
    """Linear layers of the given ``widths``; each hidden layer is Linear-BN-ReLU, the last is
    Linear, optionally followed by BatchNorm (``last_bn``; ``last_bn_affine=False`` as in SimSiam's
    projector). A Linear followed by BatchNorm has no bias (BN's shift makes it redundant).

    Attributes ``in_dim`` and ``out_dim`` give the input and output widths.
    """

    def __init__(
        self,
        in_dim: int,
        widths: Sequence[int],
        *,
        hidden_bn: bool = True,
        last_bn: bool = False,
        last_bn_affine: bool = True,
    ) -> None:
        widths = tuple(int(w) for w in widths)
        if len(widths) < 1 or in_dim < 1 or min(widths) < 1:
            raise ValueError(
                "an MLP needs in_dim >= 1 and at least one positive width; "
                f"got in_dim={in_dim}, widths={widths}."
            )
        layers: list[nn.Module] = []
        dims = (in_dim, *widths)
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            last = i == len(widths) - 1
            bn = last_bn if last else hidden_bn
            layers.append(nn.Linear(a, b, bias=not bn))
            if bn:
                layers.append(nn.BatchNorm1d(b, affine=last_bn_affine if last else True))
            if not last:
                layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)
        self.in_dim = in_dim
        self.out_dim = widths[-1]


def mlp(in_dim: int, hidden_dim: int, out_dim: int, num_layers: int, *, last_bn: bool = False,
        last_bn_affine: bool = True) -> MLP:
    """An :class:`MLP` with ``num_layers`` linear layers: ``num_layers - 1`` hidden layers of
    ``hidden_dim`` (Linear-BN-ReLU) and a final Linear to ``out_dim``."""
    if num_layers < 1:
        raise ValueError(f"num_layers must be >= 1; got {num_layers}.")
    widths = (hidden_dim,) * (num_layers - 1) + (out_dim,)
    return MLP(in_dim, widths, last_bn=last_bn, last_bn_affine=last_bn_affine)


def simclr_projector(in_dim: int, hidden_dim: int = 2048, out_dim: int = 128) -> MLP:
    """SimCLR's projector g: in -> 2048 (BN, ReLU) -> 128 (thesis sec. 4.1.2; Chen et al. 2020)."""
    return mlp(in_dim, hidden_dim, out_dim, 2)


def moco_v2_projector(in_dim: int, hidden_dim: int = 2048, out_dim: int = 128) -> MLP:
    """MoCo-v2's projector: the same widths as SimCLR's, in -> 2048 -> 128 (thesis sec. 4.1.2)."""
    return mlp(in_dim, hidden_dim, out_dim, 2)


def simsiam_projector(in_dim: int, hidden_dim: int = 2048, out_dim: int = 2048, num_layers: int = 3) -> MLP:
    """SimSiam's projector: three layers 2048 wide, BN (no affine) on the output (Chen & He 2021)."""
    return mlp(in_dim, hidden_dim, out_dim, num_layers, last_bn=True, last_bn_affine=False)


def simsiam_predictor(in_dim: int = 2048, hidden_dim: int = 512, out_dim: int | None = None) -> MLP:
    """SimSiam's predictor: a 2048 -> 512 -> 2048 bottleneck (Chen & He 2021; thesis sec. 4.1.2)."""
    return mlp(in_dim, hidden_dim, in_dim if out_dim is None else out_dim, 2)


def byol_projector(in_dim: int, hidden_dim: int = 4096, out_dim: int = 256) -> MLP:
    """BYOL's projector: in -> 4096 (BN, ReLU) -> 256 (Grill et al. 2020)."""
    return mlp(in_dim, hidden_dim, out_dim, 2)


def byol_predictor(in_dim: int = 256, hidden_dim: int = 4096, out_dim: int | None = None) -> MLP:
    """BYOL's predictor, the projector's architecture: 256 -> 4096 -> 256 (Grill et al. 2020)."""
    return mlp(in_dim, hidden_dim, in_dim if out_dim is None else out_dim, 2)


def vicreg_expander(in_dim: int, widths: Sequence[int] = (2048, 2048, 2048)) -> MLP:
    """VICReg's expander: Linear-BN-ReLU hidden layers and a final Linear (Bardes et al. 2022 use
    three layers of 8192 on ImageNet; 2048 is the usual CIFAR width)."""
    return MLP(in_dim, widths)


def barlow_projector(in_dim: int, widths: Sequence[int] = (2048, 2048, 2048)) -> MLP:
    """Barlow Twins' projector: Linear-BN-ReLU hidden layers and a final Linear; the final
    standardisation is done by the loss (Zbontar et al. 2021 use three layers of 8192 on ImageNet;
    the projector width ``d`` is one of the α-ReQ sweep's axes)."""
    return MLP(in_dim, widths)


def linear_head(in_dim: int, num_classes: int) -> nn.Linear:
    """A linear classifier on frozen features ``h`` (linear probe) or for supervised training."""
    return nn.Linear(in_dim, num_classes)


HEADS: dict[str, Callable[..., nn.Module]] = {
    "simclr_projector": simclr_projector,
    "moco_v2_projector": moco_v2_projector,
    "simsiam_projector": simsiam_projector,
    "simsiam_predictor": simsiam_predictor,
    "byol_projector": byol_projector,
    "byol_predictor": byol_predictor,
    "vicreg_expander": vicreg_expander,
    "barlow_projector": barlow_projector,
}


def head(name: str, in_dim: int, **kw: object) -> nn.Module:
    """Build the head called ``name`` (one of ``HEADS``, as named by ``methods.METHODS``) on
    ``in_dim`` inputs; ``kw`` overrides its widths."""
    if name not in HEADS:
        raise ValueError(f"unknown head {name!r}; choose one of {sorted(HEADS)}.")
    return HEADS[name](in_dim, **kw)
