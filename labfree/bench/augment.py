"""Throughput of three ways to augment a batch: labfree's batched ops, kornia, torchvision per image.

A measurement, not part of the library's API. It times one augmentation stack on random ``uint8``
batches and writes images per second (median of several timed repeats after warm-up) with the
device, library versions and date to a JSON file::

    python -m labfree.bench augment --device cpu --batch-size 256 --size 32 --threads 1 --out bench.json
    python -m labfree.bench augment --device cuda --batch-size 512 --size 32 --out results/bench_gpu.json

Implementations of the same stack (SimCLR's CIFAR stack by default; ``--stack byol`` times BYOL's
two asymmetric views, with blur and solarisation):

- ``labfree`` — :mod:`labfree.augment`: per-image parameters, one affine warp, batched colour maths;
- ``kornia`` — the equivalent ``kornia.augmentation`` pipeline on the float batch (needs ``kornia``);
- ``torchvision_loop`` — ``torchvision.transforms.v2`` applied image by image in a Python loop, the
  way a ``Dataset.__getitem__`` does it, then stacked.

Every timed call includes the uint8-to-float conversion and normalisation. On CUDA the clock is
read with CUDA events after a synchronise, so queued kernels are counted
(:func:`labfree.bench.timing.clock`). The images are normalised with CIFAR-10's statistics,
``CIFAR_MEAN`` and ``CIFAR_STD`` here (labfree.data's), which the training benchmark shares.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch

from labfree import augment, results
from labfree.data.files import _CIFAR10_MEAN, _CIFAR10_STD

from .timing import repeat, throughput

__all__ = ["run", "labfree_fn", "kornia_fn", "torchvision_fn", "time_calls", "CIFAR_MEAN", "CIFAR_STD",
           "BENCH_STACKS", "METHODS"]

CIFAR_MEAN, CIFAR_STD = _CIFAR10_MEAN, _CIFAR10_STD  # the one copy the benchmarks use
BENCH_STACKS = ("simclr_cifar", "byol")
METHODS = ("labfree", "kornia", "torchvision_loop")


def labfree_fn(stack: str, size: int, generator: torch.Generator) -> Callable:
    aug1, aug2 = augment.pair(stack, mean=CIFAR_MEAN, std=CIFAR_STD, size=size)
    if stack == "simclr_cifar":
        return lambda x: aug1(x, generator)
    return lambda x: augment.views(x, aug1, aug2, generator)


def kornia_fn(stack: str, size: int, device: torch.device) -> Callable:
    import kornia.augmentation as K

    def pipeline(blur_p: float, solarize_p: float, jitter: tuple[float, ...]) -> torch.nn.Module:
        steps = [K.RandomResizedCrop((size, size), scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)),
                 K.RandomHorizontalFlip(p=0.5),
                 K.ColorJitter(*jitter, p=0.8),
                 K.RandomGrayscale(p=0.2)]
        if blur_p > 0:
            k = augment._default_kernel_size(size, size)
            steps.append(K.RandomGaussianBlur((k, k), sigma=(0.1, 2.0), p=blur_p))
        if solarize_p > 0:  # a fixed threshold of 0.5, as BYOL
            steps.append(K.RandomSolarize(thresholds=0.0, additions=0.0, p=solarize_p))
        steps.append(K.Normalize(mean=torch.tensor(CIFAR_MEAN), std=torch.tensor(CIFAR_STD)))
        return K.AugmentationSequential(*steps).to(device)

    if stack == "simclr_cifar":
        aug = pipeline(0.0, 0.0, augment.simclr_jitter(0.5))
        return lambda x: aug(x.float().div_(255))
    aug1, aug2 = pipeline(1.0, 0.0, (0.4, 0.4, 0.2, 0.1)), pipeline(0.1, 0.2, (0.4, 0.4, 0.2, 0.1))

    def two_views(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xf = x.float().div_(255)
        return aug1(xf), aug2(xf)
    return two_views


def torchvision_fn(stack: str, size: int) -> Callable:
    from torchvision.transforms import v2

    def pipeline(blur_p: float, solarize_p: float, jitter: tuple[float, ...]) -> v2.Compose:
        steps = [v2.RandomResizedCrop(size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), antialias=True),
                 v2.RandomHorizontalFlip(p=0.5),
                 v2.RandomApply([v2.ColorJitter(*jitter)], p=0.8),
                 v2.RandomGrayscale(p=0.2)]
        if blur_p > 0:
            k = augment._default_kernel_size(size, size)
            steps.append(v2.RandomApply([v2.GaussianBlur(k, sigma=(0.1, 2.0))], p=blur_p))
        if solarize_p > 0:
            steps.append(v2.RandomSolarize(threshold=128, p=solarize_p))  # uint8 scale
        steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(CIFAR_MEAN, CIFAR_STD)]
        return v2.Compose(steps)

    if stack == "simclr_cifar":
        aug = pipeline(0.0, 0.0, augment.simclr_jitter(0.5))
        return lambda x: torch.stack([aug(image) for image in x])
    aug1, aug2 = pipeline(1.0, 0.0, (0.4, 0.4, 0.2, 0.1)), pipeline(0.1, 0.2, (0.4, 0.4, 0.2, 0.1))
    return lambda x: (torch.stack([aug1(image) for image in x]), torch.stack([aug2(image) for image in x]))


def time_calls(fn: Callable, x: torch.Tensor, *, warmup: int, repeats: int) -> list[float]:
    """Seconds per call of ``fn(x)``, ``repeats`` times after ``warmup`` untimed calls, on ``x``'s device."""
    return repeat(lambda: fn(x), x.device, warmup=warmup, repeats=repeats)


