"""Pack cases into phases and prove, with the engine, that cases sharing a phase do not affect each other.

A phase is one cluster-wide configuration. Only mesh-global state separates phases: meshConfig (enableAutoMtls,
root namespace, trust domain) and the root-namespace resources without a selector (the mesh-wide policy).
Everything else coexists through per-case namespaces, workloads and Services.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from typing import Any

from mtls_conformance.engine import Expectation, expect
from mtls_conformance.plan.compose import PlanError
from mtls_conformance.plan.matrix import PA_MODES
from mtls_conformance.plan.model import Case, Phase
from mtls_conformance.scenario.model import IstioResource, MeshConfig, Probe, Scenario, Workload
from mtls_conformance.versions import IstioVersion


class IndexedScenario(Scenario):
    """A Scenario with memoised lookups: a phase holds hundreds of resources and the proof queries it per probe."""

    @cached_property
    def _by_kind(self) -> dict[str, tuple[IstioResource, ...]]:
        kinds = {r.kind for r in self.config}
        return {k: Scenario.resources(self, k) for k in kinds}

    @cached_property
    def _by_key(self) -> dict[str, Workload]:
        return {w.key: w for w in self.workloads}

    def resources(self, kind: str) -> tuple[IstioResource, ...]:
        return self._by_kind.get(kind, ())

    def workload(self, key: str) -> Workload:
        return self._by_key[key]


def _global_resources(sc: Scenario) -> tuple[IstioResource, ...]:
    root = sc.mesh.root_namespace
    return tuple(r for r in sorted(sc.config, key=lambda r: r.created_rank) if r.namespace == root and r.selector is None)


def _canonical(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))


def global_key(sc: Scenario) -> tuple[MeshConfig, tuple[str, ...]]:
    return sc.mesh, tuple(_canonical(r.raw) for r in _global_resources(sc))


def _mesh_mode(sc: Scenario) -> str:
    modes = [str((r.spec.get("mtls") or {}).get("mode", "UNSET")) for r in _global_resources(sc) if r.kind == "PeerAuthentication"]
    return "+".join(modes) if modes else "none"


def _order(sc: Scenario) -> tuple[int, int, str]:
    mode = _mesh_mode(sc)
    return (PA_MODES.index(mode) if mode in PA_MODES else len(PA_MODES), 0 if sc.mesh.enable_auto_mtls else 1, mode)


def _merge(name: str, cases: Sequence[Case]) -> IndexedScenario:
    workloads: dict[str, Workload] = {}
    docs: dict[tuple[str, str, str], IstioResource] = {}
    probes: dict[Probe, None] = {}
    for case in cases:
        sc = case.scenario
        for w in sc.workloads:
            if workloads.setdefault(w.key, w) != w:
                raise PlanError(f"phase {name}: workload {w.key} of {case.id} differs from another case's workload of that name")
        for r in sorted(sc.config, key=lambda r: r.created_rank):
            ident = (r.kind, r.namespace, r.name)
            if _canonical(docs.setdefault(ident, r).raw) != _canonical(r.raw):
                raise PlanError(f"phase {name}: {r.ref} of {case.id} differs from another case's resource of that name")
        probes.update(dict.fromkeys(sc.probes))
    # Creation order: the first case to apply a resource fixes its place; each case keeps its own relative order.
    config = tuple(IstioResource(r.api_version, r.kind, r.name, r.namespace, r.spec, rank, r.creation_timestamp, r.raw)
                   for rank, r in enumerate(docs.values()))
    first = cases[0].scenario
    return IndexedScenario(name=name, mesh=first.mesh, workloads=tuple(workloads.values()), config=config,
                           probes=tuple(probes), path=f"<plan:{name}>")


def _outcome(e: Expectation) -> tuple[Any, ...]:
    return (e.as_dict(), e.client_principal, e.server_principal, e.target_port, e.protocol)


def prove_independent(phase: Phase, version: IstioVersion) -> None:
    """Fail unless every probe's expectation is the same in its case alone and in the whole phase."""
    for case in phase.cases:
        for probe in case.probes:
            alone, together = expect(case.scenario, probe, version), expect(phase.scenario, probe, version)
            if _outcome(alone) != _outcome(together):
                raise PlanError(f"phase {phase.name}: {case.id} probe {probe.id} expects {alone.outcome} alone but "
                                f"{together.outcome} in the phase: another case's config leaks into it")


def renumber(phases: Sequence[Phase]) -> tuple[Phase, ...]:
    return tuple(dataclasses.replace(p, index=i) for i, p in enumerate(phases))


def pack(cases: Iterable[Case], version: IstioVersion, prefix: str = "") -> tuple[Phase, ...]:
    """Group cases by mesh-global state, one phase per group (named ``<prefix>/mesh-MODE/auto-on|off``), each proven."""
    groups: dict[tuple[MeshConfig, tuple[str, ...]], list[Case]] = {}
    for case in cases:
        groups.setdefault(global_key(case.scenario), []).append(case)
    ordered = sorted(groups.values(), key=lambda cs: _order(cs[0].scenario))
    names: list[str] = []
    for group in ordered:
        first = group[0].scenario
        base = f"{prefix + '/' if prefix else ''}mesh-{_mesh_mode(first)}/auto-{'on' if first.mesh.enable_auto_mtls else 'off'}"
        # Other global state (root-namespace AuthorizationPolicies or DestinationRules, another root namespace or
        # trust domain) can split groups the name does not tell apart: number the repeats.
        names.append(base if base not in names else f"{base}#{sum(1 for n in names if n.split('#')[0] == base) + 1}")
    phases = []
    for index, (name, group) in enumerate(zip(names, ordered, strict=True)):
        first = group[0].scenario
        mesh_policies = [r for r in _global_resources(first) if r.kind == "PeerAuthentication"]
        phase = Phase(index=index, name=name, mesh=first.mesh, mesh_policy=dict(mesh_policies[0].raw) if mesh_policies else None,
                      cases=tuple(group), scenario=_merge(name, group))
        prove_independent(phase, version)
        phases.append(phase)
    return tuple(phases)
