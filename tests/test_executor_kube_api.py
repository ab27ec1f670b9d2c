"""KubeClient against a tiny in-memory Kubernetes API on loopback, through the REAL official client library.

The fake server speaks just enough of the API (discovery, server-side apply, list, label selectors, delete, watch) to
prove the wrapper calls the client correctly: apply order and field manager, cleanup by run label with namespaces last
and awaited by a watch, rollout waits with a watch, pods, config maps and Deployment images. Exec (websocket) is not
covered here.

What each answer of the fake server is, and what pins its shape (sources read through the search index; the Go code
stays upstream, only the shapes are written here):

- Error bodies: a complete ``v1.Status`` per https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/status/
  (kind, apiVersion v1, metadata, status "Failure", message, reason, details, code), built by ``failure`` below. The
  API server writes every error this way: ``responsewriters.ErrorToAPIStatus`` sets kind "Status" and apiVersion "v1"
  (kubernetes/kubernetes staging/src/k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/status.go @ 03e140396448);
  ``metadata`` is an empty ListMeta, present as ``{}`` (the field order and ``"metadata":{}`` as in the recorded body of
  staging/src/k8s.io/apiserver/pkg/util/notfoundhandler/not_found_handler_test.go @ cb6ff2d8ce35). Each reason used:
  - NotFound (404): ``apierrors.NewNotFound`` -- message ``<resource>[.<group>] "<name>" not found``, details
    {name, group, kind: the plural resource} (staging/src/k8s.io/apimachinery/pkg/api/errors/errors.go @ 030880a5dc54).
  - BadRequest (400): ``apierrors.NewBadRequest(err.Error())`` for a JSON Patch body that does not decode
    (errors.go as above; handlers/patch.go ``jsonpatch.DecodePatch`` -> ``errors.NewBadRequest``, kubernetes @
    86b3ca48ea10); the message is Go encoding/json's UnmarshalTypeError text.
  - UnsupportedMediaType (415): ``negotiation.NewUnsupportedMediaTypeError`` -- "the body of the request was in an
    unknown format - accepted media types include: ..." (staging/src/k8s.io/apiserver/pkg/endpoints/handlers/negotiation/
    errors.go @ cb1929221e0a).
  A path the server has no handler for is not a Status at all: ``notfoundhandler`` ends in Go's ``http.NotFound``
  ("404 page not found", text/plain), once discovery is complete (not_found_handler.go, same directory).
- Successful DELETE: ``Store.finalizeDelete`` answers ``Status{status: Success, details: {name, group, kind: the plural
  resource, uid}}`` when the object is gone at once; with ``propagationPolicy=Foreground`` the store adds the
  ``foregroundDeletion`` finalizer and answers the object itself, with deletionTimestamp (``shouldDeleteDependents``,
  ``!deleteImmediately`` -> ``return out``: staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go @
  0021a864a65a). A Namespace DELETE answers the Namespace with deletionTimestamp and phase Terminating while its
  finalizers run (pkg/registry/core/namespace/storage/storage.go @ 94341df30b4a). The fake's garbage collector and
  namespace controller finish at once (objects) or at the next watch (namespaces): timing, not shape.
- Watch events: one JSON object a line, ``{"type": ADDED|MODIFIED|DELETED, "object": <the object>}``
  (https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes).
- Deployment ``status``: DeploymentStatus fields per
  https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/deployment-v1/#DeploymentStatus (zero counts
  are omitted: every count is ``omitempty``); empty on creation (the controller, not the API server, writes it), then
  written by the controller with conditions ``Available`` (MinimumReplicasAvailable "Deployment has minimum
  availability." / MinimumReplicasUnavailable "Deployment does not have minimum availability.") and ``Progressing``
  (ReplicaSetUpdated / NewReplicaSetAvailable): reason constants in kubernetes pkg/controller/deployment/util/
  deployment_util.go @ 277391ee7134. See ``rolling_status`` and ``done_status``.
- Pods: the sidecar injector's goldens (``golden_pod`` of tests/test_executor_pod_shapes.py, ../shared/istio/inject,
  see SOURCES.md) with a status built by that module's ``status``/``cstatus`` (PodStatus reference and the kubelet's
  Ready rule, cited there).
- Discovery (``/version``, ``/api``, ``/apis``, APIResourceList): the shapes of the discovery API
  (https://kubernetes.io/docs/concepts/overview/kubernetes-api/#discovery-api, unaggregated form); ``gitVersion`` is
  kind-config.yaml's node image.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

from mtls_conformance.executor.errors import WaitTimeout
from mtls_conformance.executor.kube import KubeClient, ObjectRef

# plural -> (groupVersion, kind, namespaced)
RESOURCES = {
    "namespaces": ("v1", "Namespace", False), "services": ("v1", "Service", True), "serviceaccounts": ("v1", "ServiceAccount", True),
    "configmaps": ("v1", "ConfigMap", True), "secrets": ("v1", "Secret", True), "pods": ("v1", "Pod", True),
    "deployments": ("apps/v1", "Deployment", True),
    "peerauthentications": ("security.istio.io/v1", "PeerAuthentication", True),
    "authorizationpolicies": ("security.istio.io/v1", "AuthorizationPolicy", True),
    "destinationrules": ("networking.istio.io/v1", "DestinationRule", True),
}


def group_of(plural: str) -> str:
    gv = RESOURCES[plural][0]
    return gv.split("/")[0] if "/" in gv else ""


def failure(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """A v1.Status error body, every field of the Status schema (see the module docstring)."""
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
                            "reason": reason}
    if details:
        body["details"] = details
    body["code"] = code
    return body


def not_found(plural: str, name: str) -> dict[str, Any]:
    """apierrors.NewNotFound(GroupResource{group, plural}, name); an empty group is omitted (omitempty)."""
    group = group_of(plural)
    qualified = f"{plural}.{group}" if group else plural
    details = {"name": name, **({"group": group} if group else {}), "kind": plural}
    return failure(404, "NotFound", f'{qualified} "{name}" not found', details)


def unsupported_media_type(accepted: list[str]) -> dict[str, Any]:
    """negotiation.NewUnsupportedMediaTypeError(accepted).Status(): no details."""
    return failure(415, "UnsupportedMediaType",
                   "the body of the request was in an unknown format - accepted media types include: " + ", ".join(accepted))


class FakeApi:
    def __init__(self) -> None:
        self.store: dict[tuple[str, str, str], dict[str, Any]] = {}  # (plural, namespace, name) -> object
        self.requests: list[tuple[str, str, str]] = []  # (method, path, content-type)
        self.patch_queries: list[dict[str, list[str]]] = []
        self.get_queries: list[tuple[str, dict[str, list[str]]]] = []  # (path, query) of every GET
        self.patch_bodies: list[tuple[str, Any]] = []  # (path, body) of every PATCH
        self.lock = threading.Lock()
        self.rollout_done_on_watch = True
        self.version = 1
        self.uids = 0

    def matches(self, obj: dict[str, Any], selector: str) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(labels.get(k) == v for k, v in (part.split("=", 1) for part in selector.split(",") if part))


def discovery(path: str) -> dict[str, Any] | None:
    if path == "/version":  # version.Info; the release of kind-config.yaml's node image (kindest/node:v1.34.x)
        return {"major": "1", "minor": "34", "gitVersion": "v1.34.0", "gitCommit": "abc", "gitTreeState": "clean",
                "buildDate": "2025-08-27T00:00:00Z", "goVersion": "go1.24.6", "compiler": "gc", "platform": "linux/amd64"}
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
    groups = sorted({gv for gv, _, _ in RESOURCES.values() if "/" in gv})
    if path == "/apis":
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            {"name": gv.split("/")[0], "versions": [{"groupVersion": gv, "version": "v1"}],
             "preferredVersion": {"groupVersion": gv, "version": "v1"}} for gv in groups]}
    for gv in ["v1", *groups]:
        if path == ("/api/v1" if gv == "v1" else f"/apis/{gv}"):
            return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": [
                {"name": plural, "singularName": kind.lower(), "namespaced": namespaced, "kind": kind,
                 "verbs": ["create", "delete", "get", "list", "patch", "update", "watch", "deletecollection"]}
                for plural, (g, kind, namespaced) in RESOURCES.items() if g == gv]}
    return None


def parse_path(path: str) -> tuple[str, str, str] | None:
    """(plural, namespace, name) of a resource path; namespace/name may be empty."""
    parts = [p for p in path.split("/") if p]
    parts = parts[2:] if parts[:1] == ["api"] else parts[3:]  # drop api/v1 or apis/group/version
    if len(parts) == 5 and parts[2] == "pods":  # a pod's subresource
        return parts[4], parts[1], parts[3]
    if parts[:1] == ["namespaces"] and len(parts) >= 3:
        return parts[2], parts[1], parts[3] if len(parts) > 3 else ""
    if parts[:1] == ["namespaces"]:
        return "namespaces", "", parts[1] if len(parts) > 1 else ""
    return (parts[0], "", parts[1] if len(parts) > 1 else "") if parts else None


def make_handler(api: FakeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # one request per connection: a watch ends when we close

        def log_message(self, *args: Any) -> None:
            pass

        def send_json(self, code: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def send_not_found_page(self) -> None:
            """Go's http.NotFound: what the API server answers for a path no handler serves (not a Status)."""
            data = b"404 page not found\n"
            self.send_response(404)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def record(self) -> tuple[str, dict[str, list[str]]]:
            url = urlparse(self.path)
            path = url.path.rstrip("/") or "/"
            api.requests.append((self.command, path, self.headers.get("Content-Type", "")))
            return path, parse_qs(url.query)

        def do_GET(self) -> None:
            path, query = self.record()
            api.get_queries.append((path, query))
            found = discovery(path)
            if found is not None:
                return self.send_json(200, found)
            where = parse_path(path)
            if where is None or where[0] not in RESOURCES:
                return self.send_not_found_page()
            plural, ns, name = where
            selector = query.get("labelSelector", [""])[0]
            if name:
                obj = api.store.get((plural, ns, name))
                return self.send_json(200, obj) if obj else self.send_json(404, not_found(plural, name))
            items = [o for (p, n, _), o in sorted(api.store.items()) if p == plural and (not ns or n == ns) and api.matches(o, selector)]
            if query.get("watch", [""])[0] in ("true", "1"):
                return self.watch(plural, items)
            gv, kind, _ = RESOURCES[plural]
            self.send_json(200, {"kind": f"{kind}List", "apiVersion": gv, "metadata": {"resourceVersion": str(api.version)}, "items": items})

        def watch(self, plural: str, items: list[dict[str, Any]]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            for obj in items:
                if plural == "namespaces" and obj.get("status", {}).get("phase") == "Terminating":
                    api.store.pop(("namespaces", "", obj["metadata"]["name"]), None)
                    event = {"type": "DELETED", "object": obj}
                elif plural == "deployments":  # the controller's next write: done, or still waiting for its pod
                    obj["status"] = done_status(obj) if api.rollout_done_on_watch else rolling_status(obj)
                    event = {"type": "MODIFIED", "object": obj}
                elif plural == "pods":
                    event = {"type": "ADDED", "object": obj}
                else:
                    continue
                self.wfile.write(json.dumps(event).encode() + b"\n")
                self.wfile.flush()

        def do_PATCH(self) -> None:
            path, query = self.record()
            api.patch_queries.append(query)
            where = parse_path(path)
            assert where is not None
            plural, ns, name = where
            body = yaml.safe_load(self.rfile.read(int(self.headers["Content-Length"])))
            content_type = self.headers.get("Content-Type", "")
            api.patch_bodies.append((path, body))
            if plural == "ephemeralcontainers":
                return self.ephemeral(ns, name, body, content_type)
            if content_type == "application/json-patch+json" and not isinstance(body, list):
                # what a real API server answers when a partial object is sent as JSON Patch (NewBadRequest, no details)
                return self.send_json(400, failure(400, "BadRequest", "json: cannot unmarshal object into Go value of type jsonpatch.Patch"))
            if plural == "configmaps" and content_type != "application/strategic-merge-patch+json" and not content_type.startswith("application/apply"):
                # Stricter than a real server, which also takes json-patch and merge-patch for a ConfigMap: the fake pins
                # which patch type the client sends. The body is the one a real server sends for a type it refuses.
                return self.send_json(415, unsupported_media_type(["application/strategic-merge-patch+json", "application/apply-patch+yaml"]))
            api.version += 1
            previous = api.store.get((plural, ns, name), {})
            body.setdefault("metadata", {})["resourceVersion"] = str(api.version)
            body["metadata"].setdefault("generation", 1)
            if "uid" not in body["metadata"]:  # set by the server on creation, kept for the object's life
                api.uids += 1
                body["metadata"]["uid"] = (previous.get("metadata") or {}).get("uid") or f"00000000-0000-4000-8000-{api.uids:012d}"
            if plural == "deployments":  # status is the controller's: empty on creation, unchanged by an apply of the spec
                body["status"] = previous.get("status", {})
            if previous and not content_type.startswith("application/apply"):  # a merge patch: maps merge recursively
                body = merged(previous, body)
            api.store[(plural, ns, name)] = body
            self.send_json(200, body)

        def ephemeral(self, ns: str, name: str, body: dict[str, Any], content_type: str) -> None:
            """The pods/ephemeralcontainers subresource: a strategic merge patch adds containers by name; the kubelet
            (here: at once) starts them."""
            pod = api.store.get(("pods", ns, name))
            if pod is None:  # the subresource of a missing pod: NotFound for the pod (GroupResource "pods")
                return self.send_json(404, not_found("pods", name))
            if content_type != "application/strategic-merge-patch+json":  # stricter than a real server, as for configmaps
                return self.send_json(415, unsupported_media_type(["application/strategic-merge-patch+json"]))
            have = {c["name"]: c for c in pod["spec"].get("ephemeralContainers", [])}
            for c in body["spec"]["ephemeralContainers"]:
                have.setdefault(c["name"], c)
            pod["spec"]["ephemeralContainers"] = list(have.values())
            pod["status"]["ephemeralContainerStatuses"] = [
                {"name": n, "image": c["image"], "imageID": "", "ready": False, "restartCount": 0,
                 "state": {"running": {"startedAt": "2026-11-26T00:00:00Z"}}} for n, c in have.items()]
            self.send_json(200, pod)

        def do_DELETE(self) -> None:
            path, query = self.record()
            where = parse_path(path)
            assert where is not None
            plural, ns, name = where
            obj = api.store.get((plural, ns, name))
            if obj is None:
                return self.send_json(404, not_found(plural, name))
            meta = obj.setdefault("metadata", {})
            if plural == "namespaces":  # the namespace lifecycle: Terminating until its finalizers ran (seen by the watch)
                meta.setdefault("deletionTimestamp", "2026-11-26T00:00:00Z")
                obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
                obj["status"] = {"phase": "Terminating"}
                return self.send_json(200, obj)
            del api.store[(plural, ns, name)]
            if query.get("propagationPolicy") == ["Foreground"]:
                # the object as the store leaves it: deletionTimestamp and the foregroundDeletion finalizer (the fake's
                # garbage collector then finishes at once)
                meta["deletionTimestamp"] = "2026-11-26T00:00:00Z"
                meta["finalizers"] = [*meta.get("finalizers", []), "foregroundDeletion"]
                return self.send_json(200, obj)
            group = group_of(plural)
            details = {"name": name, **({"group": group} if group else {}), "kind": plural, "uid": meta.get("uid", "")}
            self.send_json(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})

    return Handler


