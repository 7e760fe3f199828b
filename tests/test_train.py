"""Tests for labfree.train: learning beats random initialisation, collapse is detected, resuming is
bit-exact, divergence stops training, milestones fire, names are checked, runs are reproducible,
torch.compile takes the eager step.

All on CPU with a small CNN (width 8, 32-d features) and narrow heads on at most 1 024 shapes."""

from __future__ import annotations

import math
import warnings
from dataclasses import replace

import pytest
import torch

from labfree import data, train
from labfree.losses import moco_loss
from labfree.methods import METHODS
from labfree.train import CollapseWarning, TrainConfig, TrainingDiverged

# One thread: on a CPU shared with other jobs, two threads waiting on each other at every small
# operation made these runs up to 50 times slower (0.3 s versus up to 17 s for the same run).
torch.set_num_threads(1)

# The published heads are 2048-4096 wide; these narrow ones keep a CPU epoch under a second.
HEADS = {
    "simclr": dict(projector_kwargs=dict(hidden_dim=128, out_dim=32)),
    "moco_v2": dict(projector_kwargs=dict(hidden_dim=128, out_dim=32), queue_length=256),
    "simsiam": dict(projector_kwargs=dict(hidden_dim=128, out_dim=128), predictor_kwargs=dict(hidden_dim=32)),
    "byol": dict(projector_kwargs=dict(hidden_dim=128, out_dim=32), predictor_kwargs=dict(hidden_dim=128)),
    "vicreg": dict(projector_kwargs=dict(hidden_dim=128, out_dim=128, num_layers=2)),
    "barlow_twins": dict(projector_kwargs=dict(hidden_dim=128, out_dim=128, num_layers=2)),
    "supervised": {},
}
TIMING = ("images_per_s", "epoch_time_s", "wall_time_s")


def config(method: str = "simclr", **kw) -> TrainConfig:
    base = dict(encoder="small_cnn", encoder_kwargs=dict(width=8, out_dim=32), batch_size=64, epochs=1,
                device="cpu", progress=False, **HEADS[method])
    return TrainConfig(method, **{**base, **kw})


def untimed(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in record.items() if k not in TIMING} for record in history]


@pytest.fixture(scope="module")
def shapes() -> data.ImageSet:
    return data.load("shapes", "train", n=1024)


@pytest.fixture(scope="module")
def shapes_test() -> data.ImageSet:
    return data.load("shapes", "test")


@pytest.fixture(scope="module")
def tiny() -> data.ImageSet:
    return data.load("shapes", "train", n=256)


# ------------------------------------------------------------------ learning and collapse

def test_simclr_beats_random_initialisation(shapes, shapes_test):
    """Linear-probe accuracy on the "all" scheme after 240 SimCLR steps versus the same encoder at
    epoch 0. Over seeds 0-4 (one thread) the gain was 0.11-0.19 (mean 0.157, sd 0.036); we require
    0.05, the mean minus three standard deviations. SimCLR's CIFAR stack is used because in this
    budget the thesis' shapes stack (which adds a full-circle rotation) gave no reliable gain
    (-0.02 to +0.08 after 40-240 steps)."""
    cfg = config("simclr", epochs=30, batch_size=128, augment="simclr_cifar", momentum=(0.85, 0.9))
    result = train.train(cfg, shapes, callbacks=[train.probe_callback(shapes, shapes_test, knn=False)])
    at_init, trained = (result.milestones[i]["probe_accuracy"] for i in (0, -1))
    assert [m["epoch"] for m in result.milestones] == [0, 30]
    assert trained - at_init >= 0.05, (at_init, trained)


