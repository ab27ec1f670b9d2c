"""A thin typed wrapper over the official ``kubernetes`` client (kr8s-like ergonomics).

Only what the harness needs: server-side apply, delete by run label, rollout waits with watches, exec through the stream
API, ephemeral debug containers, logs, and Envoy admin access through ``pilot-agent request`` in istio-proxy.
Every wait is bounded. The session talks to this through the ``Kube`` protocol so it can be tested with a fake.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from mtls_conformance.plan.render import RUN_LABEL

FIELD_MANAGER = "mtls-conformance"
# Patch bodies here are partial objects: say so explicitly (the client picks JSON Patch first and only rewrites it to a
# strategic merge patch for non-list bodies as a fallback in rest.py).
STRATEGIC_MERGE = "application/strategic-merge-patch+json"
PROXY_CONTAINER = "istio-proxy"  # the injected proxy's name, classic or native
__all__ = ["FIELD_MANAGER", "PROXY_CONTAINER", "RUN_LABEL", "ExecResult", "Kube", "KubeClient", "ObjectRef", "PodInfo", "envoy_admin",
           "pod_info"]

# Kinds the harness creates, deleted by run label in this order (namespaces last: deleting them removes the rest).
CLEANUP_KINDS: tuple[tuple[str, str], ...] = (
    ("security.istio.io/v1", "AuthorizationPolicy"),
    ("security.istio.io/v1", "PeerAuthentication"),
    ("networking.istio.io/v1", "DestinationRule"),
    ("apps/v1", "Deployment"),
    ("v1", "Service"),
    ("v1", "ServiceAccount"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "Namespace"),
)


@dataclass(frozen=True)
class ObjectRef:
    api_version: str
    kind: str
    name: str
    namespace: str | None

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"

    @staticmethod
    def of(obj: Mapping[str, Any]) -> ObjectRef:
        meta = obj.get("metadata") or {}
        return ObjectRef(str(obj["apiVersion"]), str(obj["kind"]), str(meta["name"]), meta.get("namespace"))


@dataclass(frozen=True)
class PodInfo:
    name: str
    namespace: str
    ip: str
    node: str
    labels: Mapping[str, str] = field(default_factory=dict)
    containers: tuple[str, ...] = ()
    ephemeral_containers: tuple[str, ...] = ()
    ready: bool = False
    # native sidecars (init containers with restartPolicy Always); also in ``containers``, after the regular ones
    restartable_init_containers: tuple[str, ...] = ()

    @property
    def has_sidecar(self) -> bool:
        """An Istio sidecar, classic (in spec.containers) or native (a restartable init container)."""
        return PROXY_CONTAINER in self.containers

    @property
    def app_containers(self) -> tuple[str, ...]:
        """The regular containers other than istio-proxy, in spec order: where a probe from this pod runs."""
        return tuple(c for c in self.containers if c != PROXY_CONTAINER and c not in self.restartable_init_containers)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class ExecResult:
    stdout: str
    stderr: str
    exit_code: int | None  # None: the exec transport failed (inconclusive, retry)
    transport_error: str = ""


class Kube(Protocol):
    """What the session needs from a cluster. ``KubeClient`` is the real one; tests pass a fake."""

    def server_version(self) -> str: ...
    def apply(self, objects: Sequence[Mapping[str, Any]]) -> list[ObjectRef]: ...
    def delete(self, refs: Sequence[ObjectRef]) -> None: ...
    def delete_labeled(self, label_selector: str, timeout_s: float) -> list[ObjectRef]: ...
    def list_labeled(self, label_selector: str) -> list[ObjectRef]: ...
    def wait_rollouts(self, namespaces: Sequence[str], label_selector: str, timeout_s: float) -> None: ...
    def pods(self, namespace: str, label_selector: str = "") -> list[PodInfo]: ...
    def exec(self, pod: PodInfo, container: str, command: Sequence[str], timeout_s: float) -> ExecResult: ...
    def ensure_debug_container(self, pod: PodInfo, name: str, image: str, timeout_s: float) -> None: ...
    def logs(self, pod: PodInfo, container: str, tail_lines: int = 2000) -> str: ...
    def get_configmap(self, namespace: str, name: str) -> dict[str, str] | None: ...
    def patch_configmap(self, namespace: str, name: str, data: Mapping[str, str]) -> None: ...
    def deployment_ready(self, namespace: str, name: str) -> bool: ...
    def deployment_images(self, namespace: str, name: str) -> list[str]: ...
    def restart_deployment(self, namespace: str, name: str) -> None: ...


def pod_info(pod: Mapping[str, Any]) -> PodInfo:
    """A pod in the API's JSON form (camelCase, as the API server returns it) as the harness sees it.

    ``containers`` is what can be exec'd into: the regular containers, then the restartable init containers (an init
    container with ``restartPolicy: Always`` is a Kubernetes native sidecar; it keeps running beside the app). Since
    Istio 1.27 on Kubernetes >= 1.33 the injector puts istio-proxy there (ENABLE_NATIVE_SIDECARS=auto) instead of in
    ``spec.containers``. Ordinary init containers (istio-init) have run to completion and are left out.

    Whether the pod has a sidecar is read from the spec, not from the injector's ``sidecar.istio.io/status`` annotation:
    the spec is what the kubelet runs and what exec and logs address by name, while the annotation is a record of the
    injection that any client can write or copy (a pod template copied from an injected pod carries it) and does not
    say the container is there. For an injected pod both agree (tests/test_executor_pod_shapes.py checks it).

    ``ready`` is the pod's Ready condition: the kubelet sets it True only when every regular container and every
    restartable init container is ready (kubernetes pkg/kubelet/status/generate.go, GenerateContainersReadyCondition),
    so it covers a native istio-proxy, whose status is in ``initContainerStatuses``, not ``containerStatuses``.
    """
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}

    def names(containers: Any) -> tuple[str, ...]:
        return tuple(str(c["name"]) for c in containers or [] if c.get("name"))

    restartable = names(c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always")
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    return PodInfo(name=str(meta.get("name") or ""), namespace=str(meta.get("namespace") or ""), ip=str(status.get("podIP") or ""),
                   node=str(spec.get("nodeName") or ""), labels={str(k): str(v) for k, v in (meta.get("labels") or {}).items()},
                   containers=names(spec.get("containers")) + restartable,
                   ephemeral_containers=names(spec.get("ephemeralContainers")),
                   ready=conditions.get("Ready") == "True", restartable_init_containers=restartable)


def envoy_admin(kube: Kube, pod: PodInfo, path: str, timeout_s: float) -> ExecResult:
    """GET an Envoy admin path (config_dump, stats/prometheus, certs) through istio-proxy's pilot-agent."""
    return kube.exec(pod, "istio-proxy", ["pilot-agent", "request", "GET", path], timeout_s)


