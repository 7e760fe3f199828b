"""Projector, predictor and expander heads of the self-supervised methods, and the linear head.

**One signature for every head builder**: ``name(in_dim, *, hidden_dim, out_dim, num_layers)``.
``in_dim`` (the encoder's or projector's width) is the only positional argument; the widths are
keywords: ``num_layers`` linear layers, the first ``num_layers - 1`` of them ``hidden_dim`` wide
(Linear-BN-ReLU), the last one ``out_dim`` wide. Each builder's defaults are its paper's. A
predictor's ``out_dim`` defaults to its ``in_dim`` (it predicts a projection of the same width).
:func:`head` builds any of them by name, with the same keywords::

    head("simclr_projector", 512, hidden_dim=128, out_dim=32)
    head("vicreg_expander", 512, hidden_dim=256, out_dim=256, num_layers=2)

``vicreg_expander`` and ``barlow_projector`` also take the older ``widths=(...)`` (every layer's
width, the last one the output's) that some chapter profiles still pass; new code uses the keywords.
Every head is an :class:`MLP` carrying ``.in_dim`` and ``.out_dim``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn

from labfree._validate import integer

__all__ = ["MLP", "mlp", "head", "HEADS", "simclr_projector", "moco_v2_projector", "simsiam_projector",
           "simsiam_predictor", "byol_projector", "byol_predictor", "vicreg_expander", "barlow_projector",
           "linear_head"]


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
        widths = tuple(widths)
        if len(widths) < 1:
            raise ValueError(f"an MLP needs at least one layer width; got widths={widths}. Pass e.g. "
                             "widths=(2048, 128) (hidden layers, then the output).")
        in_dim = integer(in_dim, "in_dim", low=1, fix="pass the input's width, e.g. the encoder's out_dim")
        widths = tuple(integer(w, f"widths[{i}]", low=1, fix="pass whole numbers of units, e.g. 2048")
                       for i, w in enumerate(widths))
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
    num_layers = integer(num_layers, "num_layers", low=1,
                         fix="count the linear layers, e.g. num_layers=2 (one hidden layer)")
    integer(hidden_dim, "hidden_dim", low=1, fix="pass a whole number of units, e.g. hidden_dim=2048")
    integer(out_dim, "out_dim", low=1, fix="pass a whole number of units, e.g. out_dim=128")
    widths = (hidden_dim,) * (num_layers - 1) + (out_dim,)
    return MLP(in_dim, widths, last_bn=last_bn, last_bn_affine=last_bn_affine)


def simclr_projector(in_dim: int, *, hidden_dim: int = 2048, out_dim: int = 128, num_layers: int = 2) -> MLP:
    """SimCLR's projector g: in -> 2048 (BN, ReLU) -> 128 (thesis sec. 4.1.2; Chen et al. 2020)."""
    return mlp(in_dim, hidden_dim, out_dim, num_layers)


def moco_v2_projector(in_dim: int, *, hidden_dim: int = 2048, out_dim: int = 128, num_layers: int = 2) -> MLP:
    """MoCo-v2's projector: the same widths as SimCLR's, in -> 2048 -> 128 (thesis sec. 4.1.2)."""
    return mlp(in_dim, hidden_dim, out_dim, num_layers)


def simsiam_projector(in_dim: int, *, hidden_dim: int = 2048, out_dim: int = 2048,
                      num_layers: int = 3) -> MLP:
    """SimSiam's projector: three layers 2048 wide, BN (no affine) on the output (Chen & He 2021)."""
    return mlp(in_dim, hidden_dim, out_dim, num_layers, last_bn=True, last_bn_affine=False)


def simsiam_predictor(in_dim: int = 2048, *, hidden_dim: int = 512, out_dim: int | None = None,
                      num_layers: int = 2) -> MLP:
    """SimSiam's predictor: a 2048 -> 512 -> 2048 bottleneck (Chen & He 2021; thesis sec. 4.1.2)."""
    return mlp(in_dim, hidden_dim, in_dim if out_dim is None else out_dim, num_layers)


def byol_projector(in_dim: int, *, hidden_dim: int = 4096, out_dim: int = 256, num_layers: int = 2) -> MLP:
    """BYOL's projector: in -> 4096 (BN, ReLU) -> 256 (Grill et al. 2020)."""
    return mlp(in_dim, hidden_dim, out_dim, num_layers)


def byol_predictor(in_dim: int = 256, *, hidden_dim: int = 4096, out_dim: int | None = None,
                   num_layers: int = 2) -> MLP:
    """BYOL's predictor, the projector's architecture: 256 -> 4096 -> 256 (Grill et al. 2020)."""
    return mlp(in_dim, hidden_dim, in_dim if out_dim is None else out_dim, num_layers)


def _plain_mlp(in_dim: int, hidden_dim: int, out_dim: int, num_layers: int,
               widths: Sequence[int] | None) -> MLP:
    if widths is None:
        return mlp(in_dim, hidden_dim, out_dim, num_layers)
    return MLP(in_dim, widths)  # the older spelling: every layer's width


def vicreg_expander(in_dim: int, *, hidden_dim: int = 2048, out_dim: int = 2048, num_layers: int = 3,
                    widths: Sequence[int] | None = None) -> MLP:
    """VICReg's expander: Linear-BN-ReLU hidden layers and a final Linear (Bardes et al. 2022 use
    three layers of 8192 on ImageNet; 2048 is the usual CIFAR width). ``widths`` (every layer's
    width) replaces the three keywords when given."""
    return _plain_mlp(in_dim, hidden_dim, out_dim, num_layers, widths)


def barlow_projector(in_dim: int, *, hidden_dim: int = 2048, out_dim: int = 2048, num_layers: int = 3,
                     widths: Sequence[int] | None = None) -> MLP:
    """Barlow Twins' projector: Linear-BN-ReLU hidden layers and a final Linear; the final
    standardisation is done by the loss (Zbontar et al. 2021 use three layers of 8192 on ImageNet;
    the projector width ``d`` is one of the α-ReQ sweep's axes). ``widths`` (every layer's width)
    replaces the three keywords when given."""
    return _plain_mlp(in_dim, hidden_dim, out_dim, num_layers, widths)


def linear_head(in_dim: int, num_classes: int) -> nn.Linear:
    """A linear classifier on frozen features ``h`` (linear probe) or for supervised training."""
    in_dim = integer(in_dim, "in_dim", low=1, fix="pass the features' width, e.g. the encoder's out_dim")
    num_classes = integer(num_classes, "num_classes", low=1, fix="pass the data set's number of classes")
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
    ``in_dim`` inputs; ``kw`` (``hidden_dim``, ``out_dim``, ``num_layers``) overrides its widths."""
    if name not in HEADS:
        raise ValueError(f"unknown head {name!r}; choose one of {sorted(HEADS)}.")
    return HEADS[name](in_dim, **kw)