def test_vicreg_without_variance_term_collapses(shapes, shapes_test):
    """With mu = 0 nothing stops VICReg's projections from shrinking to a point. Over seeds 0-4
    (20 epochs, one thread): the mean per-dimension std of the normalised projections ended at
    0.13-0.15 / sqrt(d) without the variance term and never fell below 0.72 / sqrt(d) with it, so
    a threshold of 0.4 / sqrt(d) separates the two by a wide gap; the variance hinge ended at
    0.987-0.988 (raw std about 0.01) versus 0.618-0.628; the probe accuracy was lower without the
    term by 0.055-0.205, and we require 0.02. (The projections shrink onto the last layer's bias
    with a little noise around it, so their normalised spread falls to about 0.1 / sqrt(d), the
    default threshold, only slowly: hence the explicit threshold here.)"""
    probe = train.probe_callback(shapes, shapes_test, knn=False)
    runs = {}
    for var_weight in (25.0, 0.0):
        cfg = config("vicreg", epochs=20, batch_size=128, augment="simclr_cifar",
                     loss_kwargs={"var_weight": var_weight}, collapse_threshold=0.4)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = train.train(cfg, shapes, callbacks=[probe])
        runs[var_weight] = result, [w for w in caught if issubclass(w.category, CollapseWarning)]
    (normal, normal_warnings), (collapsed, collapse_warnings) = runs[25.0], runs[0.0]
    threshold = 0.4 / math.sqrt(128)
    assert collapse_warnings and "collapsing" in str(collapse_warnings[-1].message)
    assert not normal_warnings
    normal_std = min(h["embedding_std"] for h in normal.history)
    assert collapsed.history[-1]["embedding_std"] < threshold < normal_std
    assert collapsed.history[-1]["variance"] > 0.95 and normal.history[-1]["variance"] < 0.8
    assert set(normal.history[-1]) >= {"invariance", "variance", "covariance"}
    assert normal.milestones[-1]["probe_accuracy"] - collapsed.milestones[-1]["probe_accuracy"] > 0.02


# ------------------------------------------------------------------ every method, one loop

@pytest.mark.parametrize("method", list(METHODS) + ["supervised"])
def test_every_method_trains_with_finite_loss(tiny, method):
    result = train.train(config(method, epochs=2), tiny)
    assert len(result.history) == 2
    assert all(math.isfinite(h["loss"]) and h["embedding_std"] > 0 for h in result.history)
    assert result.model.encoder is not None and (result.model.spec is None) == (method == "supervised")
    if method == "supervised":
        assert 0 <= result.history[-1]["accuracy"] <= 1


def test_simclr_loss_decreases(shapes):
    result = train.train(config("simclr", epochs=5, batch_size=128), shapes)
    losses = [h["loss"] for h in result.history]
    # from about log(2N - 1) = 5.54, the loss of identical embeddings, at initialisation
    assert losses[0] < math.log(2 * 128 - 1) and losses[-1] < losses[0] - 0.05, losses


def test_supervised_learns(tiny):
    result = train.train(config("supervised", epochs=6, lr=1e-2), tiny)
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    assert result.history[-1]["accuracy"] > 0.25 + 0.1  # four balanced classes: chance is 0.25


def test_moco_step_symmetrises_and_enqueues(tiny):
    cfg = config("moco_v2").resolved("shapes")
    torch.manual_seed(0)
    model = train.build_model(cfg)
    x1, x2 = (tiny.normalize(tiny.images[:16]) for _ in range(2))
    x2 = x2.flip(-1)
    loss, logs, keys = train.loss_step(model, x1, x2)
    with torch.no_grad():
        z1, z2 = (model.projector(model.encoder(x)) for x in (x1, x2))
        k1, k2 = (model.target_projector(model.target_encoder(x)) for x in (x1, x2))
        expected = 0.5 * (moco_loss(z1, k2, model.queue, 0.1) + moco_loss(z2, k1, model.queue, 0.1))
    assert torch.allclose(loss, expected, atol=1e-6) and torch.equal(keys, k2)
    # after a step: the target moved by EMA (tau = 0.99) and the newest keys sit in the queue
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
    before = model.target_encoder[0].weight.clone()
    train.train_step(model, optimizer, scheduler, x1, x2, step=0, total_steps=10)
    online = model.encoder[0].weight
    assert torch.allclose(model.target_encoder[0].weight, 0.99 * before + 0.01 * online)
    assert torch.allclose(model.queue.keys()[-16:], torch.nn.functional.normalize(k2, dim=1), atol=1e-6)