def merged(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in patch.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _condition(kind: str, status: str, reason: str, message: str) -> dict[str, Any]:
    at = "2026-11-26T00:00:00Z"
    return {"type": kind, "status": status, "lastUpdateTime": at, "lastTransitionTime": at, "reason": reason, "message": message}


def rolling_status(obj: dict[str, Any]) -> dict[str, Any]:
    """A one-replica Deployment the controller has rolled out whose pod is not available yet."""
    rs = f'ReplicaSet "{obj["metadata"]["name"]}-5d9c7b8f6d"'
    return {"observedGeneration": obj["metadata"].get("generation", 1), "replicas": 1, "updatedReplicas": 1, "unavailableReplicas": 1,
            "conditions": [_condition("Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability."),
                           _condition("Progressing", "True", "ReplicaSetUpdated", f"{rs} is progressing.")]}


def done_status(obj: dict[str, Any]) -> dict[str, Any]:
    """The same Deployment once its pod is ready and available."""
    rs = f'ReplicaSet "{obj["metadata"]["name"]}-5d9c7b8f6d"'
    return {"observedGeneration": obj["metadata"].get("generation", 1), "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1,
            "availableReplicas": 1,
            "conditions": [_condition("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability."),
                           _condition("Progressing", "True", "NewReplicaSetAvailable", f"{rs} has successfully progressed.")]}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[FakeApi, KubeClient]]:
    fake = FakeApi()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(fake))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "fake",
        "clusters": [{"name": "fake", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "u"}}], "users": [{"name": "u", "user": {"token": "t"}}]}))
    try:
        yield fake, KubeClient.connect(str(kubeconfig), "fake")
    finally:
        server.shutdown()
        server.server_close()


