"""Do label-free metrics track linear-probe accuracy? Correlations, significance and plots.

The label-free-evaluation thesis (``shapes_thesis``, section 4.2) judges each metric by the Pearson
correlation between the metric and linear-probe (LP) accuracy across the training milestones of a
run, reported twice: with the random-initialisation milestone and without it, because that first
point alone can make or break a correlation. Table 4.1 prints the coefficients and colours them:
grey when the correlation is not significant (p >= 0.05), black when significantly positive, red
when significantly negative. This module reproduces that analysis from a metrics table (one row per
milestone, as built by :func:`labfree.metrics.metrics_table`)::

    from labfree import analysis
    corr = analysis.correlations(table)                # long format: metric, init, r, p, n
    sig = analysis.significance_table(corr)
    print(sig.to_markdown())                           # or sig.styled() in a notebook

Its pictures (metrics over the epochs, a metric against the probe) are in :mod:`labfree.plots`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .metrics import LABEL_FREE_METRICS, LABELLED_METRICS

__all__ = [
    "METRIC_ORDER",
    "METRIC_NAMES",
    "WITH_INIT",
    "WITHOUT_INIT",
    "correlations",
    "SignificanceTable",
    "significance_table",
]

#: Rows in the order of Table 4.1 (labelled references first), then the spectral metrics.
METRIC_ORDER = ("ami_c1_gt", "silhouette_gt", "silhouette_c1", "ami_c1_c2", "entropy", "alpha",
                "effective_rank")
#: Display names used in tables and plots.
METRIC_NAMES = {
    "ami_c1_gt": "AMI(C1, C_GT)",
    "silhouette_gt": "S_GT",
    "silhouette_c1": "S1",
    "ami_c1_c2": "AMI(C1, C2)",
    "entropy": "Entropy",
    "alpha": "α (eigenspectrum decay)",
    "effective_rank": "RankMe",
    "probe_accuracy": "LP accuracy",
    "knn_accuracy": "kNN accuracy",
}
WITH_INIT, WITHOUT_INIT = "w/ init", "w/o init"


def _name(metric: str) -> str:
    return METRIC_NAMES.get(metric, metric)


def _as_list(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _require_columns(table: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{what} {missing} not in the table; its columns are {list(table.columns)}")


def _default_metrics(table: pd.DataFrame) -> list[str]:
    known = [m for m in METRIC_ORDER if m in table.columns]
    extra = [m for m in LABEL_FREE_METRICS + LABELLED_METRICS if m in table.columns and m not in known]
    if not known + extra:
        raise ValueError(f"the table holds none of the known metrics {METRIC_ORDER}; "
                         f"pass metrics=[...] explicitly (columns: {list(table.columns)})")
    return known + extra


def _pearson(x: np.ndarray, y: np.ndarray) -> tuple[float, float, int]:
    """Pearson r and two-sided p over the rows where both are finite; NaN below 3 points or for a
    constant series (where r is undefined)."""
    from scipy import stats

    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    n = int(keep.sum())
    if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan"), float("nan"), n
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # near-constant input warnings; r is still well defined
        result = stats.pearsonr(x, y)
    return float(result.statistic), float(result.pvalue), n


def correlations(
    table: pd.DataFrame,
    target: str = "probe_accuracy",
    metrics: Sequence[str] | None = None,
    *,
    epoch_column: str = "epoch",
    exclude_epochs: Sequence[Any] | None = (0,),
    by: str | Sequence[str] | None = None,
) -> pd.DataFrame:
    """Pearson correlation of each metric with ``target`` across milestones, with and without init.

    Args:
        table: one row per milestone with an ``epoch_column``, the ``target`` and the metrics.
        target: the column the metrics should track (LP accuracy in the thesis).
        metrics: columns to correlate; default: every known metric present, in Table 4.1 order.
        exclude_epochs: epochs dropped for the "w/o init" rows (the initialisation milestone,
            epoch 0, by default). ``None`` or empty gives "w/ init" rows only.
        by: column(s) identifying separate runs (e.g. ``["method", "dataset"]``); correlations
            are computed within each group, as Table 4.1 does per method and dataset.

    Returns:
        Long DataFrame with columns ``*by, metric, init, r, p, n`` where ``init`` is ``"w/ init"``
        or ``"w/o init"``, ``p`` the two-sided p-value of ``scipy.stats.pearsonr`` and ``n`` the
        number of milestones used. Rows where a metric is NaN (undefined for a collapsed
        milestone) are left out of that metric's correlation; fewer than 3 usable milestones, or
        a constant series, give NaN.
    """
    if not isinstance(table, pd.DataFrame):
        raise ValueError(f"table must be a pandas DataFrame (see metrics.metrics_table), "
                         f"got {type(table).__name__}")
    groups = _as_list(by)
    metrics = list(metrics) if metrics is not None else _default_metrics(table)
    exclude = list(exclude_epochs) if exclude_epochs is not None else []
    _require_columns(table, [target], "target")
    _require_columns(table, metrics, "metrics")
    _require_columns(table, groups, "grouping columns")
    if exclude:
        _require_columns(table, [epoch_column], "epoch column")
    if target in metrics:
        metrics.remove(target)

    rows = []
    grouped = table.groupby(groups, sort=False) if groups else [((), table)]
    for key, part in grouped:
        key = key if isinstance(key, tuple) else (key,)
        if len(part) < 3:
            raise ValueError(f"group {dict(zip(groups, key)) or 'all'} has {len(part)} milestones; "
                             "a correlation needs at least 3")
        subsets = [(WITH_INIT, part)]
        if exclude:
            subsets.append((WITHOUT_INIT, part[~part[epoch_column].isin(exclude)]))
        for metric in metrics:
            for init, rows_used in subsets:
                r, p, n = _pearson(rows_used[metric].to_numpy(dtype=float),
                                   rows_used[target].to_numpy(dtype=float))
                rows.append({**dict(zip(groups, key)), "metric": metric, "init": init,
                             "r": r, "p": p, "n": n})
    return pd.DataFrame(rows, columns=groups + ["metric", "init", "r", "p", "n"])


@dataclass
class SignificanceTable:
    """Correlations laid out like Table 4.1: one row per metric, one column per (run, init).

    ``r`` and ``p`` hold the coefficients and p-values, ``sign`` +1 / -1 for significant positive /
    negative correlations and 0 otherwise (or NaN), ``label_free`` whether a metric needs no labels.
    """

    r: pd.DataFrame
    p: pd.DataFrame
    sign: pd.DataFrame
    label_free: pd.Series
    level: float

    @property
    def marks(self) -> pd.DataFrame:
        """``"+"``, ``"−"`` or ``""`` per cell: the significance marks as text."""
        return self.sign.apply(lambda col: col.map({1: "+", -1: "−"}).fillna(""))

    def _cells(self, digits: int) -> pd.DataFrame:
        def cell(r: float, mark: str) -> str:
            if not np.isfinite(r):
                return "n/a"
            text = f"{r:+.{digits}f}".replace("-", "−")
            return f"{text} ({mark})" if mark else text
        return pd.DataFrame([[cell(r, m) for r, m in zip(rr, mm)]
                             for rr, mm in zip(self.r.to_numpy(), self.marks.to_numpy())],
                            index=self.r.index, columns=self.r.columns)

    def to_markdown(self, digits: int = 2) -> str:
        """A Markdown table: ``(+)`` / ``(−)`` mark significant positive / negative correlations
        (p < level), unmarked values are not significant — Table 4.1's black / red / grey."""
        cells = self._cells(digits)
        header = ["Metric", "Label-free"] + [" ".join(str(c) for c in (col if isinstance(col, tuple)
                                                                         else (col,)))
                                             for col in cells.columns]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for metric, row in cells.iterrows():
            free = "✓" if self.label_free.get(metric, False) else ""
            lines.append("| " + " | ".join([_name(metric), free, *row.tolist()]) + " |")
        lines.append("")
        lines.append(f"Pearson r with linear-probe accuracy; (+) / (−): significant positive / "
                     f"negative correlation (p < {self.level:g}); unmarked: not significant.")
        return "\n".join(lines)

    def styled(self, digits: int = 2) -> pd.io.formats.style.Styler:
        """A pandas Styler in Table 4.1's colours: grey not significant, black positive, red
        negative."""
        shown = self.r.rename(index=_name)
        colours = self.sign.rename(index=_name).apply(
            lambda col: col.map({1: "color: black", -1: "color: #c00000"}).fillna("color: #999999"))
        return (shown.style.format(lambda v: "n/a" if not np.isfinite(v) else f"{v:+.{digits}f}")
                .apply(lambda _: colours, axis=None)
                .set_caption(f"Pearson r with LP accuracy (significant at p < {self.level:g}: "
                             "black positive, red negative; grey not significant)"))


