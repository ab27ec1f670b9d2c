"""``build_plan``: the one plan of a run, and ``counts``: the figures it will cost.

One pure function decides everything a run does: the cases (the profile's matrix and named cases plus the suites'
own records, or the user's scenario files), which are skipped and why (version gates, an existing cluster that must
not change mesh-wide), the phases the others pack into (proven independent by the engine), and the isolated
cases (rotation). ``mtls-conformance plan``/``render``, ``pytest --plan-only``/``--collect-only``, the run loop and
the report all show this plan, phases numbered from 1.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

from mtls_conformance.plan.gates import gate_reason
from mtls_conformance.plan.model import Case, Phase, Plan, Target
from mtls_conformance.plan.phases import pack, renumber
from mtls_conformance.plan.profiles import check_profile, profile_cases
from mtls_conformance.plan.records import default_suites_dir, scenario_cases, suite_records
from mtls_conformance.plan.render import render_phase
from mtls_conformance.plan.workloads import deployments
from mtls_conformance.versions import IstioVersion

SCENARIO_PROFILE = "scenario"


@dataclass(frozen=True)
class PlanRequest:
    """What a plan is built from. ``suites_dir=None``: the matrix alone (no suite records)."""

    profile: str
    version: IstioVersion
    suites_dir: Path | None = None
    scenario_files: tuple[Path, ...] = ()
    target: Target = field(default_factory=Target)


def restriction(case: Case, target: Target) -> str | None:
    """Why ``case`` would change mesh-wide state on someone else's cluster (None when it would not, or when we may)."""
    if not target.restricted:
        return None
    if case.params.get("plugin_ca"):
        return ("replaces the mesh's root of trust (plug-in CA) on an existing cluster; "
                "pass --allow-install to include it (use a staging cluster)")
    sc = case.scenario
    if sc.mesh.enable_auto_mtls is not target.cluster_auto_mtls:
        return (f"needs meshConfig.enableAutoMtls {str(sc.mesh.enable_auto_mtls).lower()} on an existing cluster; "
                "pass --allow-install to include it (use a staging cluster)")
    root = sc.mesh.root_namespace
    in_root = sorted(r.ref for r in sc.config if r.namespace == root)
    if in_root:
        return (f"applies mesh-wide config in '{root}' ({', '.join(in_root[:3])}) on an existing cluster; "
                "pass --allow-install to include it (use a staging cluster)")
    return None


def _cases(request: PlanRequest) -> tuple[str, tuple[Case, ...]]:
    if request.scenario_files:
        return SCENARIO_PROFILE, scenario_cases(request.scenario_files)
    profile = check_profile(request.profile)
    records = suite_records(request.suites_dir) if request.suites_dir is not None else ()
    cases = profile_cases(profile) + records
    ids = [c.id for c in cases]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise AssertionError(f"duplicate case ids in profile {profile}: {', '.join(dup[:3])}")
    return profile, cases


@functools.cache
def plan_for(request: PlanRequest) -> Plan:
    """Pure and deterministic; cached because the full profile takes seconds to prove."""
    profile, cases = _cases(request)
    skipped: dict[str, str] = {}
    for case in cases:
        reason = gate_reason(case.features, case.requires_istio, request.version) or restriction(case, request.target)
        if reason:
            skipped[case.id] = reason
    running = [c for c in cases if c.id not in skipped and not c.isolated]
    if profile == SCENARIO_PROFILE:
        # A user's namespaces may clash with anything else: each scenario gets a phase of its own.
        phases: tuple[Phase, ...] = renumber(tuple(p for case in running for p in pack([case], request.version, prefix=case.id)))
    else:
        phases = pack(running, request.version)
    order = [c for p in phases for c in p.cases]
    order += [c for c in cases if c.isolated and c.id not in skipped]
    order += [c for c in cases if c.id in skipped]
    return Plan(profile=profile, istio_version=request.version.minor_line, cases=tuple(order), phases=phases,
                skipped=skipped, target=request.target)


def build_plan(profile: str, version: IstioVersion, suites_dir: Path | None = None) -> Plan:
    """The plan of a profile: its matrix alone, or with the suites' records when ``suites_dir`` is given."""
    return plan_for(PlanRequest(profile, version, suites_dir))


def run_plan(profile: str, version: IstioVersion, *, suites_dir: Path | None = None, scenario_files: tuple[Path, ...] = (),
             target: Target | None = None) -> Plan:
    """The plan a run executes: the profile with the suites' records (default ``suites/``), or the scenario files."""
    return plan_for(PlanRequest(profile, version, suites_dir or default_suites_dir(), tuple(scenario_files), target or Target()))


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
    """Figures of a plan. ``cases``/``probes`` count every planned case (skipped ones too: each is one collected test
    per probe); ``skipped`` and ``isolated`` say how many of them skip or run outside the phases. Namespaces, pods and
    Services are distinct objects over all phases (phases reuse them); ``peak_pods`` is the largest phase;
    ``resources`` is every object applied, summed over the phases."""
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
        "probes": plan.probe_count,
        "phases": len(plan.phases),
        "skipped": len(plan.skipped),
        "isolated": len(plan.isolated),
        "namespaces": len(namespaces),
        "pods": len(pods),
        "peak_pods": peak,
        "services": len(services),
        "resources": resources,
    }
