"""labfree.results: provenance recorded beside every committed number."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from labfree import results


def test_save_and_load_round_trip(tmp_path) -> None:
    data = {"accuracy": np.float64(0.875), "curve": np.arange(3), "loss": torch.tensor(1.5)}
    path = results.save("demo", data, wall_time_s=12.3456, directory=tmp_path, epochs=5)
    record = results.load("demo", directory=tmp_path)
    assert path == tmp_path / "demo.json"
    assert record["data"] == {"accuracy": 0.875, "curve": [0, 1, 2], "loss": 1.5}
    prov = record["provenance"]
    assert prov["wall_time_s"] == 12.346 and prov["epochs"] == 5
    assert prov["torch"] == torch.__version__ and prov["device"]
    assert prov["commit"] and prov["date"].endswith("+00:00")
    json.loads(path.read_text())  # plain JSON on disk


def test_timer_measures_the_block() -> None:
    with results.timer() as t:
        time.sleep(0.05)
    assert 0.04 < t.seconds < 5


def test_missing_result_says_how_to_make_it(tmp_path) -> None:
    results.save("present", {"x": 1}, directory=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"reference or full profile.*tools.run_profiles.*present"):
        results.load("absent", directory=tmp_path)


@pytest.mark.parametrize("name", ["", "a/b", ".hidden"])
def test_bad_names(tmp_path, name) -> None:
    with pytest.raises(ValueError, match="plain file stem"):
        results.save(name, {}, directory=tmp_path)


def test_unstorable_values_are_refused(tmp_path) -> None:
    with pytest.raises(TypeError, match="cannot store object"):
        results.save("bad", {"x": object()}, directory=tmp_path)


def test_committed_records_come_from_clean_commits() -> None:
    """Every record under results/ names the commit that made it, with no uncommitted changes
    (``-dirty``), so that a reader can check out the code behind any number in the book."""
    folder = Path(__file__).resolve().parents[1] / "results"
    dirty = []
    for path in sorted(folder.glob("*.json")):
        commit = json.loads(path.read_text(encoding="utf-8"))["provenance"]["commit"]
        assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", commit), (path.name, commit)
        if commit.endswith("-dirty"):
            dirty.append(path.name)
    assert not dirty, f"made from a tree with uncommitted changes: {dirty}; rerun from a commit"
