"""Server side: the effective PeerAuthentication mode of a workload for one container port.

Mirrors ComposePeerAuthentication (pilot/pkg/security/authn/policy_applier.go): one policy per scope
(the oldest), narrowest scope first, UNSET inherits, nothing at all is PERMISSIVE.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mtls_conformance.engine.model import Mode, Step
from mtls_conformance.scenario.model import IstioResource, Scenario, Workload


def selects(selector: Mapping[str, str] | None, labels: Mapping[str, str]) -> bool:
    return selector is not None and all(labels.get(k) == v for k, v in selector.items())


def _mode_of(holder: object) -> str:
    if isinstance(holder, Mapping):
        return str(holder.get("mode", "UNSET"))
    return "UNSET"


@dataclass(frozen=True)
class ScopedPolicies:
    mesh: IstioResource | None
    namespace: IstioResource | None
    workload: IstioResource | None
    steps: tuple[Step, ...]


def in_namespaces(scenario: Scenario, kind: str, root: str, namespace: str) -> tuple[IstioResource, ...]:
    """Resources of a kind in the root namespace and one other, oldest first (indexed once per scenario)."""
    by_ns = scenario.memo(f"{kind}-by-namespace", lambda: _group_by_namespace(scenario.resources(kind)))
    wanted = {root, namespace}
    return tuple(sorted((r for ns in wanted for r in by_ns.get(ns, ())), key=lambda r: r.created_rank))


def _group_by_namespace(resources: tuple[IstioResource, ...]) -> dict[str, tuple[IstioResource, ...]]:
    grouped: dict[str, list[IstioResource]] = {}
    for r in resources:
        grouped.setdefault(r.namespace, []).append(r)
    return {ns: tuple(rs) for ns, rs in grouped.items()}


def applicable_policies(scenario: Scenario, workload: Workload) -> ScopedPolicies:
    """The one policy per scope that istiod would use for this workload (oldest wins within a scope)."""
    labels = tuple(sorted(workload.labels.items()))
    return scenario.memo(f"pa-scopes:{workload.namespace}:{labels}", lambda: _applicable_policies(scenario, workload))


def _applicable_policies(scenario: Scenario, workload: Workload) -> ScopedPolicies:
    root = scenario.mesh.root_namespace
    steps: list[Step] = []
    mesh: list[IstioResource] = []
    namespace: list[IstioResource] = []
    workload_level: list[IstioResource] = []
    for pa in in_namespaces(scenario, "PeerAuthentication", root, workload.namespace):  # oldest first
        if pa.namespace == root:
            if pa.selector is None:
                mesh.append(pa)
            elif selects(pa.selector, workload.labels):
                steps.append(Step.of("pa.root-selector-ignored", f"{pa.ref} has a selector in the root namespace '{root}': ignored"))
        elif pa.namespace == workload.namespace:
            if pa.selector is None:
                namespace.append(pa)
            elif selects(pa.selector, workload.labels):
                workload_level.append(pa)
    for scope, found in (("mesh-wide", mesh), ("namespace-wide", namespace), ("workload", workload_level)):
        if len(found) > 1:
            ignored = ", ".join(r.ref for r in found[1:])
            steps.append(Step.of("pa.oldest-wins", f"{len(found)} {scope} policies apply; the oldest, {found[0].ref}, wins over {ignored}"))
    return ScopedPolicies(
        mesh=mesh[0] if mesh else None,
        namespace=namespace[0] if namespace else None,
        workload=workload_level[0] if workload_level else None,
        steps=tuple(steps),
    )


def namespace_mode(scenario: Scenario, namespace: str) -> tuple[Mode, tuple[Step, ...]]:
    """Mesh + namespace composition only: what auto mTLS infers for a Service (BestEffortInferServiceMTLSMode)."""
    probe_workload = Workload(name="_", namespace=namespace, labels={})
    scoped = applicable_policies(scenario, probe_workload)
    ns_mode = _mode_of(scoped.namespace.spec.get("mtls")) if scoped.namespace else "UNSET"
    if ns_mode != "UNSET" and scoped.namespace is not None:
        return Mode(ns_mode), (Step.of("pa.scopes", f"namespace-wide {scoped.namespace.ref} sets {ns_mode}"),)
    mesh_mode = _mode_of(scoped.mesh.spec.get("mtls")) if scoped.mesh else "UNSET"
    if mesh_mode != "UNSET" and scoped.mesh is not None:
        return Mode(mesh_mode), (Step.of("pa.scopes", f"mesh-wide {scoped.mesh.ref} sets {mesh_mode} (namespace '{namespace}' sets none)"),)
    return Mode.PERMISSIVE, (Step.of("pa.default-permissive", f"no mesh- or namespace-wide mode for '{namespace}': PERMISSIVE"),)


def effective_mode(scenario: Scenario, workload: Workload, container_port: int) -> tuple[Mode, tuple[Step, ...]]:
    scoped = applicable_policies(scenario, workload)
    steps = list(scoped.steps)
    mode = "UNSET"
    chain = (("workload", scoped.workload), ("namespace-wide", scoped.namespace), ("mesh-wide", scoped.mesh))
    decided_by: IstioResource | None = None
    for scope, pa in chain:
        if pa is None:
            continue
        m = _mode_of(pa.spec.get("mtls"))
        if m == "UNSET":
            steps.append(Step.of("pa.unset-inherits", f"{scope} {pa.ref} leaves the mode UNSET: inherit from the parent scope"))
            continue
        mode, decided_by = m, pa
        wider = [p for _, p in chain[chain.index((scope, pa)) + 1 :] if p is not None]
        if wider:
            overridden = ", ".join(p.ref for p in wider)
            steps.append(Step.of("pa.narrowest-wins", f"{scope} {pa.ref} sets {m}; as the narrowest policy with a mode it overrides {overridden}"))
        else:
            steps.append(Step.of("pa.scopes", f"{scope} {pa.ref} sets {m}"))
        break
    if decided_by is None:
        mode = "PERMISSIVE"
        steps.append(Step.of("pa.default-permissive", f"no policy sets a mode for {workload.key}: PERMISSIVE"))

    wl = scoped.workload
    if wl is not None:
        plm = wl.spec.get("portLevelMtls") or {}
        keyed = {int(str(k)): v for k, v in plm.items()}
        if container_port in keyed:
            pm = _mode_of(keyed[container_port])
            if pm == "UNSET":
                steps.append(Step.of("pa.port-level-unset-inherits", f"{wl.ref} port {container_port} is UNSET: keeps {mode}"))
            else:
                rid = "pa.port-level-target-port"
                if workload.port_for_target(container_port) is None:
                    rid = "pa.port-level-workload-only-port"
                steps.append(Step.of(rid, f"{wl.ref} portLevelMtls[{container_port}] = {pm} on the container port"))
                mode = pm
        else:
            # istio/istio#49098: a key equal to this port's Service port (not its container port) has no effect.
            for sp in workload.ports:
                if sp.target_port == container_port and sp.port != container_port and sp.port in keyed:
                    steps.append(Step.of("pa.port-level-target-port",
                                         f"{wl.ref} keys portLevelMtls on {sp.port}, the Service port; container port {container_port} is unaffected"))
    return Mode(mode), tuple(steps)
