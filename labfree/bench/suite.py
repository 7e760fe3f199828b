"""The training-throughput grid: every reference encoder in float32 and in bf16, in one run.

A measurement, not part of the library's API::

    python -m labfree.bench suite --device cpu --threads 1 --out results/bench_train_cpu_xeon.json
    python -m labfree.bench suite --device cuda --encoders resnet18l --batch-size 512 1024 \\
        --precisions bf16 --compile --out results/bench_train_cuda.json

For each (encoder, batch size, precision) it measures the three rates of :mod:`labfree.bench.train`
(the bare step and labfree's pipeline in turns, then the conventional ``DataLoader`` pipeline) in
the same process, so the grid shares one machine state, and derives the two ratios the performance
appendix holds the package to:

* ``labfree_over_bare`` — the input pipeline's cost: the target is at least 0.9;
* ``bf16_over_fp32`` — per encoder and batch size, labfree's rate in bf16 over its rate in
  float32 (where both precisions were measured): the target on a CPU with native bf16 is at
  least 2. Float32 is labfree's float32, channels-last on a CPU; where the grid also measured
  ``fp32-nchw`` (PyTorch's default layout, what a plain loop gets), the entry adds bf16's and
  labfree float32's rates over it (``bf16_over_fp32_nchw``, ``fp32_over_fp32_nchw``).

The record states whether each target was met; it never asserts it.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import torch

from labfree import precision, results

from .train import PRECISIONS, measure

__all__ = ["ENCODERS", "TARGETS", "run"]

#: The encoders of the chapters' reference profiles (name: (encoder, its keyword arguments)).
ENCODERS: dict[str, tuple[str, dict[str, Any]]] = {
    "small_cnn-16": ("small_cnn", {"width": 16, "out_dim": 128}),
    "small_cnn-32": ("small_cnn", {"width": 32, "out_dim": 128}),
    "small_vgg-16": ("small_vgg", {"width": 16, "out_dim": 128}),
    "resnet18l": ("resnet18l", {}),
}
DEFAULT_CPU = ("small_cnn-16", "small_cnn-32", "small_vgg-16")
TARGETS = {"labfree_over_bare": 0.9, "bf16_over_fp32": 2.0}


def run(device: str = "cpu", encoders: tuple[str, ...] = DEFAULT_CPU, batch_sizes: tuple[int, ...] = (256,),
        precisions: tuple[str, ...] = ("fp32-nchw", "fp32", "bf16"), method: str = "simclr", size: int = 28,
        steps: int = 8, repeats: int = 4, warmup: int = 3, workers: int | None = None,
        compile: bool = False, threads: int | None = None, seed: int = 0,
        progress: bool = True) -> dict[str, Any]:
    """Measure the grid; returns the JSON-ready record (runs, ratios, targets, provenance)."""
    unknown = sorted(set(encoders) - set(ENCODERS))
    if unknown:
        raise ValueError(f"unknown encoders {unknown}; choose from {sorted(ENCODERS)}.")
    if threads is not None:
        torch.set_num_threads(threads)
    dev = torch.device(device)
    runs = []
    grid = [(e, b, p) for e in encoders for b in batch_sizes for p in precisions]
    with results.timer() as wall:
        for k, (name, batch_size, prec) in enumerate(grid, 1):
            encoder, kwargs = ENCODERS[name]
            run_record = measure(dev, batch_size, encoder, method, size, steps, repeats, warmup, workers,
                                 compile, seed, prec, kwargs)
            run_record["name"] = name
            runs.append(run_record)
            if progress:
                rates = run_record["rates"]
                print(f"[{k}/{len(grid)}] {name:>13} batch {batch_size:>4} {run_record['precision']}: "
                      + ", ".join(f"{key} {r['images_per_s']:,.0f}" for key, r in rates.items())
                      + " source images/s", flush=True)
    import torchvision

    record = {"benchmark": "training throughput grid (source images per second)", "method": method,
              "size": size, "device_bf16_native": precision.bf16_native(dev), "runs": runs}
    record.update(summarise(runs))
    record["provenance"] = results.provenance(dev, wall.seconds, torchvision=torchvision.__version__)
    return record


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The ratios of a grid's runs and whether each meets its target."""
    rows = []
    for r in runs:
        rows.append({"encoder": r["name"], "batch_size": r["batch_size"], "precision": r["precision"],
                     **{k: v["images_per_s"] for k, v in r["rates"].items()},
                     "labfree_over_bare": r["ratios"]["labfree_over_bare"],
                     "labfree_over_conventional": r["ratios"]["labfree_over_conventional"]})
    speedups = []
    for row in rows:
        if row["precision"] != "bf16":
            continue
        same = {r["precision"]: r for r in rows
                if r["encoder"] == row["encoder"] and r["batch_size"] == row["batch_size"]}
        if "fp32" in same:
            fp32 = same["fp32"]
            entry = {"encoder": row["encoder"], "batch_size": row["batch_size"],
                     "bf16_over_fp32": row["labfree"] / fp32["labfree"],
                     "bare_bf16_over_fp32": row["bare"] / fp32["bare"]}
            if "fp32-nchw" in same:
                entry["bf16_over_fp32_nchw"] = row["labfree"] / same["fp32-nchw"]["labfree"]
                entry["fp32_over_fp32_nchw"] = fp32["labfree"] / same["fp32-nchw"]["labfree"]
            speedups.append(entry)
    met = {"labfree_over_bare": all(r["labfree_over_bare"] >= TARGETS["labfree_over_bare"] for r in rows)}
    if speedups:
        met["bf16_over_fp32"] = all(s["bf16_over_fp32"] >= TARGETS["bf16_over_fp32"] for s in speedups)
    return {"table": rows, "bf16_speedup": speedups, "targets": dict(TARGETS), "targets_met": met}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """This benchmark's options of ``python -m labfree.bench suite``."""
    parser.add_argument("--encoders", nargs="+", default=list(DEFAULT_CPU), choices=sorted(ENCODERS))
    parser.add_argument("--batch-size", type=int, nargs="+", default=[256])
    grid = [p for p in PRECISIONS if p != "auto"]  # the grid names each precision it measures
    parser.add_argument("--precisions", nargs="+", default=grid, choices=grid)
    parser.add_argument("--method", default="simclr")
    parser.add_argument("--size", type=int, choices=(28, 32), default=28)
    parser.add_argument("--steps", type=int, default=8, help="optimiser steps per timed repeat")
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None,
                        help="DataLoader workers (default: 1 on a CPU, 2 on CUDA)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")


def from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Run with the parsed options and print the ratios; returns the record."""
    record = run(args.device, tuple(args.encoders), tuple(args.batch_size), tuple(args.precisions),
                 args.method, args.size, args.steps, args.repeats, args.warmup, args.workers, args.compile,
                 args.threads, args.seed)
    for row in record["table"]:
        print(f"{row['encoder']:>13} batch {row['batch_size']:>4} {row['precision']}: labfree / bare = "
              f"{row['labfree_over_bare']:.2f}, "
              f"labfree / conventional = {row['labfree_over_conventional']:.2f}")
    for s in record["bf16_speedup"]:
        print(f"{s['encoder']:>13} batch {s['batch_size']:>4}: bf16 / fp32 = {s['bf16_over_fp32']:.2f} "
              f"(bare step {s['bare_bf16_over_fp32']:.2f})"
              + (f", bf16 / fp32 NCHW = {s['bf16_over_fp32_nchw']:.2f}, fp32 / fp32 NCHW = "
                 f"{s['fp32_over_fp32_nchw']:.2f}" if "bf16_over_fp32_nchw" in s else ""))
    print("targets met:", json.dumps(record["targets_met"]))
    return record
