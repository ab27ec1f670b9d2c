"""An existing cluster without --allow-install: what may not change mesh-wide is decided in the plan, not the executor.

``restriction(case, target)`` says why a case would change mesh-wide state on someone else's cluster (root-namespace
config, another meshConfig.enableAutoMtls than the cluster's); ``plan_for(PlanRequest(..., target=Target(...)))``
skips those cases with that reason and packs the rest into phases the engine proves independent again. This replaced
``MeshSession.mesh_wide_change`` / ``_allowed_part`` and ``plan.phases.restrict`` (tests/test_executor_session.py
keeps what is left in the session: ``cluster_auto_mtls()`` and applying a phase exactly as planned).
"""

from __future__ import annotations

from mtls_conformance.engine import expect
from mtls_conformance.plan.build import PlanRequest, plan_for, restriction
from mtls_conformance.plan.model import Case, Plan, Target
from mtls_conformance.plan.phases import prove_independent
from mtls_conformance.plan.records import default_suites_dir
from mtls_conformance.plan.render import render_phase
from mtls_conformance.versions import resolve_version

VERSION = resolve_version("1.30")
EXISTING = Target(existing_cluster=True)


def in_root(case: Case) -> bool:
    root = case.scenario.mesh.root_namespace
    return any(r.namespace == root for r in case.scenario.config)


def plan(profile: str, target: Target = Target()) -> Plan:
    return plan_for(PlanRequest(profile, VERSION, target=target))


def test_smoke_on_an_existing_cluster_skips_root_namespace_cases_and_proves_what_is_left() -> None:
    free, restricted = plan("smoke"), plan("smoke", EXISTING)
    rooted = {c.id for c in free.cases if in_root(c)}
    assert rooted and rooted < {c.id for c in free.cases}
    assert "named/root-selector-strict-ignored" in rooted  # a root-namespace selector case inside the mesh-none phase
    assert set(restricted.skipped) == rooted
    assert all("mesh-wide config in 'istio-system'" in restricted.skipped[i] and "--allow-install" in restricted.skipped[i]
               for i in rooted)
    # the phase that is mesh-wide as a whole (mesh STRICT) is gone; the other lost only its root-namespace cases
    assert [p.name for p in free.phases] == ["mesh-none/auto-on", "mesh-STRICT/auto-on"]
    assert [p.name for p in restricted.phases] == ["mesh-none/auto-on"]
    (kept,) = restricted.phases
    assert {c.id for c in kept.cases} == {c.id for c in free.phases[0].cases} - rooted
    for phase in restricted.phases:
        prove_independent(phase, VERSION)  # every remaining phase: each case expects alone what it expects in the phase
        for case in phase.cases:
            for probe in case.probes:
                assert expect(case.scenario, probe, VERSION).as_dict() == expect(phase.scenario, probe, VERSION).as_dict()
        objects = render_phase(phase, "r")
        assert objects and not [o for o in objects if o["metadata"].get("namespace") == "istio-system"]
        assert phase.mesh.enable_auto_mtls is EXISTING.cluster_auto_mtls
    # skipped cases are still planned (one collected, skipped test each), after the running ones
    assert {c.id for c in restricted.cases[-len(rooted):]} == rooted


def test_another_enable_auto_mtls_is_skipped_and_the_clusters_own_kept() -> None:
    free = plan("standard")
    off = plan("standard", Target(existing_cluster=True, cluster_auto_mtls=False))
    on = plan("standard", EXISTING)
    needs_off = {c.id for c in free.cases if not c.scenario.mesh.enable_auto_mtls}
    assert needs_off
    assert needs_off <= set(on.skipped) and all("enableAutoMtls false" in on.skipped[i] for i in needs_off)
    assert all(p.mesh.enable_auto_mtls for p in on.phases)
    assert off.phases and all(not p.mesh.enable_auto_mtls for p in off.phases)
    assert all("enableAutoMtls true" in off.skipped[c.id] for c in free.cases if c.scenario.mesh.enable_auto_mtls)
    for phase in (*on.phases, *off.phases):
        prove_independent(phase, VERSION)
        assert not any(in_root(c) for c in phase.cases)


def test_allow_install_or_our_own_cluster_restricts_nothing() -> None:
    free = plan("smoke")
    for target in (Target(), Target(existing_cluster=True, allow_install=True), Target(allow_install=True)):
        assert not target.restricted
        assert all(restriction(c, target) is None for c in free.cases)
        planned = plan("smoke", target)
        assert planned.skipped == {} and [p.cases for p in planned.phases] == [p.cases for p in free.phases]
    assert EXISTING.restricted


def test_restriction_names_the_first_objects_it_would_apply_in_the_root_namespace() -> None:
    case = next(c for c in plan("smoke").cases if c.id == "named/root-selector-strict-ignored")
    reason = restriction(case, EXISTING) or ""
    assert reason.startswith("applies mesh-wide config in 'istio-system' (PeerAuthentication istio-system/")
    assert "pass --allow-install" in reason and "\n" not in reason
    plain = next(c for c in plan("smoke").cases if not in_root(c))
    assert restriction(plain, EXISTING) is None


def test_the_plugin_ca_case_is_skipped_on_an_existing_cluster() -> None:
    restricted = plan_for(PlanRequest("smoke", VERSION, default_suites_dir(), target=EXISTING))
    plugin = [c for c in restricted.cases if c.params.get("plugin_ca")]
    assert plugin and all(c.id in restricted.skipped for c in plugin)
