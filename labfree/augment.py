"""Random image augmentations drawn per sample and applied to a whole batch on its device.

Self-supervised methods learn by matching two random *views* of each image, so the augmentation is
part of the method: SimCLR's crops and colour distortion, BYOL's asymmetric blur and solarisation.
Here every image of a ``uint8`` batch ``(B, C, H, W)`` gets its own random parameters, and the whole
batch is transformed at once with tensor operations (no loop over images), on the GPU when the batch
is there::

    from labfree import augment
    aug1, aug2 = augment.pair("simclr_cifar", mean=CIFAR_MEAN, std=CIFAR_STD)
    x1, x2 = augment.views(images, aug1, aug2, generator=g)      # float (B, 3, H, W), normalised

The pipeline, in the order SimCLR, BYOL and VICReg apply it:

1. **one affine warp** — rotation, random resized crop and horizontal flip are composed into a
   single 2×3 matrix per image and resampled once with ``F.grid_sample`` (bilinear);
2. **colour jitter** with probability ``jitter_p`` — brightness, contrast, saturation and hue, each
   image taking the four in its own random order, clipped to [0, 1] after each, as torchvision does;
3. **greyscale** with probability ``grey_p``;
4. **Gaussian blur** with probability ``blur_p``, a per-image sigma, as a separable grouped convolution;
5. **solarisation** with probability ``solarize_p``;
6. normalisation with ``mean`` and ``std``.

Randomness comes from an explicit ``torch.Generator`` on the images' device (or the global RNG), so
a run is reproducible. :meth:`Augment.sample` draws the parameters and :meth:`Augment.apply` applies
given ones, which lets a caller inspect, plot or fix them.

Departures from torchvision's per-image transforms, all deliberate: crop boxes are continuous rather
than rounded to whole pixels, and the resampling reads the real pixels just outside a box where
torchvision repeats the box's edge (the two agree exactly away from the outermost output pixels);
hue is rotated in YIQ space (a 3×3 matrix that keeps luma) instead of shifted in HSV, as NVIDIA DALI
does, which keeps all of the jitter linear algebra on the device; the warp does not antialias,
which only matters when the output is smaller than the crop. Brightness, contrast, saturation,
greyscale, blur, solarisation and rotation agree with torchvision's functions within 1e-4 (the
luma weights here are 0.299, 0.587, 0.114, which sum to one; torchvision's red weight is 0.2989).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

from labfree._validate import number

__all__ = ["Augment", "AugmentParams", "STACKS", "stack", "pair", "views", "simclr_jitter"]

STACKS = ("simclr_cifar", "shapes", "byol", "vicreg", "rotation", "none")
PADDING_MODES = ("zeros", "border", "reflection")

# ITU-R BT.601 luma, the weights of torchvision's rgb_to_grayscale (rounded to sum to one).
_LUMA = (0.299, 0.587, 0.114)
# RGB -> YIQ. Y is luma; rotating the (I, Q) plane turns the hue and keeps the luma.
_YIQ = ((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312))
_YIQ_INV = tuple(map(tuple, torch.linalg.inv(torch.tensor(_YIQ, dtype=torch.float64)).tolist()))
_N_CROP_TRIES = 10  # as torchvision's RandomResizedCrop


def simclr_jitter(strength: float) -> tuple[float, float, float, float]:
    """SimCLR's colour-jitter ranges for strength ``s``: (0.8s, 0.8s, 0.8s, 0.2s) for
    (brightness, contrast, saturation, hue). SimCLR uses s = 1 on ImageNet and s = 0.5 on CIFAR-10."""
    strength = number(strength, "strength", low=0,
                      fix="the jitter strength s is >= 0: SimCLR uses s=1 on ImageNet, s=0.5 on CIFAR-10")
    return (0.8 * strength, 0.8 * strength, 0.8 * strength, min(0.2 * strength, 0.5))


@dataclass
class AugmentParams:
    """Per-image parameters of one call, one row per image; ``None`` marks a step that is off.

    ``crop`` holds (centre x, centre y, width, height) in input pixels; ``angle`` is in degrees,
    counter-clockwise; ``jitter`` holds the (brightness, contrast, saturation) factors and the hue
    shift in turns, with (1, 1, 1, 0) for images left unjittered; ``order`` is each image's order of
    the four jitter operations (0 brightness, 1 contrast, 2 saturation, 3 hue); ``blur_sigma`` is 0
    for images left sharp.
    """

    crop: Tensor | None = None        # (B, 4) float
    flip: Tensor | None = None        # (B,) bool
    angle: Tensor | None = None       # (B,) float, degrees
    jitter: Tensor | None = None      # (B, 4) float
    order: Tensor | None = None       # (B, k) long, k = number of enabled jitter operations
    grey: Tensor | None = None        # (B,) bool
    blur_sigma: Tensor | None = None  # (B,) float
    solarize: Tensor | None = None    # (B,) bool


@dataclass(frozen=True)
class Augment:
    """A random augmentation, configured by its fields; call it on a ``uint8`` batch.

    The defaults do nothing but convert to float: every step is off until its field turns it on.

    Args:
        crop_scale: (min, max) area of the random resized crop as a fraction of the image;
            ``None`` keeps the whole image.
        crop_ratio: (min, max) aspect ratio width/height of the crop, drawn log-uniformly.
        flip_p: probability of a horizontal flip.
        jitter: (brightness, contrast, saturation, hue) ranges as in torchvision's ``ColorJitter``:
            factors uniform in [max(0, 1 - v), 1 + v]; hue shift uniform in [-h, h] turns, h <= 0.5.
        jitter_p: probability that an image is colour-jittered.
        grey_p: probability of converting to greyscale (luma copied to the three channels).
        blur_p: probability of a Gaussian blur.
        blur_sigma: (min, max) of the blur's standard deviation in output pixels.
        blur_kernel_size: odd kernel width; ``None`` takes 10 % of the output size as SimCLR does
            (3 at 32 px, 23 at 224 px).
        solarize_p: probability of solarisation (values >= ``solarize_threshold`` become 1 - value).
        solarize_threshold: the solarisation threshold on the [0, 1] scale.
        rotation_degrees: ``d`` draws angles uniformly in [-d, d]; a pair (lo, hi) in [lo, hi].
        padding_mode: what the warp reads outside the image: ``"zeros"`` (black, as torchvision),
            ``"border"`` (repeat the edge) or ``"reflection"``.
        mean, std: per-channel normalisation of the [0, 1] output (one value or three).
        size: output (height, width) or one int for a square; ``None`` keeps the input size.
    """

    crop_scale: tuple[float, float] | None = None
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_p: float = 0.0
    jitter: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    jitter_p: float = 0.0
    grey_p: float = 0.0
    blur_p: float = 0.0
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    blur_kernel_size: int | None = None
    solarize_p: float = 0.0
    solarize_threshold: float = 0.5
    rotation_degrees: float | tuple[float, float] = 0.0
    padding_mode: str = "zeros"
    mean: float | tuple[float, ...] = (0.0, 0.0, 0.0)
    std: float | tuple[float, ...] = (1.0, 1.0, 1.0)
    size: int | tuple[int, int] | None = None
    _jitter_ops: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # normalise fields of the frozen dataclass once, here
        for name in ("flip_p", "jitter_p", "grey_p", "blur_p", "solarize_p"):
            p = float(getattr(self, name))
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{name} is a probability and must lie in [0, 1], got {p}")
            set_(self, name, p)
        if self.crop_scale is not None:
            lo, hi = _pair_of(self.crop_scale, "crop_scale")
            if not 0.0 < lo <= hi <= 1.0:
                raise ValueError(f"crop_scale must satisfy 0 < min <= max <= 1, got {self.crop_scale}; "
                                 "use None to keep the whole image")
            set_(self, "crop_scale", (lo, hi))
        lo, hi = _pair_of(self.crop_ratio, "crop_ratio")
        if not 0.0 < lo <= hi:
            raise ValueError(f"crop_ratio must satisfy 0 < min <= max, got {self.crop_ratio}")
        set_(self, "crop_ratio", (lo, hi))
        jitter = tuple(float(v) for v in self.jitter)
        if len(jitter) != 4 or not all(math.isfinite(v) and v >= 0 for v in jitter) or jitter[3] > 0.5:
            raise ValueError("jitter must be four non-negative ranges (brightness, contrast, "
                             f"saturation, hue) with hue <= 0.5, got {self.jitter}; see simclr_jitter()")
        set_(self, "jitter", jitter)
        set_(self, "_jitter_ops", tuple(i for i, v in enumerate(jitter) if v > 0))
        lo, hi = _pair_of(self.blur_sigma, "blur_sigma")
        if not 0.0 < lo <= hi:
            raise ValueError(f"blur_sigma must satisfy 0 < min <= max, got {self.blur_sigma}")
        set_(self, "blur_sigma", (lo, hi))
        k = self.blur_kernel_size
        if k is not None and (int(k) != k or k < 1 or k % 2 == 0):
            raise ValueError(f"blur_kernel_size must be a positive odd integer or None, got {k}")
        deg = self.rotation_degrees
        if isinstance(deg, (int, float)):
            lo, hi = (-abs(float(deg)), abs(float(deg))) if deg else (0.0, 0.0)
        else:
            lo, hi = _pair_of(deg, "rotation_degrees")
        if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
            raise ValueError(f"rotation_degrees must be finite degrees d (angles in [-d, d]) or a range "
                             f"(min, max) with min <= max; got {deg}. Pass e.g. rotation_degrees=180")
        set_(self, "rotation_degrees", (lo, hi))
        if self.padding_mode not in PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got {self.padding_mode!r}")
        set_(self, "mean", _three(self.mean, "mean"))
        set_(self, "std", _three(self.std, "std"))
        if not all(math.isfinite(v) for v in self.mean):
            raise ValueError(f"mean must be finite, got {self.mean}; pass the data set's channel means, "
                             "e.g. labfree.data's ImageSet.mean")
        if not all(math.isfinite(v) and v > 0 for v in self.std):
            raise ValueError(f"std must be positive and finite, got {self.std}; pass the data set's "
                             "channel standard deviations, e.g. labfree.data's ImageSet.std")
        set_(self, "solarize_threshold", number(
            self.solarize_threshold, "solarize_threshold", low=0, high=1,
            fix="the threshold is on the [0, 1] scale, e.g. solarize_threshold=0.5"))
        if self.size is not None:
            size = (self.size, self.size) if isinstance(self.size, int) else tuple(int(s) for s in self.size)
            if len(size) != 2 or min(size) < 1:
                raise ValueError(f"size must be a positive int or (height, width), got {self.size}")
            set_(self, "size", size)

    # ------------------------------------------------------------------ sampling
    def sample(self, images: Tensor, generator: torch.Generator | None = None) -> AugmentParams:
        """Draw one set of parameters per image of ``images`` (only the shape and device are read)."""
        b, _, h, w = _check_images(images).shape
        device = images.device
        _check_generator(generator, device)

        def rand(*shape: int) -> Tensor:
            return torch.rand(shape, generator=generator, device=device)

        params = AugmentParams()
        if self.crop_scale is not None:
            params.crop = _sample_crops(rand, b, h, w, self.crop_scale, self.crop_ratio)
        if self.flip_p > 0:
            params.flip = rand(b) < self.flip_p
        lo, hi = self.rotation_degrees
        if (lo, hi) != (0.0, 0.0):
            params.angle = lo + (hi - lo) * rand(b)
        if self.jitter_p > 0 and self._jitter_ops:
            applied = rand(b) < self.jitter_p
            ranges = _const(self.jitter, device)
            low = torch.cat([(1 - ranges[:3]).clamp(min=0), -ranges[3:]])
            high = torch.cat([1 + ranges[:3], ranges[3:]])
            factors = low + (high - low) * rand(b, 4)
            identity = _const((1.0, 1.0, 1.0, 0.0), device)
            params.jitter = torch.where(applied[:, None], factors, identity)
            ops = _const(self._jitter_ops, device, torch.long)
            params.order = ops[rand(b, len(self._jitter_ops)).argsort(dim=1)]
        if self.grey_p > 0:
            params.grey = rand(b) < self.grey_p
        if self.blur_p > 0:
            applied = rand(b) < self.blur_p
            lo, hi = self.blur_sigma
            params.blur_sigma = torch.where(applied, lo + (hi - lo) * rand(b), 0.0)
        if self.solarize_p > 0:
            params.solarize = rand(b) < self.solarize_p
        return params

    # ------------------------------------------------------------------ application
    @torch.no_grad()
    def apply(self, images: Tensor, params: AugmentParams) -> Tensor:
        """Apply given per-image parameters; returns float32 ``(B, 3, H', W')``, normalised."""
        b, c, h, w = _check_images(images).shape
        out_h, out_w = self.size or (h, w)
        x = images.to(torch.float32).div_(255)
        if params.crop is not None or params.flip is not None or params.angle is not None:
            grid = _sampling_grid(_affine(params, b, h, w, x.device), out_h, out_w)
            x = F.grid_sample(x, grid, mode="bilinear", padding_mode=self.padding_mode,
                              align_corners=False)
        elif (out_h, out_w) != (h, w):
            x = F.interpolate(x, size=(out_h, out_w), mode="bilinear", align_corners=False,
                              antialias=True)
        if c == 1:  # grey input: warp one channel, then broadcast
            x = x.expand(b, 3, out_h, out_w)
        if params.jitter is not None:
            x = _colour_jitter(x, params.jitter, params.order, contrast=1 in self._jitter_ops)
        if params.grey is not None:
            x = torch.where(params.grey[:, None, None, None], _luma(x).expand_as(x), x)
        if params.blur_sigma is not None:
            k = self.blur_kernel_size or _default_kernel_size(out_h, out_w)
            x = _gaussian_blur(x, params.blur_sigma, k)
        if params.solarize is not None:
            flip = params.solarize[:, None, None, None] & (x >= self.solarize_threshold)
            x = torch.where(flip, 1.0 - x, x)
        mean = _const(self.mean, x.device).view(1, 3, 1, 1)
        inv_std = _const(tuple(1.0 / s for s in self.std), x.device).view(1, 3, 1, 1)
        return (x - mean).mul_(inv_std)

    def __call__(self, images: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Augment a ``uint8`` batch ``(B, C, H, W)``, C in {1, 3}, with fresh per-image parameters."""
        return self.apply(images, self.sample(images, generator))


