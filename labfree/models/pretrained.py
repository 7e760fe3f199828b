"""torchvision's ImageNet weights, from the torch hub cache (downloaded there once, hash-checked).

Offline without a cached file, :func:`imagenet_state_dict` raises ``FileNotFoundError`` saying
which file to fetch where there is internet and where to put it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import Tensor, nn

__all__ = ["imagenet_state_dict"]

# torchvision's weight enums, by architecture (looked up when needed: importing torchvision costs a
# second at start-up)
_IMAGENET_WEIGHTS = {"resnet18": "ResNet18_Weights", "resnet34": "ResNet34_Weights"}


def _weights_file(arch: str) -> tuple[str, Path]:
    if arch not in _IMAGENET_WEIGHTS:
        raise ValueError(
            f"no ImageNet weights registered for {arch!r}; choose one of {sorted(_IMAGENET_WEIGHTS)}."
        )
    from torchvision import models as tvm

    url = getattr(tvm, _IMAGENET_WEIGHTS[arch]).IMAGENET1K_V1.url
    # the same place torchvision's own loader uses, so a cache filled by torchvision is found
    return url, Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def imagenet_state_dict(arch: str, *, download: bool = True) -> dict[str, Tensor]:
    """torchvision's ImageNet state_dict for ``arch`` ("resnet18" or "resnet34").

    Looks in ``torch.hub.get_dir()/checkpoints`` (``$TORCH_HOME/hub/checkpoints``, by default
    ``~/.cache/torch/hub/checkpoints``) under torchvision's filename; if the file is absent and
    ``download`` is true, downloads it there (hash-checked). Offline with no cached file, raises
    ``FileNotFoundError`` saying what to run where there is internet.
    """
    url, path = _weights_file(arch)
    if not path.is_file():
        reason = "downloading was switched off (download=False)"
        if download:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                # torchvision filenames end in the first hex digits of the file's sha256
                hash_prefix = path.stem.split("-")[-1]
                torch.hub.download_url_to_file(url, str(path), hash_prefix=hash_prefix, progress=False)
            except (OSError, RuntimeError) as err:  # no network, DNS, HTTP error, hash mismatch
                reason = f"download from {url} failed: {err}"
            else:
                reason = ""
        if reason:
            raise FileNotFoundError(
                f"ImageNet weights for {arch} are not available: {path.name} is missing from "
                f"{path.parent} (torch.hub.get_dir()/checkpoints; set TORCH_HOME to move it) and {reason}. "
                f"On a machine with internet run\n"
                f"    python -c \"import labfree.models as m; m.imagenet_state_dict('{arch}')\"\n"
                f"and copy {path.name} into {path.parent} here. Offline, use pretrained=False "
                "(random initialisation) instead."
            )
    return torch.load(path, map_location="cpu", weights_only=True)


def _load_imagenet(model: nn.Module, arch: str, *, skip: Sequence[str], download: bool) -> None:
    state = imagenet_state_dict(arch, download=download)
    state = {k: v for k, v in state.items() if not any(k.startswith(s) for s in skip)}
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not any(k.startswith(s) for s in skip)]
    if missing or result.unexpected_keys:
        raise RuntimeError(
            f"the cached {arch} ImageNet checkpoint does not fit the model (missing {missing[:5]}, "
            f"unexpected {result.unexpected_keys[:5]}); delete it and download again."
        )
