"""Which Deployments a scenario needs.

A scenario workload is a Service plus the pods its labels select. Workloads that agree on namespace, labels,
service account, sidecar and container ports are the same pods behind several Services (a DestinationRule applies
per host, so each DestinationRule variant needs its own Service), so they share one Deployment.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from mtls_conformance.scenario.model import Protocol, Scenario, Workload

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class DeploymentSpec:
    name: str
    namespace: str
    labels: tuple[tuple[str, str], ...]
    service_account: str
    sidecar: bool
    http_ports: tuple[int, ...]  # one go-httpbin container each
    tcp_ports: tuple[int, ...]  # TCP target ports and workload-only ports: one tcp-echo container
    client: bool  # sends probes: gets a curl container
    services: tuple[Workload, ...]


def _group_key(w: Workload) -> tuple[object, ...]:
    ports = tuple(sorted((p, w.protocol_of_container_port(p).value) for p in w.container_ports))
    return (w.namespace, tuple(sorted(w.labels.items())), w.service_account or w.name, w.sidecar, ports)


def deployments(sc: Scenario) -> tuple[DeploymentSpec, ...]:
    sources = {p.source for p in sc.probes}
    groups: dict[tuple[object, ...], list[Workload]] = {}
    for w in sc.workloads:
        groups.setdefault(_group_key(w), []).append(w)
    # Name each Deployment after its pods' app label when that is unambiguous in the namespace (stable whichever
    # of its Services a phase holds), else after its shortest workload name.
    wanted: dict[tuple[object, ...], str] = {}
    for key, members in groups.items():
        app = dict(members[0].labels).get("app", "")
        wanted[key] = app if _DNS_LABEL.match(app) else min((m.name for m in members), key=lambda n: (len(n), n))
    taken: dict[tuple[str, str], int] = {}
    for key, name in wanted.items():
        ns = str(key[0])
        taken[(ns, name)] = taken.get((ns, name), 0) + 1
    result = []
    for key, members in groups.items():
        first = members[0]
        name = wanted[key]
        if taken[(first.namespace, name)] > 1:  # two pod sets want one name: suffix both with a hash of their identity
            name = f"{name[:50]}-{hashlib.sha256(repr(key).encode()).hexdigest()[:8]}"
        http = tuple(p for p in first.container_ports if first.protocol_of_container_port(p) is Protocol.HTTP)
        tcp = tuple(p for p in first.container_ports if first.protocol_of_container_port(p) is Protocol.TCP)
        result.append(DeploymentSpec(
            name=name, namespace=first.namespace, labels=tuple(sorted(first.labels.items())),
            service_account=first.service_account or first.name, sidecar=first.sidecar, http_ports=http, tcp_ports=tcp,
            client=any(m.key in sources for m in members) or not first.container_ports, services=tuple(members)))
    return tuple(result)