def labeled(kind: str, api_version: str, name: str, namespace: str | None, run: str, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {"mtls-conformance/run": run, "app": name}}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, **extra}


DEPLOYMENT_SPEC = {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": {
    "metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "docker.io/istio/pilot:1.30.4"}]}}}


def test_server_version(api: tuple[FakeApi, KubeClient]) -> None:
    assert api[1].server_version() == "v1.34.0"


def test_server_side_apply_in_order_with_our_field_manager(api: tuple[FakeApi, KubeClient]) -> None:
    fake, kube = api
    objects = [labeled("Namespace", "v1", "foo", None, "r1"), labeled("ServiceAccount", "v1", "web", "foo", "r1"),
               labeled("Deployment", "apps/v1", "web", "foo", "r1", spec=DEPLOYMENT_SPEC),
               labeled("PeerAuthentication", "security.istio.io/v1", "default", "istio-system", "r1", spec={"mtls": {"mode": "STRICT"}})]
    refs = kube.apply(objects)
    assert refs == [ObjectRef("v1", "Namespace", "foo", None), ObjectRef("v1", "ServiceAccount", "web", "foo"),
                    ObjectRef("apps/v1", "Deployment", "web", "foo"), ObjectRef("security.istio.io/v1", "PeerAuthentication", "default", "istio-system")]
    patches = [r for r in fake.requests if r[0] == "PATCH"]
    assert [p[1] for p in patches] == ["/api/v1/namespaces/foo", "/api/v1/namespaces/foo/serviceaccounts/web",
                                       "/apis/apps/v1/namespaces/foo/deployments/web",
                                       "/apis/security.istio.io/v1/namespaces/istio-system/peerauthentications/default"]
    assert all(p[2] == "application/apply-patch+yaml" for p in patches)
    assert ("peerauthentications", "istio-system", "default") in fake.store
    assert kube.deployment_images("foo", "web") == ["docker.io/istio/pilot:1.30.4"]
    assert kube.deployment_images("foo", "missing") == []


def test_field_manager_and_force_are_sent(api: tuple[FakeApi, KubeClient]) -> None:
    fake, kube = api
    kube.apply([labeled("Namespace", "v1", "bar", None, "r1")])
    (query,) = fake.patch_queries
    assert query["fieldManager"] == ["mtls-conformance"] and query["force"] == ["true"]


def test_rollout_wait_watches_until_available(api: tuple[FakeApi, KubeClient]) -> None:
    fake, kube = api
    kube.apply([labeled("Namespace", "v1", "foo", None, "r1"), labeled("Deployment", "apps/v1", "web", "foo", "r1", spec=DEPLOYMENT_SPEC)])
    assert not kube.deployment_ready("foo", "web")
    kube.wait_rollouts(["foo"], "mtls-conformance/run=r1", timeout_s=5)
    assert kube.deployment_ready("foo", "web")
    watches = [r for r in fake.requests if r[1] == "/apis/apps/v1/namespaces/foo/deployments" and r[0] == "GET"]
    assert len(watches) == 2  # one list, one watch


def test_rollout_wait_times_out_with_a_hint(api: tuple[FakeApi, KubeClient]) -> None:
    fake, kube = api
    fake.rollout_done_on_watch = False
    kube.apply([labeled("Deployment", "apps/v1", "web", "foo", "r1", spec=DEPLOYMENT_SPEC)])
    with pytest.raises(WaitTimeout, match="rollout of web in namespace foo"):
        kube.wait_rollouts(["foo"], "mtls-conformance/run=r1", timeout_s=1)


def test_delete_by_run_label_spares_other_runs_and_waits_for_namespaces(api: tuple[FakeApi, KubeClient]) -> None:
    fake, kube = api
    kube.apply([labeled("Namespace", "v1", "foo", None, "r1"), labeled("Namespace", "v1", "keep", None, "other"),
                labeled("Service", "v1", "web", "foo", "r1", spec={"ports": [{"port": 80}]}),
                labeled("PeerAuthentication", "security.istio.io/v1", "default", "istio-system", "r1", spec={}),
                labeled("PeerAuthentication", "security.istio.io/v1", "theirs", "istio-system", "other", spec={})])
    deleted = kube.delete_labeled("mtls-conformance/run=r1", timeout_s=5)
    assert [d.kind for d in deleted] == ["PeerAuthentication", "Service", "Namespace"]  # namespaces last
    assert set(fake.store) == {("namespaces", "", "keep"), ("peerauthentications", "istio-system", "theirs")}
    assert [r for r in fake.requests if r[0] == "GET" and r[1] == "/api/v1/namespaces"][-1]  # the watch ran


def test_delete_refs_tolerates_missing(api: tuple[FakeApi, KubeClient]) -> None:
    fake, kube = api
    kube.apply([labeled("ConfigMap", "v1", "a", "foo", "r1", data={"k": "v"})])
    kube.delete([ObjectRef("v1", "ConfigMap", "a", "foo"), ObjectRef("v1", "ConfigMap", "gone", "foo")])
    assert fake.store == {}


def test_configmap_read_and_patch(api: tuple[FakeApi, KubeClient]) -> None:
    fake, kube = api
    assert kube.get_configmap("istio-system", "istio") is None
    kube.apply([labeled("ConfigMap", "v1", "istio", "istio-system", "r1", data={"mesh": "enableAutoMtls: true\n", "meshNetworks": "{}"})])
    kube.patch_configmap("istio-system", "istio", {"mesh": "enableAutoMtls: false\n"})
    assert kube.get_configmap("istio-system", "istio") == {"mesh": "enableAutoMtls: false\n", "meshNetworks": "{}"}
    assert [r[2] for r in fake.requests if r[0] == "PATCH"][-1] == "application/strategic-merge-patch+json"


def injected_pod(golden: str, name: str, namespace: str, pod_status: dict[str, Any]) -> dict[str, Any]:
    """A sidecar pod as the injector writes it (its golden file), scheduled, named and labelled app=web, with a status."""
    from test_executor_pod_shapes import golden_pod  # here, not at the top: that module imports this one

    pod = copy.deepcopy(golden_pod(golden))
    pod["metadata"].update(name=name, namespace=namespace)
    pod["metadata"].setdefault("labels", {})["app"] = "web"
    pod["spec"]["nodeName"] = "worker"
    pod["status"] = pod_status
    return pod


def test_pods_reports_running_pods_with_their_containers(api: tuple[FakeApi, KubeClient]) -> None:
    from test_executor_pod_shapes import cstatus, status

    fake, kube = api
    # the classic shape (istio-proxy in spec.containers): native-sidecar-opt-out.yaml.injected
    running = status(True, [cstatus("istio-init", False, "completed")], [cstatus("hello", True), cstatus("istio-proxy", True)])
    pod = injected_pod("native-sidecar-opt-out.yaml.injected", "web-1", "foo", {**running, "podIP": "10.244.1.5"})
    pod["spec"]["ephemeralContainers"] = [{"name": "mtlsc-capture", "image": "z"}]
    # a pod the scheduler placed whose containers have not started (PodStatus: phase Pending, PodScheduled only)
    pending = injected_pod("native-sidecar-opt-out.yaml.injected", "web-2", "foo",
                           {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}], "qosClass": "Burstable"})
    fake.store[("pods", "foo", "web-1")] = pod
    fake.store[("pods", "foo", "web-2")] = pending
    (found,) = kube.pods("foo", "app=web")
    assert (found.name, found.ip, found.node, found.ready, found.has_sidecar) == ("web-1", "10.244.1.5", "worker", True, True)
    assert found.ephemeral_containers == ("mtlsc-capture",)
    assert kube.pods("foo", "app=other") == []


