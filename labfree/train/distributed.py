"""Data-parallel training across processes (``torchrun``): the global batch, seen by every loss.

Run any script that calls :func:`~labfree.train.train` under ``torchrun``::

    torchrun --nproc_per_node=4 my_run.py        # 4 GPUs (NCCL), or 4 CPU processes (gloo)

:func:`~labfree.train.train` notices the launcher's environment (``WORLD_SIZE > 1``), joins the
process group (NCCL on CUDA, gloo on CPU; each rank on ``cuda:LOCAL_RANK``) and trains with
:class:`~torch.nn.parallel.DistributedDataParallel`. ``TrainConfig.batch_size`` stays the *global*
batch: every rank draws the same permutation and augments its own ``batch_size / world_size``
images of each batch. The losses then see what one process would see on the concatenated batch:

* NT-Xent (SimCLR), VICReg and Barlow Twins compare samples across the batch (negatives, variance,
  covariance, cross-correlation), so their inputs are gathered from every rank before the loss,
  with a gather whose backward pass returns each rank its share of the gradient
  (:func:`gather`) — SimCLR's "global" batch, VICReg's and Barlow Twins' statistics over it;
* BYOL, SimSiam, MoCo-v2 and supervised cross-entropy average a per-sample loss, so the average
  over ranks that DDP applies to the gradients already gives the global mean; MoCo enqueues the
  keys of the whole global batch (gathered, no gradient), so every rank keeps the same queue;
* BatchNorm layers are synchronised (statistics over the global batch, :func:`sync_batchnorm`):
  SimCLR's global BN, and what BYOL's and SimSiam's heads rely on. On CUDA this is
  :class:`torch.nn.SyncBatchNorm`; it has no CPU kernel, so on CPU :class:`GlobalBatchNorm`
  all-reduces the per-channel sums instead.

Only rank 0 shows a progress bar and writes checkpoints; every rank runs the callbacks (they may
evaluate the model, which is the same on every rank) and returns the same model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn


@dataclass(frozen=True)
class Context:
    """Where this process stands: ``rank`` of ``world_size`` processes (1 without a launcher)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        """Whether this process writes files and shows progress (rank 0)."""
        return self.rank == 0


def context() -> Context:
    """This process' place in a ``torchrun`` launch (from ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``),
    or the single-process context."""
    if dist.is_available() and dist.is_initialized():
        return Context(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Context()
    return Context(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", 0)))


def setup(device: torch.device) -> tuple[Context, torch.device]:
    """Join the process group of a ``torchrun`` launch (once per process) and pick this rank's
    device: ``cuda:LOCAL_RANK`` on CUDA. Without a launcher: the single-process context."""
    ctx = context()
    if not ctx.active:
        return ctx, device
    if device.type == "cuda":
        device = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return ctx, device


def _world() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def gather(t: Tensor) -> Tensor:
    """Concatenate ``t`` over the ranks along dim 0, in rank order; the gradient of each rank's
    slice flows back to that rank (summed over the ranks that used it). Identity in one process.

    Every rank then evaluates the same loss on the global batch; the all-gather's backward sums the
    ranks' identical gradients (``world_size`` times each rank's true share), and DDP's averaging
    of parameter gradients divides it out again: the step is that of one process on the whole batch.
    """
    if _world() == 1:
        return t
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(t.contiguous()), dim=0)


@torch.no_grad()
def gather_detached(t: Tensor) -> Tensor:
    """:func:`gather` without a gradient (MoCo's keys for the queue)."""
    if _world() == 1:
        return t
    parts = [torch.empty_like(t) for _ in range(_world())]
    dist.all_gather(parts, t.contiguous())
    return torch.cat(parts, dim=0)


def all_true(flags: Tensor) -> Tensor:
    """``flags`` (booleans) reduced over the ranks: a flag is true where it is true on every rank,
    so that a NaN on one rank stops every rank at the same step instead of leaving the others
    waiting in a collective."""
    if _world() == 1:
        return flags
    as_int = flags.to(torch.int32)
    dist.all_reduce(as_int, op=dist.ReduceOp.MIN)
    return as_int.bool()


def mean(t: Tensor) -> Tensor:
    """The mean of ``t`` over the ranks (epoch logs: per-rank losses and accuracies)."""
    if _world() == 1:
        return t
    t = t.detach().clone().float()
    dist.all_reduce(t)
    return t / _world()


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch normalisation with statistics over the batch of every rank: the per-channel count, sum
    and sum of squares are all-reduced (with autograd, so the gradient through the statistics
    reaches every rank). Any backend, CPU included; in one process or in eval mode it is
    :class:`~torch.nn.BatchNorm2d`/``1d``. Running statistics use the global batch's unbiased
    variance, as :class:`~torch.nn.SyncBatchNorm` does."""

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, x: Tensor) -> Tensor:
        if not (self.training and _world() > 1):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce

        dims = [d for d in range(x.dim()) if d != 1]
        xf = x.float()
        count = torch.tensor([x.numel() / x.shape[1]], device=x.device, dtype=torch.float32)
        stats = torch.cat([xf.sum(dim=dims), (xf * xf).sum(dim=dims), count])
        stats = all_reduce(stats)
        c = x.shape[1]
        n = stats[-1]
        mu = stats[:c] / n
        var = (stats[c:2 * c] / n - mu * mu).clamp(min=0)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.lerp_(mu.detach().to(self.running_mean.dtype), m)
                unbiased = var.detach() * n / (n - 1).clamp(min=1)
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), m)
        shape = [1, c] + [1] * (x.dim() - 2)
        y = (xf - mu.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)


def sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Every BatchNorm layer of ``module`` replaced by one whose statistics span the global batch:
    :class:`torch.nn.SyncBatchNorm` on CUDA, :class:`GlobalBatchNorm` elsewhere."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return _convert(module)


def _convert(module: nn.Module) -> nn.Module:
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, GlobalBatchNorm):
        new = GlobalBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                              module.track_running_stats)
        # the same parameter and buffer objects: a momentum target's stay frozen (requires_grad
        # False), and an optimiser built before the conversion still holds the live ones
        if module.affine:
            new.weight, new.bias = module.weight, module.bias
        if module.track_running_stats:
            new.running_mean, new.running_var = module.running_mean, module.running_var
            new.num_batches_tracked = module.num_batches_tracked
        new.train(module.training)
        return new
    for name, child in module.named_children():
        module.add_module(name, _convert(child))
    return module


def wrap(objective: nn.Module, device: torch.device) -> nn.Module:
    """``objective`` (a module whose forward computes the loss) under
    :class:`~torch.nn.parallel.DistributedDataParallel`; buffers are not broadcast (BatchNorm's
    statistics are global and MoCo's queue is filled with the global batch: they agree already)."""
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(objective, device_ids=ids, broadcast_buffers=False)
