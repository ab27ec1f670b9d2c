"""Predicates that split the plan's matrix cases between the suites' named tests (by coordinates, never by outcome)."""

from __future__ import annotations

from collections.abc import Callable

from mtls_conformance.plan.model import Case

SCOPES = ("mesh", "ns", "wl")


def is_named(case: Case) -> bool:
    return case.id.startswith("named/")


def layered(case: Case) -> bool:
    """Two or more scopes set a mode: the case exercises precedence (the narrowest policy wins)."""
    return sum(case.dimensions.get(scope, "none") != "none" for scope in SCOPES) >= 2


def matrix(case: Case) -> bool:
    return not is_named(case) and not layered(case)


def precedence(case: Case) -> bool:
    return not is_named(case) and layered(case)


def named(*slugs: str) -> Callable[[Case], bool]:
    """Named cases whose slug starts with one of ``slugs``."""
    return lambda case: is_named(case) and case.id.removeprefix("named/").startswith(slugs)
