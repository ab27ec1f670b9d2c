"""More of Istio's own cases, each outcome derived by hand from the upstream assertion it cites, then run
through the engine (the engine never supplies the expected value here).

Sources:
- ComposePeerAuthentication: https://github.com/istio/istio/blob/master/pilot/pkg/security/authn/policy_applier_test.go
- per-endpoint auto mTLS: https://github.com/istio/istio/blob/master/pilot/pkg/xds/endpoints/mtls_checker.go
  (a DR mode for the port decides; else no sidecar -> plaintext; else the endpoint's PA mode for its target port)
- reachability: https://github.com/istio/istio/blob/master/tests/integration/security/reachability_test.go
- pass-through chains: https://github.com/istio/istio/blob/master/tests/integration/security/pass_through_filter_chain_test.go
- AuthorizationPolicy: https://istio.io/latest/docs/reference/config/security/authorization-policy/ and
  https://istio.io/latest/news/security/istio-security-2021-004/ (negative matches on plaintext)
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from builders import pa

from mtls_conformance.engine import Mode, expect
from mtls_conformance.scenario import Address, Probe, Scenario

Build = Callable[..., Scenario]
ROOT = "istio-system"

WORKLOADS: list[dict[str, Any]] = [
    {"name": "httpbin", "namespace": "foo",
     "ports": [{"name": "http", "port": 8000, "targetPort": 8080}, {"name": "tcp", "port": 9000, "targetPort": 9090, "protocol": "tcp"}],
     "workloadOnlyPorts": [18083]},
    {"name": "curl", "namespace": "bar", "ports": []},
    {"name": "other", "namespace": "foo", "ports": []},
    {"name": "curl", "namespace": "legacy", "sidecar": False, "ports": []},
    {"name": "hl", "namespace": "foo", "headless": True, "ports": [{"name": "http", "port": 8080}, {"name": "tcp", "port": 9090, "protocol": "tcp"}]},
]
SIDECAR, NAKED, SAME_NS = "bar/curl", "legacy/curl", "foo/other"



def dr(mode: str, ns: str = "foo", host: str = "httpbin.foo.svc.cluster.local", api: str = "networking.istio.io/v1") -> dict[str, Any]:
    return {"apiVersion": api, "kind": "DestinationRule", "metadata": {"name": f"dr-{mode.lower().replace('_', '-')}", "namespace": ns},
            "spec": {"host": host, "trafficPolicy": {"tls": {"mode": mode}}}}


def ap(name: str, action: str = "ALLOW", rules: list[Any] | None = None, ns: str = "foo", selector: dict[str, str] | None = None,
       api: str = "security.istio.io/v1") -> dict[str, Any]:
    spec: dict[str, Any] = {"action": action}
    if selector:
        spec["selector"] = {"matchLabels": selector}
    if rules is not None:
        spec["rules"] = rules
    return {"apiVersion": api, "kind": "AuthorizationPolicy", "metadata": {"name": name, "namespace": ns}, "spec": spec}


def outcome(build: Build, config: list[dict[str, Any]], src: str, port: int, to: str = "foo/httpbin",
            address: Address = Address.SERVICE, **mesh: Any) -> str:
    scenario = build(WORKLOADS, config, **({"mesh": mesh} if mesh else {}))
    return expect(scenario, Probe(src, to, port, address)).outcome


OK_MTLS, OK_PLAIN, E503, RESET, E403 = "mtls", "plaintext", "refused:503", "refused:reset", "refused:403"
STRICT_MESH = pa("default", ROOT, "STRICT")
DR_NO_TLS = {"apiVersion": "networking.istio.io/v1beta1", "kind": "DestinationRule", "metadata": {"name": "pool", "namespace": "foo"},
             "spec": {"host": "httpbin", "trafficPolicy": {"connectionPool": {"tcp": {"maxConnections": 10}}},
                      "subsets": [{"name": "v1", "labels": {"app": "httpbin"}, "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}}]}}

# (id, config, {(client, port, address): outcome})
CASES: list[tuple[str, list[dict[str, Any]], dict[tuple[str, int, Address], str]]] = [
    # Namespace policy without a mode inherits the mesh (policy_applier_test "inheritance: mesh to namespace").
    ("namespace UNSET under mesh STRICT", [STRICT_MESH, pa("default", "foo", "UNSET")],
     {(NAKED, 8000, Address.SERVICE): RESET, (NAKED, 9000, Address.SERVICE): RESET, (SIDECAR, 8000, Address.SERVICE): OK_MTLS}),
    ("namespace without mtls under mesh DISABLE", [pa("default", ROOT, "DISABLE"), pa("default", "foo")],
     # mesh DISABLE reaches the Service's namespace, so auto mTLS sends plaintext to the whole Service
     {(NAKED, 8000, Address.SERVICE): OK_PLAIN, (SIDECAR, 8000, Address.SERVICE): OK_PLAIN, (SIDECAR, 9000, Address.SERVICE): OK_PLAIN}),
    ("mesh STRICT, namespace PERMISSIVE, workload UNSET", [STRICT_MESH, pa("default", "foo", "PERMISSIVE"), pa("w", "foo", "UNSET", {"app": "httpbin"})],
     {(NAKED, 8000, Address.SERVICE): OK_PLAIN, (SIDECAR, 8000, Address.SERVICE): OK_MTLS}),
    # Workload DISABLE under mesh STRICT: mtls_checker reads the endpoint's mode (DISABLE) and sends plaintext.
    ("workload DISABLE under mesh STRICT, no DR", [STRICT_MESH, pa("w", "foo", "DISABLE", {"app": "httpbin"})],
     {(SIDECAR, 8000, Address.SERVICE): OK_PLAIN, (SIDECAR, 9000, Address.SERVICE): OK_PLAIN, (NAKED, 8000, Address.SERVICE): OK_PLAIN}),
    # ... with a DR ISTIO_MUTUAL the DR mode wins over the endpoint check: mTLS into a DISABLE port fails.
    ("workload DISABLE under mesh STRICT, DR ISTIO_MUTUAL", [STRICT_MESH, pa("w", "foo", "DISABLE", {"app": "httpbin"}), dr("ISTIO_MUTUAL")],
     {(SIDECAR, 8000, Address.SERVICE): E503, (SIDECAR, 9000, Address.SERVICE): RESET, (NAKED, 8000, Address.SERVICE): OK_PLAIN}),
    # ... with a DR that has a trafficPolicy but no tls: auto mTLS still decides, so still plaintext (mesh config reference).
    ("workload DISABLE under mesh STRICT, DR without tls", [STRICT_MESH, pa("w", "foo", "DISABLE", {"app": "httpbin"}), DR_NO_TLS],
     {(SIDECAR, 8000, Address.SERVICE): OK_PLAIN, (SIDECAR, 9000, Address.SERVICE): OK_PLAIN}),
    # ... with a DR DISABLE (reachability "mtls disabled"): plaintext everywhere.
    ("workload DISABLE under mesh STRICT, DR DISABLE", [STRICT_MESH, pa("w", "foo", "DISABLE", {"app": "httpbin"}), dr("DISABLE")],
     {(SIDECAR, 8000, Address.SERVICE): OK_PLAIN, (SIDECAR, 9000, Address.SERVICE): OK_PLAIN}),
    # Port-level DISABLE keyed on the container port: the Service port mapped to it accepts plaintext, the other stays STRICT.
    ("port-level DISABLE on a Service target port", [STRICT_MESH, pa("w", "foo", "STRICT", {"app": "httpbin"}, {8080: "DISABLE"})],
     {(NAKED, 8000, Address.SERVICE): OK_PLAIN, (SIDECAR, 8000, Address.SERVICE): OK_PLAIN, (NAKED, 9000, Address.SERVICE): RESET,
      (SIDECAR, 9000, Address.SERVICE): OK_MTLS, (NAKED, 8080, Address.POD): OK_PLAIN, (NAKED, 9090, Address.POD): RESET,
      (SIDECAR, 8080, Address.POD): OK_PLAIN}),
    # Keyed on the Service port instead: no effect (portLevelMtls is keyed on the workload port, istio/istio#49098).
    ("port-level DISABLE keyed on the Service port", [STRICT_MESH, pa("w", "foo", "STRICT", {"app": "httpbin"}, {8000: "DISABLE"})],
     {(NAKED, 8000, Address.SERVICE): RESET, (SIDECAR, 8000, Address.SERVICE): OK_MTLS}),
    ("port-level PERMISSIVE on a Service target port", [STRICT_MESH, pa("w", "foo", "STRICT", {"app": "httpbin"}, {9090: "PERMISSIVE"})],
     {(NAKED, 9000, Address.SERVICE): OK_PLAIN, (SIDECAR, 9000, Address.SERVICE): OK_MTLS, (NAKED, 8000, Address.SERVICE): RESET}),
    ("port-level STRICT under namespace PERMISSIVE", [pa("default", "foo", "PERMISSIVE"), pa("w", "foo", None, {"app": "httpbin"}, {8080: "STRICT"})],
     {(NAKED, 8000, Address.SERVICE): RESET, (SIDECAR, 8000, Address.SERVICE): OK_MTLS, (NAKED, 9000, Address.SERVICE): OK_PLAIN}),
    # Workload-only ports (pass_through_filter_chain_test): enforced by pod IP; sidecar clients pass through in plaintext.
    ("workload-only port DISABLE under STRICT", [STRICT_MESH, pa("w", "foo", "STRICT", {"app": "httpbin"}, {18083: "DISABLE"})],
     {(NAKED, 18083, Address.POD): OK_PLAIN, (SIDECAR, 18083, Address.POD): OK_PLAIN, (NAKED, 9090, Address.POD): RESET}),
    ("workload-only port under STRICT", [STRICT_MESH],
     {(NAKED, 18083, Address.POD): RESET, (SIDECAR, 18083, Address.POD): RESET}),
    ("workload-only port STRICT under PERMISSIVE", [pa("w", "foo", "PERMISSIVE", {"app": "httpbin"}, {18083: "STRICT"})],
     {(NAKED, 18083, Address.POD): RESET, (NAKED, 8080, Address.POD): OK_PLAIN}),
    # DR ISTIO_MUTUAL to a DISABLE port: the DR wins, mTLS into a plaintext-only chain fails (503 HTTP, reset TCP).
    ("DR ISTIO_MUTUAL to port-level DISABLE", [pa("w", "foo", "PERMISSIVE", {"app": "httpbin"}, {8080: "DISABLE", 9090: "DISABLE"}), dr("ISTIO_MUTUAL")],
     {(SIDECAR, 8000, Address.SERVICE): E503, (SIDECAR, 9000, Address.SERVICE): RESET, (NAKED, 8000, Address.SERVICE): OK_PLAIN}),
    # DR DISABLE (reachability "global plaintext to mtls permissive" and the 503 docs page).
    ("DR DISABLE to PERMISSIVE", [dr("DISABLE")], {(SIDECAR, 8000, Address.SERVICE): OK_PLAIN, (SIDECAR, 9000, Address.SERVICE): OK_PLAIN}),
    ("DR DISABLE to STRICT", [pa("default", "foo", "STRICT"), dr("DISABLE")],
     {(SIDECAR, 8000, Address.SERVICE): E503, (SIDECAR, 9000, Address.SERVICE): RESET}),
    ("DR DISABLE in the root namespace to STRICT", [pa("default", "foo", "STRICT"), dr("DISABLE", ns=ROOT, host="*.local")],
     {(SIDECAR, 8000, Address.SERVICE): E503, (SAME_NS, 9000, Address.SERVICE): RESET}),
    # Headless: all-or-nothing auto mTLS; STRICT refuses the naked client.
    ("headless under mesh STRICT", [STRICT_MESH],
     {(SIDECAR, 8080, Address.SERVICE): OK_MTLS, (NAKED, 8080, Address.SERVICE): RESET, (SIDECAR, 9090, Address.SERVICE): OK_MTLS}),
    # Root-namespace policies with a selector are ignored (policy_applier_test "ignore non-empty selector in root namespace").
    ("root-namespace selector policy ignored", [pa("sel", ROOT, "STRICT", {"app": "httpbin"})],
     {(NAKED, 8000, Address.SERVICE): OK_PLAIN, (SIDECAR, 8000, Address.SERVICE): OK_MTLS}),
    ("root-namespace selector DISABLE ignored under mesh STRICT", [STRICT_MESH, pa("sel", ROOT, "DISABLE", {"app": "httpbin"})],
     {(NAKED, 8000, Address.SERVICE): RESET, (SIDECAR, 8000, Address.SERVICE): OK_MTLS}),
    # Oldest wins within a scope; equal times: name order ("multiple namespace/workload policy").
    ("namespace policies: oldest wins", [pa("a-newer", "foo", "STRICT", created="2026-01-02T00:00:00Z"),
                                         pa("z-older", "foo", "DISABLE", created="2026-01-01T00:00:00Z")],
     {(NAKED, 8000, Address.SERVICE): OK_PLAIN, (SIDECAR, 8000, Address.SERVICE): OK_PLAIN}),
    ("namespace policies: same time, name order", [pa("b", "foo", "DISABLE", created="2026-01-01T00:00:00Z"),
                                                   pa("a", "foo", "STRICT", created="2026-01-01T00:00:00Z")],
     {(NAKED, 8000, Address.SERVICE): RESET, (SIDECAR, 8000, Address.SERVICE): OK_MTLS}),
    ("workload policies: same time, name order", [pa("b", "foo", "STRICT", {"app": "httpbin"}, created="2026-01-01T00:00:00Z"),
                                                  pa("a", "foo", "PERMISSIVE", {"app": "httpbin"}, created="2026-01-01T00:00:00Z")],
     {(NAKED, 8000, Address.SERVICE): OK_PLAIN}),
    ("mesh policies: oldest wins", [pa("newer", ROOT, "PERMISSIVE", created="2026-01-02T00:00:00Z"),
                                    pa("older", ROOT, "STRICT", created="2026-01-01T00:00:00Z")],
     {(NAKED, 8000, Address.SERVICE): RESET}),
    # Older apiVersions are the same resources.
    ("v1beta1 PA and v1alpha3 DR", [pa("default", "foo", "STRICT", api="security.istio.io/v1beta1"),
                                   dr("DISABLE", api="networking.istio.io/v1alpha3")],
     {(SIDECAR, 8000, Address.SERVICE): E503, (NAKED, 8000, Address.SERVICE): RESET}),
    # --- AuthorizationPolicy ----------------------------------------------------------------------------
    ("ALLOW principals", [ap("allow", rules=[{"from": [{"source": {"principals": ["cluster.local/ns/bar/sa/curl"]}}]}])],
     {(SIDECAR, 8000, Address.SERVICE): OK_MTLS, (SAME_NS, 8000, Address.SERVICE): E403, (NAKED, 8000, Address.SERVICE): E403,
      (NAKED, 9000, Address.SERVICE): RESET, (SAME_NS, 9000, Address.SERVICE): RESET}),
    ("ALLOW namespaces", [ap("allow", rules=[{"from": [{"source": {"namespaces": ["foo"]}}]}])],
     {(SAME_NS, 8000, Address.SERVICE): OK_MTLS, (SIDECAR, 8000, Address.SERVICE): E403, (NAKED, 8000, Address.SERVICE): E403}),
    # Negative matches are true for plaintext (no principal, no namespace): istio-security-2021-004.
    ("ALLOW notPrincipals", [ap("allow", rules=[{"from": [{"source": {"notPrincipals": ["cluster.local/ns/bar/sa/curl"]}}]}])],
     {(SIDECAR, 8000, Address.SERVICE): E403, (SAME_NS, 8000, Address.SERVICE): OK_MTLS, (NAKED, 8000, Address.SERVICE): OK_PLAIN}),
    ("DENY namespaces", [ap("deny", "DENY", [{"from": [{"source": {"namespaces": ["bar"]}}]}])],
     {(SIDECAR, 8000, Address.SERVICE): E403, (SIDECAR, 9000, Address.SERVICE): RESET, (NAKED, 8000, Address.SERVICE): OK_PLAIN,
      (SAME_NS, 8000, Address.SERVICE): OK_MTLS}),
    ("DENY notNamespaces", [ap("deny", "DENY", [{"from": [{"source": {"notNamespaces": ["bar"]}}]}])],
     {(SIDECAR, 8000, Address.SERVICE): OK_MTLS, (NAKED, 8000, Address.SERVICE): E403, (NAKED, 9000, Address.SERVICE): RESET,
      (SAME_NS, 8000, Address.SERVICE): E403}),
    # The documented "require mTLS" pattern: DENY notPrincipals ["*"] refuses plaintext only.
    ("DENY notPrincipals *", [ap("deny", "DENY", [{"from": [{"source": {"notPrincipals": ["*"]}}]}])],
     {(SIDECAR, 8000, Address.SERVICE): OK_MTLS, (NAKED, 8000, Address.SERVICE): E403, (NAKED, 9000, Address.SERVICE): RESET}),
    ("ALLOW principals * admits any mTLS client only", [ap("allow", rules=[{"from": [{"source": {"principals": ["*"]}}]}])],
     {(SIDECAR, 8000, Address.SERVICE): OK_MTLS, (NAKED, 8000, Address.SERVICE): E403}),
    ("empty ALLOW policy denies all", [ap("allow-nothing")],
     {(SIDECAR, 8000, Address.SERVICE): E403, (NAKED, 9000, Address.SERVICE): RESET}),
    ("DENY with an empty rule denies all", [ap("deny-all", "DENY", [{}])],
     {(SIDECAR, 8000, Address.SERVICE): E403, (NAKED, 8000, Address.SERVICE): E403}),
    ("ALLOW with an empty rule allows all", [ap("allow-all", rules=[{}])],
     {(SIDECAR, 8000, Address.SERVICE): OK_MTLS, (NAKED, 8000, Address.SERVICE): OK_PLAIN}),
    ("DENY wins over ALLOW", [ap("allow-all", rules=[{}]), ap("deny", "DENY", [{"from": [{"source": {"principals": ["cluster.local/ns/bar/sa/curl"]}}]}])],
     {(SIDECAR, 8000, Address.SERVICE): E403, (SAME_NS, 8000, Address.SERVICE): OK_MTLS}),
    ("ALLOW by container port", [ap("allow", rules=[{"to": [{"operation": {"ports": ["8080"]}}]}])],
     {(NAKED, 8000, Address.SERVICE): OK_PLAIN, (NAKED, 9000, Address.SERVICE): RESET, (SIDECAR, 9000, Address.SERVICE): RESET}),
    ("root-namespace AP applies mesh-wide", [ap("deny", "DENY", [{"from": [{"source": {"notPrincipals": ["*"]}}]}], ns=ROOT)],
     {(NAKED, 8000, Address.SERVICE): E403, (SIDECAR, 8000, Address.SERVICE): OK_MTLS}),
    ("AP of another namespace does not apply", [ap("allow-nothing", ns="bar")],
     {(NAKED, 8000, Address.SERVICE): OK_PLAIN}),
    ("AP selector not matching does not apply", [ap("allow-nothing", selector={"app": "nothing"})],
     {(NAKED, 8000, Address.SERVICE): OK_PLAIN}),
    ("AP applies to a headless Service's sidecar", [ap("allow-nothing", ns="foo")],
     {(SIDECAR, 8080, Address.SERVICE): E403}),
    ("mTLS refusal comes before authorization", [pa("default", "foo", "STRICT"), ap("allow-all", rules=[{}])],
     {(NAKED, 8000, Address.SERVICE): RESET}),
    ("v1beta1 AuthorizationPolicy", [ap("allow-nothing", api="security.istio.io/v1beta1")],
     {(SIDECAR, 8000, Address.SERVICE): E403}),
]


@pytest.mark.parametrize("name, config, expected", CASES, ids=[c[0] for c in CASES])
def test_upstream_case(build_scenario: Build, name: str, config: list[dict[str, Any]],
                       expected: dict[tuple[str, int, Address], str]) -> None:
    for (src, port, address), want in expected.items():
        to = "foo/hl" if (port in (8080, 9090) and address is Address.SERVICE) else "foo/httpbin"
        got = outcome(build_scenario, config, src, port, to, address)
        assert got == want, f"{name}: {src} -> {to}:{port} ({address}): got {got}, want {want}"


def test_auto_mtls_off_with_strict_fails_http_and_tcp(build_scenario: Build) -> None:
    config = [pa("default", "foo", "STRICT")]
    assert outcome(build_scenario, config, SIDECAR, 8000, enableAutoMtls=False) == E503
    assert outcome(build_scenario, config, SIDECAR, 9000, enableAutoMtls=False) == RESET
    # PERMISSIVE still accepts the plaintext the sidecar now sends.
    assert outcome(build_scenario, [], SIDECAR, 8000, enableAutoMtls=False) == OK_PLAIN


def test_headless_with_naked_instance_is_plaintext(build_scenario: Build) -> None:
    workloads = [*WORKLOADS, {"name": "hl-naked", "namespace": "foo", "headless": True, "sidecar": False, "ports": [{"name": "http", "port": 8080}]}]
    scenario = build_scenario(workloads, [STRICT_MESH])
    assert expect(scenario, Probe(SIDECAR, "foo/hl-naked", 8080)).outcome == OK_PLAIN
    assert expect(scenario, Probe(NAKED, "foo/hl-naked", 8080)).outcome == OK_PLAIN


def test_naked_server_ignores_authorization(build_scenario: Build) -> None:
    workloads = [*WORKLOADS, {"name": "naked", "namespace": "foo", "sidecar": False, "ports": [{"name": "http", "port": 8000}]}]
    scenario = build_scenario(workloads, [ap("allow-nothing")])
    e = expect(scenario, Probe(SIDECAR, "foo/naked", 8000))
    assert e.outcome == OK_PLAIN and "authz.no-sidecar" in {r.id for r in e.rules}


def test_same_time_across_namespaces_orders_by_namespace(build_scenario: Build) -> None:
    # Two DestinationRules for one host in different namespaces never merge, but the creation-time order that breaks
    # ties by name then namespace is global (pilot/pkg/model/config.go): the rank must follow it.
    scenario = build_scenario(WORKLOADS, [pa("p", "foo", "STRICT", created="2026-01-01T00:00:00Z"),
                                          pa("p", "bar", "STRICT", created="2026-01-01T00:00:00Z")])
    ranks = {r.namespace: r.created_rank for r in scenario.config}
    assert ranks["bar"] < ranks["foo"]
    assert expect(scenario, Probe(NAKED, "foo/httpbin", 8000)).server_mode is Mode.STRICT


def test_fractional_creation_times_are_compared_in_full(build_scenario: Build) -> None:
    # ComposePeerAuthentication compares CreationTimestamp.Before at full precision: 0.1 s older wins over a name tie-break.
    config = [pa("a", "foo", "STRICT", created="2026-01-01T00:00:00.9Z"), pa("b", "foo", "DISABLE", created="2026-01-01T00:00:00.1Z")]
    assert outcome(build_scenario, config, NAKED, 8000) == OK_PLAIN


# (connect, mtls, failure, server_mode, client_sends) per probe of the scenario file, in file order.
FILE_EXPECTED = [
    (True, False, None, "DISABLE", "plaintext"),
    (True, False, None, "DISABLE", "plaintext"),
    (True, False, None, "DISABLE", "plaintext"),
    (False, None, "503", "DISABLE", "istio_mutual"),
    (False, None, "reset", "DISABLE", "istio_mutual"),
    (True, False, None, "DISABLE", "plaintext"),
    (True, False, None, "DISABLE", "plaintext"),
    (True, True, None, "STRICT", "istio_mutual"),
    (False, None, "reset", "STRICT", "plaintext"),
    (True, False, None, "DISABLE", "plaintext"),
]


def test_scenario_file_through_the_json_contract(cli: Callable[[Sequence[str]], subprocess.CompletedProcess[str]]) -> None:
    path = Path(__file__).resolve().parent / "scenarios" / "upstream" / "workload-disable-under-mesh-strict.yaml"
    result = cli(["expect", str(path), "--format", "json"])
    assert result.returncode == 0, result.stderr
    probes = json.loads(result.stdout)["probes"]
    got = [(p["connect"], p["mtls"], p["failure"], p["server_mode"], p["client_sends"]) for p in probes]
    assert got == FILE_EXPECTED
    assert all(r["source"].startswith("https://") for p in probes for r in p["rules"])
