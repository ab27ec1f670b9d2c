"""One focused case per engine rule: a minimal scenario whose expectation must cite the rule and reach the outcome
the rule's source implies. The meta-tests keep the table and engine.rules.RULES in step."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from builders import pa

from mtls_conformance.engine import RULES, expect
from mtls_conformance.scenario import Address, Probe, Scenario

WORKLOADS: list[dict[str, Any]] = [
    {"name": "httpbin", "namespace": "foo", "ports": [{"name": "http", "port": 8000, "targetPort": 8080},
                                                      {"name": "tcp", "port": 9000, "targetPort": 9090, "protocol": "tcp"}],
     "workloadOnlyPorts": [18083]},
    {"name": "curl", "namespace": "foo", "ports": []},
    {"name": "curl", "namespace": "bar", "ports": []},
    {"name": "curl", "namespace": "legacy", "sidecar": False, "ports": []},
    {"name": "httpbin", "namespace": "legacy", "sidecar": False, "ports": [{"name": "http", "port": 8000, "targetPort": 8080}]},
    {"name": "db", "namespace": "foo", "headless": True, "ports": [{"name": "http", "port": 8080}]},
]



def dr(name: str, ns: str, host: str, traffic_policy: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"host": host, **extra}
    if traffic_policy is not None:
        spec["trafficPolicy"] = traffic_policy
    return {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": {"name": name, "namespace": ns}, "spec": spec}


def ap(name: str, ns: str, rules: list[dict[str, Any]], action: str = "ALLOW", selector: dict[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"action": action, "rules": rules}
    if selector:
        spec["selector"] = {"matchLabels": selector}
    return {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy", "metadata": {"name": name, "namespace": ns}, "spec": spec}


HTTPBIN = "httpbin.foo.svc.cluster.local"
FROM_FOO_CURL = ["cluster.local/ns/foo/sa/curl"]

# rule id -> (config, probe (from, to, port[, address]), expected outcome, mesh overrides)
CASES: dict[str, tuple[list[dict[str, Any]], tuple[Any, ...], str, dict[str, Any]]] = {
    "pa.default-permissive": ([], ("legacy/curl", "foo/httpbin", 8000), "plaintext", {}),
    "pa.scopes": ([pa("default", "foo", "STRICT")], ("legacy/curl", "foo/httpbin", 8000), "refused:reset", {}),
    "pa.narrowest-wins": ([pa("default", "istio-system", "STRICT"), pa("w", "foo", "PERMISSIVE", {"app": "httpbin"})],
                          ("legacy/curl", "foo/httpbin", 8000), "plaintext", {}),
    "pa.unset-inherits": ([pa("default", "istio-system", "STRICT"), pa("default", "foo", "UNSET")],
                          ("legacy/curl", "foo/httpbin", 8000), "refused:reset", {}),
    # Same creation second: the name decides (a-... before b-...), as istiod's comparator does.
    "pa.oldest-wins": ([pa("b-strict", "foo", "STRICT", created="2026-01-01T00:00:00Z"),
                        pa("a-disable", "foo", "DISABLE", created="2026-01-01T00:00:00Z")],
                       ("legacy/curl", "foo/httpbin", 8000), "plaintext", {}),
    "pa.root-selector-ignored": ([pa("strict-httpbin", "istio-system", "STRICT", {"app": "httpbin"})],
                                 ("legacy/curl", "foo/httpbin", 8000), "plaintext", {}),
    "pa.port-level-target-port": ([pa("w", "foo", "STRICT", {"app": "httpbin"}, {8080: "DISABLE"})],
                                  ("legacy/curl", "foo/httpbin", 8000), "plaintext", {}),
    "pa.port-level-unset-inherits": ([pa("w", "foo", "STRICT", {"app": "httpbin"}, {8080: "UNSET"})],
                                     ("legacy/curl", "foo/httpbin", 8000), "refused:reset", {}),
    "pa.port-level-workload-only-port": ([pa("w", "foo", "DISABLE", {"app": "httpbin"}, {18083: "STRICT"})],
                                         ("legacy/curl", "foo/httpbin", 18083, "pod"), "refused:reset", {}),
    "server.strict": ([pa("default", "istio-system", "STRICT")], ("foo/curl", "foo/httpbin", 8000), "mtls", {}),
    "server.permissive": ([pa("default", "foo", "PERMISSIVE")], ("legacy/curl", "foo/httpbin", 8000), "plaintext", {}),
    "server.disable": ([pa("w", "foo", "DISABLE", {"app": "httpbin"}), dr("d", "foo", HTTPBIN, {"tls": {"mode": "ISTIO_MUTUAL"}})],
                       ("foo/curl", "foo/httpbin", 8000), "refused:503", {}),
    "server.no-sidecar": ([dr("d", "foo", "httpbin.legacy.svc.cluster.local", {"tls": {"mode": "ISTIO_MUTUAL"}})],
                          ("foo/curl", "legacy/httpbin", 8000), "refused:503", {}),
    "server.app-plaintext": ([dr("d", "foo", HTTPBIN, {"tls": {"mode": "SIMPLE"}})], ("foo/curl", "foo/httpbin", 8000), "refused:503", {}),
    "client.no-sidecar": ([], ("legacy/curl", "foo/httpbin", 8000), "plaintext", {}),
    "client.dr-lookup": ([dr("d", "bar", HTTPBIN, {"tls": {"mode": "DISABLE"}})], ("bar/curl", "foo/httpbin", 8000), "plaintext", {}),
    # The older rule has no trafficPolicy, so the merge takes the newer rule's DISABLE (auto mTLS would send mTLS).
    "client.dr-merge": ([dr("first", "foo", "httpbin"), dr("second", "foo", "httpbin", {"tls": {"mode": "DISABLE"}})],
                        ("foo/curl", "foo/httpbin", 8000), "plaintext", {}),
    "client.dr-credential-name-ignored": ([dr("d", "foo", "httpbin", {"tls": {"mode": "SIMPLE", "credentialName": "client-cred"}})],
                                          ("foo/curl", "foo/httpbin", 8000), "plaintext", {}),
    "client.dr-tls-wins": ([pa("default", "foo", "STRICT"), dr("d", "foo", "httpbin", {"tls": {"mode": "DISABLE"}})],
                           ("foo/curl", "foo/httpbin", 8000), "refused:503", {}),
    "client.dr-port-level": ([dr("d", "foo", "httpbin", {"tls": {"mode": "ISTIO_MUTUAL"},
                                                         "portLevelSettings": [{"port": {"number": 8000}, "tls": {"mode": "DISABLE"}}]})],
                             ("foo/curl", "foo/httpbin", 8000), "plaintext", {}),
    "client.dr-port-level-fallback": ([dr("d", "foo", "httpbin", {"tls": {"mode": "DISABLE"},
                                                                  "portLevelSettings": [{"port": {"number": 8000},
                                                                                         "connectionPool": {"tcp": {"maxConnections": 10}}}]})],
                                      ("foo/curl", "foo/httpbin", 8000), "plaintext", {}),
    "client.dr-without-tls": ([dr("d", "foo", "httpbin", {"connectionPool": {"tcp": {"maxConnections": 10}}})],
                              ("foo/curl", "foo/httpbin", 8000), "mtls", {}),
    "client.auto-mtls": ([pa("w", "foo", "DISABLE", {"app": "httpbin"})], ("foo/curl", "foo/httpbin", 8000), "plaintext", {}),
    # Namespace DISABLE turns auto mTLS off for the whole Service, even where a workload policy says STRICT.
    "client.auto-mtls-service-disable": ([pa("default", "foo", "DISABLE"), pa("w", "foo", "STRICT", {"app": "httpbin"})],
                                         ("foo/curl", "foo/httpbin", 8000), "refused:503", {}),
    "client.auto-mtls-off": ([pa("default", "foo", "STRICT")], ("foo/curl", "foo/httpbin", 8000), "refused:503", {"enableAutoMtls": False}),
    # Headless: the workload DISABLE is invisible to clients, which still send mTLS (istio/istio#39439).
    "client.headless": ([pa("w", "foo", "DISABLE", {"app": "db"})], ("foo/curl", "foo/db", 8080), "refused:503", {}),
    "client.pod-ip-passthrough": ([pa("default", "foo", "STRICT")], ("foo/curl", "foo/httpbin", 8080, "pod"), "refused:reset", {}),
    "outcome.client-sidecar-503": ([dr("d", "foo", "httpbin", {"tls": {"mode": "MUTUAL", "clientCertificate": "/c.pem", "privateKey": "/k.pem"}})],
                                   ("foo/curl", "foo/httpbin", 8000), "refused:503", {}),
    "outcome.plaintext-reset": ([pa("default", "istio-system", "STRICT")], ("legacy/curl", "foo/httpbin", 9000), "refused:reset", {}),
    "outcome.xfcc": ([], ("foo/curl", "foo/httpbin", 8000), "mtls", {}),
    "authz.order": ([ap("allow-curl", "foo", [{"from": [{"source": {"principals": FROM_FOO_CURL}}]}]),
                     ap("deny-bar", "foo", [{"from": [{"source": {"namespaces": ["bar"]}}]}], action="DENY")],
                    ("bar/curl", "foo/httpbin", 8000), "refused:403", {}),
    "authz.scope": ([ap("mesh-allow-foo", "istio-system", [{"from": [{"source": {"namespaces": ["foo"]}}]}], selector={"app": "httpbin"})],
                    ("bar/curl", "foo/httpbin", 8000), "refused:403", {}),
    "authz.plaintext-no-principal": ([ap("allow-curl", "foo", [{"from": [{"source": {"principals": FROM_FOO_CURL}}]}])],
                                     ("legacy/curl", "foo/httpbin", 8000), "refused:403", {}),
    "authz.identity": ([ap("allow-curl", "foo", [{"from": [{"source": {"principals": FROM_FOO_CURL}}]}])],
                       ("foo/curl", "foo/httpbin", 8000), "mtls", {}),
    "authz.denied": ([ap("allow-curl", "foo", [{"from": [{"source": {"principals": FROM_FOO_CURL}}]}])],
                     ("bar/curl", "foo/httpbin", 9000), "refused:reset", {}),
    "authz.no-sidecar": ([ap("deny-all", "legacy", [{}], action="DENY")], ("foo/curl", "legacy/httpbin", 8000), "plaintext", {}),
}


def run_case(build: Callable[..., Scenario], rule_id: str) -> tuple[Any, str]:
    config, probe, _, mesh = CASES[rule_id]
    extra = {"mesh": mesh} if mesh else {}
    scenario = build(WORKLOADS, config, **extra)
    address = Address(probe[3]) if len(probe) > 3 else Address.SERVICE
    e = expect(scenario, Probe(probe[0], probe[1], probe[2], address))
    return e, e.outcome


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_case(build_scenario: Callable[..., Scenario], rule_id: str) -> None:
    e, outcome = run_case(build_scenario, rule_id)
    cited = [r.id for r in e.rules]
    assert rule_id in cited, f"{rule_id} not cited; the engine cited {cited}"
    assert outcome == CASES[rule_id][2], "\n".join(f"{s.rule.id}: {s.detail}" for s in e.steps)


def test_every_rule_has_a_focused_case() -> None:
    assert set(CASES) == set(RULES), f"missing: {sorted(set(RULES) - set(CASES))}; unknown: {sorted(set(CASES) - set(RULES))}"


def test_every_rule_cites_an_https_source_and_says_something() -> None:
    for r in RULES.values():
        assert r.source.startswith("https://"), r.id
        assert r.says.strip() and r.says.rstrip().endswith("."), r.id
        assert r.as_dict() == {"id": r.id, "says": r.says, "source": r.source}


def test_port_level_keyed_on_the_service_port_has_no_effect(build_scenario: Callable[..., Scenario]) -> None:
    # istio/istio#49098: keying portLevelMtls on 8000 (Service port) leaves 8080 STRICT.
    scenario = build_scenario(WORKLOADS, [pa("w", "foo", "STRICT", {"app": "httpbin"}, {8000: "DISABLE"})])
    e = expect(scenario, Probe("legacy/curl", "foo/httpbin", 8000))
    assert e.outcome == "refused:reset"
    assert any("Service port" in s.detail for s in e.steps if s.rule.id == "pa.port-level-target-port")


def test_denied_plaintext_is_403_not_reset_on_permissive(build_scenario: Callable[..., Scenario]) -> None:
    # istio/istio#36119: a naked client against PERMISSIVE + principal ALLOW sees 403, the sidecar client 200.
    scenario = build_scenario(WORKLOADS, [ap("allow-curl", "foo", [{"from": [{"source": {"principals": FROM_FOO_CURL}}]}])])
    assert expect(scenario, Probe("legacy/curl", "foo/httpbin", 8000)).outcome == "refused:403"
    assert expect(scenario, Probe("foo/curl", "foo/httpbin", 8000)).outcome == "mtls"


def test_negative_matches_catch_plaintext(build_scenario: Callable[..., Scenario]) -> None:
    # ISTIO-SECURITY-2021-004: DENY notPrincipals ["*"] rejects plaintext; DENY namespaces [legacy] does not.
    deny_unauth = ap("deny-plaintext", "foo", [{"from": [{"source": {"notPrincipals": ["*"]}}]}], action="DENY")
    deny_ns = ap("deny-legacy", "foo", [{"from": [{"source": {"namespaces": ["legacy"]}}]}], action="DENY")
    assert expect(build_scenario(WORKLOADS, [deny_unauth]), Probe("legacy/curl", "foo/httpbin", 8000)).outcome == "refused:403"
    assert expect(build_scenario(WORKLOADS, [deny_ns]), Probe("legacy/curl", "foo/httpbin", 8000)).outcome == "plaintext"
    assert expect(build_scenario(WORKLOADS, [deny_unauth]), Probe("foo/curl", "foo/httpbin", 8000)).outcome == "mtls"


@pytest.mark.parametrize("pattern, allowed", [
    ("cluster.local/ns/foo/sa/curl", True),  # cluster.local in a policy means the local trust domain
    ("example.org/ns/foo/sa/curl", True),
    ("other.org/ns/foo/sa/curl", False),
    ("*/ns/foo/sa/curl", True),
])
def test_principal_trust_domain(build_scenario: Callable[..., Scenario], pattern: str, allowed: bool) -> None:
    scenario = build_scenario(WORKLOADS, [ap("allow", "foo", [{"from": [{"source": {"principals": [pattern]}}]}])],
                              mesh={"trustDomain": "example.org"})
    e = expect(scenario, Probe("foo/curl", "foo/httpbin", 8000))
    assert e.outcome == ("mtls" if allowed else "refused:403")
    assert any(s.rule.id == "authz.identity" and "example.org/ns/foo/sa/curl" in s.detail for s in e.steps)
    if allowed:
        assert e.client_principal == "spiffe://example.org/ns/foo/sa/curl"


def test_engine_docs_list_every_rule() -> None:
    # docs/rules.md is generated from the rule table (tests/test_docs.py checks it is up to date)
    text = (Path(__file__).resolve().parents[1] / "docs" / "rules.md").read_text()
    missing = [rule_id for rule_id in RULES if f"`{rule_id}`" not in text]
    assert not missing, f"document these rules in docs/rules.md (python -m mtls_conformance.docs_rules): {missing}"


def test_pod_ip_call_on_a_port_some_service_exposes_as_http_is_proxied_as_http(build_scenario: Callable[..., Scenario]) -> None:
    # Client sidecars listen on 0.0.0.0:<port> for every HTTP Service port; a pod-IP call on such a port is routed as
    # HTTP to PassthroughCluster, so a refusal is the sidecar's 503. On other ports the path is TCP: a reset.
    other = {"name": "web", "namespace": "bar", "ports": [{"name": "http", "port": 8080}]}
    scenario = build_scenario([*WORKLOADS, other], [pa("default", "foo", "STRICT")])
    e = expect(scenario, Probe("foo/curl", "foo/httpbin", 8080, Address.POD))
    assert e.client_sends.value == "plaintext" and e.failure is not None and e.failure.value == "503"
    assert expect(scenario, Probe("foo/curl", "foo/httpbin", 18083, Address.POD)).outcome == "refused:reset"
    assert expect(scenario, Probe("legacy/curl", "foo/httpbin", 8080, Address.POD)).outcome == "refused:reset"


@pytest.mark.parametrize("source, bar_curl, legacy_curl", [
    ({"serviceAccounts": ["bar/curl"]}, "mtls", "refused:403"),
    ({"serviceAccounts": ["foo/curl"]}, "refused:403", "refused:403"),
    ({"notServiceAccounts": ["bar/curl"]}, "refused:403", "plaintext"),  # plaintext has no service account: a negative match
])
def test_service_accounts_source(build_scenario: Callable[..., Scenario], source: dict[str, list[str]], bar_curl: str, legacy_curl: str) -> None:
    scenario = build_scenario(WORKLOADS, [ap("allow", "foo", [{"from": [{"source": source}]}])])
    assert expect(scenario, Probe("bar/curl", "foo/httpbin", 8000)).outcome == bar_curl
    assert expect(scenario, Probe("legacy/curl", "foo/httpbin", 8000)).outcome == legacy_curl
