"""Client side: which DestinationRule a sidecar uses for a Service, and its TLS settings for a port."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mtls_conformance.engine.model import Step
from mtls_conformance.engine.peer_auth import selects
from mtls_conformance.scenario.model import IstioResource, Scenario, Workload


def _fqdn(host: str, dr_namespace: str) -> str:
    # A bare name is short for the Service in the rule's namespace; dotted names are taken as written.
    return f"{host}.{dr_namespace}.svc.cluster.local" if "." not in host and host != "*" else host


def host_match_rank(host: str, dr_namespace: str, service_host: str) -> int | None:
    """None if no match; higher is more specific (exact beats any wildcard, longer wildcard beats shorter)."""
    h = _fqdn(host, dr_namespace)
    if h == service_host:
        return 10_000
    if h == "*":
        return 0
    if h.startswith("*.") and service_host.endswith(h[1:]):
        return len(h)
    return None


def _visible(dr: IstioResource, client_namespace: str) -> bool:
    export = dr.spec.get("exportTo")
    if not export:
        return True
    if dr.namespace == client_namespace and "." in export:
        return True
    return "*" in export or client_namespace in export


@dataclass(frozen=True)
class DrChoice:
    rule: IstioResource | None
    steps: tuple[Step, ...]


def find_destination_rule(scenario: Scenario, client: Workload, server: Workload) -> DrChoice:
    root = scenario.mesh.root_namespace
    order: list[str] = []
    for ns in (client.namespace, server.namespace, root):
        if ns not in order:
            order.append(ns)
    all_drs = scenario.resources("DestinationRule")
    for ns in order:
        candidates: list[tuple[int, int, int, IstioResource]] = []
        for dr in all_drs:
            if dr.namespace != ns or not _visible(dr, client.namespace):
                continue
            sel = dr.selector
            if sel is not None and (dr.namespace != client.namespace or not selects(sel, client.labels)):
                continue  # a workloadSelector rule binds only selected clients in its own namespace
            rank = host_match_rank(str(dr.spec.get("host", "")), dr.namespace, server.host)
            if rank is None:
                continue
            candidates.append((1 if sel is not None else 0, rank, -dr.created_rank, dr))
        if candidates:
            candidates.sort(key=lambda c: (c[0], c[1], c[2]), reverse=True)
            chosen = candidates[0][3]
            where = {client.namespace: "the client's namespace", server.namespace: "the Service's namespace", root: "the root namespace"}[ns]
            detail = f"{chosen.ref} (host {chosen.spec.get('host')}) in {where} applies to {server.host}"
            if len(candidates) > 1:
                detail += "; it is the most specific/oldest of " + ", ".join(c[3].ref for c in candidates)
            return DrChoice(chosen, (Step.of("client.dr-lookup", detail),))
    return DrChoice(None, ())


@dataclass(frozen=True)
class DrTls:
    """TLS settings a DestinationRule gives one Service port.

    ``cluster_mode``: the mode on the port's cluster (None: auto mTLS decides).
    ``endpoint_fallback``: with a port-level entry that has no tls, the top-level mode the per-endpoint check uses.
    """

    cluster_mode: str | None
    endpoint_fallback: str | None
    steps: tuple[Step, ...]


def _tls_mode(tls: Any) -> str | None:
    if not isinstance(tls, Mapping):
        return None
    return str(tls.get("mode", "DISABLE"))


def tls_for_port(dr: IstioResource, service_port: int) -> DrTls:
    tp = dr.spec.get("trafficPolicy")
    if not isinstance(tp, Mapping):
        return DrTls(None, None, (Step.of("client.dr-without-tls", f"{dr.ref} has no trafficPolicy: auto mTLS still decides"),))
    top = _tls_mode(tp.get("tls"))
    for entry in tp.get("portLevelSettings") or []:
        if int(entry["port"]["number"]) != service_port:
            continue
        port_mode = _tls_mode(entry.get("tls"))
        if port_mode is not None:
            return DrTls(port_mode, None, (Step.of("client.dr-port-level", f"{dr.ref} portLevelSettings[{service_port}] sets tls {port_mode}"),))
        steps = [Step.of("client.dr-port-level", f"{dr.ref} portLevelSettings[{service_port}] has no tls: the port's cluster uses auto mTLS")]
        if top is not None:
            steps.append(Step.of("client.dr-port-level-fallback", f"per-endpoint check falls back to the top-level tls {top}"))
        return DrTls(None, top, tuple(steps))
    if top is not None:
        return DrTls(top, None, (Step.of("client.dr-tls-wins", f"{dr.ref} sets tls {top} for port {service_port}"),))
    return DrTls(None, None, (Step.of("client.dr-without-tls", f"{dr.ref} has a trafficPolicy without tls: auto mTLS still decides"),))