def test_restart_deployment_patches_the_pod_template(api: tuple[FakeApi, KubeClient]) -> None:
    fake, kube = api
    kube.apply([labeled("Deployment", "apps/v1", "istiod", "istio-system", "r1", spec=DEPLOYMENT_SPEC)])
    kube.restart_deployment("istio-system", "istiod")
    method, path, content_type = fake.requests[-1]
    assert (method, path, content_type) == ("PATCH", "/apis/apps/v1/namespaces/istio-system/deployments/istiod",
                                            "application/strategic-merge-patch+json")
    annotations = fake.store[("deployments", "istio-system", "istiod")]["spec"]["template"]["metadata"]["annotations"]
    assert "kubectl.kubernetes.io/restartedAt" in annotations


def test_an_existing_object_without_our_label_is_never_taken_over(api: tuple[FakeApi, KubeClient]) -> None:
    from mtls_conformance.executor.errors import HarnessError

    fake, kube = api
    theirs = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "payments", "labels": {"team": "pay"}}}
    fake.store[("namespaces", "", "payments")] = theirs
    with pytest.raises(HarnessError, match="Namespace payments: exists and was not created by mtls-conformance"):
        kube.apply([labeled("Namespace", "v1", "payments", None, "r1")])
    assert fake.store[("namespaces", "", "payments")]["metadata"]["labels"] == {"team": "pay"}
    assert not [r for r in fake.requests if r[0] == "PATCH"]
    # a leftover of an earlier run of the suite (another run id) is ours to reuse
    fake.store[("namespaces", "", "stale")] = labeled("Namespace", "v1", "stale", None, "r0")
    assert kube.apply([labeled("Namespace", "v1", "stale", None, "r1")]) == [ObjectRef("v1", "Namespace", "stale", None)]
    # every namespace's `default` ServiceAccount (a scenario may name it) is Kubernetes' own and harmless to label
    fake.store[("serviceaccounts", "stale", "default")] = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}
    assert kube.apply([labeled("ServiceAccount", "v1", "default", "stale", "r1")])


