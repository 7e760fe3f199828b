"""Smoke tests for labfree.bench: each benchmark runs at a tiny size on the CPU through the one
command line, and writes a record with the fields book/performance.md reads; the helpers that derive
numbers from the measurements are checked on known answers."""

from __future__ import annotations

import json

import pytest
import torch

from labfree import bench

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PROVENANCE = {"device", "date", "commit", "torch", "wall_time_s"}


def test_clock_and_throughput():
    value, seconds = bench.clock(lambda: 3, "cpu")
    assert value == 3 and seconds >= 0
    calls = []
    assert len(bench.repeat(lambda: calls.append(1), warmup=2, repeats=3)) == 3 and len(calls) == 5
    rates = bench.throughput(10, [1.0, 2.0, 4.0])
    assert rates["images_per_s"] == 5.0 and rates["images_per_s_best"] == 10.0 and rates["median_s"] == 2.0


def test_train_benchmark(tmp_path):
    out = tmp_path / "bench_train.json"
    record = bench.main(["train", "--device", "cpu", "--threads", "1", "--batch-size", "8", "--size", "32",
                         "--encoder", "small_cnn", "--steps", "1", "--repeats", "2", "--warmup", "0",
                         "--workers", "0", "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(record))
    assert set(record["rates"]) == {"bare", "labfree", "conventional"}
    assert all(r["images_per_s"] > 0 for r in record["rates"].values())
    ratio = record["rates"]["labfree"]["images_per_s"] / record["rates"]["bare"]["images_per_s"]
    assert record["ratios"]["labfree_over_bare"] == pytest.approx(ratio)
    # the bare step timed in turns with labfree's epochs: one bare block per timed epoch
    bare, labfree = (record["rates"][k]["seconds"] for k in ("bare", "labfree"))
    assert len(bare) == len(labfree) == len(record["rates"]["conventional"]["seconds"]) == 2
    assert record["pairs"]["labfree_over_bare"] == pytest.approx([b / s for b, s in zip(bare, labfree)])
    assert PROVENANCE <= set(record["provenance"])


def test_augment_benchmark(tmp_path):
    record = bench.main(["augment", "--device", "cpu", "--batch-size", "4", "--size", "16", "--warmup", "0",
                         "--repeats", "2", "--methods", "labfree", "torchvision_loop",
                         "--out", str(tmp_path / "bench_augment.json")])
    assert set(record["results"]) == {"labfree", "torchvision_loop"}
    assert all(r["images_per_s"] > 0 and len(r["seconds"]) == 2 for r in record["results"].values())
    assert PROVENANCE <= set(record["provenance"]) and record["provenance"]["wall_time_s"] > 0


def test_metrics_benchmark_probes():
    record = bench.main(["metrics", "--device", "cpu", "--quick", "--parts", "probes"])
    probes = record["data"]["probes_and_knn"]
    assert {"linear_probe_adam_100_epochs", "linear_probe_lbfgs", "knn_k200"} <= set(probes)
    assert probes["linear_probe_lbfgs"]["accuracy"] > 0.2  # ten classes: chance is 0.1
    assert PROVENANCE <= set(record["provenance"])
    with pytest.raises(ValueError, match="parts must be some of"):
        bench.metrics.run("cpu", parts=("umap",))


def test_one_command_line_lists_the_benchmarks(capsys):
    with pytest.raises(SystemExit):
        bench.main(["--help"])
    assert "{train,suite,profile,accuracy,augment,metrics}" in capsys.readouterr().out


def test_suite_measures_each_encoder_in_every_precision_and_derives_the_ratios(tmp_path):
    record = bench.main(["suite", "--device", "cpu", "--threads", "1", "--encoders", "small_cnn-16",
                         "--batch-size", "8", "--size", "32", "--steps", "1", "--repeats", "1",
                         "--warmup", "0", "--workers", "0", "--out", str(tmp_path / "suite.json")])
    assert [(r["name"], r["precision"], r["channels_last"]) for r in record["runs"]] == [
        ("small_cnn-16", "fp32-nchw", False), ("small_cnn-16", "fp32", True),
        ("small_cnn-16", "bf16", True)]  # labfree's float32 on a CPU is channels-last
    nchw, fp32, bf16 = (r["rates"]["labfree"]["images_per_s"] for r in record["runs"])
    speedup = record["bf16_speedup"][0]
    assert speedup["bf16_over_fp32"] == pytest.approx(bf16 / fp32)
    assert speedup["bf16_over_fp32_nchw"] == pytest.approx(bf16 / nchw)
    assert speedup["fp32_over_fp32_nchw"] == pytest.approx(fp32 / nchw)
    ratios = [row["labfree_over_bare"] for row in record["table"]]
    assert record["targets_met"]["labfree_over_bare"] == all(x >= 0.9 for x in ratios)
    assert record["targets_met"]["bf16_over_fp32"] == (bf16 / fp32 >= 2.0)
    assert PROVENANCE <= set(record["provenance"])


def test_operators_fall_into_the_groups_bf16_treats_alike():
    group = bench.profile.group_of
    assert group("aten::mkldnn_convolution") == group("aten::convolution_backward") == "convolution"
    assert group("aten::mm") == group("aten::addmm") == "matrix product"
    assert group("aten::native_batch_norm_backward") == "batch norm"
    assert group("aten::clamp_min_") == group("aten::threshold_backward") == "ReLU"
    assert group("aten::max_pool2d_with_indices") == "pooling"
    assert group("aten::_to_copy") == group("aten::copy_") == "casts and copies"
    assert group("aten::fill_") == group("aten::_foreach_add_") == bench.profile.OTHER


def test_gain_if_halved_bounds_bf16_kernels_of_the_memory_bound_groups():
    def row(encoder, precision, **ms):
        return {"encoder": encoder, "precision": precision, "ms": ms}

    rows = [row("a", "fp32", convolution=60.0, ReLU=40.0),
            row("a", "bf16", convolution=20.0, ReLU=40.0),  # ReLU unchanged: could reach 20
            row("b", "fp32", convolution=50.0, ReLU=50.0),
            row("b", "bf16", convolution=25.0, ReLU=10.0),  # ReLU already under half: kept
            row("c", "bf16", convolution=1.0)]               # no float32 row: no gain
    gains = bench.profile.gain_if_halved(rows, groups=("ReLU",))
    assert gains == {"a": pytest.approx(100 / 40), "b": pytest.approx(100 / 35)}
    assert bench.profile.gain_if_halved(rows, groups=())["a"] == pytest.approx(100 / 60)


def test_profile_benchmark(tmp_path):
    out = tmp_path / "bench_profile.json"
    record = bench.main(["profile", "--device", "cpu", "--threads", "1", "--encoders", "small_cnn-16",
                         "--batch-size", "8", "--steps", "1", "--repeats", "1", "--warmup", "0",
                         "--profiled", "1", "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(record))
    assert [(r["encoder"], r["precision"]) for r in record["rows"]] == [("small_cnn-16", "fp32"),
                                                                        ("small_cnn-16", "bf16")]
    for row in record["rows"]:
        assert set(row["share"]) == set(row["ms"]) == set(record["groups"])
        assert sum(row["share"].values()) == pytest.approx(1.0)
        assert sum(row["ms"].values()) == pytest.approx(row["ms_per_step"])
        assert row["share"]["convolution"] > 0  # a CNN's step convolves
    fp32, bf16 = record["rows"]
    (speedup,) = record["speedup"]
    assert speedup["step"] == pytest.approx(fp32["ms_per_step"] / bf16["ms_per_step"])
    assert PROVENANCE <= set(record["provenance"])
    with pytest.raises(ValueError, match="CUDA activity"):
        bench.profile.run("cuda")


def test_relative_errors_over_all_tensors_and_per_tensor():
    reference = {"a": torch.tensor([3.0, 4.0], dtype=torch.float64), "b": torch.tensor([0.0, 2.0]),
                 "c": torch.tensor([1.0])}
    grads = {"a": torch.tensor([3.0, 4.5]), "b": torch.tensor([0.0, 2.0]), "c": torch.tensor([1.1])}
    errors = bench.accuracy.relative_errors(grads, reference)
    # all together: |(0, .5, 0, 0, .1)| / |(3, 4, 0, 2, 1)|; per tensor: a 0.1, b 0, c 0.1
    assert errors["error"] == pytest.approx((0.25 + 0.01) ** 0.5 / 30 ** 0.5)
    assert errors["median"] == pytest.approx(0.1) and errors["worst"] == pytest.approx(0.1)
    assert errors["worst_tensor"] in ("a", "c")
    with pytest.raises(ValueError, match="other tensors"):
        bench.accuracy.relative_errors({"a": grads["a"]}, reference)


def test_accuracy_benchmark_measures_each_precision_against_float64(tmp_path):
    out = tmp_path / "bench_accuracy.json"
    record = bench.main(["accuracy", "--device", "cpu", "--threads", "1", "--encoders", "small_cnn-16",
                         "--batch-size", "16", "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(record))
    rows = {r["precision"]: r for r in record["rows"]}
    assert list(rows) == ["fp32-nchw", "fp32", "bf16"]
    assert (rows["fp32-nchw"]["amp"], rows["fp32-nchw"]["channels_last"]) == (False, False)
    assert (rows["fp32"]["amp"], rows["fp32"]["channels_last"]) == (False, True)  # labfree's CPU layout
    assert (rows["bf16"]["amp"], rows["bf16"]["channels_last"]) == (True, True)
    # float32 rounds to 6e-8, bf16 to 2e-3: a dozen layers' backward pass keeps float32 far under
    # 1e-4 per tensor, and bf16 above its own rounding yet well short of losing the direction
    assert rows["fp32-nchw"]["median"] < 1e-4
    assert 1e-3 < rows["bf16"]["median"] < 0.5
    for row in record["rows"]:
        assert row["median"] <= row["worst"] and row["worst_tensor"].startswith(("encoder.", "projector."))
    # batch norm's statistics in NCHW sum pairwise: float32 rounding alone
    assert record["batch_norm"]["nchw"] < 1e-6
    assert PROVENANCE <= set(record["provenance"])
    with pytest.raises(ValueError, match="unknown encoders or precisions"):
        bench.accuracy.run(precisions=("fp16",))
