"""Render a phase or a scenario to plain Kubernetes objects, in apply order.

Order: Namespaces, ServiceAccounts, Services, Deployments, then the Istio config in creation order. Every object
carries ``app.kubernetes.io/managed-by: mtls-conformance`` and ``mtls-conformance/run: <run id>``; an object that
belongs to exactly one case also carries ``mtls-conformance/case`` (a label-safe form of the id, hashed when too
long) and the full id in the ``mtls-conformance/case-id`` annotation.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Callable, Iterable
from typing import Any

from mtls_conformance.errors import InputError
from mtls_conformance.plan.manifests import container, template
from mtls_conformance.plan.model import Phase
from mtls_conformance.plan.workloads import DeploymentSpec, deployments
from mtls_conformance.scenario.model import Protocol, Scenario, Workload

MANAGED_BY = "app.kubernetes.io/managed-by"
RUN_LABEL = "mtls-conformance/run"
CASE_LABEL = "mtls-conformance/case"
# "phase" on what a phase applies (pruned when the next phase no longer has it); objects outside the phases
# (rotation namespaces, the plug-in CA secret) carry "isolated" and are only removed by the run's cleanup.
SCOPE_LABEL = "mtls-conformance/scope"
CASE_ANNOTATION = "mtls-conformance/case-id"
MANAGER = "mtls-conformance"
EXPORT_TO = "networking.istio.io/exportTo"  # https://istio.io/latest/docs/reference/config/annotations/

_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

Owner = Callable[[str], str | None]  # object identity -> the one case it belongs to, if any


def label_value(case_id: str) -> str:
    """A Kubernetes label value (<= 63 chars) for a case id; long ids keep a readable prefix plus a hash."""
    text = case_id.replace("->", "-to-").replace("/", ".")
    text = re.sub(r"[^A-Za-z0-9_.-]", "-", text).strip("-_.")
    if len(text) > 63:
        text = text[:52].rstrip("-_.") + "-" + hashlib.sha256(case_id.encode()).hexdigest()[:10]
    return text


def _check_run_id(run_id: str) -> None:
    if not run_id or len(run_id) > 63 or not _LABEL_VALUE.match(run_id):
        raise InputError("--run-id", f"{run_id!r} is not a valid label value",
                         "use at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit")


def _metadata(kind_id: str, name: str, namespace: str | None, run_id: str, owner: Owner) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = {MANAGED_BY: MANAGER, RUN_LABEL: run_id}
    case_id = owner(kind_id)
    if case_id is not None:
        meta["labels"][CASE_LABEL] = label_value(case_id)
        meta["annotations"] = {CASE_ANNOTATION: case_id}
    return meta


def _namespaces(sc: Scenario, run_id: str, owner: Owner) -> list[dict[str, Any]]:
    sidecar: dict[str, bool] = {}
    for w in sc.workloads:
        sidecar[w.namespace] = sidecar.get(w.namespace, False) or w.sidecar
    for r in sc.config:
        sidecar.setdefault(r.namespace, False)
    sidecar.pop(sc.mesh.root_namespace, None)  # Istio's own namespace: installed, never ours
    result = []
    for ns, injected in sidecar.items():
        meta = _metadata(f"Namespace/{ns}", ns, None, run_id, owner)
        if injected:
            meta["labels"]["istio-injection"] = "enabled"
        result.append({"apiVersion": "v1", "kind": "Namespace", "metadata": meta})
    return result


def _service_accounts(deps: Iterable[DeploymentSpec], run_id: str, owner: Owner) -> list[dict[str, Any]]:
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for d in deps:
        key = (d.namespace, d.service_account)
        if key not in seen:
            meta = _metadata(f"ServiceAccount/{d.namespace}/{d.service_account}", d.service_account, d.namespace, run_id, owner)
            seen[key] = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}
    return list(seen.values())


def _service(w: Workload, export_to: list[str], run_id: str, owner: Owner) -> dict[str, Any]:
    meta = _metadata(f"Service/{w.key}", w.name, w.namespace, run_id, owner)
    if export_to:
        # Only the namespaces that probe it see this Service: keeps every other sidecar's config small.
        meta.setdefault("annotations", {})[EXPORT_TO] = ",".join(export_to)
    spec: dict[str, Any] = {
        "selector": dict(w.labels),
        "ports": [{"name": p.name, "port": p.port, "targetPort": p.target_port, "protocol": "TCP",
                   "appProtocol": "http" if p.protocol is Protocol.HTTP else "tcp"} for p in w.ports],
    }
    if w.headless:
        spec["clusterIP"] = "None"
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}


def _containers(d: DeploymentSpec) -> list[dict[str, Any]]:
    result = []
    for port in d.http_ports:
        c = container("httpbin")
        c.update(name=f"httpbin-{port}", env=[{"name": "PORT", "value": str(port)}], ports=[{"containerPort": port, "protocol": "TCP"}],
                 readinessProbe={"httpGet": {"path": "/get", "port": port}, "periodSeconds": 2})
        result.append(c)
    if d.tcp_ports:
        c = container("tcp-echo")
        c.update(name="tcp-echo", args=[",".join(str(p) for p in d.tcp_ports), "hello"],
                 ports=[{"containerPort": p, "protocol": "TCP"} for p in d.tcp_ports])
        result.append(c)
    if d.client:
        result.append({**container("curl"), "name": "curl"})
    return result


def _deployment(d: DeploymentSpec, run_id: str, owner: Owner) -> dict[str, Any]:
    skeleton = template("deployment.yaml")
    labels = dict(d.labels)
    pod_labels = {**labels, MANAGED_BY: MANAGER}
    if not d.sidecar:
        pod_labels["sidecar.istio.io/inject"] = "false"  # the namespace may inject other workloads
    tpl = skeleton["spec"]["template"]
    pod_meta = {"labels": pod_labels, **{k: v for k, v in (tpl.get("metadata") or {}).items() if k != "labels"}}
    pod_spec = {"serviceAccountName": d.service_account, **tpl.get("spec", {}), "containers": _containers(d)}
    spec = {**{k: v for k, v in skeleton["spec"].items() if k != "template"}, "selector": {"matchLabels": labels},
            "template": {"metadata": pod_meta, "spec": pod_spec}}
    return {"apiVersion": skeleton["apiVersion"], "kind": skeleton["kind"],
            "metadata": _metadata(f"Deployment/{d.namespace}/{d.name}", d.name, d.namespace, run_id, owner), "spec": spec}


def _istio(sc: Scenario, run_id: str, owner: Owner) -> list[dict[str, Any]]:
    result = []
    for r in sorted(sc.config, key=lambda r: r.created_rank):
        doc = copy.deepcopy(dict(r.raw))
        meta = _metadata(f"{r.kind}/{r.namespace}/{r.name}", r.name, r.namespace, run_id, owner)
        raw_meta = doc.get("metadata") or {}
        meta["labels"] = {**(raw_meta.get("labels") or {}), **meta["labels"]}
        if raw_meta.get("annotations") or "annotations" in meta:
            meta["annotations"] = {**(raw_meta.get("annotations") or {}), **meta.get("annotations", {})}
        doc["metadata"] = meta  # creationTimestamp is the API server's: never applied
        result.append(doc)
    return result


def _render(sc: Scenario, run_id: str, owner: Owner) -> list[dict[str, Any]]:
    _check_run_id(run_id)
    deps = deployments(sc)
    sources: dict[str, set[str]] = {}
    for p in sc.probes:
        sources.setdefault(p.target, set()).add(p.source.split("/", 1)[0])
    services = []
    for w in sc.workloads:
        if w.ports:
            export = sorted({"." if ns == w.namespace else ns for ns in sources.get(w.key, set())} | {"."}) if w.key in sources else []
            services.append(_service(w, export, run_id, owner))
    return (_namespaces(sc, run_id, owner) + _service_accounts(deps, run_id, owner) + services
            + [_deployment(d, run_id, owner) for d in deps] + _istio(sc, run_id, owner))


def _object_ids(sc: Scenario) -> set[str]:
    ids = {f"Namespace/{w.namespace}" for w in sc.workloads} | {f"Namespace/{r.namespace}" for r in sc.config}
    for d in deployments(sc):
        ids |= {f"Deployment/{d.namespace}/{d.name}", f"ServiceAccount/{d.namespace}/{d.service_account}"}
    ids |= {f"Service/{w.key}" for w in sc.workloads}
    ids |= {f"{r.kind}/{r.namespace}/{r.name}" for r in sc.config}
    return ids


def render_scenario(scenario: Scenario, run_id: str, case_id: str | None = None) -> list[dict[str, Any]]:
    """A scenario alone (a user's file, or one case for a repro bundle); every object is labelled with ``case_id``."""
    objects = _render(scenario, run_id, lambda _object_id: case_id)
    for obj in objects:
        obj["metadata"]["labels"][SCOPE_LABEL] = "isolated"
    return objects


def render_phase(phase: Phase, run_id: str) -> list[dict[str, Any]]:
    """Everything a phase applies. An object gets a case label only if exactly one case of the phase uses it."""
    users: dict[str, list[str]] = {}
    for case in phase.cases:
        for object_id in _object_ids(case.scenario):
            users.setdefault(object_id, []).append(case.id)

    def owner(object_id: str) -> str | None:
        cases = users.get(object_id, [])
        return cases[0] if len(cases) == 1 else None

    objects = _render(phase.scenario, run_id, owner)
    for obj in objects:
        obj["metadata"]["labels"][SCOPE_LABEL] = "phase"
    return objects
