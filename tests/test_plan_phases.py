"""Phase packing: only mesh-global state splits phases, and the engine proof rejects cases that leak into each other."""

from __future__ import annotations

import dataclasses
from itertools import combinations
from pathlib import Path

import pytest

from mtls_conformance.engine import expect
from mtls_conformance.plan import PROFILES, build_plan, counts
from mtls_conformance.plan import topology as t
from mtls_conformance.plan.build import PlanRequest, plan_for, run_plan
from mtls_conformance.plan.cases import matrix_case, named_cases
from mtls_conformance.plan.compose import PlanError, scenario
from mtls_conformance.plan.matrix import Coordinates, all_coordinates
from mtls_conformance.plan.model import Case
from mtls_conformance.plan.pairwise import _pairs
from mtls_conformance.plan.phases import pack
from mtls_conformance.versions import resolve_version

VERSION = resolve_version(None)
SUITES = Path(__file__).resolve().parents[1] / "suites"
COUNT_KEYS = ("cases", "probes", "phases", "namespaces", "pods", "services", "resources")


def _case(**coords: str) -> Case:
    base = {"mesh": "none", "ns": "none", "wl": "none", "port": "none", "dr": "none", "auto": "on", "client": "plaintext", "server": "sidecar"}
    return matrix_case(Coordinates(**{**base, **coords}))


def test_only_mesh_global_state_splits_phases() -> None:
    cases = [_case(ns="STRICT"), _case(ns="DISABLE", client="sidecar"), _case(mesh="STRICT"), _case(auto="off"), _case(mesh="STRICT", wl="PERMISSIVE")]
    phases = pack(cases, VERSION)
    assert [p.name for p in phases] == ["mesh-none/auto-on", "mesh-none/auto-off", "mesh-STRICT/auto-on"]
    assert [len(p.cases) for p in phases] == [2, 1, 2]
    strict = phases[2]
    assert strict.mesh_policy is not None and strict.mesh_policy["spec"] == {"mtls": {"mode": "STRICT"}}
    assert phases[1].mesh.enable_auto_mtls is False and phases[0].mesh_policy is None


def test_phase_scenario_merges_shared_objects_once() -> None:
    cases = [_case(client="sidecar"), _case(client="plaintext"), _case(client="sidecar", dr="DISABLE")]
    (phase,) = pack(cases, VERSION)
    keys = [w.key for w in phase.scenario.workloads]
    assert len(keys) == len(set(keys)) == 4  # two clients, the backend's Service and its DISABLE-variant Service
    assert {p for c in cases for p in c.probes} == set(phase.scenario.probes)


def test_proof_rejects_a_case_whose_config_leaks_into_another() -> None:
    victim = _case(ns="none", wl="none")  # plaintext client -> mc-ns-none backend: PERMISSIVE by default
    # A hand-made case that puts a namespace-wide STRICT policy into the victim's namespace.
    server = victim.scenario.workload(victim.probes[0].target)
    leaky_sc = scenario("leaky", t.mesh_config("on"), (t.PLAINTEXT_CLIENT, server),
                        [t.peer_authentication("default", server.namespace, "STRICT")], victim.probes[:1])
    leaky = dataclasses.replace(victim, id="leaky", scenario=leaky_sc)
    assert expect(victim.scenario, victim.probes[0], VERSION).connect
    with pytest.raises(PlanError, match="leaks"):
        pack([victim, leaky], VERSION)


