"""A fake cluster for the offline dry run: the executor's ``Kube`` and ``CommandRunner`` seams, answered with the shapes
of real artefacts, so ``MeshSession.open(...)`` runs install -> apply -> converge -> probe -> evidence without Docker.

Construct it with the plan's phases (and its isolated cases: rotation); it works out which phase is applied from the
objects it holds (see ``FakeCluster.scenario``; an isolated case's objects are found by their case annotation), and answers every probe with what the expectation engine (the unpatched
``mtls_conformance.engine.expect.expect``) predicts for that phase. It proves the plumbing, not Istio's semantics.

    kit = kind_kit(tmp_path, plan.phases, cases=plan.isolated)  # fresh kind cluster, Istio installed by the session
    kit = existing_kit(tmp_path, plan.phases, "1.30.3")        # an existing cluster with Istio 1.30.3 already on it
    session = MeshSession.open(kit.options, **kit.open_kwargs())

``state_file`` (the kits put it under tmp_path) makes the cluster one shared state for several processes (xdist
workers): every operation re-reads and re-writes it under an flock, as a real API server would be shared.

Each shape and the artefact it comes from (artefacts are read from ../shared at run time, never copied):

| answer | shape taken from |
|---|---|
| injected pod (native sidecar) | ``istio/inject/native-sidecar.yaml.injected`` (istio/istio pkg/kube/inject/testdata/inject, tag 1.30.3, see SOURCES.md): its metadata, ``istio-init`` and ``istio-proxy`` init containers (``restartPolicy: Always``) and volumes; the Deployment's name, labels and containers substituted. The input file's own ``other-sidecar`` init container is dropped. |
| un-injected pod | the Deployment's pod template (what the injector receives, as ``istio/inject/native-sidecar.yaml`` before injection) |
| pod ``status`` (phase, podIP, conditions, containerStatuses, initContainerStatuses) | Kubernetes API PodStatus (https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/#PodStatus); the golden files carry ``status: {}`` |
| pod -> PodInfo | ``mtls_conformance.executor.kube.pod_info`` when it exists (the real parsing), else ``_pod_info_standin`` below |
| label selectors | equality-based (``k=v``, ``k==v``, ``k!=v``, ``k``, ``!k``, comma = and): https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors |
| injection decision | namespace label ``istio-injection=enabled`` and pod label ``sidecar.istio.io/inject`` not ``false`` (https://istio.io/latest/docs/setup/additional-setup/sidecar-injection/), only once istiod exists |
| ``pilot-agent request GET config_dump`` | ListenersConfigDump of ``proxy-artifacts/envoy-config_dump/sidecar-listeners.config_dump.json`` (virtualInbound chains: the ``0.0.0.0_80`` per-port chains for HTTP ports, the ``virtualInbound`` ALPN ``istio-peer-exchange`` chains for TCP ports; STRICT = the TLS chain, PERMISSIVE = TLS + ``raw_buffer``, DISABLE = ``raw_buffer``, per the engine's server mode); ClustersConfigDump of ``describe-http_config.config_dump.json`` (auto mTLS ``transport_socket_matches``, or its ``tlsMode-istio`` socket as the DestinationRule's ``transport_socket``, or neither); SecretsConfigDump of ``istioctl-secret/istio.secrets-config_dump.json``; Envoy's section order (Bootstrap, Clusters, Endpoints, Listeners, ..., Secrets: https://www.envoyproxy.io/docs/envoy/latest/operations/admin#get--config_dump) |
| ``config_dump?include_eds`` | the above plus the EndpointsConfigDump of ``endpoints.config_dump.json`` (``envoy.transport_socket_match.tlsMode: istio`` only where the engine sends Istio mTLS to that endpoint; ``istio.workload`` in the artefact's ``name;namespace;app;version;cluster`` form) |
| ``stats/prometheus`` | ``proxy-artifacts/prometheus/*EXCERPT-head.txt`` + ``*EXCERPT-tail.txt`` (DataDog/integrations-core istio/tests/fixtures/1.5/istio-proxy.txt @ 4ddecaccd8d5), plus ``istio_requests_total`` series with the tail's label names (standard metrics share one label set: https://istio.io/latest/docs/reference/config/metrics/) counting the probes this fake answered |
| ``config_dump?resource=dynamic_active_secrets`` (and the SecretsConfigDump of ``config_dump``) | ``istioctl-secret/istio.dynamic_active_secrets.resource-filtered.DERIVED.json`` (``istio.secrets-config_dump.json``) through ``sds_answers.sds_answer``/``with_certificates``: only secret ``default``'s chain (this pod's current workload certificate + the mesh root, two certificates like the artefact's) and ``ROOTCA``'s trusted CA (the mesh root) are swapped, and their ``last_updated`` set to when the agent got them; see "Workload certificates" below |
| ``istio-ca-root-cert`` ConfigMap, key ``root-cert.pem`` | istiod's namespace controller writes it to every namespace but the ignored system ones: istio/istio pilot/pkg/serviceregistry/kube/controller/namespacecontroller.go (``CACertNamespaceConfigMap = "istio-ca-root-cert"``, ``ignoredNamespaces = inject.IgnoredNamespaces`` minus kube-system) @ 0098d99f8e43, data key ``constants.CACertNamespaceConfigMapDataName`` (``root-cert.pem``; pilot/pkg/bootstrap ``fetchCARoot``); computed on read, like the pods |
| traffic script (``sh -c`` of fixtures/rotation.py ``traffic_script``) | what its ``echo "$(date +%s.%N) ${code:-000}"`` prints, one line per request every ``TRAFFIC_INTERVAL_S`` of the watched window: ``200`` while both sidecars hold a valid certificate (and the engine says the request is accepted), else Envoy's ``503`` (upstream TLS failure), ``403`` or ``000`` |
| probe script (``sh -c``) | the record lines ``observe/curl.py``'s script prints (its ``printf`` formats); bodies: go-httpbin ``/headers`` JSON with list values (https://github.com/mccutchen/go-httpbin, image in manifests/images.yaml), XFCC as in Istio's authn-policy task, Envoy's 503 local reply text, ``RBAC: access denied``; curl exit codes per https://curl.se/docs/manpage.html#EXIT |
| istiod ``pilot-discovery request GET /debug/mesh`` | the ``mesh`` ConfigMap key as JSON (istio/istio pilot/pkg/xds/debug.go "Active mesh config") |
| ``istio`` ConfigMap ``mesh`` key | istio/istio ``manifests/charts/istio-control/istio-discovery/templates/configmap.yaml`` @ 05d1e69db4d6 (the ``mesh`` define merged with ``.Values.meshConfig``, rendered with ``toYaml``) with the default values of ``helm-values/<tag>/istiod.values.yaml`` |
| istiod Deployment | the chart's ``istiod`` Deployment: labels ``app: istiod``, ``istio: pilot``, container ``discovery``, image ``<hub>/pilot:<tag>`` from the ``--values`` files helm is given |
| ``docker version --format {{.Server.Version}}`` | https://docs.docker.com/reference/cli/docker/version/ (``--format`` Go template) |
| ``kind version`` / ``get clusters`` / ``create cluster`` / ``export kubeconfig`` / ``load docker-image`` / ``delete cluster`` | kind's CLI (https://kind.sigs.k8s.io/docs/user/quick-start/): ``kind v0.33.0 go1.24.6 linux/amd64``; ``No kind clusters found.`` on stderr; the kubeconfig kind writes (cluster/context/user ``kind-<name>``) |
| ``helm version --template {{.Version}}`` / ``status`` / ``upgrade --install`` / ``uninstall`` | Helm's CLI (https://helm.sh/docs/helm/): ``Error: release: not found`` for an absent release |
| ``istioctl proxy-status`` | the table of https://istio.io/latest/docs/reference/commands/istioctl/#istioctl-proxy-status (NAME CLUSTER CDS LDS EDS RDS ECDS ISTIOD VERSION) |
| Istio release archive and its ``.sha256`` | a tar.gz holding the paths executor/data/tools.yaml names (``bin/istioctl``, the two charts' ``Chart.yaml``); the checksum file in the publisher's ``<sha256>  <file>`` form |

Workload certificates, as istio-agent and istiod make them (facts: ../shared/reference/istio-mtls-semantics.md §5):
one fake mesh CA per cluster (istiod's self-signed root: O=<trust domain>, 10 years, made when istiod is installed
and kept in the shared state); each sidecar pod gets ``mint_workload`` certificates for
``spiffe://<trust domain>/ns/<ns>/sa/<serviceAccountName>`` (trust domain from the ``istio`` ConfigMap) with the
lifetime ``SECRET_TTL`` (pod annotation ``proxy.istio.io/config`` ``proxyMetadata``, else the mesh's
``defaultConfig.proxyMetadata``, else 24h), NotBefore back-dated 2 minutes (istiod's ``ClockSkewGracePeriod``). The first
is issued when the pod starts (the Deployment's apply or restart, on the fake clock); each next one at istio-agent's
``rotateTime`` (security/pkg/nodeagent/cache/secretcache.go): ``Expire - (g + jitter) * (Expire - Created)`` with
``g = SECRET_GRACE_PERIOD_RATIO`` 0.5 and jitter ``u * 0.01 * s`` (``SECRET_GRACE_PERIOD_RATIO_JITTER`` 0.01, ``u`` in
[0,1), ``s`` in {-1,0,1}: Istio's formula, drawn from a hash of the pod and the certificate's index instead of
``math/rand``, so a run is reproducible). Certificates are minted lazily, when first served, at their scheduled issue
time. Time is the fake clock (``LocalClock``); ``LocalClock.wall()`` maps it to UTC (t=1000 is 2026-09-01T10:00:00Z,
the pod status timestamps), and the dry-run plugin hands that wall clock to the rotation driver.

Faults (``Faults``): ``never_ready`` workloads/Deployments whose pod never passes its readiness probe (rollout waits
time out like KubeClient's); ``probe_exec_fails`` clients whose probe exec fails in transport (``exit_code None``);
``admin_exec_fails`` pods whose Envoy admin exec fails; ``rotation_stalls`` pods whose workload certificate is never
renewed (the agent keeps serving the first one past its expiry, and mTLS requests to or from it then fail).
"""

from __future__ import annotations

import base64
import contextlib
import copy
import fcntl
import hashlib
import io
import json
import re
import shlex
import tarfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from paths import SHARED
from support.sds_answers import sds_answer, with_certificates

from mtls_conformance.engine.destination_rule import find_destination_rule
from mtls_conformance.engine.endpoint_tls import endpoint_tls_mode
from mtls_conformance.engine.expect import expect as engine_expect  # the module's function: never a test's patch
from mtls_conformance.engine.model import ClientSends, Expectation, Mode
from mtls_conformance.executor import kube as kube_module
from mtls_conformance.executor.errors import HarnessError, WaitTimeout
from mtls_conformance.executor.kube import CLEANUP_KINDS, ExecResult, Kube, ObjectRef, PodInfo
from mtls_conformance.executor.process import CommandResult
from mtls_conformance.executor.session import SessionOptions
from mtls_conformance.executor.tools import Platform, Toolbox, istio_spec
from mtls_conformance.observe.curl import END_TAG, RECORD_TAG
from mtls_conformance.observe.pki import Issued, mint_ca, mint_workload
from mtls_conformance.outcomes import ProbeOutcome
from mtls_conformance.plan import render as render_module
from mtls_conformance.plan.model import Case, Phase
from mtls_conformance.plan.render import CASE_ANNOTATION, RUN_LABEL, SCOPE_LABEL, render_phase
from mtls_conformance.scenario.model import Address, Probe, Protocol, Scenario, Workload
from mtls_conformance.timing import Timing
from mtls_conformance.versions import IstioVersion, parse_version

