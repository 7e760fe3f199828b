"""Tests for labfree.augment: each step against a closed form or an independent implementation."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from labfree import augment
from labfree.augment import Augment

torch.set_num_threads(1)

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
LUMA = torch.tensor([0.299, 0.587, 0.114])


def random_images(b: int = 8, c: int = 3, h: int = 32, w: int = 32, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, c, h, w), dtype=torch.uint8, generator=g)


def constant_images(rgb: list[tuple[int, int, int]], size: int = 8) -> torch.Tensor:
    colours = torch.tensor(rgb, dtype=torch.uint8)
    return colours[:, :, None, None].expand(len(rgb), 3, size, size).contiguous()


def unit(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 255


def normalised(images: torch.Tensor, mean=MEAN, std=STD) -> torch.Tensor:
    mean, std = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    return (unit(images).expand(-1, 3, -1, -1) - mean) / std


def with_jitter(aug: Augment, images: torch.Tensor, factors, order) -> torch.Tensor:
    """Apply ``aug`` with the given jitter factors and order for every image, in [0, 1] units."""
    params = aug.sample(images)
    b = images.shape[0]
    params.jitter = torch.tensor(factors, dtype=torch.float32).expand(b, 4)
    params.order = torch.tensor(order).expand(b, len(order))
    return aug.apply(images, params)


# ---------------------------------------------------------------- output contract
@pytest.mark.parametrize("name", augment.STACKS)
def test_every_stack_returns_normalised_float_batch(name):
    x = random_images(6, h=32, w=32)
    for aug in augment.pair(name, mean=MEAN, std=STD, size=24):
        out = aug(x, torch.Generator().manual_seed(1))
        assert out.dtype == torch.float32 and out.shape == (6, 3, 24, 24) and out.device == x.device
        lo = (0 - torch.tensor(MEAN)) / torch.tensor(STD)
        hi = (1 - torch.tensor(MEAN)) / torch.tensor(STD)
        per_channel = out.transpose(0, 1).reshape(3, -1)
        assert (per_channel.min(1).values >= lo - 1e-5).all()
        assert (per_channel.max(1).values <= hi + 1e-5).all()


def test_none_stack_is_exactly_normalisation():
    x = random_images()
    out = augment.stack("none", mean=MEAN, std=STD)(x)
    torch.testing.assert_close(out, normalised(x), atol=1e-5, rtol=0)


def test_none_stack_resizes_with_antialiasing():
    x = random_images(2, h=32, w=32)
    out = augment.stack("none", mean=0.0, std=1.0, size=16)(x)
    expected = F.interpolate(unit(x), size=(16, 16), mode="bilinear", antialias=True)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


def test_identity_configuration_returns_normalised_input():
    x = random_images(5, h=24, w=24)
    aug = Augment(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip_p=0.0,
                  jitter=(0.4, 0.4, 0.4, 0.1), jitter_p=0.0, grey_p=0.0, blur_p=0.0,
                  solarize_p=0.0, mean=MEAN, std=STD)
    torch.testing.assert_close(aug(x), normalised(x), atol=1e-5, rtol=0)


# ---------------------------------------------------------------- geometry
def test_flip_with_probability_one_equals_torch_flip():
    x = random_images(4, h=16, w=20)
    out = Augment(flip_p=1.0)(x)
    torch.testing.assert_close(out, torch.flip(unit(x), dims=[-1]), atol=1e-5, rtol=0)


@pytest.mark.parametrize("degrees, k", [(90.0, 1), (-90.0, -1), (180.0, 2)])
def test_quarter_turns_equal_rot90(degrees, k):
    x = random_images(4, h=16, w=16)
    out = Augment(rotation_degrees=(degrees, degrees))(x)
    torch.testing.assert_close(out, torch.rot90(unit(x), k=k, dims=(-2, -1)), atol=1e-5, rtol=0)


def test_rotation_matches_torchvision_rotate_on_non_square_images():
    tvf = pytest.importorskip("torchvision.transforms.v2.functional")
    x = random_images(3, h=20, w=28)
    out = Augment(rotation_degrees=(30.0, 30.0))(x)
    expected = tvf.rotate(unit(x), 30.0, interpolation=tvf.InterpolationMode.BILINEAR)
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("size", [(28, 28), (32, 24), (7, 40)])
def test_sampling_grid_equals_affine_grid(size):
    """labfree's grid is torch's affine_grid (align_corners=False) for any warp and output size."""
    h, w = size
    theta = torch.randn(16, 2, 3, generator=torch.Generator().manual_seed(h * w))
    expected = F.affine_grid(theta, [16, 3, h, w], align_corners=False)
    got = augment._sampling_grid(theta, h, w)
    assert got.shape == expected.shape and got.is_contiguous()
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-6)


def test_padding_mode_decides_what_rotation_reveals():
    white = torch.full((1, 1, 16, 16), 255, dtype=torch.uint8)
    zeros = Augment(rotation_degrees=(45.0, 45.0))(white)
    border = Augment(rotation_degrees=(45.0, 45.0), padding_mode="border")(white)
    assert zeros[0, :, 0, 0].max() < 0.01 and zeros[0, :, 8, 8].min() > 1 - 1e-6
    torch.testing.assert_close(border, torch.ones_like(border))


def ramp_images(b: int, size: int) -> torch.Tensor:
    """Red grows with x and green with y by 4 levels per pixel, so a crop's extent is readable."""
    ramp = 4 * torch.arange(size)
    image = torch.stack([ramp.expand(size, size), ramp[:, None].expand(size, size),
                         torch.zeros(size, size, dtype=torch.long)])
    return image.to(torch.uint8).expand(b, 3, size, size).contiguous()


