"""One training loop for every self-supervised method in the book, and for supervised training.

Methods differ only in their heads and their loss, which :func:`labfree.methods.method` describes
as data (a :class:`~labfree.methods.MethodSpec`); the loop never branches on a method's name::

    from labfree import data, train
    shapes, test = data.load("shapes", "train"), data.load("shapes", "test")
    config = train.TrainConfig("simclr", encoder="small_cnn", epochs=20, lr=0.5,
                               momentum=(0.85, 0.9), milestone_at=(1, 2, 5, 10))
    result = train.train(config, shapes, callbacks=[train.probe_callback(shapes, test)])
    result.frame()       # per epoch: loss, lr, images/s, embedding std (VICReg: its three terms)
    result.milestones    # per milestone (epoch 0 = initialisation): the callbacks' results

The data set moves to the device once, as ``uint8``; each epoch draws a permutation from an explicit
generator, slices batches on the device (dropping the last short one) and augments each image of a
batch with its own random parameters there (:mod:`labfree.augment`): no ``DataLoader``, no workers.

A step (:func:`train_step`) runs the forward pass under bf16 autocast (``amp="auto"``: CUDA, or a
CPU with native bf16; :mod:`labfree.precision`), the loss in float32 (:func:`loss_step`), the
backward pass, the optimiser and schedule, then the momentum
target's EMA (MoCo, BYOL) and MoCo's enqueue. MoCo-v2's loss is symmetrised,
``(L(q1, k2) + L(q2, k1)) / 2``, as the other five losses are by construction; its queue receives
one key per image (view 2's), so it spans ``queue_length / batch_size`` steps as in the original.

Checks: a non-finite loss or embedding, and after each update a non-finite gradient, parameter or
buffer, raise :class:`TrainingDiverged` (one combined check, one host sync per step; the losses
themselves never sync), with the model restored to the end of the last complete epoch and carried
by the error (``.model``, ``.state``). Every numeric field of :class:`TrainConfig` is checked
(finite, in range, integral where it counts) before anything is built. After each epoch the mean
per-dimension standard deviation of the last batch's L2-normalised projections is recorded
(``embedding_std``; SimSiam's collapse measure), and a :class:`CollapseWarning` raised below
``collapse_threshold / sqrt(d)``: unit vectors spread over ``d`` dimensions have about
``1/sqrt(d)``, a collapsed embedding 0. (A random network's projections can sit near
``0.1/sqrt(d)``, and so can MoCo's while its queue still holds random keys; hence the default 0.1.)

Milestones (epoch 0, every ``milestone_every`` epochs, each epoch in ``milestone_at``, and the last)
call the callbacks and write a checkpoint with everything needed to resume bit-exactly, atomically
(a temporary file, fsync, rename), with checksums and fingerprints of the data set and config::

    result = train.resume(train.latest_checkpoint("runs/simclr"), shapes)   # finish the run
    longer = train.resume("runs/simclr/epoch_0020.pt", shapes, epochs=40)   # extend it

A truncated, corrupted or foreign file, or a checkpoint of another data set, raises
:class:`CheckpointError` naming the newest readable checkpoint of its directory.

On a CPU with a core to spare, the next batch is made on a second thread while the current one
steps (``prefetch``, :mod:`labfree.train.batches`). Under ``torchrun`` the same call trains
data-parallel over the launched processes, every loss seeing the global batch
(:mod:`labfree.train.distributed`).
"""

from __future__ import annotations

from . import batches, distributed
from .callbacks import KeepInitial, probe_callback
from .checkpoints import CheckpointError, latest_checkpoint, load_checkpoint, load_model
from .config import (
    ABLATIONS,
    METHOD_CHOICES,
    SUPERVISED_RECIPE,
    CollapseWarning,
    TrainConfig,
    TrainingDiverged,
)
from .loop import TrainResult, TrainState, resume, seed_everything, train, view_augmentations
from .model import SSLModel, build_model
from .step import check_update, loss_step, train_step

__all__ = ["TrainConfig", "SSLModel", "build_model", "loss_step", "train_step", "train", "TrainResult",
           "TrainState", "TrainingDiverged", "CollapseWarning", "seed_everything", "probe_callback",
           "KeepInitial", "load_checkpoint", "load_model", "METHOD_CHOICES", "ABLATIONS",
           "SUPERVISED_RECIPE", "view_augmentations", "resume", "latest_checkpoint", "CheckpointError",
           "check_update", "batches", "distributed"]
