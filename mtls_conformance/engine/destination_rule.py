"""Client side: which DestinationRule a sidecar uses for a Service, and its TLS settings for a port.

Mirrors istiod's lookup (pilot/pkg/model/push_context.go ``destinationRule`` and ``setDestinationRules``,
pilot/pkg/model/destination_rule.go ``mergeDestinationRule``, pilot/pkg/model/sidecar.go ``DestinationRule``):
https://github.com/istio/istio/blob/master/pilot/pkg/model/push_context.go
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mtls_conformance.engine.model import Step
from mtls_conformance.engine.peer_auth import selects
from mtls_conformance.scenario.model import IstioResource, Scenario, Workload

# The Kubernetes DNS domain of the kind cluster (Service FQDNs), not the mesh trust domain.
_DNS_DOMAIN = "svc.cluster.local"


def resolve_host(host: str, dr_namespace: str) -> str:
    """ResolveShortnameToFQDN: a name without dots is short for a Service in the rule's namespace."""
    if host == "*" or "." in host:
        return host
    return f"{host}.{dr_namespace}.{_DNS_DOMAIN}"


def host_match_rank(host: str, dr_namespace: str, service_host: str) -> int | None:
    """None if no match; higher is more specific (exact beats any wildcard, longer wildcard beats shorter)."""
    h = resolve_host(host, dr_namespace)
    if h == service_host:
        return 10_000
    if h == "*":
        return 0
    if h.startswith("*.") and service_host.endswith(h[1:]):
        return len(h)
    return None


@dataclass
class _Consolidated:
    """Rules for one host merged the way istiod merges them: the oldest trafficPolicy wins."""

    rules: list[IstioResource]
    selector: Mapping[str, str] | None
    export_to: frozenset[str]

    @property
    def first(self) -> IstioResource:
        return self.rules[0]

    @property
    def traffic_policy(self) -> Any:
        # mergeDestinationRule keeps the existing top-level trafficPolicy; a later rule fills it only if it is unset.
        for r in self.rules:
            tp = r.spec.get("trafficPolicy")
            if tp is not None:
                return tp
        return None


@dataclass
class _Index:
    by_host: dict[str, list[_Consolidated]] = field(default_factory=dict)

    def add(self, dr: IstioResource, export_to: frozenset[str]) -> None:
        host = resolve_host(str(dr.spec.get("host", "")), dr.namespace)
        group = self.by_host.setdefault(host, [])
        for existing in group:
            same_scope = (existing.selector is None and dr.selector is None) or (
                existing.selector is not None and dr.selector is not None and dict(existing.selector) == dict(dr.selector)
            )
            if same_scope:
                existing.rules.append(dr)
                return
        group.append(_Consolidated([dr], dr.selector, export_to))

    def most_specific(self, service_host: str) -> tuple[str, list[_Consolidated]] | None:
        best: tuple[int, str] | None = None
        for host in self.by_host:
            rank = host_match_rank(host, "", service_host)
            if rank is not None and (best is None or rank > best[0]):
                best = (rank, host)
        return (best[1], self.by_host[best[1]]) if best else None


def _export_set(dr: IstioResource) -> frozenset[str]:
    # Rules with a workloadSelector are never exported to other namespaces.
    if dr.selector is not None:
        return frozenset({"."})
    return frozenset(str(e) for e in dr.spec.get("exportTo") or [])


def _locally_visible(export: frozenset[str], namespace: str) -> bool:
    return not export or bool(export & {"*", ".", namespace})


def _private_only(export: frozenset[str], namespace: str) -> bool:
    # An empty exportTo takes the mesh default, which is "*" unless defaultDestinationRuleExportTo says otherwise.
    return len(export) == 1 and bool(export & {".", namespace})


def _exported_to(export: frozenset[str], client_namespace: str) -> bool:
    return not export or "*" in export or client_namespace in export


@dataclass(frozen=True)
class _Indexes:
    namespace_local: dict[str, _Index]
    exported: dict[str, _Index]
    root_local: _Index


def _build_indexes(drs: Sequence[IstioResource], root: str) -> _Indexes:
    local: dict[str, _Index] = {}
    exported: dict[str, _Index] = {}
    root_local = _Index()
    for dr in drs:  # oldest first, as istiod sorts them
        export = _export_set(dr)
        if _locally_visible(export, dr.namespace):
            local.setdefault(dr.namespace, _Index()).add(dr, export)
        if not _private_only(export, dr.namespace):
            exported.setdefault(dr.namespace, _Index()).add(dr, export)
        elif dr.namespace == root:
            root_local.add(dr, export)
    return _Indexes(local, exported, root_local)


