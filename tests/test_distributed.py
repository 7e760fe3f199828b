"""Data-parallel training under torchrun: two CPU processes (gloo) against one on the whole batch.

``tests/distributed_worker.py`` runs as the two ranks. One step of every method on a rank's half of
a fixed global batch must give, after DistributedDataParallel's gradient averaging, the loss, the
gradients, the updated parameters and the buffers (BatchNorm statistics, MoCo's queue, BYOL's and
MoCo's targets) of one process stepping on the concatenated batch: NT-Xent, VICReg and Barlow Twins
through their gathered inputs, BatchNorm through its global statistics.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).resolve().parent / "distributed_worker.py"
sys.path.insert(0, str(WORKER.parent))
import distributed_worker as worker  # noqa: E402  (the ranks' own code, imported for the reference)

pytestmark = pytest.mark.skipif(not torch.distributed.is_available() or
                                not torch.distributed.is_gloo_available(), reason="no gloo backend")


def _launch(what: str, out: Path) -> list[dict]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               str(WORKER), what, str(out)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"torchrun failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return [torch.load(out / f"{what}_rank{r}.pt", weights_only=False) for r in range(2)]


@pytest.fixture(scope="module")
def steps(tmp_path_factory) -> list[dict]:
    return _launch("step", tmp_path_factory.mktemp("ddp_step"))


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal up to float32 rounding: relative 1e-5, plus an absolute 1e-6 per element for quantities
    that are zero in exact arithmetic (the last bias' gradient under a translation-invariant loss, the
    running mean of a BatchNorm fed by a BatchNorm). The ranks sum in another order, and
    GlobalBatchNorm's variance is E[x^2] - E[x]^2 where BatchNorm's is two-pass (measured: relative
    differences up to 4e-6)."""
    a, b = a.double(), b.double()
    floor = 1e-6 * b.numel() ** 0.5
    return bool(torch.linalg.vector_norm(a - b) <= 1e-5 * torch.linalg.vector_norm(b) + floor)


@pytest.mark.parametrize("method", worker.METHODS)
def test_two_ranks_take_the_step_of_one_process_on_the_whole_batch(steps, method) -> None:
    single = worker.one_step(method)
    ranks = [s[method] for s in steps]
    # a per-sample loss is each rank's mean over its half; a gathered one is the global loss itself
    assert sum(r["loss"] for r in ranks) / 2 == pytest.approx(single["loss"], rel=1e-5)
    for name, grad in single["grads"].items():
        for r in ranks:  # DDP leaves the same averaged gradient on every rank
            assert _close(r["grads"][name], grad), f"{method}: gradient of {name}"
    for name, value in {**single["params"], **single["buffers"]}.items():
        for r in ranks:
            state = {**r["params"], **r["buffers"]}
            assert _close(state[name], value), f"{method}: {name} after the step"


def test_gathered_losses_see_the_global_batch(steps) -> None:
    """The two halves alone give another SimCLR loss: the gather is what makes it the global one."""
    halves = [worker.one_step("simclr", rank, 2, parallel=False) for rank in range(2)]  # no gather
    whole = worker.one_step("simclr")["loss"]
    assert steps[0]["simclr"]["loss"] == pytest.approx(whole, rel=1e-5)
    assert all(abs(h["loss"] - whole) > 1e-3 for h in halves)


def test_train_under_torchrun_keeps_ranks_in_step_and_writes_once(tmp_path) -> None:
    ranks = _launch("train", tmp_path)
    for name, value in ranks[0]["state"].items():
        assert torch.equal(value, ranks[1]["state"][name]), f"ranks disagree on {name}"
    assert [h["loss"] for h in ranks[0]["history"]] == [h["loss"] for h in ranks[1]["history"]]
    assert all(torch.isfinite(torch.tensor(h["loss"])) for h in ranks[0]["history"])
    written = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert written == ["epoch_0000.pt", "epoch_0001.pt", "epoch_0002.pt"]  # one writer, no temp files
