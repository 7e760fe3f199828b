"""Checkpoints that cannot lose work: atomic writes, checksums, fingerprints, extension, and a run
SIGKILLed in the middle of writing a checkpoint that resumes to the uninterrupted run's weights.

A tiny SimCLR (a 4-wide CNN, 64 images, two steps per epoch) on CPU, one torch thread."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch

from labfree import data, train
from labfree.train import CheckpointError, TrainConfig, TrainingDiverged

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
TIMING = ("images_per_s", "epoch_time_s", "wall_time_s")


def config(method: str = "simclr", **kw) -> TrainConfig:
    base = dict(encoder="small_cnn", encoder_kwargs=dict(width=4, out_dim=16), batch_size=32, epochs=2,
                device="cpu", progress=False, projector_kwargs=dict(hidden_dim=32, out_dim=16))
    if method == "supervised":
        base.pop("projector_kwargs")
    return TrainConfig(method, **{**base, **kw})


def untimed(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in record.items() if k not in TIMING} for record in history]


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def tiny() -> data.ImageSet:
    return data.load("shapes", "train", n=64)


@pytest.fixture(scope="module")
def run(tiny, tmp_path_factory):
    """A finished 2-epoch run with a checkpoint at every epoch."""
    directory = tmp_path_factory.mktemp("run")
    result = train.train(config(milestone_every=1, checkpoint_dir=str(directory)), tiny)
    return directory, result


# ------------------------------------------------------------------ corrupted files

def test_a_truncated_checkpoint_names_the_newest_readable_one(run, tmp_path):
    directory, _ = run
    blob = (directory / "epoch_0002.pt").read_bytes()
    for cut in (10, 100, len(blob) // 2, len(blob) - 1):
        (tmp_path / "epoch_0000.pt").write_bytes((directory / "epoch_0000.pt").read_bytes())
        (tmp_path / "epoch_0002.pt").write_bytes(blob[:cut])
        with pytest.raises(CheckpointError, match=r"epoch_0002\.pt is not a usable checkpoint: it is "
                           r"truncated.*newest readable checkpoint in .* is epoch_0000\.pt \(epoch 0\)"):
            train.load_checkpoint(tmp_path / "epoch_0002.pt")
        assert train.latest_checkpoint(tmp_path) == tmp_path / "epoch_0000.pt"


def test_a_flipped_byte_inside_a_tensor_fails_the_checksum(run, tmp_path):
    """Without the checksum torch would load the altered weight without a word."""
    directory, result = run
    blob = bytearray((directory / "epoch_0002.pt").read_bytes())
    weight = train.load_checkpoint(directory / "epoch_0002.pt")["model"]["projector.0.weight"]
    at = bytes(blob).find(weight.numpy().tobytes())
    assert at > 0  # the tensor's bytes, stored as they are
    blob[at + weight.numel() * 2] ^= 0x01  # one bit of one float in the middle of the matrix
    (tmp_path / "epoch_0002.pt").write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match="corrupted: the sha256 of its payload does not match.*"
                       "No other readable checkpoint"):
        train.load_checkpoint(tmp_path / "epoch_0002.pt")
    with pytest.raises(CheckpointError, match="sha256"):
        train.resume(tmp_path / "epoch_0002.pt", data.load("shapes", "train", n=64))


def test_random_bytes_and_a_plain_torch_file_are_not_checkpoints(tmp_path):
    (tmp_path / "noise.pt").write_bytes(random.Random(0).randbytes(10_000))
    with pytest.raises(CheckpointError, match=r"noise\.pt is not a usable checkpoint: it is not a labfree "
                       "checkpoint"):
        train.load_checkpoint(tmp_path / "noise.pt")
    torch.save({"config": {}, "epoch": 3, "model": {}}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="torch \\(zip\\) file but not a labfree checkpoint.*"
                       "No other readable checkpoint is in"):
        train.load_checkpoint(tmp_path / "plain.pt")
    assert train.latest_checkpoint(tmp_path) is None


def test_no_error_suggests_turning_off_weights_only(run, tmp_path):
    directory, _ = run
    blob = (directory / "epoch_0001.pt").read_bytes()
    messages = []
    for name, content in (("a.pt", blob[:50]), ("b.pt", b"\x80\x04junk"), ("c.pt", blob[:-3] + b"xyz")):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(CheckpointError) as info:
            train.load_checkpoint(tmp_path / name)
        messages.append(str(info.value))
    assert all("weights_only=False" not in m for m in messages)


# ------------------------------------------------------------------ fingerprints and resuming

def test_resume_on_another_data_set_is_refused_before_any_step(run, tiny, monkeypatch):
    directory, _ = run
    steps = []
    monkeypatch.setattr(train.loop, "train_step", lambda *a, **k: steps.append(1))
    other = replace(tiny, images=tiny.images.flip(-1))
    with pytest.raises(CheckpointError, match=r"another data set \(differs in \['images_sha256'\]"):
        train.resume(directory / "epoch_0001.pt", other)
    with pytest.raises(CheckpointError, match=r"differs in \['size', 'images_sha256'\]"):
        train.resume(directory / "epoch_0001.pt", data.load("shapes", "train", n=96))
    with pytest.raises(CheckpointError, match=r"positives_sha256"):
        train.resume(directory / "epoch_0001.pt", tiny, positives=torch.arange(64)[:, None])
    assert steps == []


def test_labels_count_in_the_fingerprint_only_where_the_method_reads_them(tiny, tmp_path):
    relabelled = replace(tiny, labels=tiny.labels.roll(1))
    ssl = config(epochs=1, checkpoint_dir=str(tmp_path / "ssl"))
    train.train(ssl, tiny)
    resumed = train.resume(tmp_path / "ssl" / "epoch_0001.pt", relabelled, epochs=2, checkpoint_dir=None)
    assert len(resumed.history) == 2
    supervised = config("supervised", epochs=1, checkpoint_dir=str(tmp_path / "sup"))
    train.train(supervised, tiny)
    with pytest.raises(CheckpointError, match=r"labels_sha256"):
        train.resume(tmp_path / "sup" / "epoch_0001.pt", relabelled, epochs=2)


def test_resume_finishes_a_run_bit_for_bit(run, tiny):
    directory, result = run
    resumed = train.resume(directory / "epoch_0001.pt", tiny, checkpoint_dir=None)
    assert same_weights(resumed.model, result.model)
    assert untimed(resumed.history) == untimed(result.history)
    assert resumed.milestones == result.milestones


def test_extending_a_finished_run_from_2_to_4_epochs(run, tiny, tmp_path):
    directory, two = run
    extended = train.resume(directory / "epoch_0002.pt", tiny, epochs=4, checkpoint_dir=str(tmp_path),
                            milestone_every=None)
    planned = train.train(config(epochs=4), tiny)
    assert [h["epoch"] for h in extended.history] == [1, 2, 3, 4]
    assert untimed(extended.history[:2]) == untimed(two.history)   # the first two epochs, as trained
    # epochs 3 and 4 follow the schedule of a run planned for 4 epochs (as the docstring says) ...
    assert [h["lr"] for h in extended.history[2:]] == [h["lr"] for h in planned.history[2:]]
    # ... after epochs 1 and 2 on the 2-epoch schedule: a different run (one-cycle restarts)
    assert [h["lr"] for h in extended.history[:2]] != [h["lr"] for h in planned.history[:2]]
    assert not same_weights(extended.model, planned.model)
    assert [m["epoch"] for m in extended.milestones] == [0, 1, 2, 4]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch_0004.pt"]
    again = train.resume(tmp_path / "epoch_0004.pt", tiny, epochs=4, checkpoint_dir=None)
    assert same_weights(again.model, extended.model)  # nothing left to train
    with pytest.raises(ValueError, match=r"checkpoint is at epoch 4 already; pass epochs >= 4"):
        train.resume(tmp_path / "epoch_0004.pt", tiny, epochs=3)


def test_checkpoints_record_the_config_and_data_fingerprints(run, tiny):
    directory, result = run
    checkpoint = train.load_checkpoint(directory / "epoch_0002.pt")
    assert checkpoint["data"]["size"] == 64 and checkpoint["data"]["shape"] == [1, 28, 28]
    assert len(checkpoint["data"]["images_sha256"]) == 64
    assert checkpoint["config_sha256"] == train.checkpoints.config_fingerprint(result.config)
    assert checkpoint["config"] == asdict(result.config)


# ------------------------------------------------------------------ atomic writes

def test_an_interrupted_write_leaves_the_previous_checkpoints_and_no_partial_file(tiny, tmp_path,
                                                                                  monkeypatch):
    real = os.replace
    calls = []

    def failing_replace(src, dst):  # the write dies after the bytes, before the rename
        calls.append(dst)
        if str(dst).endswith("epoch_0002.pt"):
            raise OSError("disk full")
        return real(src, dst)

    monkeypatch.setattr(train.checkpoints.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        train.train(config(milestone_every=1, checkpoint_dir=str(tmp_path)), tiny)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch_0000.pt", "epoch_0001.pt"]
    assert train.latest_checkpoint(tmp_path) == tmp_path / "epoch_0001.pt"


def test_a_non_finite_model_is_never_checkpointed(tiny, tmp_path):
    def poison(state: train.TrainState) -> None:  # a callback that breaks a BatchNorm statistic
        if state.epoch == 1:
            state.model.encoder[1].running_var[0] = float("inf")

    with pytest.raises(TrainingDiverged, match=r"refusing to write .*epoch_0001\.pt: "
                       r"encoder\.1\.running_var hold\(s\) NaN or inf"):
        train.train(config(milestone_every=1, checkpoint_dir=str(tmp_path)), tiny, callbacks=[poison])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch_0000.pt"]


# ------------------------------------------------------------------ a SIGKILL in the middle of a write

CHILD = r"""
import json, os, sys, time
import torch
torch.set_num_threads(1)
from labfree import data, train

