"""Where a training step's time goes, by kind of operator, in float32 and in bf16.

A measurement, not part of the library's API::

    python -m labfree.bench profile --device cpu --threads 1 --out results/bench_profile_cpu_xeon.json

The throughput grid (:mod:`labfree.bench.suite`) says how much faster bf16 makes a step; this says
why it is not faster still. For each encoder and precision it times the bare step
(:func:`labfree.bench.train.bare_steps`: the same model, loss and optimiser step as the training
loop, on one augmented batch), then runs a few more steps under ``torch.profiler`` and adds up
the self time of every ATen operator, in groups that behave alike: the convolutions and matrix
products, which bf16's dot products (AVX-512-BF16, AMX tiles) speed up, and the memory-bound
rest (batch norm, ReLU, pooling, dtype casts, the optimiser's element-wise updates), which moves
half the bytes in bf16 but computes in float32 on a CPU.

The profiler's own cost inflates small operators, so the groups are given as shares of the
profiled time and, scaled by those shares, as milliseconds of the unprofiled step.
"""

from __future__ import annotations

import argparse
from typing import Any

import torch
from torch.profiler import ProfilerActivity
from torch.profiler import profile as torch_profile

from labfree import results

from .suite import DEFAULT_CPU, ENCODERS
from .timing import repeat
from .train import bare_steps, bench_config, bench_dataset

__all__ = ["GROUPS", "MEMORY_BOUND", "gain_if_halved", "group_of", "run", "speedups"]

#: Operator groups, in the order the appendix stacks them: (group, substrings of ATen names).
#: The first group whose substring an operator's name contains takes it.
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("convolution", ("convolution",)),
    ("matrix product", ("::mm", "::addmm", "::bmm", "::matmul", "::linear")),
    ("batch norm", ("batch_norm",)),
    ("ReLU", ("relu", "threshold", "clamp_min")),
    ("pooling", ("pool",)),
    ("casts and copies", ("::copy_", "::_to_copy", "::to", "::contiguous", "::clone")),
)
OTHER = "other (optimiser, loss, fills)"
#: The groups whose time is set by the bytes they move, not by arithmetic.
MEMORY_BOUND = ("batch norm", "ReLU", "pooling")


def group_of(name: str) -> str:
    """The group of an operator named ``name`` (``aten::mkldnn_convolution`` → ``convolution``)."""
    for group, parts in GROUPS:
        if any(part in name for part in parts):
            return group
    return OTHER


def profile_step(step: Any, steps: int) -> dict[str, float]:
    """Self CPU milliseconds per step of each group, over ``steps`` profiled calls of ``step(1)``."""
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        step(steps)
    totals = {group: 0.0 for group, _ in GROUPS} | {OTHER: 0.0}
    for event in prof.key_averages():
        if event.key.startswith("aten::"):  # the kernels; Python-level ranges would count twice
            totals[group_of(event.key)] += event.self_cpu_time_total / 1000 / steps
    return totals


