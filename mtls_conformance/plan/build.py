"""``build_plan`` and ``counts``: a profile's cases packed into phases, and the figures a run will cost."""

from __future__ import annotations

import functools

from mtls_conformance.plan.model import Phase, Plan
from mtls_conformance.plan.phases import pack
from mtls_conformance.plan.profiles import check_profile, profile_cases
from mtls_conformance.plan.render import render_phase
from mtls_conformance.plan.workloads import deployments
from mtls_conformance.versions import IstioVersion


@functools.cache
def build_plan(profile: str, version: IstioVersion) -> Plan:
    """Pure and deterministic; cached because the full profile takes seconds to prove."""
    check_profile(profile)
    cases = profile_cases(profile)
    ids = [c.id for c in cases]
    if len(set(ids)) != len(ids):
        raise AssertionError(f"duplicate case ids in profile {profile}")
    return Plan(profile=profile, istio_version=version.minor_line, cases=cases, phases=pack(cases, version))


def phase_counts(phase: Phase) -> dict[str, int]:
    sc = phase.scenario
    return {
        "cases": len(phase.cases),
        "probes": sum(len(c.probes) for c in phase.cases),
        "namespaces": len({w.namespace for w in sc.workloads}),
        "pods": len(deployments(sc)),
        "services": sum(1 for w in sc.workloads if w.ports),
        "resources": len(render_phase(phase, "count")),
    }


def counts(plan: Plan) -> dict[str, int]:
    """Figures of a plan. Namespaces, pods and Services are distinct objects over all phases (phases reuse them);
    ``peak_pods`` is the largest phase; ``resources`` is every object applied, summed over the phases."""
    namespaces: set[str] = set()
    pods: set[tuple[str, str]] = set()
    services: set[tuple[str, str]] = set()
    peak = 0
    resources = 0
    for phase in plan.phases:
        sc = phase.scenario
        namespaces |= {w.namespace for w in sc.workloads}
        phase_pods = {(d.namespace, d.name) for d in deployments(sc)}
        pods |= phase_pods
        peak = max(peak, len(phase_pods))
        services |= {(w.namespace, w.name) for w in sc.workloads if w.ports}
        resources += len(render_phase(phase, "count"))
    return {
        "cases": len(plan.cases),
        "probes": sum(len(c.probes) for c in plan.cases),
        "phases": len(plan.phases),
        "namespaces": len(namespaces),
        "pods": len(pods),
        "peak_pods": peak,
        "services": len(services),
        "resources": resources,
    }