def test_debug_container_is_added_by_strategic_merge_and_awaited_running(api: tuple[FakeApi, KubeClient]) -> None:
    from test_executor_pod_shapes import cstatus, status

    from mtls_conformance.executor.capture import CAPTURE_IMAGE, DEBUG_CONTAINER
    from mtls_conformance.executor.kube import PodInfo

    fake, kube = api
    fake.store[("pods", "foo", "web-1")] = injected_pod("native-sidecar.yaml.injected", "web-1", "foo", status(
        True, [cstatus("istio-init", False, "completed"), cstatus("istio-proxy", True), cstatus("other-sidecar", True)],
        [cstatus("hello", True)]))
    pod = PodInfo("web-1", "foo", "10.0.0.1", "worker", {}, ("web",))
    kube.ensure_debug_container(pod, DEBUG_CONTAINER, CAPTURE_IMAGE, timeout_s=5)
    (path, body), = fake.patch_bodies
    assert path == "/api/v1/namespaces/foo/pods/web-1/ephemeralcontainers"
    (container,) = body["spec"]["ephemeralContainers"]
    assert container["name"] == DEBUG_CONTAINER and container["image"] == CAPTURE_IMAGE
    assert container["securityContext"] == {"capabilities": {"add": ["NET_RAW", "NET_ADMIN"]}}
    watch = [q for p, q in fake.get_queries if p == "/api/v1/namespaces/foo/pods" and q.get("watch")]
    assert watch and watch[0]["fieldSelector"] == ["metadata.name=web-1"] and watch[0]["timeoutSeconds"] == ["5"]