# ---------------------------------------------------------------------- stacks
def stack(name: str, *, mean: float | Sequence[float], std: float | Sequence[float],
          size: int | tuple[int, int] | None = None, strength: float = 1.0,
          blur: bool | float | None = None) -> Augment:
    """A named augmentation stack from the papers; for "byol" and "vicreg" the first view's.

    Stacks (``STACKS``):

    - ``"simclr_cifar"`` — SimCLR's CIFAR-10 stack: crop scale (0.08, 1), ratio (3/4, 4/3), flip 0.5,
      colour jitter of strength 0.5 with probability 0.8, greyscale 0.2, no blur.
    - ``"shapes"`` — the shapes thesis's SSL stack: the SimCLR CIFAR stack plus a rotation uniform
      in ±180°, the full circle because the shapes have no upright pose. Crop scale stays at
      SimCLR's (0.08, 1) as the thesis prescribes. The warp repeats the border, so rotated corners
      take the background's value instead of a black wedge that would reveal the angle.
    - ``"byol"`` — BYOL's view pair: crop (0.08, 1), flip 0.5, jitter (0.4, 0.4, 0.2, 0.1) with
      probability 0.8, greyscale 0.2, blur with sigma in [0.1, 2] and probability 1.0 / 0.1, and
      solarisation with probability 0.0 / 0.2. ``stack`` returns the first view; use :func:`pair`.
    - ``"vicreg"`` — VICReg adopts BYOL's protocol, so its pair has the same settings.
    - ``"rotation"`` — supervised shapes training: rotation in ±180° only.
    - ``"none"`` — no augmentation: resize to ``size`` if given, then normalise.

    Args:
        mean, std: normalisation of the [0, 1] output (one value or three).
        size: output size; ``None`` keeps the input size.
        strength: multiplies the stack's colour-jitter ranges (1 = as published; for "simclr_cifar"
            the SimCLR strength is ``0.5 * strength``). To set SimCLR's strength directly use
            ``dataclasses.replace(aug, jitter=simclr_jitter(s))``.
        blur: ``None`` keeps the stack's blur; ``False`` removes it; ``True`` adds SimCLR's blur
            (probability 0.5) to a stack without one; a float sets the blur probability of every view.
    """
    return pair(name, mean=mean, std=std, size=size, strength=strength, blur=blur)[0]


