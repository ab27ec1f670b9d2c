"""Istio by version: Helm install of the base and istiod charts of one release, meshConfig changes, uninstall.

Install steps follow https://istio.io/latest/docs/setup/install/helm/ (istio-base with defaultRevision=default, then
istiod, both in istio-system); the charts come from the cached release archive of exactly the requested version.
Only releases this session installed are uninstalled (never one that existed before, even if it was upgraded). enableAutoMtls is changed in the `istio` ConfigMap's `mesh` key,
which istiod watches, so nothing restarts; the change is awaited on istiod's /debug/mesh ("Active mesh config",
https://github.com/istio/istio/blob/master/pilot/pkg/xds/debug.go), read from inside each istiod pod.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO

import yaml

from mtls_conformance.executor.converge import Clock, poll_until
from mtls_conformance.executor.errors import HarnessError
from mtls_conformance.executor.kube import Kube
from mtls_conformance.executor.process import CommandRunner
from mtls_conformance.executor.tools import IstioRelease

ISTIO_NAMESPACE = "istio-system"
MESH_CONFIGMAP = "istio"
RELEASES = ("istio-base", "istiod")  # install order; uninstall is the reverse
ISTIO_HUB = "docker.io/istio"  # where Istio publishes its release images (pilot, proxyv2)


def release_images(version: str) -> tuple[str, ...]:
    """The images an Istio sidecar install runs, so a kind cluster can preload them."""
    return (f"{ISTIO_HUB}/pilot:{version}", f"{ISTIO_HUB}/proxyv2:{version}")


def pinned_values(release: IstioRelease) -> Path:
    """Values that pin the images to the release, written beside it; a user's --istio-values (applied after) still wins."""
    path = release.root.parent / "mtls-conformance-values.yaml"
    if not path.is_file():
        path.write_text(yaml.safe_dump({"global": {"hub": ISTIO_HUB, "tag": release.version}}, sort_keys=True))
    return path