def test_merge_rejects_two_cases_defining_one_object_differently() -> None:
    a = _case(ns="STRICT")
    server = a.scenario.workload(a.probes[0].target)
    other = scenario("other", t.mesh_config("on"), (t.PLAINTEXT_CLIENT, server),
                     [t.peer_authentication("default", server.namespace, "DISABLE")], ())
    with pytest.raises(PlanError, match="differs"):
        pack([a, dataclasses.replace(a, id="other", scenario=other)], VERSION)


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_packs_and_proves(profile: str) -> None:
    plan = run_plan(profile, VERSION, suites_dir=SUITES)  # plan_for runs the engine proof for every probe of every phase
    figures = counts(plan)
    assert all(isinstance(figures[k], int) and figures[k] > 0 for k in COUNT_KEYS if k != "skipped")
    assert figures["phases"] == len(plan.phases) <= 10
    # Every case is in exactly one place: a phase, the isolated cases (rotation), or the skipped ones.
    assert sum(len(p.cases) for p in plan.phases) + figures["isolated"] + figures["skipped"] == figures["cases"] == len(plan.cases)
    assert not plan.skipped  # on our own kind cluster nothing is skipped for the latest version
    assert figures["peak_pods"] <= 150  # fits a 4-vCPU/16-GiB kind cluster with the sidecar budget (docs/profiles.md, 'Workloads, images and the cluster budget')
    for phase in plan.phases:
        for case in phase.cases:
            for probe in case.probes:
                assert probe in phase.scenario.probes


def test_full_profile_targets() -> None:
    figures = counts(build_plan("full", VERSION))
    assert figures["probes"] >= 1000 and figures["phases"] <= 10
    assert figures["cases"] == sum(1 for _ in all_coordinates()) + 9


def test_smoke_is_a_small_gate() -> None:
    plan = build_plan("smoke", VERSION)
    assert len(plan.cases) <= 40 and len(plan.phases) <= 2
    assert any("restrictive" in c.id for c in plan.cases)


def test_standard_covers_every_value_every_pair_and_every_named_case() -> None:
    plan = build_plan("standard", VERSION)
    coords = [Coordinates(**c.dimensions) for c in plan.cases if not c.id.startswith("named/")]
    every = list(all_coordinates())
    for name in Coordinates.__dataclass_fields__:
        assert {getattr(c, name) for c in coords} == {getattr(c, name) for c in every}, name
    required = set().union(*(_pairs(c) for c in every))
    covered = set().union(*(_pairs(c) for c in coords))
    assert required <= covered
    assert {c.id for c in plan.cases if c.id.startswith("named/")} == {c.id for c in named_cases()}
    # smoke is a subset of standard, so a standard run also answers the pre-upgrade gate
    assert {c.id for c in build_plan("smoke", VERSION).cases} <= {c.id for c in plan.cases}


@pytest.mark.parametrize("profile", ["smoke", "standard"])
def test_plan_is_deterministic(profile: str) -> None:
    first = plan_for.__wrapped__(PlanRequest(profile, VERSION, SUITES))  # bypass the cache: build twice from scratch
    second = plan_for.__wrapped__(PlanRequest(profile, VERSION, SUITES))
    assert [c.id for c in first.cases] == [c.id for c in second.cases]
    assert [(p.name, [c.id for c in p.cases]) for p in first.phases] == [(p.name, [c.id for c in p.cases]) for p in second.phases]
    assert counts(first) == counts(second)


def test_pairs_cover_two_dimensions_at_a_time() -> None:
    c = _case().dimensions
    pairs = _pairs(Coordinates(**c))
    assert len(pairs) == len(list(combinations(range(8), 2)))


def test_other_global_state_gets_its_own_numbered_phase() -> None:
    plain = _case()
    server = plain.scenario.workload(plain.probes[0].target)
    deny_all = {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
                "metadata": {"name": "deny-plaintext", "namespace": "istio-system"},
                "spec": {"action": "DENY", "rules": [{"from": [{"source": {"notPrincipals": ["*"]}}]}]}}
    sc = scenario("root-authz", t.mesh_config("on"), (t.PLAINTEXT_CLIENT, server), [deny_all], plain.probes[:1])
    phases = pack([plain, dataclasses.replace(plain, id="root-authz", scenario=sc)], VERSION)
    assert [p.name for p in phases] == ["mesh-none/auto-on", "mesh-none/auto-on#2"]
    assert not expect(phases[1].scenario, plain.probes[0], VERSION).connect  # the mesh-wide DENY applies in its phase only
