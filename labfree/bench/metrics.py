"""Benchmark the measuring instruments at the sizes the book uses.

    python -m labfree.bench metrics --out results/bench_metrics_cpu.json
    python -m labfree.bench metrics --quick            # small sizes, a smoke test

On a CPU shared with other work add ``--threads 1``: the committed CPU numbers used it, because two
threads that wait for each other at every small operation were up to ten times slower there.

Times, on synthetic features with a realistic structure (class clusters on top of a power-law
spectrum):

* every label-free metric of :func:`labfree.metrics.label_free_metrics` for 10 000 x 512 test
  embeddings (the CIFAR test set through a ResNet-18), step by step, with the first UMAP fit in the
  process (numba compilation or cache loading included) separated from a second one;
* the Adam linear probe (100 epochs) and the L-BFGS probe on 50 000 x 512 training features;
* the weighted kNN classifier for 10 000 queries against 50 000 references (k = 200).

The JSON output records the sizes, every timing in seconds, the metric values (so a run that is fast
but wrong is visible) and the provenance (device, commit, date, library versions).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from labfree import metrics as M
from labfree import results

from .timing import clock

__all__ = ["run", "synthetic_features", "bench_label_free", "bench_probes", "PARTS"]

PARTS = ("label_free", "probes")


def synthetic_features(n: int, dim: int, n_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian classes whose noise has covariance spectrum k^-1 (alpha = 1), in a random basis.

    Class means follow the same spectrum at 0.15 of the noise scale per direction: summed over 512
    directions that is a Mahalanobis distance of about 0.15 * sqrt(2 * 512) = 4.8 between two
    classes, so a linear probe reaches about 93 % (cosine kNN much less) rather than a trivial 100 %.
    """
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    scale = np.arange(1, dim + 1) ** -0.5
    means = rng.normal(size=(n_classes, dim)) * scale * 0.15
    y = rng.integers(0, n_classes, n)
    noise = rng.normal(size=(n, dim)) * scale
    return ((means[y] + noise) @ basis.T).astype(np.float32), y


def bench_label_free(n: int, dim: int, n_classes: int, seed: int, device: torch.device,
                     parallel_umap: bool) -> dict[str, Any]:
    h, y = synthetic_features(n, dim, n_classes, seed)

    def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
        return clock(fn, device)

    cache = os.environ.get("NUMBA_CACHE_DIR")
    warm_cache = bool(cache) and Path(cache).is_dir() and any(Path(cache).rglob("*.nbi"))
    t: dict[str, float] = {}
    _, t["import_umap"] = _timed(lambda: __import__("umap"))
    z3, t["umap_first_fit"] = _timed(lambda: M.reduce(h, seed=seed))
    z3_again, t["umap_second_fit"] = _timed(lambda: M.reduce(h, seed=seed))
    if parallel_umap:
        _, t["umap_unseeded_parallel_fit"] = _timed(lambda: M.reduce(h, seed=None))
    c1, t["cosine_kmeans_c1"] = _timed(lambda: M.cosine_kmeans(z3, n_classes, seed))
    c2, t["cosine_kmeans_c2"] = _timed(lambda: M.cosine_kmeans(z3, 2 * n_classes, seed))
    _, t["ami_both"] = _timed(lambda: (M.ami(c1, c2), M.ami(c1, y)))
    _, t["silhouettes_c1_and_gt"] = _timed(lambda: M._silhouettes(
        h, [c1, y], metric="euclidean", sample_size=10_000, seed=seed, device=device))
    _, t["histogram_entropy"] = _timed(lambda: M.histogram_entropy(z3))
    _, t["alpha"] = _timed(lambda: M.alpha(h))
    _, t["effective_rank"] = _timed(lambda: M.effective_rank(h))
    record, t["label_free_metrics_call"] = _timed(
        lambda: M.label_free_metrics(h, y, seed=seed, device=device))
    steps = ("cosine_kmeans_c1", "cosine_kmeans_c2", "ami_both", "silhouettes_c1_and_gt",
             "histogram_entropy", "alpha", "effective_rank")
    return {
        "n": n, "dim": dim, "n_classes": n_classes,
        "numba_cache_dir": cache, "numba_cache_was_warm": warm_cache,
        "umap_deterministic": bool(np.array_equal(z3, z3_again)),
        "seconds": {k: round(v, 3) for k, v in t.items()},
        "seconds_all_steps_but_umap": round(sum(t[k] for k in steps), 3),
        "values": record,
    }