def test_namespace_watch_starts_where_the_list_ended_and_is_bounded(api: tuple[FakeApi, KubeClient]) -> None:
    fake, kube = api
    kube.apply([labeled("Namespace", "v1", "foo", None, "r1")])
    kube.delete_labeled("mtls-conformance/run=r1", timeout_s=0.2)
    (watch,) = [q for p, q in fake.get_queries if p == "/api/v1/namespaces" and q.get("watch")]
    assert watch["resourceVersion"] == [str(fake.version)]
    assert watch["timeoutSeconds"] == ["1"]  # never 0: that would mean the server's default (up to an hour)


def test_an_api_server_that_never_answers_is_a_bounded_error(tmp_path: Path) -> None:
    import socket
    import time

    from urllib3.exceptions import HTTPError

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections, never answers
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "fake",
        "clusters": [{"name": "fake", "cluster": {"server": f"http://127.0.0.1:{silent.getsockname()[1]}"}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "u"}}], "users": [{"name": "u", "user": {"token": "t"}}]}))
    try:
        kube = KubeClient.connect(str(kubeconfig), "fake", request_timeout_s=1)
        start = time.monotonic()
        with pytest.raises(HTTPError):
            kube.get_configmap("istio-system", "istio")
        assert time.monotonic() - start < 5
    finally:
        silent.close()