# ------------------------------------------------------------------ resume, milestones, seeding

class WeightNorm:
    """A callback recording the encoder's weight norm: milestone records must survive resuming."""

    def __init__(self) -> None:
        self.epochs: list[int] = []
        self.history_lengths: list[int] = []

    def __call__(self, state: train.TrainState) -> dict:
        self.epochs.append(state.epoch)
        self.history_lengths.append(len(state.history))
        with torch.no_grad():
            return {"weight_norm": float(sum(p.norm() for p in state.model.encoder.parameters()))}


@pytest.mark.parametrize("method", ["moco_v2", "byol"])
def test_resume_is_bit_identical(tiny, tmp_path, method):
    cfg = config(method, epochs=4, milestone_at=(2,), checkpoint_dir=str(tmp_path))
    full = train.train(cfg, tiny, callbacks=[WeightNorm()])
    resumed = train.train(replace(cfg, checkpoint_dir=None), tiny, callbacks=[WeightNorm()],
                          resume=tmp_path / "epoch_0002.pt")
    full_state, resumed_state = full.model.state_dict(), resumed.model.state_dict()
    assert full_state.keys() == resumed_state.keys()
    assert all(torch.equal(full_state[k], resumed_state[k]) for k in full_state)  # queue included
    assert untimed(resumed.history) == untimed(full.history) and len(full.history) == 4
    assert resumed.milestones == full.milestones
    with pytest.raises(ValueError, match="lr"):
        train.train(replace(cfg, lr=0.1, checkpoint_dir=None), tiny, resume=tmp_path / "epoch_0002.pt")


def test_milestones_call_callbacks_and_write_checkpoints(tiny, tmp_path):
    callback = WeightNorm()
    cfg = config("simclr", epochs=5, milestone_every=2, milestone_at=(1,), checkpoint_dir=str(tmp_path))
    result = train.train(cfg, tiny, callbacks=[callback])
    assert callback.epochs == [0, 1, 2, 4, 5]            # initialisation, explicit, every 2, last
    assert callback.history_lengths == [0, 1, 2, 4, 5]   # called after the epoch's history record
    assert [m["epoch"] for m in result.milestones] == [0, 1, 2, 4, 5]
    assert all("weight_norm" in m for m in result.milestones)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"epoch_{e:04d}.pt" for e in (0, 1, 2, 4, 5)]
    model = train.load_model(tmp_path / "epoch_0005.pt").eval()
    x = tiny.normalize(tiny.images[:8])
    with torch.no_grad():
        assert torch.equal(model.encoder(x), result.model.eval().encoder(x))
    at_init = train.load_checkpoint(tmp_path / "epoch_0000.pt")
    assert at_init["epoch"] == 0 and at_init["history"] == []


def test_same_seed_same_run_other_seed_other_run(tiny):
    a, b = (train.train(config("byol", epochs=2), tiny) for _ in range(2))
    c = train.train(config("byol", epochs=2, seed=1), tiny)
    assert untimed(a.history) == untimed(b.history)
    assert all(torch.equal(p, q) for p, q in zip(a.model.parameters(), b.model.parameters()))
    assert a.history[-1]["loss"] != c.history[-1]["loss"]


@pytest.mark.parametrize("amp, channels_last", [(False, False), (True, True)], ids=["fp32-nchw", "bf16"])
def test_compiled_training_takes_the_eager_step(amp, channels_last):
    """``compile=True``, which the GPU check trains with, takes eager PyTorch's step: one step on
    64 images gives the eager loss up to the precision's rounding and, in NCHW float32 (whose
    eager gradient is float32-accurate; labfree.bench.accuracy), the eager parameters."""
    one_step = data.load("shapes", "train", n=64)
    eager, compiled = (train.train(config(compile=c, amp=amp, channels_last=channels_last), one_step)
                       for c in (False, True))
    # bf16: within one bf16 rounding (measured 9e-5); float32: within 100 float32 roundings
    tolerance = 2.0 ** -9 if amp else 100 * 2.0 ** -24
    assert compiled.history[0]["loss"] == pytest.approx(eager.history[0]["loss"], rel=tolerance)
    assert [n for n, _ in compiled.model.named_parameters()] == [n for n, _ in eager.model.named_parameters()]
    if not amp:
        for (name, p), q in zip(eager.model.named_parameters(), compiled.model.parameters()):
            assert torch.allclose(p, q, rtol=1e-4, atol=1e-6), name


