"""Milestone checkpoints: everything needed to resume a run bit-exactly, and loading a trained model.

A checkpoint file is written atomically: to a temporary file in the same directory, flushed and
fsync'ed, then renamed over its final name (``os.replace``), so a run killed while writing leaves
the previous checkpoints intact and no half-written file under a checkpoint's name. The file is

    MAGIC | header length (8 bytes, little-endian) | header (JSON) | sha256 of the header | payload

The header holds the format version, the epoch, the payload's length and sha256, the sha256 of the
resolved config (its fields that change what a run computes) and a fingerprint of the data set
(name, size, image shape, the sha256 of the images and of the labels, the number of classes, the
``positives`` if any). The payload is ``torch.save`` of plain dicts, lists, tensors, numbers and
strings, read back with ``torch.load(..., weights_only=True)``: loading a checkpoint runs no code.

Reading checks, in this order, that the file is a labfree checkpoint, that it is complete, that
both checksums match, and that torch can read the payload; each failure raises
:class:`CheckpointError` naming the file and the newest readable checkpoint in its directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import random
import tempfile
import warnings
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .config import _RUNTIME_FIELDS, TrainConfig, TrainingDiverged
from .model import SSLModel, build_model
from .step import nonfinite

MAGIC = b"LABFREE-CHECKPOINT\n"
FORMAT = 1
_DIGEST = 32  # bytes of a sha256
_MAX_HEADER = 1 << 20


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: truncated, corrupted, not a labfree checkpoint, or written
    for another data set or config. The message names the file and the newest readable checkpoint
    in its directory."""


# ---------------------------------------------------------------------- fingerprints

def _sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).reshape(-1).view(np.uint8)).hexdigest()


def data_fingerprint(data: Any, positives: Tensor | None = None) -> dict[str, Any]:
    """What identifies a data set for a run: name, size, image shape and dtype, the sha256 of the
    images and of the labels, the number of classes, and the sha256 of ``positives`` (or ``None``)."""
    images = data.images.detach().cpu()
    labels = torch.as_tensor(data.labels).detach().cpu()
    return {
        "name": getattr(data, "name", None), "size": int(images.shape[0]),
        "shape": [int(s) for s in images.shape[1:]], "dtype": str(images.dtype),
        "images_sha256": _sha256(images.numpy()), "labels_sha256": _sha256(labels.numpy()),
        "classes": len(getattr(data, "classes", ())),
        "positives_sha256": None if positives is None else _sha256(positives.detach().cpu().numpy()),
    }


def config_fingerprint(config: TrainConfig) -> str:
    """sha256 of the resolved config's fields that change what a run computes (not the runtime
    fields: device, compile, milestones, checkpoint_dir, progress)."""
    computed = {k: v for k, v in asdict(config).items() if k not in _RUNTIME_FIELDS}
    return hashlib.sha256(json.dumps(computed, sort_keys=True, default=repr).encode()).hexdigest()


def _differing_data(saved: dict[str, Any], now: dict[str, Any], supervised: bool) -> list[str]:
    """The fingerprint keys that differ. Labels count only where the method reads them."""
    keys = ["size", "shape", "dtype", "images_sha256", "positives_sha256"]
    if supervised:
        keys += ["labels_sha256", "classes"]
    return [k for k in keys if saved.get(k) != now.get(k)]


def check_data(checkpoint: dict[str, Any], path: str | Path, fingerprint: dict[str, Any],
               supervised: bool) -> None:
    """Refuse to resume ``checkpoint`` on a data set other than the one it was trained on."""
    saved = checkpoint.get("data") or {}
    if differ := _differing_data(saved, fingerprint, supervised):
        def show(f: dict[str, Any]) -> str:
            return ", ".join(f"{k} {str(f.get(k))[:12]}" for k in differ)
        raise CheckpointError(
            f"cannot resume {path}: it was written for another data set (differs in {differ}; "
            f"checkpoint: {show(saved)}; now: {show(fingerprint)}). Resume with the data set the run "
            f"was trained on ({saved.get('name')}, {saved.get('size')} images), or train anew.")


