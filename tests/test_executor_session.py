"""Session orchestration with fake Kubernetes objects: apply, prune, probes, convergence, evidence, cleanup by label.

What the fakes answer is built from real artefacts, read from ../shared at run time (provenance: ../shared/istio/SOURCES.md):

- pods: ``pod_info()`` (the harness's own parser) on the pod the cluster would run for each rendered Deployment: the
  template as rendered, plus what Istio's injector adds, taken from its golden files in ../shared/istio/inject/
  (istio/istio pkg/kube/inject/testdata/inject at tag 1.30.3, commit 56df41f63e51): ``hello.yaml.injected`` minus
  ``hello.yaml`` (native sidecar: istio-proxy a restartable init container; the injector's default on Kubernetes
  >= 1.33, and these sessions report v1.34.0) or ``native-sidecar-opt-out.yaml.injected`` minus
  ``native-sidecar-opt-out.yaml`` (classic: istio-proxy in spec.containers). Injection happens where the namespace
  has ``istio-injection=enabled`` and the pod is not labelled ``sidecar.istio.io/inject: "false"``
  (https://istio.io/latest/docs/setup/additional-setup/sidecar-injection/). The goldens carry ``status: {}``; the
  status added (podIP, the Ready condition) follows the Pod API reference
  (https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/#PodStatus).
- istiod's pod: the istiod chart's pod template (labels ``app: istiod``, ``istio: pilot``; one container
  ``discovery``): istio/istio manifests/charts/istio-control/istio-discovery/templates/deployment.yaml
  @ 0000f4bfab59c582f3e093b4b650dad214170896.
- config dumps: ../shared/istio/proxy-artifacts/envoy-config_dump/ (``describe-http_config``: CDS/LDS/RDS,
  ``endpoints``: EDS), joined into one ``configs`` list as ``config_dump?include_eds=true`` answers (DERIVED: the join).
- ``/stats/prometheus``: ../shared/istio/proxy-artifacts/prometheus/ (DataDog/integrations-core
  istio/tests/fixtures/1.5/istio-proxy.txt @ 4ddecaccd8d5, head and tail excerpts) with ``istio_requests_total``
  series written in the tail's own label set (Istio's standard metrics share one label set:
  https://istio.io/latest/docs/reference/config/metrics/); DERIVED: the series and their values.
- tool output: ``docker version --format {{.Server.Version}}`` prints the bare server version
  (https://docs.docker.com/reference/cli/docker/version/); ``helm version --template {{.Version}}`` prints e.g.
  ``v3.19.2`` (https://helm.sh/docs/helm/helm_version/).
- label selectors: Kubernetes equality-based selectors, comma = and
  (https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors), through
  tests/support/fake_cluster.py ``matches_selector``.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import io
import json
import os
import re
import signal
import struct
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from paths import SHARED
from support.fake_cluster import matches_selector
from test_executor_fakes import FakeClock, FakeDownloader, FakeKube, FakeRunner
from test_executor_pod_shapes import golden_pod

from mtls_conformance.engine import expect_all
from mtls_conformance.engine.model import Expectation
from mtls_conformance.executor.errors import HarnessError
from mtls_conformance.executor.istio import IstioInstaller
from mtls_conformance.executor.kind import KindCluster
from mtls_conformance.executor.kube import ExecResult, ObjectRef, PodInfo, pod_info
from mtls_conformance.executor.session import CONFIG_DUMP_WITH_EDS, MeshSession, SessionOptions, cluster_available
from mtls_conformance.executor.tools import Platform, Toolbox
from mtls_conformance.observe.model import ProbeObservation
from mtls_conformance.outcomes import ProbeOutcome
from mtls_conformance.plan import build_plan
from mtls_conformance.plan.model import Phase
from mtls_conformance.plan.render import RUN_LABEL, SCOPE_LABEL, render_scenario
from mtls_conformance.scenario.model import Scenario
from mtls_conformance.timing import Timing
from mtls_conformance.verdict import Status, judge
from mtls_conformance.versions import catalog, parse_version, resolve_version

ROOT = Path(__file__).resolve().parents[1]
RUN = "test-run-1"


@pytest.fixture(scope="module")
def phases() -> tuple[Phase, ...]:
    return build_plan("smoke", resolve_version("1.30")).phases


NATIVE = "hello.yaml.injected"  # Istio 1.30.3's injector output: istio-proxy a restartable init container
CLASSIC = "native-sidecar-opt-out.yaml.injected"  # the same injector with sidecar.istio.io/nativeSidecar: "false"
ENVOY_DUMPS = SHARED / "istio" / "proxy-artifacts" / "envoy-config_dump"
PROMETHEUS = SHARED / "istio" / "proxy-artifacts" / "prometheus"


def running(pod: dict[str, Any], name: str, namespace: str, ip: str, node: str = "worker") -> dict[str, Any]:
    """``pod`` scheduled, named and Ready: the PodStatus fields the harness reads (podIP, the Ready condition)."""
    pod["metadata"] = {**pod.get("metadata", {}), "name": name, "namespace": namespace}
    pod["spec"] = {**pod["spec"], "nodeName": node}
    pod["status"] = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                     "conditions": [{"type": "Initialized", "status": "True"}, {"type": "ContainersReady", "status": "True"},
                                    {"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}]}
    return pod


def injected(template: Mapping[str, Any], golden: str = NATIVE) -> dict[str, Any]:
    """The pod the injector makes of ``template``: whatever the golden's injection added to its input (containers,
    init containers, volumes, labels, annotations) added to ours, our containers where the golden's app container was."""
    before, after = golden_pod(golden.removesuffix(".injected")), golden_pod(golden)
    spec, meta = copy.deepcopy(dict(template["spec"])), copy.deepcopy(dict(template["metadata"]))
    app_names = {c["name"] for c in before["spec"]["containers"]}
    containers: list[dict[str, Any]] = []
    placed = False
    for c in after["spec"]["containers"]:
        if c["name"] not in app_names:
            containers.append(copy.deepcopy(c))
        elif not placed:
            containers.extend(spec["containers"])
            placed = True
    spec["containers"] = containers

    def added(field: str) -> list[dict[str, Any]]:
        had = {x["name"] for x in before["spec"].get(field) or []}
        return [copy.deepcopy(x) for x in after["spec"].get(field) or [] if x["name"] not in had]

    spec["initContainers"] = [*(spec.get("initContainers") or []), *added("initContainers")]
    spec["volumes"] = [*(spec.get("volumes") or []), *added("volumes")]
    labels = dict(meta.get("labels") or {})
    for k, v in (after["metadata"].get("labels") or {}).items():
        if k not in (before["metadata"].get("labels") or {}) and k not in labels:
            labels[k] = labels.get("app", v) if k == "service.istio.io/canonical-name" else v  # from the app label
    annotations = dict(meta.get("annotations") or {})
    for k, v in (after["metadata"].get("annotations") or {}).items():
        if k not in (before["metadata"].get("annotations") or {}):
            annotations.setdefault(k, v)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {**meta, "labels": labels, "annotations": annotations}, "spec": spec}


