"""Profiles: which cases a run covers.

- smoke: a hand-picked gate for mesh upgrades (<= 40 cases in 2 phases): defaults, each scope's STRICT and the
  documented precedence and port-level cases, every DestinationRule mode, both kinds of client and server, and
  the refuted "most restrictive wins" claim.
- standard: smoke, plus a pairwise selection that covers every pair of values of every two dimensions, plus every
  named case.
- full: every meaningful combination of the matrix, plus every named case.
- records: no matrix at all: only the suites' own case records (the quickest end-to-end check of a mesh).

Every profile also runs the suites' records (suites/*/cases.yaml); see plan/build.py.
"""

from __future__ import annotations

from mtls_conformance.errors import InputError
from mtls_conformance.plan.cases import matrix_case, named_cases
from mtls_conformance.plan.matrix import Coordinates, all_coordinates
from mtls_conformance.plan.model import Case
from mtls_conformance.plan.pairwise import pairwise

PROFILES = ("smoke", "standard", "full", "records")

# Mesh mode -> rows of (ns, wl, port, dr, client, server), all with auto mTLS on. Coordinates only: the outcomes
# come from the engine.
_SMOKE: dict[str, tuple[tuple[str, str, str, str, str, str], ...]] = {
    "none": (
        ("none", "none", "none", "none", "sidecar", "sidecar"),
        ("none", "none", "none", "none", "plaintext", "sidecar"),
        ("PERMISSIVE", "none", "none", "none", "plaintext", "sidecar"),
        ("STRICT", "none", "none", "none", "sidecar", "sidecar"),
        ("STRICT", "none", "none", "none", "plaintext", "sidecar"),
        ("DISABLE", "none", "none", "none", "sidecar", "sidecar"),
        ("STRICT", "DISABLE", "none", "none", "plaintext", "sidecar"),  # docs: workload overrides namespace
        ("none", "STRICT", "none", "none", "plaintext", "sidecar"),
        ("none", "STRICT", "DISABLE", "none", "plaintext", "sidecar"),  # docs: port-level on the container port
        ("none", "STRICT", "svcport-DISABLE", "none", "plaintext", "sidecar"),  # keyed on the Service port: ignored
        ("none", "none", "none", "notls", "sidecar", "sidecar"),
        ("none", "none", "none", "DISABLE", "sidecar", "sidecar"),
        ("none", "none", "none", "ISTIO_MUTUAL", "sidecar", "sidecar"),
        ("none", "none", "none", "SIMPLE", "sidecar", "sidecar"),
        ("none", "none", "none", "none", "sidecar", "none"),
        ("none", "none", "none", "none", "plaintext", "none"),
        ("none", "none", "none", "ISTIO_MUTUAL", "sidecar", "none"),
    ),
    "STRICT": (
        ("none", "none", "none", "none", "sidecar", "sidecar"),
        ("none", "none", "none", "none", "plaintext", "sidecar"),
        ("PERMISSIVE", "none", "none", "none", "plaintext", "sidecar"),
        ("none", "PERMISSIVE", "none", "none", "plaintext", "sidecar"),
        ("none", "DISABLE", "none", "none", "sidecar", "sidecar"),
        ("none", "DISABLE", "none", "none", "plaintext", "sidecar"),
        ("none", "STRICT", "PERMISSIVE", "none", "plaintext", "sidecar"),
        ("none", "none", "none", "notls", "sidecar", "sidecar"),
        ("none", "none", "none", "DISABLE", "sidecar", "sidecar"),
        ("none", "none", "none", "ISTIO_MUTUAL", "sidecar", "sidecar"),
        ("none", "none", "none", "none", "sidecar", "none"),
        ("none", "none", "none", "none", "plaintext", "none"),
        ("none", "none", "none", "DISABLE", "sidecar", "none"),
    ),
}
_SMOKE_NAMED = ("named/most-restrictive-wins-refuted", "named/root-selector-strict-ignored", "named/conflict-namespace-oldest-wins")


def smoke_coordinates() -> tuple[Coordinates, ...]:
    return tuple(Coordinates(mesh, ns, wl, port, dr, "on", client, server)
                 for mesh, rows in _SMOKE.items() for ns, wl, port, dr, client, server in rows)


def check_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise InputError("--profile", f"{profile!r} is not a profile", "use one of " + ", ".join(PROFILES))
    return profile


def profile_cases(profile: str) -> tuple[Case, ...]:
    check_profile(profile)
    if profile == "records":
        return ()
    named = named_cases()
    if profile == "full":
        return tuple(matrix_case(c) for c in all_coordinates()) + named
    smoke = smoke_coordinates()
    if profile == "smoke":
        return tuple(matrix_case(c) for c in smoke) + tuple(n for n in named if n.id in _SMOKE_NAMED)
    extra = pairwise(tuple(all_coordinates()), seed=smoke)
    return tuple(matrix_case(c) for c in smoke + extra) + named
