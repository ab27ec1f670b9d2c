"""The API the pytest plugin calls: one mesh session per run (cluster + Istio + phases + probes + evidence + cleanup).

    options = SessionOptions(istio_version="1.30")
    ok, reason = cluster_available(options)          # the plugin's skip decision, never raises
    session = MeshSession.open(options)              # create/reuse kind (or connect), install Istio unless present
    session.apply_phase(phase)                       # render, server-side apply, wait for rollouts
    session.converge(phase, expectations, agrees)    # proxy config shows it, then N identical outcomes that agree
    session.probe(scenario, probes)                  # batched per client pod, in parallel, retry only INCONCLUSIVE
    session.evidence(scenario, expectation, obs)     # config dump, metrics delta, sampled capture + negative control
    session.write_bundle(case, verdicts, dest)       # repro bundle of a failing case
    session.close(failed)                            # cleanup by run label unless kept; idempotent; also on SIGINT/SIGTERM
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

import yaml

from mtls_conformance.engine.model import Expectation
from mtls_conformance.errors import InputError
from mtls_conformance.executor import evidence as ev
from mtls_conformance.executor.bundle import BundleInputs, case_probe_scripts, selector, write_case_bundle
from mtls_conformance.executor.capture import CAPTURE_IMAGE, PacketCapture
from mtls_conformance.executor.converge import Clock, ProxyCheck, RealClock, Stability, await_consistent, wait_for_config
from mtls_conformance.executor.download import HttpDownloader
from mtls_conformance.executor.errors import HarnessError, WaitTimeout
from mtls_conformance.executor.istio import ISTIO_NAMESPACE, IstioInstaller, release_images
from mtls_conformance.executor.kind import KindCluster
from mtls_conformance.executor.kube import RUN_LABEL, Kube, KubeClient, ObjectRef, PodInfo, envoy_admin
from mtls_conformance.executor.process import CommandRunner, SubprocessRunner
from mtls_conformance.executor.state import RunStateFile
from mtls_conformance.executor.tools import Toolbox, docker_status
from mtls_conformance.observe.curl import parse_probe_output, probe_script, probe_spec_from, resolve_pod_ips
from mtls_conformance.observe.model import Evidence, ProbeObservation
from mtls_conformance.outcomes import ProbeOutcome
from mtls_conformance.plan.model import Case, Phase
from mtls_conformance.plan.render import SCOPE_LABEL, render_phase, render_scenario
from mtls_conformance.scenario.model import Address, Probe, Scenario, Workload
from mtls_conformance.timing import Timing, load_timing
from mtls_conformance.versions import IstioVersion, catalog, parse_version, resolve_version

if TYPE_CHECKING:  # only a type here: the executor never judges
    from mtls_conformance.verdict import Verdict

# Envoy leaves EDS out of /config_dump unless asked; istioctl's proxy-config endpoint asks the same way
# (istio/istio@86c9f01fd735 istioctl/pkg/proxyconfig/proxyconfig.go, edsPath = "?include_eds=true"), and pilot-agent
# request passes the query through to the admin API (pilot/pkg/request/command.go).
CONFIG_DUMP_WITH_EDS = "config_dump?include_eds=true"
_RUN_ID = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


@dataclass
class SessionOptions:
    kubeconfig: str | Path | None = None  # with context: run against this existing cluster instead of kind
    context: str | None = None
    cluster_name: str = "mtls-conformance"
    kind_config: str | Path = "kind-config.yaml"
    istio_version: IstioVersion | str | None = None  # None: the latest stable line
    istio_values: str | Path | None = None  # Helm values for istiod, passed through
    allow_install: bool = False  # on an existing cluster: may the suite install Istio and change mesh-wide state?
    keep_cluster: bool = False
    keep_on_failure: bool = False
    results_dir: str | Path = "results"
    timing: Timing | str | Path | None = None  # the table, or a YAML file of overrides
    run_id: str = field(default_factory=new_run_id)
    capture_sample_rate: float = 0.05  # fraction of probes that also get a packet capture (deterministic by probe id)

    @property
    def external(self) -> bool:
        return self.kubeconfig is not None or self.context is not None

    def timing_table(self) -> Timing:
        return self.timing if isinstance(self.timing, Timing) else load_timing(self.timing)

    def version(self) -> IstioVersion:
        return self.istio_version if isinstance(self.istio_version, IstioVersion) else resolve_version(self.istio_version)

    def validate(self) -> None:
        if not _RUN_ID.match(self.run_id):
            raise InputError("run id", f"{self.run_id!r} cannot be a Kubernetes label value",
                             "use lowercase letters, digits and '-', at most 40 characters")
        if not 0 <= self.capture_sample_rate <= 1:
            raise InputError("capture sample rate", f"{self.capture_sample_rate} is not between 0 and 1", "use e.g. 0.05")


@dataclass(frozen=True)
class AppliedPhase:
    phase: Phase
    objects: tuple[ObjectRef, ...]
    manifests: str  # the YAML exactly as applied
    seconds: float  # apply + rollout
    auto_mtls_seconds: float  # waiting for istiod to serve a changed enableAutoMtls (0 when unchanged)


@dataclass(frozen=True)
class Convergence:
    seconds: float  # config propagation + probe stability, measured
    config_seconds: float
    probe_seconds: float
    evidence: Mapping[str, str]  # proxy check -> the config excerpt that satisfied it
    stability: Stability
    observations: Mapping[str, ProbeObservation]  # each probe's last observation


class _Interrupted(Exception):
    pass


def _kubeconfig_reachable(options: SessionOptions, timeout_s: float) -> tuple[bool, str]:
    where = f"kubeconfig {options.kubeconfig}" if options.kubeconfig else "the default kubeconfig"
    if options.context:
        where += f" (context {options.context})"
    if options.kubeconfig is not None and not Path(options.kubeconfig).is_file():
        return False, f"no cluster: {where} does not exist"
    result: list[tuple[bool, str]] = []

    def attempt() -> None:
        try:
            kube = KubeClient.connect(str(options.kubeconfig) if options.kubeconfig else None, options.context, timeout_s)
            result.append((True, f"cluster {kube.server_version()} via {where}"))
        except Exception as exc:  # (any failure means: no usable cluster)
            text = str(exc).splitlines()[0][:160] if str(exc) else exc.__class__.__name__
            result.append((False, f"no cluster: cannot reach the API server of {where} ({text})"))

    # A daemon thread bounds the check even when the client's own retries/timeouts would take longer.
    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout_s + 1)
    return result[0] if result else (False, f"no cluster: the API server of {where} did not answer within {timeout_s:g}s")


def cluster_available(options: SessionOptions, runner: CommandRunner | None = None) -> tuple[bool, str]:
    """(True, what will be used) or (False, one-line reason). Never raises; answers within a few seconds."""
    try:
        timeout_s = options.timing_table().availability_timeout_s
    except InputError as exc:
        return False, exc.one_line()
    if options.external:
        return _kubeconfig_reachable(options, timeout_s)
    ok, reason = docker_status(runner or SubprocessRunner(), timeout_s)
    if ok:
        return True, f"kind cluster {options.cluster_name!r} on {reason}"
    return False, f"no cluster: {reason}"


def _images(objects: Sequence[Mapping[str, Any]]) -> set[str]:
    found: set[str] = set()
    for obj in objects:
        pod_spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
        for container in [*(pod_spec.get("containers") or []), *(pod_spec.get("initContainers") or [])]:
            if container.get("image"):
                found.add(str(container["image"]))
    return found


def _signature(obs: ProbeObservation) -> str:
    if obs.outcome is ProbeOutcome.INCONCLUSIVE:
        return "inconclusive"
    mtls = {True: "/mtls", False: "/plaintext", None: ""}[obs.mtls]
    return f"{obs.outcome.value}{mtls}"


def _sampled(probe_id: str, rate: float) -> bool:
    return int(hashlib.sha256(probe_id.encode()).hexdigest()[:8], 16) < rate * 0x1_0000_0000


class MeshSession:
    """One run against one mesh. Construct with ``MeshSession.open``; tests build it with fakes through ``__init__``."""

    data_plane_mode = "sidecar"

    def __init__(self, options: SessionOptions, *, kube: Kube, runner: CommandRunner, toolbox: Toolbox, clock: Clock,
                 installer: IstioInstaller | None, kind: KindCluster | None, created_cluster: bool,
                 istio_version: IstioVersion, kubernetes_version: str, stop: threading.Event | None = None,
                 progress: TextIO | None = None) -> None:
        self.options = options
        self.timing = options.timing_table()
        self.kube = kube
        self.runner = runner
        self.toolbox = toolbox
        self.clock = clock
        self.installer = installer
        self.kind = kind
        self.created_cluster = created_cluster
        self.istio_version = istio_version
        self.kubernetes_version = kubernetes_version
        self.run_id = options.run_id
        self.stop = stop or threading.Event()
        self.progress = progress if progress is not None else sys.stderr
        self.capture = PacketCapture(kube, clock, exec_timeout_s=self.timing.exec_timeout_s,
                                     start_timeout_s=self.timing.capture_start_timeout_s, poll_interval_s=self.timing.poll_interval_s)
        self.applied: dict[int, AppliedPhase] = {}
        self.current: AppliedPhase | None = None
        self.loaded_images: set[str] = set()
        self._pods: dict[str, PodInfo] = {}  # workload key -> the pod probed for it (cleared by each phase)
        self._dumps: dict[str, str] = {}  # pod key -> config dump read for evidence (converged config: once per phase)
        self._closed = False
        self._cluster_auto_mtls: object = None  # meshConfig.enableAutoMtls of an existing cluster, read once
        self._previous_handlers: dict[int, Any] = {}
        # What this run changed, shared with the run's other processes (xdist workers): the last one to close undoes it.
        self.state = RunStateFile(Path(options.results_dir) / f".mesh-session-{options.run_id}.json")

    # --- opening ---------------------------------------------------------------------------------------------
    @classmethod
    def open(cls, options: SessionOptions, *, runner: CommandRunner | None = None, toolbox: Toolbox | None = None,
             connect: Callable[[str | None, str | None], Kube] | None = None, clock: Clock | None = None) -> MeshSession:
        options.validate()
        timing = options.timing_table()
        requested = options.version()
        runner = runner or SubprocessRunner()
        toolbox = toolbox or Toolbox(runner, HttpDownloader(timing.download_timeout_s))
        stop = threading.Event()
        clock = clock or RealClock(stop)
        connect = connect or KubeClient.connect
        kind: KindCluster | None = None
        created = False
        if options.external:
            kubeconfig = str(options.kubeconfig) if options.kubeconfig else None
            context = options.context
        else:
            docker_ok, reason = docker_status(runner, timing.availability_timeout_s)
            if not docker_ok:
                raise HarnessError("docker", reason, "")
            kind = KindCluster(runner, toolbox.resolve("kind").path, options.cluster_name,
                               toolbox.cache_root / "kubeconfig" / f"{options.cluster_name}.yaml")
            created = kind.create(Path(options.kind_config), timing.cluster_create_timeout_s)
            kubeconfig, context = str(kind.kubeconfig), kind.context
        try:
            kube = connect(kubeconfig, context)
            if isinstance(kube, KubeClient):
                kube.namespace_finalize_timeout_s = timing.cleanup_timeout_s  # one table bounds every namespace wait
            kubernetes_version = kube.server_version()
        except Exception as exc:  # (an unreachable API server is the user's to fix, in one line)
            raise HarnessError(f"cluster ({context or kubeconfig or 'default kubeconfig'})", f"API server unreachable: {exc}",
                               "check --kubeconfig/--context, or that the kind cluster is running (docker ps)") from None
        installer = IstioInstaller(runner, "helm", kubeconfig=kubeconfig, context=context, kube=kube, clock=clock,
                                   poll_interval_s=timing.poll_interval_s)
        session = cls(options, kube=kube, runner=runner, toolbox=toolbox, clock=clock, installer=installer, kind=kind,
                      created_cluster=created, istio_version=requested, kubernetes_version=kubernetes_version, stop=stop)
        session._register_signals()
        if created:
            with session.state.update() as state:
                state.created_cluster = True
        try:
            session._ensure_istio(requested)
        except BaseException:
            session.close(failed=True)
            raise
        return session

    def _ensure_istio(self, requested: IstioVersion) -> None:
        assert self.installer is not None
        install_version = catalog().install_version(requested)
        if self.installer.present():
            found = self._installed_istio_version()
            if found is None or found.line() == requested.line():
                self.istio_version = found or requested
                return
            if self.options.external and not self.options.allow_install:
                raise HarnessError("--istio-version", f"the cluster runs Istio {found}, not {requested}",
                                   f"pass --istio-version {found.minor_line} to verify what is installed, or --allow-install to upgrade it")
        elif self.options.external and not self.options.allow_install:
            raise HarnessError("cluster", "Istio is not installed (no ready istiod in istio-system)",
                               "install Istio first, or pass --allow-install to let the suite install it")
        release = self.toolbox.istio_release(install_version)
        self._load_into_kind(set(release_images(install_version)))
        self.installer.helm = str(self.toolbox.resolve("helm").path)
        values = Path(self.options.istio_values) if self.options.istio_values else None
        try:
            self.installer.install(release, values, self.timing.install_timeout_s)
        finally:
            with self.state.update() as state:  # also what a failed install left behind
                state.installed += [r for r in self.installer.installed if r not in state.installed]
        self.istio_version = parse_version(install_version)

    def _installed_istio_version(self) -> IstioVersion | None:
        """The version of the running istiod, from its image tag (e.g. docker.io/istio/pilot:1.30.4)."""
        for image in self.kube.deployment_images(ISTIO_NAMESPACE, "istiod"):
            tag = image.rsplit("/", 1)[-1].partition(":")[2].split("@")[0]
            try:
                return parse_version(tag.split("-")[0], "istiod image")
            except InputError:
                continue
        return None

    # --- signals and closing ---------------------------------------------------------------------------------
    def _register_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set from the main thread; the owner of the process handles them
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous_handlers[sig] = signal.getsignal(sig)
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop.set()  # every bounded wait ends at once
        print(f"mtls-conformance: interrupted ({signal.Signals(signum).name}); cleaning up run {self.run_id}",
              file=self.progress, flush=True)
        try:
            self.close(failed=False)
        except Exception as exc:  # (another worker may have removed the cluster already; say so in one line)
            print(f"mtls-conformance: cleanup after the interrupt was incomplete: {exc}", file=self.progress, flush=True)
        previous = self._previous_handlers.get(signum)
        if callable(previous):
            previous(signum, frame)
        raise KeyboardInterrupt

    def _restore_signals(self) -> None:
        for sig, handler in self._previous_handlers.items():
            signal.signal(sig, handler)
        self._previous_handlers.clear()

    def close(self, failed: bool) -> None:
        """Clean up by run label unless a keep flag says otherwise. Idempotent.

        Undoes what any process of this run changed (see state.py), so under xdist the last worker to close cleans up.
        """
        if self._closed:
            return
        self._closed = True
        try:
            if failed and self.options.keep_on_failure:
                print(f"mtls-conformance: keeping run {self.run_id} for inspection (--keep-on-failure); remove it with "
                      f"`kubectl delete ns -l {RUN_LABEL}={self.run_id}`"
                      + (f" or `scripts/cluster-down --name {self.options.cluster_name}`" if self.kind else ""),
                      file=self.progress, flush=True)
                return
            with self.state.update() as state:
                if self.kind is not None and (self.created_cluster or state.created_cluster) and not self.options.keep_cluster:
                    self.kind.delete()  # takes everything with it
                    state.created_cluster = state.plugin_ca = False
                    state.installed, state.original_mesh = [], None
                    return
                # Each step is tried even when an earlier one failed (a stuck delete must not leave the mesh config
                # changed or Istio installed); a step is recorded as undone only when it succeeded.
                failures: list[str] = []

                def step(what: str, action: Callable[[], object]) -> bool:
                    try:
                        action()
                    except Exception as exc:  # (reported together below, after the other steps ran)
                        failures.append(f"{what}: {(str(exc).splitlines() or [exc.__class__.__name__])[0][:300]}")
                        return False
                    return True

                step("delete by run label", lambda: self.kube.delete_labeled(f"{RUN_LABEL}={self.run_id}", self.timing.cleanup_timeout_s))
                if state.plugin_ca and step("restart istiod with its own CA", self._restart_istiod):  # cacerts is gone
                    state.plugin_ca = False
                installer = self.installer
                if installer is not None:
                    if step("restore the mesh config", lambda: installer.restore_mesh(state.original_mesh)):
                        state.original_mesh = None
                    if not self.options.keep_cluster:
                        installer.installed = [*state.installed, *(r for r in installer.installed if r not in state.installed)]
                        if step("uninstall Istio", lambda: installer.uninstall(self.timing.install_timeout_s)):
                            state.installed = []
            if failures:  # raised once the state file recorded what was undone
                raise HarnessError(f"cleanup of run {self.run_id}", "; ".join(failures),
                                   f"remove what is left by hand: kubectl delete ns -l {RUN_LABEL}={self.run_id}")
        finally:
            self._restore_signals()

    # --- phases ------------------------------------------------------------------------------------------------
    def apply_phase(self, phase: Phase) -> AppliedPhase:
        start = self.clock.now()
        objects = render_phase(phase, self.run_id)
        self._load_into_kind(_images(objects))
        auto_s = 0.0
        if self.installer is not None:
            try:
                auto_s = self.installer.set_auto_mtls(phase.mesh.enable_auto_mtls, self.timing.mesh_config_timeout_s)
            finally:
                if self.installer.original_mesh is not None:
                    with self.state.update() as state:
                        state.original_mesh = state.original_mesh if state.original_mesh is not None else self.installer.original_mesh
        refs = self.kube.apply(objects)
        self._prune(refs)
        namespaces = sorted({r.namespace for r in refs if r.kind == "Deployment" and r.namespace})
        self.kube.wait_rollouts(namespaces, f"{RUN_LABEL}={self.run_id}", self.timing.rollout_timeout_s)
        self._pods.clear()
        self._dumps.clear()
        applied = AppliedPhase(phase, tuple(refs), yaml.safe_dump_all(objects, sort_keys=False), self.clock.now() - start, auto_s)
        self.applied[phase.index] = applied
        self.current = applied
        return applied

    def _load_into_kind(self, images: set[str]) -> None:
        """Preload images into the kind nodes once per session (nothing to do on an existing cluster)."""
        missing = images - self.loaded_images
        if self.kind is not None and missing:
            self.kind.load_images(missing)
            self.loaded_images |= missing

    def cluster_auto_mtls(self) -> bool:
        """The cluster's meshConfig.enableAutoMtls (Istio's default: true). Read once: without --allow-install the suite
        never changes it on an existing cluster, and the run loop checks the plan's assumption against it."""
        if self._cluster_auto_mtls is None:
            mesh = self.installer.mesh_config() if self.installer is not None else {}
            self._cluster_auto_mtls = mesh.get("enableAutoMtls", True) is not False
        return bool(self._cluster_auto_mtls)

    def _prune(self, keep: Sequence[ObjectRef]) -> None:
        """Delete what earlier phases of this run applied and this one does not (their mesh policy above all).

        Asks the cluster, not this process's memory: under xdist the previous phase may have been applied by another worker.
        """
        wanted = {(r.kind, r.namespace, r.name) for r in keep}
        # Only phase objects: rotation namespaces and the plug-in CA's cacerts carry the run label too, but they live
        # outside the phases (and other processes may be using them right now).
        selector = f"{RUN_LABEL}={self.run_id},{SCOPE_LABEL}=phase"
        stale = [r for r in self.kube.list_labeled(selector) if (r.kind, r.namespace, r.name) not in wanted]
        if stale:
            self.kube.delete(stale)

    def joined_phase(self, phase: Phase) -> None:
        """This process starts probing a phase another process applied: forget pods and dumps of the last one."""
        self._pods.clear()
        self._dumps.clear()

    # --- pods ---------------------------------------------------------------------------------------------------
    def pod_of(self, workload: Workload) -> PodInfo:
        if workload.key not in self._pods:
            # Pods of another Deployment with the same labels but the other sidecar setting are not this workload.
            pods = [p for p in self.kube.pods(workload.namespace, selector(workload)) if p.ready and p.has_sidecar == workload.sidecar]
            if not pods:
                raise HarnessError(workload.key, "no ready pod", f"kubectl -n {workload.namespace} get pods -l {selector(workload)}")
            self._pods[workload.key] = sorted(pods, key=lambda p: p.name)[0]
        return self._pods[workload.key]

    def _dump(self, pod_key: str) -> str:
        pod = next((p for p in self._pods.values() if p.key == pod_key), None)
        if pod is None:
            raise HarnessError(pod_key, "not a pod of the current phase", "")
        result = envoy_admin(self.kube, pod, CONFIG_DUMP_WITH_EDS, self.timing.exec_timeout_s)
        if result.exit_code != 0:
            raise HarnessError(pod_key, f"config_dump failed: {result.stderr.strip() or result.transport_error}", "")
        return result.stdout

    # --- convergence ---------------------------------------------------------------------------------------------
    def config_checks(self, scenario: Scenario, expectations: Sequence[Expectation]) -> list[ProxyCheck]:
        checks: dict[str, ProxyCheck] = {}
        for e in expectations:
            server = scenario.workload(e.probe.target)
            client = scenario.workload(e.probe.source)
            port = e.target_port or e.probe.port
            if server.sidecar and e.server_mode is not None:
                pod = self.pod_of(server)
                check = ProxyCheck(pod.key, f"inbound port {port} enforces {e.server_mode.value}", ev.server_holds(port, e.server_mode))
                checks.setdefault(check.name, check)
            if client.sidecar and e.probe.address is Address.SERVICE:
                pod = self.pod_of(client)
                # The engine's per-endpoint auto-mTLS decision, checked against the client's CDS joined with its EDS.
                _cluster, describe, holds = ev.client_check(scenario, e)
                check = ProxyCheck(pod.key, describe, holds)
                checks.setdefault(check.name, check)
        return list(checks.values())

    def proxy_status(self) -> str:
        release = self.toolbox.istio_release(catalog().install_version(self.istio_version))
        argv = [str(release.istioctl), "proxy-status"]
        if self.installer and self.installer.kubeconfig:
            argv += ["--kubeconfig", self.installer.kubeconfig]
        if self.installer and self.installer.context:
            argv += ["--context", self.installer.context]
        result = self.runner.run(argv, timeout=60)
        return (result.stdout or result.stderr).strip()[-3000:]

    def converge(self, phase: Phase, expectations: Sequence[Expectation],
                 agrees: Callable[[Expectation, ProbeObservation], bool]) -> Convergence:
        """Wait until every affected proxy shows the phase's policy, then until each probe's outcome agrees with its
        expectation N times in a row. ``agrees`` is the run loop's judge: the executor observes, it never judges."""
        scenario = phase.scenario
        config = wait_for_config(self.config_checks(scenario, expectations), self._dump,
                                 timeout_s=self.timing.config_propagation_timeout_s, interval_s=self.timing.poll_interval_s,
                                 clock=self.clock, proxy_status=self.proxy_status, parallelism=self.timing.probe_parallelism)
        by_id = {e.probe.id: e for e in expectations}
        last: dict[str, ProbeObservation] = {}

        def probe_round(ids: Sequence[str]) -> Mapping[str, str]:
            for obs in self.probe(scenario, [by_id[i].probe for i in ids]):
                last[obs.probe_id] = obs
            return {i: _signature(last[i]) for i in ids if i in last}

        def agreeing(probe_id: str, _signature_text: str) -> bool:
            return agrees(by_id[probe_id], last[probe_id])

        stability = await_consistent(probe_round, agreeing, list(by_id), required=self.timing.consecutive_successes,
                                     window_s=self.timing.converge_window_s, interval_s=self.timing.poll_interval_s, clock=self.clock)
        return Convergence(config.seconds + stability.seconds, config.seconds, stability.seconds, config.excerpts, stability, last)

    # --- probes --------------------------------------------------------------------------------------------------
    def probe(self, scenario: Scenario, probes: Sequence[Probe]) -> list[ProbeObservation]:
        """Every probe once, one new connection each: one exec per client pod, pods in parallel; INCONCLUSIVE retried."""
        results: dict[str, ProbeObservation] = {}
        pending = list(probes)
        for _attempt in range(1 + self.timing.inconclusive_retries):
            by_client: dict[str, list[Probe]] = {}
            for p in pending:
                by_client.setdefault(p.source, []).append(p)
            with ThreadPoolExecutor(max_workers=max(1, self.timing.probe_parallelism)) as pool:
                batches = list(pool.map(lambda item: self._probe_batch(scenario, *item), by_client.items()))
            for batch in batches:
                for obs in batch:
                    results[obs.probe_id] = obs
            pending = [p for p in pending if results[p.id].outcome is ProbeOutcome.INCONCLUSIVE]
            if not pending:
                break
        return [results[p.id] for p in probes]

    def _probe_batch(self, scenario: Scenario, source: str, probes: Sequence[Probe]) -> list[ProbeObservation]:
        ids = [p.id for p in probes]
        try:
            client = self.pod_of(scenario.workload(source))
            pod_ips = {p.target: self.pod_of(scenario.workload(p.target)).ip for p in probes if p.address is Address.POD}
            specs = [resolve_pod_ips(probe_spec_from(scenario, p), pod_ips) for p in probes]
        except (HarnessError, KeyError, ValueError) as exc:
            return [ProbeObservation(i, ProbeOutcome.INCONCLUSIVE, raw=f"could not prepare the probe: {exc}") for i in ids]
        script = probe_script(specs, max_time_s=self.timing.probe_timeout_s, tcp_max_time_s=self.timing.tcp_echo_wait_s)
        container = "curl" if "curl" in client.containers else next(iter(client.app_containers), "")
        result = self.kube.exec(client, container, ["sh", "-c", script], self.timing.exec_timeout_s)
        if result.exit_code is None:
            return [ProbeObservation(i, ProbeOutcome.INCONCLUSIVE, raw=f"exec failed: {result.transport_error}") for i in ids]
        return parse_probe_output(result.stdout, ids)

    # --- evidence ------------------------------------------------------------------------------------------------
    def evidence(self, scenario: Scenario, expectation: Expectation, observation: ProbeObservation) -> list[Evidence]:
        """Evidence independent of the probe's own headers: config dumps, metrics delta, and (sampled) a packet capture."""
        probe = expectation.probe
        server, client = scenario.workload(probe.target), scenario.workload(probe.source)
        found: list[Evidence] = []
        try:
            server_dump = self._converged_dump(self.pod_of(server)) if server.sidecar else None
            client_dump = self._converged_dump(self.pod_of(client)) if client.sidecar else None
            found += ev.config_evidence(scenario, expectation, server_dump, client_dump)
        except (HarnessError, ValueError) as exc:
            found.append(Evidence("config-dump", None, f"unavailable: {exc}"))
        if server.sidecar and observation.connected and expectation.protocol == "http":
            found.append(self._metrics_evidence(scenario, probe))
        if _sampled(probe.id, self.options.capture_sample_rate):
            found.append(self._capture_evidence(scenario, expectation))
        return found

    def _converged_dump(self, pod: PodInfo) -> str:
        """A proxy's dump once per phase: after convergence it does not change, and many probes share each proxy."""
        if pod.key not in self._dumps:
            self._dumps[pod.key] = self._dump(pod.key)
        return self._dumps[pod.key]

    def _stats(self, pod: PodInfo) -> str:
        result = envoy_admin(self.kube, pod, "stats/prometheus", self.timing.exec_timeout_s)
        if result.exit_code != 0:
            raise HarnessError(pod.key, f"stats/prometheus failed: {result.stderr.strip() or result.transport_error}", "")
        return result.stdout

    def _metrics_evidence(self, scenario: Scenario, probe: Probe) -> Evidence:
        try:
            server_pod = self.pod_of(scenario.workload(probe.target))
            before = self._stats(server_pod)
            again = self.probe(scenario, [probe])[0]
            after = self._stats(server_pod)
        except HarnessError as exc:
            return Evidence("metrics", None, f"unavailable: {exc}")
        return ev.metrics_evidence(before, after, scenario, probe, again)

    def _capture_evidence(self, scenario: Scenario, expectation: Expectation) -> Evidence:
        """Capture the probe on the server pod, plus a negative control: a plaintext client's probe to the same port."""
        probe = expectation.probe
        server = scenario.workload(probe.target)
        port = expectation.target_port or probe.port
        control_client = next((w for w in scenario.workloads if not w.sidecar and not w.ports and w.key != probe.source), None)
        try:
            self._load_into_kind({CAPTURE_IMAGE})  # only when a capture is sampled: no capture, no image
            pod = self.pod_of(server)
            pcap = self._captured(scenario, pod, port, probe)
            control = None
            if control_client is not None:
                control_probe = Probe(control_client.key, server.key, port, Address.POD)
                control = self._captured(scenario, pod, port, control_probe)
        except (HarnessError, WaitTimeout) as exc:  # a capture is extra evidence: without one the probe still counts
            return Evidence("capture", None, f"unavailable: {str(exc).splitlines()[0]}")
        return ev.capture_evidence(pcap, control, port)

    def _captured(self, scenario: Scenario, pod: PodInfo, port: int, probe: Probe) -> bytes:
        cap = self.capture.start(pod, port, self.timing.capture_window_s)
        try:
            self.probe(scenario, [probe])
        finally:
            pcap = self.capture.stop(pod, cap)
        return pcap

    # --- plug-in CA (certificate rotation suite) ---------------------------------------------------------------
    def install_plugin_ca(self, files: Mapping[str, bytes]) -> None:
        """Make istiod sign with a suite-made CA: the `cacerts` secret of Istio's plug-in CA task, then restart istiod.

        https://istio.io/latest/docs/tasks/security/cert-management/plugin-ca-cert/ (ca-cert.pem, ca-key.pem,
        root-cert.pem, cert-chain.pem). The root of trust is mesh-wide, so an existing cluster needs --allow-install.
        The secret carries the run label; close() deletes it and restarts istiod again, back to its own CA.
        """
        if self.options.external and not self.options.allow_install:
            raise HarnessError("plug-in CA", "replaces the mesh's root of trust on an existing cluster",
                               "pass --allow-install to allow it, or skip the plug-in CA cases")
        missing = {"ca-cert.pem", "ca-key.pem", "root-cert.pem", "cert-chain.pem"} - set(files)
        if missing:
            raise HarnessError("plug-in CA", "cacerts lacks " + ", ".join(sorted(missing)), "pass all four files")
        secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                  "metadata": {"name": "cacerts", "namespace": ISTIO_NAMESPACE, "labels": {RUN_LABEL: self.run_id, SCOPE_LABEL: "isolated"}},
                  "data": {name: base64.b64encode(data).decode() for name, data in sorted(files.items())}}
        self.kube.apply([secret])
        with self.state.update() as state:
            state.plugin_ca = True
        self._restart_istiod()

    def _restart_istiod(self) -> None:
        self.kube.restart_deployment(ISTIO_NAMESPACE, "istiod")
        self.kube.wait_rollouts([ISTIO_NAMESPACE], "app=istiod", self.timing.install_timeout_s)

    # --- repro bundles -------------------------------------------------------------------------------------------
    def write_bundle(self, case: Case, verdicts: Sequence[Verdict], dest: Path) -> Path:
        """Write the repro bundle of a failing case into the folder ``dest`` (see bundle.py); returns it."""
        manifests = yaml.safe_dump_all(render_scenario(case.scenario, self.run_id, case.id), sort_keys=False)
        pods: dict[str, PodInfo] = {}
        for v in verdicts:
            for key in (v.expected.probe.source, v.expected.probe.target):
                try:
                    pods[key] = self.pod_of(case.scenario.workload(key))
                except (HarnessError, KeyError):
                    continue
        dumps, logs = {}, {}
        for key, pod in pods.items():
            if pod.has_sidecar:
                result = envoy_admin(self.kube, pod, CONFIG_DUMP_WITH_EDS, self.timing.exec_timeout_s)
                dumps[key] = result.stdout or result.stderr or result.transport_error
                logs[f"{key}/istio-proxy"] = self.kube.logs(pod, "istio-proxy")
        for pod in self.kube.pods(ISTIO_NAMESPACE, "app=istiod"):
            logs[f"istiod/{pod.name}"] = self.kube.logs(pod, "discovery")
        inputs = BundleInputs(case=case, verdicts=tuple(verdicts), manifests=manifests, istio_version=str(self.istio_version),
                              kubernetes_version=self.kubernetes_version, run_id=self.run_id,
                              probe_scripts=case_probe_scripts(case.scenario, self.timing.probe_timeout_s, self.timing.tcp_echo_wait_s),
                              config_dumps=dumps, logs=logs, istio_values=str(self.options.istio_values or ""))
        return write_case_bundle(inputs, Path(dest))
