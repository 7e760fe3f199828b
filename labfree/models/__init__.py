"""Encoders (backbones), the projector/predictor heads of self-supervised methods, ImageNet weights.

Three modules, one public API (everything below is ``labfree.models.<name>``):

- :mod:`labfree.models.encoders` — encoders map float images ``(N, C, H, W)`` (already converted
  from ``uint8`` and normalised) to features ``h`` of shape ``(N, encoder.out_dim)``; every
  encoder carries ``.out_dim``;
- :mod:`labfree.models.heads` — :class:`MLP` heads carrying ``.in_dim`` and ``.out_dim``, all
  built as ``name(in_dim, *, hidden_dim, out_dim, num_layers)`` (keyword widths, so the CPU
  profiles can use narrow heads);
- :mod:`labfree.models.pretrained` — torchvision's ImageNet weights from the torch hub cache, with
  an error that says what to do offline.

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

Heads (``head(name, in_dim, **kw)`` builds any name in HEADS; every head builder takes
``in_dim`` and the keywords ``hidden_dim``, ``out_dim``, ``num_layers``; defaults below)::

    mlp(in_dim, hidden_dim, out_dim, num_layers, *, last_bn=False)
    simclr_projector(in_dim)            in -> 2048 -> 128
    moco_v2_projector(in_dim)           in -> 2048 -> 128
    simsiam_projector(in_dim)           in -> 2048 -> 2048 -> 2048, BN on the output
    simsiam_predictor(in_dim=2048)      2048 -> 512 -> 2048
    byol_projector(in_dim)              in -> 4096 -> 256
    byol_predictor(in_dim=256)          256 -> 4096 -> 256
    vicreg_expander(in_dim)             in -> 2048 -> 2048 -> 2048
    barlow_projector(in_dim)            in -> 2048 -> 2048 -> 2048
    linear_head(in_dim, num_classes)    a linear probe / supervised classifier

ResNet-18L ("light", the thesis' name) is ResNet-18 for small images as in SimCLR's CIFAR
experiments: the 7x7 stride-2 first convolution becomes 3x3 stride 1 and the first max-pool is
removed, so a 32x32 image reaches the last stage at 4x4 instead of 1x1.
"""

from __future__ import annotations

from .encoders import (
    ENCODERS,
    SmallViT,
    encoder,
    resnet18,
    resnet18l,
    resnet34l,
    small_cnn,
    small_vgg,
    small_vit,
)
from .heads import (
    HEADS,
    MLP,
    barlow_projector,
    byol_predictor,
    byol_projector,
    head,
    linear_head,
    mlp,
    moco_v2_projector,
    simclr_projector,
    simsiam_predictor,
    simsiam_projector,
    vicreg_expander,
)
from .pretrained import imagenet_state_dict

__all__ = [
    "encoder", "ENCODERS", "resnet18l", "resnet34l", "resnet18", "small_cnn", "small_vgg", "SmallViT",
    "small_vit", "imagenet_state_dict",
    "MLP", "mlp", "head", "HEADS", "simclr_projector", "moco_v2_projector", "simsiam_projector",
    "simsiam_predictor", "byol_projector", "byol_predictor", "vicreg_expander", "barlow_projector",
    "linear_head",
]