# ------------------------------------------------------------------ failures

def test_nan_embeddings_stop_training(tiny):
    def poison(state: train.TrainState) -> None:  # from the first step on, the encoder emits NaN
        state.model.encoder.register_forward_hook(lambda module, args, out: out * float("nan"))

    for method in ("simclr", "supervised"):
        match = r"epoch 1, step 1 of 4 \(lr [0-9.e-]+\).*lower learning rate"
        with pytest.raises(TrainingDiverged, match=match):
            train.train(config(method), tiny, callbacks=[poison])


def _step_setup(method: str, tiny):
    cfg = config(method).resolved("shapes")
    torch.manual_seed(0)
    model = train.build_model(cfg, num_classes=len(tiny.classes))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
    x1, x2 = (tiny.normalize(tiny.images[:16]) for _ in range(2))
    x2 = None if method == "supervised" else x2.flip(-1)
    return model, optimizer, scheduler, x1, x2, tiny.labels[:16]


# the loss inputs that a NaN online projector spoils (the target network is a copy without the
# hook), as the step names them in its error
POISONED = {"simclr": "z1, z2", "moco_v2": "z1, z2", "simsiam": "p1, p2, z1, z2", "byol": "p1, p2",
            "vicreg": "z1, z2", "barlow_twins": "z1, z2"}


@pytest.mark.parametrize("method", list(METHODS))
def test_step_rejects_non_finite_embeddings_before_changing_anything(tiny, method):
    model, optimizer, scheduler, x1, x2, _ = _step_setup(method, tiny)
    model.projector.register_forward_hook(lambda module, args, out: out * float("nan"))
    def state() -> dict:  # parameters (online and target) and MoCo's queue; BN statistics do move
        queue = model.queue.state_dict() if model.queue is not None else {}
        return {**dict(model.named_parameters()), **{f"queue.{k}": v for k, v in queue.items()}}

    before = {k: v.clone() for k, v in state().items()}
    message = (rf"the {method} embeddings contain NaN or inf \({POISONED[method]} contain\(s\) NaN or "
               r"Inf\. Training has probably diverged: lower the learning rate")
    with pytest.raises(TrainingDiverged, match=message):
        train.train_step(model, optimizer, scheduler, x1, x2, step=0, total_steps=10)
    after = state()
    assert all(torch.equal(v, after[k]) for k, v in before.items())


def test_step_rejects_a_non_finite_loss(tiny):
    model, optimizer, scheduler, x1, _, y = _step_setup("supervised", tiny)
    model.classifier.register_forward_hook(lambda module, args, out: out * float("inf"))
    with pytest.raises(TrainingDiverged, match="the loss is nan"):
        train.train_step(model, optimizer, scheduler, x1, None, y, step=0, total_steps=10)


@pytest.mark.parametrize("method", [*METHODS, "supervised"])
def test_one_host_read_per_step(tiny, method, monkeypatch):
    """The step reads one value back (its combined finiteness check); on a GPU, one sync."""
    model, optimizer, scheduler, x1, x2, y = _step_setup(method, tiny)
    train.train_step(model, optimizer, scheduler, x1, x2, y, step=0, total_steps=10)  # warm-up
    reads = []
    for name in ("item", "tolist", "__bool__", "__float__", "__int__"):
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _original=original, _name=name, **kwargs):
            reads.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    train.train_step(model, optimizer, scheduler, x1, x2, y, step=1, total_steps=10)
    assert reads == ["item"]


