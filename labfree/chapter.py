"""The chapter layer: set a chapter up from its profile, save its record, show the best record.

Every experiment chapter of the book runs in one of a few *profiles* — ``"ci"`` (seconds to a
minute on a CPU, the test suite's), ``"reference"`` (the study at a credible scale on a 2-core CPU,
minutes), ``"full"`` (the sources' recipes on a GPU) and ``"online"`` (CIFAR/MNIST downloads, GPU).
The profiles' settings live beside the chapter in :mod:`labfree.profiles`; the chapter's parameters
cell holds only what papermill sets::

    from labfree import chapter
    ch = chapter.setup("simclr", profile, seed=seed, threads=threads)
    ch.settings.epochs            # this profile's settings, attribute access
    ...
    ch.save(record)               # results/simclr_reference.json (reference/full/online runs only)
    shown = ch.best(record)       # the best record there is, with a line saying which
    chapter.check({"SimCLR beats the random encoder": acc > random_acc})   # "✓ 1 claim checked"

A saved record carries its provenance (device and CPU model, threads, precision, commit, date, wall
time since :func:`setup`) and the profile's resolved settings, so a test can tell when a committed
record no longer matches the chapter's profile (``tests/test_profiles.py``).
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labfree import profiles, results

GPU_PROFILES = ("full", "online")   # profiles that train ResNet-18L for hundreds of epochs
RECORDED_PROFILES = ("reference", "full", "online")  # profiles whose run is saved as a record
# Which committed record a chapter shows when it runs in another profile: the largest first.
SHOWN_ORDER = ("full", "reference")
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


class Settings(dict):
    """A profile's settings: a plain dict (JSON-able, comparable) read as attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"the profile has no setting {name!r}; it has {sorted(self)}") from None


@dataclass
class Shown:
    """The record a chapter draws: its ``data``, where it came from (``source``: ``"reference"``,
    ``"full"`` or ``"this run"``), a one-line ``label``, the record's ``provenance`` and the
    profile ``settings`` the data were made with (draw with these, not the running profile's)."""

    data: dict[str, Any]
    source: str
    label: str
    provenance: dict[str, Any] = field(default_factory=dict)
    settings: Settings = field(default_factory=Settings)


@dataclass
class Chapter:
    """A chapter set up by :func:`setup`: its name, profile, settings, device and clock."""

    name: str
    profile: str
    settings: Settings
    seed: int
    threads: int
    device: str
    started: float = field(default_factory=time.perf_counter)
    cpu_started: float = field(default_factory=time.process_time)

    @property
    def record_name(self) -> str:
        return record_name(self.name, self.profile)

    def elapsed(self) -> float:
        """Seconds since :func:`setup`: the wall time a record reports."""
        return time.perf_counter() - self.started

    def save(self, data: Mapping[str, Any], **extra: Any) -> Path | None:
        """Save ``data`` as this profile's record, ``results/<chapter>_<profile>.json``, with its
        provenance and settings; the CI profile saves nothing (its numbers are on the page)."""
        if self.profile not in RECORDED_PROFILES:
            return None
        cpu_time_s = round(time.process_time() - self.cpu_started, 1)  # this process, all threads
        return results.save(self.record_name, dict(data), wall_time_s=self.elapsed(),
                            cpu_time_s=cpu_time_s, device=self.device, profile=self.profile,
                            seed=self.seed, threads=self.threads, settings=self.settings, **extra)

    def committed(self, profile: str) -> dict[str, Any] | None:
        """The committed record of ``profile`` if it exists and was made with the profile's
        current settings, else ``None`` (a stale record is reported, never shown)."""
        path = results.results_dir() / f"{record_name(self.name, profile)}.json"
        if not path.is_file():
            return None
        record = json.loads(path.read_text())
        if not same_settings(record["provenance"].get("settings"), profiles.get(self.name)[profile]):
            print(f"note: {path.name} was made with other settings than the {profile!r} profile "
                  "has now; it is stale and not shown (re-run: python -m tools.run_profiles "
                  f"--profile {profile} {self.name})")
            return None
        return record

    def best(self, this_run: Mapping[str, Any]) -> Shown:
        """The best record there is, announced in one line: a ``full`` record, else the
        ``reference`` record, else ``this_run`` (the data this run computed). A run in a recorded
        profile shows itself."""
        if self.profile not in RECORDED_PROFILES:
            for profile in SHOWN_ORDER:
                if profile in profiles.get(self.name) and (record := self.committed(profile)):
                    shown = Shown(record["data"], profile, describe(record), record["provenance"],
                                  Settings(record["provenance"]["settings"]))
                    print(f"Shown: the {shown.label}.")
                    return shown
        label = f"{self.profile} profile, this run"
        print(f"Shown: the {label} ({self.device}, {self.threads} thread(s)).")
        return Shown(dict(this_run), "this run", label, settings=self.settings)


    def is_record(self, shown: Shown) -> bool:
        """Whether ``shown`` is a record of a recorded profile (the committed reference or full
        record, or this run when it runs in one): the data that a chapter's claims about its
        study are checked on. A CI run shown for want of a record is not."""
        return shown.source in RECORDED_PROFILES or self.profile in RECORDED_PROFILES

    def check(self, claims: Mapping[str, bool], *, profiles: tuple[str, ...] = ("ci",)) -> None:
        """:func:`check` the claims of a run calibrated for ``profiles`` (by default the CI
        profile, whose thresholds were set over several seeds); in another profile say that they
        were not checked: the record of a larger run is checked against its own claims."""
        if self.profile in profiles:
            check(claims)
        else:
            print(f"- {len(claims)} claim(s) calibrated for the {'/'.join(profiles)} profile, "
                  f"not checked in the {self.profile} profile")


