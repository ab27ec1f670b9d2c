"""PodInfo from real pod shapes: classic sidecars, native sidecars (Istio >= 1.27 on Kubernetes >= 1.33) and no sidecar.

The pods are the sidecar injector's own golden files, read at run time from ../shared/istio/inject/ (see
../shared/istio/SOURCES.md): istio/istio ``pkg/kube/inject/testdata/inject/<file>`` at tag 1.30.3
(commit 56df41f63e513f834c9a3af33d8aed82d1d961f2):

- ``native-sidecar.yaml.injected`` (Pod; last changed upstream in 6bdd928edaf): istio-proxy is an entry of
  ``spec.initContainers`` with ``restartPolicy: Always``, beside the pod's own native sidecar ``other-sidecar``.
- ``hello.yaml.injected`` (a Deployment: its pod template; 6bdd928edaf): at 1.30.3 this golden is native too (its
  ``sidecar.istio.io/status`` annotation lists istio-proxy under initContainers).
- ``native-sidecar-opt-out.yaml.injected`` (Pod with ``sidecar.istio.io/nativeSidecar: "false"``; 6bdd928edaf): the
  classic shape, istio-proxy in ``spec.containers``.
- ``hello.yaml``, ``native-sidecar.yaml``, ``native-sidecar-opt-out.yaml``: the same pods before injection.

The goldens carry ``status: {}``. Readiness cases add a status built from the Pod API reference
(https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/#PodStatus: ``conditions``,
``containerStatuses`` "one entry per container in the manifest", ``initContainerStatuses`` "one entry per init container in
the manifest"; ContainerStatus requires name, ready, restartCount, image, imageID) and from the kubelet's rule for the Ready
condition: kubernetes/kubernetes ``pkg/kubelet/status/generate.go`` at 004b6af52532cc7f7aea8a2b05ae44471e4de8dc,
``GenerateContainersReadyCondition`` requires every restartable init container and every regular container to be ready
(ordinary init containers are not counted) and ``GeneratePodReadyCondition`` copies its status, reason and message.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from paths import SHARED
from test_executor_kube_api import (
    FakeApi,
    api,  # noqa: F401  (the fixture: a loopback Kubernetes API behind the real client)
)

from mtls_conformance.executor.kube import KubeClient, PodInfo, pod_info

INJECT = SHARED / "istio" / "inject"


def documents(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((INJECT / name).read_text()) if d is not None]


def golden_pod(name: str) -> dict[str, Any]:
    """The golden's one object as a pod: a Pod as it is, a Deployment as the pod its template makes."""
    (obj,) = documents(name)  # each golden is one object (the files end with a bare `---`)
    if obj["kind"] == "Pod":
        return obj
    assert obj["kind"] == "Deployment", name
    template = obj["spec"]["template"]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {**template["metadata"], "name": obj["metadata"]["name"]},
            "spec": template["spec"], "status": {}}


# file -> (has_sidecar, containers (what can be exec'd into, regular ones first), restartable init containers, app containers)
SHAPES = {
    "native-sidecar.yaml.injected": (True, ("hello", "istio-proxy", "other-sidecar"), ("istio-proxy", "other-sidecar"), ("hello",)),
    "hello.yaml.injected": (True, ("hello", "istio-proxy"), ("istio-proxy",), ("hello",)),
    "native-sidecar-opt-out.yaml.injected": (True, ("hello", "istio-proxy"), (), ("hello",)),
    "native-sidecar.yaml": (False, ("hello", "other-sidecar"), ("other-sidecar",), ("hello",)),
    "hello.yaml": (False, ("hello",), (), ("hello",)),
    "native-sidecar-opt-out.yaml": (False, ("hello",), (), ("hello",)),
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_sidecar_and_containers_of_each_injector_golden(name: str) -> None:
    has_sidecar, containers, restartable, apps = SHAPES[name]
    info = pod_info(golden_pod(name))
    assert (info.has_sidecar, info.containers, info.restartable_init_containers, info.app_containers) == (
        has_sidecar, containers, restartable, apps)
    # istio-init (an ordinary init container: it has run to completion) is never something to exec into
    assert "istio-init" not in info.containers
    # the probe runs in the first app container; regular containers come first, so even "first that is not istio-proxy"
    # (the session's choice today) lands on the app, not on another native sidecar
    assert next(c for c in info.containers if c != "istio-proxy") == "hello"


def test_native_sidecar_pod_is_a_sidecar_pod() -> None:
    """The regression itself: before, only spec.containers was read and this pod read as sidecar-less."""
    info = pod_info(golden_pod("native-sidecar.yaml.injected"))
    assert info.has_sidecar
    assert "istio-proxy" in info.containers


@pytest.mark.parametrize("name", [n for n in sorted(SHAPES) if n.endswith(".injected")])
def test_the_injectors_own_record_agrees(name: str) -> None:
    """``sidecar.istio.io/status`` names where the injector put istio-proxy; the spec reading finds it there."""
    pod = golden_pod(name)
    record = json.loads(pod["metadata"]["annotations"]["sidecar.istio.io/status"])
    info = pod_info(pod)
    native = "istio-proxy" in (record["initContainers"] or [])
    assert native == ("istio-proxy" in info.restartable_init_containers)
    assert native != ("istio-proxy" in (record["containers"] or []))


def status(ready: bool, init: list[dict[str, Any]], regular: list[dict[str, Any]], message: str = "") -> dict[str, Any]:
    """A Running pod's status; the Ready condition as the kubelet derives it (see the module docstring)."""
    ready_condition: dict[str, Any] = {"type": "Ready", "status": "True" if ready else "False"}
    containers_ready = {**ready_condition, "type": "ContainersReady"}
    if not ready:
        for condition in (ready_condition, containers_ready):
            condition.update(reason="ContainersNotReady", message=message)
    return {"phase": "Running", "podIP": "10.244.1.7",
            "conditions": [{"type": "PodReadyToStartContainers", "status": "True"}, {"type": "Initialized", "status": "True"},
                           containers_ready, ready_condition, {"type": "PodScheduled", "status": "True"}],
            "initContainerStatuses": init, "containerStatuses": regular}


def cstatus(name: str, ready: bool, state: str = "running") -> dict[str, Any]:
    states = {"running": {"running": {"startedAt": "2026-12-03T10:00:05Z"}},
              "completed": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": "2026-12-03T10:00:01Z",
                                           "finishedAt": "2026-12-03T10:00:02Z"}}}
    return {"name": name, "ready": ready, "started": state == "running", "restartCount": 0, "state": states[state],
            "image": "registry.istio.io/testing/proxyv2:latest", "imageID": f"sha256:{name}"}


