"""Plot helpers for the book. Each takes an optional matplotlib ``Axes`` and returns the one it drew on."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.axes import Axes
from matplotlib.patches import Circle
from numpy.typing import ArrayLike
from scipy.optimize import brentq

from .analysis import WITH_INIT, WITHOUT_INIT, _as_list, _default_metrics, _name, _pearson, _require_columns

__all__ = ["image_grid", "binary_entropy_curve", "information_diagram", "metrics_over_epochs",
           "metric_vs_target"]


def image_grid(images: torch.Tensor | np.ndarray, labels: Sequence[int] | torch.Tensor | None = None,
               class_names: Sequence[str] | None = None, ncols: int = 8, ax: Axes | None = None,
               pad: int = 2, pad_value: int = 128) -> Axes:
    """Tile ``uint8`` images ``(N, C, H, W)`` (``C`` = 1 or 3) into one picture, ``ncols`` per row.

    With ``labels``, each tile is captioned with its class (``class_names[label]`` when given); when every
    row holds a single class, the row is labelled on the left instead, which keeps the picture clean.
    Tiles are separated by ``pad`` pixels of grey ``pad_value`` so white-background images stay apart.
    """
    x = torch.as_tensor(images)
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"images must be (N, C, H, W) with C in (1, 3); got shape {tuple(x.shape)}")
    if x.dtype != torch.uint8:
        raise TypeError(f"images must be uint8 (0-255), got {x.dtype}; convert with (x * 255).byte()")
    if ncols < 1:
        raise ValueError(f"ncols must be a positive integer, got {ncols}")
    n, c, h, w = x.shape
    ncols = min(ncols, max(n, 1))
    nrows = -(-n // ncols)

    names = None
    if labels is not None:
        values = [int(v) for v in torch.as_tensor(labels).reshape(-1).tolist()]
        if len(values) != n:
            raise ValueError(f"got {len(values)} labels for {n} images")
        names = [class_names[v] if class_names is not None else str(v) for v in values]
    rows = [names[r * ncols: (r + 1) * ncols] for r in range(nrows)] if names else []
    row_labels = bool(rows) and all(len(set(row)) == 1 for row in rows)
    captions = names is not None and not row_labels
    gap = max(pad, h // 3) if captions else pad  # room above each tile for its caption

    step_h, step_w = h + gap, w + pad
    canvas = np.full((nrows * step_h + pad, ncols * step_w + pad, c), pad_value, dtype=np.uint8)
    for i, tile in enumerate(x.permute(0, 2, 3, 1).cpu().numpy()):
        r, k = divmod(i, ncols)
        top, left = gap + r * step_h, pad + k * step_w
        canvas[top: top + h, left: left + w] = tile

    if ax is None:
        _, ax = plt.subplots(figsize=(ncols * 0.9, nrows * (0.9 + 0.3 * captions) + 0.3))
    if c == 1:
        ax.imshow(canvas[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        ax.imshow(canvas, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    if row_labels:
        ax.set_yticks([gap + r * step_h + h / 2 for r in range(nrows)], [row[0] for row in rows])
        ax.tick_params(axis="y", length=0)
    elif captions:
        for i, name in enumerate(names):
            r, k = divmod(i, ncols)
            ax.text(pad + k * step_w + w / 2, gap + r * step_h - 0.5, name, ha="center", va="bottom",
                    fontsize=7)
    return ax


# --------------------------------------------------------------------------------------------------
# Information theory: binary entropy and the two-variable information diagram
# --------------------------------------------------------------------------------------------------


def _information_unit(base: float) -> str:
    """The name of the unit of information in logarithm base ``base``."""
    if math.isclose(base, 2.0):
        return "bits"
    if math.isclose(base, math.e):
        return "nats"
    return f"log-{base:g} units"


def binary_entropy_curve(
    ax: Axes | None = None, *, base: float = 2.0, mark: float | None = None
) -> Axes:
    """Plot the binary entropy ``H(p)`` of a Bernoulli(p) variable for ``p`` in ``[0, 1]``.

    Args:
        ax: axes to draw on; a new figure is created when ``None``.
        base: logarithm base (2: bits, the curve peaks at 1; ``math.e``: nats, it peaks at log 2).
        mark: a value of ``p`` to highlight with a dot and its entropy, e.g. a slider's value.

    Returns:
        The axes.
    """
    from labfree import mi

    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3.2))
    unit = _information_unit(base)
    p = np.linspace(0.0, 1.0, 501)
    ax.plot(p, mi.binary_entropy(p, base), color="tab:blue", lw=2)
    peak = math.log(2) / math.log(base)
    ax.axhline(peak, color="0.6", ls="--", lw=1)
    ax.annotate(f"maximum {peak:.3f} {unit} at p = 1/2", (0.5, peak), xytext=(0, 6),
                textcoords="offset points", ha="center", fontsize=8, color="0.35")
    if mark is not None:
        h = mi.binary_entropy(mark, base)
        ax.plot([mark], [h], "o", color="tab:red", zorder=3)
        ax.annotate(f"H({mark:.2f}) = {h:.3f}", (mark, h), xytext=(8, -14),
                    textcoords="offset points", fontsize=9, color="tab:red")
    ax.set(xlim=(0, 1), ylim=(0, peak * 1.15), xlabel="p = P(X = 1)", ylabel=f"H(p) [{unit}]",
           title="Binary entropy")
    return ax


def _lens_area(r1: float, r2: float, d: float) -> float:
    """Area of the intersection of two discs with radii ``r1, r2`` whose centres are ``d`` apart."""
    if d >= r1 + r2:
        return 0.0
    if d <= abs(r1 - r2):
        return math.pi * min(r1, r2) ** 2
    a1 = r1**2 * math.acos(np.clip((d**2 + r1**2 - r2**2) / (2 * d * r1), -1, 1))
    a2 = r2**2 * math.acos(np.clip((d**2 + r2**2 - r1**2) / (2 * d * r2), -1, 1))
    kite = 0.5 * math.sqrt(max(0.0, (-d + r1 + r2) * (d + r1 - r2) * (d - r1 + r2) * (d + r1 + r2)))
    return a1 + a2 - kite


def _centre_distance(r1: float, r2: float, overlap: float) -> float:
    """The centre distance at which two discs overlap in exactly ``overlap`` area.

    The lens area falls monotonically from ``pi min(r1, r2)^2`` (one disc inside the other) to 0
    (discs touching) as the distance grows from ``|r1 - r2|`` to ``r1 + r2``, so bisection finds it.
    """
    lo, hi = abs(r1 - r2), r1 + r2
    if overlap <= 0 or hi == 0:
        return hi
    if overlap >= _lens_area(r1, r2, lo) * (1 - 1e-12):
        return lo
    return float(brentq(lambda d: _lens_area(r1, r2, d) - overlap, lo, hi, xtol=1e-12))


def information_diagram(
    pxy: ArrayLike,
    ax: Axes | None = None,
    *,
    base: float = 2.0,
    names: tuple[str, str] = ("X", "Y"),
    colors: tuple[str, str] = ("tab:blue", "tab:orange"),
) -> Axes:
    r"""Draw the Venn-style information diagram of a joint table, to scale.

    Each circle's *area* equals the entropy of its variable, and the centres are placed (by solving
    for their distance numerically) so that the overlap's area equals the mutual information
    :math:`I(X; Y)`. The two crescents are then :math:`H(X \mid Y)` and :math:`H(Y \mid X)`, and the
    union is :math:`H(X, Y)`; each region is annotated with its value.

    Args:
        pxy: joint table with ``X`` on axis 0 and ``Y`` on axis 1 (see :mod:`labfree.mi`).
        ax: axes to draw on; a new figure is created when ``None``.
        base: logarithm base of the annotated values (2: bits).
        names: the names of the row and column variables.
        colors: the colours of their circles.

    Returns:
        The axes.
    """
    from labfree import mi

    px, py = mi.marginals(pxy)
    hx, hy = mi.entropy(px, base), mi.entropy(py, base)
    info = min(mi.mutual_information(pxy, base), hx, hy)
    hx_y, hy_x = mi.conditional_entropy(pxy, base), mi.conditional_entropy(np.transpose(pxy), base)
    hxy = mi.joint_entropy(pxy, base)
    unit = _information_unit(base)
    a, b = names
    if ax is None:
        _, ax = plt.subplots(figsize=(5.0, 3.6))
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(f"$H({a},{b})$ = {hxy:.3f} {unit}", fontsize=10)
    if hx + hy == 0:
        ax.text(0.5, 0.5, f"$H({a}) = H({b}) = 0$: nothing to draw", ha="center", va="center",
                transform=ax.transAxes)
        return ax

    r1, r2 = math.sqrt(hx / math.pi), math.sqrt(hy / math.pi)
    d = _centre_distance(r1, r2, info)
    big = max(r1, r2)
    for (cx, r, colour, name, h) in ((0.0, r1, colors[0], a, hx), (d, r2, colors[1], b, hy)):
        ax.add_patch(Circle((cx, 0.0), r, facecolor=colour, alpha=0.3, edgecolor=colour, lw=2,
                            label=f"$H({name})$ = {h:.3f}"))

    # Where each region crosses the line through the centres: label inside when it is wide enough,
    # otherwise below the diagram with an arrow.
    lens_lo, lens_hi = max(d - r2, -r1), min(r1, d + r2)
    regions = [
        (f"$H({a}\\mid {b})$", hx_y, -r1, lens_lo, -0.35),
        (f"$I({a};{b})$", info, lens_lo, lens_hi, 0.0),
        (f"$H({b}\\mid {a})$", hy_x, lens_hi, d + r2, 0.35),
    ]
    outside = False
    for label, value, lo, hi, shift in regions:
        text, mid = f"{label}\n{value:.3f}", 0.5 * (lo + hi)
        if hi - lo >= 0.6 * big:
            ax.text(mid, 0.0, text, ha="center", va="center", fontsize=9)
        else:
            outside = True
            ax.annotate(text, (mid, 0.0), xytext=(mid + shift * big, -1.45 * big), ha="center",
                        va="top", fontsize=9, arrowprops=dict(arrowstyle="-", color="0.3", lw=0.8))
    left, right = min(-r1, d - r2), max(r1, d + r2)
    ax.set_xlim(left - 0.25 * big, right + 0.25 * big)
    ax.set_ylim(-(2.1 if outside else 1.1) * big, 1.1 * big)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.02), ncol=2, frameon=False, fontsize=9,
              title=f"circle areas and overlap to scale, in {unit}", title_fontsize=8)
    return ax


def metrics_over_epochs(
    table: pd.DataFrame,
    metrics: Sequence[str] | None = None,
    *,
    epoch_column: str = "epoch",
    by: str | None = None,
    axes: ArrayLike | None = None,
    ncols: int = 3,
) -> np.ndarray:
    """One panel per metric against the epoch of its milestone; returns the array of Axes used.

    ``by`` draws one line per run (e.g. ``"method"``) with a legend in the first panel. Pass
    ``axes`` (any array-like of at least ``len(metrics)`` Axes) to draw into an existing figure.
    """
    metrics = list(metrics) if metrics is not None else _default_metrics(table)
    _require_columns(table, [epoch_column, *metrics, *_as_list(by)], "columns")
    if axes is None:
        ncols = max(1, min(ncols, len(metrics)))
        nrows = -(-len(metrics) // ncols)
        _, axes = plt.subplots(nrows, ncols, figsize=(4.0 * ncols, 3.0 * nrows), squeeze=False,
                               constrained_layout=True)
        for extra in np.ravel(axes)[len(metrics):]:
            extra.set_visible(False)
    flat = np.ravel(np.asarray(axes, dtype=object))
    if flat.size < len(metrics):
        raise ValueError(f"got {flat.size} axes for {len(metrics)} metrics")
    groups = table.groupby(by, sort=False) if by else [(None, table)]
    for ax, metric in zip(flat, metrics):
        for key, part in groups:
            part = part.sort_values(epoch_column)
            ax.plot(part[epoch_column], part[metric], marker="o", markersize=3,
                    label=None if key is None else str(key))
        ax.set_xlabel("epoch")
        ax.set_ylabel(_name(metric))
        ax.set_title(_name(metric))
        ax.grid(alpha=0.3)
    if by:
        flat[0].legend(title=by, fontsize="small")
    return flat[:len(metrics)]


def metric_vs_target(
    table: pd.DataFrame,
    metric: str,
    target: str = "probe_accuracy",
    *,
    epoch_column: str = "epoch",
    exclude_epochs: Sequence[int] | None = (0,),
    ax: Axes | None = None,
) -> Axes:
    """Scatter a metric against ``target`` (LP accuracy), coloured by epoch, the initialisation
    milestone(s) hollow, with Pearson r with and without them in the title (cf. Figure A.1)."""
    _require_columns(table, [metric, target, epoch_column], "columns")
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3.5), constrained_layout=True)
    exclude = list(exclude_epochs) if exclude_epochs is not None else []
    init = table[epoch_column].isin(exclude)
    points = ax.scatter(table.loc[~init, target], table.loc[~init, metric],
                        c=table.loc[~init, epoch_column], cmap="viridis", s=25)
    if init.any():
        ax.scatter(table.loc[init, target], table.loc[init, metric], facecolors="none",
                   edgecolors="black", s=40, label="initialisation")
        ax.legend(fontsize="small")
    ax.figure.colorbar(points, ax=ax, label="epoch")
    r_all = _pearson(table[metric].to_numpy(float), table[target].to_numpy(float))[0]
    title = f"r = {r_all:+.2f} ({WITH_INIT})"
    if exclude:
        r_wo = _pearson(table.loc[~init, metric].to_numpy(float),
                        table.loc[~init, target].to_numpy(float))[0]
        title += f", {r_wo:+.2f} ({WITHOUT_INIT})"
    ax.set_title(title, fontsize="medium")
    ax.set_xlabel(_name(target))
    ax.set_ylabel(_name(metric))
    return ax


def throughput_bars(table: pd.DataFrame, *, pipelines: Sequence[str] = ("bare", "labfree", "conventional"),
                    ax: Axes | None = None) -> Axes:
    """Grouped bars of training throughput: one group per (encoder, precision) row of ``table``
    (columns ``encoder``, ``precision`` and one of images per second per pipeline), one bar per
    pipeline, on a log scale so that encoders of different cost share the axis."""
    _require_columns(table, ["encoder", "precision", *pipelines], "columns")
    if ax is None:
        _, ax = plt.subplots(figsize=(1.2 + 1.1 * len(table), 3.2), constrained_layout=True)
    x = np.arange(len(table))
    width = 0.8 / len(pipelines)
    for k, pipeline in enumerate(pipelines):
        ax.bar(x + (k - (len(pipelines) - 1) / 2) * width, table[pipeline], width, label=pipeline)
    ax.set_xticks(x, [f"{e}\n{p}" for e, p in zip(table["encoder"], table["precision"])], fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("source images / s")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small", ncol=len(pipelines))
    return ax


def time_breakdown(rows: Sequence[dict], groups: Sequence[str], *, ax: Axes | None = None) -> Axes:
    """Horizontal stacked bars of a step's milliseconds by operator group: one bar per row
    (``{"encoder", "precision", "ms": {group: milliseconds}}``, as
    :mod:`labfree.bench.profile` records them), one segment per group in ``groups``' order."""
    if not rows:
        raise ValueError("no rows to draw")
    missing = sorted({g for row in rows for g in groups if g not in row["ms"]})
    if missing:
        raise ValueError(f"rows lack the groups {missing}")
    if ax is None:
        _, ax = plt.subplots(figsize=(9.5, 0.9 + 0.42 * len(rows)), constrained_layout=True)
    y = np.arange(len(rows))[::-1]  # the first row on top
    left = np.zeros(len(rows))
    colours = plt.get_cmap("tab10")
    for k, group in enumerate(groups):
        widths = np.array([row["ms"][group] for row in rows])
        ax.barh(y, widths, left=left, color=colours(k % 10), label=group, height=0.7)
        left += widths
    ax.set_yticks(y, [f"{row['encoder']} {row['precision']}" for row in rows], fontsize=8)
    ax.set_xlabel("milliseconds per training step")
    ax.grid(axis="x", alpha=0.3)
    # beside the bars, not over them: a bar may reach any length
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax
