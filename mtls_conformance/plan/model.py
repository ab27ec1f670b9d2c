"""The plan's data model (shared contract between planner, executor, suites and reports).

A Case is one declarative record: a stable ID, features, a self-contained scenario (its own namespaces,
workloads, Services and config) and the suite that presents it. A Phase is one cluster-wide configuration
in which many cases coexist; only mesh-global state (the root-namespace policy, enableAutoMtls) separates phases.
A Plan is everything a run will do, decided once: which cases run in which phase, which are skipped and why,
and which run isolated from the phases (certificate rotation). The CLI, the pytest plugin, the run loop and the
report all read the same Plan.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mtls_conformance.scenario.model import MeshConfig, Probe, Scenario

# Where a case comes from. Probe cases run inside a phase; rotation cases run isolated from every phase.
ORIGINS = ("matrix", "named", "record", "scenario", "rotation")


@dataclass(frozen=True)
class Case:
    id: str  # stable and readable, e.g. mesh-STRICT/ns-none/wl-PERMISSIVE/port-none/dr-none/auto-on/plaintext->sidecar
    suite: str  # which suite presents it (peer-authentication, port-level, destination-rule, plaintext-clients, ...)
    features: tuple[str, ...]  # capability tags; a case is skipped when the installed version lacks one
    scenario: Scenario  # self-contained: running it alone on a fresh cluster reproduces the case
    description: str = ""
    dimensions: Mapping[str, str] = field(default_factory=dict)  # matrix coordinates, for filters and reports
    origin: str = "matrix"  # one of ORIGINS
    requires_istio: str | None = None  # e.g. ">=1.28": the case is skipped on other versions
    issue: str = ""  # the upstream issue the case reproduces, if any
    params: Mapping[str, Any] = field(default_factory=dict)  # origin-specific settings (rotation: server, client, ttl, ...)

    @property
    def probes(self) -> tuple[Probe, ...]:
        """The probes the run judges one by one (a rotation case is judged as a whole: it has none)."""
        return () if self.origin == "rotation" else self.scenario.probes

    @property
    def isolated(self) -> bool:
        """Runs in its own namespace, outside the phases and their mesh lock (certificate rotation)."""
        return self.origin == "rotation"


@dataclass(frozen=True)
class Phase:
    index: int
    name: str  # e.g. "mesh-STRICT/auto-on"
    mesh: MeshConfig
    mesh_policy: Mapping[str, Any] | None  # the root-namespace PeerAuthentication of this phase, if any
    cases: tuple[Case, ...]
    scenario: Scenario  # all cases of the phase merged: exactly what is applied to the cluster

    @property
    def number(self) -> int:
        """What users see: phases are numbered from 1 everywhere (plan, render, --plan-only, reports)."""
        return self.index + 1


@dataclass(frozen=True)
class Target:
    """Where the plan runs. On an existing cluster without --allow-install nothing mesh-wide may change: cases that
    need another enableAutoMtls or apply config in the root namespace are skipped, and their phases shrink."""

    existing_cluster: bool = False
    allow_install: bool = False
    cluster_auto_mtls: bool = True  # the existing cluster's meshConfig.enableAutoMtls (Istio's default: true)

    @property
    def restricted(self) -> bool:
        return self.existing_cluster and not self.allow_install


@dataclass(frozen=True)
class Plan:
    profile: str  # smoke, standard, full, or "scenario" for user scenario files
    istio_version: str
    cases: tuple[Case, ...]  # every case, in run order: the phases' cases, then the isolated ones, then the skipped
    phases: tuple[Phase, ...]  # only cases that run are in a phase; the engine proved each phase's cases independent
    skipped: Mapping[str, str] = field(default_factory=dict)  # case ID -> why it does not run (version, existing cluster)
    target: Target = Target()

    @property
    def isolated(self) -> tuple[Case, ...]:
        return tuple(c for c in self.cases if c.isolated and c.id not in self.skipped)

    @property
    def probe_count(self) -> int:
        return sum(len(c.probes) for c in self.cases)

    def phase_of(self, case_id: str) -> Phase | None:
        """The phase a case runs in (None for isolated or skipped cases)."""
        return self._by_case.get(case_id)

    @property
    def _by_case(self) -> dict[str, Phase]:
        cache: dict[str, Phase] | None = self.__dict__.get("_phase_index")
        if cache is None:
            cache = {c.id: p for p in self.phases for c in p.cases}
            object.__setattr__(self, "_phase_index", cache)  # frozen dataclass: a derived index, set once
        return cache

    def case(self, case_id: str) -> Case:
        cache: dict[str, Case] | None = self.__dict__.get("_case_index")
        if cache is None:
            cache = {c.id: c for c in self.cases}
            object.__setattr__(self, "_case_index", cache)
        return cache[case_id]
