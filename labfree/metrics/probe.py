"""Linear probes on frozen features: Adam + one-cycle (the thesis' protocol) and full-batch L-BFGS."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import ArrayLike

from labfree._validate import number

from ._checks import Features, _device, _encode_classes, _features, _labels, _positive_int, _torch_features


@dataclass
class ProbeResult:
    """Outcome of a linear probe.

    ``accuracy`` and ``loss`` are the test top-1 accuracy (a fraction in [0, 1]) and the test
    cross-entropy (nats per sample). ``weight`` ``(C, d)`` and ``bias`` ``(C,)`` act on the *raw*
    features (any standardisation is folded in), for the classes listed in ``classes``;
    ``history`` holds the mean training objective per epoch (Adam) or per evaluation (L-BFGS).
    """

    accuracy: float
    loss: float
    train_accuracy: float
    train_loss: float
    classes: np.ndarray
    weight: np.ndarray
    bias: np.ndarray
    history: list[float] = field(default_factory=list)

    def logits(self, h: Features) -> np.ndarray:
        """Class scores ``h W^T + b`` for new features."""
        x = _features(h, "h")
        if x.shape[1] != self.weight.shape[1]:
            raise ValueError(f"h has {x.shape[1]} features but the probe was trained on "
                             f"{self.weight.shape[1]}")
        return x @ self.weight.T.astype(np.float64) + self.bias

    def predict(self, h: Features) -> np.ndarray:
        """Predicted labels (values from ``classes``) for new features."""
        return self.classes[self.logits(h).argmax(axis=1)]


def _probe_inputs(train_h, train_y, test_h, test_y, device, standardize, what):
    xtr = _torch_features(train_h, "train_h", device)
    xte = _torch_features(test_h, "test_h", device)
    if xtr.shape[1] != xte.shape[1]:
        raise ValueError(f"train_h has {xtr.shape[1]} features but test_h has {xte.shape[1]}; "
                         "embed both with the same encoder")
    ytr = _labels(train_y, xtr.shape[0], "train_y")
    yte = _labels(test_y, xte.shape[0], "test_y")
    classes, ytr_idx, yte_idx = _encode_classes(ytr, yte, what)
    if standardize:
        mean = xtr.mean(dim=0)
        std = xtr.std(dim=0, unbiased=False)
        std = torch.where(std > 1e-12 * std.max().clamp_min(1e-30), std, torch.ones_like(std))
    else:
        mean = torch.zeros(xtr.shape[1], device=device)
        std = torch.ones(xtr.shape[1], device=device)
    ytr_t = torch.as_tensor(ytr_idx, dtype=torch.long, device=device)
    yte_t = torch.as_tensor(yte_idx, dtype=torch.long, device=device)
    return (xtr - mean) / std, ytr_t, (xte - mean) / std, yte_t, classes, mean, std


@torch.no_grad()
def _evaluate(weight: torch.Tensor, bias: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
              chunk: int = 65536) -> tuple[float, float]:
    correct = torch.zeros((), device=x.device, dtype=torch.float64)
    total_loss = torch.zeros((), device=x.device, dtype=torch.float64)
    for start in range(0, x.shape[0], chunk):
        logits = torch.addmm(bias, x[start:start + chunk], weight.t())
        target = y[start:start + chunk]
        total_loss += F.cross_entropy(logits, target, reduction="sum").double()
        correct += (logits.argmax(dim=1) == target).sum()
    n = x.shape[0]
    return float(correct) / n, float(total_loss) / n


def _probe_result(weight, bias, xtr, ytr, xte, yte, classes, mean, std, history) -> ProbeResult:
    acc, loss = _evaluate(weight, bias, xte, yte)
    train_acc, train_loss = _evaluate(weight, bias, xtr, ytr)
    with torch.no_grad():
        raw_weight = weight / std                        # W (x - mu) / s  =  (W / s) x - (W / s) mu
        raw_bias = bias - raw_weight @ mean
    return ProbeResult(accuracy=acc, loss=loss, train_accuracy=train_acc, train_loss=train_loss,
                       classes=classes, weight=raw_weight.cpu().numpy(),
                       bias=raw_bias.double().cpu().numpy(), history=history)


def linear_probe(
    train_h: Features,
    train_y: ArrayLike,
    test_h: Features,
    test_y: ArrayLike,
    *,
    epochs: int = 100,
    lr: float = 3e-3,
    weight_decay: float = 1e-4,
    batch_size: int = 512,
    momentum_range: tuple[float, float] = (0.85, 0.95),
    device: torch.device | str | None = None,
    seed: int = 0,
    standardize: bool = True,
) -> ProbeResult:
    """Train a linear classifier on frozen features and report test accuracy and loss.

    The protocol of ``shapes_thesis`` (3.1.2 and 5.1): Adam (Kingma & Ba, 2015) with a one-cycle
    schedule (Smith & Topin, 2019; ``torch.optim.lr_scheduler.OneCycleLR`` with its defaults:
    30 % warm-up, cosine annealing) peaking at ``lr = 0.003``, Adam's ``beta1`` cycled inversely
    between 0.85 and 0.95, L2 weight decay ``1e-4`` on the weights, 100 epochs of batches of 512.
    (Section 4.1.4 trained 20 epochs at peak 0.08 with AutoAugment on the *images*; on fixed
    features augmentation is impossible, so the feature-level protocol above is the default.)

    The objective is ``mean CE + (weight_decay / 2) ||W||^2`` (bias unpenalised) — the same as
    :func:`linear_probe_lbfgs`. The classifier starts from zero (the problem is convex, so no
    initialisation noise is needed); ``seed`` fixes the batch order. Features are moved to
    ``device`` once and batches are drawn by index, with no DataLoader.

    ``standardize`` z-scores each feature with the *training* mean and standard deviation. A
    linear classifier on standardised features is still a linear classifier on the raw ones (the
    returned ``weight``/``bias`` act on raw features), so the probe measures the same thing; it only
    makes one learning rate suit encoders whose feature scales differ by orders of magnitude (a
    random initialisation versus a trained milestone). Pass ``False`` for the literal protocol.

    The loop is thousands of small operations (9 800 steps for 50 000 samples), so per-step
    overhead sets its speed; on a CPU shared with other work, ``torch.set_num_threads(1)`` avoids
    threads waiting on one another at every step (14 s instead of minutes on a busy 2-core machine).
    """
    epochs = _positive_int(epochs, "epochs")
    batch_size = _positive_int(batch_size, "batch_size")
    number(lr, "lr", low=0, low_open=True, fix="pass the peak learning rate, e.g. lr=3e-3 (the protocol's)")
    number(weight_decay, "weight_decay", low=0, fix="pass e.g. weight_decay=1e-4, or 0 for none")
    low, high = momentum_range
    if not 0 <= low <= high < 1:  # NaN fails too
        raise ValueError(f"momentum_range must satisfy 0 <= low <= high < 1, got {momentum_range}")
    device = _device(device)
    xtr, ytr, xte, yte, classes, mean, std = _probe_inputs(
        train_h, train_y, test_h, test_y, device, standardize, "linear probe")
    n, d = xtr.shape
    weight = torch.zeros(len(classes), d, device=device, requires_grad=True)
    bias = torch.zeros(len(classes), device=device, requires_grad=True)
    optimizer = torch.optim.Adam(
        [{"params": [weight], "weight_decay": weight_decay}, {"params": [bias], "weight_decay": 0.0}],
        lr=lr, betas=(high, 0.999), fused=device.type in ("cuda", "cpu", "mps") or None)
    steps = math.ceil(n / batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=lr, total_steps=epochs * steps, cycle_momentum=True,
        base_momentum=low, max_momentum=high)
    generator = torch.Generator(device=device).manual_seed(seed)
    epoch_loss = torch.zeros(epochs, device=device)
    for epoch in range(epochs):
        order = torch.randperm(n, device=device, generator=generator)
        for start in range(0, n, batch_size):
            index = order[start:start + batch_size]
            loss = F.cross_entropy(torch.addmm(bias, xtr[index], weight.t()), ytr[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            # accumulated on the device: no host synchronisation inside the loop
            epoch_loss[epoch] += loss.detach() * index.numel()
    history = (epoch_loss / n).tolist()
    return _probe_result(weight.detach(), bias.detach(), xtr, ytr, xte, yte, classes, mean, std,
                         history)


def linear_probe_lbfgs(
    train_h: Features,
    train_y: ArrayLike,
    test_h: Features,
    test_y: ArrayLike,
    *,
    weight_decay: float = 1e-4,
    max_iter: int = 500,
    tolerance: float = 1e-6,
    device: torch.device | str | None = None,
    standardize: bool = True,
) -> ProbeResult:
    """Multinomial logistic regression with L2, fitted full-batch with L-BFGS.

    Minimises ``mean CE + (weight_decay / 2) ||W||^2`` — exactly the objective of
    :func:`linear_probe` — with ``torch.optim.LBFGS`` and a strong-Wolfe line search, on the whole
    training set at once (deterministic, no learning rate to tune). ``tolerance`` bounds the largest
    gradient entry at convergence; ``max_iter`` bounds the iterations. Fast when the features fit in
    device memory; the result is the optimum the Adam probe approaches.
    """
    max_iter = _positive_int(max_iter, "max_iter")
    number(weight_decay, "weight_decay", low=0, fix="pass e.g. weight_decay=1e-4, or 0 for none")
    number(tolerance, "tolerance", low=0, low_open=True, fix="pass e.g. tolerance=1e-6")
    device = _device(device)
    xtr, ytr, xte, yte, classes, mean, std = _probe_inputs(
        train_h, train_y, test_h, test_y, device, standardize, "linear probe")
    weight = torch.zeros(len(classes), xtr.shape[1], device=device, requires_grad=True)
    bias = torch.zeros(len(classes), device=device, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=max_iter, history_size=20,
                                  tolerance_grad=tolerance, tolerance_change=1e-12,
                                  line_search_fn="strong_wolfe")
    history: list[torch.Tensor] = []

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        loss = (F.cross_entropy(torch.addmm(bias, xtr, weight.t()), ytr)
                + 0.5 * weight_decay * weight.pow(2).sum())
        loss.backward()
        history.append(loss.detach())
        return loss

    optimizer.step(closure)
    return _probe_result(weight.detach(), bias.detach(), xtr, ytr, xte, yte, classes, mean, std,
                         torch.stack(history).tolist())