def run(device: str = "cpu", encoders: tuple[str, ...] = DEFAULT_CPU, batch_size: int = 256,
        precisions: tuple[str, ...] = ("fp32", "bf16"), method: str = "simclr", size: int = 28,
        steps: int = 8, repeats: int = 3, warmup: int = 3, profiled: int = 3, threads: int | None = None,
        seed: int = 0) -> dict[str, Any]:
    """Time and profile the bare step of each (encoder, precision); returns the JSON-ready record."""
    unknown = sorted(set(encoders) - set(ENCODERS))
    if unknown:
        raise ValueError(f"unknown encoders {unknown}; choose from {sorted(ENCODERS)}.")
    dev = torch.device(device)
    if dev.type != "cpu":
        raise ValueError(f"the profile adds up CPU operators' own time, which on {dev.type} is the time "
                         "to launch kernels; profile a GPU with torch.profiler's CUDA activity instead.")
    if threads is not None:
        torch.set_num_threads(threads)
    dataset = bench_dataset(size, batch_size, seed)
    rows = []
    with results.timer() as wall:
        for name in encoders:
            encoder, kwargs = ENCODERS[name]
            for precision in precisions:
                config = bench_config(dev, batch_size, encoder, method, 1, False, seed, precision, kwargs,
                                     dataset.name)
                step = bare_steps(config, dataset, dev, seed, warmup + steps * repeats + profiled)
                step(warmup)
                seconds = repeat(lambda step=step: step(steps), dev, repeats=repeats)
                ms = 1000 * min(seconds) / steps  # the least disturbed block
                groups = profile_step(step, profiled)
                profiled_ms = sum(groups.values())
                rows.append({"encoder": name, "precision": precision, "ms_per_step": ms,
                             "profiled_ms_per_step": profiled_ms,
                             "share": {g: v / profiled_ms for g, v in groups.items()},
                             "ms": {g: ms * v / profiled_ms for g, v in groups.items()}})
                print(f"{name:>13} {precision:>9}: {ms:6.1f} ms/step; " + ", ".join(
                    f"{g} {100 * v / profiled_ms:.0f}%" for g, v in groups.items()), flush=True)
    record = {"benchmark": "where the bare training step's time goes (self CPU time by operator group)",
              "method": method, "size": size, "batch_size": batch_size, "steps": steps,
              "repeats": repeats, "warmup": warmup, "profiled_steps": profiled,
              "threads": torch.get_num_threads(), "groups": [g for g, _ in GROUPS] + [OTHER],
              "rows": rows, "speedup": speedups(rows)}
    record["provenance"] = results.provenance(dev, wall.seconds)
    return record


def _fp32_bf16(rows: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The (float32, bf16) rows of every encoder profiled in both, in the rows' order."""
    fp32 = {r["encoder"]: r for r in rows if r["precision"] == "fp32"}
    return [(fp32[r["encoder"]], r) for r in rows if r["precision"] == "bf16" and r["encoder"] in fp32]


def speedups(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per encoder: bf16's speed-up of the whole step and of each group over float32."""
    return [{"encoder": bf16["encoder"], "step": fp32["ms_per_step"] / bf16["ms_per_step"],
             **{g: fp32["ms"][g] / ms for g, ms in bf16["ms"].items() if ms > 0}}
            for fp32, bf16 in _fp32_bf16(rows)]


def gain_if_halved(rows: list[dict[str, Any]], groups: tuple[str, ...] = MEMORY_BOUND) -> dict[str, float]:
    """Per encoder: bf16's speed-up of the step had bf16 run ``groups`` in (at most) half their
    float32 time.

    bf16 halves the bytes, so half the float32 time is the most a bf16 kernel of a memory-bound
    operator can reach without fusing operators (fewer passes over the activations): the result
    bounds what better bf16 kernels for ``groups`` alone could give.
    """
    out = {}
    for fp32, bf16 in _fp32_bf16(rows):
        halved = sum(min(ms, fp32["ms"].get(g, 0.0) / 2) if g in groups else ms
                     for g, ms in bf16["ms"].items())
        out[bf16["encoder"]] = sum(fp32["ms"].values()) / halved
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """This benchmark's options of ``python -m labfree.bench profile``."""
    parser.add_argument("--encoders", nargs="+", default=list(DEFAULT_CPU), choices=sorted(ENCODERS))
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"],
                        choices=["fp32-nchw", "fp32", "bf16"])
    parser.add_argument("--method", default="simclr")
    parser.add_argument("--size", type=int, choices=(28, 32), default=28)
    parser.add_argument("--steps", type=int, default=8, help="steps per timed block")
    parser.add_argument("--repeats", type=int, default=3, help="timed blocks (the fastest is kept)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--profiled", type=int, default=3, help="steps under the profiler")


def from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Run with the parsed options (it prints each row as it goes); returns the record."""
    record = run(args.device, tuple(args.encoders), args.batch_size, tuple(args.precisions), args.method,
                 args.size, args.steps, args.repeats, args.warmup, args.profiled, args.threads, args.seed)
    for s in record["speedup"]:
        print(f"{s['encoder']:>13}: bf16 / fp32 = {s['step']:.2f} for the step; " + ", ".join(
            f"{g} {v:.2f}" for g, v in s.items() if g not in ("encoder", "step")))
    return record