def test_absurd_learning_rate_diverges(tiny):
    with pytest.raises(TrainingDiverged, match="amp=False"):
        train.train(config("vicreg", epochs=3, lr=1e6, schedule="constant"), tiny)


def test_divergence_after_the_update_restores_the_last_finite_state(tiny, tmp_path):
    """SGD at lr 1e6 keeps a finite loss but overflows BatchNorm's running variance: the run used to
    return that model; now it raises, restores the initialisation and writes no checkpoint of it."""
    initial = train.KeepInitial()
    cfg = config("supervised", lr=1e6, optimizer="sgd", checkpoint_dir=str(tmp_path))
    with pytest.raises(TrainingDiverged, match=r"epoch 1, step \d of 4 \(lr [0-9.e+]+\): its update left NaN "
                       r"or inf in buffer encoder\.\d+\.running_var.*restored to its last finite state, "
                       r"its initialisation") as info:
        train.train(cfg, tiny, callbacks=[initial])
    err = info.value
    assert err.epoch == 1 and 1 <= err.step <= 4 and err.lr > 1e4 and err.restored_epoch == 0
    assert any(name.endswith("running_var") for name in err.nonfinite)
    state = err.model.state_dict()
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
    assert all(torch.equal(v, initial.model.state_dict()[k]) for k, v in state.items())  # the init
    assert all(torch.equal(v, err.state[k]) for k, v in state.items())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch_0000.pt"]


def test_a_non_finite_update_is_caught_by_the_next_step_or_check_update(tiny):
    model, optimizer, scheduler, x1, x2, _ = _step_setup("simclr", tiny)
    finite = {k: v.clone() for k, v in model.state_dict().items()}
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: float("inf"))
    # lr inf: the update turns every weight with a gradient into inf or NaN
    train.train_step(model, optimizer, scheduler, x1, x2, step=0, total_steps=10)
    with pytest.raises(TrainingDiverged, match=r"the update of step 1 \(lr inf\) left NaN or inf in "
                       r"parameter encoder\.0\.weight") as info:
        train.check_update(model)
    assert "parameter encoder.0.weight" in info.value.nonfinite and info.value.step == 0
    train.check_update(model)  # read once: nothing pending any more
    model.load_state_dict(finite)
    train.train_step(model, optimizer, scheduler, x1, x2, step=1, total_steps=10)
    with pytest.raises(TrainingDiverged, match=r"the update of step 2"):  # folded into the next step
        train.train_step(model, optimizer, scheduler, x1, x2, step=2, total_steps=10)


@pytest.mark.parametrize("field, value, choices", [
    ("method", "simclr2", "moco_v2"), ("optimizer", "rmsprop", "lars"), ("schedule", "step", "one_cycle"),
    ("augment", "autoaugment", "simclr_cifar"), ("encoder", "vit", "resnet18l"),
])
def test_unknown_names_list_the_choices(tiny, field, value, choices):
    cfg = config("simclr") if field != "method" else replace(config("simclr"), method=value)
    if field != "method":
        cfg = replace(cfg, **{field: value})
    with pytest.raises(ValueError, match=f"unknown .*{value}.*{choices}"):
        train.train(cfg, tiny)


def test_batch_larger_than_data_is_an_error(tiny):
    with pytest.raises(ValueError, match="batch_size 512 exceeds the 256 images"):
        train.train(config(batch_size=512), tiny)


def test_defaults_come_from_the_method_spec():
    cfg = TrainConfig("moco_v2").resolved("cifar10")
    assert (cfg.lr, cfg.weight_decay, cfg.epochs, cfg.batch_size) == (0.06, 5e-4, 800, 512)
    assert (cfg.optimizer, cfg.schedule, cfg.momentum) == ("sgd", "one_cycle", (0.85, 0.95))
    assert (cfg.ema_tau, cfg.queue_length, cfg.augment) == (0.99, 4096, "simclr_cifar")
    assert TrainConfig("simclr").resolved("shapes").augment == "shapes"
    assert TrainConfig("supervised").resolved("shapes").augment == "rotation"
    assert TrainConfig("simclr", lr=0.3).resolved().lr == 0.3


