"""The label-scheme complexity framework: known answers for schemes, orders and the thesis' steps."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from labfree import complexity as cx
from labfree import data


def test_schemes_are_the_thesis_combinations() -> None:
    # section 3.2.2 and its edge/regular/inverse/all paragraphs
    assert cx.SCHEME_COMPLEXITIES == {
        "rectangle": "ADE", "square": "ABF", "ellipse": "CDF", "circle": "BCE",
        "edge": "BDEF", "regular": "ACEF", "inverse": "ABCD", "all": "ABCDEF",
    }
    assert set(cx.SCHEME_COMPLEXITIES) == set(data.SCHEMES)
    # a scheme depends on the partition, not on the class numbers
    assert cx.scheme_complexities({"rectangle": 1, "square": 1, "ellipse": 0, "circle": 0}) == "BDEF"
    with pytest.raises(ValueError, match="each of"):
        cx.scheme_complexities({"rectangle": 0, "square": 1})


def test_every_pair_is_a_pair_of_distinct_shapes() -> None:
    pairs = {frozenset(p) for p in cx.PAIRS.values()}
    assert pairs == {frozenset(p) for p in itertools.combinations(data.SHAPES, 2)}


def test_no_constraints_admit_every_order() -> None:
    assert len(cx.consistent_orders([])) == 720
    assert cx.feasible([], cx.THESIS_ORDER, cx.THESIS_PRECEDENCE)


@pytest.mark.parametrize("seed", range(3))
def test_rankings_of_a_known_additive_model_admit_its_order(seed: int) -> None:
    rng = np.random.default_rng(seed)
    magnitudes = np.sort(rng.uniform(0, 1, 6))[::-1]          # strictly decreasing, >= 0
    order = "".join(rng.permutation(list(cx.LETTERS)))        # which letter gets which magnitude
    value = dict(zip(order, magnitudes))
    difficulty = {s: sum(value[k] for k in ks) for s, ks in cx.SCHEME_COMPLEXITIES.items()}
    inequalities = cx.observed_inequalities(difficulty)
    assert len(inequalities) == 28                             # all 8 choose 2 pairs resolved
    orders = cx.consistent_orders(inequalities)
    assert order in orders
    assert cx.check(difficulty, order, ()).consistent
    # the depth-first search agrees with trying each of the 720 orders (slow: one seed)
    if seed == 0:
        brute = ["".join(p) for p in itertools.permutations(cx.LETTERS)
                 if cx.feasible(inequalities, "".join(p))]
        assert orders == brute


def test_contradictory_rankings_admit_no_order() -> None:
    both_ways = [("square", "rectangle"), ("rectangle", "square")]
    assert not cx.feasible(both_ways, nonnegative=False)
    assert cx.consistent_orders(both_ways, nonnegative=False) == []
    # a cycle of three schemes
    cycle = [("square", "circle"), ("circle", "ellipse"), ("ellipse", "square")]
    assert cx.consistent_orders(cycle) == []


def test_a_superset_scheme_cannot_be_easier_with_nonnegative_complexities() -> None:
    # inverse (ABCD) harder than all (ABCDEF) needs E + F < 0
    ranking = [("inverse", "all")]
    assert cx.consistent_orders(ranking) == []
    assert not cx.feasible(ranking)
    signed = cx.consistent_orders(ranking, nonnegative=False)
    assert signed and all(cx.feasible(ranking, o, nonnegative=False) for o in signed)


def test_order_alone_fixes_some_comparisons() -> None:
    # A > B > ... : a scheme holding A instead of F is harder
    assert cx.implies("AB", "FB", "ABCDEF")
    assert not cx.implies("FB", "AB", "ABCDEF")
    # D + F vs B + E under A > C > B > D > F > E is undecided without precedences
    assert not cx.implies("DF", "BE", "ACBDFE") and not cx.implies("BE", "DF", "ACBDFE")


def test_the_thesis_derivation() -> None:
    order, prec = cx.THESIS_ORDER, cx.THESIS_PRECEDENCE
    # (3.1) ellipse > circle with B > D needs F > E taking precedence over B > D
    assert cx.implies("ellipse", "circle", order, prec)
    assert not cx.feasible([("ellipse", "circle")], "ACBDEF", (("EF", "BD"),))
    # (3.2) rectangle > ellipse reduces to A + E > C + F: A > C must outweigh F > E
    assert cx.implies("rectangle", "ellipse", order, prec)
    assert not cx.implies("rectangle", "ellipse", order, (("FE", "BD"),))
    # its four predictions for the single-shape schemes
    for harder, easier in [("square", "rectangle"), ("square", "circle"),
                           ("rectangle", "circle"), ("square", "ellipse")]:
        assert cx.implies(harder, easier, order, prec)
    # inverse (the four largest) is harder than every single-shape scheme, all hardest of all
    for easier in ("rectangle", "square", "ellipse", "circle", "edge", "regular"):
        assert cx.implies("inverse", easier, order, prec)
    assert all(cx.implies("all", s, order, prec) for s in data.SCHEMES if s != "all")
    # edge being easiest is compatible with the hypothesis but not implied by it
    assert not cx.implies("rectangle", "edge", order, prec)
    assert cx.feasible([(s, "edge") for s in data.SCHEMES if s != "edge"], order, prec)
    assert cx.feasible([("ellipse", "circle"), ("rectangle", "ellipse")], order, prec)


def test_violations_and_conflict() -> None:
    order, prec = cx.THESIS_ORDER, cx.THESIS_PRECEDENCE
    ranking = {"edge": 0.0, "circle": 0.1, "rectangle": 0.2, "ellipse": 0.3, "square": 0.4,
               "regular": 0.5, "inverse": 0.6, "all": 0.7}
    verdict = cx.check(ranking)
    assert not verdict.consistent and verdict.feasible_at_all
    assert ("ellipse", "rectangle") in verdict.violated             # the thesis implies the reverse
    assert verdict.conflict == [("ellipse", "rectangle")]
    assert order in verdict.orders                     # the order alone allows it: A + E < C + F
    assert cx.check(ranking, order, (), orders=False).consistent
    # consistent rankings have nothing to report
    good = {"edge": 0.0, "circle": 0.1, "ellipse": 0.2, "rectangle": 0.3, "square": 0.4,
            "regular": 0.5, "inverse": 0.6, "all": 0.7}
    fine = cx.check(good)
    assert fine.consistent and fine.violated == [] and fine.conflict == [] and order in fine.orders
    # a conflict is minimal: dropping any member makes the rest satisfiable
    for q in verdict.conflict:
        assert cx.feasible([r for r in verdict.conflict if r != q], order, prec)


def test_observed_inequalities_and_ties() -> None:
    difficulty = {"edge": 0.10, "square": 0.30, "circle": 0.31}
    assert cx.observed_inequalities(difficulty) == [("circle", "square"), ("circle", "edge"),
                                                    ("square", "edge")]
    assert cx.observed_inequalities(difficulty, tolerance=0.05) == [("circle", "edge"), ("square", "edge")]


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="each of"):
        cx.feasible([], "ABCDE")
    with pytest.raises(ValueError, match="neither a scheme"):
        cx.feasible([("triangle", "edge")])
    assert not cx.feasible([("edge", "edge")])                       # 0 > 0


def test_implies_from_a_partial_order() -> None:
    master = [("A", "C"), ("C", "B"), ("B", "D")]                  # A > C > B > D
    # (3.1): ellipse harder than circle, D + F > B + E, with B > D forces F > E
    assert cx.implies("F", "E", given=[*master, ("ellipse", "circle")])
    assert not cx.implies("F", "E", given=master)
    with pytest.raises(ValueError, match="unsatisfiable"):
        cx.implies("A", "B", given=[("A", "B"), ("B", "A")])
