"""Predicates that split the plan's matrix and named cases between the suites' tests (by coordinates, never by outcome)."""

from __future__ import annotations

from collections.abc import Callable

from mtls_conformance.plan.model import Case

SCOPES = ("mesh", "ns", "wl")


def layered(case: Case) -> bool:
    """Two or more scopes set a mode: the case exercises precedence (the narrowest policy wins)."""
    return sum(case.dimensions.get(scope, "none") != "none" for scope in SCOPES) >= 2


def single_scope(case: Case) -> bool:
    return not layered(case)


def named(*slugs: str) -> Callable[[Case], bool]:
    """Named cases whose slug starts with one of ``slugs``."""
    return lambda case: case.id.removeprefix("named/").startswith(slugs)