def pod_objects(scenario: Scenario, shape: str = NATIVE, subnet: str = "10.0.0") -> dict[str, list[dict[str, Any]]]:
    """One running pod per Deployment the scenario renders, injected where Istio's injection rules say."""
    objects = render_scenario(scenario, RUN)
    injecting = {o["metadata"]["name"] for o in objects
                 if o["kind"] == "Namespace" and (o["metadata"].get("labels") or {}).get("istio-injection") == "enabled"}
    found: dict[str, list[dict[str, Any]]] = {}
    for n, obj in enumerate(o for o in objects if o["kind"] == "Deployment"):
        template = obj["spec"]["template"]
        ns = obj["metadata"]["namespace"]
        opted_out = (template["metadata"].get("labels") or {}).get("sidecar.istio.io/inject") == "false"
        pod = injected(template, shape) if ns in injecting and not opted_out else copy.deepcopy(dict(template))
        found.setdefault(ns, []).append(running(pod, f"{obj['metadata']['name']}-{n}", ns, f"{subnet}.{n + 1}"))
    return found


def pods_for(phase: Phase | Scenario, shape: str = NATIVE, subnet: str = "10.0.0") -> dict[str, list[PodInfo]]:
    scenario = phase.scenario if isinstance(phase, Phase) else phase
    return {ns: [pod_info(p) for p in pods] for ns, pods in pod_objects(scenario, shape, subnet).items()}


def istiod_pod() -> PodInfo:
    """istiod as its chart runs it (see the module docstring): labels app=istiod, istio=pilot; container discovery."""
    template = {"metadata": {"labels": {"app": "istiod", "istio": "pilot", "istio.io/rev": "default", "sidecar.istio.io/inject": "false"}},
                "spec": {"serviceAccountName": "istiod", "containers": [{"name": "discovery", "image": "docker.io/istio/pilot:1.30.4"}]}}
    return pod_info(running(copy.deepcopy(template), "istiod-1", "istio-system", "10.0.9.1"))


def envoy_dump(*names: str) -> str:
    """The artefacts' ``configs`` joined in one dump, as ``config_dump?include_eds=true`` returns CDS, EDS, LDS together."""
    configs: list[Any] = []
    for name in names:
        path = ENVOY_DUMPS / f"{name}.config_dump.json"
        if not path.exists():
            pytest.fail(f"shared artefact missing: {path}")
        configs += json.loads(path.read_text())["configs"]
    return json.dumps({"configs": configs})


def scrape(series: Sequence[Mapping[str, str]], counts: Sequence[int]) -> str:
    """A sidecar's /stats/prometheus: the real excerpts, plus istio_requests_total in the tail's label set."""
    head = (PROMETHEUS / "datadog-fixture-istio-1.5-istio-proxy.EXCERPT-head.txt").read_text()
    tail = (PROMETHEUS / "datadog-fixture-istio-1.5-istio-proxy.EXCERPT-tail.txt").read_text()
    template = next(line for line in tail.splitlines() if line.startswith("istio_request_bytes_count{"))
    real = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"', template[template.index("{"):]))
    lines = ["# TYPE istio_requests_total counter"]
    for labels, count in zip(series, counts, strict=True):
        assert set(labels) <= set(real), f"not a label of Istio's standard metrics: {set(labels) - set(real)}"
        text = ",".join(f'{k}="{labels.get(k, v)}"' for k, v in real.items())
        lines.append(f"istio_requests_total{{{text}}} {count}")
    return head + "\n".join(lines) + "\n" + tail


class SelectorKube(FakeKube):
    """FakeKube whose label selectors follow Kubernetes: every comma-separated requirement must hold."""

    def _matching(self, label_selector: str) -> list[ObjectRef]:
        return [r for r, o in self.objects.items() if matches_selector((o.get("metadata") or {}).get("labels") or {}, label_selector)]

    def list_labeled(self, label_selector: str) -> list[ObjectRef]:
        self.log.append(("list_labeled", label_selector))
        return self._matching(label_selector)

    def delete_labeled(self, label_selector: str, timeout_s: float) -> list[ObjectRef]:
        gone = self._matching(label_selector)
        for ref in gone:
            del self.objects[ref]
        self.log.append(("delete_labeled", label_selector, tuple(gone)))
        return gone


def progress_of(session: MeshSession) -> str:
    assert isinstance(session.progress, io.StringIO)
    return session.progress.getvalue()


def agrees(expectation: Expectation, observation: ProbeObservation) -> bool:
    """The run loop's judge (mtls_conformance/run/loop.py ``_agrees``): PASS means the probe agrees."""
    return judge("converge", expectation, observation).status is Status.PASS


def record(probe_id: str, rc: int, code: int, body: bytes = b"") -> str:
    return f"MTLSPROBE1 {probe_id.encode().hex()} http {rc} {code} 0.01 {len(body)} {body.hex() or '-'} - -"


def answering(outcome: dict[str, tuple[int, int]] | None = None,
              default: tuple[int, int] = (0, 200)) -> Callable[[PodInfo, str, Sequence[str]], ExecResult]:
    """An exec handler that answers probe scripts with one record per probe id found in the script."""

    def handler(pod: PodInfo, container: str, command: Sequence[str]) -> ExecResult:
        script = command[-1]
        ids = [bytes.fromhex(h).decode() for h in re.findall(r"^(?:http|tcp)_probe \d+ ([0-9a-f]+) ", script, re.MULTILINE)]
        lines = [record(i, *(outcome or {}).get(i, default), body=b'{"headers": {}}') for i in ids]
        return ExecResult("\n".join([*lines, f"MTLSPROBE1-END {len(ids)}"]) + "\n", "", 0)

    return handler


def make_session(tmp_path: Path, phase: Phase | None = None, *, external: bool = False, allow_install: bool = False,
                 kind: KindCluster | None = None, created: bool = False, keep_cluster: bool = False, keep_on_failure: bool = False,
                 kube: FakeKube | None = None, runner: FakeRunner | None = None) -> MeshSession:
    kube = kube or SelectorKube()
    if phase is not None:
        kube.pods_by_ns.update(pods_for(phase))
    kube.configmaps.setdefault(("istio-system", "istio"), {"mesh": "rootNamespace: istio-system\n"})
    runner = runner or FakeRunner()
    clock = FakeClock()
    options = SessionOptions(kubeconfig=str(tmp_path / "kc") if external else None, allow_install=allow_install,
                             keep_cluster=keep_cluster, keep_on_failure=keep_on_failure, results_dir=tmp_path, run_id=RUN,
                             timing=Timing(), capture_sample_rate=0.0)
    installer = IstioInstaller(runner, "/c/helm", kubeconfig=None, context=None, kube=kube, clock=clock, progress=io.StringIO())
    toolbox = Toolbox(runner, FakeDownloader(), cache_root=tmp_path / "cache", plat=Platform("linux", "amd64"), which=lambda n: None)
    return MeshSession(options, kube=kube, runner=runner, toolbox=toolbox, clock=clock, installer=installer, kind=kind,
                       created_cluster=created, istio_version=parse_version("1.30.4"), kubernetes_version="v1.34.0",
                       progress=io.StringIO())


# --- availability (the plugin's skip decision) ---------------------------------------------------------------------
def test_no_cluster_and_no_docker_gives_one_clean_line_quickly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", "/nonexistent/kubeconfig")
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    start = time.monotonic()
    ok, reason = cluster_available(SessionOptions())
    assert time.monotonic() - start < 5
    assert not ok and reason.startswith("no cluster: ") and "\n" not in reason
    assert "Docker" in reason and ("--kubeconfig" in reason or "install Docker" in reason)


def test_acceptance_environment_through_a_fresh_interpreter() -> None:
    env = {**os.environ, "KUBECONFIG": "/nonexistent/kubeconfig", "DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    code = "from mtls_conformance.executor.session import *; print(cluster_available(SessionOptions()))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=20, check=True)
    assert out.stdout.startswith("(False, 'no cluster: ") and out.stderr == ""


def test_missing_external_kubeconfig(tmp_path: Path) -> None:
    ok, reason = cluster_available(SessionOptions(kubeconfig=tmp_path / "nope"))
    assert not ok and "does not exist" in reason


def test_unreachable_external_cluster_is_reported_within_the_bound(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "dead",
        "clusters": [{"name": "dead", "cluster": {"server": "https://127.0.0.1:9"}}],
        "contexts": [{"name": "dead", "context": {"cluster": "dead", "user": "u"}}], "users": [{"name": "u", "user": {}}]}))
    start = time.monotonic()
    ok, reason = cluster_available(SessionOptions(kubeconfig=kubeconfig, timing=Timing(availability_timeout_s=2)))
    assert not ok and ("cannot reach the API server" in reason or "did not answer" in reason)
    assert time.monotonic() - start < 5