ISTIO_ARTEFACTS = SHARED / "istio"
PROXY = ISTIO_ARTEFACTS / "proxy-artifacts"
ISTIO_NAMESPACE = "istio-system"
KUBERNETES_VERSION = "v1.34.11"  # kind-config.yaml's node image kindest/node:v1.34.11
DOCKER_VERSION = "28.2.2"
KIND_VERSION = "0.33.0"  # executor/data/tools.yaml
HELM_VERSION = "3.19.2"
INJECTED_LABEL = "security.istio.io/tlsMode"
_PROBE_LINE = re.compile(r"^(http_probe|tcp_probe) (.*?)( &)?$")
_BODY_CAP = re.compile(r"head -c (\d+)")
ROOT_CONFIGMAP, ROOT_KEY = "istio-ca-root-cert", "root-cert.pem"  # namespacecontroller.go, constants (module docstring)
IGNORED_NAMESPACES = frozenset({"kube-public", "kube-node-lease", "local-path-storage"})  # inject.IgnoredNamespaces - kube-system
PROXY_CONFIG_ANNOTATION = "proxy.istio.io/config"
DEFAULT_SECRET_TTL_S = 24 * 3600.0  # SECRET_TTL default 24h0m0s (pilot-agent reference)
GRACE_RATIO, GRACE_RATIO_JITTER = 0.5, 0.01  # SECRET_GRACE_PERIOD_RATIO, SECRET_GRACE_PERIOD_RATIO_JITTER defaults
CLOCK_SKEW_GRACE_S = 120.0  # istiod back-dates NotBefore by 2 minutes (ClockSkewGracePeriod)
SELF_SIGNED_ROOT_TTL = timedelta(hours=87600)  # istiod's self-signed root: 10 years
TRAFFIC_INTERVAL_S = 0.5  # the fake curl loop's pace: one request every half second
_TRAFFIC_SCRIPT = re.compile(r'^end=\$\(\( \$\(date \+%s\) \+ (\d+) \)\);.*curl .*"(http://[^"]+)".*echo')
_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)")
_FAKE_EPOCH = datetime(2026, 9, 1, 10, 0, tzinfo=UTC).timestamp() - 1000.0  # LocalClock t=1000 <-> the pod status time


# --------------------------------------------------------------------------------------------------- artefacts
def _json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"shared artefact missing: {path}")
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


class Artefacts:
    """The real documents every answer is built from, loaded once per process."""

    _lock = threading.Lock()
    _loaded: dict[str, Any] = {}

    @classmethod
    def get(cls, name: str, load: Callable[[], Any]) -> Any:
        with cls._lock:
            if name not in cls._loaded:
                cls._loaded[name] = load()
            return copy.deepcopy(cls._loaded[name])

    @classmethod
    def injected_pod(cls) -> dict[str, Any]:
        path = ISTIO_ARTEFACTS / "inject" / "native-sidecar.yaml.injected"
        # The golden file holds the injected Pod, then the Deployment of the same test: the Pod is the shape.
        return dict(cls.get("injected", lambda: next(d for d in yaml.safe_load_all(path.read_text(encoding="utf-8"))
                                                     if d and d.get("kind") == "Pod")))

    @classmethod
    def listeners(cls) -> dict[str, Any]:
        return cls.get("listeners", lambda: _json(PROXY / "envoy-config_dump" / "sidecar-listeners.config_dump.json"))  # type: ignore[no-any-return]

    @classmethod
    def clusters(cls) -> dict[str, Any]:
        return cls.get("clusters", lambda: _json(PROXY / "envoy-config_dump" / "describe-http_config.config_dump.json"))  # type: ignore[no-any-return]

    @classmethod
    def endpoints(cls) -> dict[str, Any]:
        return cls.get("endpoints", lambda: _json(PROXY / "envoy-config_dump" / "endpoints.config_dump.json"))  # type: ignore[no-any-return]

    @classmethod
    def secrets(cls) -> dict[str, Any]:
        return cls.get("secrets", lambda: _json(PROXY / "istioctl-secret" / "istio.secrets-config_dump.json"))  # type: ignore[no-any-return]

    @classmethod
    def filtered_secrets(cls) -> dict[str, Any]:
        name = "istio.dynamic_active_secrets.resource-filtered.DERIVED.json"
        return cls.get("filtered", lambda: _json(PROXY / "istioctl-secret" / name))  # type: ignore[no-any-return]

    @classmethod
    def prometheus(cls) -> tuple[str, str]:
        folder = PROXY / "prometheus"

        def load() -> tuple[str, str]:
            head = (folder / "datadog-fixture-istio-1.5-istio-proxy.EXCERPT-head.txt").read_text(encoding="utf-8")
            tail = (folder / "datadog-fixture-istio-1.5-istio-proxy.EXCERPT-tail.txt").read_text(encoding="utf-8")
            return head, tail

        head, tail = cls.get("prometheus", load)
        return str(head), str(tail)

    @classmethod
    def istiod_values(cls, version: str) -> dict[str, Any]:
        """The istiod chart's default values at the closest release tag ../shared has for ``version``'s line."""
        folder = ISTIO_ARTEFACTS / "helm-values"
        line = ".".join(version.split(".")[:2])
        tags = sorted((p.name for p in folder.iterdir() if p.name.startswith(line + ".")), reverse=True)
        tag = tags[0] if tags else sorted(p.name for p in folder.iterdir())[-1]
        raw = cls.get(f"values-{tag}", lambda: yaml.safe_load((folder / tag / "istiod.values.yaml").read_text(encoding="utf-8")))
        return dict(raw.get("_internal_defaults_do_not_set", raw))


def _first(items: Sequence[Mapping[str, Any]], predicate: Callable[[Mapping[str, Any]], bool], what: str) -> dict[str, Any]:
    for item in items:
        if predicate(item):
            return copy.deepcopy(dict(item))
    raise AssertionError(f"the artefact no longer has {what}")


# --------------------------------------------------------------------------------------------------- small pieces
def matches_selector(labels: Mapping[str, str], selector: str) -> bool:
    """Kubernetes equality-based label selector (comma = and)."""
    for raw in (part.strip() for part in selector.split(",")):
        if not raw:
            continue
        if "!=" in raw:
            key, value = raw.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in raw:
            key, value = raw.split("==", 1) if "==" in raw else raw.split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif raw.startswith("!"):
            if raw[1:].strip() in labels:
                return False
        elif raw not in labels:
            return False
    return True


