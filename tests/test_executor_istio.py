"""Istio install by version (exact helm commands), meshConfig changes awaited on istiod, uninstall only our releases.

Faked tool answers and what pins them (none captured from a real run):

- ``helm status <absent release>``: exit 1 and ``Error: release: not found`` on stderr -- Helm's storage error
  ``ErrReleaseNotFound = errors.New("release: not found")`` (helm/helm pkg/storage/driver/driver.go @ 96d580ffd2dc),
  printed by cobra with its ``Error: `` prefix. Same string as tests/support/fake_cluster.py.
- ``helm upgrade --install ... --wait`` failing: ``Error: <cause>``; the cause text ("timed out waiting") is
  **assumption** (the test only needs it carried into the error).
- The ``istio`` ConfigMap ``mesh`` key: a minimal MeshConfig (only keys the harness reads; the chart's full rendering is
  in tests/support/fake_cluster.py, see docs/contracts.md). istiod's ``pilot-discovery request GET /debug/mesh``: the
  MeshConfig as JSON (istio/istio pilot/pkg/xds/debug.go "Active mesh config"), answered by FakeKube.
- istiod pods: labels ``app: istiod``, container ``discovery`` (istio/istio manifests/charts/istio-control/
  istio-discovery/templates/deployment.yaml @ 0000f4bfab59, as docs/contracts.md).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml
from test_executor_fakes import FakeClock, FakeKube, FakeRunner

from mtls_conformance.executor.errors import CommandError, HarnessError, WaitTimeout
from mtls_conformance.executor.istio import IstioInstaller
from mtls_conformance.executor.kube import PodInfo
from mtls_conformance.executor.tools import IstioRelease


def release_in(root: Path) -> IstioRelease:
    top = root / "istio-1.30.4"
    top.mkdir(parents=True, exist_ok=True)
    return IstioRelease("1.30.4", top, top / "bin/istioctl", top / "manifests/charts/base",
                        top / "manifests/charts/istio-control/istio-discovery")


def installer(runner: FakeRunner, kube: FakeKube, clock: FakeClock | None = None, context: str | None = "kind-x") -> IstioInstaller:
    return IstioInstaller(runner, "/c/helm", kubeconfig="/c/kubeconfig", context=context, kube=kube, clock=clock or FakeClock(),
                          progress=io.StringIO())


def test_install_runs_the_documented_helm_steps_with_the_release_charts(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("pilot: {resources: {requests: {cpu: 10m}}}\n")
    runner = FakeRunner().on("/c/helm", "upgrade")
    kube = FakeKube(ready_deployments={("istio-system", "istiod")})
    inst = installer(runner, kube)
    release = release_in(tmp_path)
    inst.install(release, values, 300)
    kube_flags = ("--kubeconfig", "/c/kubeconfig", "--kube-context", "kind-x")
    pinned = tmp_path / "mtls-conformance-values.yaml"
    assert [c for c in runner.calls if c[1] == "status"] == [
        ("/c/helm", "status", name, "--namespace", "istio-system", *kube_flags) for name in ("istio-base", "istiod")]
    assert [c for c in runner.calls if c[1] != "status"] == [
        ("/c/helm", "upgrade", "--install", "istio-base", str(release.base_chart), "--namespace", "istio-system", "--create-namespace",
         "--set", "defaultRevision=default", "--wait", "--timeout", "300s", *kube_flags),
        ("/c/helm", "upgrade", "--install", "istiod", str(release.istiod_chart), "--namespace", "istio-system", "--wait",
         "--timeout", "300s", "--values", str(pinned), *kube_flags, "--values", str(values)),  # the user's values come last and win
    ]
    assert yaml.safe_load(pinned.read_text()) == {"global": {"hub": "docker.io/istio", "tag": "1.30.4"}}
    assert inst.installed == ["istio-base", "istiod"]


def test_missing_values_file_fails_before_any_install(tmp_path: Path) -> None:
    runner = FakeRunner()
    with pytest.raises(HarnessError, match="values file not found"):
        installer(runner, FakeKube()).install(release_in(tmp_path), tmp_path / "nope.yaml", 300)
    assert runner.calls == []


def test_helm_failure_stops_and_remembers_only_what_was_installed(tmp_path: Path) -> None:
    runner = FakeRunner().on("/c/helm", "upgrade").on("/c/helm", "upgrade", "--install", "istiod", rc=1, stderr="Error: timed out waiting")
    inst = installer(runner, FakeKube())
    with pytest.raises(CommandError, match="timed out waiting"):
        inst.install(release_in(tmp_path), None, 300)
    assert inst.installed == ["istio-base"]
    runner.on("/c/helm", "uninstall")
    inst.uninstall(300)
    assert runner.calls[-1][:3] == ("/c/helm", "uninstall", "istio-base")


def test_uninstall_removes_only_our_releases_newest_first(tmp_path: Path) -> None:
    runner = FakeRunner().on("/c/helm").on("/c/helm", "status", rc=1, stderr="Error: release: not found")
    inst = installer(runner, FakeKube(ready_deployments={("istio-system", "istiod")}))
    inst.uninstall(300)
    assert runner.calls == []  # nothing installed by us: nothing removed
    inst.install(release_in(tmp_path), None, 300)
    inst.uninstall(120)
    assert [c[1:3] for c in runner.calls if c[1] == "uninstall"] == [("uninstall", "istiod"), ("uninstall", "istio-base")]
    assert runner.calls[-1][3:] == ("--namespace", "istio-system", "--wait", "--timeout", "120s", "--kubeconfig", "/c/kubeconfig",
                                    "--kube-context", "kind-x")


def test_a_release_that_existed_before_is_upgraded_but_never_uninstalled(tmp_path: Path) -> None:
    # someone's Istio on an existing cluster, upgraded with --allow-install: istio-base existed, istiod did not
    runner = (FakeRunner().on("/c/helm").on("/c/helm", "status", "istiod", rc=1, stderr="Error: release: not found"))
    inst = installer(runner, FakeKube(ready_deployments={("istio-system", "istiod")}))
    inst.install(release_in(tmp_path), None, 300)
    assert [c[1:4] for c in runner.calls if c[1] == "upgrade"] == [("upgrade", "--install", "istio-base"), ("upgrade", "--install", "istiod")]
    assert inst.installed == ["istiod"]
    inst.uninstall(120)
    assert [c[1:3] for c in runner.calls if c[1] == "uninstall"] == [("uninstall", "istiod")]


def test_wait_ready_polls_istiod() -> None:
    kube = FakeKube()
    clock = FakeClock()
    with pytest.raises(WaitTimeout, match="istiod to be ready"):
        installer(FakeRunner(), kube, clock).wait_ready(10)
    assert clock.waits and sum(clock.waits) >= 10


def mesh_kube(auto: bool | None, served: bool) -> FakeKube:
    mesh: dict[str, object] = {"defaultConfig": {"discoveryAddress": "istiod.istio-system.svc:15012"}, "rootNamespace": "istio-system"}
    if auto is not None:
        mesh["enableAutoMtls"] = auto
    istiod = [PodInfo(f"istiod-{n}", "istio-system", f"10.0.9.{n}", "w", {"app": "istiod"}, ("discovery",), (), True) for n in (1, 2)]
    return FakeKube(configmaps={("istio-system", "istio"): {"mesh": yaml.safe_dump(mesh), "meshNetworks": "networks: {}"}},
                    pods_by_ns={"istio-system": istiod}, istiod_mesh={"enableAutoMtls": served, "rootNamespace": "istio-system"})


def test_auto_mtls_off_patches_only_the_mesh_key_and_waits_for_istiod() -> None:
    kube = mesh_kube(None, served=False)  # unset means true (DefaultMeshConfig)
    inst = installer(FakeRunner(), kube)
    inst.set_auto_mtls(False, 60)
    patched = kube.calls("patch_configmap")
    assert len(patched) == 1 and set(patched[0][3]) == {"mesh"}
    new_mesh = yaml.safe_load(patched[0][3]["mesh"])
    assert new_mesh["enableAutoMtls"] is False and new_mesh["defaultConfig"]["discoveryAddress"].startswith("istiod")
    asked = kube.calls("exec")
    assert [(c[1], c[2], c[3]) for c in asked] == [(f"istio-system/istiod-{n}", "discovery", ("pilot-discovery", "request", "GET", "/debug/mesh"))
                                                   for n in (1, 2)]  # every replica must serve it
    inst.restore_mesh()
    assert "enableAutoMtls" not in yaml.safe_load(kube.configmaps[("istio-system", "istio")]["mesh"])


def test_auto_mtls_unchanged_touches_nothing() -> None:
    kube = mesh_kube(True, served=True)
    assert installer(FakeRunner(), kube).set_auto_mtls(True, 60) == 0.0
    assert kube.calls("patch_configmap") == [] and kube.calls("exec") == []


def test_auto_mtls_change_that_istiod_never_serves_times_out() -> None:
    kube = mesh_kube(True, served=True)
    with pytest.raises(WaitTimeout, match="enableAutoMtls=False"):
        installer(FakeRunner(), kube, FakeClock()).set_auto_mtls(False, 5)