def test_docker_reachable_means_kind_is_possible() -> None:
    runner = FakeRunner().on("docker", "version", stdout="28.2.2")
    ok, reason = cluster_available(SessionOptions(cluster_name="c1"), runner)
    assert ok and reason == "kind cluster 'c1' on Docker 28.2.2"


def test_bad_run_id_is_an_input_error() -> None:
    from mtls_conformance.errors import InputError

    with pytest.raises(InputError, match="label value"):
        SessionOptions(run_id="Has Spaces").validate()


# --- phases ------------------------------------------------------------------------------------------------------------
def test_apply_phase_applies_in_render_order_and_waits_for_rollouts(tmp_path: Path, phases: tuple[Phase, ...]) -> None:
    session = make_session(tmp_path, phases[0])
    applied = session.apply_phase(phases[0])
    kinds = [r.kind for r in applied.objects]
    assert kinds[0] == "Namespace" and kinds.index("Deployment") < kinds.index("PeerAuthentication")
    assert all(o["metadata"]["labels"]["mtls-conformance/run"] == RUN for o in yaml.safe_load_all(applied.manifests))
    (wait,) = session.kube.calls("wait_rollouts")  # type: ignore[attr-defined]
    assert wait[2] == f"mtls-conformance/run={RUN}"
    assert set(wait[1]) == {r.namespace for r in applied.objects if r.kind == "Deployment"}


def test_next_phase_prunes_what_the_previous_one_applied(tmp_path: Path, phases: tuple[Phase, ...]) -> None:
    session = make_session(tmp_path, phases[0])
    first = session.apply_phase(phases[0])
    second = session.apply_phase(phases[1])
    (deleted,) = session.kube.calls("delete")  # type: ignore[attr-defined]
    assert set(deleted[1]) == set(first.objects) - set(second.objects) and deleted[1]
    mesh_policy = [r for r in second.objects if r.namespace == "istio-system"]
    assert mesh_policy, "the STRICT phase applies a root-namespace policy"


def test_a_phase_prunes_what_another_worker_applied_before_it(tmp_path: Path, phases: tuple[Phase, ...]) -> None:
    """Under xdist the previous phase may come from another worker: pruning asks the cluster, not memory."""
    kube = SelectorKube()
    first = make_session(tmp_path, phases[0], kube=kube).apply_phase(phases[0])
    other_worker = make_session(tmp_path, phases[1], kube=kube)  # has applied nothing itself
    second = other_worker.apply_phase(phases[1])
    (deleted,) = kube.calls("delete")
    assert set(deleted[1]) == set(first.objects) - set(second.objects) and deleted[1]
    assert set(kube.objects) == set(second.objects)


