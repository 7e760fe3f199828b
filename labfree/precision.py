"""Reduced precision where the hardware has it: bf16 autocast and channels-last memory.

On CUDA, bf16 autocast and the NHWC (channels-last) layout are the fast path of every recent GPU.
On a CPU they pay only where the processor multiplies bf16 natively (Intel's AVX-512-BF16 and AMX,
some Arm cores): there a training step of the book's small CNNs runs 2-3x faster than in float32,
elsewhere bf16 is emulated and slower. ``"auto"`` (the default of :class:`~labfree.train.TrainConfig`)
asks the hardware; ``True`` and ``False`` force the choice.
"""

from __future__ import annotations

from typing import Literal

import torch

Choice = bool | Literal["auto"]


def bf16_native(device: torch.device | str) -> bool:
    """Whether ``device`` multiplies bf16 in hardware (CUDA with bf16 support, or a CPU with
    AVX-512-BF16 or AMX tiles)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        cpu = torch.cpu
        checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(getattr(cpu, name, lambda: False)() for name in checks)
    return False


def resolve(amp: Choice, channels_last: Choice, device: torch.device | str) -> tuple[bool, bool]:
    """Turn ``amp`` and ``channels_last`` choices (``True``, ``False`` or ``"auto"``) into booleans
    for ``device``. ``"auto"`` enables bf16 where :func:`bf16_native` says it is fast, and the
    channels-last layout where bf16 is on (oneDNN's and cuDNN's bf16 convolutions want NHWC)."""
    for name, value in (("amp", amp), ("channels_last", channels_last)):
        if not (isinstance(value, bool) or value == "auto"):
            raise ValueError(f"{name} must be True, False or 'auto', got {value!r}")
    use_amp = bf16_native(device) if amp == "auto" else amp
    use_nhwc = use_amp if channels_last == "auto" else channels_last
    return bool(use_amp), bool(use_nhwc)


def describe(device: torch.device | str) -> str:
    """One line naming the precision ``"auto"`` picks on ``device``."""
    return "bf16 autocast, channels-last" if bf16_native(device) else "float32"