class IstioInstaller:
    def __init__(self, runner: CommandRunner, helm: Path | str, *, kubeconfig: str | None, context: str | None,
                 kube: Kube, clock: Clock, poll_interval_s: float = 0.5, progress: TextIO | None = None) -> None:
        self.runner = runner
        self.helm = str(helm)
        self.kubeconfig = kubeconfig
        self.context = context
        self.kube = kube
        self.clock = clock
        self.poll_interval_s = poll_interval_s
        self.progress = progress if progress is not None else sys.stderr
        self.installed: list[str] = []  # Helm releases this session installed, in order
        self._original_mesh: str | None = None

    def _say(self, text: str) -> None:
        print(f"mtls-conformance: {text}", file=self.progress, flush=True)

    def _helm(self, *args: str) -> list[str]:
        argv = [self.helm, *args]
        if self.kubeconfig:
            argv += ["--kubeconfig", self.kubeconfig]
        if self.context:
            argv += ["--kube-context", self.context]
        return argv

    def present(self) -> bool:
        return self.kube.deployment_ready(ISTIO_NAMESPACE, "istiod")

    def install_commands(self, release: IstioRelease, values_file: Path | None, timeout_s: float) -> list[list[str]]:
        """The exact helm commands for ``release`` (also written into repro scripts)."""
        wait = ["--wait", "--timeout", f"{int(timeout_s)}s"]
        base = self._helm("upgrade", "--install", "istio-base", str(release.base_chart), "--namespace", ISTIO_NAMESPACE,
                          "--create-namespace", "--set", "defaultRevision=default", *wait)
        istiod = self._helm("upgrade", "--install", "istiod", str(release.istiod_chart), "--namespace", ISTIO_NAMESPACE, *wait,
                            "--values", str(pinned_values(release)))
        if values_file is not None:
            istiod += ["--values", str(values_file)]
        return [base, istiod]

    def install(self, release: IstioRelease, values_file: Path | None, timeout_s: float) -> None:
        if values_file is not None and not values_file.is_file():
            raise HarnessError(str(values_file), "Istio values file not found", "pass an existing YAML file to --istio-values")
        for name, argv in zip(RELEASES, self.install_commands(release, values_file, timeout_s), strict=True):
            # A release that exists already (someone's Istio, upgraded with --allow-install) is not ours to uninstall.
            existed = self.runner.run(self._helm("status", name, "--namespace", ISTIO_NAMESPACE), timeout=60).ok
            self._say(f"{'upgrading the existing' if existed else 'installing'} {name} from Istio {release.version}")
            self.runner.run(argv, timeout=timeout_s + 60, stream=True).check(
                f"see `kubectl -n {ISTIO_NAMESPACE} get pods`; the values file and the kind node resources are common culprits")
            if not existed:
                self.installed.append(name)
        self.wait_ready(timeout_s)

    def wait_ready(self, timeout_s: float) -> float:
        return poll_until(lambda: (self.present(), "istiod Deployment not available"), what="istiod to be ready",
                          timeout_s=timeout_s, interval_s=self.poll_interval_s, clock=self.clock)

    def uninstall(self, timeout_s: float) -> None:
        """Remove the Helm releases this session installed (and only those), newest first."""
        for name in reversed(self.installed):
            self._say(f"uninstalling {name}")
            self.runner.run(self._helm("uninstall", name, "--namespace", ISTIO_NAMESPACE, "--wait", "--timeout",
                                       f"{int(timeout_s)}s"), timeout=timeout_s + 60).check()
        self.installed.clear()

    # --- meshConfig ----------------------------------------------------------------------------------------------
    def mesh_config(self) -> dict[str, object]:
        data = self.kube.get_configmap(ISTIO_NAMESPACE, MESH_CONFIGMAP)
        if data is None:
            raise HarnessError(f"configmap {ISTIO_NAMESPACE}/{MESH_CONFIGMAP}", "not found", "is Istio installed with the default revision?")
        loaded = yaml.safe_load(data.get("mesh") or "") or {}
        return dict(loaded)

    def set_auto_mtls(self, enabled: bool, timeout_s: float) -> float:
        """Set meshConfig.enableAutoMtls and wait until istiod serves it; returns seconds waited (0 when unchanged)."""
        data = self.kube.get_configmap(ISTIO_NAMESPACE, MESH_CONFIGMAP) or {}
        mesh = self.mesh_config()
        if mesh.get("enableAutoMtls", True) is enabled:
            return 0.0
        if self._original_mesh is None:
            self._original_mesh = data.get("mesh", "")
        mesh["enableAutoMtls"] = enabled
        self.kube.patch_configmap(ISTIO_NAMESPACE, MESH_CONFIGMAP, {"mesh": yaml.safe_dump(mesh, sort_keys=True)})
        return self.wait_mesh(enabled, timeout_s)

    def wait_mesh(self, enabled: bool, timeout_s: float) -> float:
        """Poll every ready istiod until its /debug/mesh serves ``enabled``.

        Asked from inside the pod with `pilot-discovery request` (as `istioctl bug-report` does): istiod answers its
        HTTP debug endpoints only to localhost or an authenticated caller (allowAuthenticatedOrLocalhost in
        https://github.com/istio/istio/blob/master/pilot/pkg/xds/debug.go).
        """

        def served() -> tuple[bool, str]:
            pods = [p for p in self.kube.pods(ISTIO_NAMESPACE, "app=istiod") if p.ready]
            if not pods:
                return False, "no ready istiod pod"
            seen = []
            for pod in pods:
                result = self.kube.exec(pod, "discovery", ["pilot-discovery", "request", "GET", "/debug/mesh"], 30)
                try:
                    value = json.loads(result.stdout).get("enableAutoMtls", True)
                except (ValueError, AttributeError):
                    return False, f"{pod.name}: /debug/mesh unreadable ({(result.stderr or result.transport_error).strip()[:200]})"
                seen.append(f"{pod.name} serves enableAutoMtls={value}")
                if value is not enabled:
                    return False, "; ".join(seen)
            return True, "; ".join(seen)

        return poll_until(served, what=f"istiod to serve enableAutoMtls={enabled}", timeout_s=timeout_s,
                          interval_s=self.poll_interval_s, clock=self.clock)

    @property
    def original_mesh(self) -> str | None:
        """The `mesh` text found before this installer first changed it (None: unchanged)."""
        return self._original_mesh

    def restore_mesh(self, original: str | None = None) -> None:
        """Put back the mesh config found before the run (``original`` when another process changed it)."""
        text = original if original is not None else self._original_mesh
        if text is not None:
            self.kube.patch_configmap(ISTIO_NAMESPACE, MESH_CONFIGMAP, {"mesh": text})
        self._original_mesh = None
