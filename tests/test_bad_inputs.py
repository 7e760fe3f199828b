"""Bad inputs, one table: every row is a call that must fail, the error type it must raise, and two
patterns its message must contain: the argument it names and the fix it suggests.

Across data, augment, models, losses, train (TrainConfig, labels, positives), checkpoints, metrics
and mi. Nothing here trains beyond one epoch of a tiny model (the checkpoint fixture); the rest
fails in argument checks, before any work."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from labfree import augment, data, density, losses, metrics, mi, models, train
from labfree.models.encoders import SmallViT
from labfree.train import CheckpointError, TrainConfig

torch.set_num_threads(1)
NAN, INF = float("nan"), float("inf")


@cache
def tiny() -> data.ImageSet:
    return data.load("shapes", "train", n=64)


def config(method: str = "simclr", **kw: Any) -> TrainConfig:
    base = dict(encoder="small_cnn", encoder_kwargs=dict(width=4, out_dim=16), batch_size=32, epochs=1,
                device="cpu", progress=False, projector_kwargs=dict(hidden_dim=32, out_dim=16))
    if method == "supervised":
        base.pop("projector_kwargs")
    if method == "moco_v2":
        base["queue_length"] = 64
    return TrainConfig(method, **{**base, **kw})


def fit(method: str = "simclr", **kw: Any) -> Any:
    return train.train(config(method, **kw), tiny())


def relabelled(labels: torch.Tensor) -> data.ImageSet:
    return replace(tiny(), labels=labels)


def z(n: int = 8, d: int = 4, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def uint8(*shape: int) -> torch.Tensor:
    return torch.zeros(shape, dtype=torch.uint8)


@dataclass
class Ctx:
    """What the checkpoint rows need: a directory with one good checkpoint of a 1-epoch run."""

    dir: Path
    good: Path

    def file(self, name: str, content: bytes) -> Path:
        path = self.dir / name
        path.write_bytes(content)
        return path


@pytest.fixture(scope="module")
def ctx(tmp_path_factory) -> Ctx:
    directory = tmp_path_factory.mktemp("checkpoints")
    fit("simclr", epochs=1, checkpoint_dir=str(directory))
    return Ctx(directory, directory / "epoch_0001.pt")


def flipped(blob: bytes, at: int) -> bytes:
    b = bytearray(blob)
    b[at] ^= 0xFF
    return bytes(b)


def torch_file(ctx: Ctx) -> Path:
    torch.save({"model": {"w": torch.ones(3)}}, ctx.dir / "foreign.pt")
    return ctx.dir / "foreign.pt"


GOOD = r"newest readable checkpoint in .* is epoch_0001\.pt"
FINITE_LR = r"Pass the peak learning rate, e.g\. lr="

# (id, call, error type, what the message must name, the fix it must give); calls take the Ctx
CASES: list[tuple[str, Any, type[Exception], str, str]] = [
    # ------------------------------------------------------------------ data
    ("load-seed-negative", lambda c: data.load("shapes", seed=-1), ValueError, "seed",
     "non-negative integer"),
    ("load-seed-float", lambda c: data.load("shapes", seed=1.5), ValueError, "seed", "non-negative integer"),
    ("load-n-zero", lambda c: data.load("shapes", n=0), ValueError, "n=0", r"choose 4 <= n <= 10000"),
    ("load-n-float", lambda c: data.load("shapes", n=2.5), ValueError, "n must be",
     "integer number of images"),
    ("load-split", lambda c: data.load("shapes", "val"), ValueError, "split 'val'",
     "choose one of train, test"),
    ("load-name", lambda c: data.load("imagenet"), ValueError, "data set 'imagenet'",
     "choose one of shapes"),
    ("normalize-255-floats", lambda c: data.normalize(torch.full((1, 3, 4, 4), 255.0), (0.5,), (0.5,)),
     ValueError, "float batch with values up to 255", "divide 0..255 floats by 255"),
    ("normalize-nan", lambda c: data.normalize(torch.full((1, 1, 4, 4), NAN), (0.5,), (0.5,)),
     ValueError, "float batch with NaN or inf", "Pass the uint8 images"),
    ("normalize-std-zero", lambda c: data.normalize(uint8(1, 1, 4, 4), (0.5,), (0.0,)),
     ValueError, "std positive", "Pass the data set's statistics"),
    ("normalize-mean-nan", lambda c: data.normalize(uint8(1, 1, 4, 4), (NAN,), (0.5,)),
     ValueError, "mean must be finite", "ImageSet.mean"),
    ("normalize-3d", lambda c: data.normalize(uint8(1, 4, 4), (0.5,), (0.5,)),
     ValueError, "images must be", r"\(N, C, H, W\)"),
    # ------------------------------------------------------------------ augment
    ("aug-flip-nan", lambda c: augment.Augment(flip_p=NAN), ValueError, "flip_p", r"must lie in \[0, 1\]"),
    ("aug-grey-above-1", lambda c: augment.Augment(grey_p=1.5), ValueError, "grey_p",
     r"must lie in \[0, 1\]"),
    ("aug-jitter-nan", lambda c: augment.Augment(jitter=(NAN, 0, 0, 0)), ValueError, "jitter",
     r"see simclr_jitter\(\)"),
    ("aug-hue-above-half", lambda c: augment.Augment(jitter=(0, 0, 0, 0.7)), ValueError, "jitter",
     r"hue <= 0\.5"),
    ("aug-rotation-inf", lambda c: augment.Augment(rotation_degrees=INF), ValueError, "rotation_degrees",
     "rotation_degrees=180"),
    ("aug-rotation-reversed", lambda c: augment.Augment(rotation_degrees=(10, -10)), ValueError,
     "rotation_degrees", "min <= max"),
    ("aug-std-zero", lambda c: augment.Augment(std=0.0), ValueError, "std must be positive",
     "ImageSet.std"),
    ("aug-mean-nan", lambda c: augment.Augment(mean=NAN), ValueError, "mean must be finite", "ImageSet.mean"),
    ("aug-solarize-nan", lambda c: augment.Augment(solarize_threshold=NAN), ValueError,
     "solarize_threshold", "solarize_threshold=0.5"),
    ("aug-crop-reversed", lambda c: augment.Augment(crop_scale=(0.5, 0.2)), ValueError, "crop_scale",
     "use None to keep the whole image"),
    ("aug-kernel-even", lambda c: augment.Augment(blur_kernel_size=4), ValueError, "blur_kernel_size",
     "positive odd integer"),
    ("aug-padding", lambda c: augment.Augment(padding_mode="wrap"), ValueError, "padding_mode",
     "must be one of"),
    ("aug-empty-batch", lambda c: augment.Augment()(uint8(0, 3, 8, 8)), ValueError, "empty batch",
     "pass at least one image"),
    ("aug-float-images", lambda c: augment.Augment()(torch.zeros(2, 3, 8, 8)), TypeError, "uint8",
     r"\(images \* 255\)\.round\(\)"),
    ("aug-one-image-unbatched", lambda c: augment.Augment()(uint8(3, 8, 8)), ValueError,
     r"batch \(B, C, H, W\)", r"unsqueeze\(0\)"),
    ("jitter-strength-nan", lambda c: augment.simclr_jitter(NAN), ValueError, "strength",
     "SimCLR uses s=1"),
    ("pair-strength-negative", lambda c: augment.pair("shapes", mean=0.5, std=0.5, strength=-1),
     ValueError, "strength", "1 as published"),
    ("stack-unknown", lambda c: augment.stack("autoaugment", mean=0.5, std=0.5), ValueError,
     "stack 'autoaugment'", "choose one of"),
    # ------------------------------------------------------------------ models
    ("cnn-width-float", lambda c: models.small_cnn(width=1.5), ValueError, "width must be an integer",
     "whole number of units"),
    ("cnn-out-dim-zero", lambda c: models.small_cnn(out_dim=0), ValueError, "out_dim must be an integer >= 1",
     "whole number of units"),
    ("vgg-convs-three", lambda c: models.small_vgg(convs=(1, 1, 2)), ValueError, "convs must hold four",
     r"convs=\(1, 1, 2, 2\)"),
    ("vgg-convs-zero", lambda c: models.small_vgg(convs=(1, 0, 2, 2)), ValueError, r"convs\[1\]",
     "whole number of convolutions"),
    ("vit-dropout-one", lambda c: SmallViT(dim=8, heads=2, dropout=1.0), ValueError, "dropout",
     "pass a probability"),
    ("mlp-layers-zero", lambda c: models.mlp(8, 16, 4, num_layers=0), ValueError, "num_layers",
     "count the linear layers"),
    ("head-hidden-float", lambda c: models.head("simclr_projector", 8, hidden_dim=2.5), ValueError,
     "hidden_dim must be an integer", "hidden_dim=2048"),
    ("mlp-width-zero", lambda c: models.MLP(8, (16, 0)), ValueError, r"widths\[1\]",
     "whole numbers of units"),
    ("linear-head-classes", lambda c: models.linear_head(8, 0), ValueError, "num_classes",
     "number of classes"),
    ("encoder-unknown", lambda c: models.encoder("vit"), ValueError, "encoder 'vit'", "choose one of"),
    # ------------------------------------------------------------------ losses
    ("ntxent-temperature-zero", lambda c: losses.nt_xent(z(), z(seed=1), temperature=0), ValueError,
     "temperature must be a positive finite number", r"e\.g\. 0\.5"),
    ("ntxent-temperature-nan", lambda c: losses.nt_xent(z(), z(seed=1), temperature=NAN), ValueError,
     "temperature", r"e\.g\. 0\.5"),
    ("npair-temperature-negative", lambda c: losses.npair_loss(z(), z(seed=1), temperature=-1), ValueError,
     "temperature", r"e\.g\. 0\.5"),
    ("vicreg-sim-nan", lambda c: losses.vicreg_loss(z(), z(seed=1), sim_weight=NAN), ValueError,
     "sim_weight must be a finite number >= 0", "0 switches the term off"),
    ("vicreg-var-negative", lambda c: losses.vicreg_loss(z(), z(seed=1), var_weight=-1), ValueError,
     "var_weight", "the paper's var_weight: 25"),
    ("vicreg-cov-inf", lambda c: losses.vicreg_loss(z(), z(seed=1), cov_weight=INF), ValueError,
     "cov_weight", "the paper's cov_weight: 1"),
    ("variance-gamma-nan", lambda c: losses.variance_term(z(), gamma=NAN), ValueError, "gamma",
     "gamma=1"),
    ("barlow-lambd-negative", lambda c: losses.barlow_twins_loss(z(), z(seed=1), lambd=-1e-3), ValueError,
     "lambd must be a finite number >= 0", "lambd=5e-3"),
    ("barlow-lambd-nan", lambda c: losses.barlow_twins_loss(z(), z(seed=1), lambd=NAN), ValueError,
     "lambd", "lambd=5e-3"),
    ("triplet-margin-negative", lambda c: losses.triplet_loss(z(), z(seed=1), z(seed=2), margin=-1),
     ValueError, "margin must be a non-negative", "FaceNet: 0.2"),
    ("ntxent-batch-one", lambda c: losses.nt_xent(z(1), z(1, seed=1)), ValueError, "batch_size 1",
     "larger batch"),
    ("ntxent-3d", lambda c: losses.nt_xent(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4)), ValueError,
     "must be 2-D", r"z\.flatten\(1\)"),
    ("ntxent-shapes", lambda c: losses.nt_xent(z(8, 4), z(8, 5)), ValueError, "same shape",
     "the same head"),
    # ------------------------------------------------------------------ train: TrainConfig
    ("lr-zero", lambda c: fit(lr=0), ValueError, "lr must be a finite number > 0; got 0", FINITE_LR),
    ("lr-nan", lambda c: fit(lr=NAN), ValueError, "lr must be a finite number > 0; got nan", FINITE_LR),
    ("lr-negative", lambda c: fit(lr=-0.1), ValueError, "lr must be", "lr=None for the method's default"),
    ("lr-inf", lambda c: fit(lr=INF), ValueError, "lr must be a finite number", FINITE_LR),
    ("epochs-fraction", lambda c: fit(epochs=1.5), ValueError, "epochs must be an integer >= 1; got 1.5",
     "whole number of passes"),
    ("epochs-zero", lambda c: fit(epochs=0), ValueError, "epochs must be an integer >= 1", "epochs=100"),
    ("batch-one", lambda c: fit(batch_size=1), ValueError, "batch_size must be an integer >= 2",
     "batch_size=512"),
    ("seed-negative", lambda c: fit(seed=-1), ValueError, "seed must be an integer >= 0",
     "non-negative integer"),
    ("seed-float", lambda c: fit(seed=0.5), ValueError, "seed must be an integer", "seed=0"),
    ("weight-decay-negative", lambda c: fit(weight_decay=-1e-4), ValueError, "weight_decay", "0 for none"),
    ("weight-decay-nan", lambda c: fit(weight_decay=NAN), ValueError, "weight_decay", "0 for none"),
    ("momentum-reversed", lambda c: fit(momentum=(0.95, 0.85)), ValueError, "momentum must be a pair",
     r"momentum=\(0\.85, 0\.95\)"),
    ("momentum-nan", lambda c: fit(momentum=(NAN, 0.9)), ValueError, "momentum", "or None for the default"),
    ("warmup-negative", lambda c: fit(warmup_epochs=-1), ValueError, "warmup_epochs", "0 for none"),
    ("ema-tau-above-1", lambda c: fit("byol", ema_tau=1.5), ValueError, r"ema_tau must be a finite number "
     r"in \[0, 1\]", "ema_tau=0.99"),
    ("queue-zero", lambda c: fit("moco_v2", queue_length=0), ValueError, "queue_length", "queue_length=4096"),
    ("collapse-nan", lambda c: fit(collapse_threshold=NAN), ValueError, "collapse_threshold",
     "0 turns it off"),
    ("strength-negative", lambda c: fit(augment_strength=-1), ValueError, "augment_strength",
     "0 for no jitter"),
    ("blur-above-1", lambda c: fit(augment_blur=1.5), ValueError, "augment_blur", "blur probability"),
    ("milestone-every-zero", lambda c: fit(milestone_every=0), ValueError, "milestone_every",
     "milestone_every=10"),
    ("milestone-at-fraction", lambda c: fit(milestone_at=(1.5,)), ValueError, "milestone_at",
     "list whole epochs"),
    ("loss-temperature-zero", lambda c: fit(loss_kwargs={"temperature": 0}), ValueError,
     r"loss_kwargs\['temperature'\] must be a finite number > 0", r"loss_kwargs=\{'temperature': 0\.5\}"),
    ("loss-temperature-nan", lambda c: fit("moco_v2", loss_kwargs={"temperature": NAN}), ValueError,
     r"loss_kwargs\['temperature'\]", "'temperature': 0.5"),
    ("loss-vicreg-weight", lambda c: fit("vicreg", loss_kwargs={"sim_weight": -1}), ValueError,
     r"loss_kwargs\['sim_weight'\]", "the paper's: 25, 25, 1"),
    ("loss-barlow-lambd", lambda c: fit("barlow_twins", loss_kwargs={"lambd": NAN}), ValueError,
     r"loss_kwargs\['lambd'\]", "the paper's: 5e-3"),
    ("loss-typo", lambda c: fit(loss_kwargs={"temprature": 0.5}), ValueError,
     r"unknown loss_kwargs \['temprature'\]", r"takes \['temperature'\]"),
    ("unknown-optimizer", lambda c: fit(optimizer="rmsprop"), ValueError, "optimizer 'rmsprop'",
     "choose one of"),
    ("batch-exceeds-data", lambda c: fit(batch_size=128), ValueError, "batch_size 128 exceeds the 64 images",
     "choose batch_size <= 64"),
    # ------------------------------------------------------------------ train: labels and positives
    ("labels-short", lambda c: train.train(config("supervised"), relabelled(tiny().labels[:-1])), ValueError,
     r"data\.labels has shape \(63,\)", "one label per image"),
    ("labels-out-of-range", lambda c: train.train(config("supervised"), relabelled(tiny().labels + 4)),
     ValueError, r"data\.labels holds values in \[4, 7\] but data\.classes names 4", "class indices 0..3"),
    ("labels-float", lambda c: train.train(config("supervised"), relabelled(tiny().labels.float())),
     ValueError, "data.labels must hold integer class indices", r"labels\.long\(\)"),
    ("positives-out-of-range", lambda c: train.train(config(), tiny(), positives=torch.full((64, 1), 64)),
     ValueError, "positives index images", r"0\.\.63"),
    # ------------------------------------------------------------------ checkpoints
    ("ckpt-truncated", lambda c: train.load_checkpoint(c.file("t.pt", c.good.read_bytes()[:5000])),
     CheckpointError, r"t\.pt is not a usable checkpoint: it is truncated", GOOD),
    ("ckpt-empty", lambda c: train.load_checkpoint(c.file("e.pt", b"")), CheckpointError,
     r"e\.pt .*truncated", GOOD),
    ("ckpt-payload-flipped",
     lambda c: train.load_checkpoint(c.file("f.pt", flipped(c.good.read_bytes(), -50))), CheckpointError,
     r"f\.pt .*corrupted: the sha256 of its payload", GOOD),
    ("ckpt-header-flipped",
     lambda c: train.load_checkpoint(c.file("h.pt", flipped(c.good.read_bytes(), 40))), CheckpointError,
     r"h\.pt .*corrupted", GOOD),
    ("ckpt-random-bytes",
     lambda c: train.load_checkpoint(c.file("r.pt", np.random.default_rng(0).bytes(4096))), CheckpointError,
     r"r\.pt .*not a labfree checkpoint", GOOD),
    ("ckpt-torch-file", lambda c: train.load_checkpoint(torch_file(c)), CheckpointError,
     r"foreign\.pt .*torch \(zip\) file but not a labfree checkpoint", GOOD),
    ("ckpt-missing", lambda c: train.load_checkpoint(c.dir / "epoch_0009.pt"), FileNotFoundError,
     r"epoch_0009\.pt .*no such file", GOOD),
    ("ckpt-other-data", lambda c: train.resume(c.good, data.load("shapes", "train", n=64, seed=1)),
     CheckpointError, r"another data set \(differs in \['images_sha256'\]",
     r"Resume with the data set the run was trained on \(shapes, 64 images\)"),
    ("ckpt-other-config", lambda c: train.train(config(lr=0.1), tiny(), resume=c.good), ValueError,
     r"config differs in \['lr'\]", "resume with the config the checkpoint was written with"),
    ("ckpt-epochs-zero", lambda c: train.resume(c.good, tiny(), epochs=0), ValueError,
     "epochs must be an integer >= 1", "epochs=100"),
    ("ckpt-resume-changes-lr", lambda c: train.resume(c.good, tiny(), lr=0.1), ValueError,
     r"resume\(\) can change only how the run is executed", "train a new run"),
    # ------------------------------------------------------------------ metrics
    ("knn-temperature-zero", lambda c: metrics.knn_classify(z(), [0, 1] * 4, z(seed=1), k=3, temperature=0),
     ValueError, "temperature must be a finite number > 0", r"temperature=0\.1"),
    ("knn-temperature-nan", lambda c: metrics.knn_classify(z(), [0, 1] * 4, z(seed=1), k=3,
                                                           temperature=NAN),
     ValueError, "temperature must be a finite number > 0; got nan", r"temperature=0\.1"),
    ("knn-k-zero", lambda c: metrics.knn_classify(z(), [0, 1] * 4, z(seed=1), k=0), ValueError,
     "k must be", "positive integer"),
    ("knn-labels-short", lambda c: metrics.knn_classify(z(), [0, 1] * 3, z(seed=1), k=3), ValueError,
     "train_y has 6 labels", "must match one to one"),
    ("knn-nan-features", lambda c: metrics.knn_classify(z() * NAN, [0, 1] * 4, z(seed=1), k=3), ValueError,
     "train_h contains NaN or inf", "check the encoder"),
    ("probe-lr-nan", lambda c: metrics.linear_probe(z(), [0, 1] * 4, z(seed=1), [0, 1] * 4, lr=NAN),
     ValueError, "lr must be a finite number > 0", r"lr=3e-3"),
    ("probe-weight-decay", lambda c: metrics.linear_probe(z(), [0, 1] * 4, z(seed=1), [0, 1] * 4,
                                                          weight_decay=-1),
     ValueError, "weight_decay", "0 for none"),
    ("lbfgs-tolerance", lambda c: metrics.linear_probe_lbfgs(z(), [0, 1] * 4, z(seed=1), [0, 1] * 4,
                                                             tolerance=0),
     ValueError, "tolerance must be a finite number > 0", "tolerance=1e-6"),
    # ------------------------------------------------------------------ mi and density
    ("entropy-negative-identity", lambda c: mi.gaussian_entropy(-np.eye(2)), ValueError,
     "cov must be symmetric positive definite; its smallest eigenvalue is -1", "Pass a covariance matrix"),
    ("entropy-indefinite", lambda c: mi.gaussian_entropy([[1.0, 2.0], [2.0, 1.0]]), ValueError,
     "cov must be symmetric positive definite", "small multiple of the identity"),
    ("entropy-asymmetric", lambda c: mi.gaussian_entropy([[1.0, 0.5], [0.0, 1.0]]), ValueError,
     "cov must be symmetric", r"Symmetrise it with \(cov \+ cov\.T\) / 2"),
    ("entropy-nan", lambda c: mi.gaussian_entropy([[NAN]]), ValueError, "cov contains NaN or inf",
     "Check how it was estimated"),
    ("entropy-not-square", lambda c: mi.gaussian_entropy(np.ones((2, 3))), ValueError,
     r"cov must be a square \(n, n\) matrix", "not the samples"),
    ("entropy-negative-variance", lambda c: mi.gaussian_entropy(-1.0), ValueError, "positive definite",
     "Pass a covariance matrix"),
    ("normaliser-singular", lambda c: density.gaussian_log_normaliser(np.zeros((2, 2))), ValueError,
     "covariance must be symmetric positive definite", "small multiple of the identity"),
    ("gaussian-mi-rho-one", lambda c: mi.gaussian_mi(1.0), ValueError, r"\|rho\| must be < 1",
     "mutual information is infinite"),
    ("rho-for-negative-mi", lambda c: mi.rho_for_mi(-1.0), ValueError, "mi must be finite and >= 0",
     "never negative"),
]


@pytest.mark.parametrize("call, error, names, fix", [pytest.param(*row[1:], id=row[0]) for row in CASES])
def test_bad_input_is_refused_with_its_name_and_fix(ctx, call, error, names, fix):
    with pytest.raises(error, match=rf"(?si)(?=.*{names})(?=.*{fix})"):  # both, in any order
        call(ctx)


def test_the_table_covers_every_part_of_the_package():
    parts = {row[0].split("-")[0] for row in CASES}
    assert len(CASES) >= 60 and len({row[0] for row in CASES}) == len(CASES)
    assert {"load", "aug", "cnn", "ntxent", "lr", "labels", "ckpt", "knn", "entropy"} <= parts


def test_labels_are_not_read_where_the_method_ignores_them():
    """Self-supervised training never reads the labels: mismatched ones are no error there."""
    result = train.train(config("simclr"), relabelled(torch.zeros(3, dtype=torch.long)))
    assert len(result.history) == 1 and math.isfinite(result.history[0]["loss"])


def test_a_ramp_of_good_values_passes_the_checks():
    """The boundaries are where the ranges say: 0 is a valid weight and threshold, 1 a valid tau."""
    assert losses.vicreg_loss(z(), z(seed=1), sim_weight=0, var_weight=0, cov_weight=0).loss.item() == 0
    assert math.isfinite(losses.barlow_twins_loss(z(), z(seed=1), lambd=0).item())
    cfg = config("byol", ema_tau=1.0, collapse_threshold=0, augment_strength=0, augment_blur=1.0, seed=3)
    assert cfg.resolved("shapes").ema_tau == 1.0
    assert mi.gaussian_entropy(np.eye(2)) == pytest.approx(math.log(2 * math.pi * math.e))
    x = data.normalize(torch.ones(1, 1, 2, 2), (0.5,), (0.5,))
    assert torch.equal(x, torch.ones(1, 3, 2, 2))
