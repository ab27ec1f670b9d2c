"""JUnit properties of one verdict; the pytest plugin records them with ``record_property``."""

from __future__ import annotations

from mtls_conformance.verdict import Verdict


def properties(verdict: Verdict) -> list[tuple[str, str]]:
    e = verdict.expected
    convergence = "" if verdict.convergence_s is None else f"{verdict.convergence_s:.3f}"
    props = [
        ("case_id", verdict.case_id),
        ("probe", e.probe.id),
        ("convergence_s", convergence),
        ("expected", e.outcome.value),
        ("observed", verdict.outcome.value),
        ("verdict", verdict.status.value),
        ("rules", ",".join(r.id for r in e.rules)),
    ]
    props += [("problem", p) for p in verdict.problems]
    return props
