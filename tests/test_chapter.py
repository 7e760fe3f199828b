"""labfree.chapter: set-up checks, claims, records and which record a chapter shows."""

from __future__ import annotations

import importlib.util
import json

import pytest

from labfree import chapter, precision, profiles, results


@pytest.fixture
def records(tmp_path, monkeypatch):
    monkeypatch.setenv(results.ENVIRONMENT_VARIABLE, str(tmp_path))
    return tmp_path


def test_setup_returns_the_profile_settings() -> None:
    ch = chapter.setup("simclr", "ci", seed=3, threads=1)
    assert ch.settings == profiles.get("simclr")["ci"]
    assert ch.settings.n_train == profiles.get("simclr")["ci"]["n_train"]  # attribute access
    assert (ch.seed, ch.threads, ch.device) == (3, 1, "cpu")
    ch.settings["n_train"] = -1  # a copy: the package's table is untouched
    assert profiles.get("simclr")["ci"]["n_train"] != -1


@pytest.mark.parametrize("kwargs, match", [
    (dict(profile="tiny"), r"profile must be one of \['ci', 'full', 'online', 'reference'\]"),
    (dict(profile="ci", seed=-1), "seed must be an integer >= 0"),
    (dict(profile="ci", threads=0), "threads must be an integer >= 1"),
])
def test_setup_refuses_bad_arguments(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        chapter.setup("simclr", **kwargs)


def test_gpu_profiles_need_a_gpu() -> None:
    import torch
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="needs a GPU.*'reference'"):
        chapter.setup("simclr", "full")


def test_unknown_settings_name_the_known_ones() -> None:
    with pytest.raises(AttributeError, match="has no setting 'epochz'.*'n_train'"):
        _ = chapter.setup("simclr", "ci").settings.epochz


def test_check_counts_claims_and_names_the_failed_ones(capsys) -> None:
    chapter.check({"one": True, "two": 1 < 2})
    assert capsys.readouterr().out.startswith("✓ 2 claims checked")
    with pytest.raises(AssertionError, match="claims that do not hold: b; c"):
        chapter.check({"a": True, "b": False, "c": 0})
    with pytest.raises(ValueError, match="at least one claim"):
        chapter.check({})


def test_profile_checks_run_only_in_their_profile(capsys) -> None:
    ch = chapter.Chapter("simclr", "reference", chapter.Settings(), 0, 1, "cpu")
    ch.check({"calibrated on CI": False})  # not checked in the reference profile
    assert "not checked in the reference profile" in capsys.readouterr().out
    with pytest.raises(AssertionError):
        chapter.Chapter("simclr", "ci", chapter.Settings(), 0, 1, "cpu").check({"x": False})


def test_the_ci_profile_saves_nothing_and_shows_this_run(records) -> None:
    ch = chapter.setup("simclr", "ci")
    assert ch.save({"accuracy": 0.5}) is None and not list(records.iterdir())
    shown = ch.best({"accuracy": 0.5})
    assert (shown.source, shown.data) == ("this run", {"accuracy": 0.5})


def test_a_reference_record_is_saved_with_its_settings_and_shown(records) -> None:
    reference = chapter.setup("simclr", "ci")
    reference.profile = "reference"
    reference.settings = chapter.Settings(profiles.get("simclr")["reference"])
    path = reference.save({"accuracy": 0.8})
    assert path == records / "simclr_reference.json"
    provenance = json.loads(path.read_text())["provenance"]
    for key in ("device", "cpu", "threads", "commit", "date", "wall_time_s", "settings", "seed"):
        assert key in provenance, key
    assert provenance["profile"] == "reference" and provenance["wall_time_s"] >= 0
    shown = chapter.setup("simclr", "ci").best({"accuracy": 0.5})
    assert (shown.source, shown.data) == ("reference", {"accuracy": 0.8})
    assert shown.label.startswith("reference record (commit ")


def test_a_stale_record_is_not_shown(records, capsys) -> None:
    stale = dict(profiles.get("simclr")["reference"], n_train=123)
    results.save("simclr_reference", {"accuracy": 0.8}, settings=stale, profile="reference")
    shown = chapter.setup("simclr", "ci").best({"accuracy": 0.5})
    assert shown.source == "this run"
    out = capsys.readouterr().out
    assert "stale" in out
    # the advice names the runner that exists
    command = out.split("re-run: python -m ")[1].split()[0]
    assert importlib.util.find_spec(command) is not None, command


def test_record_names_and_settings_comparison() -> None:
    assert chapter.record_name("simclr", "reference") == "simclr_reference"
    assert chapter.record_name("assignments/vicreg", "reference") == "assignment_vicreg_reference"
    assert chapter.same_settings({"a": (1, 2)}, {"a": [1, 2]})
    assert not chapter.same_settings({"a": 1}, {"a": 2})


def test_results_directory_follows_the_environment(records) -> None:
    assert results.results_dir() == records
    assert results.save("x", {"y": 1}).parent == records
    assert not list(records.glob(".*partial"))  # written atomically, nothing left behind


def test_precision_choices() -> None:
    # channels-last pays on every CPU, float32 included; on CUDA it follows bf16
    assert precision.resolve(False, "auto", "cpu") == (False, True)
    assert precision.resolve(False, "auto", "cuda") == (False, False)
    assert precision.resolve(True, "auto", "cuda") == (True, True)
    assert precision.resolve(True, False, "cpu") == (True, False)
    assert precision.resolve("auto", "auto", "cpu") == (precision.bf16_native("cpu"), True)
    assert precision.describe("cpu").endswith(", channels-last")
    with pytest.raises(ValueError, match="amp must be True, False or 'auto'"):
        precision.resolve("yes", "auto", "cpu")


def test_difference_reports_mean_range_and_sign(capsys) -> None:
    chapter.difference("a minus b", [0.6, 0.7, 0.8], [0.5, 0.5, 0.5])
    assert capsys.readouterr().out == "a minus b: +0.200 (seeds +0.100 to +0.300; every seed > 0)\n"
    chapter.difference("b minus a", [0.5, 0.5], [0.6, 0.7])
    assert "every seed < 0" in capsys.readouterr().out
    chapter.difference("noise", [0.5, 0.7], [0.6, 0.6])
    assert "sign changes between seeds" in capsys.readouterr().out
    with pytest.raises(ValueError, match="one value per seed"):
        chapter.difference("empty", [], [])


def test_level_reports_mean_and_range(capsys) -> None:
    chapter.level("spread", [1.0, 2.0, 3.0])
    assert capsys.readouterr().out == "spread: 2 (1-3)\n"
    with pytest.raises(ValueError, match="one value per seed"):
        chapter.level("none", [])