def pair(name: str, *, mean: float | Sequence[float], std: float | Sequence[float],
         size: int | tuple[int, int] | None = None, strength: float = 1.0,
         blur: bool | float | None = None) -> tuple[Augment, Augment]:
    """The two view augmentations ``(aug1, aug2)`` of a stack: different for the asymmetric
    "byol" and "vicreg", the same configuration twice for the others. Arguments as :func:`stack`."""
    if name not in STACKS:
        raise ValueError(f"unknown augmentation stack {name!r}; choose one of {STACKS}")
    strength = number(strength, "strength", low=0,
                      fix="strength multiplies the stack's jitter ranges: 1 as published, 0 for none")
    common = dict(mean=mean, std=std, size=size)
    simclr_cifar = dict(crop_scale=(0.08, 1.0), crop_ratio=(3 / 4, 4 / 3), flip_p=0.5,
                        jitter=simclr_jitter(0.5), jitter_p=0.8, grey_p=0.2)
    if name == "simclr_cifar":
        views_ = [dict(simclr_cifar)]
    elif name == "shapes":
        views_ = [dict(simclr_cifar, rotation_degrees=180.0, padding_mode="border")]
    elif name in ("byol", "vicreg"):
        byol = dict(crop_scale=(0.08, 1.0), crop_ratio=(3 / 4, 4 / 3), flip_p=0.5,
                    jitter=(0.4, 0.4, 0.2, 0.1), jitter_p=0.8, grey_p=0.2, blur_sigma=(0.1, 2.0))
        views_ = [dict(byol, blur_p=1.0, solarize_p=0.0), dict(byol, blur_p=0.1, solarize_p=0.2)]
    elif name == "rotation":
        views_ = [dict(rotation_degrees=180.0, padding_mode="border")]
    else:  # "none"
        views_ = [{}]
    augs = []
    for cfg in views_:
        if "jitter" in cfg:
            j = tuple(v * strength for v in cfg["jitter"])
            cfg["jitter"] = j[:3] + (min(j[3], 0.5),)
        if blur is False:
            cfg["blur_p"] = 0.0
        elif blur is True:
            cfg.setdefault("blur_p", 0.5)
        elif blur is not None:
            cfg["blur_p"] = float(blur)
        augs.append(Augment(**cfg, **common))
    return (augs[0], augs[-1])


