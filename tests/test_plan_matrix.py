"""The matrix and its cases: dimensions, collapse rules, stable ids, self-contained scenarios."""

from __future__ import annotations

import re
from dataclasses import fields

import pytest
import yaml

from mtls_conformance.engine import expect_all
from mtls_conformance.plan import build_plan
from mtls_conformance.plan.cases import matrix_case, named_cases
from mtls_conformance.plan.compose import scenario_document
from mtls_conformance.plan.matrix import DIMENSIONS, Coordinates, all_coordinates, is_meaningful
from mtls_conformance.scenario import parse_scenario
from mtls_conformance.versions import resolve_version

VERSION = resolve_version(None)
SUITES = {"peer-authentication", "port-level", "destination-rule", "plaintext-clients"}
ID_RE = re.compile(r"^mesh-[A-Za-z]+/ns-[A-Za-z]+/wl-[A-Za-z]+/port-[-A-Za-z]+/dr-[_A-Za-z]+/auto-(on|off)/(sidecar|plaintext)->(sidecar|none)$")


def test_dimensions_are_the_issue_values() -> None:
    assert DIMENSIONS["mesh"] == DIMENSIONS["ns"] == DIMENSIONS["wl"] == ("none", "UNSET", "PERMISSIVE", "STRICT", "DISABLE")
    assert DIMENSIONS["port"][:4] == ("none", "PERMISSIVE", "STRICT", "DISABLE") and len(DIMENSIONS["port"]) == 5
    assert DIMENSIONS["dr"] == ("none", "notls", "DISABLE", "ISTIO_MUTUAL", "SIMPLE")
    assert (DIMENSIONS["auto"], DIMENSIONS["client"], DIMENSIONS["server"]) == (("on", "off"), ("sidecar", "plaintext"), ("sidecar", "none"))


def test_full_product_minus_documented_collapses() -> None:
    coords = list(all_coordinates())
    # mesh x auto = 10; per phase: sidecar server 5 ns x (1 + 4 wl x 5 port) x (5 DR for sidecar + 1 plaintext), no-sidecar server 6.
    assert len(coords) == 10 * (5 * 21 * 6 + 6)
    assert all(is_meaningful(c) for c in coords)
    assert not is_meaningful(Coordinates("none", "STRICT", "none", "none", "none", "on", "sidecar", "none"))
    assert not is_meaningful(Coordinates("none", "none", "none", "none", "DISABLE", "on", "plaintext", "sidecar"))
    assert not is_meaningful(Coordinates("none", "none", "none", "STRICT", "none", "on", "sidecar", "sidecar"))
    # Every value of every dimension survives the collapses.
    for i, f in enumerate(fields(Coordinates)):
        assert {getattr(c, f.name) for c in coords} == set(list(DIMENSIONS.values())[i])


def test_case_ids_are_stable_readable_and_unique() -> None:
    plan = build_plan("full", VERSION)
    ids = [c.id for c in plan.cases]
    assert len(ids) == len(set(ids))
    matrix_ids = [i for i in ids if not i.startswith("named/")]
    assert all(ID_RE.match(i) for i in matrix_ids), [i for i in matrix_ids if not ID_RE.match(i)][:3]
    assert "mesh-STRICT/ns-none/wl-PERMISSIVE/port-none/dr-none/auto-on/plaintext->sidecar" in ids
    assert any("restrictive" in i for i in ids)
    assert {c.suite for c in plan.cases} == SUITES


def test_case_carries_its_coordinates_and_features() -> None:
    c = Coordinates("STRICT", "none", "STRICT", "DISABLE", "ISTIO_MUTUAL", "off", "sidecar", "sidecar")
    case = matrix_case(c)
    assert case.id == c.id and dict(case.dimensions) == c.as_dict()
    assert case.suite == "destination-rule"
    assert case.features == ("api.networking-v1-served", "api.security-v1-served")
    assert case.scenario.mesh.enable_auto_mtls is False
    kinds = sorted(r.kind for r in case.scenario.config)
    assert kinds == ["DestinationRule", "PeerAuthentication", "PeerAuthentication"]
    pa = next(r for r in case.scenario.config if r.kind == "PeerAuthentication" and r.selector)
    assert set(pa.spec["portLevelMtls"]) == {"8080", "18080"}  # container ports, not the Service port 8000


def test_service_port_control_keys_the_service_port() -> None:
    case = matrix_case(Coordinates("none", "none", "STRICT", "svcport-DISABLE", "none", "on", "plaintext", "sidecar"))
    pa = next(r for r in case.scenario.config if r.selector)
    assert dict(pa.spec["portLevelMtls"]) == {"8000": {"mode": "DISABLE"}}
    server = case.scenario.workload(case.probes[0].target)
    assert server.service_port(8000) is not None and server.service_port(8000).target_port == 8080  # type: ignore[union-attr]


def _roundtrip_equal(case_scenario: object) -> None:
    sc = case_scenario
    text = yaml.safe_dump(scenario_document(sc), sort_keys=False)  # type: ignore[arg-type]
    loaded = parse_scenario(text, "<roundtrip>")
    assert [e.as_dict() for e in expect_all(loaded, VERSION)] == [e.as_dict() for e in expect_all(sc, VERSION)]  # type: ignore[arg-type]


@pytest.mark.parametrize("profile", ["smoke", "standard"])
def test_every_case_scenario_is_a_loadable_self_contained_file(profile: str) -> None:
    for case in build_plan(profile, VERSION).cases:
        _roundtrip_equal(case.scenario)


def test_full_cases_are_loadable_files_sampled() -> None:
    cases = build_plan("full", VERSION).cases
    for case in cases[::97]:
        _roundtrip_equal(case.scenario)


def test_named_cases_cover_the_issue() -> None:
    ids = {c.id for c in named_cases()}
    assert {"named/conflict-namespace-oldest-wins", "named/conflict-workload-oldest-wins", "named/most-restrictive-wins-refuted"} <= ids
    assert any("root-selector" in i for i in ids) and any("unset-chain" in i for i in ids)
    for case in named_cases():
        assert case.probes and case.suite in SUITES


def test_conflicting_policies_sort_by_name_in_creation_order() -> None:
    # Istio breaks equal creation seconds by name: the older object must also sort first.
    for case in named_cases():
        if "conflict" not in case.id:
            continue
        pas = sorted((r for r in case.scenario.config if r.kind == "PeerAuthentication"), key=lambda r: r.created_rank)
        assert [r.name for r in pas] == sorted(r.name for r in pas)


def test_refuted_claim_is_refuted_by_the_engine() -> None:
    case = next(c for c in named_cases() if c.id == "named/most-restrictive-wins-refuted")
    plaintext = [e for e in expect_all(case.scenario, VERSION) if e.probe.source.startswith("mc-legacy/") and e.probe.port == 8000]
    assert plaintext and plaintext[0].connect and plaintext[0].mtls is False
    assert "pa.narrowest-wins" in {r.id for r in plaintext[0].rules}