@dataclass(frozen=True)
class DrChoice:
    rule: IstioResource | None
    traffic_policy: Any
    steps: tuple[Step, ...]


def _pick_for_client(group: list[_Consolidated], client: Workload) -> _Consolidated | None:
    """SidecarScope.DestinationRule: a selector rule of the client's namespace that selects it, else the catch-all."""
    catch_all = None
    for c in group:
        if c.selector is None:
            catch_all = c
        elif c.first.namespace == client.namespace and selects(c.selector, client.labels):
            return c
    return catch_all


def find_destination_rule(scenario: Scenario, client: Workload, server: Workload) -> DrChoice:
    root = scenario.mesh.root_namespace
    indexes = scenario.memo("destination-rule-indexes", lambda: _build_indexes(scenario.resources("DestinationRule"), root))
    stages: list[tuple[str, _Index | None, bool]] = []
    if client.namespace != root:
        stages.append(("the client's namespace", indexes.namespace_local.get(client.namespace), False))
    else:
        stages.append(("the root namespace (rules private to it)", indexes.root_local, False))
    stages.append(("the Service's namespace", indexes.exported.get(server.namespace), True))
    stages.append(("the root namespace", indexes.exported.get(root), True))
    for where, index, filter_export in stages:
        if index is None:
            continue
        found = index.most_specific(server.host)
        if found is None:
            continue
        host, group = found
        if filter_export:
            group = [c for c in group if _exported_to(c.export_to, client.namespace)]
            if not group:
                continue  # the most specific host here is not exported to the client: look further
        chosen = _pick_for_client(group, client)
        names = ", ".join(r.ref for c in group for r in c.rules)
        if chosen is None:
            detail = f"the most specific rule for {server.host} in {where} is {names}, but its workloadSelector does not select {client.key}: no DestinationRule applies"
            return DrChoice(None, None, (Step.of("client.dr-lookup", detail),))
        detail = f"{chosen.first.ref} (host {host}) in {where} applies to {server.host}"
        steps = [Step.of("client.dr-lookup", detail)]
        if len(chosen.rules) > 1:
            merged = ", ".join(r.ref for r in chosen.rules)
            steps.append(Step.of("client.dr-merge", f"{merged} share host {host}: merged, the oldest trafficPolicy is kept"))
        return DrChoice(chosen.first, chosen.traffic_policy, tuple(steps))
    return DrChoice(None, None, ())


@dataclass(frozen=True)
class DrTls:
    """TLS settings a DestinationRule gives one Service port.

    ``cluster_mode``: the mode on the port's cluster (None: auto mTLS decides).
    ``endpoint_fallback``: with a port-level entry that has no tls, the top-level mode the per-endpoint check uses.
    ``settings``: the ClientTLSSettings in force for the port (None with auto mTLS).
    """

    cluster_mode: str | None
    endpoint_fallback: str | None
    steps: tuple[Step, ...]
    settings: Mapping[str, Any] | None = None


def _tls_mode(tls: Any) -> str | None:
    if not isinstance(tls, Mapping):
        return None
    return str(tls.get("mode", "DISABLE"))


def tls_for_port(ref: str, traffic_policy: Any, service_port: int) -> DrTls:
    if not isinstance(traffic_policy, Mapping):
        return DrTls(None, None, (Step.of("client.dr-without-tls", f"{ref} has no trafficPolicy: auto mTLS still decides"),))
    top_tls = traffic_policy.get("tls")
    top = _tls_mode(top_tls)
    for entry in traffic_policy.get("portLevelSettings") or []:
        if int(entry["port"]["number"]) != service_port:
            continue
        port_tls = entry.get("tls")
        port_mode = _tls_mode(port_tls)
        if port_mode is not None:
            step = Step.of("client.dr-port-level", f"{ref} portLevelSettings[{service_port}] sets tls {port_mode}")
            return DrTls(port_mode, None, (step,), port_tls)
        steps = [Step.of("client.dr-port-level", f"{ref} portLevelSettings[{service_port}] has no tls: the port's cluster uses auto mTLS")]
        if top is not None:
            steps.append(Step.of("client.dr-port-level-fallback", f"the per-endpoint check falls back to the top-level tls {top}"))
        return DrTls(None, top, tuple(steps))
    if top is not None:
        return DrTls(top, None, (Step.of("client.dr-tls-wins", f"{ref} sets tls {top} for port {service_port}"),), top_tls)
    return DrTls(None, None, (Step.of("client.dr-without-tls", f"{ref} has a trafficPolicy without tls: auto mTLS still decides"),))