config, marker, hang_at = train.TrainConfig(**json.loads(sys.argv[1])), sys.argv[2], sys.argv[3]
real_fdopen = os.fdopen


class Torn:
    # a file that writes half of the first large chunk, flushes it, then waits to be killed
    def __init__(self, f):
        self.f = f

    def write(self, chunk):
        if len(chunk) > 1000:
            self.f.write(bytes(chunk[: len(chunk) // 2]))
            self.f.flush()
            open(marker, "w").close()
            time.sleep(600)
        return self.f.write(chunk)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self.f.__exit__(*exc)


def fdopen(fd, *args, **kwargs):
    f = real_fdopen(fd, *args, **kwargs)
    return Torn(f) if hang_at and f".{hang_at}." in os.readlink(f"/proc/self/fd/{fd}") else f


os.fdopen = fdopen
if not hang_at:
    open(marker, "w").close()
train.train(config, data.load("shapes", "train", n=64))
"""


def _start(cfg: TrainConfig, marker: Path, hang_at: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(asdict(cfg)), str(marker), hang_at],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_for(marker: Path, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not marker.exists():
        if proc.poll() is not None:
            raise AssertionError(f"the training process ended early: {proc.stderr.read().decode()[-2000:]}")
        assert time.monotonic() < deadline, "the training process never reached the write"
        time.sleep(0.05)


def _kill(proc: subprocess.Popen) -> bool:
    """SIGKILL the process if it still runs; whether it did."""
    alive = proc.poll() is None
    if alive:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    proc.stderr.close()
    assert proc.returncode == (-signal.SIGKILL if alive else 0)
    return alive


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to find the file being written")
def test_a_run_killed_while_writing_a_checkpoint_resumes_to_the_same_weights(tiny, tmp_path):
    cfg = config(epochs=4, milestone_every=1, checkpoint_dir=str(tmp_path / "run"))
    t0 = time.perf_counter()
    uninterrupted = train.train(replace(cfg, checkpoint_dir=None), tiny)
    seconds = time.perf_counter() - t0  # about how long the child trains once it has started

    # 1. killed halfway through writing epoch 3's checkpoint: a torn temporary file, nothing else
    proc = _start(cfg, tmp_path / "writing", "epoch_0003.pt")
    _wait_for(tmp_path / "writing", proc)
    assert _kill(proc)
    names = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert names[1:] == ["epoch_0000.pt", "epoch_0001.pt", "epoch_0002.pt"]
    assert names[0].startswith(".epoch_0003.pt.") and names[0].endswith(".tmp")  # the torn write
    latest = train.latest_checkpoint(tmp_path / "run")
    assert latest == tmp_path / "run" / "epoch_0002.pt"
    resumed = train.resume(latest, tiny)
    assert same_weights(resumed.model, uninterrupted.model)
    assert untimed(resumed.history) == untimed(uninterrupted.history)
    # the resumed run rewrote epochs 3 and 4 and swept the torn file away
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [f"epoch_{e:04d}.pt" for e in range(5)]

    # 2. killed at a random moment of a fresh run: resume from whatever is newest, or start again
    killed = []
    for attempt in range(2):
        directory = tmp_path / f"random{attempt}"
        proc = _start(replace(cfg, checkpoint_dir=str(directory)), tmp_path / f"started{attempt}", "")
        _wait_for(tmp_path / f"started{attempt}", proc)
        time.sleep(random.Random(attempt).uniform(0.2, 1.5) * seconds)
        killed.append(_kill(proc))
        latest = train.latest_checkpoint(directory)
        again = (train.resume(latest, tiny) if latest is not None
                 else train.train(replace(cfg, checkpoint_dir=str(directory)), tiny))
        assert same_weights(again.model, uninterrupted.model), (attempt, latest, killed)
