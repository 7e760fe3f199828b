"""A ready milestone callback: linear probe and kNN accuracy of the encoder."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .loop import TrainState


def probe_callback(train_set: Any, test_set: Any, *, linear: bool = True, knn: bool = True,
                   probe_epochs: int = 100, k: int = 200, batch_size: int = 512,
                   seed: int = 0) -> Callable[[TrainState], dict[str, float]]:
    """A milestone callback that embeds ``train_set`` and ``test_set`` (ImageSets) with the frozen
    encoder and returns ``probe_accuracy`` (:func:`~labfree.metrics.linear_probe`, the thesis'
    protocol) and ``knn_accuracy`` (:func:`~labfree.metrics.knn_classify`, ``k`` capped at the
    training-set size)."""
    from labfree.embed import embed, module_device
    from labfree.metrics import knn_classify, linear_probe

    def callback(state: TrainState) -> dict[str, float]:
        device = module_device(state.model)
        h_train, h_test = (embed(state.model.encoder, s.images, s.normalize, batch_size=batch_size,
                                 device=device, keep_on_device=True) for s in (train_set, test_set))
        out = {}
        if linear:
            out["probe_accuracy"] = linear_probe(h_train, train_set.labels, h_test, test_set.labels,
                                                 epochs=probe_epochs, device=device, seed=seed).accuracy
        if knn:
            out["knn_accuracy"] = knn_classify(h_train, train_set.labels, h_test, test_set.labels,
                                               k=min(k, len(train_set)), device=device).accuracy
        return out

    return callback


class KeepInitial:
    """A milestone callback that keeps a frozen copy of the model at epoch 0, before the first
    step: the random encoder a run starts from, to compare the trained one with::

        initial = train.KeepInitial()
        result = train.train(config, shapes, callbacks=[initial])
        initial.model.encoder      # the same weights as result.model's at initialisation
    """

    def __init__(self) -> None:
        self.model: Any = None

    def __call__(self, state: TrainState) -> None:
        if state.epoch == 0:
            import copy
            self.model = copy.deepcopy(state.model).eval().requires_grad_(False)
