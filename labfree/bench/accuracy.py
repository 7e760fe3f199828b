"""How far a training step's gradient lies from float64's, in each precision and memory layout.

A measurement, not part of the library's API::

    python -m labfree.bench accuracy --device cpu --threads 1

The throughput grid (:mod:`labfree.bench.suite`) says what each precision saves in time; this says
what it costs in accuracy. For one augmented batch and one freshly initialised model it computes
the loss's gradient with respect to every parameter in float64 (NCHW, the reference) and in each
of ``fp32-nchw``, ``fp32`` (labfree's layout: channels-last) and ``bf16`` (autocast, channels-last),
and reports the relative error :math:`\\lVert g - g_{64}\\rVert / \\lVert g_{64}\\rVert` over all
parameters together and tensor by tensor (median and worst).

Float32 rounds each operation to :math:`2^{-24} \\approx 6\\cdot10^{-8}` and bf16 to
:math:`2^{-9} \\approx 2\\cdot10^{-3}`; a backward pass through a dozen layers loses a factor of
ten or a hundred more, since batch norm's backward pass subtracts per-channel means from gradients
and keeps the small difference. How a kernel adds up its sums matters as much as the format:
a per-channel statistic of a 256 x 16 x 28 x 28 activation sums 200 704 numbers, and
:func:`batch_norm_error` measures the forward pass of batch norm alone in each layout.
"""

from __future__ import annotations

import argparse
import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from labfree import results, train

from .suite import DEFAULT_CPU, ENCODERS
from .train import bench_config, bench_dataset, fixed_batch

__all__ = ["PRECISIONS", "batch_norm_error", "gradients", "relative_errors", "run"]

#: What each row measures against float64: the precisions of :func:`labfree.bench.train.run`.
PRECISIONS = ("fp32-nchw", "fp32", "bf16")


def gradients(model: nn.Module, x1: Tensor, x2: Tensor | None, y: Tensor | None,
              amp: bool = False) -> dict[str, Tensor]:
    """``{name: gradient}`` (as float64) of the method's loss on one batch, for every parameter
    the loss reaches; the forward pass under bf16 autocast when ``amp``, as :func:`train_step`
    runs it."""
    model.zero_grad(set_to_none=True)
    with torch.autocast(x1.device.type, dtype=torch.bfloat16, enabled=amp):
        loss, _, _ = train.loss_step(model, x1, x2, y)
    loss.backward()
    return {name: p.grad.detach().double() for name, p in model.named_parameters() if p.grad is not None}


