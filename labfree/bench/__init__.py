"""Benchmarks: training throughput and accuracy, augmentation throughput, the measuring instruments.

Measurements, not part of the library's API; one entry point for the six::

    python -m labfree.bench train   --device cuda --batch-size 512 --out results/bench_train_cuda.json
    python -m labfree.bench augment --device cpu --threads 1 --out results/bench_augment_cpu_epyc.json
    python -m labfree.bench metrics --threads 1 --out results/bench_metrics_cpu.json
    python -m labfree.bench suite --device cpu --threads 1 --out results/bench_train_cpu_xeon.json
    python -m labfree.bench profile --device cpu --threads 1 --out results/bench_profile_cpu_xeon.json
    python -m labfree.bench accuracy --device cpu --threads 1
    python -m labfree.bench train --help          # each benchmark's own options

- :mod:`labfree.bench.train` — labfree's on-device pipeline against the bare step and a
  ``DataLoader`` pipeline (:func:`run`);
- :mod:`labfree.bench.suite` — that comparison over the reference encoders in float32 and bf16,
  with the ratios the performance appendix holds the package to;
- :mod:`labfree.bench.profile` — where the bare step's time goes, by operator group, in float32
  and bf16;
- :mod:`labfree.bench.accuracy` — how far the step's gradient lies from float64's in each precision
  and layout;
- :mod:`labfree.bench.augment` — labfree's batched augmentation against kornia and a per-image
  torchvision loop (:func:`labfree.bench.augment.run`);
- :mod:`labfree.bench.metrics` — the label-free metrics, the probes and kNN at the book's sizes
  (:func:`labfree.bench.metrics.run`);
- :mod:`labfree.bench.timing` — the one clock they all use (CUDA events on a GPU).

``--device``, ``--threads``, ``--seed`` and ``--out`` are common to all six. Every record carries
its provenance (:func:`labfree.results.provenance`) and is written with :func:`labfree.results.write`;
``book/performance.md`` reads them from ``results/``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from labfree import results

from . import accuracy, augment, metrics, profile, suite, timing, train
from .augment import CIFAR_MEAN, CIFAR_STD, kornia_fn, labfree_fn, time_calls, torchvision_fn
from .metrics import bench_label_free, bench_probes, synthetic_features
from .timing import clock, repeat, throughput
from .train import run  # the training benchmark, as ``labfree.bench.run`` has always been

__all__ = ["main", "run", "BENCHMARKS", "clock", "repeat", "throughput", "CIFAR_MEAN", "CIFAR_STD",
           "labfree_fn", "kornia_fn", "torchvision_fn", "time_calls", "synthetic_features",
           "bench_label_free", "bench_probes", "accuracy", "augment", "metrics", "profile", "suite", "timing",
           "train"]

BENCHMARKS = {"train": train, "suite": suite, "profile": profile, "accuracy": accuracy, "augment": augment,
              "metrics": metrics}


def parser() -> argparse.ArgumentParser:
    """The command line: one sub-command per benchmark, with the common options on each."""
    top = argparse.ArgumentParser(prog="python -m labfree.bench", description=__doc__.splitlines()[0])
    commands = top.add_subparsers(dest="benchmark", required=True, metavar="{" + ",".join(BENCHMARKS) + "}")
    for name, module in BENCHMARKS.items():
        sub = commands.add_parser(name, help=module.__doc__.splitlines()[0], description=module.__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        sub.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
        sub.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
        sub.add_argument("--seed", type=int, default=0)
        sub.add_argument("--out", type=Path, default=None, help="write the JSON record here")
        module.add_arguments(sub)
    return top


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark named on the command line; print its summary, write its record to ``--out``."""
    args = parser().parse_args(argv)
    record = BENCHMARKS[args.benchmark].from_args(args)
    if args.out is not None:
        print(f"wrote {results.write(record, args.out)}")
    return record