def _pod_info_standin(pod: Mapping[str, Any]) -> PodInfo:
    """STAND-IN until executor/kube.py has a pod -> PodInfo function: a native sidecar (an init container with
    restartPolicy Always) counts as a container, as Kubernetes runs it for the pod's whole life."""
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    natives = [c["name"] for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    return PodInfo(name=str(meta.get("name", "")), namespace=str(meta.get("namespace", "")), ip=str(status.get("podIP") or ""),
                   node=str(spec.get("nodeName") or ""), labels=dict(meta.get("labels") or {}),
                   containers=tuple([c["name"] for c in spec.get("containers") or []] + natives),
                   ephemeral_containers=tuple(c["name"] for c in spec.get("ephemeralContainers") or []),
                   ready=conditions.get("Ready") == "True")


def to_pod_info(pod: Mapping[str, Any]) -> PodInfo:
    """The project's own parser when it exists (kube.pod_info), so the fake exercises it; else the stand-in."""
    real: Callable[[Mapping[str, Any]], PodInfo] | None = getattr(kube_module, "pod_info", None)
    return real(pod) if real is not None else _pod_info_standin(pod)


def _short_hash(*parts: object, n: int = 10) -> str:
    alphabet = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' safe-encoding alphabet for generated names
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return "".join(alphabet[b % len(alphabet)] for b in digest[:n])


def _hex(data: bytes) -> str:
    return data.hex() or "-"


@dataclass(frozen=True)
class Faults:
    """Switches that make the cluster misbehave, so failures can be shown to carry evidence.

    Keys are workload keys (``namespace/name``) or Deployment keys (``namespace/deployment``); ``"*"`` means all.
    """

    never_ready: frozenset[str] = frozenset()  # these pods run but never pass readiness: rollouts time out
    probe_exec_fails: frozenset[str] = frozenset()  # probe execs in these clients fail in transport (exit_code None)
    admin_exec_fails: frozenset[str] = frozenset()  # pilot-agent requests in these pods fail in transport
    rotation_stalls: frozenset[str] = frozenset()  # istio-agent in these pods never renews its workload certificate

    @staticmethod
    def hit(keys: frozenset[str], candidates: Sequence[str]) -> bool:
        return "*" in keys or any(c in keys for c in candidates)


class LocalClock:
    """Time moves only when the harness waits: every bounded wait is instant and observable."""

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start
        self.waits: list[float] = []

    def now(self) -> float:
        return self.t

    def wait(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.t += seconds

    def epoch(self, t: float | None = None) -> float:
        """Unix seconds of fake time ``t`` (default now): t=1000 is 2026-09-01T10:00:00Z."""
        return _FAKE_EPOCH + (self.t if t is None else t)

    def wall(self) -> datetime:
        """The wall clock of the fake cluster (UTC), moving only with the fake clock: what its pods' ``date`` says."""
        return datetime.fromtimestamp(self.epoch(), UTC)


def go_duration_seconds(text: str) -> float:
    """A Go ``time.Duration`` string (``5m``, ``1h30m``, ``90s``, ``500ms``) in seconds."""
    parts = _GO_DURATION.findall(text.strip())
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        raise ValueError(f"{text!r} is not a Go duration")
    unit = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    return sum(float(n) * unit[u] for n, u in parts)


def grace_jitter(pod_key: str, index: int) -> float:
    """istio-agent's ``(rand.Float64() * jitter) * float64(rand.IntN(3) - 1)``, drawn from a hash instead of math/rand."""
    digest = hashlib.sha256(f"{pod_key}#{index}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    return u * GRACE_RATIO_JITTER * (digest[8] % 3 - 1)


def issue_times(pod_key: str, start: float, ttl_s: float, until: float, *, stalled: bool = False) -> list[float]:
    """When istio-agent gets each certificate, from the pod's start up to ``until`` (secretcache.go ``rotateTime``:
    renew at ``Expire - g' * (Expire - Created)``, ``g'`` the grace ratio plus jitter clamped to [0, 1])."""
    times = [start]
    while not stalled:
        g = min(1.0, max(0.0, GRACE_RATIO + grace_jitter(pod_key, len(times) - 1)))
        nxt = times[-1] + ttl_s - g * ttl_s
        if nxt > until or nxt <= times[-1]:
            break
        times.append(nxt)
    return times


# --------------------------------------------------------------------------------------------------- the cluster
def _key(api_version: str, kind: str, namespace: str | None, name: str) -> str:
    return f"{api_version}|{kind}|{namespace or ''}|{name}"


def _ref_of_key(key: str) -> ObjectRef:
    api_version, kind, namespace, name = key.split("|")
    return ObjectRef(api_version, kind, name, namespace or None)


def _empty_state() -> dict[str, Any]:
    return {"kind_clusters": [], "helm": [], "objects": {}, "requests": {}, "generation": 0, "restarts": {}, "started": {},
            "mesh_ca": None, "certs": {}}


class FakeCluster(Kube):
    """An API server, kubelet, sidecar injector, Envoy admin and client pods in one object (see the module docstring)."""

    def __init__(self, phases: Sequence[Phase] = (), *, cases: Sequence[Case] = (), version: IstioVersion | str | None = None,
                 faults: Faults | None = None,
                 state_file: Path | None = None, kubernetes_version: str = KUBERNETES_VERSION, clock: LocalClock | None = None,
                 node_names: Sequence[str] = ("mtls-conformance-worker", "mtls-conformance-worker2")) -> None:
        self.phases = tuple(phases)
        self.cases = {c.id: c for c in cases}  # isolated cases (rotation), found by the case annotation of their namespace
        self.version = parse_version(str(version)) if version is not None else None
        self.faults = faults or Faults()
        self.state_file = state_file
        self.kubernetes_version = kubernetes_version
        self.clock = clock
        self.time = clock or LocalClock()  # certificate time: the kit's clock, else a clock that stands still
        self.nodes = tuple(node_names)
        self.scenario_override: Scenario | None = None  # a test may pin the scenario instead of the phase matching
        self.log: list[tuple[Any, ...]] = []  # this process's calls, for assertions
        self._lock = threading.RLock()
        self._state = _empty_state()
        self._depth = 0
        self._dirty = False
        self._scenario_cache: dict[frozenset[tuple[str, str | None, str]], Scenario | None] = {}

    # --- shared state ----------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _tx(self, write: bool = True) -> Iterator[dict[str, Any]]:
        """The state, read (and written back) under the file lock; re-entrant within one thread."""
        with self._lock:
            if self.state_file is None or self._depth:
                self._depth += 1
                self._dirty = self._dirty or write
                try:
                    yield self._state
                finally:
                    self._depth -= 1
                return
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            lock_path = self.state_file.with_name(self.state_file.name + ".lock")
            with lock_path.open("a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    text = self.state_file.read_text(encoding="utf-8") if self.state_file.exists() else ""
                    self._state = json.loads(text) if text else _empty_state()
                    self._depth, self._dirty = 1, write
                    try:
                        yield self._state
                    finally:
                        self._depth = 0
                    if self._dirty:
                        tmp = self.state_file.with_name(self.state_file.name + ".tmp")
                        tmp.write_text(json.dumps(self._state), encoding="utf-8")
                        tmp.replace(self.state_file)
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)

    def objects(self, kind: str | None = None) -> list[dict[str, Any]]:
        with self._tx(write=False) as st:
            return [copy.deepcopy(o) for o in st["objects"].values() if kind is None or o.get("kind") == kind]

    def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        for obj in self.objects(kind):
            meta = obj.get("metadata") or {}
            if meta.get("name") == name and meta.get("namespace") == namespace:
                return obj
        return None

    # --- Kube: apply and delete ------------------------------------------------------------------------------
    def server_version(self) -> str:
        return self.kubernetes_version

    def apply(self, objects: Sequence[Mapping[str, Any]]) -> list[ObjectRef]:
        refs = []
        with self._tx() as st:
            for obj in objects:
                ref = ObjectRef.of(obj)
                key = _key(ref.api_version, ref.kind, ref.namespace, ref.name)
                existing = st["objects"].get(key)
                labels = ((existing or {}).get("metadata") or {}).get("labels") or {}
                if existing is not None and RUN_LABEL not in labels and (ref.kind, ref.name) != ("ServiceAccount", "default"):
                    # What KubeClient.apply refuses (same words): applying would label someone's object for cleanup.
                    raise HarnessError(str(ref), f"exists and was not created by mtls-conformance (no {RUN_LABEL} label); applying "
                                       "would label it and cleanup would delete it",
                                       "rename it in the scenario, or remove the existing object yourself if it is disposable")
                doc = copy.deepcopy(dict(obj))
                if existing is not None and existing.get("spec") != doc.get("spec"):
                    doc.setdefault("metadata", {})["generation"] = int((existing.get("metadata") or {}).get("generation", 1)) + 1
                if ref.kind == "Deployment" and (existing is None or (existing.get("spec") or {}).get("template")
                                                 != (doc.get("spec") or {}).get("template")):
                    st.setdefault("started", {})[key] = self.time.now()  # a new pod starts (rollouts are instant here)
                st["objects"][key] = doc
                refs.append(ref)
            st["generation"] += 1
        self.log.append(("apply", tuple(refs)))
        return refs

    def _delete_keys(self, st: dict[str, Any], keys: Sequence[str]) -> None:
        for key in keys:
            obj = st["objects"].pop(key, None)
            if obj is not None and obj.get("kind") == "Namespace":  # the namespace controller deletes its contents
                ns = (obj.get("metadata") or {}).get("name")
                for other in [k for k, o in st["objects"].items() if (o.get("metadata") or {}).get("namespace") == ns]:
                    st["objects"].pop(other, None)
        st["generation"] += 1

    def delete(self, refs: Sequence[ObjectRef]) -> None:
        with self._tx() as st:
            self._delete_keys(st, [_key(r.api_version, r.kind, r.namespace, r.name) for r in refs])
        self.log.append(("delete", tuple(refs)))

    def _labeled(self, st: dict[str, Any], label_selector: str) -> list[str]:
        kinds = {(a, k) for a, k in CLEANUP_KINDS}
        found = []
        for api_version, kind in CLEANUP_KINDS:  # KubeClient's order: namespaces last
            for key, obj in st["objects"].items():
                if (obj.get("apiVersion"), obj.get("kind")) == (api_version, kind) and (api_version, kind) in kinds \
                        and matches_selector((obj.get("metadata") or {}).get("labels") or {}, label_selector):
                    found.append(key)
        return found

    def list_labeled(self, label_selector: str) -> list[ObjectRef]:
        with self._tx(write=False) as st:
            return [_ref_of_key(k) for k in self._labeled(st, label_selector)]

    def delete_labeled(self, label_selector: str, timeout_s: float) -> list[ObjectRef]:
        with self._tx() as st:
            keys = self._labeled(st, label_selector)
            self._delete_keys(st, keys)
        self.log.append(("delete_labeled", label_selector))
        return [_ref_of_key(k) for k in keys]

    # --- pods ----------------------------------------------------------------------------------------------------
    def _deployment_keys(self, deployment: Mapping[str, Any]) -> list[str]:
        """Names a fault may use for this Deployment: namespace/deployment and namespace/<workload> of its Services."""
        meta = deployment.get("metadata") or {}
        ns, name = meta.get("namespace"), meta.get("name")
        keys = [f"{ns}/{name}"]
        pod_labels = ((deployment.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {}
        scenario = self.scenario()
        if scenario is not None:
            sidecar_off = pod_labels.get("sidecar.istio.io/inject") == "false"
            keys += [w.key for w in scenario.workloads if w.namespace == ns and w.sidecar != sidecar_off
                     and all(pod_labels.get(k) == v for k, v in (w.labels or {"app": w.name}).items())]
        return keys

    def _injects(self, namespace: str | None, pod_labels: Mapping[str, str], st: dict[str, Any]) -> bool:
        ns = st["objects"].get(_key("v1", "Namespace", None, namespace or ""))
        ns_labels = ((ns or {}).get("metadata") or {}).get("labels") or {}
        istiod = st["objects"].get(_key("apps/v1", "Deployment", ISTIO_NAMESPACE, "istiod"))
        return istiod is not None and ns_labels.get("istio-injection") == "enabled" and pod_labels.get("sidecar.istio.io/inject") != "false"

    def _pod_ips(self, st: dict[str, Any]) -> dict[str, str]:
        """One stable IP per Deployment: from a hash of its identity, probing past collisions in a fixed order."""
        taken: dict[str, str] = {}
        used: set[str] = set()
        keys = sorted(k for k, o in st["objects"].items() if o.get("kind") == "Deployment")
        for key in keys:
            h = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16)
            for step in range(64000):
                n = (h + step) % 64000
                ip = f"10.244.{1 + n // 250}.{2 + n % 250}"
                if ip not in used:
                    break
            used.add(ip)
            taken[key] = ip
        return taken

    def _pod_of(self, key: str, deployment: Mapping[str, Any], ip: str, st: dict[str, Any]) -> dict[str, Any]:
        meta = deployment.get("metadata") or {}
        ns, name = str(meta.get("namespace")), str(meta.get("name"))
        template = copy.deepcopy(((deployment.get("spec") or {}).get("template")) or {})
        tmeta, tspec = template.get("metadata") or {}, template.get("spec") or {}
        labels = dict(tmeta.get("labels") or {})
        restarts = st.get("restarts", {}).get(key, 0)
        pod_hash = _short_hash(key, json.dumps(template, sort_keys=True), restarts)
        pod_name = f"{name}-{pod_hash}-{_short_hash(pod_hash, n=5)}"
        labels["pod-template-hash"] = pod_hash
        node = self.nodes[int(hashlib.sha256(key.encode()).hexdigest()[:2], 16) % len(self.nodes)] if self.nodes else ""
        containers = list(tspec.get("containers") or [])
        if self._injects(ns, labels, st):
            pod = Artefacts.injected_pod()
            pmeta, pspec = pod["metadata"], pod["spec"]
            pmeta["annotations"] = {**pmeta.get("annotations", {}), **(tmeta.get("annotations") or {}),
                                    "kubectl.kubernetes.io/default-container": containers[0]["name"],
                                    "kubectl.kubernetes.io/default-logs-container": containers[0]["name"]}
            canonical = labels.get("app", name)
            pmeta["labels"] = {**labels, INJECTED_LABEL: pmeta["labels"][INJECTED_LABEL],
                               "service.istio.io/canonical-name": canonical,
                               "service.istio.io/canonical-revision": labels.get("version", "latest")}
            injected = [c for c in pspec["initContainers"] if c["name"] in ("istio-init", "istio-proxy")]
            for c in injected:
                for env in c.get("env") or []:
                    if env["name"] == "ISTIO_META_APP_CONTAINERS":
                        env["value"] = ",".join(x["name"] for x in containers)
                    elif env["name"] == "ISTIO_META_WORKLOAD_NAME":
                        env["value"] = name
                    elif env["name"] == "ISTIO_META_OWNER":
                        env["value"] = f"kubernetes://apis/apps/v1/namespaces/{ns}/deployments/{name}"
                    elif env["name"] == "ISTIO_KUBE_APP_PROBERS":  # the artefact's form, for this pod's HTTP readiness probes
                        env["value"] = json.dumps({f"/app-health/{x['name']}/readyz": {"httpGet": x["readinessProbe"]["httpGet"]}
                                                   for x in containers if "httpGet" in (x.get("readinessProbe") or {})},
                                                  separators=(",", ":"))
                    elif env["name"] == "ISTIO_META_POD_PORTS":
                        ports = [{"containerPort": p["containerPort"], "protocol": p.get("protocol", "TCP")}
                                 for x in containers for p in x.get("ports") or []]
                        env["value"] = json.dumps(ports, indent=4)
            pspec.update({k: v for k, v in tspec.items() if k not in ("containers", "initContainers", "volumes")})
            pspec["containers"] = containers
            pspec["initContainers"] = [*(tspec.get("initContainers") or []), *injected]
            pspec["volumes"] = [*(tspec.get("volumes") or []), *pspec.get("volumes", [])]
        else:
            pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": labels, "annotations": dict(tmeta.get("annotations") or {})},
                   "spec": tspec}
            pmeta, pspec = pod["metadata"], pod["spec"]
            pmeta["labels"] = labels
        pmeta.update(name=pod_name, namespace=ns, generateName=f"{name}-{pod_hash}-")
        pmeta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": f"{name}-{pod_hash}", "controller": True}]
        pspec["nodeName"] = node
        ready = not (self.faults.never_ready and Faults.hit(self.faults.never_ready, self._deployment_keys(deployment)))
        pod["status"] = self._status(pspec, ip, ready)
        return pod

    @staticmethod
    def _status(spec: Mapping[str, Any], ip: str, ready: bool) -> dict[str, Any]:
        """A Running PodStatus (Kubernetes API): native sidecars report under initContainerStatuses."""
        when = "2026-09-01T10:00:00Z"
        flag = "True" if ready else "False"
        init = []
        for c in spec.get("initContainers") or []:
            if c.get("restartPolicy") == "Always":
                init.append({"name": c["name"], "image": c.get("image", ""), "ready": True, "started": True, "restartCount": 0,
                             "state": {"running": {"startedAt": when}}})
            else:
                init.append({"name": c["name"], "image": c.get("image", ""), "ready": True, "restartCount": 0,
                             "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": when, "finishedAt": when}}})
        main = [{"name": c["name"], "image": c.get("image", ""), "ready": ready, "started": True, "restartCount": 0,
                 "state": {"running": {"startedAt": when}}} for c in spec.get("containers") or []]
        conditions = [{"type": "PodReadyToStartContainers", "status": "True"}, {"type": "Initialized", "status": "True"},
                      {"type": "Ready", "status": flag}, {"type": "ContainersReady", "status": flag},
                      {"type": "PodScheduled", "status": "True"}]
        if not ready:
            for c in conditions[2:4]:
                c.update(reason="ContainersNotReady", message="containers with unready status: [" +
                         " ".join(m["name"] for m in main) + "]")
        return {"phase": "Running", "hostIP": "172.18.0.3", "podIP": ip, "podIPs": [{"ip": ip}], "qosClass": "Burstable",
                "startTime": when, "conditions": conditions, "containerStatuses": main, "initContainerStatuses": init}

    def pod_objects(self, namespace: str | None = None, label_selector: str = "") -> list[dict[str, Any]]:
        """Pods in API JSON form (what the API server would list), one per Deployment replica (replicas: 1)."""
        with self._tx(write=False) as st:
            ips = self._pod_ips(st)
            pods = []
            for key, obj in sorted(st["objects"].items()):
                if obj.get("kind") != "Deployment":
                    continue
                if namespace is not None and (obj.get("metadata") or {}).get("namespace") != namespace:
                    continue
                pod = self._pod_of(key, obj, ips[key], st)
                if matches_selector(pod["metadata"]["labels"], label_selector):
                    pods.append(pod)
            return pods

    def pods(self, namespace: str, label_selector: str = "") -> list[PodInfo]:
        return [to_pod_info(p) for p in self.pod_objects(namespace, label_selector)]

    def wait_rollouts(self, namespaces: Sequence[str], label_selector: str, timeout_s: float) -> None:
        self.log.append(("wait_rollouts", tuple(namespaces), label_selector))
        for ns in namespaces:
            pending = sorted({p["metadata"]["name"].rsplit("-", 2)[0] for p in self.pod_objects(ns)
                              if matches_selector(self._owner_labels(p), label_selector) and not to_pod_info(p).ready})
            if pending:
                if self.clock is not None:
                    self.clock.wait(timeout_s)  # the real watch waits out its bound
                raise WaitTimeout(f"rollout of {', '.join(pending)} in namespace {ns}", timeout_s,
                                  "check `kubectl -n " + ns + " get pods` for ImagePullBackOff or Pending pods")

    def _owner_labels(self, pod: Mapping[str, Any]) -> dict[str, str]:
        """The labels of the Deployment that owns ``pod`` (rollout waits select Deployments, not pods)."""
        meta = pod.get("metadata") or {}
        name = str(meta.get("name", "")).rsplit("-", 2)[0]
        dep = self.get("Deployment", meta.get("namespace"), name)
        return dict(((dep or {}).get("metadata") or {}).get("labels") or {})

    def deployment_ready(self, namespace: str, name: str) -> bool:
        dep = self.get("Deployment", namespace, name)
        if dep is None:
            return False
        pods = [p for p in self.pod_objects(namespace) if p["metadata"]["name"].rsplit("-", 2)[0] == name]
        return bool(pods) and all(to_pod_info(p).ready for p in pods)

    def deployment_images(self, namespace: str, name: str) -> list[str]:
        dep = self.get("Deployment", namespace, name)
        if dep is None:
            return []
        return [str(c.get("image")) for c in dep["spec"]["template"]["spec"]["containers"]]

    def restart_deployment(self, namespace: str, name: str) -> None:
        with self._tx() as st:
            key = _key("apps/v1", "Deployment", namespace, name)
            st.setdefault("restarts", {})[key] = st.get("restarts", {}).get(key, 0) + 1
            st.setdefault("started", {})[key] = self.time.now()
        self.log.append(("restart", namespace, name))

    def ensure_debug_container(self, pod: PodInfo, name: str, image: str, timeout_s: float) -> None:
        self.log.append(("debug", pod.key, name, image))

    def logs(self, pod: PodInfo, container: str, tail_lines: int = 2000) -> str:
        return f"(fake cluster: no logs recorded for {pod.key}/{container})\n"

    # --- config maps ------------------------------------------------------------------------------------------
    def get_configmap(self, namespace: str, name: str) -> dict[str, str] | None:
        cm = self.get("ConfigMap", namespace, name)
        if cm is None and name == ROOT_CONFIGMAP:
            return self._root_configmap(namespace)
        return None if cm is None else {str(k): str(v) for k, v in (cm.get("data") or {}).items()}

    def _root_configmap(self, namespace: str) -> dict[str, str] | None:
        """istiod's namespace controller: ``istio-ca-root-cert`` in every namespace but the ignored ones, once istiod runs."""
        with self._tx() as st:
            if _key("apps/v1", "Deployment", ISTIO_NAMESPACE, "istiod") not in st["objects"] or namespace in IGNORED_NAMESPACES \
                    or _key("v1", "Namespace", None, namespace) not in st["objects"]:
                return None
            return {ROOT_KEY: self._mesh_ca(st).cert_pem.decode()}

    # --- the mesh CA and workload certificates (module docstring: "Workload certificates") -------------------------
    def _trust_domain(self, st: dict[str, Any]) -> str:
        cm = st["objects"].get(_key("v1", "ConfigMap", ISTIO_NAMESPACE, "istio")) or {}
        mesh = yaml.safe_load((cm.get("data") or {}).get("mesh") or "") or {}
        return str(mesh.get("trustDomain") or "cluster.local")

    def _mesh_ca(self, st: dict[str, Any]) -> Issued:
        """istiod's self-signed root (istio-ca-secret): made once, kept in the shared state so every process signs with it."""
        if not st.get("mesh_ca"):
            root = mint_ca("", not_before=datetime.fromtimestamp(self.time.epoch(), UTC), lifetime=SELF_SIGNED_ROOT_TTL,
                           org=self._trust_domain(st))
            st["mesh_ca"] = {"cert": root.cert_pem.decode(), "key": root.key_pem.decode()}
        key = serialization.load_pem_private_key(st["mesh_ca"]["key"].encode(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return Issued(x509.load_pem_x509_certificate(st["mesh_ca"]["cert"].encode()), key)

    def mesh_root_pem(self) -> bytes:
        with self._tx() as st:
            return self._mesh_ca(st).cert_pem

    def _secret_ttl_s(self, pod: Mapping[str, Any], st: dict[str, Any]) -> float:
        """SECRET_TTL: the pod's ``proxy.istio.io/config`` proxyMetadata, else the mesh's defaultConfig, else 24h."""
        cm = st["objects"].get(_key("v1", "ConfigMap", ISTIO_NAMESPACE, "istio")) or {}
        mesh = yaml.safe_load((cm.get("data") or {}).get("mesh") or "") or {}
        annotation = ((pod.get("metadata") or {}).get("annotations") or {}).get(PROXY_CONFIG_ANNOTATION)
        for config in (yaml.safe_load(annotation) if annotation else None, mesh.get("defaultConfig")):
            ttl = ((config or {}).get("proxyMetadata") or {}).get("SECRET_TTL")
            if ttl:
                return go_duration_seconds(str(ttl))
        return DEFAULT_SECRET_TTL_S

    def _lineage(self, pod: Mapping[str, Any], st: dict[str, Any], until: float) -> tuple[str, float, list[float]]:
        """(SPIFFE ID, lifetime, issue times up to ``until``) of a sidecar pod's workload certificates."""
        meta = pod["metadata"]
        ns, name = str(meta["namespace"]), str(meta["name"])
        deployment = f"{_key('apps/v1', 'Deployment', ns, name.rsplit('-', 2)[0])}"
        start = float(st.setdefault("started", {}).setdefault(deployment, self.time.now()))
        scenario = self.scenario_of(ns)
        keys = [f"{ns}/{name}", f"{ns}/{name.rsplit('-', 2)[0]}"]
        if scenario is not None:
            keys += [w.key for w in self._workloads_of(scenario, to_pod_info(pod))]
        stalled = Faults.hit(self.faults.rotation_stalls, keys)
        ttl = self._secret_ttl_s(pod, st)
        sa = (pod.get("spec") or {}).get("serviceAccountName") or "default"
        spiffe_id = f"spiffe://{self._trust_domain(st)}/ns/{ns}/sa/{sa}"
        return spiffe_id, ttl, issue_times(f"{ns}/{name}", start, ttl, max(until, start), stalled=stalled)

    def workload_certificate(self, pod: Mapping[str, Any], at: float | None = None) -> tuple[bytes, float, float]:
        """The certificate chain (leaf + mesh root) istio-agent of sidecar ``pod`` serves at fake time ``at`` (default
        now), with when it got it and when it got its first (the pod's ROOTCA)."""
        when = self.time.now() if at is None else at
        meta = pod["metadata"]
        pod_key = f"{meta['namespace']}/{meta['name']}"
        with self._tx() as st:
            spiffe_id, ttl, times = self._lineage(pod, st, when)
            index = len(times) - 1
            minted = st.setdefault("certs", {}).setdefault(pod_key, {})
            ca = self._mesh_ca(st)
            if str(index) not in minted:
                not_before = datetime.fromtimestamp(self.time.epoch(times[index] - CLOCK_SKEW_GRACE_S), UTC).replace(microsecond=0)
                leaf = mint_workload(spiffe_id, ca, not_before=not_before, lifetime=timedelta(seconds=ttl + CLOCK_SKEW_GRACE_S))
                minted[str(index)] = leaf.cert_pem.decode()
            return minted[str(index)].encode() + ca.cert_pem, times[index], times[0]

    def certificate_validity(self, pod: Mapping[str, Any], until: float) -> Callable[[float], bool]:
        """For sidecar ``pod``: whether the certificate its agent serves at a fake time up to ``until`` is valid then."""
        with self._tx() as st:
            _spiffe, ttl, times = self._lineage(pod, st, until)

        def valid(at: float) -> bool:
            served = [t for t in times if t <= at]
            return bool(served) and served[-1] - CLOCK_SKEW_GRACE_S <= at <= served[-1] + ttl
        return valid

    def _stamp(self, t: float) -> str:
        """Envoy's ``last_updated`` form (the artefact's ``2023-05-15T01:32:52.262Z``)."""
        return datetime.fromtimestamp(self.time.epoch(t), UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    def _sds(self, pod: PodInfo, path: str) -> dict[str, Any]:
        """``config_dump?resource=dynamic_active_secrets``: the filtered artefact with this pod's certificates swapped in."""
        raw = next((p for p in self.pod_objects(pod.namespace) if p["metadata"]["name"] == pod.name), None)
        if raw is None:
            raise AssertionError(f"fake cluster: no pod {pod.key}")
        chain, got, first = self.workload_certificate(raw)
        doc = sds_answer(path, chain, self.mesh_root_pem())
        for entry in doc["configs"]:  # one DynamicSecret per entry
            entry["last_updated"] = self._stamp(got if entry.get("name") == "default" else first)
        return dict(doc)

    def patch_configmap(self, namespace: str, name: str, data: Mapping[str, str]) -> None:
        with self._tx() as st:
            key = _key("v1", "ConfigMap", namespace, name)
            cm = st["objects"].setdefault(key, {"apiVersion": "v1", "kind": "ConfigMap",
                                                "metadata": {"name": name, "namespace": namespace}, "data": {}})
            cm.setdefault("data", {}).update(dict(data))
        self.log.append(("patch_configmap", namespace, name, dict(data)))

    # --- Istio, as its Helm chart installs it ------------------------------------------------------------------
    def install_istio(self, version: str, hub: str = "docker.io/istio", mesh_config: Mapping[str, Any] | None = None) -> None:
        """What `helm install istiod` leaves behind that the harness reads: the istiod Deployment and the `istio`
        ConfigMap (no run label: Istio is not the run's). Existing-cluster mode calls this before the session opens."""
        values = Artefacts.istiod_values(version)
        merged = {**(values.get("meshConfig") or {}), **dict(mesh_config or {})}
        mesh = {  # the chart's "mesh" define with default values, then mergeOverwrite .Values.meshConfig; toYaml sorts keys
            "trustDomain": "cluster.local",
            "rootNamespace": (values.get("meshConfig") or {}).get("rootNamespace") or values["global"]["istioNamespace"],
            "defaultProviders": {"metrics": ["prometheus"]},
            "defaultConfig": {"tracing": {}, "discoveryAddress": f"istiod.{ISTIO_NAMESPACE}.svc:15012"},
            **merged,
        }
        labels = {"app": "istiod", "istio": "pilot", "istio.io/rev": "default", "install.operator.istio.io/owning-resource": "unknown",
                  "operator.istio.io/component": "Pilot", "release": "istiod"}
        objects: list[dict[str, Any]] = [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ISTIO_NAMESPACE}},
            {"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"name": "istio", "namespace": ISTIO_NAMESPACE,
                          "labels": {k: labels[k] for k in ("istio.io/rev", "install.operator.istio.io/owning-resource",
                                                            "operator.istio.io/component", "release")}},
             "data": {"meshNetworks": "networks: {}", "mesh": yaml.safe_dump(mesh, sort_keys=True)}},
            {"apiVersion": "apps/v1", "kind": "Deployment",
             "metadata": {"name": "istiod", "namespace": ISTIO_NAMESPACE, "labels": labels},
             "spec": {"replicas": 1, "selector": {"matchLabels": {"istio": "pilot"}},
                      "template": {"metadata": {"labels": {"app": "istiod", "istio": "pilot", "istio.io/rev": "default",
                                                           "sidecar.istio.io/inject": "false"}},
                                   "spec": {"serviceAccountName": "istiod", "containers": [
                                       {"name": "discovery", "image": f"{hub}/pilot:{version}",
                                        "args": ["discovery", "--monitoringAddr=:15014", "--log_output_level=default:info",
                                                 "--domain", "cluster.local", "--keepaliveMaxServerConnectionAge", "30m"],
                                        "ports": [{"containerPort": 8080, "protocol": "TCP"}, {"containerPort": 15010, "protocol": "TCP"},
                                                  {"containerPort": 15017, "protocol": "TCP"}]}]}}}},
        ]
        with self._tx() as st:
            for obj in objects:
                ref = ObjectRef.of(obj)
                st["objects"][_key(ref.api_version, ref.kind, ref.namespace, ref.name)] = obj
            st["generation"] += 1
            self._mesh_ca(st)  # istiod's self-signed CA (istio-ca-secret), made at its first start and kept

    def uninstall_istio(self) -> None:
        with self._tx() as st:
            for key in [_key("apps/v1", "Deployment", ISTIO_NAMESPACE, "istiod"), _key("v1", "ConfigMap", ISTIO_NAMESPACE, "istio")]:
                st["objects"].pop(key, None)
            st["generation"] += 1

    def reset(self) -> None:
        """The cluster is gone (kind delete cluster)."""
        with self._tx() as st:
            st.clear()
            st.update(_empty_state())

    # --- which phase is applied ---------------------------------------------------------------------------------
    def scenario(self) -> Scenario | None:
        """The scenario of the applied phase: the phase among those given whose rendered objects are exactly the
        phase objects held now (run-labelled, and ``scope=phase`` where render labels a scope). None when none matches:
        pass the phases the run really applies (after any gating), or set ``scenario_override``."""
        if self.scenario_override is not None:
            return self.scenario_override
        scope = getattr(render_module, "SCOPE_LABEL", None)

        def phase_objects(objs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
            result = []
            for o in objs:
                labels = (o.get("metadata") or {}).get("labels") or {}
                if RUN_LABEL in labels and (scope is None or labels.get(scope) == "phase"):
                    result.append(o)
            return result

        def ids(objs: Sequence[Mapping[str, Any]]) -> frozenset[tuple[str, str | None, str]]:
            return frozenset((str(o["kind"]), (o.get("metadata") or {}).get("namespace"), str(o["metadata"]["name"])) for o in objs)

        with self._tx(write=False) as st:
            held = phase_objects(list(st["objects"].values()))
        ident = ids(held)
        if ident in self._scenario_cache:
            return self._scenario_cache[ident]
        found: Scenario | None = None
        run_ids = {o["metadata"]["labels"][RUN_LABEL] for o in held}
        if len(run_ids) == 1:
            run_id = next(iter(run_ids))
            found = next((ph.scenario for ph in self.phases if ids(phase_objects(render_phase(ph, run_id))) == ident), None)
        self._scenario_cache[ident] = found
        return found

    def scenario_of(self, namespace: str) -> Scenario | None:
        """The scenario whose objects live in ``namespace``: an isolated case's (its Namespace carries ``scope=isolated``
        and the case annotation), else the applied phase's."""
        ns = self.get("Namespace", None, namespace) or {}
        meta = ns.get("metadata") or {}
        if (meta.get("labels") or {}).get(SCOPE_LABEL) == "isolated":
            case = self.cases.get(str((meta.get("annotations") or {}).get(CASE_ANNOTATION)))
            if case is None:
                raise AssertionError(f"fake cluster: namespace {namespace} belongs to isolated case "
                                     f"{(meta.get('annotations') or {}).get(CASE_ANNOTATION)!r}, which it was not given (pass cases=plan.isolated)")
            return case.scenario
        return self.scenario()

    def _require_scenario(self) -> Scenario:
        found = self.scenario()
        if found is None:
            raise AssertionError("fake cluster: the applied objects match no phase it was given (pass the plan's phases, "
                                 "or set scenario_override)")
        return found

    def _expect(self, scenario: Scenario, probe: Probe) -> Expectation:
        return engine_expect(scenario, probe, self.version)

    def _workloads_of(self, scenario: Scenario, pod: PodInfo) -> list[Workload]:
        """Scenario workloads whose Service selects this pod (same namespace, labels and sidecar setting)."""
        return [w for w in scenario.workloads if w.namespace == pod.namespace and w.sidecar == pod.has_sidecar
                and all(pod.labels.get(k) == v for k, v in (w.labels or {"app": w.name}).items())]

    # --- exec ---------------------------------------------------------------------------------------------------
    def exec(self, pod: PodInfo, container: str, command: Sequence[str], timeout_s: float) -> ExecResult:
        started = self.time.now()  # first: a traffic exec runs in a thread while the driver's polls move the clock
        self.log.append(("exec", pod.key, container, tuple(command[:4])))
        live = {p["metadata"]["name"]: p for p in self.pod_objects(pod.namespace)}
        if pod.name not in live:
            return ExecResult("", "", None, f'ApiException: (404) Reason: Not Found: pods "{pod.name}" not found')
        spec = live[pod.name]["spec"]
        names = [c["name"] for c in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]]
        if container not in names and container not in pod.ephemeral_containers:
            return ExecResult("", "", None, f"ApiException: (400) Reason: Bad Request: container {container} is not valid for pod {pod.name}")
        if container == "discovery" and list(command[:4]) == ["pilot-discovery", "request", "GET", "/debug/mesh"]:
            mesh = yaml.safe_load((self.get_configmap(ISTIO_NAMESPACE, "istio") or {}).get("mesh") or "") or {}
            return ExecResult(json.dumps(mesh, indent=2) + "\n", "", 0)
        if container == "istio-proxy" and list(command[:3]) == ["pilot-agent", "request", "GET"] and len(command) == 4:
            return self._admin(pod, command[3])
        if list(command[:2]) == ["sh", "-c"] and len(command) == 3 and RECORD_TAG in command[2]:
            return self._probe(pod, command[2])
        traffic = _TRAFFIC_SCRIPT.match(command[2]) if list(command[:2]) == ["sh", "-c"] and len(command) == 3 else None
        if traffic:
            return self._traffic(pod, started, float(traffic.group(1)), traffic.group(2))
        return ExecResult("", f"sh: {command[0] if command else ''}: not available in the fake cluster\n", 127)

    def _admin(self, pod: PodInfo, path: str) -> ExecResult:
        scenario = self.scenario()
        keys = [pod.key] + ([w.key for w in self._workloads_of(scenario, pod)] if scenario else [])
        if Faults.hit(self.faults.admin_exec_fails, keys):
            return ExecResult("", "", None, "WebSocketBadStatusException: Handshake status 500 Internal Server Error (fault)")
        base, _, query = path.partition("?")
        params = dict(part.partition("=")[::2] for part in query.split("&") if part)
        if base == "config_dump" and params.get("resource") == "dynamic_active_secrets":
            return ExecResult(json.dumps(self._sds(pod, path), indent=2) + "\n", "", 0)
        if base == "config_dump" and set(params) <= {"include_eds"}:  # Envoy: any include_eds value asks for EDS
            return ExecResult(json.dumps(self.config_dump(pod, include_eds="include_eds" in params), indent=2) + "\n", "", 0)
        if path == "stats/prometheus":
            return ExecResult(self.prometheus(pod), "", 0)
        # pilot-agent prints Envoy's answer for an unknown admin path and fails (pilot-agent request: non-200 is an error)
        return ExecResult("", f"Error: received unexpected status code 404 from {path}\n", 1)

    # --- Envoy config dump ----------------------------------------------------------------------------------------
    def _server_mode(self, scenario: Scenario, workload: Workload, port: int) -> Mode | None:
        return self._expect(scenario, Probe(workload.key, workload.key, port, Address.POD)).server_mode

    def _inbound_chains(self, scenario: Scenario, workloads: Sequence[Workload], listener: Mapping[str, Any]) -> list[dict[str, Any]]:
        chains = listener["filter_chains"]
        http_tls = _first(chains, lambda c: c.get("name") == "0.0.0.0_80" and "transport_socket" in c, "the 0.0.0.0_80 TLS chain")
        http_raw = _first(chains, lambda c: c.get("name") == "0.0.0.0_80" and c["filter_chain_match"].get("transport_protocol") == "raw_buffer",
                          "the 0.0.0.0_80 raw_buffer chain")
        tcp_tls = _first(chains, lambda c: c.get("name") == "virtualInbound" and "transport_socket" in c, "the virtualInbound TLS chain")
        tcp_raw = _first(chains, lambda c: c.get("name") == "virtualInbound" and c["filter_chain_match"].get("transport_protocol") == "raw_buffer",
                         "the virtualInbound raw_buffer chain")
        result: list[dict[str, Any]] = []
        seen: set[int] = set()
        for w in workloads:
            for port in w.container_ports:
                if port in seen:
                    continue
                seen.add(port)
                mode = self._server_mode(scenario, w, port)
                if w.protocol_of_container_port(port) is Protocol.HTTP:
                    tls, raw = copy.deepcopy(http_tls), copy.deepcopy(http_raw)
                else:  # TCP: the catch-all TCP chains' filters and ALPN, matched on this port like the per-port chains
                    tls, raw = copy.deepcopy(tcp_tls), copy.deepcopy(tcp_raw)
                    tls["filter_chain_match"] = {**copy.deepcopy(http_tls["filter_chain_match"]),
                                                 "application_protocols": tcp_tls["filter_chain_match"]["application_protocols"]}
                    raw["filter_chain_match"] = copy.deepcopy(http_raw["filter_chain_match"])
                for chain in (tls, raw):
                    chain["name"] = f"0.0.0.0_{port}"
                    chain["filter_chain_match"]["destination_port"] = port
                wanted = {Mode.STRICT: [tls], Mode.PERMISSIVE: [tls, raw], Mode.DISABLE: [raw]}.get(mode, []) if mode else []
                result += wanted
        return result

    def _listeners(self, scenario: Scenario, workloads: Sequence[Workload], version: str) -> dict[str, Any]:
        doc = Artefacts.listeners()
        cfg = doc["configs"][0]
        cfg["version_info"] = version
        kept = []
        for entry in cfg["dynamic_listeners"]:
            if entry["name"] == "virtualInbound":
                listener = entry["active_state"]["listener"]
                catch_all = [c for c in listener["filter_chains"] if c.get("name") != "0.0.0.0_80"]
                listener["filter_chains"] = [catch_all[0], *self._inbound_chains(scenario, workloads, listener), *catch_all[1:]]
            if entry["name"] in ("virtualInbound", "virtualOutbound"):
                entry["active_state"]["version_info"] = version
                kept.append(entry)
        cfg["dynamic_listeners"] = kept
        return dict(cfg)

    def _client_view(self, scenario: Scenario, client: Workload, server: Workload, port: int) -> tuple[str, Expectation]:
        """How the client's sidecar reaches server:port: "auto" (transport_socket_matches), "dr" (an explicit
        transport_socket from a DestinationRule) or "none" (no TLS on the cluster); from the engine's last client step."""
        e = self._expect(scenario, Probe(client.key, server.key, port, Address.SERVICE))
        last = next((s.rule.id for s in reversed(e.steps) if s.rule.id.startswith("client.")), "")
        if last in ("client.auto-mtls", "client.headless", "client.dr-port-level-fallback"):
            return "auto", e
        if last in ("client.auto-mtls-off", "client.auto-mtls-service-disable", "client.no-sidecar", "client.pod-ip-passthrough"):
            return "none", e
        return "dr", e

    def _clusters(self, scenario: Scenario, client: Workload) -> tuple[dict[str, Any], list[tuple[str, Workload, int, Expectation]]]:
        doc = Artefacts.clusters()
        cfg = _first(doc["configs"], lambda c: str(c["@type"]).endswith(".ClustersConfigDump"), "a ClustersConfigDump")
        template = _first(cfg["dynamic_active_clusters"], lambda e: "transport_socket_matches" in e["cluster"], "an auto-mTLS cluster")
        views = []
        entries = []
        for server in scenario.workloads:
            for sp in server.ports:
                view, e = self._client_view(scenario, client, server, sp.port)
                name = f"outbound|{sp.port}||{server.host}"
                entry = copy.deepcopy(template)
                cluster = entry["cluster"]
                cluster["name"] = name
                cluster["eds_cluster_config"]["service_name"] = name
                istio_meta = cluster["metadata"]["filter_metadata"]["istio"]
                istio_meta["default_original_port"] = sp.port
                istio_meta["services"] = [{"host": server.host, "namespace": server.namespace, "name": server.name}]
                istio_meta.pop("subset", None)  # no subsets in the scenario model
                rule = find_destination_rule(scenario, client, server).rule
                if rule is not None:  # Istio names the DestinationRule a cluster was built from
                    istio_meta["config"] = f"/apis/networking.istio.io/v1/namespaces/{rule.namespace}/destination-rule/{rule.name}"
                else:
                    istio_meta.pop("config", None)
                matches = cluster["transport_socket_matches"]
                mtls_socket = matches[0]["transport_socket"]
                tls = mtls_socket["typed_config"]
                tls["sni"] = f"outbound_.{sp.port}_._.{server.host}"
                sans = tls["common_tls_context"]["combined_validation_context"]["default_validation_context"]["match_subject_alt_names"]
                sans[:] = [{"exact": f"spiffe://{scenario.mesh.trust_domain}/ns/{server.namespace}/sa/{server.service_account or server.name}"}]
                if view != "auto":
                    del cluster["transport_socket_matches"]
                if view == "dr" and e.client_sends is not ClientSends.PLAINTEXT:
                    common = tls["common_tls_context"]
                    if e.client_sends is ClientSends.SIMPLE:
                        del common["tls_certificate_sds_secret_configs"]
                        common.pop("alpn_protocols", None)
                    elif e.client_sends is ClientSends.MUTUAL:
                        common["tls_certificate_sds_secret_configs"][0]["name"] = "file-cert:/etc/certs/cert-chain.pem~/etc/certs/key.pem"
                        common.pop("alpn_protocols", None)
                    cluster["transport_socket"] = mtls_socket
                entries.append(entry)
                views.append((name, server, sp.target_port, e))
        cfg["dynamic_active_clusters"] = entries
        return cfg, views

    @staticmethod
    def _endpoints(scenario: Scenario, views: Sequence[tuple[str, Workload, int, Expectation]],
                   pods: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        doc = Artefacts.endpoints()
        cfg = doc["configs"][0]
        template = _first(cfg["dynamic_endpoint_configs"], lambda e: e["endpoint_config"]["endpoints"], "an endpoint config")
        lb_template = template["endpoint_config"]["endpoints"][0]["lb_endpoints"][0]
        entries = []
        for name, server, target_port, e in views:
            entry = copy.deepcopy(template)
            ec = entry["endpoint_config"]
            ec["cluster_name"] = name
            lbs = []
            for pod_name, pod in pods.items():
                if not pod_name.startswith(server.namespace + "/"):
                    continue
                labels, ip = pod["metadata"]["labels"], pod["status"]["podIP"]
                if not all(labels.get(k) == v for k, v in (server.labels or {"app": server.name}).items()):
                    continue
                if (INJECTED_LABEL in labels) != server.sidecar:
                    continue
                lb = copy.deepcopy(lb_template)
                lb["endpoint"]["address"]["socket_address"].update(address=ip, port_value=target_port)
                meta = lb["metadata"]["filter_metadata"]
                app = labels.get("app", server.name)
                meta["istio"]["workload"] = f"{pod_name.split('/', 1)[1].rsplit('-', 2)[0]};{server.namespace};{app};{labels.get('version', '')};Kubernetes"
                label = endpoint_tls_mode(scenario, e)  # the engine's per-endpoint decision (mtls_checker.go)
                if label.tls_mode is None:
                    meta.pop("envoy.transport_socket_match", None)
                else:
                    meta["envoy.transport_socket_match"]["tlsMode"] = label.tls_mode
                lbs.append(lb)
            ec["endpoints"][0]["lb_endpoints"] = lbs
            ec["endpoints"][0]["load_balancing_weight"] = len(lbs)
            entries.append(entry)
        cfg["dynamic_endpoint_configs"] = entries
        cfg["static_endpoint_configs"] = cfg.get("static_endpoint_configs", [])
        return dict(cfg)

    def config_dump(self, pod: PodInfo, include_eds: bool = False) -> dict[str, Any]:
        """The sidecar's /config_dump for the applied phase (module docstring: which artefact gives each section)."""
        scenario = self._require_scenario()
        with self._tx(write=False) as st:
            generation = int(st["generation"])
        version = f"2026-09-01T10:00:00Z/{generation}"  # the artefacts' "<time>/<push>" form; a new push per change
        workloads = self._workloads_of(scenario, pod)
        configs: list[dict[str, Any]] = []
        views: list[tuple[str, Workload, int, Expectation]] = []
        clients = workloads[:1]
        if clients:
            clusters, views = self._clusters(scenario, clients[0])
            configs.append(clusters)
        if include_eds:
            pods = {f"{p['metadata']['namespace']}/{p['metadata']['name']}": p for p in self.pod_objects()}
            configs.append(self._endpoints(scenario, views, pods))
        configs.append(self._listeners(scenario, workloads, version))
        secrets = _first(Artefacts.secrets()["configs"], lambda c: str(c["@type"]).endswith(".SecretsConfigDump"), "a SecretsConfigDump")
        raw = next((p for p in self.pod_objects(pod.namespace) if p["metadata"]["name"] == pod.name), None)
        if raw is not None and INJECTED_LABEL in raw["metadata"]["labels"]:
            chain, got, first = self.workload_certificate(raw)
            with_certificates({"configs": [secrets]}, chain, self.mesh_root_pem())
            for entry in secrets.get("dynamic_active_secrets", ()):
                entry["last_updated"] = self._stamp(got if entry.get("name") == "default" else first)
        configs.append(secrets)
        return {"configs": configs}

    # --- stats ----------------------------------------------------------------------------------------------------
    def _series_labels(self) -> list[str]:
        _head, tail = Artefacts.prometheus()
        line = next(x for x in tail.splitlines() if x.startswith("istio_request_bytes_count{"))
        return re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', line[line.index("{"):])

    def prometheus(self, pod: PodInfo) -> str:
        head, tail = Artefacts.prometheus()
        with self._tx(write=False) as st:
            series = dict(st["requests"].get(pod.key, {}))
        names = self._series_labels()
        lines = ["# TYPE istio_requests_total counter"]
        for labels_json, count in sorted(series.items()):
            labels = json.loads(labels_json)
            text = ",".join(f'{k}="{labels.get(k, "unknown")}"' for k in names)
            lines.append(f"istio_requests_total{{{text}}} {count}")
        return head + ("" if head.endswith("\n") else "\n") + "\n".join(lines) + "\n" + tail

    def _count(self, st: dict[str, Any], pod_key: str, labels: Mapping[str, str]) -> None:
        per_pod = st["requests"].setdefault(pod_key, {})
        key = json.dumps(dict(sorted(labels.items())))
        per_pod[key] = per_pod.get(key, 0) + 1

    # --- probes ---------------------------------------------------------------------------------------------------
    def _probe(self, pod: PodInfo, script: str) -> ExecResult:
        scenario = self._require_scenario()
        sources = self._workloads_of(scenario, pod)
        if Faults.hit(self.faults.probe_exec_fails, [pod.key, *(w.key for w in sources)]):
            return ExecResult("", "", None, "WebSocketConnectionClosedException: Connection to remote host was lost. (fault)")
        cap_match = _BODY_CAP.search(script)
        cap = int(cap_match.group(1)) if cap_match else 65536
        by_id = {p.id: p for p in scenario.probes}
        all_pods = self.pod_objects()
        by_ip = {p["status"]["podIP"]: to_pod_info(p) for p in all_pods}
        records: list[tuple[int, str]] = []
        with self._tx() as st:
            for line in script.splitlines():
                m = _PROBE_LINE.match(line)
                if not m:
                    continue
                args = shlex.split(m.group(2))
                n, hex_id, url = int(args[0]), args[1], args[2]
                token = args[3] if m.group(1) == "tcp_probe" else None
                records.append((n, self._answer(scenario, pod, sources, by_id, by_ip, hex_id, url, token, cap, st)))
        out = "".join(r + "\n" for _n, r in sorted(records)) + f"{END_TAG} {len(records)}\n"
        return ExecResult(out, "", 0)

    def _answer(self, scenario: Scenario, pod: PodInfo, sources: Sequence[Workload], by_id: Mapping[str, Probe],
                by_ip: Mapping[str, PodInfo], hex_id: str, url: str, token: str | None, cap: int, st: dict[str, Any]) -> str:
        probe_id = bytes.fromhex(hex_id).decode()
        m = re.match(r"^(http|telnet)://(\[[^\]]+\]|[^:/]+):(\d+)", url)
        host, port = (m.group(2).strip("[]"), int(m.group(3))) if m else ("", 0)
        target: Workload | None = None
        address = Address.SERVICE
        server_pod: PodInfo | None = None
        if any(w.host == host and w.ports for w in scenario.workloads):
            target = next(w for w in scenario.workloads if w.host == host and w.ports)
        elif host in by_ip:
            server_pod = by_ip[host]
            address = Address.POD
            candidates = self._workloads_of(scenario, server_pod)
            target = next((w for w in candidates if port in w.container_ports), candidates[0] if candidates else None)
        if target is None or not sources:
            return self._record(hex_id, token, 6, 0, b"", f"curl: (6) Could not resolve host: {host}\n".encode())
        probe = by_id.get(probe_id)
        if probe is None or probe.target != target.key or probe.source not in {w.key for w in sources}:
            probe = Probe(sources[0].key, target.key, port, address)
        e = self._expect(scenario, probe)
        client = scenario.workload(probe.source)
        if server_pod is None:
            server_pods = [p for p in by_ip.values() if p.namespace == target.namespace and p.has_sidecar == target.sidecar
                           and all(p.labels.get(k) == v for k, v in (target.labels or {"app": target.name}).items())]
            server_pod = server_pods[0] if server_pods else None
        if server_pod is not None and target.sidecar and (e.connect or e.failure is ProbeOutcome.HTTP_403) and e.protocol == "http":
            code = "200" if e.connect else "403"
            self._count(st, server_pod.key, {
                "reporter": "destination", "response_code": code, "request_protocol": "http", "response_flags": "-",
                "grpc_response_status": "", "connection_security_policy": "mutual_tls" if e.mtls else "none",
                "source_workload": pod.name.rsplit("-", 2)[0] if client.sidecar else "unknown",
                "source_workload_namespace": client.namespace if client.sidecar else "unknown",
                "source_principal": e.client_principal or "unknown", "source_app": pod.labels.get("app", "unknown") if client.sidecar else "unknown",
                "source_canonical_service": pod.labels.get("app", "unknown") if client.sidecar else "unknown",
                "destination_workload": server_pod.name.rsplit("-", 2)[0], "destination_workload_namespace": target.namespace,
                "destination_principal": e.server_principal or "unknown", "destination_app": server_pod.labels.get("app", "unknown"),
                "destination_service": target.host if address is Address.SERVICE else "unknown",
                "destination_service_name": target.name if address is Address.SERVICE else "unknown",
                "destination_service_namespace": target.namespace if address is Address.SERVICE else "unknown",
                "destination_canonical_service": server_pod.labels.get("app", "unknown"), "source_canonical_revision": "latest",
                "destination_canonical_revision": "latest", "source_version": "unknown", "destination_version": "unknown"})
        if token is not None:  # TCP: tcp-echo-server answers "<prefix> <line>"; curl's telnet mode waits out --max-time
            if e.connect:
                return self._record(hex_id, token, 28, 0, f"hello {token}\n".encode()[:cap],
                                    b"curl: (28) Operation timed out after 2001 milliseconds with 0 bytes received\n")
            return self._record(hex_id, token, 56, 0, b"", b"curl: (56) Recv failure: Connection reset by peer\n")
        if e.connect:
            headers: dict[str, list[str]] = {"Accept": ["*/*"], "Host": [f"{host}:{port}"], "User-Agent": ["curl/8.16.0"]}
            if client.sidecar and address is Address.SERVICE:
                headers["X-Envoy-Attempt-Count"] = ["1"]
            if e.mtls:
                cert_hash = hashlib.sha256(f"{e.client_principal}".encode()).hexdigest()
                headers["X-Forwarded-Client-Cert"] = [f'By={e.server_principal};Hash={cert_hash};Subject="";URI={e.client_principal}']
            body = json.dumps({"headers": headers}, indent=2).encode() + b"\n"
            return self._record(hex_id, None, 0, 200, body[:cap], b"")
        if e.failure is ProbeOutcome.HTTP_503:
            return self._record(hex_id, None, 0, 503, b"upstream connect error or disconnect/reset before headers. reset reason: connection termination", b"")
        if e.failure is ProbeOutcome.HTTP_403:
            return self._record(hex_id, None, 0, 403, b"RBAC: access denied", b"")
        return self._record(hex_id, None, 56, 0, b"", b"curl: (56) Recv failure: Connection reset by peer\n")

    def _traffic(self, pod: PodInfo, start: float, seconds: float, url: str) -> ExecResult:
        """The rotation driver's curl loop over the watched window, one ``<epoch>.<ns> <code>`` line per request."""
        scenario = self.scenario_of(pod.namespace) or self._require_scenario()
        sources = self._workloads_of(scenario, pod)
        if Faults.hit(self.faults.probe_exec_fails, [pod.key, *(w.key for w in sources)]):
            return ExecResult("", "", None, "WebSocketConnectionClosedException: Connection to remote host was lost. (fault)")
        m = re.match(r"^http://([^:/]+):(\d+)", url)
        host, port = (m.group(1), int(m.group(2))) if m else ("", 0)
        target = next((w for w in scenario.workloads if w.host == host and w.ports), None)
        end = start + seconds
        if target is None or not sources:
            lines = [f"{self.time.epoch(t):.9f} 000" for t in self._ticks(start, end)]  # curl: could not resolve host
            return ExecResult("".join(x + "\n" for x in lines), "", 0)
        e = self._expect(scenario, Probe(sources[0].key, target.key, port, Address.SERVICE))
        ends = [p for p in self.pod_objects() if INJECTED_LABEL in p["metadata"]["labels"] and (
            p["metadata"]["name"] == pod.name or (p["metadata"]["namespace"] == target.namespace and target.sidecar
                                                  and all(p["metadata"]["labels"].get(k) == v
                                                          for k, v in (target.labels or {"app": target.name}).items())))]
        checks = [self.certificate_validity(p, end) for p in ends] if e.mtls else []
        failure = {ProbeOutcome.HTTP_503: "503", ProbeOutcome.HTTP_403: "403"}.get(e.failure, "000") if e.failure else "000"
        lines = []
        for t in self._ticks(start, end):
            code = ("200" if all(valid(t) for valid in checks) else "503") if e.connect else failure  # 503: upstream TLS error
            lines.append(f"{self.time.epoch(t):.9f} {code}")
        return ExecResult("".join(x + "\n" for x in lines), "", 0)

    @staticmethod
    def _ticks(start: float, end: float) -> list[float]:
        n = int((end - start) / TRAFFIC_INTERVAL_S)
        return [start + i * TRAFFIC_INTERVAL_S for i in range(n)]

    @staticmethod
    def _record(hex_id: str, token: str | None, rc: int, code: int, body: bytes, err: bytes) -> str:
        """One line exactly as the probe script's printf writes it (observe/curl.py _PRELUDE)."""
        seconds = "0.004213" if rc == 0 else ("2.001208" if rc == 28 else "0.001873")
        if token is None:
            return f"{RECORD_TAG} {hex_id} http {rc} {code:03d} {seconds} {len(body)} {_hex(body)} - {_hex(err)}"
        return f"{RECORD_TAG} {hex_id} tcp {rc} 000 {seconds} {len(body)} {_hex(body)} {token} {_hex(err)}"


# --------------------------------------------------------------------------------------------------- the tools
def kind_kubeconfig(name: str, port: int = 41235) -> dict[str, Any]:
    """The kubeconfig kind writes for cluster ``name`` (cluster, context and user all named kind-<name>)."""
    context = f"kind-{name}"
    ca = base64.b64encode(b"-----BEGIN CERTIFICATE-----\n(fake cluster CA)\n-----END CERTIFICATE-----\n").decode()
    return {"apiVersion": "v1", "kind": "Config", "preferences": {}, "current-context": context,
            "clusters": [{"name": context, "cluster": {"server": f"https://127.0.0.1:{port}", "certificate-authority-data": ca}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
            "users": [{"name": context, "user": {"client-certificate-data": ca, "client-key-data": ca}}]}


class FakeToolRunner:
    """docker, kind, helm and istioctl as the session runs them, acting on a FakeCluster; records every call."""

    def __init__(self, cluster: FakeCluster) -> None:
        self.cluster = cluster
        self.calls: list[tuple[str, ...]] = []
        self.kwargs: list[dict[str, Any]] = []

    def commands(self, program: str) -> list[tuple[str, ...]]:
        return [c for c in self.calls if Path(c[0]).name == program]

    def run(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float | None = None,
            stream: bool = False) -> CommandResult:
        args = tuple(argv)
        self.calls.append(args)
        self.kwargs.append({"env": env, "timeout": timeout, "stream": stream})
        program = Path(args[0]).name if args else ""
        handler = {"docker": self._docker, "kind": self._kind, "helm": self._helm, "istioctl": self._istioctl}.get(program)
        if handler is None:
            return CommandResult(args, 127, "", f"{args[0] if args else ''}: command not found")
        rc, out, err = handler(list(args[1:]))
        return CommandResult(args, rc, "" if stream else out, err)

    @staticmethod
    def _flag(args: Sequence[str], name: str) -> str | None:
        return args[args.index(name) + 1] if name in args and args.index(name) + 1 < len(args) else None

    def _docker(self, args: list[str]) -> tuple[int, str, str]:
        if args[:2] == ["version", "--format"]:
            return 0, {"{{.Server.Version}}": DOCKER_VERSION, "{{.Server.Os}}/{{.Server.Arch}}": "linux/amd64"}.get(args[2], "") + "\n", ""
        if args[:2] == ["image", "inspect"]:
            return 0, "sha256:" + hashlib.sha256(args[-1].encode()).hexdigest() + "\n", ""
        if args[:1] == ["pull"]:
            return 0, "", ""
        return 1, "", f"docker: '{' '.join(args[:1])}' is not a docker command the fake answers.\n"

    def _kind(self, args: list[str]) -> tuple[int, str, str]:
        name = self._flag(args, "--name") or "kind"
        if args[:1] == ["version"]:
            return 0, f"kind v{KIND_VERSION} go1.24.6 linux/amd64\n", ""
        with self.cluster._tx() as st:
            clusters: list[str] = st["kind_clusters"]
            if args[:2] == ["get", "clusters"]:
                return (0, "".join(c + "\n" for c in clusters), "" if clusters else "No kind clusters found.\n")
            if args[:2] == ["create", "cluster"]:
                if name in clusters:
                    return 1, "", f'ERROR: failed to create cluster: node(s) already exist for a cluster with the name "{name}"\n'
                clusters.append(name)
            elif args[:2] == ["delete", "cluster"]:
                existed = name in clusters  # kind deletes nothing and says nothing for an unknown name
                st.clear()
                st.update(_empty_state())
                return 0, "", f'Deleting cluster "{name}" ...\n' if existed else ""
            elif args[:2] == ["load", "docker-image"]:
                if name not in clusters:
                    return 1, "", f'ERROR: no nodes found for cluster "{name}"\n'
                nodes = "".join(f'Image: "{args[2]}" with ID "sha256:{hashlib.sha256(args[2].encode()).hexdigest()}" not yet present on '
                                f'node "{n}", loading...\n' for n in (f"{name}-control-plane", *self.cluster.nodes))
                return 0, "", nodes
            elif args[:2] == ["export", "kubeconfig"]:
                if name not in clusters:
                    return 1, "", f'ERROR: could not locate any control plane nodes for cluster named "{name}"\n'
            else:
                return 1, "", f"ERROR: unknown command {' '.join(args[:2])!r} for \"kind\"\n"
        kubeconfig = self._flag(args, "--kubeconfig")
        if kubeconfig:
            Path(kubeconfig).parent.mkdir(parents=True, exist_ok=True)
            Path(kubeconfig).write_text(yaml.safe_dump(kind_kubeconfig(name), sort_keys=False))
        if args[:2] == ["create", "cluster"]:
            return 0, "", f'Creating cluster "{name}" ...\n ✓ Ensuring node image (kindest/node:{KUBERNETES_VERSION}) 🖼\nSet kubectl context to "kind-{name}"\n'
        return 0, "", f'Set kubectl context to "kind-{name}"\n'

    def _helm(self, args: list[str]) -> tuple[int, str, str]:
        if args[:1] == ["version"]:
            return 0, f"v{HELM_VERSION}", ""
        with self.cluster._tx(write=False) as st:
            releases = list(st["helm"])
        if args[:1] == ["status"]:
            if args[1] not in releases:
                return 1, "", "Error: release: not found\n"
            return 0, f"NAME: {args[1]}\nLAST DEPLOYED: Tue Sep  1 10:00:00 2026\nNAMESPACE: {ISTIO_NAMESPACE}\nSTATUS: deployed\nREVISION: 1\n", ""
        if args[:2] == ["upgrade", "--install"]:
            release, chart = args[2], Path(args[3])
            if not (chart / "Chart.yaml").is_file():
                return 1, "", f"Error: path \"{chart}\" not found\n"
            if release == "istiod":
                values: dict[str, Any] = {}
                for i, a in enumerate(args):
                    if a == "--values":
                        values.update(yaml.safe_load(Path(args[i + 1]).read_text()) or {})
                glob = values.get("global") or {}
                version = str(glob.get("tag") or yaml.safe_load((chart / "Chart.yaml").read_text()).get("appVersion"))
                self.cluster.install_istio(version, hub=str(glob.get("hub") or "docker.io/istio"), mesh_config=values.get("meshConfig"))
            with self.cluster._tx() as st:
                if release not in st["helm"]:
                    st["helm"].append(release)
            verb = "has been upgraded. Happy Helming!" if release in releases else "does not exist. Installing it now."
            return 0, f'Release "{release}" {verb}\nNAME: {release}\nNAMESPACE: {ISTIO_NAMESPACE}\nSTATUS: deployed\n', ""
        if args[:1] == ["uninstall"]:
            if args[1] not in releases:
                return 1, "", f"Error: uninstall: Release not loaded: {args[1]}: release: not found\n"
            if args[1] == "istiod":
                self.cluster.uninstall_istio()
            with self.cluster._tx() as st:
                st["helm"].remove(args[1])
            return 0, f'release "{args[1]}" uninstalled\n', ""
        return 1, "", f'Error: unknown command "{args[0] if args else ""}" for "helm"\n'

    def _istioctl(self, args: list[str]) -> tuple[int, str, str]:
        if args[:1] != ["proxy-status"]:
            return 1, "", f'Error: unknown command "{args[0] if args else ""}" for "istioctl"\n'
        rows = [("NAME", "CLUSTER", "CDS", "LDS", "EDS", "RDS", "ECDS", "ISTIOD", "VERSION")]
        istiod = next(iter(self.cluster.pod_objects(ISTIO_NAMESPACE, "app=istiod")), None)
        istiod_name = istiod["metadata"]["name"] if istiod else "istiod"
        tag = (self.cluster.deployment_images(ISTIO_NAMESPACE, "istiod") or [":"])[0].rsplit(":", 1)[-1]
        for pod in self.cluster.pod_objects():
            if INJECTED_LABEL in pod["metadata"]["labels"]:
                rows.append((f"{pod['metadata']['name']}.{pod['metadata']['namespace']}", "Kubernetes", "SYNCED (1m)", "SYNCED (1m)",
                             "SYNCED (1m)", "SYNCED (1m)", "IGNORED", istiod_name, tag))
        widths = [max(len(r[i]) for r in rows) + 4 for i in range(len(rows[0]) - 1)]
        return 0, "".join("".join(c.ljust(widths[i]) for i, c in enumerate(r[:-1])) + r[-1] + "\n" for r in rows), ""


class LocalDownloader:
    """Serves release files from memory, as the publisher would (and 404s like the network for anything else)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.downloaded: list[str] = []

    def serve_istio_release(self, version: str, plat: Platform) -> str:
        """The release archive of ``version`` holding the paths the harness uses, and its publisher-style .sha256."""
        spec = istio_spec()
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            members = {spec.istioctl: b"#!/bin/sh\necho 'istioctl of the fake cluster: commands are answered by FakeToolRunner'\n"}
            for chart, name in ((spec.charts["base"], "base"), (spec.charts["istiod"], "istiod")):
                members[f"{chart}/Chart.yaml"] = yaml.safe_dump({"apiVersion": "v2", "name": name, "version": version,
                                                                 "appVersion": version}).encode()
            for path, data in members.items():
                info = tarfile.TarInfo(f"istio-{version}/{path}")
                info.size, info.mode = len(data), 0o755
                tar.addfile(info, io.BytesIO(data))
        archive = buf.getvalue()
        url = spec.url.format(version=version, istio_os_arch=plat.istio_os_arch)
        self.files[url] = archive
        self.files[spec.checksum_url.format(version=version, istio_os_arch=plat.istio_os_arch)] = \
            f"{hashlib.sha256(archive).hexdigest()}  {url.rsplit('/', 1)[-1]}\n".encode()
        return url

    def fetch_text(self, url: str) -> str:
        if url not in self.files:
            raise HarnessError(url, "download failed (HTTP 404)", "check your internet connection or proxy (HTTPS_PROXY)")
        return self.files[url].decode()

    def download(self, url: str, dest: Path) -> None:
        if url not in self.files:
            raise HarnessError(url, "download failed (HTTP 404)", "check your internet connection or proxy (HTTPS_PROXY)")
        self.downloaded.append(url)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(self.files[url])


# --------------------------------------------------------------------------------------------------- kits
@dataclass
class DryRunKit:
    """Everything ``MeshSession.open(kit.options, **kit.open_kwargs())`` needs, all offline."""

    options: SessionOptions
    cluster: FakeCluster
    runner: FakeToolRunner
    toolbox: Toolbox
    downloader: LocalDownloader
    clock: LocalClock
    connected: list[tuple[str | None, str | None]] = field(default_factory=list)

    def connect(self, kubeconfig: str | None, context: str | None) -> FakeCluster:
        """What KubeClient.connect checks first: the kubeconfig exists and has the context."""
        if kubeconfig is None or not Path(kubeconfig).is_file():
            raise RuntimeError(f"Invalid kube-config file. No configuration found. ({kubeconfig})")
        config = yaml.safe_load(Path(kubeconfig).read_text()) or {}
        contexts = {c["name"] for c in config.get("contexts") or []}
        wanted = context or config.get("current-context")
        if wanted not in contexts:
            raise RuntimeError(f"Invalid kube-config file. Expected key current-context / context {wanted!r} not found")
        self.connected.append((kubeconfig, context))
        return self.cluster

    def open_kwargs(self) -> dict[str, Any]:
        return {"runner": self.runner, "toolbox": self.toolbox, "connect": self.connect, "clock": self.clock}


def _kit(tmp_path: Path, phases: Sequence[Phase], version: str, faults: Faults | None, options: SessionOptions,
         shared_state: bool, cases: Sequence[Case] = ()) -> DryRunKit:
    clock = LocalClock()
    state = tmp_path / "fake-cluster" / "state.json" if shared_state else None
    cluster = FakeCluster(phases, cases=cases, version=version, faults=faults, state_file=state, clock=clock)
    runner = FakeToolRunner(cluster)
    downloader = LocalDownloader()
    plat = Platform("linux", "amd64")
    bin_dir = tmp_path / "fake-cluster" / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for tool in ("kind", "helm"):  # on PATH: kind's and helm's pinned digests cannot match a fake binary's download
        (bin_dir / tool).write_text("#!/bin/sh\nexit 1\n")
        paths[tool] = str(bin_dir / tool)
    toolbox = Toolbox(runner, downloader, cache_root=tmp_path / "fake-cluster" / "cache", plat=plat, which=paths.get,
                      progress=io.StringIO())
    return DryRunKit(options, cluster, runner, toolbox, downloader, clock)


def kind_kit(tmp_path: Path, phases: Sequence[Phase], *, istio_version: str = "1.30", faults: Faults | None = None,
             shared_state: bool = True, cases: Sequence[Case] = (), **option_overrides: Any) -> DryRunKit:
    """Kind mode: no cluster yet; the session creates it with kind and installs Istio with helm from a served archive."""
    from mtls_conformance.versions import catalog, resolve_version

    requested = resolve_version(istio_version)
    install = catalog().install_version(requested)
    root = Path(__file__).resolve().parents[2]
    options = SessionOptions(istio_version=requested, kind_config=root / "kind-config.yaml", results_dir=tmp_path / "results",
                             run_id="dry-run-1", timing=Timing(), capture_sample_rate=0.0, **option_overrides)
    kit = _kit(tmp_path, phases, install, faults, options, shared_state, cases)
    kit.downloader.serve_istio_release(install, kit.toolbox.platform)
    return kit


def existing_kit(tmp_path: Path, phases: Sequence[Phase], installed: str = "1.30.3", *, faults: Faults | None = None,
                 mesh_config: Mapping[str, Any] | None = None, shared_state: bool = True, cases: Sequence[Case] = (),
                 **option_overrides: Any) -> DryRunKit:
    """Existing-cluster mode: a kubeconfig of someone's cluster, Istio ``installed`` already (istiod + `istio` ConfigMap)."""
    kubeconfig = tmp_path / "existing-kubeconfig.yaml"
    config = kind_kubeconfig("existing")
    kubeconfig.write_text(yaml.safe_dump(config, sort_keys=False))
    line = ".".join(installed.split(".")[:2])
    options = SessionOptions(kubeconfig=kubeconfig, context="kind-existing", istio_version=line, results_dir=tmp_path / "results",
                             run_id="dry-run-1", timing=Timing(), capture_sample_rate=0.0, **option_overrides)
    kit = _kit(tmp_path, phases, installed, faults, options, shared_state, cases)
    kit.cluster.install_istio(installed, mesh_config=mesh_config)
    return kit
