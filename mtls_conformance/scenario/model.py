"""Typed, immutable scenario model. Built only by ``scenario.load``; read by everything else."""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

_T = TypeVar("_T")


class Protocol(enum.StrEnum):
    HTTP = "http"
    TCP = "tcp"


class Address(enum.StrEnum):
    SERVICE = "service"  # the Service's cluster DNS name and Service port
    POD = "pod"  # the pod IP and a container port


@dataclass(frozen=True)
class MeshConfig:
    root_namespace: str = "istio-system"
    enable_auto_mtls: bool = True
    trust_domain: str = "cluster.local"


@dataclass(frozen=True)
class ServicePort:
    name: str
    port: int  # Service port: what clients dial, what DestinationRule portLevelSettings key on
    target_port: int  # container port: what PeerAuthentication portLevelMtls keys on
    protocol: Protocol = Protocol.HTTP


@dataclass(frozen=True)
class Workload:
    name: str
    namespace: str
    sidecar: bool = True
    labels: Mapping[str, str] = field(default_factory=dict)
    service_account: str = ""
    ports: tuple[ServicePort, ...] = ()
    workload_only_ports: tuple[int, ...] = ()
    headless: bool = False

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def host(self) -> str:
        """The Service FQDN (the scenario's trust domain is not the DNS domain; kind uses cluster.local)."""
        return f"{self.name}.{self.namespace}.svc.cluster.local"

    def service_port(self, port: int) -> ServicePort | None:
        return next((p for p in self.ports if p.port == port), None)

    def port_for_target(self, target_port: int) -> ServicePort | None:
        return next((p for p in self.ports if p.target_port == target_port), None)

    @property
    def container_ports(self) -> tuple[int, ...]:
        seen: dict[int, None] = {}
        for p in self.ports:
            seen[p.target_port] = None
        for wp in self.workload_only_ports:
            seen[wp] = None
        return tuple(seen)

    def protocol_of_container_port(self, port: int) -> Protocol:
        sp = self.port_for_target(port)
        return sp.protocol if sp else Protocol.TCP


@dataclass(frozen=True)
class IstioResource:
    """One Istio config object exactly as applied. ``created_rank`` orders creation (0 = oldest)."""

    api_version: str
    kind: str
    name: str
    namespace: str
    spec: Mapping[str, Any]
    created_rank: int
    creation_timestamp: str | None
    raw: Mapping[str, Any]

    @property
    def ref(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"

    @functools.cached_property
    def selector(self) -> Mapping[str, str] | None:
        """matchLabels of ``selector`` (security) or ``workloadSelector`` (networking); None when absent/empty."""
        sel = self.spec.get("selector") or self.spec.get("workloadSelector") or {}
        labels = sel.get("matchLabels") or {}
        return dict(labels) if labels else None


@dataclass(frozen=True)
class Probe:
    source: str  # "namespace/name" of the client workload
    target: str  # "namespace/name" of the server workload
    port: int  # Service port (address=service) or container port (address=pod)
    address: Address = Address.SERVICE

    @property
    def id(self) -> str:
        suffix = "" if self.address is Address.SERVICE else "/pod"
        return f"{self.source}->{self.target}:{self.port}{suffix}"


@dataclass(frozen=True)
class Scenario:
    name: str
    mesh: MeshConfig
    workloads: tuple[Workload, ...]
    config: tuple[IstioResource, ...]
    probes: tuple[Probe, ...]
    path: str = "<memory>"

    def memo(self, key: str, build: Callable[[], _T]) -> _T:
        """Cache a value derived from this (immutable) scenario: phases hold thousands of resources and
        the engine asks the same questions for every probe."""
        cache: dict[str, Any] = self.__dict__.setdefault("_memo", {})
        if key not in cache:
            cache[key] = build()
        return cast(_T, cache[key])

    def workload(self, key: str) -> Workload:
        by_key = self.memo("workloads-by-key", lambda: {w.key: w for w in self.workloads})
        return by_key[key]

    def resources(self, kind: str) -> tuple[IstioResource, ...]:
        return self.memo(
            f"resources:{kind}",
            lambda: tuple(sorted((r for r in self.config if r.kind == kind), key=lambda r: r.created_rank)),
        )
