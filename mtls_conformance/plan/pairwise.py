"""A deterministic pairwise (all-pairs) selection over the meaningful matrix combinations.

Greedy, in the style of AETG: repeatedly take the candidate that covers the most value pairs not yet covered
(ties go to the earliest candidate in matrix order), until every pair that some meaningful combination holds is
covered. Pairs no meaningful combination holds (e.g. a server without sidecar and a namespace STRICT) are not
required, since the collapse rules make them equivalent to covered ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields

from mtls_conformance.plan.matrix import Coordinates


def _pairs(c: Coordinates) -> frozenset[tuple[int, str, int, str]]:
    values = [(i, getattr(c, f.name)) for i, f in enumerate(fields(c))]
    return frozenset((i, a, j, b) for n, (i, a) in enumerate(values) for (j, b) in values[n + 1 :])


def pairwise(candidates: Sequence[Coordinates], seed: Sequence[Coordinates] = ()) -> tuple[Coordinates, ...]:
    """``seed`` cases are taken first (they count as covering their pairs); the result excludes them."""
    pair_sets = [_pairs(c) for c in candidates]
    uncovered: set[tuple[int, str, int, str]] = set().union(*pair_sets)
    for c in seed:
        uncovered -= _pairs(c)
    chosen: list[Coordinates] = []
    while uncovered:
        best, best_gain = -1, 0
        for idx, ps in enumerate(pair_sets):
            gain = len(ps & uncovered)
            if gain > best_gain:
                best, best_gain = idx, gain
        chosen.append(candidates[best])
        uncovered -= pair_sets[best]
    return tuple(chosen)