def _new_watch() -> Any:
    from kubernetes import watch

    factory: Any = watch.Watch  # untyped in the client
    return factory()


def _deployment_done(obj: Any) -> bool:
    spec, status = obj.spec, obj.status
    want = spec.replicas if spec.replicas is not None else 1
    return bool(
        status is not None
        and (status.observed_generation or 0) >= (obj.metadata.generation or 0)
        and (status.updated_replicas or 0) == want
        and (status.available_replicas or 0) == want
        and (status.replicas or 0) == want  # no old replicas left
    )


class KubeClient:
    """The real cluster, through the official client. Construct with ``KubeClient.connect``."""

    def __init__(self, api_client: Any, request_timeout_s: float = 30.0, namespace_finalize_timeout_s: float = 300.0) -> None:
        # The client's models type every field as optional; this wrapper checks what it reads, so treat them as Any.
        self.api_client: Any = api_client
        self.request_timeout_s = request_timeout_s
        self.namespace_finalize_timeout_s = namespace_finalize_timeout_s
        self._core: Any = None
        self._apps: Any = None
        self._dynamic: Any = None

    # The API classes import thousands of models on first use (seconds): made lazily, so a quick reachability check
    # (server_version) does not pay for them.
    @property
    def core(self) -> Any:
        if self._core is None:
            from kubernetes import client

            self._core = client.CoreV1Api(self.api_client)
        return self._core

    @property
    def apps(self) -> Any:
        if self._apps is None:
            from kubernetes import client

            self._apps = client.AppsV1Api(self.api_client)
        return self._apps

    @property
    def dynamic(self) -> Any:
        """The dynamic client, made on first use: making it runs API discovery, a round trip to the server."""
        if self._dynamic is None:
            from kubernetes import dynamic

            dynamic_client: Any = dynamic.DynamicClient  # untyped in the client
            self._dynamic = dynamic_client(self.api_client)
        return self._dynamic

    @staticmethod
    def connect(kubeconfig: str | None, context: str | None, request_timeout_s: float | None = None) -> KubeClient:
        from kubernetes import client, config

        configuration = client.Configuration()
        load: Any = config.load_kube_config  # untyped in the client
        load(config_file=kubeconfig, context=context, client_configuration=configuration, persist_config=False)
        if request_timeout_s is not None:
            # urllib3 retries would multiply a short availability check; one attempt is enough to decide.
            configuration.retries = False
        return KubeClient(client.ApiClient(configuration), request_timeout_s or 30.0)

    def server_version(self) -> str:
        from kubernetes import client

        info = client.VersionApi(self.api_client).get_code(_request_timeout=self.request_timeout_s)
        return str(info.git_version)

    def _watch_bounds(self, timeout_s: float) -> dict[str, Any]:
        """A watch ends server-side after timeout_s (at least 1 s: 0 would mean the server's default, up to an hour), and
        client-side when a read waits longer than that plus a margin (a dead connection would otherwise block forever)."""
        seconds = max(1, math.ceil(timeout_s))
        return {"timeout_seconds": seconds, "_request_timeout": (self.request_timeout_s, seconds + self.request_timeout_s)}

    # --- apply and delete ----------------------------------------------------------------------------------------
    def _resource(self, api_version: str, kind: str) -> Any:
        return self.dynamic.resources.get(api_version=api_version, kind=kind)

    def apply(self, objects: Sequence[Mapping[str, Any]]) -> list[ObjectRef]:
        """Server-side apply in the given order (namespaces first). Conflicts are forced: this run owns these fields.

        An object that already exists without a run label of this suite is refused: applying would put our label on it,
        and cleanup by label would then delete it (someone's namespace with all its workloads, their `cacerts`, their
        mesh-wide PeerAuthentication).
        """
        applied: list[ObjectRef] = []
        for obj in objects:
            ref = ObjectRef.of(obj)
            resource = self._resource(ref.api_version, ref.kind)
            self._refuse_foreign(resource, ref)
            resource.server_side_apply(body=dict(obj), name=ref.name, namespace=ref.namespace, field_manager=FIELD_MANAGER,
                                       force_conflicts=True, _request_timeout=self.request_timeout_s)
            applied.append(ref)
        return applied

    def _refuse_foreign(self, resource: Any, ref: ObjectRef) -> None:
        from kubernetes.dynamic.exceptions import NotFoundError

        from mtls_conformance.executor.errors import HarnessError

        if (ref.kind, ref.name) == ("ServiceAccount", "default"):
            return  # made by Kubernetes in every namespace, and remade at once if cleanup deletes it
        try:
            existing = resource.get(name=ref.name, namespace=ref.namespace, _request_timeout=self.request_timeout_s)
        except NotFoundError:
            return
        meta = existing.to_dict().get("metadata") or {}
        if RUN_LABEL not in (meta.get("labels") or {}):
            raise HarnessError(str(ref), f"exists and was not created by mtls-conformance (no {RUN_LABEL} label); applying "
                               "would label it and cleanup would delete it",
                               "rename it in the scenario, or remove the existing object yourself if it is disposable")
        if ref.kind == "Namespace" and meta.get("deletionTimestamp"):
            # An earlier phase pruned it and it is still finalizing: nothing could be created in it until it is gone.
            self._await_namespace_gone(ref.name, self.namespace_finalize_timeout_s)

    def _await_namespace_gone(self, name: str, timeout_s: float) -> None:
        from mtls_conformance.executor.errors import WaitTimeout

        selector = f"metadata.name={name}"
        listed = self.core.list_namespace(field_selector=selector, _request_timeout=self.request_timeout_s)
        if not listed.items:
            return
        w = _new_watch()
        for event in w.stream(self.core.list_namespace, field_selector=selector,
                              resource_version=listed.metadata.resource_version, **self._watch_bounds(timeout_s)):
            if event["type"] == "DELETED":
                w.stop()
                return
        raise WaitTimeout(f"namespace {name} to finish terminating", timeout_s,
                          f"check `kubectl get ns {name} -o yaml` for stuck finalizers")

    def delete(self, refs: Sequence[ObjectRef]) -> None:
        """Delete these objects (not found is fine), without waiting for namespaces to finalize."""
        from kubernetes.dynamic.exceptions import NotFoundError

        for ref in refs:
            try:
                self._resource(ref.api_version, ref.kind).delete(name=ref.name, namespace=ref.namespace,
                                                                 _request_timeout=self.request_timeout_s)
            except NotFoundError:
                continue

    def list_labeled(self, label_selector: str) -> list[ObjectRef]:
        """Every object of the kinds we create that carries the label (whichever process created it)."""
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        found: list[ObjectRef] = []
        for api_version, kind in CLEANUP_KINDS:
            try:
                resource = self._resource(api_version, kind)
            except ResourceNotFoundError:
                continue
            found += [ObjectRef(api_version, kind, i.metadata.name, i.metadata.namespace)
                      for i in resource.get(label_selector=label_selector, _request_timeout=self.request_timeout_s).items]
        return found

    def delete_labeled(self, label_selector: str, timeout_s: float) -> list[ObjectRef]:
        from kubernetes.client.exceptions import ApiException
        from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError

        deleted: list[ObjectRef] = []
        for api_version, kind in CLEANUP_KINDS:
            try:
                resource = self._resource(api_version, kind)
            except ResourceNotFoundError:
                continue  # e.g. Istio CRDs already gone
            for item in resource.get(label_selector=label_selector, _request_timeout=self.request_timeout_s).items:
                ref = ObjectRef(api_version, kind, item.metadata.name, item.metadata.namespace)
                try:
                    resource.delete(name=ref.name, namespace=ref.namespace, propagation_policy="Foreground",
                                    _request_timeout=self.request_timeout_s)
                except (NotFoundError, ApiException) as exc:
                    if getattr(exc, "status", None) != 404:
                        raise
                deleted.append(ref)
        # Namespaces finalize asynchronously; watch until ours are gone so the next run starts clean. The watch starts at
        # the list's resourceVersion, so a namespace that finishes in between is not waited for until the timeout.
        listed = self.core.list_namespace(label_selector=label_selector, _request_timeout=self.request_timeout_s)
        remaining = {i.metadata.name for i in listed.items}
        if remaining:
            w = _new_watch()
            for event in w.stream(self.core.list_namespace, label_selector=label_selector,
                                  resource_version=listed.metadata.resource_version, **self._watch_bounds(timeout_s)):
                if event["type"] == "DELETED":
                    remaining.discard(event["object"].metadata.name)
                if not remaining:
                    w.stop()
        return deleted

    # --- rollouts and pods ----------------------------------------------------------------------------------------
    def wait_rollouts(self, namespaces: Sequence[str], label_selector: str, timeout_s: float) -> None:
        from mtls_conformance.executor.errors import WaitTimeout

        for ns in namespaces:
            listed = self.apps.list_namespaced_deployment(ns, label_selector=label_selector, _request_timeout=self.request_timeout_s)
            pending = {d.metadata.name for d in listed.items if not _deployment_done(d)}
            if not pending:
                continue
            w = _new_watch()
            for event in w.stream(self.apps.list_namespaced_deployment, ns, label_selector=label_selector,
                                  resource_version=listed.metadata.resource_version, **self._watch_bounds(timeout_s)):
                obj = event["object"]
                if _deployment_done(obj):
                    pending.discard(obj.metadata.name)
                if not pending:
                    w.stop()
            if pending:
                raise WaitTimeout(f"rollout of {', '.join(sorted(pending))} in namespace {ns}", timeout_s,
                                  "check `kubectl -n " + ns + " get pods` for ImagePullBackOff or Pending pods")

    def pods(self, namespace: str, label_selector: str = "") -> list[PodInfo]:
        found = []
        for p in self.core.list_namespaced_pod(namespace, label_selector=label_selector,
                                                 _request_timeout=self.request_timeout_s).items:
            if p.metadata.deletion_timestamp is not None or p.status.phase != "Running":
                continue
            # back to the API's JSON form (camelCase keys) for the pure parser; V1Container keeps restartPolicy
            found.append(pod_info(self.api_client.sanitize_for_serialization(p)))
        return found

    def deployment_ready(self, namespace: str, name: str) -> bool:
        from kubernetes.client.exceptions import ApiException

        try:
            return _deployment_done(self.apps.read_namespaced_deployment(name, namespace, _request_timeout=self.request_timeout_s))
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise

    def deployment_images(self, namespace: str, name: str) -> list[str]:
        from kubernetes.client.exceptions import ApiException

        try:
            deployment = self.apps.read_namespaced_deployment(name, namespace, _request_timeout=self.request_timeout_s)
        except ApiException as exc:
            if exc.status == 404:
                return []
            raise
        return [str(c.image) for c in deployment.spec.template.spec.containers]

    def restart_deployment(self, namespace: str, name: str) -> None:
        """What `kubectl rollout restart` does: a new pod-template annotation, so the Deployment rolls its pods."""
        stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        body = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}}}
        self.apps.patch_namespaced_deployment(name, namespace, body, _content_type=STRATEGIC_MERGE,
                                             _request_timeout=self.request_timeout_s)

    # --- exec, debug containers, logs -----------------------------------------------------------------------------
    def exec(self, pod: PodInfo, container: str, command: Sequence[str], timeout_s: float) -> ExecResult:
        from kubernetes import client
        from kubernetes.stream import stream

        # stream() swaps the ApiClient's call_api for a websocket one while it runs and puts back what it found: two
        # execs at once on a shared client (probes and config dumps run in parallel threads) leave the websocket one in
        # place for every later REST call. So each exec gets its own client on the same configuration.
        api_client: Any = client.ApiClient(self.api_client.configuration)
        try:
            # binary: frames are decoded only once whole, so a UTF-8 character split across two frames stays intact
            # (text mode decodes each frame on its own and would replace both halves).
            ws = stream(client.CoreV1Api(api_client).connect_get_namespaced_pod_exec, pod.name, pod.namespace, container=container,
                        command=list(command), stdin=False, stdout=True, stderr=True, tty=False, _preload_content=False,
                        binary=True)
            try:
                ws.run_forever(timeout=timeout_s)
                finished = not ws.is_open()  # the server closes the stream when the command has exited
                # never block on a channel that stays empty
                out = bytes(ws.read_stdout(timeout=0)).decode("utf-8", "replace")
                err = bytes(ws.read_stderr(timeout=0)).decode("utf-8", "replace")
                code = ws.returncode if finished else None  # parsed from the error channel's status
            finally:
                ws.close()
        except Exception as exc:  # (any transport failure is inconclusive, never a verdict)
            return ExecResult("", "", None, f"{exc.__class__.__name__}: {exc}")
        finally:
            api_client.close()
        if not finished:
            return ExecResult(out, err, None, f"exec did not finish within {timeout_s:g}s")
        return ExecResult(out, err, code)

    def ensure_debug_container(self, pod: PodInfo, name: str, image: str, timeout_s: float) -> None:
        """An idle ephemeral container with NET_RAW/NET_ADMIN in the pod's network namespace (for tcpdump)."""
        from kubernetes.client.exceptions import ApiException

        from mtls_conformance.executor.errors import HarnessError, WaitTimeout

        if name not in pod.ephemeral_containers:
            body = {"spec": {"ephemeralContainers": [{
                "name": name, "image": image, "imagePullPolicy": "IfNotPresent",
                "command": ["sleep", "infinity"],  # idle: captures are started by exec, bounded by their own window
                "securityContext": {"capabilities": {"add": ["NET_RAW", "NET_ADMIN"]}},
            }]}}
            try:
                self.core.patch_namespaced_pod_ephemeralcontainers(pod.name, pod.namespace, body, _content_type=STRATEGIC_MERGE,
                                                                    _request_timeout=self.request_timeout_s)
            except ApiException as exc:  # e.g. a Pod Security "baseline" namespace refuses NET_RAW/NET_ADMIN
                message = str(getattr(exc, "body", "") or exc.reason or "")[:300]
                raise HarnessError(f"debug container {name} in {pod.key}", f"refused: HTTP {exc.status} {message}",
                                   "allow ephemeral containers with NET_RAW/NET_ADMIN in this namespace, or set the capture "
                                   "sample rate to 0") from None
        w = _new_watch()
        for event in w.stream(self.core.list_namespaced_pod, pod.namespace, field_selector=f"metadata.name={pod.name}",
                              **self._watch_bounds(timeout_s)):
            statuses = event["object"].status.ephemeral_container_statuses or []
            if any(s.name == name and s.state and s.state.running for s in statuses):
                w.stop()
                return
        raise WaitTimeout(f"debug container {name} in {pod.key}", timeout_s, f"is the image {image} pullable (kind load)?")

    def logs(self, pod: PodInfo, container: str, tail_lines: int = 2000) -> str:
        from kubernetes.client.exceptions import ApiException

        try:
            return str(self.core.read_namespaced_pod_log(pod.name, pod.namespace, container=container, tail_lines=tail_lines,
                                                         _request_timeout=self.request_timeout_s))
        except ApiException as exc:
            return f"(logs unavailable: HTTP {exc.status} {exc.reason})"

    # --- config maps --------------------------------------------------------------------------------
    def get_configmap(self, namespace: str, name: str) -> dict[str, str] | None:
        from kubernetes.client.exceptions import ApiException

        try:
            return dict(self.core.read_namespaced_config_map(name, namespace, _request_timeout=self.request_timeout_s).data or {})
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def patch_configmap(self, namespace: str, name: str, data: Mapping[str, str]) -> None:
        self.core.patch_namespaced_config_map(name, namespace, {"data": dict(data)}, _content_type=STRATEGIC_MERGE,
                                              _request_timeout=self.request_timeout_s)