def test_pruning_never_lists_or_deletes_isolated_objects(tmp_path: Path, phases: tuple[Phase, ...]) -> None:
    """Issue "xdist prunes the rotation case": a rotation namespace and the plug-in CA's cacerts carry the run label
    too, and may be in use by another worker while this one moves to the next phase. Pruning asks only for
    ``scope=phase``; under the old selector (the run label alone) both would be listed and deleted here."""
    from mtls_conformance.plan.records import default_suites_dir

    kube = SelectorKube()
    session = make_session(tmp_path, phases[0], kube=kube, keep_cluster=True)
    first = session.apply_phase(phases[0])
    rotation = build_plan("smoke", resolve_version("1.30"), default_suites_dir()).isolated[0]
    isolated = set(kube.apply(render_scenario(rotation.scenario, RUN, rotation.id)))  # as fixtures/rotation.py applies it
    session.install_plugin_ca({"ca-cert.pem": b"a", "ca-key.pem": b"b", "root-cert.pem": b"c", "cert-chain.pem": b"d"})
    cacerts = ObjectRef("v1", "Secret", name="cacerts", namespace="istio-system")
    isolated.add(cacerts)
    assert {r.kind for r in isolated} >= {"Namespace", "Deployment", "Secret"}
    assert isolated <= set(kube._matching(f"{RUN_LABEL}={RUN}")), "the old selector would have listed them"

    second = session.apply_phase(phases[1])
    (listed,) = kube.calls("list_labeled")[-1:]
    assert listed[1] == f"{RUN_LABEL}={RUN},{SCOPE_LABEL}=phase"
    assert isolated <= set(kube.objects) and not isolated & set(kube._matching(listed[1]))
    (deleted,) = kube.calls("delete")
    assert set(deleted[1]) == set(first.objects) - set(second.objects) and deleted[1]  # the phase is still pruned
    assert not isolated & set(deleted[1])
    session.close(failed=False)  # the run's cleanup (run label alone) is what removes them
    assert not isolated & set(kube.objects)


def test_a_worker_joining_a_phase_forgets_the_pods_of_the_last(tmp_path: Path, phases: tuple[Phase, ...]) -> None:
    session = make_session(tmp_path, phases[0])
    client = next(w for w in phases[0].scenario.workloads if w.sidecar)
    before = session.pod_of(client)
    session.kube.pods_by_ns[client.namespace] = [  # type: ignore[attr-defined]
        dataclasses.replace(p, name=p.name + "-new")
        for p in session.kube.pods_by_ns[client.namespace]  # type: ignore[attr-defined]
    ]
    assert session.pod_of(client) == before  # cached within a phase
    session.joined_phase(phases[1])
    assert session.pod_of(client).name == before.name + "-new"


def test_auto_mtls_phase_changes_mesh_config(tmp_path: Path) -> None:
    phases = build_plan("standard", resolve_version("1.30")).phases
    off = next(p for p in phases if not p.mesh.enable_auto_mtls)
    kube = SelectorKube(istiod_mesh={"enableAutoMtls": False}, pods_by_ns={"istio-system": [istiod_pod()]})
    session = make_session(tmp_path, off, kube=kube)
    assert session.apply_phase(off).auto_mtls_seconds == 0.0
    assert "enableAutoMtls: false" in kube.configmaps[("istio-system", "istio")]["mesh"]


def test_an_existing_clusters_auto_mtls_is_read_once_from_istiod(tmp_path: Path) -> None:
    """Which cases an existing cluster allows is the plan's decision (tests/test_plan_restriction.py); the session
    only reports the cluster's enableAutoMtls for the run loop to check the plan's assumption against."""
    kube = SelectorKube()
    kube.configmaps[("istio-system", "istio")] = {"mesh": "enableAutoMtls: false\nrootNamespace: istio-system\n"}
    session = make_session(tmp_path, external=True, kube=kube)
    assert session.cluster_auto_mtls() is False
    kube.configmaps[("istio-system", "istio")] = {"mesh": "enableAutoMtls: true\nrootNamespace: istio-system\n"}
    assert session.cluster_auto_mtls() is False  # read once: without --allow-install the suite never changes it
    assert make_session(tmp_path, external=True).cluster_auto_mtls() is True  # unset: Istio's default


def test_apply_phase_applies_every_case_it_is_given(tmp_path: Path, phases: tuple[Phase, ...]) -> None:
    """The executor no longer narrows a phase (plan.phases.restrict is gone): on an existing cluster the plan
    already left the root-namespace cases out, so the session applies the phase exactly as planned."""
    session = make_session(tmp_path, phases[1], external=True)
    applied = session.apply_phase(phases[1])
    assert {r for r in applied.objects} == {ObjectRef.of(o) for o in yaml.safe_load_all(applied.manifests)}
    assert any(r.namespace == "istio-system" for r in applied.objects)


def test_kind_images_are_loaded_once(tmp_path: Path, phases: tuple[Phase, ...]) -> None:
    runner = FakeRunner().on("docker", "image", "inspect", stdout="sha").on("/k/kind", "load")
    kind = KindCluster(runner, "/k/kind", "mtls-conformance", tmp_path / "kc", progress=io.StringIO())
    session = make_session(tmp_path, phases[0], kind=kind, runner=runner)
    session.apply_phase(phases[0])
    loaded = {c[3] for c in runner.calls if c[1:3] == ("load", "docker-image")}
    assert "docker.io/curlimages/curl:8.16.0" in loaded
    assert "docker.io/nicolaka/netshoot:v0.14" not in loaded  # the capture image is loaded only when a capture is sampled
    count = len(runner.calls)
    session.apply_phase(phases[0])
    assert not [c for c in runner.calls[count:] if c[1:2] == ("load",)]


# --- probes and convergence ----------------------------------------------------------------------------------------
def test_probes_are_batched_per_client_pod_and_inconclusive_ones_retried(tmp_path: Path, phases: tuple[Phase, ...]) -> None:
    phase = phases[0]
    session = make_session(tmp_path, phase)
    flaky = {"n": 0}
    good = answering()

    def handler(pod: PodInfo, container: str, command: Sequence[str]) -> ExecResult:
        flaky["n"] += 1
        if flaky["n"] == 1:
            return ExecResult("", "", None, "WebSocketConnectionClosedException")
        return good(pod, container, command)

    session.kube.exec_handler = handler  # type: ignore[attr-defined]
    probes = phase.scenario.probes
    observations = session.probe(phase.scenario, probes)
    assert [o.probe_id for o in observations] == [p.id for p in probes]
    assert all(o.outcome is ProbeOutcome.OK for o in observations)
    execs = session.kube.calls("exec")  # type: ignore[attr-defined]
    clients = {p.source for p in probes}
    assert len(execs) == len(clients) + 1  # one exec per client pod, plus the one retried batch
    assert all(e[2] == "curl" and e[3][:2] == ("sh", "-c") for e in execs)


