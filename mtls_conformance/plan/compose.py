"""Build scenarios in memory from Istio documents, with the same checks the scenario loader applies to files."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mtls_conformance.errors import InputError
from mtls_conformance.scenario.istio_config import check_resource
from mtls_conformance.scenario.model import IstioResource, MeshConfig, Probe, Scenario, Workload


class PlanError(Exception):
    """The planner produced an inconsistent plan (a bug in the plan, not bad user input)."""


def istio_resources(docs: Sequence[Mapping[str, Any]], mesh: MeshConfig, where: str) -> tuple[IstioResource, ...]:
    """Check each document like a scenario file's ``config`` entry; list order is creation order."""
    result = []
    for rank, doc in enumerate(docs):
        try:
            res = check_resource(InputError, f"{where}: config[{rank}]", doc, mesh)
        except InputError as exc:
            raise PlanError(f"the plan built a resource the scenario loader rejects: {exc.one_line()}") from None
        result.append(dataclasses.replace(res, created_rank=rank))
    return tuple(result)


def scenario(name: str, mesh: MeshConfig, workloads: Iterable[Workload], docs: Sequence[Mapping[str, Any]],
             probes: Iterable[Probe]) -> Scenario:
    wl = tuple(workloads)
    keys = {w.key for w in wl}
    probe_list = tuple(probes)
    for p in probe_list:
        if p.source not in keys or p.target not in keys:
            raise PlanError(f"{name}: probe {p.id} names a workload the scenario does not declare")
    return Scenario(name=name, mesh=mesh, workloads=wl, config=istio_resources(docs, mesh, name), probes=probe_list,
                    path=f"<plan:{name}>")


def mesh_document(mesh: MeshConfig) -> dict[str, Any]:
    return {"rootNamespace": mesh.root_namespace, "enableAutoMtls": mesh.enable_auto_mtls, "trustDomain": mesh.trust_domain}


def scenario_document(sc: Scenario) -> dict[str, Any]:
    """The scenario as a scenario-file document (docs/scenarios.md): ``mtls-conformance expect`` reads it back."""
    workloads = []
    for w in sc.workloads:
        doc: dict[str, Any] = {"name": w.name, "namespace": w.namespace, "sidecar": w.sidecar, "labels": dict(w.labels),
                               "serviceAccount": w.service_account or w.name,
                               "ports": [{"name": p.name, "port": p.port, "targetPort": p.target_port, "protocol": p.protocol.value}
                                         for p in w.ports]}
        if w.workload_only_ports:
            doc["workloadOnlyPorts"] = list(w.workload_only_ports)
        if w.headless:
            doc["headless"] = True
        workloads.append(doc)
    config = [dict(r.raw) for r in sorted(sc.config, key=lambda r: r.created_rank)]
    probes = [{"from": p.source, "to": p.target, "port": p.port, "address": p.address.value} for p in sc.probes]
    return {"name": sc.name, "mesh": mesh_document(sc.mesh), "workloads": workloads, "config": config, "probes": probes}
