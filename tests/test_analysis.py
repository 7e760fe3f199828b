"""Tests for labfree.analysis: correlations against scipy, Table 4.1 marks."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from scipy import stats  # noqa: E402

from labfree import analysis as A  # noqa: E402


def milestone_table(seed: int = 0, method: str = "simclr") -> pd.DataFrame:
    """Eleven milestones: accuracy rises; one metric tracks it, one mirrors it, one is noise."""
    rng = np.random.default_rng(seed)
    epochs = np.arange(0, 220, 20)
    accuracy = 0.2 + 0.6 * (1 - np.exp(-epochs / 50)) + 0.01 * rng.normal(size=epochs.size)
    return pd.DataFrame({
        "method": method,
        "epoch": epochs,
        "probe_accuracy": accuracy,
        "ami_c1_gt": accuracy + 0.02 * rng.normal(size=epochs.size),
        "entropy": 5 - 2 * accuracy + 0.02 * rng.normal(size=epochs.size),
        "ami_c1_c2": rng.normal(size=epochs.size),
    })


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_correlations_match_scipy_with_and_without_init():
    table = milestone_table()
    corr = A.correlations(table)
    assert list(corr.columns) == ["metric", "init", "r", "p", "n"]
    assert corr["metric"].unique().tolist() == ["ami_c1_gt", "ami_c1_c2", "entropy"]  # Table 4.1 order
    later = table[table.epoch != 0]
    for metric in ("ami_c1_gt", "entropy", "ami_c1_c2"):
        for init, rows in ((A.WITH_INIT, table), (A.WITHOUT_INIT, later)):
            expected = stats.pearsonr(rows[metric], rows["probe_accuracy"])
            got = corr[(corr.metric == metric) & (corr.init == init)].iloc[0]
            assert got.r == pytest.approx(expected.statistic, abs=1e-12)
            assert got.p == pytest.approx(expected.pvalue, rel=1e-9)
            assert got.n == len(rows)


def test_correlations_skip_nan_milestones_and_constant_metrics():
    table = milestone_table()
    table.loc[3, "entropy"] = np.nan                      # undefined at one milestone
    table["silhouette_c1"] = 0.5                          # constant: r undefined
    corr = A.correlations(table, exclude_epochs=None)
    assert set(corr.init) == {A.WITH_INIT}
    entropy = corr[corr.metric == "entropy"].iloc[0]
    kept = table.dropna(subset=["entropy"])
    assert entropy.r == pytest.approx(stats.pearsonr(kept.entropy, kept.probe_accuracy).statistic)
    assert entropy.n == len(table) - 1
    assert np.isnan(corr[corr.metric == "silhouette_c1"].iloc[0].r)


def test_correlations_per_run():
    table = pd.concat([milestone_table(0, "simclr"), milestone_table(1, "simsiam")], ignore_index=True)
    corr = A.correlations(table, metrics=["entropy"], by="method")
    assert len(corr) == 4
    for method, part in table.groupby("method"):
        got = corr[(corr.method == method) & (corr.init == A.WITH_INIT)].r.iloc[0]
        assert got == pytest.approx(stats.pearsonr(part.entropy, part.probe_accuracy).statistic)


def test_correlation_inputs_are_validated():
    table = milestone_table()
    with pytest.raises(ValueError, match="at least 3"):
        A.correlations(table.iloc[:2])
    with pytest.raises(ValueError, match=r"metrics \['rankme'\] not in the table"):
        A.correlations(table, metrics=["rankme"])
    with pytest.raises(ValueError, match="target"):
        A.correlations(table, target="knn_accuracy")
    with pytest.raises(ValueError, match="DataFrame"):
        A.correlations(table.to_dict())


def test_significance_table_marks_like_table_4_1():
    table = milestone_table()
    # a metric exactly uncorrelated with accuracy (r = 0, p = 1): its residual after regression
    acc = table.probe_accuracy.to_numpy()
    noise = np.random.default_rng(5).normal(size=acc.size)
    centred = acc - acc.mean()
    table["silhouette_c1"] = noise - centred * (noise @ centred) / (centred @ centred)
    sig = A.significance_table(A.correlations(table))
    assert sig.sign.loc["ami_c1_gt", A.WITH_INIT] == 1
    assert sig.sign.loc["entropy", A.WITH_INIT] == -1
    assert sig.sign.loc["silhouette_c1", A.WITH_INIT] == 0
    assert sig.marks.loc["entropy", A.WITHOUT_INIT] == "−"
    assert bool(sig.label_free["entropy"]) and not bool(sig.label_free["ami_c1_gt"])
    p = sig.p.loc["ami_c1_c2", A.WITH_INIT]
    assert sig.sign.loc["ami_c1_c2", A.WITH_INIT] == (0 if p >= 0.05 else np.sign(
        sig.r.loc["ami_c1_c2", A.WITH_INIT]))
    markdown = sig.to_markdown()
    assert "| Entropy | ✓ |" in markdown and "(−)" in markdown and "(+)" in markdown
    assert f"{sig.r.loc['ami_c1_gt', A.WITH_INIT]:+.2f} (+)" in markdown
    html = sig.styled().to_html()
    assert "#c00000" in html and "#999999" in html


def test_significance_level_changes_the_marks():
    table = milestone_table()
    corr = A.correlations(table, metrics=["ami_c1_c2"])
    p = corr.p.iloc[0]
    loose = A.significance_table(corr, level=min(0.999, p * 1.01))
    strict = A.significance_table(corr, level=max(1e-12, p * 0.99))
    assert loose.sign.iloc[0, 0] != 0 and strict.sign.iloc[0, 0] == 0
    with pytest.raises(ValueError, match="level"):
        A.significance_table(corr, level=5)