def measured_crop_fraction(out: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Crop width and height as fractions of the input, read from the ramps between the second and
    the second-to-last output pixel (inside the crop, so the bilinear samples are exact)."""
    n = out.shape[-1]
    per_output_pixel = lambda diff: diff / (n - 3) * 255 / 4  # noqa: E731  (input pixels)
    width = per_output_pixel(out[:, 0, :, -2] - out[:, 0, :, 1]).mean(1) * n / size
    height = per_output_pixel(out[:, 1, -2, :] - out[:, 1, 1, :]).mean(1) * n / size
    return width, height


@pytest.mark.parametrize("scale, ratio", [(0.25, 1.0), (0.5, 4 / 3), (0.1, 0.75)])
def test_fixed_crop_scale_and_ratio_are_respected(scale, ratio):
    size = 64
    x = ramp_images(16, size)
    aug = Augment(crop_scale=(scale, scale), crop_ratio=(ratio, ratio), size=16)
    params = aug.sample(x, torch.Generator().manual_seed(0))
    width, height = measured_crop_fraction(aug.apply(x, params), size)
    torch.testing.assert_close(width * height, torch.full((16,), scale), rtol=1e-3, atol=0)
    torch.testing.assert_close(width / height, torch.full((16,), ratio), rtol=1e-3, atol=0)
    # the box reported in the parameters is the one applied, and lies inside the image
    torch.testing.assert_close(width * size, params.crop[:, 2], rtol=1e-3, atol=0)
    cx, cy, cw, ch = params.crop.unbind(1)
    assert (cx - cw / 2 >= 0).all() and (cx + cw / 2 <= size).all()
    assert (cy - ch / 2 >= 0).all() and (cy + ch / 2 <= size).all()


def test_random_crop_areas_and_ratios_stay_in_range():
    size = 64
    x = ramp_images(256, size)
    aug = Augment(crop_scale=(0.08, 1.0), crop_ratio=(3 / 4, 4 / 3), size=16)
    width, height = measured_crop_fraction(aug(x, torch.Generator().manual_seed(3)), size)
    area, ratio = width * height, width / height
    assert area.min() >= 0.08 * (1 - 1e-3) and area.max() <= 1 + 1e-3
    assert ratio.min() >= 0.75 * (1 - 1e-3) and ratio.max() <= 4 / 3 * (1 + 1e-3)
    assert area.min() < 0.2 and area.max() > 0.8  # the range is explored, not one value


def test_crop_falls_back_to_central_box_when_no_try_fits():
    size = 64  # a 2:1 box of the full area never fits a square, so torchvision's fallback applies
    x = ramp_images(4, size)
    aug = Augment(crop_scale=(1.0, 1.0), crop_ratio=(2.0, 2.0), size=16)
    params = aug.sample(x)
    torch.testing.assert_close(params.crop, torch.tensor([[32.0, 32.0, 64.0, 32.0]]).expand(4, 4))
    width, height = measured_crop_fraction(aug.apply(x, params), size)
    torch.testing.assert_close(width, torch.ones(4), rtol=1e-3, atol=0)
    torch.testing.assert_close(height, torch.full((4,), 0.5), rtol=1e-3, atol=0)


# ---------------------------------------------------------------- colour
COLOURS = [(200, 40, 90), (20, 180, 250), (128, 128, 128), (250, 250, 10)]


def test_brightness_matches_formula():
    x = constant_images(COLOURS)
    aug = Augment(jitter=(0.5, 0, 0, 0), jitter_p=1.0)
    for f in (0.6, 1.3):
        out = with_jitter(aug, x, [f, 1, 1, 0], [0])
        torch.testing.assert_close(out, (f * unit(x)).clamp(0, 1), atol=1e-6, rtol=0)


def test_contrast_matches_formula():
    x = constant_images(COLOURS)
    aug = Augment(jitter=(0, 0.5, 0, 0), jitter_p=1.0)
    f = 1.4
    mean_luma = torch.einsum("c,bchw->b", LUMA, unit(x)) / 64
    expected = (f * unit(x) + (1 - f) * mean_luma[:, None, None, None]).clamp(0, 1)
    torch.testing.assert_close(with_jitter(aug, x, [1, f, 1, 0], [1]), expected, atol=1e-6, rtol=0)


def test_saturation_matches_formula():
    x = constant_images(COLOURS)
    aug = Augment(jitter=(0, 0, 0.5, 0), jitter_p=1.0)
    for f in (0.0, 0.7, 1.5):
        luma = torch.einsum("c,bchw->bhw", LUMA, unit(x))[:, None]
        expected = (f * unit(x) + (1 - f) * luma).clamp(0, 1)
        torch.testing.assert_close(with_jitter(aug, x, [1, 1, f, 0], [2]), expected, atol=1e-6, rtol=0)


def test_hue_rotation_keeps_grey_and_luma_and_turns_red_towards_green():
    aug = Augment(jitter=(0, 0, 0, 0.5), jitter_p=1.0)
    grey = constant_images([(90, 90, 90)])
    torch.testing.assert_close(with_jitter(aug, grey, [1, 1, 1, 0.3], [3]), unit(grey), atol=1e-6, rtol=0)
    muted = constant_images([(150, 110, 100)])  # stays in gamut for a small shift, so no clipping
    out = with_jitter(aug, muted, [1, 1, 1, 0.05], [3])
    assert not torch.allclose(out, unit(muted), atol=1e-3)
    torch.testing.assert_close(torch.einsum("c,bchw->b", LUMA, out),
                               torch.einsum("c,bchw->b", LUMA, unit(muted)), atol=1e-5, rtol=0)
    red = constant_images([(255, 0, 0)])
    turned = with_jitter(aug, red, [1, 1, 1, 1 / 3], [3])[0, :, 0, 0]
    assert turned.argmax() == 1  # a third of a turn takes red to green, as in HSV


def test_jitter_applies_operations_in_each_images_order():
    x = constant_images([(200, 40, 90)] * 2)
    aug = Augment(jitter=(0.5, 0, 0.5, 0), jitter_p=1.0)
    params = aug.sample(x)
    params.jitter = torch.tensor([[1.4, 1.0, 0.3, 0.0]] * 2)
    params.order = torch.tensor([[0, 2], [2, 0]])  # brightness first, then saturation first
    out = aug.apply(x, params)
    c = unit(x[:1])
    bright = lambda v: (1.4 * v).clamp(0, 1)  # noqa: E731
    desat = lambda v: (0.3 * v + 0.7 * torch.einsum("c,bchw->bhw", LUMA, v)[:, None]).clamp(0, 1)  # noqa: E731
    torch.testing.assert_close(out[:1], desat(bright(c)), atol=1e-6, rtol=0)
    torch.testing.assert_close(out[1:], bright(desat(c)), atol=1e-6, rtol=0)
    assert not torch.allclose(out[0], out[1], atol=1e-3)  # clipping makes the order matter


def test_jitter_parameters_follow_configured_ranges_and_probability():
    b, p = 4000, 0.8
    x = random_images(b, h=4, w=4)
    aug = Augment(jitter=(0.4, 0.3, 1.5, 0.1), jitter_p=p)
    params = aug.sample(x, torch.Generator().manual_seed(0))
    applied = (params.jitter != torch.tensor([1.0, 1.0, 1.0, 0.0])).any(1)
    sd = math.sqrt(b * p * (1 - p))
    assert abs(applied.sum().item() - b * p) < 4 * sd
    f = params.jitter[applied]
    lows, highs = torch.tensor([0.6, 0.7, 0.0, -0.1]), torch.tensor([1.4, 1.3, 2.5, 0.1])
    assert (f >= lows).all() and (f <= highs).all()
    assert ((f - lows) / (highs - lows)).mean(0).sub(0.5).abs().max() < 0.03  # uniform: mean mid-range
    assert sorted(params.order[0].tolist()) == [0, 1, 2, 3]
    assert len({tuple(o) for o in params.order.tolist()}) == 24  # all orders occur


def test_greyscale_gives_equal_channels_equal_to_luma():
    x = random_images(4)
    out = Augment(grey_p=1.0)(x)
    luma = torch.einsum("c,bchw->bhw", LUMA, unit(x))
    for channel in range(3):
        torch.testing.assert_close(out[:, channel], luma, atol=1e-6, rtol=0)


def test_solarise_inverts_values_above_threshold():
    x = random_images(4)
    out = Augment(solarize_p=1.0, solarize_threshold=0.5)(x)
    v = unit(x)
    torch.testing.assert_close(out, torch.where(v >= 0.5, 1 - v, v), atol=1e-6, rtol=0)


# ---------------------------------------------------------------- blur
def test_blur_keeps_constant_images_and_smooths_noise():
    aug = Augment(blur_p=1.0, blur_sigma=(1.0, 2.0), blur_kernel_size=5)
    constant = constant_images(COLOURS, size=16)
    torch.testing.assert_close(aug(constant), unit(constant), atol=1e-6, rtol=0)
    noise = random_images(8, h=32, w=32)
    out = aug(noise)
    assert torch.allclose(out.mean((2, 3)), unit(noise).mean((2, 3)), atol=0.01)
    assert (out.var((2, 3)) < 0.5 * unit(noise).var((2, 3))).all()


def test_blur_equals_direct_2d_convolution_with_each_images_sigma():
    x = random_images(3, h=12, w=12)
    aug = Augment(blur_p=1.0, blur_kernel_size=5)
    params = aug.sample(x)
    params.blur_sigma = torch.tensor([0.0, 0.8, 2.0])  # 0 means this image is not blurred
    out = aug.apply(x, params)
    torch.testing.assert_close(out[0], unit(x[0]), atol=1e-6, rtol=0)
    offsets = torch.arange(-2, 3, dtype=torch.float32)
    for i in (1, 2):
        g = torch.exp(-offsets**2 / (2 * params.blur_sigma[i] ** 2))
        kernel = torch.outer(g, g) / g.sum() ** 2
        padded = F.pad(unit(x[i : i + 1]), (2, 2, 2, 2), mode="reflect")
        expected = F.conv2d(padded, kernel.expand(3, 1, 5, 5), groups=3)
        torch.testing.assert_close(out[i : i + 1], expected, atol=1e-5, rtol=0)


def test_default_blur_kernel_is_ten_percent_of_the_image():
    assert augment._default_kernel_size(32, 32) == 3
    assert augment._default_kernel_size(224, 224) == 23
    assert augment._default_kernel_size(96, 96) == 9


# ---------------------------------------------------------------- randomness
def test_parameters_are_drawn_per_sample():
    x = random_images(1).expand(16, 3, 32, 32).contiguous()  # sixteen copies of one image
    aug = augment.stack("simclr_cifar", mean=MEAN, std=STD)
    params = aug.sample(x, torch.Generator().manual_seed(0))
    assert len({tuple(row) for row in params.crop.tolist()}) == 16
    assert 0 < params.flip.sum() < 16 and len(set(params.jitter[:, 0].tolist())) > 8
    out = aug.apply(x, params)
    flat = out.flatten(1)
    distance = torch.cdist(flat, flat)
    assert (distance + torch.eye(16) * 1e9 > 1e-3).all()  # no two views are the same


def test_same_seed_reproduces_and_other_seed_differs():
    x = random_images(8)
    aug1, aug2 = augment.pair("byol", mean=MEAN, std=STD)
    run = lambda seed: augment.views(x, aug1, aug2, torch.Generator().manual_seed(seed))  # noqa: E731
    a, b, c = run(5), run(5), run(6)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.allclose(a[0], c[0]) and not torch.allclose(a[0], a[1])
    torch.manual_seed(11)
    d = aug1(x)
    torch.manual_seed(11)
    assert torch.equal(d, aug1(x))  # the global RNG is reproducible too


# ---------------------------------------------------------------- inputs
def test_single_channel_input_is_broadcast_to_three():
    grey = random_images(4, c=1)
    aug = augment.stack("shapes", mean=0.5, std=0.25)
    out1 = aug(grey, torch.Generator().manual_seed(2))
    out3 = aug(grey.expand(4, 3, 32, 32).contiguous(), torch.Generator().manual_seed(2))
    assert out1.shape == (4, 3, 32, 32)
    torch.testing.assert_close(out1, out3, atol=1e-5, rtol=0)


def test_bad_inputs_raise_with_a_remedy():
    aug = augment.stack("simclr_cifar", mean=MEAN, std=STD)
    with pytest.raises(TypeError, match="uint8.*round"):
        aug(torch.rand(2, 3, 8, 8))
    with pytest.raises(ValueError, match="unsqueeze"):
        aug(random_images(1)[0])
    with pytest.raises(ValueError, match="1 or 3 channels"):
        aug(torch.zeros(2, 4, 8, 8, dtype=torch.uint8))


def test_unknown_stack_lists_choices():
    with pytest.raises(ValueError, match="simclr_cifar.*vicreg"):
        augment.stack("simclr_imagenet", mean=MEAN, std=STD)
    with pytest.raises(ValueError, match="must lie in"):
        Augment(flip_p=1.5)
    with pytest.raises(ValueError, match="padding_mode"):
        Augment(padding_mode="wrap")


# ---------------------------------------------------------------- stacks
def test_stack_settings_follow_the_papers():
    simclr = augment.stack("simclr_cifar", mean=MEAN, std=STD)
    assert simclr.crop_scale == (0.08, 1.0) and simclr.flip_p == 0.5 and simclr.blur_p == 0.0
    assert simclr.jitter == pytest.approx((0.4, 0.4, 0.4, 0.1)) and simclr.jitter_p == 0.8
    assert simclr.grey_p == 0.2
    assert augment.stack("simclr_cifar", mean=MEAN, std=STD, strength=1.5).jitter == pytest.approx(
        augment.simclr_jitter(0.75))
    assert augment.stack("simclr_cifar", mean=MEAN, std=STD, blur=True).blur_p == 0.5
    for name in ("byol", "vicreg"):
        v1, v2 = augment.pair(name, mean=MEAN, std=STD)
        assert (v1.blur_p, v2.blur_p, v1.solarize_p, v2.solarize_p) == (1.0, 0.1, 0.0, 0.2)
        assert v1.jitter == (0.4, 0.4, 0.2, 0.1) and augment.stack(name, mean=MEAN, std=STD) == v1
        assert augment.pair(name, mean=MEAN, std=STD, blur=False)[0].blur_p == 0.0
    a, b = augment.pair("simclr_cifar", mean=MEAN, std=STD)
    assert a == b
    shapes = augment.stack("shapes", mean=0.87, std=0.33)
    assert shapes.rotation_degrees == (-180.0, 180.0) and shapes.crop_scale == (0.08, 1.0)
    rotation = augment.stack("rotation", mean=0.87, std=0.33)
    assert rotation.crop_scale is None and rotation.jitter_p == 0.0
    assert dataclasses.replace(simclr, flip_p=0.0).flip_p == 0.0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_cuda_with_a_cuda_generator():
    x = random_images(8).cuda()
    aug1, aug2 = augment.pair("byol", mean=MEAN, std=STD)
    g = torch.Generator(device="cuda").manual_seed(0)
    x1, x2 = augment.views(x, aug1, aug2, g)
    assert x1.is_cuda and x1.shape == (8, 3, 32, 32)
    with pytest.raises(ValueError, match="Generator"):
        aug1(x, torch.Generator())
