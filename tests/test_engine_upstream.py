"""Istio's own tests, re-expressed against the engine.

- tests/integration/security/reachability_test.go: cases as composable predicates over a workload matrix
  (https://github.com/istio/istio/blob/master/tests/integration/security/reachability_test.go)
- tests/integration/security/pass_through_filter_chain_test.go: workload-only ports per PA mode and port-level mode
- pilot/pkg/security/authn/policy_applier_test.go TestComposePeerAuthentication
- auto mTLS (pilot/pkg/networking/core/cluster_tls.go, pilot/pkg/xds/endpoints/mtls_checker.go)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from builders import pa as _pa

from mtls_conformance.engine import Expectation, Mode, expect
from mtls_conformance.engine.peer_auth import effective_mode
from mtls_conformance.outcomes import ProbeOutcome
from mtls_conformance.scenario import Address, Probe, Protocol, Scenario, Workload


def pa(*args: Any, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("api", "security.istio.io/v1beta1")  # this file exercises the older API version
    return _pa(*args, **kwargs)


Build = Callable[..., Scenario]
Pred = Callable[[Workload, Workload], bool]

# --- predicates over (from, to), named as upstream names them --------------------------------------------------


def always(src: Workload, dst: Workload) -> bool:
    return True


def never(src: Workload, dst: Workload) -> bool:
    return False


def not_from_naked(src: Workload, dst: Workload) -> bool:
    return src.sidecar


def not_to_naked(src: Workload, dst: Workload) -> bool:
    return dst.sidecar


def both(*preds: Pred) -> Pred:
    return lambda s, d: all(p(s, d) for p in preds)


not_naked = both(not_from_naked, not_to_naked)

# --- the workload matrix: ServicePort != WorkloadPort, like Istio's echo apps (http 80->18080, tcp 9090->19090) ---

NS = "echo"
PORTS = [{"name": "http", "port": 80, "targetPort": 18080}, {"name": "tcp", "port": 9090, "targetPort": 19090, "protocol": "tcp"}]
MATRIX: list[dict[str, Any]] = [
    {"name": "a", "namespace": NS, "ports": PORTS},
    {"name": "b", "namespace": NS, "ports": PORTS},
    {"name": "naked", "namespace": NS, "sidecar": False, "ports": PORTS},
    # Kubernetes does no port translation for headless Services, so their port equals the workload port.
    {"name": "headless", "namespace": NS, "headless": True, "ports": [{"name": "http", "port": 18080}, {"name": "tcp", "port": 19090, "protocol": "tcp"}]},
]



def dr(name: str, ns: str, host: str, mode: str | None, **tp: Any) -> dict[str, Any]:
    policy: dict[str, Any] = dict(tp)
    if mode:
        policy["tls"] = {"mode": mode}
    spec: dict[str, Any] = {"host": host}
    if policy:
        spec["trafficPolicy"] = policy
    return {"apiVersion": "networking.istio.io/v1beta1", "kind": "DestinationRule", "metadata": {"name": name, "namespace": ns}, "spec": spec}


def global_dr(mode: str) -> dict[str, Any]:
    # upstream testdata/reachability/global-dr.yaml: host "*.local" in the root namespace
    return dr("default", "istio-system", "*.local", mode)


@dataclass(frozen=True)
class ReachCase:
    name: str
    config: Callable[[Workload], list[dict[str, Any]]]  # per destination, as upstream applies it
    success: Pred
    mtls: Pred
    skip_to: tuple[str, ...] = ()


def _for_all(*resources: dict[str, Any]) -> Callable[[Workload], list[dict[str, Any]]]:
    return lambda dst: list(resources)


def _workload_pa_dr(mode: str, dr_mode: str) -> Callable[[Workload], list[dict[str, Any]]]:
    return lambda dst: [pa("mtls", NS, mode, {"app": dst.name}), dr("mtls", NS, dst.name, dr_mode)]


def _port_override(dst: Workload) -> list[dict[str, Any]]:
    return [pa("mtls", NS, "STRICT", {"app": dst.name}, {p: "DISABLE" for p in dst.container_ports})]


REACHABILITY = [
    ReachCase("global mtls strict", _for_all(pa("default", "istio-system", "STRICT"), global_dr("ISTIO_MUTUAL")), not_naked, not_naked),
    ReachCase("global mtls permissive", _for_all(pa("default", "istio-system", "PERMISSIVE"), global_dr("ISTIO_MUTUAL")), not_to_naked, not_naked),
    ReachCase("global mtls disabled", _for_all(pa("default", "istio-system", "DISABLE"), global_dr("DISABLE")), always, never),
    ReachCase("global plaintext to mtls permissive", _for_all(pa("default", "istio-system", "PERMISSIVE"), global_dr("DISABLE")), always, never),
    ReachCase("global automtls strict", _for_all(pa("default", "istio-system", "STRICT")), not_from_naked, not_naked),
    ReachCase("global automtls disable", _for_all(pa("default", "istio-system", "DISABLE")), always, never),
    ReachCase("global no peer authn", _for_all(global_dr("ISTIO_MUTUAL")), not_to_naked, not_naked),
    ReachCase("mtls strict", _workload_pa_dr("STRICT", "ISTIO_MUTUAL"), not_naked, not_naked),
    ReachCase("mtls permissive", _workload_pa_dr("PERMISSIVE", "ISTIO_MUTUAL"), not_to_naked, not_naked),
    ReachCase("mtls disabled", _workload_pa_dr("DISABLE", "DISABLE"), always, never),
    # Headless destinations are excluded upstream (istio/istio#39439); see test_headless_port_override below.
    ReachCase("mtls port override", _port_override, always, never, skip_to=("headless",)),
]


@pytest.mark.parametrize("case", REACHABILITY, ids=lambda c: c.name)
def test_reachability_case(build_scenario: Build, case: ReachCase) -> None:
    base = build_scenario(MATRIX)
    checked = 0
    for dst in base.workloads:
        if dst.name in case.skip_to:
            continue
        scenario = build_scenario(MATRIX, case.config(dst))
        for src in scenario.workloads:
            if src.key == dst.key:
                continue
            for port in scenario.workload(dst.key).ports:
                e = expect(scenario, Probe(src.key, dst.key, port.port))
                why = f"{case.name}: {src.name} -> {dst.name}:{port.port}: {e.outcome}"
                assert e.connect is case.success(src, dst), why
                if e.connect:
                    assert e.mtls is case.mtls(src, dst), why
                else:
                    expected = ProbeOutcome.HTTP_503 if src.sidecar and port.protocol is Protocol.HTTP else ProbeOutcome.RESET
                    assert e.failure is expected, why
                checked += 1
    assert checked >= 18


def test_headless_port_override(build_scenario: Build) -> None:
    # Why upstream excludes it: the port-level DISABLE is invisible to clients of a headless Service (whole-cluster TLS),
    # so sidecar clients still send mTLS and fail, while the naked client's plaintext is accepted.
    dst = build_scenario(MATRIX).workload(f"{NS}/headless")
    scenario = build_scenario(MATRIX, _port_override(dst))
    assert expect(scenario, Probe(f"{NS}/a", dst.key, 18080)).failure is ProbeOutcome.HTTP_503
    assert expect(scenario, Probe(f"{NS}/a", dst.key, 19090)).failure is ProbeOutcome.RESET
    assert expect(scenario, Probe(f"{NS}/naked", dst.key, 18080)).outcome == "plaintext"


# Migration trio: one destination namespace with an injected backend (vistio) and a legacy one (vlegacy);
# clients have sidecars only (upstream's fromMatch excludes naked). Upstream uses one Service with two subsets;
# here each subset is its own workload, which is what the subsets select.
MIGRATION: list[dict[str, Any]] = [
    {"name": "client", "namespace": "src", "ports": []},
    {"name": "vistio", "namespace": "mig", "ports": [{"name": "http", "port": 80, "targetPort": 18080}]},
    {"name": "vlegacy", "namespace": "mig", "sidecar": False, "ports": [{"name": "http", "port": 80, "targetPort": 18080}]},
]


@pytest.mark.parametrize("dr_mode, vistio, vlegacy", [
    (None, "mtls", "plaintext"),          # migration no tls: DR with subsets but no tls keeps auto mTLS
    ("DISABLE", "refused:503", "plaintext"),  # migration tls disabled: only the legacy backend answers
    ("ISTIO_MUTUAL", "mtls", "refused:503"),  # migration tls mutual: only the injected backend answers
])
def test_reachability_migration(build_scenario: Build, dr_mode: str | None, vistio: str, vlegacy: str) -> None:
    rule = dr("mig", "mig", "*.mig.svc.cluster.local", dr_mode)
    rule["spec"]["subsets"] = [{"name": "vistio", "labels": {"app": "vistio"}}, {"name": "vlegacy", "labels": {"app": "vlegacy"}}]
    scenario = build_scenario(MIGRATION, [pa("default", "mig", "STRICT"), rule])
    assert expect(scenario, Probe("src/client", "mig/vistio", 80)).outcome == vistio
    assert expect(scenario, Probe("src/client", "mig/vlegacy", 80)).outcome == vlegacy


# --- pass-through filter chains: workload-only ports called by pod IP -----------------------------------------

WL_ONLY = (8085, 8086, 8087, 8088, 8089, 8084)
PASS_THROUGH: list[dict[str, Any]] = [
    {"name": "dst", "namespace": "ns1", "ports": [], "workloadOnlyPorts": list(WL_ONLY)},
    {"name": "naked", "namespace": "ns1", "sidecar": False, "ports": []},
    {"name": "b", "namespace": "ns1", "ports": []},
]


def _ns_pa(mode: str) -> list[dict[str, Any]]:
    return [pa("mtls", "ns1", mode)]


def _wl_pa(mode: str, port_mode: str) -> list[dict[str, Any]]:
    return [pa("mtls", "ns1", mode, {"app": "dst"}, {8086: port_mode, 8088: port_mode, 8084: port_mode})]


_AUTHZ_PORTS = {"apiVersion": "security.istio.io/v1beta1", "kind": "AuthorizationPolicy", "metadata": {"name": "authz", "namespace": "ns1"},
                "spec": {"rules": [{"to": [{"operation": {"ports": ["8085", "8087", "8089"]}}]}]}}

T, F = True, False
# case -> (config, {port: (plaintextSucceeds, mtlsSucceeds)}) as upstream lists them
PASS_THROUGH_CASES: dict[str, tuple[list[dict[str, Any]], dict[int, tuple[bool, bool]]]] = {
    "DISABLE": (_ns_pa("DISABLE"), {p: (T, F) for p in WL_ONLY if p != 8084}),
    "DISABLE with authz": ([*_ns_pa("DISABLE"), _AUTHZ_PORTS],
                           {8085: (T, F), 8086: (F, F), 8087: (T, F), 8088: (F, F), 8089: (T, F), 8084: (F, F)}),
    "STRICT": (_ns_pa("STRICT"), {p: (F, T) for p in WL_ONLY if p != 8084}),
    "PERMISSIVE": (_ns_pa("PERMISSIVE"), {p: (T, T) for p in WL_ONLY if p != 8084}),
    "DISABLE with STRICT": (_wl_pa("DISABLE", "STRICT"), {8085: (T, F), 8086: (F, T), 8087: (T, F), 8088: (F, T), 8089: (T, F), 8084: (F, T)}),
    "STRICT with disable": (_wl_pa("STRICT", "DISABLE"), {8085: (F, T), 8086: (T, F), 8087: (F, T), 8088: (T, F), 8089: (F, T), 8084: (T, F)}),
    "PERMISSIVE with strict": (_wl_pa("PERMISSIVE", "STRICT"), {8085: (T, T), 8086: (F, T), 8087: (T, T), 8088: (F, T), 8089: (T, T), 8084: (F, T)}),
    "STRICT with PERMISSIVE": (_wl_pa("STRICT", "PERMISSIVE"), {8085: (F, T), 8086: (T, T), 8087: (F, T), 8088: (T, T), 8089: (F, T), 8084: (T, T)}),
    "PERMISSIVE with disable": (_wl_pa("PERMISSIVE", "DISABLE"), {8085: (T, T), 8086: (T, F), 8087: (T, T), 8088: (T, F), 8089: (T, T), 8084: (T, F)}),
    "DISABLE with PERMISSIVE": (_wl_pa("DISABLE", "PERMISSIVE"), {8085: (T, F), 8086: (T, T), 8087: (T, F), 8088: (T, T), 8089: (T, F), 8084: (T, T)}),
}


@pytest.mark.parametrize("name", list(PASS_THROUGH_CASES))
def test_pass_through_filter_chain(build_scenario: Build, name: str) -> None:
    config, expected = PASS_THROUGH_CASES[name]
    scenario = build_scenario(PASS_THROUGH, config)
    dst = scenario.workload("ns1/dst")
    for port, (plaintext_ok, mtls_ok) in expected.items():
        # Plaintext side: real probes by pod IP from the naked client and from a sidecar client (pass-through, plaintext).
        for src in ("ns1/naked", "ns1/b"):
            e = expect(scenario, Probe(src, dst.key, port, Address.POD))
            assert e.connect is plaintext_ok, f"{name} {src} -> {port}: {e.outcome}"
            if not e.connect:
                assert e.failure is ProbeOutcome.RESET  # a TCP pass-through path: closed, never an HTTP status
        # mTLS side (upstream forces mTLS with a ServiceEntry + DR): the sidecar terminates mTLS unless the port is DISABLE.
        mode, _ = effective_mode(scenario, dst, port)
        assert (mode is not Mode.DISABLE) is mtls_ok, f"{name} port {port}: {mode}"


# --- ComposePeerAuthentication unit-test cases -------------------------------------------------------------------

ROOT = "root-namespace"
NOW, SECOND_AGO = "2026-01-01T00:00:01Z", "2026-01-01T00:00:00Z"
COMPOSE_WORKLOAD = [{"name": "foo", "namespace": "my-ns", "labels": {"app": "foo", "stage": "prod"},
                     "ports": [{"name": "http", "port": 8080}], "workloadOnlyPorts": [80, 90, 100]}]
COMPOSE: dict[str, tuple[list[dict[str, Any]], Mode, dict[int, Mode]]] = {
    "no config": ([], Mode.PERMISSIVE, {}),
    "mesh only": ([pa("default", ROOT, "STRICT")], Mode.STRICT, {}),
    "mesh vs namespace": ([pa("default", ROOT, "STRICT", selector={}), pa("default", "my-ns", "PERMISSIVE")], Mode.PERMISSIVE, {}),
    "ignore non-empty selector in root namespace": ([pa("default", ROOT, "STRICT", {"app": "foo"})], Mode.PERMISSIVE, {}),
    "workload vs namespace config": ([pa("default", "my-ns"), pa("foo", "my-ns", selector={"app": "foo"})], Mode.PERMISSIVE, {}),
    "workload vs mesh config": ([pa("default", "my-ns", "PERMISSIVE"), pa("default", ROOT, "DISABLE")], Mode.PERMISSIVE, {}),
    "multiple mesh policy": ([pa("now", ROOT, "DISABLE", created=NOW), pa("second-ago", ROOT, "PERMISSIVE", created=SECOND_AGO),
                              pa("second-later", ROOT, "STRICT", created=SECOND_AGO)], Mode.PERMISSIVE, {}),
    "multiple namespace policy": ([pa("now", "my-ns", "DISABLE", created=NOW), pa("second-ago", "my-ns", "PERMISSIVE", created=SECOND_AGO),
                                   pa("second-later", "my-ns", "STRICT", created=SECOND_AGO)], Mode.PERMISSIVE, {}),
    "multiple workload policy": ([pa("now", "my-ns", "DISABLE", {"app": "foo"}, created=NOW),
                                  pa("second-ago", "my-ns", "PERMISSIVE", {"app": "foo"}, created=SECOND_AGO),
                                  pa("second-later", "my-ns", "STRICT", {"stage": "prod"}, created=SECOND_AGO)], Mode.PERMISSIVE, {}),
    "inheritance: default mesh": ([pa("default", ROOT, "UNSET")], Mode.PERMISSIVE, {}),
    "inheritance: mesh to workload": ([pa("default", ROOT, "STRICT"), pa("foo", "my-ns", selector={"app": "foo"})], Mode.STRICT, {}),
    "inheritance: namespace to workload": ([pa("default", "my-ns", "STRICT"), pa("foo", "my-ns", selector={"app": "foo"})], Mode.STRICT, {}),
    "inheritance: mesh to namespace to workload": ([pa("default", ROOT, "STRICT"), pa("default", "my-ns", "UNSET"),
                                                    pa("foo", "my-ns", selector={"app": "foo"})], Mode.STRICT, {}),
    "port level": ([pa("default", ROOT, "STRICT"), pa("foo", "my-ns", selector={"app": "foo"}, port_level={80: "DISABLE", 90: "UNSET", 100: None})],
                   Mode.STRICT, {80: Mode.DISABLE, 90: Mode.STRICT, 100: Mode.STRICT}),
}


@pytest.mark.parametrize("name", list(COMPOSE))
def test_compose_peer_authentication(build_scenario: Build, name: str) -> None:
    config, workload_mode, per_port = COMPOSE[name]
    scenario = build_scenario(COMPOSE_WORKLOAD, config, mesh={"rootNamespace": ROOT})
    foo = scenario.workload("my-ns/foo")
    assert effective_mode(scenario, foo, 8080)[0] is workload_mode
    for port, mode in per_port.items():
        assert effective_mode(scenario, foo, port)[0] is mode, f"port {port}"


# --- auto mTLS ---------------------------------------------------------------------------------------------------

AUTO: list[dict[str, Any]] = [
    {"name": "client", "namespace": "c", "ports": []},
    {"name": "svc", "namespace": "s", "ports": [{"name": "http", "port": 8000, "targetPort": 8080}]},
    {"name": "naked", "namespace": "s", "sidecar": False, "ports": [{"name": "http", "port": 8000, "targetPort": 8080}]},
    {"name": "hl", "namespace": "s", "headless": True, "ports": [{"name": "http", "port": 8080}]},
    {"name": "hl-naked", "namespace": "s", "headless": True, "sidecar": False, "ports": [{"name": "http", "port": 8080}]},
]


def _auto(build: Build, config: list[dict[str, Any]], to: str, port: int = 8000, **mesh: Any) -> Expectation:
    scenario = build(AUTO, config, **({"mesh": mesh} if mesh else {}))
    return expect(scenario, Probe("c/client", f"s/{to}", port))


def test_dr_without_tls_keeps_auto_mtls(build_scenario: Build) -> None:
    keep = [dr("d", "s", "*.s.svc.cluster.local", None, connectionPool={"http": {"http1MaxPendingRequests": 10}})]
    assert _auto(build_scenario, keep, "svc").outcome == "mtls"
    assert _auto(build_scenario, keep, "naked").outcome == "plaintext"


@pytest.mark.parametrize("scope", ["istio-system", "s"])
def test_mesh_or_namespace_disable_means_plaintext_to_the_whole_service(build_scenario: Build, scope: str) -> None:
    config = [pa("default", scope, "DISABLE")]
    assert _auto(build_scenario, config, "svc").outcome == "plaintext"
    # Workload and port-level policies are not consulted: a workload STRICT then refuses the plaintext.
    e = _auto(build_scenario, [*config, pa("w", "s", "STRICT", {"app": "svc"})], "svc")
    assert e.client_sends.value == "plaintext" and e.failure is ProbeOutcome.HTTP_503


def test_workload_disable_is_seen_per_endpoint(build_scenario: Build) -> None:
    e = _auto(build_scenario, [pa("default", "istio-system", "STRICT"), pa("w", "s", "DISABLE", {"app": "svc"})], "svc")
    assert e.outcome == "plaintext" and e.server_mode is Mode.DISABLE


def test_headless_is_all_or_nothing(build_scenario: Build) -> None:
    assert _auto(build_scenario, [], "hl", 8080).outcome == "mtls"
    assert _auto(build_scenario, [], "hl-naked", 8080).outcome == "plaintext"
    e = _auto(build_scenario, [pa("w", "s", "STRICT", {"app": "hl"}, {8080: "DISABLE"})], "hl", 8080)
    assert e.client_sends.value == "istio_mutual" and e.failure is ProbeOutcome.HTTP_503


def test_auto_mtls_off(build_scenario: Build) -> None:
    assert _auto(build_scenario, [], "svc", enableAutoMtls=False).outcome == "plaintext"
    assert _auto(build_scenario, [pa("default", "s", "STRICT")], "svc", enableAutoMtls=False).failure is ProbeOutcome.HTTP_503
    # An explicit DR still wins when auto mTLS is off.
    assert _auto(build_scenario, [global_dr("ISTIO_MUTUAL")], "svc", enableAutoMtls=False).outcome == "mtls"


def test_dr_port_level_without_tls_falls_back_to_top_level_mode(build_scenario: Build) -> None:
    port_entry = {"portLevelSettings": [{"port": {"number": 8000}, "connectionPool": {"tcp": {"maxConnections": 5}}}]}
    disable_8080 = pa("w", "s", "PERMISSIVE", {"app": "svc"}, {8080: "DISABLE"})
    # Top-level ISTIO_MUTUAL: the endpoint keeps mTLS although its port is DISABLE, so the call fails.
    e = _auto(build_scenario, [disable_8080, dr("d", "c", "svc.s.svc.cluster.local", "ISTIO_MUTUAL", **port_entry)], "svc")
    assert e.client_sends.value == "istio_mutual" and e.failure is ProbeOutcome.HTTP_503
    # Same without the DR: plain auto mTLS sees the DISABLE and sends plaintext.
    assert _auto(build_scenario, [disable_8080], "svc").outcome == "plaintext"
    # Top-level DISABLE: plaintext to a STRICT endpoint although the port's cluster is on auto mTLS.
    e = _auto(build_scenario, [pa("default", "s", "STRICT"), dr("d", "c", "svc.s.svc.cluster.local", "DISABLE", **port_entry)], "svc")
    assert e.client_sends.value == "plaintext" and e.failure is ProbeOutcome.HTTP_503
