"""Measuring representations: with labels, without labels, and for anomalies.

The instruments of the book, in four groups. All accept NumPy arrays or torch tensors of features
``h`` with shape ``(n, d)`` and return plain floats or NumPy arrays; bad inputs (non-finite values,
1-D features, mismatched lengths, a single class, ``k`` larger than the data) raise a ``ValueError``
that says what is wrong.

**Supervised evaluation** of frozen features ``h``:

* :func:`linear_probe` — a linear classifier trained with Adam and a one-cycle schedule, the
  protocol of the label-free-evaluation thesis (``shapes_thesis``, sections 3.1.2, 4.1.4 and 5.1):
  peak learning rate 0.003, cyclic momentum (Adam's beta1) 0.85–0.95, weight decay 1e-4,
  100 epochs, batch size 512. Features stay on the device and batches are index tensors.
* :func:`linear_probe_lbfgs` — the same model and objective (cross-entropy + L2) minimised
  full-batch with L-BFGS: the quick check.
* :func:`knn_classify` — the weighted k-nearest-neighbour classifier of Wu et al. (2018):
  cosine similarity, ``k = 200`` neighbours, each voting with weight ``exp(s / temperature)``.

**Anomaly detection**: :func:`knn_anomaly_scores` (distance to the ``k`` nearest reference
features), :func:`roc` and :func:`most_anomalous`.

**Label-free metrics** of section 4.1.3 of the thesis, computed on the test embeddings ``Z512``
of a training milestone:

1. reduce ``h`` to ``Z3`` with UMAP (``n_neighbors = 50``; PaCMAP as in appendix A) —
   :func:`reduce`;
2. cluster ``Z3`` with k-means under the cosine distance (:func:`cosine_kmeans`) with ``k1`` =
   the number of classes (``C1``) and ``k2 = 2 k1`` (``C2``);
3. clustering agreement ``AMI(C1, C2)`` (:func:`ami`) and, as labelled references,
   ``AMI(C1, C_GT)``;
4. the silhouette of ``C1`` and of the ground truth on the *original* embeddings (:func:`silhouette`);
5. the entropy of the 3-d histogram of ``Z3`` with bins ``0.4 sigma`` wide per dimension
   (``0.8 sigma`` in chapter 5) — :func:`histogram_entropy`.

Two spectral metrics from other papers join them: the eigenspectrum decay coefficient ``alpha``
of alpha-ReQ (Agrawal et al., 2022; :func:`alpha`) and RankMe, the effective rank of Garrido et al.
(2023; :func:`effective_rank`). :func:`label_free_metrics` computes all of them in one call, sharing
one reduction, and :func:`metrics_table` stacks the records of several milestones into a DataFrame.
"""

from __future__ import annotations

from .clustering import (
    REDUCERS,
    ami,
    compile_reducers,
    cosine_kmeans,
    histogram_entropy,
    reduce,
    silhouette,
)
from .neighbours import KNNResult, knn_anomaly_scores, knn_classify, most_anomalous, roc
from .probe import ProbeResult, linear_probe, linear_probe_lbfgs
from .spectrum import ALPHA_FIT_RANGE, PowerLawFit, alpha, effective_rank, eigenspectrum, power_law_fit
from .summary import LABEL_FREE_METRICS, LABELLED_METRICS, label_free_metrics, metrics_table

__all__ = [
    "ProbeResult",
    "linear_probe",
    "linear_probe_lbfgs",
    "KNNResult",
    "knn_classify",
    "knn_anomaly_scores",
    "roc",
    "most_anomalous",
    "REDUCERS",
    "reduce",
    "compile_reducers",
    "cosine_kmeans",
    "ami",
    "silhouette",
    "histogram_entropy",
    "eigenspectrum",
    "PowerLawFit",
    "power_law_fit",
    "alpha",
    "ALPHA_FIT_RANGE",
    "effective_rank",
    "LABEL_FREE_METRICS",
    "LABELLED_METRICS",
    "label_free_metrics",
    "metrics_table",
]

