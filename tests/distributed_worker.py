"""One rank of tests/test_distributed.py, launched by ``torchrun --nproc_per_node=2`` (gloo, CPU).

    python -m torch.distributed.run --standalone --nproc_per_node=2 tests/distributed_worker.py step OUT
    python -m torch.distributed.run --standalone --nproc_per_node=2 tests/distributed_worker.py train OUT

``step``: for every method, one :func:`labfree.train.train_step` on this rank's half of a fixed
global batch through DistributedDataParallel; writes the loss, the gradients, the parameters after
the update and the buffers (MoCo's queue, BatchNorm statistics) to ``OUT/step_rank{r}.pt``.
``train``: a two-epoch :func:`labfree.train.train` run with checkpoints; writes the final state and
history to ``OUT/train_rank{r}.pt`` (checkpoints under ``OUT/checkpoints``, by rank 0 only).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from labfree import data, train
from labfree.optim import build_optimizer, build_scheduler
from labfree.train import distributed
from labfree.train.step import Objective

GLOBAL_BATCH = 16
METHODS = ("simclr", "vicreg", "barlow_twins", "byol", "simsiam", "moco_v2", "supervised")


def config(method: str) -> train.TrainConfig:
    """A tiny run: 8-wide CNN, small heads, BatchNorm everywhere the method has it."""
    heads = {"hidden_dim": 32, "out_dim": 16}
    return train.TrainConfig(method, encoder="small_cnn", encoder_kwargs={"width": 4, "out_dim": 16},
                             projector_kwargs=heads, predictor_kwargs=heads if method in ("byol", "simsiam")
                             else {}, queue_length=64, batch_size=GLOBAL_BATCH, epochs=1, device="cpu",
                             amp=False, channels_last=False, progress=False, seed=0).resolved("random")


def batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The fixed global batch: two float views and labels."""
    g = torch.Generator().manual_seed(seed)
    x1 = torch.randn(GLOBAL_BATCH, 3, 16, 16, generator=g)
    x2 = torch.randn(GLOBAL_BATCH, 3, 16, 16, generator=g)
    return x1, x2, torch.arange(GLOBAL_BATCH) % 4


def one_step(method: str, rank: int = 0, world: int = 1, parallel: bool | None = None) -> dict[str, object]:
    """One step of ``method`` on shard ``rank`` of ``world`` (the whole batch when world == 1), through
    DistributedDataParallel when ``parallel`` (default: when world > 1)."""
    cfg = config(method)
    train.seed_everything(0)
    model = train.build_model(cfg, num_classes=4)
    objective = None
    if world > 1 if parallel is None else parallel:
        model = distributed.sync_batchnorm(model, torch.device("cpu"))
        objective = distributed.wrap(Objective(model), torch.device("cpu"))
    optimizer = build_optimizer(cfg.optimizer, model, lr=cfg.lr, weight_decay=cfg.weight_decay,
                                momentum=cfg.momentum[1])
    scheduler = build_scheduler("constant", optimizer, 10, lr=cfg.lr, momentum=cfg.momentum)
    x1, x2, y = (t.chunk(world)[rank] for t in batch())
    logs = train.train_step(model, optimizer, scheduler, x1, None if method == "supervised" else x2, y,
                            step=0, total_steps=10, objective=objective)
    train.check_update(model)
    return {"loss": float(logs["loss"]),
            "grads": {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None},
            "params": {n: p.detach().clone() for n, p in model.named_parameters()},
            "buffers": {n: b.clone() for n, b in model.named_buffers()}}


def train_run(out: Path) -> dict[str, object]:
    """Two epochs of SimCLR on 64 random images, checkpoints at every epoch."""
    generator = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (64, 3, 16, 16), dtype=torch.uint8, generator=generator)
    images = data.ImageSet("random", pixels, torch.arange(64) % 4, ("a", "b", "c", "d"), (0.5,) * 3,
                           (0.25,) * 3)
    cfg = train.TrainConfig("simclr", encoder="small_cnn", encoder_kwargs={"width": 4, "out_dim": 16},
                            projector_kwargs={"hidden_dim": 32, "out_dim": 16}, batch_size=16, epochs=2,
                            device="cpu", amp=False, channels_last=False, progress=True,
                            milestone_every=1, checkpoint_dir=str(out / "checkpoints"),
                            augment="simclr_cifar")
    result = train.train(cfg, images)
    return {"state": {k: v.clone() for k, v in result.model.state_dict().items()},
            "history": result.history}


def main() -> None:
    what, out = sys.argv[1], Path(sys.argv[2])
    ctx, _ = distributed.setup(torch.device("cpu"))
    assert ctx.world_size == 2, "launch with torchrun --nproc_per_node=2"
    if what == "step":
        record = {m: one_step(m, ctx.rank, ctx.world_size) for m in METHODS}
    else:
        record = train_run(out)
    torch.save(record, out / f"{what}_rank{ctx.rank}.pt")
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