def record_name(chapter: str, profile: str) -> str:
    """The stem of a chapter's record: ``simclr_reference``; ``assignments/vicreg`` becomes
    ``assignment_vicreg_reference``."""
    return f"{chapter.replace('assignments/', 'assignment_')}_{profile}"


def describe(record: Mapping[str, Any]) -> str:
    """``"reference record (commit 1a2b3c4, 2026-12-01, 9.5 min on CPU (...))"``."""
    p = record["provenance"]
    minutes = (p.get("wall_time_s") or 0) / 60
    return (f"{p.get('profile', '?')} record (commit {str(p.get('commit', '?'))[:7]}, "
            f"{str(p.get('date', '?'))[:10]}, {minutes:.1f} min on {p.get('device', '?')})")


def same_settings(a: Any, b: Any) -> bool:
    """Whether two settings are equal once both have been through JSON (tuples become lists)."""
    return json.loads(json.dumps(a, default=str)) == json.loads(json.dumps(b, default=str))


def limit_threads(threads: int) -> None:
    """Run torch and the OpenMP/BLAS pools (scikit-learn, UMAP, NumPy) on ``threads`` threads: on a
    small shared CPU, idle pool workers spinning beside torch stalled it for minutes."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    threadpool_limits(threads)
    for variable in _THREAD_VARIABLES:  # for worker processes started later
        os.environ[variable] = str(threads)


def setup(name: str, profile: str, *, seed: int = 0, threads: int = 1) -> Chapter:
    """Set a chapter up: check ``profile`` against the chapter's profiles (a clear error lists
    them), check that a GPU profile has a GPU, limit threads, seed every generator, pick the
    device, and print one line saying so. Returns the :class:`Chapter` with its settings."""
    import torch

    from labfree import precision
    from labfree.train import seed_everything

    available = profiles.get(name)
    if profile not in available:
        raise ValueError(f"profile must be one of {sorted(available)} for the {name} chapter, "
                         f"got {profile!r}")
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be an integer >= 1, got {threads!r}")
    if profile in GPU_PROFILES and not torch.cuda.is_available():
        raise RuntimeError(
            f"profile={profile!r} runs the sources' recipes (ResNet-18L, hundreds of epochs) and "
            "needs a GPU (in Colab: Runtime > Change runtime type); on a CPU use profile='ci' "
            "(a minute) or 'reference' (the study at a credible scale, minutes)")
    limit_threads(threads)
    seed_everything(seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    settings = Settings(copy.deepcopy(available[profile]))
    native = "native bf16" if precision.bf16_native(device) else "no native bf16"
    print(f"{name}: profile {profile!r}, seed {seed}, {device} ({threads} thread(s), {native})")
    return Chapter(name, profile, settings, seed, threads, device)


def check(claims: Mapping[str, bool]) -> None:
    """Assert every claim (``{"what is claimed": bool}``) and print one line: ``✓ 3 claims
    checked``; a failed claim raises :class:`AssertionError` naming every claim that failed."""
    if not claims:
        raise ValueError("check() needs at least one claim")
    failed = [claim for claim, holds in claims.items() if not bool(holds)]
    if failed:
        raise AssertionError("claims that do not hold: " + "; ".join(failed))
    n = len(claims)
    print(f"✓ {n} claim{'s' if n != 1 else ''} checked: " + "; ".join(claims))


def difference(what: str, a: Sequence[float], b: Sequence[float]) -> None:
    """Print a difference taken seed by seed, ``a[i] - b[i]``: its mean, its range over the seeds,
    and whether its sign holds in every seed — a difference whose sign changes between seeds is
    within the noise of training, not a finding::

        chapter.difference("VICReg minus random, probe accuracy", [0.59, 0.60], [0.48, 0.49])
        # VICReg minus random, probe accuracy: +0.110 (seeds +0.110 to +0.110; every seed > 0)
    """
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if diff.ndim != 1 or not diff.size:
        raise ValueError(f"difference needs one value per seed on each side, got {diff.shape}")
    sign = ("every seed > 0" if (diff > 0).all() else
            "every seed < 0" if (diff < 0).all() else "sign changes between seeds")
    print(f"{what}: {diff.mean():+.3f} "
          f"(seeds {diff.min():+.3f} to {diff.max():+.3f}; {sign})")


def level(what: str, values: Sequence[float]) -> None:
    """Print per-seed values as their mean and range: ``what: mean (min-max)``."""
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or not v.size:
        raise ValueError(f"level needs one value per seed, got shape {v.shape}")
    print(f"{what}: {v.mean():.3g} ({v.min():.3g}-{v.max():.3g})")