@pytest.mark.parametrize("shape", [NATIVE, CLASSIC])
def test_probes_run_in_the_app_container_of_classic_and_native_sidecar_pods(tmp_path: Path, phases: tuple[Phase, ...], shape: str) -> None:
    """Istio >= 1.27 on Kubernetes >= 1.33 injects istio-proxy as a restartable init container; the opt-out keeps the
    classic shape. Either way the pod counts as having a sidecar, probes run in curl and admin reads in istio-proxy."""
    phase = phases[0]
    kube = SelectorKube(pods_by_ns=pods_for(phase, shape))
    session = make_session(tmp_path, kube=kube)
    client = next(w for w in phase.scenario.workloads if w.sidecar and not w.ports)
    pod = session.pod_of(client)
    assert pod.has_sidecar and pod.app_containers == ("curl",)
    assert ("istio-proxy" in pod.restartable_init_containers) is (shape == NATIVE)
    session.kube.exec_handler = answering()  # type: ignore[attr-defined]
    probes = [p for p in phase.scenario.probes if p.source == client.key][:2]
    assert all(o.outcome is ProbeOutcome.OK for o in session.probe(phase.scenario, probes))
    session._dump(pod.key)
    assert [c[2] for c in kube.calls("exec")] == ["curl", "istio-proxy"]


def test_pod_address_probes_get_the_pod_ip(tmp_path: Path, phases: tuple[Phase, ...]) -> None:
    phase = phases[0]
    session = make_session(tmp_path, phase)
    session.kube.exec_handler = answering()  # type: ignore[attr-defined]
    pod_probe = next(p for p in phase.scenario.probes if p.address.value == "pod")
    session.probe(phase.scenario, [pod_probe])
    target_ip = session.pod_of(phase.scenario.workload(pod_probe.target)).ip
    script = session.kube.calls("exec")[0][3][2]  # type: ignore[attr-defined]
    assert f"://{target_ip}:{pod_probe.port}" in script


def test_converge_waits_for_n_agreeing_rounds_and_measures_time(tmp_path: Path, phases: tuple[Phase, ...]) -> None:
    phase = phases[0]
    plain = [e for e in expect_all(phase.scenario, resolve_version("1.30")) if not phase.scenario.workload(e.probe.target).sidecar
             and not phase.scenario.workload(e.probe.source).sidecar]
    assert plain, "the smoke plan has a plaintext client -> no-sidecar server probe"
    session = make_session(tmp_path, phase)
    session.kube.exec_handler = answering()  # type: ignore[attr-defined]
    result = session.converge(phase, plain, agrees)
    assert result.stability.all_converged and result.stability.rounds == 3
    assert set(result.observations) == {e.probe.id for e in plain}
    assert result.config_seconds == 0.0 and result.seconds == result.probe_seconds


def test_converge_reports_a_probe_that_never_agrees(tmp_path: Path, phases: tuple[Phase, ...]) -> None:
    phase = phases[0]
    plain = [e for e in expect_all(phase.scenario) if e.connect and not phase.scenario.workload(e.probe.target).sidecar
             and not phase.scenario.workload(e.probe.source).sidecar][:1]
    session = make_session(tmp_path, phase)
    session.kube.exec_handler = answering(default=(56, 0))  # type: ignore[attr-defined]
    result = session.converge(phase, plain, agrees)
    assert not result.stability.all_converged and result.stability.stable[plain[0].probe.id]
    assert result.observations[plain[0].probe.id].outcome is ProbeOutcome.RESET
    assert result.seconds >= Timing().converge_window_s