def run(device: str = "cpu", batch_size: int = 256, size: int = 32, stack: str = "simclr_cifar",
        threads: int | None = None, warmup: int = 3, repeats: int = 10,
        methods: tuple[str, ...] = METHODS, seed: int = 0) -> dict:
    """Time ``methods`` on one random uint8 batch; returns a JSON-ready record with its provenance."""
    if stack not in BENCH_STACKS:
        raise ValueError(f"unknown stack {stack!r}; choose one of {BENCH_STACKS}")
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ValueError(f"unknown methods {sorted(unknown)}; choose from {METHODS}")
    if threads is not None:
        torch.set_num_threads(threads)
    dev = torch.device(device)
    generator = torch.Generator(device=dev).manual_seed(seed)
    x = torch.randint(0, 256, (batch_size, 3, size, size), dtype=torch.uint8, device=dev,
                      generator=generator)
    builders = {"labfree": lambda: labfree_fn(stack, size, generator),
                "kornia": lambda: kornia_fn(stack, size, dev),
                "torchvision_loop": lambda: torchvision_fn(stack, size)}
    numbers = {}
    with results.timer() as wall:
        for method in methods:
            try:
                fn = builders[method]()
            except ImportError as error:
                numbers[method] = {"skipped": f"{error}; pip install kornia to time it"}
                continue
            with torch.no_grad():
                numbers[method] = throughput(batch_size, time_calls(fn, x, warmup=warmup, repeats=repeats))
    versions = {}
    for module in ("torchvision", "kornia"):
        try:
            versions[module] = __import__(module).__version__
        except ImportError:
            versions[module] = None
    return {
        "benchmark": "augmentation throughput",
        "stack": stack + (" (two views per call)" if stack == "byol" else ""),
        "batch_size": batch_size, "size": size, "threads": torch.get_num_threads(),
        "warmup": warmup, "repeats": repeats,
        "provenance": results.provenance(dev, wall.seconds, **versions),
        "results": numbers,
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """This benchmark's options of ``python -m labfree.bench augment``."""
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--stack", choices=BENCH_STACKS, default="simclr_cifar")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))


def from_args(args: argparse.Namespace) -> dict:
    """Run with the parsed options and print the rates; returns the record."""
    record = run(args.device, args.batch_size, args.size, args.stack, args.threads, args.warmup,
                 args.repeats, tuple(args.methods), args.seed)
    for method, r in record["results"].items():
        shown = f"{r['images_per_s']:>12,.0f} images/s" if "images_per_s" in r else r["skipped"]
        print(f"{method:>17}: {shown}")
    print(f"({record['provenance']['device']}, batch {args.batch_size}, {args.size} px, "
          f"{record['stack']})")
    return record