def views(images: Tensor, aug1: Augment, aug2: Augment,
          generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Two independently augmented views ``(x1, x2)`` of a ``uint8`` batch."""
    return aug1(images, generator), aug2(images, generator)


# ---------------------------------------------------------------------- helpers
@functools.lru_cache(maxsize=64)
def _const(values: tuple, device: torch.device, dtype: torch.dtype = torch.float32) -> Tensor:
    """A small constant tensor, made once per device: creating it anew on every call would cost a
    host-to-device copy each time. Never modified in place."""
    return torch.tensor(values, device=device, dtype=dtype)


def _pair_of(value: Sequence[float], name: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (min, max), got {value!r}") from None
    return lo, hi


def _three(value: float | Sequence[float], name: str) -> tuple[float, float, float]:
    values = (float(value),) * 3 if isinstance(value, (int, float)) else tuple(float(v) for v in value)
    if len(values) == 1:
        values = values * 3
    if len(values) != 3:
        raise ValueError(f"{name} needs one value or three (one per RGB channel), got {value!r}")
    return values  # type: ignore[return-value]


def _check_images(images: Tensor) -> Tensor:
    if not isinstance(images, Tensor):
        raise TypeError(f"images must be a torch.Tensor of dtype uint8, got {type(images).__name__}; "
                        "convert with torch.as_tensor(array)")
    if images.dtype != torch.uint8:
        raise TypeError(f"images must be uint8 in 0..255, got {images.dtype}; pass the uint8 batch "
                        "from labfree.data, or convert [0, 1] floats with "
                        "(images * 255).round().to(torch.uint8)")
    if images.ndim != 4:
        raise ValueError(f"images must be a batch (B, C, H, W), got shape {tuple(images.shape)}; "
                         "add a batch axis to one image with images.unsqueeze(0), and put channels "
                         "first with images.permute(0, 3, 1, 2) for (B, H, W, C) arrays")
    if images.shape[1] not in (1, 3):
        raise ValueError(f"images must have 1 or 3 channels (dim 1), got shape {tuple(images.shape)}; "
                         "drop an alpha channel with images[:, :3], or permute (B, H, W, C) to "
                         "(B, C, H, W)")
    if images.shape[0] == 0:
        raise ValueError(f"images is an empty batch (shape {tuple(images.shape)}); pass at least one "
                         "image (a slice past the end of the data set, or a batch_size larger than it?)")
    return images


def _check_generator(generator: torch.Generator | None, device: torch.device) -> None:
    if generator is not None and generator.device.type != device.type:
        raise ValueError(f"generator is on {generator.device} but the images are on {device}; "
                         f"create it with torch.Generator(device=images.device)")


def _sample_crops(rand, b: int, h: int, w: int, scale: tuple[float, float],
                  ratio: tuple[float, float]) -> Tensor:
    """torchvision's RandomResizedCrop rule, batched: ten tries per image of an area fraction
    uniform in ``scale`` and a log-uniform aspect ratio; the first box that fits wins; images with
    no fitting box get the central crop clipped to ``ratio``. Returns (cx, cy, width, height)."""
    area = h * w * (scale[0] + (scale[1] - scale[0]) * rand(b, _N_CROP_TRIES))
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    aspect = torch.exp(log_lo + (log_hi - log_lo) * rand(b, _N_CROP_TRIES))
    cw, ch = torch.sqrt(area * aspect), torch.sqrt(area / aspect)
    fits = (cw <= w) & (ch <= h)
    first = fits.to(torch.uint8).argmax(dim=1, keepdim=True)  # argmax returns the first maximum
    cw, ch = cw.gather(1, first).squeeze(1), ch.gather(1, first).squeeze(1)
    in_ratio = w / h  # fallback box, as torchvision
    if in_ratio < ratio[0]:
        fw, fh = w, w / ratio[0]
    elif in_ratio > ratio[1]:
        fw, fh = h * ratio[1], h
    else:
        fw, fh = w, h
    found = fits.any(dim=1)
    cw, ch = torch.where(found, cw, fw), torch.where(found, ch, fh)
    centre = torch.where(found[:, None], rand(b, 2), 0.5)  # the fallback box is central
    cx = cw / 2 + (w - cw) * centre[:, 0]
    cy = ch / 2 + (h - ch) * centre[:, 1]
    return torch.stack([cx, cy, cw, ch], dim=1)


def _affine(params: AugmentParams, b: int, h: int, w: int, device: torch.device) -> Tensor:
    """Compose rotation, crop and flip into ``theta`` (B, 2, 3) mapping output to input coordinates
    (``affine_grid``'s normalised [-1, 1] box, pixel edges at ±1).

    The output is flip(crop(rotate(image))): an output point u lands at c + S F u in the rotated
    image (crop centre c, half-extent S, flip F), which is D⁻¹ R⁻¹ D of that in the input, where D
    scales normalised to pixel units (so the rotation is a true rotation on non-square images)."""
    if params.crop is not None:
        cx, cy, cw, ch = params.crop.unbind(dim=1)
        centre = torch.stack([2 * cx / w - 1, 2 * cy / h - 1], dim=1)
        half = torch.stack([cw / w, ch / h], dim=1)
    else:
        centre = torch.zeros(b, 2, device=device)
        half = torch.ones(b, 2, device=device)
    if params.flip is not None:
        half = half * torch.stack([1.0 - 2.0 * params.flip.float(), torch.ones(b, device=device)], 1)
    linear = torch.diag_embed(half)  # (B, 2, 2)
    if params.angle is not None:
        a = torch.deg2rad(params.angle)
        cos, sin = torch.cos(a), torch.sin(a)
        # Counter-clockwise on screen (y points down) by a: q = M p with M = [[c, s], [-s, c]];
        # sampling needs M⁻¹ = [[c, -s], [s, c]], conjugated by D = diag(w/2, h/2).
        inv_rot = torch.stack([torch.stack([cos, -sin * h / w], 1),
                               torch.stack([sin * w / h, cos], 1)], dim=1)
        linear = inv_rot @ linear
        centre = (inv_rot @ centre.unsqueeze(2)).squeeze(2)
    return torch.cat([linear, centre.unsqueeze(2)], dim=2)


def _sampling_grid(theta: Tensor, h: int, w: int) -> Tensor:
    """``F.affine_grid(theta, (B, C, h, w), align_corners=False)``, computed as two broadcast
    affine maps over the pixel centres: the same grid to float rounding, without the per-image
    matrix products of affine_grid's CPU kernel (0.94 → 0.1 ms for 128 images of 28×28)."""
    dev, dt = theta.device, theta.dtype
    xs = ((torch.arange(w, device=dev, dtype=dt) * 2 + 1) / w - 1).view(1, 1, w)
    ys = ((torch.arange(h, device=dev, dtype=dt) * 2 + 1) / h - 1).view(1, h, 1)
    t = theta.reshape(-1, 6, 1, 1).unbind(dim=1)
    gx = t[0] * xs + t[1] * ys + t[2]  # (B, h, w): input x of each output pixel
    gy = t[3] * xs + t[4] * ys + t[5]
    return torch.stack([gx, gy], dim=-1)


def _luma(x: Tensor) -> Tensor:
    weights = _const(_LUMA, x.device, x.dtype)
    return torch.einsum("c,bchw->bhw", weights, x).unsqueeze(1)


def _colour_jitter(x: Tensor, factors: Tensor, order: Tensor, contrast: bool = True) -> Tensor:
    """Brightness, contrast, saturation and hue in each image's own order, clipping after each.

    All four are affine maps of the colour vector, so step k is one batched 3×3 matrix (chosen per
    image) plus an offset, which only contrast has: (1 - f) times the image's mean luma. Pass
    ``contrast=False`` when no image's ``order`` contains contrast, to skip that mean."""
    b, _, h, w = x.shape
    dev, dt = x.device, x.dtype
    eye = _const(((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)), dev, dt)
    luma = _const(_LUMA, dev, dt)
    fb, fc, fs, hue = factors.unbind(dim=1)
    # Positive shifts move red towards yellow and green, as in HSV; that is clockwise in (I, Q).
    a = -2 * math.pi * hue
    cos, sin, zero, one = a.cos(), a.sin(), torch.zeros_like(a), torch.ones_like(a)
    rot = torch.stack([one, zero, zero, zero, cos, -sin, zero, sin, cos], dim=1).view(b, 3, 3)
    yiq, yiq_inv = _const(_YIQ, dev, dt), _const(_YIQ_INV, dev, dt)
    mats = torch.stack([
        fb[:, None, None] * eye,
        fc[:, None, None] * eye,
        fs[:, None, None] * eye + (1 - fs)[:, None, None] * luma.expand(3, 3),
        yiq_inv @ rot @ yiq,
    ], dim=1)  # (B, 4, 3, 3)
    rows = torch.arange(b, device=dev)
    # contiguous: a grey image broadcast to three channels (stride 0) sends bmm down a slow path
    flat = x.reshape(b, 3, h * w).contiguous()
    for k in range(order.shape[1]):
        op = order[:, k]
        if contrast:  # blend with the mean luma of the image as it is at this step
            mean_luma = flat.mean(dim=2) @ luma
            offset = torch.where(op == 1, (1 - fc) * mean_luma, 0.0)[:, None, None].expand(b, 3, 1)
            y = torch.baddbmm(offset, mats[rows, op], flat)
        else:
            y = torch.bmm(mats[rows, op], flat)
        flat = y.clamp_(0.0, 1.0)
    return flat.view(b, 3, h, w)


def _default_kernel_size(h: int, w: int) -> int:
    k = int(0.1 * min(h, w))
    return max(3, k + 1 if k % 2 == 0 else k)


def _gaussian_blur(x: Tensor, sigma: Tensor, kernel_size: int) -> Tensor:
    """Separable Gaussian blur with one sigma per image, as two grouped convolutions (one group
    per image channel) over reflect-padded borders; sigma 0 gives the identity kernel."""
    b, c, h, w = x.shape
    r = kernel_size // 2
    offsets = torch.arange(-r, r + 1, device=x.device, dtype=x.dtype)
    safe = sigma.clamp(min=1e-6)[:, None]
    kernel = torch.exp(-0.5 * (offsets / safe) ** 2)
    kernel = torch.where(sigma[:, None] > 0, kernel, (offsets == 0).to(x.dtype))
    kernel = kernel / kernel.sum(dim=1, keepdim=True)
    kernel = kernel.repeat_interleave(c, dim=0)  # (B*C, k): one kernel per image channel
    y = F.pad(x.reshape(1, b * c, h, w), (r, r, r, r), mode="reflect")
    y = F.conv2d(y, kernel.view(b * c, 1, 1, kernel_size), groups=b * c)
    y = F.conv2d(y, kernel.view(b * c, 1, kernel_size, 1), groups=b * c)
    return y.view(b, c, h, w)