def relative_errors(grads: dict[str, Tensor], reference: dict[str, Tensor]) -> dict[str, Any]:
    """The relative distance of ``grads`` from ``reference``: over all tensors together
    (``error``), and per tensor (``median`` and ``worst``, with the worst tensor's name)."""
    if set(grads) != set(reference):
        raise ValueError(f"the gradients name other tensors than the reference: "
                         f"{sorted(set(grads) ^ set(reference))}")
    names = list(reference)
    per = {n: float((grads[n].double() - reference[n]).norm() / reference[n].norm()) for n in names}
    diff = torch.cat([(grads[n].double() - reference[n]).flatten() for n in names])
    ref = torch.cat([reference[n].flatten() for n in names])
    ordered = sorted(per.values())
    worst = max(per, key=per.get)
    return {"error": float(diff.norm() / ref.norm()), "median": ordered[len(ordered) // 2],
            "worst": per[worst], "worst_tensor": worst}


def batch_norm_error(shape: tuple[int, int, int, int] = (256, 16, 28, 28), offset: float = 1.0,
                     seed: int = 0, device: str = "cpu") -> dict[str, float]:
    """Relative error against float64 of float32 batch norm's training-mode forward pass on a
    random activation of ``shape`` (mean ``offset``, standard deviation 1), in each layout."""
    generator = torch.Generator().manual_seed(seed)
    x = (torch.randn(shape, generator=generator, dtype=torch.float64) + offset).to(device)
    reference = F.batch_norm(x, None, None, training=True)
    out = {}
    for layout, memory_format in (("nchw", torch.contiguous_format), ("channels-last", torch.channels_last)):
        y = F.batch_norm(x.float().contiguous(memory_format=memory_format), None, None, training=True)
        out[layout] = float((y.double() - reference).norm() / reference.norm())
    return out


def run(device: str = "cpu", encoders: tuple[str, ...] = DEFAULT_CPU, batch_size: int = 256,
        precisions: tuple[str, ...] = PRECISIONS, method: str = "simclr", size: int = 28,
        threads: int | None = None, seed: int = 0, progress: bool = True) -> dict[str, Any]:
    """The gradient error of each (encoder, precision) on one batch; the JSON-ready record
    (``progress``: print each row as it is measured)."""
    unknown = sorted(set(encoders) - set(ENCODERS)) + sorted(set(precisions) - set(PRECISIONS))
    if unknown:
        raise ValueError(f"unknown encoders or precisions {unknown}; choose from {sorted(ENCODERS)} "
                         f"and {list(PRECISIONS)}.")
    if threads is not None:
        torch.set_num_threads(threads)
    dev = torch.device(device)
    dataset = bench_dataset(size, batch_size, seed)
    rows = []
    with results.timer() as wall:
        for name in encoders:
            encoder, kwargs = ENCODERS[name]
            configs = {p: bench_config(dev, batch_size, encoder, method, 1, False, seed, p, kwargs,
                                       dataset.name) for p in ("fp32-nchw", *precisions)}
            torch.manual_seed(seed)  # one initialisation for every precision
            model = train.build_model(configs["fp32-nchw"], num_classes=len(dataset.classes)).to(dev)
            x1, x2, y = fixed_batch(configs["fp32-nchw"], dataset, dev, seed)
            reference = gradients(copy.deepcopy(model).double(), x1.double(),
                                  None if x2 is None else x2.double(), y)
            for precision in precisions:
                config = configs[precision]
                layout = torch.channels_last if config.channels_last else torch.contiguous_format
                views = [None if x is None else x.contiguous(memory_format=layout) for x in (x1, x2)]
                grads = gradients(copy.deepcopy(model).to(memory_format=layout), views[0], views[1], y,
                                  amp=config.amp)
                rows.append({"encoder": name, "precision": precision, "amp": config.amp,
                             "channels_last": config.channels_last, **relative_errors(grads, reference)})
                if progress:
                    print(f"{name:>13} {precision:>9}: gradient error {rows[-1]['error']:.1e} (per "
                          f"tensor: median {rows[-1]['median']:.1e}, worst {rows[-1]['worst']:.1e})",
                          flush=True)
    record = {"benchmark": "relative error of one step's gradient against float64", "method": method,
              "size": size, "batch_size": batch_size, "seed": seed, "threads": torch.get_num_threads(),
              "rows": rows, "batch_norm": batch_norm_error(device=device)}
    record["provenance"] = results.provenance(dev, wall.seconds)
    return record


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """This benchmark's options of ``python -m labfree.bench accuracy``."""
    parser.add_argument("--encoders", nargs="+", default=list(DEFAULT_CPU), choices=sorted(ENCODERS))
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--precisions", nargs="+", default=list(PRECISIONS), choices=PRECISIONS)
    parser.add_argument("--method", default="simclr")
    parser.add_argument("--size", type=int, choices=(28, 32), default=28)


def from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Run with the parsed options (it prints each row as it goes); returns the record."""
    record = run(args.device, tuple(args.encoders), args.batch_size, tuple(args.precisions), args.method,
                 args.size, args.threads, args.seed)
    bn = record["batch_norm"]
    print(f"float32 batch norm alone: error {bn['nchw']:.1e} in NCHW, {bn['channels-last']:.1e} "
          "channels-last")
    return record