# ---------------------------------------------------------------------- writing

def _plain(value: Any, where: str) -> Any:
    """``value`` as what ``torch.load(weights_only=True)`` reads: dicts, lists, tuples, tensors,
    numbers, strings, ``None`` (NumPy scalars become numbers and arrays tensors)."""
    if value is None or isinstance(value, (bool, int, float, str, Tensor)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy())
    if isinstance(value, dict):
        return {k: _plain(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):  # a named tuple becomes a plain one
        items = [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    raise CheckpointError(
        f"{where} holds a {type(value).__name__}, which a checkpoint cannot store safely (it is read "
        "with torch.load(weights_only=True)): have the callback return numbers, strings, tensors, "
        "lists or dicts of them.")


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> list[tuple[str, Tensor]]:
    return [(f"optimizer state {key} #{i}", value) for i, state in enumerate(optimizer.state.values())
            for key, value in state.items() if isinstance(value, Tensor)]


def _save(path: Path, config: TrainConfig, epoch: int, elapsed: float, model: SSLModel,
          optimizer: torch.optim.Optimizer, scheduler: Any, generator: torch.Generator,
          history: list, milestones: list, fingerprint: dict[str, Any]) -> None:
    """Write a checkpoint atomically; refuse (``TrainingDiverged``) if anything in it is not finite."""
    state = model.state_dict()
    if bad := nonfinite([*state.items(), *_optimizer_tensors(optimizer)]):
        raise TrainingDiverged(f"refusing to write {path}: {', '.join(bad[:6])} hold(s) NaN or inf; "
                               "a checkpoint is only ever written from a finite model.", nonfinite=tuple(bad))
    np_state = np.random.get_state()
    rng = {"torch": torch.get_rng_state(), "generator": generator.get_state(),
           "python": random.getstate(), "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)),
                                                  *np_state[2:])}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    payload = {"config": asdict(config), "epoch": epoch, "elapsed": elapsed, "model": state,
               "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rng,
               "history": _plain(history, "history"), "milestones": _plain(milestones, "milestones")}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    body = buffer.getbuffer()
    header = {"format": FORMAT, "epoch": epoch, "method": config.method, "planned_epochs": config.epochs,
              "payload_bytes": len(body), "payload_sha256": hashlib.sha256(body).hexdigest(),
              "config_sha256": config_fingerprint(config), "data": fingerprint, "torch": torch.__version__}
    head = json.dumps(header, sort_keys=True).encode()
    _write_atomic(path, (MAGIC, len(head).to_bytes(8, "little"), head, hashlib.sha256(head).digest(), body))


def _write_atomic(path: Path, parts: tuple[bytes | memoryview, ...]) -> None:
    """Write ``parts`` to ``path`` through a temporary file in the same directory: flush, fsync,
    ``os.replace``, then fsync the directory. Leftovers of an earlier killed write are removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        with contextlib.suppress(OSError):
            stale.unlink()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            for part in parts:
                f.write(part)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would make checkpoints private to their writer
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable (POSIX)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


# ---------------------------------------------------------------------- reading

def _read_header(blob: bytes) -> tuple[dict[str, Any], int]:
    """The header of a checkpoint's bytes and where its payload starts; ``ValueError`` saying why not."""
    if not blob.startswith(MAGIC):
        if MAGIC.startswith(blob):
            raise ValueError(f"it is truncated ({len(blob)} bytes, not even a complete header)")
        if blob[:4] == b"PK\x03\x04":
            raise ValueError("it is a torch (zip) file but not a labfree checkpoint: it lacks the labfree "
                             "header (was it written by torch.save rather than by labfree.train?)")
        raise ValueError(f"it is not a labfree checkpoint (it starts with {blob[:12]!r})")
    start = len(MAGIC) + 8
    if len(blob) < start:
        raise ValueError(f"it is truncated ({len(blob)} bytes, not even a complete header)")
    size = int.from_bytes(blob[len(MAGIC):start], "little")
    if size > _MAX_HEADER:
        raise ValueError(f"it is corrupted: its header length reads {size} bytes")
    if len(blob) < start + size + _DIGEST:
        raise ValueError(f"it is truncated ({len(blob)} bytes, not even a complete header)")
    head = blob[start:start + size]
    if hashlib.sha256(head).digest() != blob[start + size:start + size + _DIGEST]:
        raise ValueError("it is corrupted: the checksum of its header does not match")
    header = json.loads(head)
    if header.get("format", 0) > FORMAT:
        raise ValueError(f"it was written in checkpoint format {header['format']} by a newer labfree "
                         f"(this one reads format {FORMAT}); update labfree")
    return header, start + size + _DIGEST


def _read(path: Path) -> tuple[dict[str, Any], memoryview]:
    """Header and verified payload bytes of the checkpoint at ``path``; ``ValueError`` saying why not."""
    blob = path.read_bytes()
    header, offset = _read_header(blob)
    body = memoryview(blob)[offset:]
    expected = header["payload_bytes"]
    if len(body) < expected:
        raise ValueError(f"it is truncated: {len(body)} of its {expected} payload bytes are there "
                         "(the write was interrupted, or the copy is incomplete)")
    if len(body) > expected:
        raise ValueError(f"it is corrupted: {len(body) - expected} bytes follow the payload")
    if hashlib.sha256(body).hexdigest() != header["payload_sha256"]:
        raise ValueError("it is corrupted: the sha256 of its payload does not match the one it was "
                         "written with (a flipped or overwritten byte)")
    return header, body


def _peek_epoch(path: Path) -> int | None:
    """The epoch in a checkpoint's header, reading only the header; ``None`` if unreadable."""
    try:
        with open(path, "rb") as f:
            start = f.read(len(MAGIC) + 8)
            size = int.from_bytes(start[len(MAGIC):], "little")
            if not start.startswith(MAGIC) or size > _MAX_HEADER:
                return None
            header, _ = _read_header(start + f.read(size + _DIGEST))
        return int(header["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def latest_checkpoint(directory: str | Path, *, exclude: str | Path | None = None) -> Path | None:
    """The newest checkpoint in ``directory`` (highest epoch, then latest modification) that reads
    back complete and with matching checksums; ``None`` if there is none. Temporary files of
    interrupted writes (``.epoch_0005.pt.*.tmp``) are not checkpoints and are skipped."""
    directory = Path(directory)
    excluded = Path(exclude).resolve() if exclude is not None else None
    if not directory.is_dir():
        return None
    candidates = []
    for path in directory.glob("*.pt"):
        if path.is_file() and path.resolve() != excluded and (epoch := _peek_epoch(path)) is not None:
            candidates.append((epoch, path.stat().st_mtime, path))
    for _, _, path in sorted(candidates, reverse=True):
        try:
            _read(path)
        except (OSError, ValueError, KeyError):
            continue
        return path
    return None


def _unusable(path: Path, reason: str) -> CheckpointError:
    directory = path.parent
    other = latest_checkpoint(directory, exclude=path)
    if other is not None:
        hint = (f"The newest readable checkpoint in {directory} is {other.name} (epoch "
                f"{_peek_epoch(other)}): resume from it, e.g. train.resume({str(other)!r}, data).")
    else:
        hint = f"No other readable checkpoint is in {directory}: train from the start."
    return CheckpointError(f"{path} is not a usable checkpoint: {reason}. {hint}")


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a milestone checkpoint: a dict with ``config`` (as a dict), ``epoch``, ``model`` (a
    state_dict), ``optimizer``, ``scheduler``, ``rng``, ``history`` and ``milestones``, plus the
    header's ``data`` fingerprint and ``config_sha256``.

    The file is verified (complete, both checksums) before torch reads a byte of it, and read with
    ``weights_only=True``. Raises :class:`CheckpointError` for a truncated, corrupted or foreign
    file, and ``FileNotFoundError`` for a missing one, each naming the newest readable checkpoint
    in the file's directory.
    """
    path = Path(path)
    if not path.is_file():
        error = _unusable(path, "there is no such file")
        raise FileNotFoundError(str(error))
    try:
        header, body = _read(path)
    except ValueError as err:
        raise _unusable(path, str(err)) from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            payload = torch.load(io.BytesIO(body), map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001  (torch raises several kinds; say which file and why)
        raise _unusable(path, f"its checksum matches but its payload holds something torch will not read "
                              f"safely ({type(err).__name__}: {str(err).splitlines()[0][:200]})") from None
    if not isinstance(payload, dict) or not {"config", "epoch", "model"} <= set(payload):
        raise _unusable(path, "its payload is not a training checkpoint")
    payload["data"] = header.get("data")
    payload["config_sha256"] = header.get("config_sha256")
    return payload


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> SSLModel:
    """Rebuild the :class:`SSLModel` saved in a checkpoint (e.g. to embed a milestone's encoder)."""
    checkpoint = load_checkpoint(path, map_location)
    config = config_from(checkpoint)
    state = checkpoint["model"]
    num_classes = state["classifier.weight"].shape[0] if "classifier.weight" in state else None
    model = build_model(config, num_classes=num_classes)  # in the layout it trained in
    model.load_state_dict(state)
    return model


def config_from(checkpoint: dict[str, Any]) -> TrainConfig:
    """The (resolved) :class:`TrainConfig` a checkpoint was written with."""
    known = {f.name for f in fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in checkpoint["config"].items() if k in known})


# ---------------------------------------------------------------------- resuming

def check_config(checkpoint: dict[str, Any], path: str | Path, config: TrainConfig) -> None:
    """Refuse to resume with a config that computes something else (``epochs`` may differ: the run
    is then extended or shortened, see :func:`~labfree.train.resume`)."""
    saved, current = checkpoint["config"], asdict(config)
    differ = [f.name for f in fields(config) if f.name not in (*_RUNTIME_FIELDS, "epochs")
              and _plain_value(saved.get(f.name)) != _plain_value(current[f.name])]
    if differ:
        raise ValueError(f"cannot resume {path}: the config differs in {differ} "
                         f"(checkpoint: {[saved.get(k) for k in differ]}, "
                         f"now: {[current[k] for k in differ]}); "
                         "resume with the config the checkpoint was written with.")
    if checkpoint["epoch"] > config.epochs:
        raise ValueError(f"cannot resume {path} to epochs={config.epochs}: the checkpoint is at epoch "
                         f"{checkpoint['epoch']} already; pass epochs >= {checkpoint['epoch']}.")


def _restore(checkpoint: dict[str, Any], config: TrainConfig, model: SSLModel,
             optimizer: torch.optim.Optimizer, scheduler: Any, generator: torch.Generator, history: list,
             milestones: list, steps_per_epoch: int) -> tuple[int, float]:
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    epoch = checkpoint["epoch"]
    if checkpoint["config"]["epochs"] == config.epochs:
        scheduler.load_state_dict(checkpoint["scheduler"])
    else:  # the schedule was built for this run's epochs: move it to where the checkpoint stopped
        scheduler.last_epoch = epoch * steps_per_epoch - 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "step() before optimizer.step()"
            scheduler.step()
    rng = checkpoint["rng"]
    torch.set_rng_state(rng["torch"])
    generator.set_state(rng["generator"])
    random.setstate(rng["python"])
    kind, keys, *rest = rng["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), *rest))
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    history.extend(checkpoint["history"])
    milestones.extend(checkpoint["milestones"])
    return epoch, checkpoint["elapsed"]


def _plain_value(value: Any) -> Any:
    return list(value) if isinstance(value, (tuple, list)) else value
