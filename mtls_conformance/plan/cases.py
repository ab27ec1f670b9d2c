"""Cases: one self-contained scenario per matrix coordinate, plus the named cases the matrix cannot express."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mtls_conformance.plan import topology as t
from mtls_conformance.plan.compose import scenario
from mtls_conformance.plan.matrix import Coordinates
from mtls_conformance.plan.model import Case
from mtls_conformance.scenario.model import Scenario, Workload

ROOT = "istio-system"


def _features(sc: Scenario) -> tuple[str, ...]:
    return tuple(sorted({t.API_FEATURES[r.api_version] for r in sc.config if r.api_version in t.API_FEATURES}))


def _suite(c: Coordinates) -> str:
    if c.dr != "none":
        return "destination-rule"
    if c.port != "none":
        return "port-level"
    if c.client == "plaintext":
        return "plaintext-clients"
    return "peer-authentication"


def _mesh_docs(mode: str) -> list[dict[str, Any]]:
    return [] if mode == "none" else [t.peer_authentication("default", ROOT, mode)]


def server_of(c: Coordinates) -> tuple[Workload, str]:
    """The Service a case probes and the app (pods) behind it."""
    if c.server == "none":
        app, namespace, sidecar = "httpbin", t.NO_SIDECAR_NAMESPACE, False
    else:
        app, namespace, sidecar = f"wl-{t.slug(c.wl)}-port-{t.slug(c.port)}", f"mc-ns-{t.slug(c.ns)}", True
    # A DestinationRule applies per host, so each DestinationRule variant gets its own Service over the same pods.
    name = app if c.dr == "none" else f"{app}-dr-{t.slug(c.dr)}"
    return t.backend(name, namespace, sidecar, app), app


def matrix_case(c: Coordinates) -> Case:
    server, app = server_of(c)
    client = t.SIDECAR_CLIENT if c.client == "sidecar" else t.PLAINTEXT_CLIENT
    docs = _mesh_docs(c.mesh)
    if c.ns != "none":
        docs.append(t.peer_authentication("default", server.namespace, c.ns))
    if c.wl != "none":
        docs.append(t.peer_authentication(app, server.namespace, c.wl, app=app, port_modes=t.port_level_modes(c.port)))
    dr = t.destination_rule(server, c.dr)
    if dr is not None:
        docs.append(dr)
    # A pod-IP call bypasses Service listeners (and so any DestinationRule): probe it once per client and backend.
    probes = t.backend_probes(client, server, pod_ip=c.dr == "none")
    sc = scenario(c.id, t.mesh_config(c.auto), (client, server), docs, probes)
    return Case(id=c.id, suite=_suite(c), features=_features(sc), scenario=sc, dimensions=c.as_dict(),
                description=f"{c.client} client to {c.server} server: {c.id}")


# --- named cases ------------------------------------------------------------------------------------------


def _named(slug: str, suite: str, description: str, mesh: str, build: Callable[[str, str], list[dict[str, Any]]]) -> Case:
    """A named case in its own namespace ``mc-n-<slug>``; ``build(namespace, app)`` returns its non-mesh config."""
    case_id = f"named/{slug}"
    namespace = f"mc-n-{slug}"[:63]
    server = t.backend(slug, namespace, sidecar=True)
    docs = _mesh_docs(mesh) + build(namespace, slug)
    probes = t.backend_probes(t.PLAINTEXT_CLIENT, server, pod_ip=True) + t.backend_probes(t.SIDECAR_CLIENT, server, pod_ip=False)
    sc = scenario(case_id, t.mesh_config("on"), (t.SIDECAR_CLIENT, t.PLAINTEXT_CLIENT, server), docs, probes)
    dims = {"mesh": mesh, "auto": "on", "named": slug}
    return Case(id=case_id, suite=suite, features=_features(sc), scenario=sc, description=description, dimensions=dims,
                origin="named")


def named_cases() -> tuple[Case, ...]:
    pa = t.peer_authentication
    # Conflicting objects are named so that Istio's tie-break for equal creation seconds (name, then namespace)
    # agrees with the creation order: "a-oldest" is applied first and also sorts first.
    return (
        _named("conflict-namespace-oldest-wins", "peer-authentication",
               "two namespace-wide policies: the oldest (STRICT) applies, the newer (DISABLE) is ignored", "none",
               lambda ns, app: [pa("conflict-a-oldest", ns, "STRICT"), pa("conflict-b-newer", ns, "DISABLE")]),
        _named("conflict-workload-oldest-wins", "peer-authentication",
               "two workload policies select the same pods: the oldest (STRICT) applies, the newer (PERMISSIVE) is ignored", "none",
               lambda ns, app: [pa("conflict-a-oldest", ns, "STRICT", app=app), pa("conflict-b-newer", ns, "PERMISSIVE", app=app)]),
        _named("root-selector-strict-ignored", "peer-authentication",
               "a STRICT policy with a selector in the root namespace is ignored: plaintext is still accepted", "none",
               lambda ns, app: [pa(f"mc-root-selector-{app}"[:63], ROOT, "STRICT", app=app)]),
        _named("root-selector-permissive-ignored", "peer-authentication",
               "under mesh STRICT, a PERMISSIVE selector policy in the root namespace is ignored: plaintext is refused", "STRICT",
               lambda ns, app: [pa(f"mc-root-selector-{app}"[:63], ROOT, "PERMISSIVE", app=app)]),
        _named("unset-chain-namespace", "peer-authentication",
               "workload UNSET with port-level UNSET inherits the namespace's STRICT", "none",
               lambda ns, app: [pa("default", ns, "STRICT"),
                                pa(app, ns, "UNSET", app=app, port_modes=dict.fromkeys(t.PORT_LEVEL_KEYS, "UNSET"))]),
        _named("unset-chain-mesh", "peer-authentication",
               "namespace UNSET and workload UNSET inherit the mesh-wide STRICT", "STRICT",
               lambda ns, app: [pa("default", ns, "UNSET"), pa(app, ns, "UNSET", app=app)]),
        _named("unset-chain-all-unset", "peer-authentication",
               "UNSET at mesh, namespace, workload and port level means PERMISSIVE", "UNSET",
               lambda ns, app: [pa("default", ns, "UNSET"),
                                pa(app, ns, "UNSET", app=app, port_modes=dict.fromkeys(t.PORT_LEVEL_KEYS, "UNSET"))]),
        _named("most-restrictive-wins-refuted", "peer-authentication",
               "refutes 'the most restrictive policy applies': mesh STRICT + workload PERMISSIVE accepts plaintext", "STRICT",
               lambda ns, app: [pa(app, ns, "PERMISSIVE", app=app)]),
        _named("most-restrictive-wins-refuted-disable", "peer-authentication",
               "refutes 'the most restrictive policy applies': mesh STRICT + workload DISABLE serves plaintext only", "STRICT",
               lambda ns, app: [pa(app, ns, "DISABLE", app=app)]),
    )
