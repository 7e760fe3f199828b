"""Milestone checkpoints: everything needed to resume a run bit-exactly, and loading a trained model."""

from __future__ import annotations

import random
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import _RUNTIME_FIELDS, TrainConfig
from .model import SSLModel, build_model


def _save(path: Path, config: TrainConfig, epoch: int, elapsed: float, model: SSLModel,
          optimizer: torch.optim.Optimizer, scheduler: Any, generator: torch.Generator,
          history: list, milestones: list) -> None:
    np_state = np.random.get_state()
    rng = {"torch": torch.get_rng_state(), "generator": generator.get_state(),
           "python": random.getstate(), "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)),
                                                  *np_state[2:])}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": asdict(config), "epoch": epoch, "elapsed": elapsed, "model": model.state_dict(),
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rng,
                "history": history, "milestones": milestones}, path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a milestone checkpoint: a dict with ``config`` (as a dict), ``epoch``, ``model`` (a
    state_dict), ``optimizer``, ``scheduler``, ``rng``, ``history`` and ``milestones``."""
    return torch.load(path, map_location=map_location, weights_only=True)


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> SSLModel:
    """Rebuild the :class:`SSLModel` saved in a checkpoint (e.g. to embed a milestone's encoder)."""
    checkpoint = load_checkpoint(path, map_location)
    config = TrainConfig(**checkpoint["config"])
    state = checkpoint["model"]
    num_classes = state["classifier.weight"].shape[0] if "classifier.weight" in state else None
    model = build_model(config, num_classes=num_classes)
    model.load_state_dict(state)
    if config.channels_last is True:  # the layout it trained in: the same kernels, the same outputs
        model = model.to(memory_format=torch.channels_last)
    return model


def _restore(path: str | Path, config: TrainConfig, model: SSLModel, optimizer: torch.optim.Optimizer,
             scheduler: Any, generator: torch.Generator, history: list,
             milestones: list) -> tuple[int, float]:
    checkpoint = load_checkpoint(path)
    saved, current = checkpoint["config"], asdict(config)
    differ = [f.name for f in fields(config) if f.name not in _RUNTIME_FIELDS
              and _plain(saved.get(f.name)) != _plain(current[f.name])]
    if differ:
        raise ValueError(f"cannot resume {path}: the config differs in {differ} "
                         f"(checkpoint: {[saved.get(k) for k in differ]}, "
                         f"now: {[current[k] for k in differ]}); "
                         "resume with the config the checkpoint was written with.")
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    scheduler.load_state_dict(checkpoint["scheduler"])
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
    return checkpoint["epoch"], checkpoint["elapsed"]


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, (tuple, list)) else value