def test_converge_asks_the_given_judge_and_never_judges_itself(tmp_path: Path, phases: tuple[Phase, ...],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The executor observes; the run loop judges. converge() decides agreement only through ``agrees``."""
    import ast

    import mtls_conformance.verdict as verdict_module

    phase = phases[0]
    plain = [e for e in expect_all(phase.scenario) if not phase.scenario.workload(e.probe.target).sidecar
             and not phase.scenario.workload(e.probe.source).sidecar][:2]
    session = make_session(tmp_path, phase)
    session.kube.exec_handler = answering()  # type: ignore[attr-defined]

    def no_judging(*args: object, **kwargs: object) -> None:
        raise AssertionError("the executor called the verdict's judge")

    monkeypatch.setattr(verdict_module, "judge", no_judging)
    asked: list[tuple[Expectation, ProbeObservation]] = []

    def never(expectation: Expectation, observation: ProbeObservation) -> bool:
        asked.append((expectation, observation))
        return False

    result = session.converge(phase, plain, never)  # every probe answers 200, but the judge never agrees
    assert not result.stability.all_converged and asked
    assert {e.probe.id for e, _ in asked} == {e.probe.id for e in plain}
    assert all(o.probe_id == e.probe.id and o.outcome is ProbeOutcome.OK for e, o in asked)
    assert make_session(tmp_path, phase).converge(phase, [], never).stability.all_converged  # nothing to agree on

    session = make_session(tmp_path, phase)
    session.kube.exec_handler = answering()  # type: ignore[attr-defined]
    assert session.converge(phase, plain, lambda e, o: True).stability.all_converged

    # Statically too: no executor module takes judge (or the verdict's Status) from mtls_conformance.verdict.
    imported: dict[str, set[str]] = {}
    for path in sorted((ROOT / "mtls_conformance" / "executor").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "mtls_conformance.verdict":
                imported.setdefault(path.name, set()).update(a.name for a in node.names)
            elif isinstance(node, ast.Import) and any(a.name == "mtls_conformance.verdict" for a in node.names):
                imported.setdefault(path.name, set()).add("*")
    assert all(names <= {"Verdict"} for names in imported.values()), imported  # the record type for bundles only


def test_config_checks_cover_server_inbound_and_client_clusters(tmp_path: Path, phases: tuple[Phase, ...]) -> None:
    phase = phases[1]
    session = make_session(tmp_path, phase)
    checks = session.config_checks(phase.scenario, expect_all(phase.scenario))
    names = [c.name for c in checks]
    assert any(": inbound port 8080 enforces STRICT" in n for n in names)
    assert any("outbound|8000||" in n and "sends istio_mutual" in n for n in names)
    assert len(names) == len(set(names))


def test_config_dump_is_read_through_pilot_agent(tmp_path: Path, phases: tuple[Phase, ...]) -> None:
    phase = phases[0]
    session = make_session(tmp_path, phase)
    server = next(w for w in phase.scenario.workloads if w.sidecar and w.ports)
    pod = session.pod_of(server)
    dump = envoy_dump("describe-http_config", "endpoints")
    session.kube.exec_handler = lambda p, c, cmd: ExecResult(dump, "", 0)  # type: ignore[attr-defined]
    assert session._dump(pod.key) == dump
    # EDS is only in the dump when asked for (istioctl proxy-config endpoint asks the same way)
    assert session.kube.calls("exec")[-1] == (  # type: ignore[attr-defined]
        "exec", pod.key, "istio-proxy", ("pilot-agent", "request", "GET", "config_dump?include_eds=true"))
    assert CONFIG_DUMP_WITH_EDS == "config_dump?include_eds=true"


# --- evidence -----------------------------------------------------------------------------------------------------------
def test_metrics_evidence_is_the_destination_counter_delta(tmp_path: Path, phases: tuple[Phase, ...]) -> None:
    phase = phases[0]
    e = next(x for x in expect_all(phase.scenario) if x.mtls and x.protocol == "http" and x.probe.address.value == "service")
    client, server = phase.scenario.workload(e.probe.source), phase.scenario.workload(e.probe.target)
    session = make_session(tmp_path, phase)
    series = {"reporter": "destination", "source_workload_namespace": client.namespace, "destination_workload_namespace": server.namespace,
              "destination_service": server.host, "connection_security_policy": "mutual_tls", "response_code": "200"}
    scrapes = iter([scrape([series], [4]), scrape([series], [5])])
    probe_answer = answering()

    def handler(pod: PodInfo, container: str, command: Sequence[str]) -> ExecResult:
        if tuple(command) == ("pilot-agent", "request", "GET", "stats/prometheus"):
            return ExecResult(next(scrapes), "", 0)
        if tuple(command) == ("pilot-agent", "request", "GET", CONFIG_DUMP_WITH_EDS):
            return ExecResult("not json", "", 0)  # deliberately unreadable: the config evidence says so, the metrics still count
        return probe_answer(pod, container, command)

    session.kube.exec_handler = handler  # type: ignore[attr-defined]
    observed = session.probe(phase.scenario, [e.probe])[0]
    found = {ev.source: ev for ev in session.evidence(phase.scenario, e, observed)}
    assert found["metrics"].says_mtls is True and "+1" in found["metrics"].detail
    assert found["config-dump"].says_mtls is None and "unavailable" in found["config-dump"].detail


# --- closing -------------------------------------------------------------------------------------------------------------
def test_close_deletes_a_kind_cluster_we_created_once(tmp_path: Path) -> None:
    runner = FakeRunner().on("/k/kind", "delete")
    kind = KindCluster(runner, "/k/kind", "mtls-conformance", tmp_path / "kc", progress=io.StringIO())
    session = make_session(tmp_path, kind=kind, created=True, runner=runner)
    session.close(failed=False)
    session.close(failed=False)
    assert [c[1:3] for c in runner.calls] == [("delete", "cluster")]


def test_close_on_a_reused_cluster_deletes_by_run_label_and_our_istio(tmp_path: Path, phases: tuple[Phase, ...]) -> None:
    runner = FakeRunner().on("/c/helm")
    session = make_session(tmp_path, phases[0], runner=runner)
    session.apply_phase(phases[0])
    assert session.installer is not None
    session.installer.installed = ["istio-base", "istiod"]
    session.close(failed=True)
    (deleted,) = session.kube.calls("delete_labeled")  # type: ignore[attr-defined]
    assert deleted[1] == f"mtls-conformance/run={RUN}" and deleted[2]
    assert session.kube.objects == {}  # type: ignore[attr-defined]
    assert [c[1:3] for c in runner.calls] == [("uninstall", "istiod"), ("uninstall", "istio-base")]


def test_keep_on_failure_keeps_everything_and_says_how_to_clean_up(tmp_path: Path, phases: tuple[Phase, ...]) -> None:
    session = make_session(tmp_path, phases[0], keep_on_failure=True)
    session.apply_phase(phases[0])
    session.close(failed=True)
    assert session.kube.calls("delete_labeled") == []  # type: ignore[attr-defined]
    assert f"kubectl delete ns -l mtls-conformance/run={RUN}" in progress_of(session)


def test_keep_on_failure_still_cleans_up_a_passing_run(tmp_path: Path, phases: tuple[Phase, ...]) -> None:
    session = make_session(tmp_path, phases[0], keep_on_failure=True, keep_cluster=True)
    session.apply_phase(phases[0])
    session.close(failed=False)
    assert len(session.kube.calls("delete_labeled")) == 1  # type: ignore[attr-defined]
    assert session.runner.calls == []  # type: ignore[attr-defined]  # keep_cluster: Istio stays


def test_existing_cluster_without_istio_needs_allow_install(tmp_path: Path) -> None:
    session = make_session(tmp_path, external=True)
    with pytest.raises(HarnessError, match=r"Istio is not installed.*--allow-install"):
        session._ensure_istio(resolve_version("1.30"))


def test_existing_cluster_with_another_istio_version(tmp_path: Path) -> None:
    kube = SelectorKube(ready_deployments={("istio-system", "istiod")}, images={("istio-system", "istiod"): ["docker.io/istio/pilot:1.29.7"]})
    session = make_session(tmp_path, external=True, kube=kube)
    with pytest.raises(HarnessError, match=r"runs Istio 1\.29\.7, not 1\.30"):
        session._ensure_istio(resolve_version("1.30"))
    session._ensure_istio(resolve_version("1.29"))
    assert str(session.istio_version) == "1.29.7"


def test_interrupt_cleans_up_and_propagates(tmp_path: Path, phases: tuple[Phase, ...]) -> None:
    session = make_session(tmp_path, phases[0], keep_cluster=True)
    session.apply_phase(phases[0])
    with pytest.raises(KeyboardInterrupt):
        session._on_signal(signal.SIGINT, None)
    assert session.stop.is_set() and len(session.kube.calls("delete_labeled")) == 1  # type: ignore[attr-defined]


def test_an_interrupt_during_a_state_update_cleans_up_without_waiting_for_itself(tmp_path: Path, phases: tuple[Phase, ...]) -> None:
    import threading

    session = make_session(tmp_path, phases[0], keep_cluster=True)
    session.apply_phase(phases[0])
    outcome: list[str] = []

    def interrupted_mid_update() -> None:
        try:
            with session.state.update() as state:  # e.g. apply_phase recording the original mesh config
                state.plugin_ca = True
                session._on_signal(signal.SIGINT, None)  # the handler runs close() on this same thread
        except KeyboardInterrupt:
            outcome.append("interrupted")

    worker = threading.Thread(target=interrupted_mid_update, daemon=True)
    worker.start()
    worker.join(10)
    assert outcome == ["interrupted"], "the signal handler deadlocked on the run-state file lock"
    assert len(session.kube.calls("delete_labeled")) == 1  # type: ignore[attr-defined]
    assert session.state.read().plugin_ca is False  # close() undid the plug-in CA and saved that


def test_installing_on_kind_preloads_istio_images_then_helm_installs_the_release(tmp_path: Path) -> None:
    version = catalog().install_version(resolve_version("1.30"))  # the pinned patch of the line
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in ("bin/istioctl", "manifests/charts/base/Chart.yaml", "manifests/charts/istio-control/istio-discovery/Chart.yaml"):
            info = tarfile.TarInfo(f"istio-{version}/{name}")
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    archive = buf.getvalue()
    url = f"https://github.com/istio/istio/releases/download/{version}/istio-{version}-linux-amd64.tar.gz"
    downloader = FakeDownloader({url: archive, url + ".sha256": f"{hashlib.sha256(archive).hexdigest()}  istio-{version}-linux-amd64.tar.gz".encode()})
    runner = (FakeRunner().on("docker", "image", "inspect", stdout="sha").on("/k/kind", "load")
              .on("/usr/bin/helm", "version", stdout="v3.19.2").on("/usr/bin/helm", "upgrade"))
    kube = SelectorKube(ready_deployments={("istio-system", "istiod")})
    kind = KindCluster(runner, "/k/kind", "mtls-conformance", tmp_path / "kc", progress=io.StringIO())
    session = make_session(tmp_path, kind=kind, created=True, runner=runner, kube=kube)
    session.toolbox = Toolbox(runner, downloader, cache_root=tmp_path / "cache", plat=Platform("linux", "amd64"),
                              which={"helm": "/usr/bin/helm"}.get, progress=io.StringIO())
    kube.ready_deployments.clear()  # no Istio yet: install it

    def becomes_ready(argv: tuple[str, ...]):  # type: ignore[no-untyped-def]
        from mtls_conformance.executor.process import CommandResult

        if "istiod" in argv:
            kube.ready_deployments.add(("istio-system", "istiod"))
        return CommandResult(argv, 0, "", "")

    runner.on_call("/usr/bin/helm", "upgrade", respond=becomes_ready)
    session._ensure_istio(resolve_version("1.30"))
    loads = [c[3] for c in runner.calls if c[1:3] == ("load", "docker-image")]
    assert loads == [f"docker.io/istio/pilot:{version}", f"docker.io/istio/proxyv2:{version}"]
    installs = [c[3] for c in runner.calls if c[1:3] == ("upgrade", "--install")]
    assert installs == ["istio-base", "istiod"] and str(session.istio_version) == version
    assert session.installer is not None and session.installer.installed == ["istio-base", "istiod"]


def test_plugin_ca_installs_cacerts_restarts_istiod_and_is_undone_at_close(tmp_path: Path) -> None:
    import base64

    session = make_session(tmp_path, keep_cluster=True)
    files = {"ca-cert.pem": b"CA", "ca-key.pem": b"KEY", "root-cert.pem": b"ROOT", "cert-chain.pem": b"CA+ROOT"}
    session.install_plugin_ca(files)
    kube = session.kube
    (secret,) = [o for r, o in kube.objects.items() if r.kind == "Secret"]  # type: ignore[attr-defined]
    assert secret["metadata"]["name"] == "cacerts" and secret["metadata"]["namespace"] == "istio-system"
    assert {k: base64.b64decode(v) for k, v in secret["data"].items()} == files
    assert kube.calls("restart") == [("restart", "istio-system", "istiod")]  # type: ignore[attr-defined]
    assert kube.calls("wait_rollouts")[-1] == ("wait_rollouts", ("istio-system",), "app=istiod")  # type: ignore[attr-defined]
    session.close(failed=False)
    assert not [r for r in kube.objects if r.kind == "Secret"]  # type: ignore[attr-defined]
    assert len(kube.calls("restart")) == 2  # type: ignore[attr-defined]


def test_plugin_ca_needs_allow_install_on_an_existing_cluster(tmp_path: Path) -> None:
    session = make_session(tmp_path, external=True)
    with pytest.raises(HarnessError, match="root of trust"):
        session.install_plugin_ca({"ca-cert.pem": b"x"})
    with pytest.raises(HarnessError, match=re.escape("cacerts lacks ca-key.pem, cert-chain.pem, root-cert.pem")):
        make_session(tmp_path, external=True, allow_install=True).install_plugin_ca({"ca-cert.pem": b"x"})


def test_evidence_reads_each_proxys_dump_once_per_phase(tmp_path: Path, phases: tuple[Phase, ...]) -> None:
    phase = phases[0]
    expectations = [e for e in expect_all(phase.scenario) if phase.scenario.workload(e.probe.target).sidecar][:4]
    session = make_session(tmp_path, phase)
    dump = envoy_dump("describe-http_config", "endpoints")
    session.kube.exec_handler = lambda pod, container, cmd: ExecResult(dump, "", 0)  # type: ignore[attr-defined]
    refused = ProbeObservation("x", ProbeOutcome.RESET)
    for e in expectations:
        session.evidence(phase.scenario, e, refused)
    dumps = [c for c in session.kube.calls("exec") if c[3][-1] == CONFIG_DUMP_WITH_EDS]  # type: ignore[attr-defined]
    pods = {c[1] for c in dumps}
    assert len(dumps) == len(pods) < 2 * len(expectations)  # uncached, every evidence call would read both proxies
    session.apply_phase(phase)
    session.evidence(phase.scenario, expectations[0], refused)
    again = [c for c in session.kube.calls("exec") if c[3][-1] == CONFIG_DUMP_WITH_EDS]  # type: ignore[attr-defined]
    assert len(again) > len(dumps)  # a new phase reads them again


def tcp_pcap(payload: bytes, dport: int) -> bytes:
    """A one-packet pcap: Ethernet/IPv4/TCP from 10.0.0.1:40000 to 10.0.0.2:dport carrying ``payload``."""
    tcp = struct.pack("!HHIIBBHHH", 40000, dport, 1, 1, 5 << 4, 0x18, 65535, 0, 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0, bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])) + tcp
    frame = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip
    return struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1) + struct.pack("<IIII", 1, 0, len(frame), len(frame)) + frame


def client_hello(alpns: Sequence[bytes]) -> bytes:
    alpn = b"".join(bytes([len(a)]) + a for a in alpns)
    ext = struct.pack("!HHH", 0x0010, len(alpn) + 2, len(alpn)) + alpn
    body = b"\x03\x03" + b"\x11" * 32 + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00" + struct.pack("!H", len(ext)) + ext
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(handshake)) + handshake


def test_sampled_capture_is_paired_with_a_plaintext_clients_control(tmp_path: Path, phases: tuple[Phase, ...]) -> None:
    phase = phases[0]
    e = next(x for x in expect_all(phase.scenario) if x.mtls and phase.scenario.workload(x.probe.source).sidecar)
    session = make_session(tmp_path, phase)
    session.options.capture_sample_rate = 1.0
    session.kube.exec_handler = answering()  # type: ignore[attr-defined]
    port = e.target_port
    captures = iter([tcp_pcap(client_hello([b"istio-peer-exchange", b"istio"]), port), tcp_pcap(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", port)])
    started: list[tuple[str, int]] = []
    def start(pod: PodInfo, port: int, window_s: float) -> str:
        started.append((pod.key, port))
        return "cap"

    session.capture.start = start  # type: ignore[method-assign]
    session.capture.stop = lambda pod, cap: next(captures)  # type: ignore[method-assign]
    found = {ev.source: ev for ev in session.evidence(phase.scenario, e, session.probe(phase.scenario, [e.probe])[0])}
    assert found["capture"].says_mtls is True, found["capture"].artefact
    server_pod = session.pod_of(phase.scenario.workload(e.probe.target))
    assert started == [(server_pod.key, port), (server_pod.key, port)]
    control_script = session.kube.calls("exec")[-1][3][2]  # type: ignore[attr-defined]
    assert f"://{server_pod.ip}:{port}" in control_script  # the control dials the server pod directly, in plaintext


def test_the_last_worker_to_close_undoes_what_another_worker_changed(tmp_path: Path, phases: tuple[Phase, ...]) -> None:
    """Under xdist the first worker installs Istio and the owner of a phase changes the mesh; the last one closes."""
    runner = FakeRunner().on("/c/helm")
    kube = SelectorKube(ready_deployments={("istio-system", "istiod")})
    first = make_session(tmp_path, phases[0], kube=kube, runner=runner)
    assert first.installer is not None
    first.installer.installed = ["istio-base", "istiod"]
    with first.state.update() as state:  # what _ensure_istio records after installing
        state.installed = ["istio-base", "istiod"]
    first.install_plugin_ca({"ca-cert.pem": b"a", "ca-key.pem": b"b", "root-cert.pem": b"c", "cert-chain.pem": b"d"})
    kube.configmaps[("istio-system", "istio")] = {"mesh": "rootNamespace: istio-system\n"}
    kube.pods_by_ns["istio-system"] = [istiod_pod()]
    kube.istiod_mesh = {"enableAutoMtls": False}
    off = next(p for p in build_plan("standard", resolve_version("1.30")).phases if not p.mesh.enable_auto_mtls)
    kube.pods_by_ns.update(pods_for(off))
    first.apply_phase(off)  # changes enableAutoMtls
    last = make_session(tmp_path, phases[0], kube=kube, runner=runner)  # another worker: created nothing itself
    assert last.installer is not None and last.installer.installed == []
    last.close(failed=False)
    assert kube.configmaps[("istio-system", "istio")]["mesh"] == "rootNamespace: istio-system\n"  # mesh restored
    assert [c for c in kube.calls("restart")] == [("restart", "istio-system", "istiod")] * 2
    assert [c[1:3] for c in runner.calls if c[1] == "uninstall"] == [("uninstall", "istiod"), ("uninstall", "istio-base")]
    assert last.state.read() == type(last.state.read())()  # nothing left to undo


def test_a_kind_cluster_created_by_another_worker_is_deleted_by_the_last(tmp_path: Path) -> None:
    runner = FakeRunner().on("/k/kind", "delete")
    kind = KindCluster(runner, "/k/kind", "mtls-conformance", tmp_path / "kc", progress=io.StringIO())
    creator = make_session(tmp_path, kind=kind, created=True, runner=runner)
    with creator.state.update() as state:  # what MeshSession.open records when kind.create() made the cluster
        state.created_cluster = True
    make_session(tmp_path, kind=kind, created=False, runner=runner).close(failed=False)
    assert [c[1:3] for c in runner.calls] == [("delete", "cluster")]


def test_a_capture_that_never_starts_leaves_the_evidence_unavailable_not_the_test_broken(tmp_path: Path, phases: tuple[Phase, ...]) -> None:
    from mtls_conformance.executor.errors import WaitTimeout

    session = make_session(tmp_path, phases[0])
    session.options.capture_sample_rate = 1.0

    def never_listens(pod: PodInfo, port: int, window_s: float) -> str:
        raise WaitTimeout("tcpdump to listen in foo/httpbin-1", 15.0, "(no tcpdump output yet)")

    session.capture.start = never_listens  # type: ignore[method-assign]
    expectation = expect_all(phases[0].scenario)[0]
    session.kube.exec_handler = answering()  # type: ignore[attr-defined]
    found = {e.source: e for e in session.evidence(phases[0].scenario, expectation, session.probe(phases[0].scenario, [expectation.probe])[0])}
    assert found["capture"].says_mtls is None and "unavailable: timed out" in found["capture"].detail


def test_a_failed_cleanup_step_does_not_skip_the_others(tmp_path: Path, phases: tuple[Phase, ...]) -> None:
    runner = FakeRunner().on("/c/helm", "uninstall")
    session = make_session(tmp_path, phases[0], external=True, allow_install=True, runner=runner)
    session.apply_phase(phases[0])
    assert session.installer is not None
    session.installer.installed = ["istio-base", "istiod"]
    with session.state.update() as state:
        state.original_mesh = "enableAutoMtls: true\n"

    def stuck(label_selector: str, timeout_s: float) -> list[ObjectRef]:
        raise RuntimeError("namespaces still terminating after 120s")

    session.kube.delete_labeled = stuck  # type: ignore[method-assign]
    with pytest.raises(HarnessError, match="delete by run label: namespaces still terminating"):
        session.close(failed=False)
    assert session.kube.configmaps[("istio-system", "istio")]["mesh"] == "enableAutoMtls: true\n"  # type: ignore[attr-defined]
    assert [c[1:3] for c in runner.calls] == [("uninstall", "istiod"), ("uninstall", "istio-base")]
    state = session.state.read()
    assert state.original_mesh is None and state.installed == []  # what did succeed is recorded as undone