# ------------------------------------------------------------------ ablations and positive pairs

def test_without_predictor_builds_no_predictor_and_trains(tiny):
    result = train.train(config("byol", without=("predictor",)), tiny)
    assert result.model.predictor is None and math.isfinite(result.history[-1]["loss"])


def test_without_ema_keeps_the_target_equal_to_the_online_network(tiny):
    result = train.train(config("byol", without=("ema",), epochs=1), tiny)
    model = result.model
    assert model.ema_tau == 0.0
    for online, target in zip(model.encoder.parameters(), model.target_encoder.parameters()):
        assert torch.equal(online, target)
    normal = train.train(config("byol", epochs=1), tiny).model
    assert not all(torch.equal(a, b) for a, b in zip(normal.encoder.parameters(),
                                                      normal.target_encoder.parameters()))


@pytest.mark.parametrize("method, part", [("simclr", "predictor"), ("vicreg", "ema"), ("byol", "head")])
def test_ablations_are_checked(method, part, tiny):
    with pytest.raises(ValueError, match="ablation|no .* to remove"):
        train.train(config(method, without=(part,)), tiny)


def test_simsiam_stop_gradient_is_a_loss_switch():
    from labfree.losses import simsiam_loss
    z = torch.randn(8, 4, requires_grad=True)
    p = torch.randn(8, 4, requires_grad=True)
    simsiam_loss(p, p, z, z).backward()
    assert z.grad is None
    simsiam_loss(p, p, z, z, stop_gradient=False).backward()
    assert z.grad is not None and z.grad.abs().sum() > 0


# the odd pairing collapses, as it should
@pytest.mark.filterwarnings("ignore::labfree.train.CollapseWarning")
def test_positives_pair_each_image_with_a_given_partner(tiny):
    """Without augmentation, ordinary pairs are identical images and SimCLR's loss falls fast. With
    every image paired to image 0, all views 2 of a batch are the same image: no view 1 can single
    out its partner: each row's loss is at least log(N - 1) (its N - 1 copies of the one view 2 in
    the denominator weigh at least as much as its positive)."""
    plain = dict(epochs=3, augment="none", batch_size=16)
    own = train.train(config("simclr", **plain), tiny)
    same = train.train(config("simclr", **plain), tiny, positives=torch.arange(len(tiny))[:, None])
    odd = train.train(config("simclr", **plain), tiny, positives=torch.zeros(len(tiny), 2, dtype=torch.long))
    assert untimed(same.history) == untimed(own.history)  # partner = itself is the default pairing
    assert odd.history[-1]["loss"] >= math.log(16 - 1) > own.history[-1]["loss"] + 0.5, (
        odd.history[-1]["loss"], own.history[-1]["loss"])


@pytest.mark.parametrize("bad", [torch.zeros(3, 1, dtype=torch.long), torch.full((256, 2), 256),
                                 torch.zeros(256, 2)])
def test_positives_are_checked(tiny, bad):
    with pytest.raises(ValueError, match="positives"):
        train.train(config("simclr"), tiny, positives=bad)


def test_augment_options_reach_both_views(tiny):
    cfg = config("byol", augment="byol", augment_blur=0.3,
                 augment_kwargs={"rotation_degrees": 30.0}).resolved("shapes")
    aug1, aug2 = train.view_augmentations(cfg, tiny)
    assert aug1.blur_p == aug2.blur_p == 0.3  # BYOL's own stack has 1.0 and 0.1
    assert aug1.rotation_degrees == aug2.rotation_degrees == (-30.0, 30.0)
    assert aug1.solarize_p != aug2.solarize_p  # the rest of the asymmetric pair is kept
    with pytest.raises(ValueError, match="unknown augment_kwargs"):
        train.train(config("simclr", augment_kwargs={"rotate": 30}), tiny)
