"""Reduced precision where the hardware has it: bf16 autocast and channels-last memory.

On CUDA, bf16 autocast and the NHWC (channels-last) layout are the fast path of every recent GPU.
On a CPU bf16 pays only where the processor multiplies bf16 natively (AVX-512-BF16, AMX tiles, some
Arm cores); elsewhere it is emulated and slower. How much it pays depends on which: against
channels-last float32, a training step of the book's small CNNs ran 1.6-2.3x faster on an Intel
Xeon with AMX, 1.3-1.9x on an AMD EPYC (Zen 4) with AVX-512-BF16 alone, whose bf16 dot-product
instruction does twice the multiply-adds of a float32 one, which bounds a convolution's gain near
2x (``python -m labfree.bench suite`` and ``profile``). The NHWC layout pays on every CPU, in
float32 too: oneDNN's NCHW path reorders activations around each convolution and its batch norm.
A float32 step on one thread (batch 128, AMD EPYC) took 32 -> 24 ms for the width-8 CNN, 74 -> 51
ms for the width-16 VGG, 3.8 -> 3.4 s for ResNet-18L; a ViT (one convolution) is unchanged.
``"auto"`` (the default of :class:`~labfree.train.TrainConfig`) asks the hardware; ``True`` and
``False`` force the choice.

Speed is what the CPU's channels-last layout buys, not float32's accuracy. PyTorch's CPU batch
norm adds up a channels-last activation's per-channel sums one row after another, where the NCHW
kernel sums pairwise: on a 256 x 16 x 28 x 28 activation its forward pass lies 2.5e-5 from float64
against 7e-8 in NCHW, and a SimCLR step's gradient of the book's small CNNs 2-3% from float64's
against about 1e-6 per tensor (bf16: 8-16%; Xeon and EPYC alike, PyTorch 2.14, batch 256;
``python -m labfree.bench accuracy``). Training does not notice (a minibatch's gradient is far
noisier than that); a gradient check or a float32 reference does: ``channels_last=False``.
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
    channels-last layout on every CPU and, on CUDA, where bf16 is on (cuDNN's bf16 convolutions
    want NHWC; its float32 ones gain little from it)."""
    for name, value in (("amp", amp), ("channels_last", channels_last)):
        if not (isinstance(value, bool) or value == "auto"):
            raise ValueError(f"{name} must be True, False or 'auto', got {value!r}")
    use_amp = bf16_native(device) if amp == "auto" else amp
    if channels_last == "auto":
        use_nhwc = use_amp or torch.device(device).type == "cpu"
    else:
        use_nhwc = channels_last
    return bool(use_amp), bool(use_nhwc)


def describe(device: torch.device | str) -> str:
    """One line naming the precision and layout ``"auto"`` picks on ``device``."""
    amp, nhwc = resolve("auto", "auto", device)
    return ("bf16 autocast" if amp else "float32") + (", channels-last" if nhwc else "")
