"""The label-scheme complexity framework of ``shapes_thesis`` (sections 3.2.1-3.2.2), made executable.

Each pair of the four shapes carries a *complexity*: how hard the two are to tell apart. The thesis
names the six pairs A-F (its figure 3.3)::

    A  rectangle-square    B  square-circle      C  ellipse-circle
    D  rectangle-ellipse   E  rectangle-circle   F  square-ellipse

A label scheme must separate exactly the pairs whose shapes it puts in different classes, so its
complexity combines those pairs: rectangle ADE, square ABF, ellipse CDF, circle BCE, edge BDEF,
regular ACEF, inverse ABCD, all ABCDEF (:data:`SCHEME_COMPLEXITIES`, derived from
``data.SCHEMES``). In the *additive* model the difficulty of a scheme is the sum of its
complexities (the thesis' multiplicative form is the same model on a log scale).

An observed ranking of scheme difficulty (from probe accuracies or losses) gives inequalities
``difficulty(harder) > difficulty(easier)``. A *hypothesis* is a strict order of the six
complexities (e.g. the thesis' ``A > C > B > D > F > E``), optionally with *precedence* conditions
(``A > C takes precedence over B > D`` reads ``A - C > B - D`` in the additive model). Whether
some magnitudes satisfy a hypothesis and a set of observed inequalities together is a linear
feasibility problem; every constraint is a strict homogeneous inequality ``a . c > 0`` (plus
``c >= 0`` when complexities are non-negative), so the system is feasible exactly when ``a . c >= 1``
is, which :func:`scipy.optimize.linprog` decides. No tolerance is involved: the answer is exact up
to the solver's floating-point arithmetic on small integer coefficients.

**API at a glance**::

    PAIRS, SCHEME_COMPLEXITIES, THESIS_ORDER, THESIS_PRECEDENCE
    scheme_complexities(scheme_or_mapping) -> "ADE"
    observed_inequalities(difficulty, tolerance=0.0) -> [("square", "rectangle"), ...]  # (harder, easier)
    feasible(inequalities, order=None, precedence=(), nonnegative=True) -> bool
    consistent_orders(inequalities, precedence=(), nonnegative=True) -> ["ACBDFE", ...]  # of the 720
    violations(inequalities, order, precedence=()) -> the inequalities the hypothesis contradicts
    conflict(inequalities, order, precedence=()) -> a minimal set of inequalities it cannot meet together
    implies(harder, easier, order=None, precedence=(), given=())
        -> whether the hypothesis forces harder > easier
    check(difficulty, order=THESIS_ORDER, precedence=THESIS_PRECEDENCE) -> Verdict
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linprog

from .data import SCHEMES, SHAPES

__all__ = [
    "PAIRS", "LETTERS", "SCHEME_COMPLEXITIES", "THESIS_ORDER", "THESIS_PRECEDENCE",
    "scheme_complexities", "observed_inequalities", "feasible", "consistent_orders", "violations",
    "conflict", "implies", "check", "Verdict",
]

# The thesis' names for the six pairwise complexities (figure 3.3).
PAIRS: dict[str, tuple[str, str]] = {
    "A": ("rectangle", "square"),
    "B": ("square", "circle"),
    "C": ("ellipse", "circle"),
    "D": ("rectangle", "ellipse"),
    "E": ("rectangle", "circle"),
    "F": ("square", "ellipse"),
}
LETTERS = "ABCDEF"
# The thesis' derived order (3.2.2): A > C > B > D > F > E, with three precedence conditions:
# A > C over B > D, A > C over F > E, F > E over B > D. A precedence ((x, y), (u, v)) means
# c_x - c_y > c_u - c_v.
THESIS_ORDER = "ACBDFE"
THESIS_PRECEDENCE: tuple[tuple[str, str], ...] = (("AC", "BD"), ("AC", "FE"), ("FE", "BD"))

Inequality = tuple[str, str]  # (harder, easier): scheme names or strings of letters


def scheme_complexities(scheme: str | Mapping[str, int]) -> str:
    """The letters of the pairs a scheme must separate (shapes in different classes), sorted.

    ``scheme`` is a name in ``data.SCHEMES`` or a mapping shape -> class.
    """
    mapping = SCHEMES[scheme] if isinstance(scheme, str) else scheme
    if set(mapping) != set(SHAPES):
        raise ValueError(f"a scheme must assign a class to each of {SHAPES}, got {sorted(mapping)}")
    return "".join(k for k in LETTERS if mapping[PAIRS[k][0]] != mapping[PAIRS[k][1]])


SCHEME_COMPLEXITIES: dict[str, str] = {name: scheme_complexities(name) for name in SCHEMES}


def _vector(term: str) -> np.ndarray:
    """Indicator vector over A-F of a scheme name or a string of letters."""
    letters = SCHEME_COMPLEXITIES.get(term, term)
    if not letters or any(k not in LETTERS for k in letters):
        raise ValueError(f"{term!r} is neither a scheme ({', '.join(SCHEMES)}) nor letters from {LETTERS}")
    v = np.zeros(len(LETTERS))
    for k in letters:
        v[LETTERS.index(k)] += 1.0
    return v


def _check_order(order: str) -> str:
    if sorted(order) != sorted(LETTERS):
        raise ValueError(f"an order must list each of {LETTERS} once, got {order!r}")
    return order


def _rows(inequalities: Iterable[Inequality], order: str | None,
          precedence: Sequence[tuple[str, str]]) -> list[np.ndarray]:
    """Each constraint as a row a with the requirement a . c > 0."""
    rows = [_vector(harder) - _vector(easier) for harder, easier in inequalities]
    if order is not None:
        order = _check_order(order)
        rows += [_vector(a) - _vector(b) for a, b in zip(order, order[1:])]
    for (x, y), (u, v) in ((tuple(p), tuple(q)) for p, q in precedence):
        rows.append(_vector(x) - _vector(y) - _vector(u) + _vector(v))
    return rows


def _feasible_rows(rows: list[np.ndarray], nonnegative: bool) -> bool:
    if not rows:
        return True
    a = np.array(rows)
    if np.any(np.all(a == 0, axis=1)):  # 0 > 0: e.g. a scheme compared with itself
        return False
    bounds = (0, None) if nonnegative else (None, None)
    result = linprog(np.zeros(a.shape[1]), A_ub=-a, b_ub=-np.ones(len(a)), bounds=bounds,
                     method="highs")
    if result.status not in (0, 2):
        raise RuntimeError(f"linprog failed: {result.message}")
    return result.status == 0


def feasible(inequalities: Iterable[Inequality], order: str | None = None,
             precedence: Sequence[tuple[str, str]] = (), *, nonnegative: bool = True) -> bool:
    """Whether some complexities A-F satisfy every inequality, the order and the precedences.

    ``inequalities`` are ``(harder, easier)`` pairs of scheme names (or strings of letters, such as
    ``("DF", "BE")``); ``order`` a permutation of ``"ABCDEF"`` from most to least complex;
    ``nonnegative`` requires every complexity to be >= 0 (the thesis' assumption 3).
    """
    return _feasible_rows(_rows(inequalities, order, precedence), nonnegative)


def consistent_orders(inequalities: Iterable[Inequality], precedence: Sequence[tuple[str, str]] = (),
                      *, nonnegative: bool = True) -> list[str]:
    """The orders of A-F (of all 720) consistent with the inequalities (and precedences).

    Exact, by depth-first search over the leading letters: "the first k letters, in this order, are
    the k largest" is a relaxation of every order that starts with them, so an infeasible prefix
    rules them all out. Returned in lexicographic order.
    """
    base = _rows(list(inequalities), None, precedence)
    if not _feasible_rows(base, nonnegative):  # no magnitudes at all: no order either
        return []
    found: list[str] = []

    def extend(prefix: str) -> None:
        rest = [k for k in LETTERS if k not in prefix]
        if len(rest) == 1:
            found.append(prefix + rest[0])
            return
        for k in rest:
            head = prefix + k
            rows = base + [_vector(a) - _vector(b) for a, b in zip(head, head[1:])]
            rows += [_vector(k) - _vector(j) for j in rest if j != k]
            if _feasible_rows(rows, nonnegative):
                extend(head)

    extend("")
    return found


def violations(inequalities: Iterable[Inequality], order: str | None,
               precedence: Sequence[tuple[str, str]] = (), *, nonnegative: bool = True) -> list[Inequality]:
    """The observed inequalities the hypothesis contradicts one at a time (it forces the reverse)."""
    hypothesis = _rows([], order, precedence)
    return [q for q in inequalities if not _feasible_rows(hypothesis + _rows([q], None, ()), nonnegative)]


def conflict(inequalities: Iterable[Inequality], order: str | None,
             precedence: Sequence[tuple[str, str]] = (), *, nonnegative: bool = True) -> list[Inequality]:
    """A minimal subset of the inequalities that the hypothesis cannot satisfy together.

    Empty when the hypothesis is consistent with all of them. Minimal (irreducible): dropping any
    one inequality of the subset makes it satisfiable. Found by the deletion filter.
    """
    kept = list(inequalities)
    if feasible(kept, order, precedence, nonnegative=nonnegative):
        return []
    for q in list(kept):
        trial = [r for r in kept if r != q]
        if not feasible(trial, order, precedence, nonnegative=nonnegative):
            kept = trial
    return kept


def implies(harder: str, easier: str, order: str | None = None,
            precedence: Sequence[tuple[str, str]] = (), *, given: Iterable[Inequality] = (),
            nonnegative: bool = True) -> bool:
    """Whether the hypothesis forces ``difficulty(harder) > difficulty(easier)`` for all magnitudes.

    The hypothesis is the order, the precedences and the ``given`` inequalities (scheme names or
    letter strings, e.g. ``given=[("A", "C"), ("C", "B")]`` for a partial order). True when it is
    satisfiable but not together with ``easier >= harder``: the hypothesis' strict rows, scaled
    to ``>= 1``, with the closed reverse inequality form an infeasible linear system.
    """
    rows = _rows(list(given), order, precedence)
    if not _feasible_rows(rows, nonnegative):
        raise ValueError("the hypothesis itself is unsatisfiable; it implies everything")
    a = np.array(rows) if rows else np.zeros((0, len(LETTERS)))
    reverse = _vector(easier) - _vector(harder)
    a_ub = np.vstack([-a, -reverse[None, :]])
    b_ub = np.r_[-np.ones(len(a)), 0.0]
    bounds = (0, None) if nonnegative else (None, None)
    result = linprog(np.zeros(len(LETTERS)), A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
    if result.status not in (0, 2):
        raise RuntimeError(f"linprog failed: {result.message}")
    return result.status == 2


def observed_inequalities(difficulty: Mapping[str, float], tolerance: float = 0.0) -> list[Inequality]:
    """``(harder, easier)`` for every pair of schemes whose difficulties differ by more than ``tolerance``.

    ``difficulty`` maps scheme names to a number that grows with difficulty: ``1 - accuracy`` or
    the probe's test loss. Pairs within ``tolerance`` give no constraint (an unresolved tie).
    """
    items = sorted(difficulty.items(), key=lambda kv: -kv[1])
    return [(a, b) for (a, da), (b, db) in itertools.combinations(items, 2) if da - db > tolerance]


@dataclass
class Verdict:
    """What :func:`check` found for one observed ranking."""

    inequalities: list[Inequality]
    consistent: bool                      # the hypothesis meets every inequality at once
    violated: list[Inequality]            # contradicted one at a time
    conflict: list[Inequality]            # a minimal subset it cannot meet together
    orders: list[str] = field(default_factory=list)   # orders of A-F consistent with the ranking
    feasible_at_all: bool = True          # some magnitudes (any order) explain the ranking


def check(difficulty: Mapping[str, float], order: str | None = THESIS_ORDER,
          precedence: Sequence[tuple[str, str]] = THESIS_PRECEDENCE, *, tolerance: float = 0.0,
          nonnegative: bool = True, orders: bool = True) -> Verdict:
    """Test a hypothesis (order + precedences) against an observed difficulty ranking.

    ``orders=True`` also enumerates the orders of A-F (without precedences) consistent with the
    ranking (:func:`consistent_orders`).
    """
    inequalities = observed_inequalities(difficulty, tolerance)
    return Verdict(
        inequalities=inequalities,
        consistent=feasible(inequalities, order, precedence, nonnegative=nonnegative),
        violated=violations(inequalities, order, precedence, nonnegative=nonnegative),
        conflict=conflict(inequalities, order, precedence, nonnegative=nonnegative),
        orders=consistent_orders(inequalities, nonnegative=nonnegative) if orders else [],
        feasible_at_all=feasible(inequalities, nonnegative=nonnegative),
    )