def test_a_namespace_still_terminating_from_an_earlier_phase_is_awaited_before_reuse(api: tuple[FakeApi, KubeClient]) -> None:
    fake, kube = api
    old = labeled("Namespace", "v1", "foo", None, "r1")
    old["metadata"]["deletionTimestamp"] = "2026-11-26T00:00:00Z"
    old["status"] = {"phase": "Terminating"}  # the fake's watch reports it DELETED
    fake.store[("namespaces", "", "foo")] = old
    kube.apply([labeled("Namespace", "v1", "foo", None, "r1")])
    watch = [q for p, q in fake.get_queries if p == "/api/v1/namespaces" and q.get("watch")]
    assert watch and watch[0]["fieldSelector"] == ["metadata.name=foo"]
    assert "deletionTimestamp" not in fake.store[("namespaces", "", "foo")]["metadata"]  # applied anew after it was gone


def test_a_refused_debug_container_is_a_harness_error(api: tuple[FakeApi, KubeClient]) -> None:
    from mtls_conformance.executor.errors import HarnessError
    from mtls_conformance.executor.kube import PodInfo

    _, kube = api  # the pod does not exist in the fake: the subresource answers 404
    with pytest.raises(HarnessError, match="debug container mtlsc-capture in foo/ghost: refused: HTTP 404"):
        kube.ensure_debug_container(PodInfo("ghost", "foo", "", "", {}, ("web",)), "mtlsc-capture", "img", timeout_s=2)


def test_error_bodies_are_complete_status_objects(api: tuple[FakeApi, KubeClient]) -> None:
    """The fake's errors carry every field of v1.Status, and the real client reads them as the API server's."""
    from kubernetes.client.exceptions import ApiException

    _, kube = api
    with pytest.raises(ApiException) as err:
        kube.core.read_namespaced_config_map("istio", "istio-system")
    body = json.loads(err.value.body or "{}")
    assert list(body) == ["kind", "apiVersion", "metadata", "status", "message", "reason", "details", "code"]
    assert (err.value.status, body["status"], body["reason"], body["message"]) == (404, "Failure", "NotFound", 'configmaps "istio" not found')
    assert body["details"] == {"name": "istio", "kind": "configmaps"}
    assert not_found("peerauthentications", "default")["message"] == 'peerauthentications.security.istio.io "default" not found'
    for refused in (unsupported_media_type(["application/apply-patch+yaml"]), failure(400, "BadRequest", "x")):
        assert {"kind", "apiVersion", "metadata", "status", "message", "reason", "code"} <= set(refused)
