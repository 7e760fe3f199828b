"""The GPU check: everything a short GPU lease should measure, in one command, within a time budget.

    python -m tools.gpu_check --out results/                # on a CUDA machine: about 8 minutes
    python -m tools.gpu_check --tiny --out /tmp/gpu_check   # the same code path on a CPU, in seconds

In order, most important first, each step writing its record as soon as it is done (so a lease cut
short keeps what finished):

1. ``bench_train_cuda.json`` — the training benchmark (:mod:`labfree.bench.suite`): ResNet-18L with
   SimCLR at batch 512 and 1024, bf16 autocast, channels-last and ``torch.compile``, labfree's
   pipeline against the bare step and the conventional ``DataLoader`` pipeline. Targets: labfree
   at least 0.9x the bare step and at least 15x the conventional pipeline.
2. ``gpu_<run>.json`` — full-profile runs on the 10 000 training shapes, each trained and then
   probed on the 2 000 test shapes with the book's L-BFGS probe, in the order of :data:`RUNS`
   (SimCLR for 200 epochs first). A run starts only if its estimated time — its number of images
   over the benchmark's measured rate, plus a minute for compilation and the probe — fits in
   what is left of ``--budget`` seconds; the others are listed as skipped in ``gpu_check.json``.

``--tiny`` swaps in a width-8 CNN, 512 images, two epochs and a one-step benchmark on whatever
device there is: the test suite runs it on the CPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from labfree import data, evaluation, results, train
from labfree.bench import suite

#: The full-profile runs, most important first: (record name, TrainConfig keyword arguments).
RUNS: list[tuple[str, dict[str, Any]]] = [
    ("simclr_resnet18l_200", dict(method="simclr", loss_kwargs={"temperature": 0.5})),
    ("byol_resnet18l_200", dict(method="byol")),
    ("vicreg_resnet18l_200", dict(method="vicreg", lr=3.0)),
    ("barlow_twins_resnet18l_200", dict(method="barlow_twins", lr=3.0)),
]
FULL = dict(encoder="resnet18l", epochs=200, batch_size=512, compile=True)
TINY = dict(encoder="small_cnn", encoder_kwargs={"width": 8, "out_dim": 32},
            projector_kwargs={"hidden_dim": 64, "out_dim": 32},
            predictor_kwargs={"hidden_dim": 64, "out_dim": 32}, epochs=2, batch_size=128, compile=False)
OVERHEAD_S = 60  # compilation, embedding and the probe, per run (estimate)


def benchmark(device: str, tiny: bool) -> dict[str, Any]:
    """Step 1: the training benchmark (ResNet-18L, SimCLR, batch 512 and 1024, bf16, compiled)."""
    if tiny:
        return suite.run(device, encoders=("small_cnn-16",), batch_sizes=(16,), precisions=("bf16",),
                         steps=1, repeats=1, warmup=0, workers=0, progress=False)
    return suite.run(device, encoders=("resnet18l",), batch_sizes=(512, 1024), precisions=("bf16",),
                     steps=20, repeats=5, warmup=10, compile=True)


def full_run(name: str, kwargs: dict[str, Any], device: str, tiny: bool, seed: int = 0) -> dict[str, Any]:
    """Step 2, one run: train on the shapes, probe the encoder; the record with its provenance."""
    n = 512 if tiny else None
    shapes = data.load("shapes", "train", n=n, seed=seed)
    test = data.load("shapes", "test", n=256 if tiny else None, seed=seed)
    settings = {**(TINY if tiny else FULL), **kwargs, "device": device, "seed": seed, "progress": not tiny}
    config = train.TrainConfig(**settings)
    with results.timer() as wall:
        result = train.train(config, shapes)
        accuracy = evaluation.probe(result.model.encoder, shapes, test, device=device).accuracy
    return {"name": name, "settings": {k: v for k, v in settings.items() if k != "progress"},
            "probe_accuracy": float(accuracy), "loss": [h["loss"] for h in result.history],
            "images_per_s": [h["images_per_s"] for h in result.history],
            "provenance": results.provenance(torch.device(device), wall.seconds)}


def estimate_s(rate: float, tiny: bool) -> float:
    """Seconds a run of :data:`RUNS` should take at ``rate`` source images per second (the
    benchmark's); every run has the same length, data set and batch size."""
    epochs = (TINY if tiny else FULL)["epochs"]
    images = (512 if tiny else 10_000) * epochs
    return images / rate + (0 if tiny else OVERHEAD_S)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m tools.gpu_check", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=results.results_dir())
    parser.add_argument("--budget", type=float, default=480, help="seconds for the whole check")
    parser.add_argument("--tiny", action="store_true", help="a seconds-long version (any device)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    if not args.tiny and args.device != "cuda":
        parser.error("the full check needs a CUDA device; on a CPU run it with --tiny")
    start = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"device": args.device, "tiny": args.tiny, "budget_s": args.budget,
                               "done": [], "skipped": []}

    def save(record: dict[str, Any], name: str) -> None:
        results.write(record, args.out / f"{name}.json")
        summary["done"].append(name)
        results.write(summary, args.out / "gpu_check.json")
        print(f"[{time.perf_counter() - start:5.0f} s] wrote {args.out / name}.json", flush=True)

    bench = benchmark(args.device, args.tiny)
    save(bench, "bench_train_tiny" if args.tiny else "bench_train_cuda")
    # labfree's rate at the runs' batch size, the benchmark's smallest
    rate = min(bench["table"], key=lambda row: row["batch_size"])["labfree"]
    for name, kwargs in RUNS:
        left = args.budget - (time.perf_counter() - start)
        need = estimate_s(rate, args.tiny)
        if need > left:
            summary["skipped"].append({"run": name, "estimated_s": round(need), "left_s": round(left)})
            print(f"skip {name}: needs about {need:.0f} s, {left:.0f} s left", flush=True)
            continue
        record = full_run(name, kwargs, args.device, args.tiny)
        save(record, f"tiny_{kwargs['method']}" if args.tiny else f"gpu_{name}")
        print(f"  {name}: probe accuracy {record['probe_accuracy']:.3f}, "
              f"{record['provenance']['wall_time_s']:.0f} s", flush=True)
    summary["wall_time_s"] = time.perf_counter() - start
    results.write(summary, args.out / "gpu_check.json")
    print(json.dumps({k: summary[k] for k in ("done", "skipped", "wall_time_s")}, indent=1))
    return summary


if __name__ == "__main__":
    main(sys.argv[1:])
