"""Training throughput: labfree's on-device pipeline against the bare step and a DataLoader pipeline.

A measurement, not part of the library's API::

    python -m labfree.bench train --device cuda --batch-size 512 --encoder resnet18l --method simclr \\
        --out results/bench_train_cuda.json
    python -m labfree.bench train --device cpu --batch-size 64 --encoder small_cnn --steps 5 --threads 1

Three rates, all in *source* images per second (each source image gives two augmented views, one
for ``--method supervised``), for the same model, loss and optimiser step
(:func:`labfree.train.train_step`):

1. ``bare`` — the step alone, on one already-augmented float batch that stays on the device: the
   ceiling any input pipeline can reach;
2. ``labfree`` — :func:`labfree.train.train` itself: uint8 images on the device, a random
   permutation, per-image augmentation of each batch on the device, then the step; the rate is the
   median over epochs of the loop's own ``images_per_s`` after one warm-up epoch;

(1) and (2) take turns: a milestone callback of the training run in (2) times a block of bare
steps, as many as an epoch has, between its epochs (the loop has stopped its clock and its
prefetching thread then). A machine whose speed drifts by 10-20% within a minute (a shared cloud
CPU) slows both alike, so their ratio stays put; timed one after the other, the same drift moved
one encoder's ratio from about 1.0 to 0.88. ``pairs`` keeps each bare block's ratio to the epoch
after it.
3. ``conventional`` — what most tutorials do: PIL images, ``torchvision.transforms.v2`` applied
   image by image in a ``Dataset``, a ``DataLoader`` with ``--workers`` worker processes (pinned
   memory on CUDA), then the same step.

The augmentation is the same stack in (2) and (3): the shapes stack (SimCLR's CIFAR stack plus a
full-circle rotation) on the 28x28 shapes set (``--size 28``), SimCLR's CIFAR stack on random
32x32 RGB uint8 images (``--size 32``, CIFAR-sized). The schedule is constant, so every step costs
the same. ``--precision`` picks the precision and layout for all three: ``fp32`` (float32 in the
layout :func:`~labfree.train.train` picks: channels-last on a CPU, NCHW on CUDA), ``fp32-nchw``
(float32 in PyTorch's default NCHW layout, the baseline of a plain PyTorch loop), ``bf16`` (bf16
autocast with channels-last) or ``auto`` (bf16 where the device multiplies it natively, as
:func:`~labfree.train.train` decides);
CUDA events time a GPU (:func:`labfree.bench.timing.clock`); ``--compile`` is optional.

Cores, on a CPU: the bare step runs on ``--threads`` torch threads; labfree adds one thread that
makes the next batch while the step runs (``TrainConfig.prefetch``); the conventional pipeline adds
``--workers`` loader processes. With the defaults on a CPU (one thread, one worker) labfree and the
conventional pipeline both keep two cores busy. Results go to a JSON file with the provenance;
:mod:`labfree.bench.suite` runs the grid of encoders and precisions the performance appendix shows.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import torch

from labfree import augment, data, results, train
from labfree.optim import build_optimizer, build_scheduler
from labfree.train.batches import use_prefetch

from .augment import CIFAR_MEAN, CIFAR_STD
from .timing import clock, throughput

__all__ = ["run"]


class _RandomImages:
    """A stand-in for CIFAR-10 (no download): random uint8 RGB images with ten balanced labels."""

    def __init__(self, n: int, size: int, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.name = "random"
        self.images = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=generator)
        self.labels = torch.arange(n) % 10
        self.classes = tuple(str(c) for c in range(10))
        self.mean, self.std = CIFAR_MEAN, CIFAR_STD


def bench_dataset(size: int, n: int, seed: int) -> Any:
    """``n`` images the benchmarks train on: the shapes (``size`` 28, repeated when ``n`` asks for
    more) or random CIFAR-sized ones (32)."""
    if size == 28:
        shapes = data.load("shapes", "train", seed=seed)
        reps = -(-n // len(shapes))  # repeat the 10 000 images when more are asked for
        shapes.images, shapes.labels = shapes.images.repeat(reps, 1, 1, 1)[:n], shapes.labels.repeat(reps)[:n]
        return shapes
    return _RandomImages(n, size, seed)


def _torchvision_stack(stack: str, size: int, mean: tuple, std: tuple) -> Callable:
    """``torchvision.transforms.v2`` equivalent of a labfree stack, for one PIL image."""
    from torchvision.transforms import v2

    first = [v2.RGB()]  # grey shapes are broadcast to RGB, as labfree does
    if stack in ("shapes", "rotation"):
        first.append(v2.RandomRotation(180, fill=255))  # white background, like labfree's border mode
    crop = [] if stack == "rotation" else [
        v2.RandomResizedCrop(size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)),
        v2.RandomHorizontalFlip(0.5),
        v2.RandomApply([v2.ColorJitter(*augment.simclr_jitter(0.5))], p=0.8),
        v2.RandomGrayscale(0.2)]
    return v2.Compose([*first, *crop, v2.ToImage(), v2.ToDtype(torch.float32, scale=True),
                       v2.Normalize(mean, std)])


class _PILViews(torch.utils.data.Dataset):
    """PIL images and their labels; each item is ``(view1, view2, label)`` (one view if supervised)."""

    def __init__(self, dataset: Any, transform: Callable, two_views: bool) -> None:
        from PIL import Image

        arrays = dataset.images.permute(0, 2, 3, 1).numpy()
        self.images = [Image.fromarray(a.squeeze(-1) if a.shape[-1] == 1 else a) for a in arrays]
        self.labels = dataset.labels.tolist()
        self.transform, self.two_views = transform, two_views

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple:
        image = self.images[i]
        second = self.transform(image) if self.two_views else torch.empty(0)
        return self.transform(image), second, self.labels[i]


def _model(config: train.TrainConfig, num_classes: int, device: torch.device, total_steps: int):
    model = train.build_model(config, num_classes=num_classes).to(device)  # in the loop's layout
    optimizer = build_optimizer(config.optimizer, model, lr=config.lr, weight_decay=config.weight_decay,
                                momentum=config.momentum[1])
    scheduler = build_scheduler("constant", optimizer, total_steps, lr=config.lr, momentum=config.momentum)
    if config.compile:
        for module in (model.encoder, model.projector, model.predictor, model.classifier):
            if module is not None:
                module.compile()
    return model, optimizer, scheduler


PRECISIONS = ("auto", "fp32-nchw", "fp32", "bf16")


def run(device: str = "cpu", batch_size: int = 256, encoder: str = "resnet18l", method: str = "simclr",
        size: int = 28, steps: int = 10, repeats: int = 5, warmup: int = 3, workers: int | None = None,
        compile: bool = False, threads: int | None = None, seed: int = 0, precision: str = "auto",
        encoder_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """Measure the three rates; returns a JSON-ready record with its provenance.

    ``workers=None`` gives the conventional pipeline one loader process per core labfree keeps
    busy beyond the step (one on a CPU, two on CUDA)."""
    if size not in (28, 32):
        raise ValueError(f"size must be 28 (the shapes set) or 32 (random CIFAR-sized images); got {size}.")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}; got {precision!r}.")
    if threads is not None:
        torch.set_num_threads(threads)
    dev = torch.device(device)
    with results.timer() as wall:
        record = measure(dev, batch_size, encoder, method, size, steps, repeats, warmup, workers, compile,
                         seed, precision, encoder_kwargs or {})
    import torchvision

    record["provenance"] = results.provenance(dev, wall.seconds, torchvision=torchvision.__version__)
    return record


def bench_config(dev: torch.device, batch_size: int, encoder: str, method: str, epochs: int, compile: bool,
                 seed: int, precision: str, encoder_kwargs: dict[str, Any], dataset_name: str
                 ) -> train.TrainConfig:
    """The run every rate of one (encoder, precision) measures: constant schedule, no collapse
    check, a milestone after every epoch (the bare step's turns), resolved for ``dev``."""
    amp = "auto" if precision == "auto" else precision == "bf16"
    return train.TrainConfig(method, encoder=encoder, encoder_kwargs=encoder_kwargs, batch_size=batch_size,
                             epochs=epochs, schedule="constant", device=str(dev), compile=compile,
                             seed=seed, progress=False, collapse_threshold=0.0, amp=amp,
                             milestone_every=1,
                             channels_last=False if precision == "fp32-nchw" else "auto"
                             ).resolved(dataset_name)


def fixed_batch(config: train.TrainConfig, dataset: Any, dev: torch.device,
                seed: int) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """The first ``config.batch_size`` images of ``dataset`` augmented once with the config's
    stack, on ``dev``: views ``x1, x2`` (``x2`` is ``None`` for supervised) and labels ``y``."""
    aug1, aug2 = augment.pair(config.augment, mean=dataset.mean, std=dataset.std)
    generator = torch.Generator(dev).manual_seed(seed)
    batch = dataset.images[:config.batch_size].to(dev)
    x1 = aug1(batch, generator)
    x2 = aug2(batch, generator) if config.method != "supervised" else None
    return x1, x2, dataset.labels[:config.batch_size].to(dev)


def bare_steps(config: train.TrainConfig, dataset: Any, dev: torch.device, seed: int,
               total: int) -> Callable[[int], None]:
    """``k`` steps of the bare step: labfree's model, loss and optimiser step on one fixed
    augmented batch that stays on ``dev``; ``total`` bounds the steps all calls take together."""
    x1, x2, y = fixed_batch(config, dataset, dev, seed)
    model, optimizer, scheduler = _model(config, len(dataset.classes), dev, total)
    counter = iter(range(total))

    def steps(k: int) -> None:
        for _ in range(k):
            train.train_step(model, optimizer, scheduler, x1, x2, y, step=next(counter), total_steps=total,
                             amp=config.amp, channels_last=config.channels_last)

    return steps


def measure(dev: torch.device, batch_size: int, encoder: str, method: str, size: int, steps: int,
            repeats: int, warmup: int, workers: int | None, compile: bool, seed: int, precision: str,
            encoder_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The three rates of one (encoder, precision) on ``dev``: :func:`run` without the provenance."""
    dataset = bench_dataset(size, batch_size * steps, seed)
    config = bench_config(dev, batch_size, encoder, method, repeats + 1, compile, seed, precision,
                          encoder_kwargs, dataset.name)
    amp, channels_last = config.amp, config.channels_last
    prefetch = use_prefetch(config.prefetch, dev)
    if workers is None:
        workers = 1 if dev.type == "cpu" else 2
    two_views = method != "supervised"
    step_kw = dict(amp=amp, channels_last=channels_last)
    rates: dict[str, dict[str, Any]] = {}
    images = batch_size * steps  # source images per timed repeat

    # (1) bare step: one fixed augmented batch, already on the device
    total = (warmup + steps * repeats) * 2
    bare_block = bare_steps(config, dataset, dev, seed, total)

    bare: list[float] = []

    def bare_turn(state: train.TrainState) -> None:
        """Between labfree's epochs: the bare warm-up before the first, a timed block after each
        of the first ``repeats`` (each precedes a timed epoch: the first epoch is the warm-up)."""
        if state.epoch == 0:
            bare_block(warmup)
        elif state.epoch <= repeats:
            bare.append(clock(lambda: bare_block(steps), dev)[1])

    # (2) labfree: the training loop itself, its first epoch the warm-up, (1) between its epochs
    result = train.train(config, dataset, callbacks=[bare_turn])
    labfree = [images / h["images_per_s"] for h in result.history[1:]]
    rates["bare"], rates["labfree"] = throughput(images, bare), throughput(images, labfree)
    pairs = [b / s for b, s in zip(bare, labfree, strict=True)]  # labfree over bare, per turn
    del result
    bare_block = None  # frees the bare step's model before (3) builds its own

    # (3) conventional: PIL + torchvision.transforms per image + DataLoader workers. One sampler
    # covers every batch, so the workers never stop and restart at an epoch boundary.
    batches_needed = warmup + steps * repeats
    views = _PILViews(dataset, _torchvision_stack(config.augment, size, dataset.mean, dataset.std), two_views)
    sampler = torch.utils.data.RandomSampler(views, num_samples=batches_needed * batch_size,
                                             generator=torch.Generator().manual_seed(seed))
    loader = torch.utils.data.DataLoader(views, batch_size=batch_size, sampler=sampler, drop_last=True,
                                         num_workers=workers, pin_memory=dev.type == "cuda")
    batches = iter(loader)
    model, optimizer, scheduler = _model(config, len(dataset.classes), dev, total)
    counter = iter(range(total))

    def conventional_steps(k: int) -> None:
        for _ in range(k):
            v1, v2, labels = (t.to(dev, non_blocking=True) for t in next(batches))
            train.train_step(model, optimizer, scheduler, v1, v2 if two_views else None, labels,
                             step=next(counter), total_steps=total, **step_kw)

    conventional_steps(warmup)
    rates["conventional"] = throughput(images, [clock(lambda: conventional_steps(steps), dev)[1]
                                                for _ in range(repeats)])

    batches = None  # drops the last reference to the loader's iterator: shuts the workers down
    return {
        "benchmark": "training throughput (source images per second)",
        "method": method, "encoder": encoder, "batch_size": batch_size, "size": size,
        "data": "shapes (28x28 grey)" if size == 28 else "random uint8 RGB 32x32 (CIFAR-sized)",
        "augment": config.augment, "views_per_image": 2 if two_views else 1, "steps": steps,
        "repeats": repeats, "warmup": warmup, "workers": workers, "amp_bf16": amp,
        "precision": precision if precision != "auto" else ("bf16" if amp else "fp32"),
        "encoder_kwargs": encoder_kwargs,
        "channels_last": channels_last, "compile": compile, "threads": torch.get_num_threads(),
        "prefetch": prefetch,
        "cpu_cores_in_use": {"bare": torch.get_num_threads(),
                             "labfree": torch.get_num_threads() + int(prefetch),
                             "conventional": torch.get_num_threads() + workers},
        "rates": rates,
        "ratios": {"labfree_over_bare": rates["labfree"]["images_per_s"] / rates["bare"]["images_per_s"],
                   "labfree_over_conventional":
                       rates["labfree"]["images_per_s"] / rates["conventional"]["images_per_s"]},
        "pairs": {"labfree_over_bare": pairs},
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """This benchmark's options of ``python -m labfree.bench train``."""
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--encoder", default="resnet18l")
    parser.add_argument("--method", default="simclr", choices=train.METHOD_CHOICES)
    parser.add_argument("--size", type=int, choices=(28, 32), default=28)
    parser.add_argument("--steps", type=int, default=20, help="optimiser steps per timed repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps before (1) and (3)")
    parser.add_argument("--workers", type=int, default=None,
                        help="DataLoader workers of (3) (default: 1 on a CPU, 2 on CUDA)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="fp32 (labfree's layout), fp32-nchw, or bf16 autocast with channels-last "
                             "(auto: bf16 where native)")


def from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Run with the parsed options and print the rates; returns the record."""
    record = run(args.device, args.batch_size, args.encoder, args.method, args.size, args.steps,
                 args.repeats, args.warmup, args.workers, args.compile, args.threads, args.seed,
                 args.precision)
    for name, r in record["rates"].items():
        print(f"{name:>13}: {r['images_per_s']:>10,.0f} source images/s")
    print(f"labfree / bare = {record['ratios']['labfree_over_bare']:.2f}, labfree / conventional = "
          f"{record['ratios']['labfree_over_conventional']:.2f} ({record['provenance']['device']}, "
          f"{args.encoder}, {args.method}, batch {args.batch_size}, {args.size} px, {record['precision']})")
    return record
