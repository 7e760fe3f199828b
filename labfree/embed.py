"""Embedding a dataset with a frozen encoder.

Every evaluation in the book starts the same way: feed the (test) images through a frozen encoder
and keep one feature vector ``h`` per image. :func:`embed` does that in batches on an accelerator,
under ``torch.no_grad()`` and in eval mode (so BatchNorm uses its running statistics and dropout is
off), then puts every module back into the mode it was in::

    from labfree.embed import embed
    h = embed(encoder, test.images, test.normalize)            # (n, d) float32 on the CPU
    h4 = embed(encoder, test.images, test.normalize, layer="layer4")  # pooled layer4 output

Images travel as ``uint8`` tensors ``(N, C, H, W)``; each batch moves to the device as ``uint8``
(four times less traffic than float32) and ``normalize`` turns it into the encoder's float input
there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from labfree import precision

__all__ = ["embed", "pool_features", "module_device"]


def module_device(module: nn.Module) -> torch.device:
    """The device of a module's first parameter or buffer (CPU for a module that has neither)."""
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return torch.device("cpu")


def pool_features(output: Any) -> torch.Tensor:
    """Turn a module output into one vector per sample.

    4-D feature maps ``(n, c, h, w)`` are global-average-pooled over space to ``(n, c)``, as a
    ResNet's own head does; other shapes with more than two axes are flattened. A tuple or list
    output (some modules return several tensors) contributes its first element.
    """
    if isinstance(output, (tuple, list)):
        if not output:
            raise ValueError("the module returned an empty tuple; cannot take features from it")
        output = output[0]
    if not isinstance(output, torch.Tensor):
        raise TypeError(f"expected the module to return a tensor, got {type(output).__name__}")
    if output.ndim == 4:
        return output.mean(dim=(2, 3))
    if output.ndim == 1:
        return output[:, None]
    return output.flatten(1)


def embed(
    encoder: nn.Module,
    images_uint8: torch.Tensor | np.ndarray,
    normalize: Callable[[torch.Tensor], torch.Tensor],
    *,
    batch_size: int = 512,
    device: torch.device | str | None = None,
    layer: str | None = None,
    progress: bool = False,
    keep_on_device: bool = False,
    amp: bool | str = False,
) -> torch.Tensor:
    """Encode a whole image set with a frozen encoder.

    Args:
        encoder: the network; its output (or the output of ``layer``) is the feature.
        images_uint8: ``uint8`` images of shape ``(N, C, H, W)`` (tensor or NumPy array).
        normalize: maps a ``uint8`` batch (already on the device) to the encoder's float input,
            e.g. ``ImageSet.normalize`` from :mod:`labfree.data`.
        batch_size: images per forward pass.
        device: where to run; defaults to the device the encoder already lives on. If it differs,
            the encoder is moved there for the call and moved back afterwards.
        layer: name of an intermediate module (a key of ``dict(encoder.named_modules())``, e.g.
            ``"layer3"``); its output (at its first call in a pass) is captured by a forward hook
            instead of the final output, and the rest of the forward pass is skipped.
        progress: show a tqdm progress bar.
        keep_on_device: return the features on ``device`` instead of the CPU (saves a copy when a
            probe or kNN runs on the same accelerator next).
        amp: run the forward pass under bf16 autocast (``"auto"``: where the device multiplies
            bf16 natively, :func:`labfree.precision.bf16_native`). The features come back as
            float32 but carry bf16's ~3 significant digits: fine for a probe or kNN, while the
            spectrum's tail (alpha, effective rank) is better measured in float32, the default.

    Returns:
        ``(N, d)`` float32 tensor of features, with 4-D outputs global-average-pooled
        (see :func:`pool_features`).

    Every module's ``training`` flag is restored afterwards, even if the encoder mixes modes
    (e.g. a frozen BatchNorm inside a training model) or the forward pass raises.
    """
    images = _as_uint8_images(images_uint8)
    if not callable(normalize):
        raise TypeError(f"normalize must be a callable mapping a uint8 batch to float input, "
                        f"got {type(normalize).__name__}")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    batch_size = int(batch_size)

    home = module_device(encoder)
    device = torch.device(device) if device is not None else home
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())   # so "cuda" equals "cuda:0"
    target = _find_layer(encoder, layer) if layer is not None else None

    captured: list[torch.Tensor] = []

    def capture(_module: nn.Module, _inputs: Any, output: Any) -> None:
        captured.append(pool_features(output))
        raise _StopForward  # the layers after the hooked one are not needed: skip them

    hook = target.register_forward_hook(capture) if target is not None else None
    modes = {module: module.training for module in encoder.modules()}
    moved = device != home
    out_device = device if keep_on_device else torch.device("cpu")
    chunks: list[torch.Tensor] = []
    try:
        if moved:
            encoder.to(device)
        encoder.eval()
        use_amp, _ = precision.resolve(amp, False, device)
        starts = range(0, images.shape[0], batch_size)
        if progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc="embed", unit="batch")
        # no_grad rather than inference_mode: inference tensors cannot enter autograd later,
        # and users do train probes on these features.
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            for start in starts:
                batch = normalize(images[start:start + batch_size].to(device, non_blocking=True))
                if target is None:
                    h = pool_features(encoder(batch))
                else:
                    try:
                        encoder(batch)
                    except _StopForward:
                        pass
                    if not captured:
                        raise ValueError(f"module {layer!r} was not called during the forward pass, "
                                         "so it produced no features; pick a module on the forward "
                                         "path")
                    h = captured.pop()
                chunks.append(h.float().to(out_device))
    finally:
        if hook is not None:
            hook.remove()
        if moved:
            encoder.to(home)
        for module, was_training in modes.items():
            module.train(was_training)
    if not chunks:
        raise ValueError("images_uint8 is empty; nothing to embed")
    return torch.cat(chunks)


class _StopForward(Exception):
    """Raised by the layer hook once it holds its features, to end the forward pass early."""


def _as_uint8_images(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(images)
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images_uint8 must be a torch.Tensor or numpy array, got {type(images).__name__}")
    if images.dtype != torch.uint8:
        raise ValueError(f"images_uint8 must have dtype uint8 (images travel as uint8 and "
                         f"`normalize` converts them), got {images.dtype}")
    if images.ndim != 4:
        raise ValueError(f"images_uint8 must have shape (N, C, H, W), got {tuple(images.shape)}")
    return images


def _find_layer(encoder: nn.Module, layer: str) -> nn.Module:
    modules = dict(encoder.named_modules())
    if layer not in modules or layer == "":
        names = [name for name in modules if name]
        shown = ", ".join(repr(n) for n in names[:30]) + (", ..." if len(names) > 30 else "")
        raise ValueError(f"the encoder has no module named {layer!r}; valid names: {shown}")
    return modules[layer]
