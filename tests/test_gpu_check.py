"""tools.gpu_check --tiny: the GPU check's code path, on the CPU, in seconds."""

from __future__ import annotations

import json

from tools import gpu_check


def test_tiny_check_writes_the_benchmark_and_every_run_that_fits(tmp_path):
    summary = gpu_check.main(["--tiny", "--device", "cpu", "--out", str(tmp_path)])
    methods = [kwargs["method"] for _, kwargs in gpu_check.RUNS]
    assert summary["done"] == ["bench_train_tiny", *(f"tiny_{m}" for m in methods)]
    assert summary["skipped"] == []
    bench = json.loads((tmp_path / "bench_train_tiny.json").read_text())
    assert bench["runs"] and bench["runs"][0]["precision"] == "bf16"
    for method in methods:
        record = json.loads((tmp_path / f"tiny_{method}.json").read_text())
        assert record["settings"]["method"] == method and 0 < record["probe_accuracy"] <= 1
        assert len(record["loss"]) == gpu_check.TINY["epochs"]
        assert {"device", "commit", "date", "wall_time_s"} <= set(record["provenance"])
    assert json.loads((tmp_path / "gpu_check.json").read_text())["done"] == summary["done"]


def test_runs_that_do_not_fit_the_budget_are_skipped_and_listed(tmp_path):
    summary = gpu_check.main(["--tiny", "--device", "cpu", "--budget", "0", "--out", str(tmp_path)])
    assert summary["done"] == ["bench_train_tiny"]
    assert [s["run"] for s in summary["skipped"]] == [name for name, _ in gpu_check.RUNS]
    assert not list(tmp_path.glob("tiny_*.json"))


def test_the_full_check_refuses_a_cpu(tmp_path, capsys):
    import pytest

    with pytest.raises(SystemExit):
        gpu_check.main(["--device", "cpu", "--out", str(tmp_path)])
    assert "needs a CUDA device" in capsys.readouterr().err