def bench_probes(n_train: int, n_test: int, dim: int, n_classes: int, seed: int,
                 device: torch.device) -> dict[str, Any]:
    x, y = synthetic_features(n_train + n_test, dim, n_classes, seed)
    xtr, ytr, xte, yte = x[:n_train], y[:n_train], x[n_train:], y[n_train:]
    # features live on the device before timing starts, as they do after embed(keep_on_device=True)
    xtr_t, xte_t = torch.from_numpy(xtr).to(device), torch.from_numpy(xte).to(device)
    out: dict[str, Any] = {"n_train": n_train, "n_test": n_test, "dim": dim, "n_classes": n_classes}
    for name, fn in [
        ("linear_probe_adam_100_epochs", lambda: M.linear_probe(xtr_t, ytr, xte_t, yte, device=device,
                                                                seed=seed)),
        ("linear_probe_lbfgs", lambda: M.linear_probe_lbfgs(xtr_t, ytr, xte_t, yte, device=device)),
        ("knn_k200", lambda: M.knn_classify(xtr_t, ytr, xte_t, yte, k=200, device=device)),
    ]:
        result, seconds = clock(fn, device)
        out[name] = {"seconds": round(seconds, 3), "accuracy": result.accuracy}
        if hasattr(result, "loss"):
            out[name]["loss"] = result.loss
    return out


def run(device: str | None = None, *, quick: bool = False, parts: tuple[str, ...] = PARTS, seed: int = 0,
        threads: int | None = None, parallel_umap: bool = True) -> dict[str, Any]:
    """Time the ``parts`` (``"label_free"``, ``"probes"``) at the book's sizes (``quick``: small ones);
    returns the record, with its provenance. Each part's timings are printed as they finish."""
    if not parts or not set(parts) <= set(PARTS):
        raise ValueError(f"parts must be some of {PARTS}; got {parts!r}")
    if threads is not None:
        # torch's and NumPy's BLAS/OpenMP pools alike: on a shared CPU, threads that wait for one
        # another at every small operation can cost far more than they bring
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(threads)
        threadpool_limits(threads)
    load_before = os.getloadavg()
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if quick:
        sizes = dict(n_eval=1_000, n_train=5_000, n_test=1_000, dim=64)
    else:
        sizes = dict(n_eval=10_000, n_train=50_000, n_test=10_000, dim=512)
    data: dict[str, Any] = {}
    with results.timer() as wall:
        if "label_free" in parts:
            data["label_free"] = bench_label_free(sizes["n_eval"], sizes["dim"], 10, seed, device,
                                                  parallel_umap=parallel_umap)
            print(json.dumps({"label_free": data["label_free"]["seconds"]}, indent=1), flush=True)
        if "probes" in parts:
            data["probes_and_knn"] = bench_probes(sizes["n_train"], sizes["n_test"], sizes["dim"], 10,
                                                  seed, device)
            print(json.dumps(data["probes_and_knn"], indent=1), flush=True)
    return {
        "name": "bench_metrics",
        # the load average shows whether other processes shared the CPU during the run
        "provenance": results.provenance(device, wall.seconds, torch_threads=torch.get_num_threads(),
                                         cpu_count=os.cpu_count(),
                                         load_average_1min_before_after=[round(load_before[0], 2),
                                                                         round(os.getloadavg()[0], 2)]),
        "data": data,
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """This benchmark's options of ``python -m labfree.bench metrics``."""
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument("--no-parallel-umap", action="store_true",
                        help="skip timing the unseeded (multi-threaded) UMAP fit")
    parser.add_argument("--parts", default=",".join(PARTS),
                        help="comma-separated parts to run: label_free, probes (default: both)")


def from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Run with the parsed options (the timings are printed as each part finishes); returns the record."""
    parts = tuple(part.strip() for part in args.parts.split(",") if part.strip())
    return run(args.device, quick=args.quick, parts=parts, seed=args.seed, threads=args.threads,
               parallel_umap=not args.no_parallel_umap)
