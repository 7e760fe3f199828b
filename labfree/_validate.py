"""Checks of numeric arguments shared across the package: finite, in range, integral, positive definite.

Each check returns the value in a plain Python (or NumPy) type, or raises ``ValueError`` with a message
that names the argument, says what it must be and what was passed, and ends with the fix::

    lr = number(lr, "lr", low=0, low_open=True, fix="pass the peak learning rate, e.g. lr=0.06")
    # ValueError: lr must be a finite number > 0; got nan. Pass the peak learning rate, e.g. lr=0.06.

NaN fails every range (a comparison with NaN is false), and so do infinities: ``math.isfinite`` first.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np


def _range(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high:g}"
    return ""


def _fail(name: str, what: str, value: Any, fix: str) -> ValueError:
    fix = fix.strip()
    if fix:
        fix = " " + fix[0].upper() + fix[1:] + ("" if fix.endswith(".") else ".")
    return ValueError(f"{name} must be {what}; got {value!r}.{fix}")


def number(value: Any, name: str, *, low: float | None = None, high: float | None = None,
           low_open: bool = False, high_open: bool = False, fix: str = "") -> float:
    """``value`` as a float if it is a finite real number within the range (``low``/``high``
    inclusive unless ``*_open``); else ``ValueError`` naming ``name`` and ending with ``fix``."""
    what = " ".join(filter(None, ("a finite number", _range(low, high, low_open, high_open))))
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _fail(name, what, value, fix)
    x = float(value)
    if not math.isfinite(x):
        raise _fail(name, what, value, fix)
    if low is not None and (x < low or (low_open and x == low)):
        raise _fail(name, what, value, fix)
    if high is not None and (x > high or (high_open and x == high)):
        raise _fail(name, what, value, fix)
    return x


def integer(value: Any, name: str, *, low: int | None = None, high: int | None = None,
            fix: str = "") -> int:
    """``value`` as an int if it is an integer (not a bool, not a float such as 1.5 or 2.0) within
    ``[low, high]``; else ``ValueError`` naming ``name`` and ending with ``fix``."""
    what = " ".join(filter(None, ("an integer", _range(low, high, False, False))))
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise _fail(name, what, value, fix)
    x = int(value)
    if (low is not None and x < low) or (high is not None and x > high):
        raise _fail(name, what, value, fix)
    return x


def covariance(value: Any, name: str = "cov", *, fix: str = "") -> np.ndarray:
    """``value`` as a float64 ``(n, n)`` array if it is a finite, symmetric, positive-definite matrix
    (a scalar is a ``1 x 1`` variance); else ``ValueError`` naming ``name``. Positive definiteness is
    decided by a Cholesky factorisation, not by the determinant's sign (``-I`` in even dimension has
    determinant +1)."""
    fix = fix or ("pass a covariance matrix, e.g. np.cov(x, rowvar=False), adding a small multiple of "
                  "the identity if it is singular")
    try:
        sigma = np.atleast_2d(np.asarray(value, dtype=np.float64))
    except (TypeError, ValueError):
        raise _fail(name, "a square symmetric positive-definite matrix", value, fix) from None
    if sigma.ndim != 2 or sigma.shape[0] != sigma.shape[1] or sigma.shape[0] < 1:
        raise ValueError(f"{name} must be a square (n, n) matrix (a scalar is a variance); got shape "
                         f"{sigma.shape}. Pass the covariance matrix itself, not the samples.")
    if not np.isfinite(sigma).all():
        raise ValueError(f"{name} contains NaN or inf; a covariance must be finite. Check how it was "
                         "estimated (NaN in the samples?).")
    if not np.allclose(sigma, sigma.T):
        raise ValueError(f"{name} must be symmetric (cov == cov.T); got a matrix whose largest asymmetry "
                         f"is {np.abs(sigma - sigma.T).max():.3g}. Symmetrise it with (cov + cov.T) / 2.")
    try:
        np.linalg.cholesky(sigma)
    except np.linalg.LinAlgError:
        smallest = float(np.linalg.eigvalsh(sigma).min())
        raise ValueError(f"{name} must be symmetric positive definite; its smallest eigenvalue is "
                         f"{smallest:.3g} (every eigenvalue must be > 0). "
                         f"{fix[0].upper()}{fix[1:]}.") from None
    return sigma
