"""The plan's data model (shared contract between planner, executor, suites and reports).

A Case is one declarative record: a stable ID, features, a self-contained scenario (its own namespaces,
workloads, Services and config) and the suite that presents it. A Phase is one cluster-wide configuration
in which many cases coexist; only mesh-global state (the root-namespace policy, enableAutoMtls) separates phases.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mtls_conformance.scenario.model import MeshConfig, Probe, Scenario


@dataclass(frozen=True)
class Case:
    id: str  # stable and readable, e.g. mesh-STRICT/ns-none/wl-PERMISSIVE/port-none/dr-none/auto-on/plaintext->sidecar
    suite: str  # which suite presents it (peer-authentication, port-level, destination-rule, plaintext-clients, ...)
    features: tuple[str, ...]  # capability tags; a case is skipped when the installed version lacks one
    scenario: Scenario  # self-contained: running it alone on a fresh cluster reproduces the case
    description: str = ""
    dimensions: Mapping[str, str] = field(default_factory=dict)  # matrix coordinates, for filters and reports

    @property
    def probes(self) -> tuple[Probe, ...]:
        return self.scenario.probes


@dataclass(frozen=True)
class Phase:
    index: int
    name: str  # e.g. "mesh-STRICT/auto-on"
    mesh: MeshConfig
    mesh_policy: Mapping[str, Any] | None  # the root-namespace PeerAuthentication of this phase, if any
    cases: tuple[Case, ...]
    scenario: Scenario  # all cases of the phase merged: exactly what is applied to the cluster


@dataclass(frozen=True)
class Plan:
    profile: str
    istio_version: str
    cases: tuple[Case, ...]
    phases: tuple[Phase, ...]