def native_pod(pod_status: dict[str, Any]) -> dict[str, Any]:
    pod = copy.deepcopy(golden_pod("native-sidecar.yaml.injected"))
    pod["metadata"]["namespace"] = "foo"
    pod["spec"]["nodeName"] = "worker"
    pod["status"] = pod_status
    return pod


def test_a_native_sidecar_pod_whose_proxy_is_ready_is_ready() -> None:
    """istio-init has completed (an ordinary init container: not counted), both native sidecars report ready in
    initContainerStatuses, hello in containerStatuses."""
    pod = native_pod(status(True, [cstatus("istio-init", False, "completed"), cstatus("istio-proxy", True),
                                   cstatus("other-sidecar", True)], [cstatus("hello", True)]))
    info = pod_info(pod)
    assert (info.ready, info.ip, info.node, info.namespace) == (True, "10.244.1.7", "worker", "foo")


def test_a_native_sidecar_pod_whose_proxy_is_not_ready_is_not_ready() -> None:
    """Every entry of containerStatuses is ready; istio-proxy, listed only in initContainerStatuses, is not (still
    waiting for its config): the kubelet's Ready condition is False and so is ``ready``."""
    pod = native_pod(status(False, [cstatus("istio-init", True, "completed"), cstatus("istio-proxy", False),
                                    cstatus("other-sidecar", True)], [cstatus("hello", True)],
                            message="containers with unready status: [istio-proxy]"))
    assert all(s["ready"] for s in pod["status"]["containerStatuses"])
    assert not pod_info(pod).ready


def test_a_pod_without_a_ready_condition_is_not_ready() -> None:
    pod = native_pod({"phase": "Running", "podIP": "10.244.1.7"})
    assert not pod_info(pod).ready


def test_a_classic_sidecar_pod_reads_as_before() -> None:
    pod = copy.deepcopy(golden_pod("native-sidecar-opt-out.yaml.injected"))
    pod["status"] = status(True, [cstatus("istio-init", False, "completed")], [cstatus("hello", True), cstatus("istio-proxy", True)])
    info = pod_info(pod)
    assert (info.ready, info.has_sidecar, info.containers, info.restartable_init_containers) == (
        True, True, ("hello", "istio-proxy"), ())


def test_ephemeral_containers_are_listed_apart() -> None:
    pod = native_pod(status(True, [], []))
    pod["spec"]["ephemeralContainers"] = [{"name": "mtlsc-capture", "image": "nicolaka/netshoot"}]
    info = pod_info(pod)
    assert info.ephemeral_containers == ("mtlsc-capture",)
    assert "mtlsc-capture" not in info.containers


def test_hand_built_pod_infos_keep_their_meaning() -> None:
    """Tests elsewhere build PodInfo(..., containers=("curl", "istio-proxy")) by position: the new field is last."""
    info = PodInfo("curl-1", "foo", "10.0.0.1", "w", {}, ("curl", "istio-proxy"), (), True)
    assert (info.has_sidecar, info.app_containers, info.restartable_init_containers) == (True, ("curl",), ())


def test_kube_client_pods_reads_a_native_sidecar_pod_through_the_real_client(api: tuple[FakeApi, KubeClient]) -> None:  # noqa: F811
    """The client turns the JSON into a V1Pod; pods() must not lose initContainers[].restartPolicy on the way back."""
    fake, kube = api
    pod = native_pod(status(True, [cstatus("istio-init", False, "completed"), cstatus("istio-proxy", True),
                                   cstatus("other-sidecar", True)], [cstatus("hello", True)]))
    pod["metadata"]["labels"]["app"] = "hello"
    fake.store[("pods", "foo", "hello")] = pod
    (found,) = kube.pods("foo", "app=hello")
    assert (found.name, found.ready, found.has_sidecar, found.containers, found.app_containers) == (
        "hello", True, True, ("hello", "istio-proxy", "other-sidecar"), ("hello",))


def test_the_goldens_are_where_sources_says() -> None:
    sources = (SHARED / "istio" / "SOURCES.md").read_text()
    for name in SHAPES:
        assert f"pkg/kube/inject/testdata/inject/{name}" in sources
        assert Path(INJECT / name).is_file()