def significance_table(corr: pd.DataFrame, *, level: float = 0.05) -> SignificanceTable:
    """Arrange :func:`correlations` output like Table 4.1 and mark significance at ``level``.

    Rows are metrics (Table 4.1 order), columns the run keys (``by`` columns of
    :func:`correlations`) followed by ``"w/ init"`` / ``"w/o init"``. A correlation is marked
    positive (+1) or negative (-1) when ``p < level``; otherwise 0, as the thesis greys it out.
    """
    _require_columns(corr, ["metric", "init", "r", "p"], "correlation columns")
    if not 0 < level < 1:
        raise ValueError(f"level must be a probability in (0, 1), got {level}")
    keys = [c for c in corr.columns if c not in ("metric", "init", "r", "p", "n")]
    columns = keys + ["init"]
    r = corr.pivot_table(index="metric", columns=columns, values="r", sort=False, dropna=False)
    p = corr.pivot_table(index="metric", columns=columns, values="p", sort=False, dropna=False)
    order = [m for m in METRIC_ORDER if m in r.index] + [m for m in r.index if m not in METRIC_ORDER]
    r, p = r.loc[order], p.loc[order]
    significant = p < level
    sign = pd.DataFrame(np.where(significant, np.sign(r), 0.0), index=r.index, columns=r.columns)
    sign = sign.where(np.isfinite(r))                   # undefined correlations stay NaN
    label_free = pd.Series({m: m not in LABELLED_METRICS for m in r.index}, name="label_free")
    return SignificanceTable(r=r, p=p, sign=sign, label_free=label_free, level=level)
