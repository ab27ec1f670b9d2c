"""Which DestinationRule a client sidecar uses: namespace order, most specific host, exportTo, workloadSelector,
merging. Source: pilot/pkg/model/push_context.go (destinationRule, setDestinationRules), pilot/pkg/model/sidecar.go
(SidecarScope.DestinationRule), pilot/pkg/model/destination_rule.go (mergeDestinationRule)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mtls_conformance.engine import expect
from mtls_conformance.engine.destination_rule import find_destination_rule, resolve_host
from mtls_conformance.scenario import Probe, Scenario

Build = Callable[..., Scenario]
WORKLOADS: list[dict[str, Any]] = [
    {"name": "client", "namespace": "c", "labels": {"app": "client"}, "ports": []},
    {"name": "other", "namespace": "c", "labels": {"app": "other"}, "ports": []},
    {"name": "admin", "namespace": "istio-system", "ports": []},
    {"name": "svc", "namespace": "s", "ports": [{"name": "http", "port": 8000, "targetPort": 8080}]},
]


def dr(name: str, ns: str, host: str, mode: str | None, *, export: list[str] | None = None,
       selector: dict[str, str] | None = None, created: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"host": host}
    if mode:
        spec["trafficPolicy"] = {"tls": {"mode": mode}}
    if export is not None:
        spec["exportTo"] = export
    if selector:
        spec["workloadSelector"] = {"matchLabels": selector}
    meta: dict[str, Any] = {"name": name, "namespace": ns}
    if created:
        meta["creationTimestamp"] = created
    return {"apiVersion": "networking.istio.io/v1alpha3", "kind": "DestinationRule", "metadata": meta, "spec": spec}


def chosen(build: Build, config: list[dict[str, Any]], client: str = "c/client") -> str | None:
    scenario = build(WORKLOADS, config)
    choice = find_destination_rule(scenario, scenario.workload(client), scenario.workload("s/svc"))
    return f"{choice.rule.namespace}/{choice.rule.name}" if choice.rule else None


def test_short_names_resolve_in_the_rule_namespace_and_dotted_names_are_taken_as_written() -> None:
    assert resolve_host("svc", "s") == "svc.s.svc.cluster.local"
    assert resolve_host("svc.s", "c") == "svc.s"  # no match for svc.s.svc.cluster.local
    assert resolve_host("*", "s") == "*"


@pytest.mark.parametrize("config, want", [
    ([dr("in-svc-ns", "s", "svc", "DISABLE"), dr("in-client-ns", "c", "svc.s.svc.cluster.local", "ISTIO_MUTUAL")], "c/in-client-ns"),
    ([dr("in-root", "istio-system", "*.local", "DISABLE"), dr("in-svc-ns", "s", "svc", "ISTIO_MUTUAL")], "s/in-svc-ns"),
    ([dr("in-root", "istio-system", "*.local", "DISABLE")], "istio-system/in-root"),
    # Most specific host within a namespace: exact beats *.s.svc.cluster.local beats *.local.
    ([dr("wide", "s", "*.local", None), dr("narrow", "s", "*.s.svc.cluster.local", None)], "s/narrow"),
    ([dr("wild", "s", "*.s.svc.cluster.local", None), dr("exact", "s", "svc", None)], "s/exact"),
    # A short name in another namespace points at a different Service.
    ([dr("wrong-ns", "c", "svc", "DISABLE")], None),
    ([dr("not-fqdn", "c", "svc.s", "DISABLE")], None),
])
def test_lookup_order_and_host_specificity(build_scenario: Build, config: list[dict[str, Any]], want: str | None) -> None:
    assert chosen(build_scenario, config) == want


@pytest.mark.parametrize("export, want", [
    (None, "s/r"), (["*"], "s/r"), (["c"], "s/r"), (["c", "x"], "s/r"),
    (["."], "istio-system/root"), (["s"], "istio-system/root"), (["x"], "istio-system/root"), (["~"], "istio-system/root"),
])
def test_export_to_from_the_service_namespace(build_scenario: Build, export: list[str] | None, want: str) -> None:
    config = [dr("r", "s", "svc", "DISABLE", export=export), dr("root", "istio-system", "*.local", "ISTIO_MUTUAL")]
    assert chosen(build_scenario, config) == want


def test_most_specific_unexported_rule_is_not_replaced_by_a_wider_one_of_the_same_namespace(build_scenario: Build) -> None:
    config = [dr("exact", "s", "svc", "DISABLE", export=["x"]), dr("wild", "s", "*.s.svc.cluster.local", "DISABLE", export=["*"]),
              dr("root", "istio-system", "*.local", "ISTIO_MUTUAL")]
    assert chosen(build_scenario, config) == "istio-system/root"


def test_export_to_own_namespace_only_still_binds_local_clients(build_scenario: Build) -> None:
    config = [dr("local", "c", "svc.s.svc.cluster.local", "DISABLE", export=["."]), dr("svc-ns", "s", "svc", "ISTIO_MUTUAL")]
    assert chosen(build_scenario, config) == "c/local"
    # exportTo naming only another namespace hides the rule from its own namespace.
    config[0]["spec"]["exportTo"] = ["x"]
    assert chosen(build_scenario, config) == "s/svc-ns"


def test_root_namespace_private_rules_bind_only_root_clients(build_scenario: Build) -> None:
    config = [dr("private", "istio-system", "*.local", "DISABLE", export=["."]), dr("svc-ns", "s", "svc", "ISTIO_MUTUAL", export=["c"])]
    assert chosen(build_scenario, config, "istio-system/admin") == "istio-system/private"
    assert chosen(build_scenario, config, "c/client") == "s/svc-ns"


def test_workload_selector_rules(build_scenario: Build) -> None:
    selected = dr("for-client", "c", "svc.s.svc.cluster.local", "DISABLE", selector={"app": "client"})
    catch_all = dr("catch-all", "c", "svc.s.svc.cluster.local", "ISTIO_MUTUAL")
    assert chosen(build_scenario, [catch_all, selected]) == "c/for-client"
    assert chosen(build_scenario, [catch_all, selected], "c/other") == "c/catch-all"
    # A selector rule that does not select the client still wins the host match in its namespace: no rule at all,
    # the Service namespace's rule is not consulted.
    svc_ns = dr("svc-ns", "s", "svc", "DISABLE")
    assert chosen(build_scenario, [selected, svc_ns], "c/other") is None
    scenario = build_scenario(WORKLOADS, [selected, svc_ns])
    e = expect(scenario, Probe("c/other", "s/svc", 8000))
    assert e.outcome == "mtls"  # auto mTLS, not the DISABLE of s/svc-ns
    # Selector rules are never exported: one in the Service namespace does not bind other namespaces' clients.
    assert chosen(build_scenario, [dr("sel", "s", "svc", "DISABLE", selector={"app": "client"})]) is None


def test_rules_for_one_host_merge_keeping_the_oldest_traffic_policy(build_scenario: Build) -> None:
    older = dr("older", "s", "svc", "ISTIO_MUTUAL", created="2026-01-01T00:00:00Z")
    newer = dr("newer", "s", "svc", "DISABLE", created="2026-01-01T00:00:05Z")
    scenario = build_scenario(WORKLOADS, [newer, older])  # file order does not matter, creation time does
    e = expect(scenario, Probe("c/client", "s/svc", 8000))
    assert e.outcome == "mtls"
    assert any(s.rule.id == "client.dr-merge" and "s/older" in s.detail for s in e.steps)
