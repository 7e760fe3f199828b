"""labfree.train.batches: an epoch's batches, and making them on a second thread changes nothing."""

from __future__ import annotations

import threading

import pytest
import torch

from labfree import augment, data, train
from labfree.train.batches import epoch_batches, prefetched, use_prefetch


@pytest.fixture(scope="module")
def tiny() -> data.ImageSet:
    return data.load("shapes", "train", n=256)


def _config(**kw) -> train.TrainConfig:
    return train.TrainConfig("byol", encoder="small_cnn", encoder_kwargs=dict(width=8, out_dim=32),
                             projector_kwargs=dict(hidden_dim=64, out_dim=32),
                             predictor_kwargs=dict(hidden_dim=64, out_dim=32), batch_size=64, epochs=2,
                             device="cpu", progress=False, amp=False, **kw)


def test_prefetching_gives_the_same_run_bit_for_bit(tiny, tmp_path):
    a = train.train(_config(prefetch=False, checkpoint_dir=str(tmp_path / "a"), milestone_every=1), tiny)
    b = train.train(_config(prefetch=True, checkpoint_dir=str(tmp_path / "b"), milestone_every=1), tiny)
    for (name, p), q in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(p, q), name
    assert [h["loss"] for h in a.history] == [h["loss"] for h in b.history]
    # the generator is where a run without prefetch leaves it at every milestone: same checkpoints
    for epoch in (1, 2):
        saved = [train.load_checkpoint(tmp_path / d / f"epoch_{epoch:04d}.pt") for d in "ab"]
        assert torch.equal(saved[0]["rng"]["generator"], saved[1]["rng"]["generator"])


def test_epoch_batches_cover_the_permutation_and_shard_it(tiny):
    aug1, aug2 = augment.pair("shapes", mean=tiny.mean, std=tiny.std)
    order = torch.randperm(256, generator=torch.Generator().manual_seed(0))
    whole = [b.index for b in epoch_batches(tiny.images, order, 64, 4, aug1, aug2,
                                            torch.Generator().manual_seed(1), two_views=True)]
    assert torch.equal(torch.cat(whole), order)
    halves = [[b.index for b in epoch_batches(tiny.images, order, 64, 4, aug1, aug2,
                                              torch.Generator().manual_seed(1), two_views=False,
                                              shard=(rank, 2))] for rank in range(2)]
    for i in range(4):  # rank 0 takes the first half of each global batch, rank 1 the second
        assert torch.equal(torch.cat([halves[0][i], halves[1][i]]), whole[i])


def test_prefetched_yields_in_order_and_raises_in_the_consumer():
    assert list(prefetched(iter(range(10)), depth=2)) == list(range(10))

    def failing():
        yield 1
        raise ValueError("bad augmentation")

    items = prefetched(failing())
    assert next(items) == 1
    with pytest.raises(ValueError, match="bad augmentation"):
        next(items)


def test_closing_a_prefetched_iterator_stops_its_thread():
    before = threading.active_count()
    items = prefetched(iter(range(1000)), depth=1)
    assert next(items) == 0
    items.close()
    assert threading.active_count() == before


def test_prefetch_choice():
    assert use_prefetch(True, torch.device("cpu")) and not use_prefetch(False, torch.device("cpu"))
    assert not use_prefetch("auto", torch.device("cuda"))  # asynchronous kernels overlap already
    with pytest.raises(ValueError, match="prefetch must be True, False or 'auto'"):
        _config(prefetch="yes").resolved("shapes")
