"""Profiles and their records: every committed record matches the profile it came from.

A record under ``results/<chapter>_<profile>.json`` carries the settings it was made with; when a
chapter's profile changes, its record is stale and this test fails until the chapter is re-run
(``python -m tools.run_profiles --profile reference CHAPTER``). The tests never run a profile.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labfree import chapter, profiles
from tools import run_profiles

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
REFERENCE = profiles.chapters("reference")


def test_every_profiled_chapter_is_a_page_with_a_ci_profile() -> None:
    for name in profiles.chapters():
        assert (ROOT / "book" / f"{name}.md").is_file(), f"profiles for {name} but no book/{name}.md"
        assert "ci" in profiles.get(name), f"{name} has no ci profile (the test suite runs it)"
        assert (ROOT / "notebooks" / f"{name}.ipynb").is_file()


@pytest.mark.parametrize("name", REFERENCE)
def test_reference_record_is_committed_current_and_from_a_commit(name: str) -> None:
    path = RESULTS / f"{chapter.record_name(name, 'reference')}.json"
    assert path.is_file(), (f"{path.relative_to(ROOT)} is missing: run python -m "
                            f"tools.run_profiles --profile reference {name} and commit it")
    provenance = json.loads(path.read_text())["provenance"]
    assert chapter.same_settings(provenance["settings"], profiles.get(name)["reference"]), (
        f"{path.name} is stale: the reference profile of {name} changed since it was made")
    commit = provenance["commit"]
    assert len(commit) == 40 and not commit.endswith("-dirty"), (
        f"{path.name} was made from {commit!r}, not from a clean commit")
    assert provenance["wall_time_s"] > 0 and provenance["profile"] == "reference"
    assert provenance["device"] and provenance["cpu"] and provenance["threads"] >= 1


def test_the_runner_lists_chapters_with_their_records(capsys) -> None:
    assert run_profiles.main(["--list"]) == 0
    out = capsys.readouterr().out
    for name in REFERENCE:
        assert name in out
    with pytest.raises(SystemExit):
        run_profiles.main(["no-such-chapter"])
