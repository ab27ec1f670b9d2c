"""The dry run's fake cluster (tests/support/fake_cluster.py): every answer parses with the project's own parsers, and
MeshSession.open + apply_phase + probe + evidence work on it for the smoke profile's first phase, on a fresh kind
cluster and on an existing cluster with Istio installed."""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import json
from pathlib import Path

import pytest
import yaml
from support.fake_cluster import (
    ISTIO_NAMESPACE,
    FakeCluster,
    FakeToolRunner,
    Faults,
    LocalClock,
    existing_kit,
    grace_jitter,
    issue_times,
    kind_kit,
    matches_selector,
)
from support.sds_answers import FILTERED, envelope

from fixtures.rotation import parse_traffic, traffic_script, with_secret_ttl
from mtls_conformance.engine.expect import expect
from mtls_conformance.engine.model import Expectation
from mtls_conformance.executor import evidence as ev
from mtls_conformance.executor.errors import WaitTimeout
from mtls_conformance.executor.kube import PodInfo, envoy_admin, pod_info
from mtls_conformance.executor.session import MeshSession
from mtls_conformance.observe import envoy_config, metrics
from mtls_conformance.observe.curl import parse_probe_output, probe_script, probe_spec_from, resolve_pod_ips
from mtls_conformance.observe.rotation import CertSample, analyse_rotation, chains_to_root
from mtls_conformance.observe.secrets import parse_pem_chain, parse_secrets, workload_secret
from mtls_conformance.plan import build_plan
from mtls_conformance.plan.model import Phase, Plan
from mtls_conformance.plan.records import load_folder
from mtls_conformance.plan.render import render_phase, render_scenario
from mtls_conformance.scenario.model import Address, Probe, Scenario
from mtls_conformance.versions import resolve_version

RUN = "dry-run-1"


@functools.cache
def smoke() -> Plan:
    return build_plan("smoke", resolve_version("1.30"))


def first_phase() -> Phase:
    return smoke().phases[0]


def expected(e: Expectation) -> str:
    """The probe outcome value a conforming mesh shows (failure names and probe outcome values are the same strings)."""
    return "ok" if e.connect else str(e.failure.value if e.failure else "")


def applied_cluster(tmp_path: Path | None = None, faults: Faults | None = None) -> FakeCluster:
    state = tmp_path / "state.json" if tmp_path is not None else None
    cluster = FakeCluster(smoke().phases, version="1.30.3", faults=faults, state_file=state)
    cluster.install_istio("1.30.3")
    cluster.apply(render_phase(first_phase(), RUN))
    return cluster


def pod_for(cluster: FakeCluster, scenario: Scenario, key: str) -> PodInfo:
    w = scenario.workload(key)
    selector = ",".join(f"{k}={v}" for k, v in sorted(w.labels.items()))
    (pod,) = [p for p in cluster.pods(w.namespace, selector) if p.has_sidecar == w.sidecar]
    return pod


# --- shapes, read by the project's parsers ----------------------------------------------------------------------------
def test_pods_are_the_injector_shape_and_parse_with_kube_pod_info() -> None:
    cluster = applied_cluster()
    scenario = first_phase().scenario
    assert cluster.scenario() is scenario
    for w in scenario.workloads:
        pod = pod_for(cluster, scenario, w.key)
        assert pod.ready and pod.has_sidecar == w.sidecar and pod.ip.startswith("10.244.")
    raw = next(p for p in cluster.pod_objects("mc-client") if "istio-proxy" in json.dumps(p["spec"]))
    assert [c["name"] for c in raw["spec"]["containers"]] == ["curl"]  # the Deployment's containers, substituted
    proxy = next(c for c in raw["spec"]["initContainers"] if c["name"] == "istio-proxy")
    assert proxy["restartPolicy"] == "Always" and "other-sidecar" not in json.dumps(raw)
    assert any(s["name"] == "istio-proxy" and s["ready"] for s in raw["status"]["initContainerStatuses"])
    assert raw["metadata"]["labels"]["security.istio.io/tlsMode"] == "istio"
    assert pod_info(raw).containers == ("curl", "istio-proxy")
    plain = cluster.pod_objects("mc-legacy")[0]
    assert "initContainers" not in plain["spec"] and not pod_info(plain).has_sidecar


def test_label_selectors_follow_kubernetes() -> None:
    labels = {"app": "curl", "tier": "x"}
    assert matches_selector(labels, "app=curl,tier") and matches_selector(labels, "app==curl,!missing,tier!=y")
    assert not matches_selector(labels, "app=curl,tier=y") and not matches_selector(labels, "!app")


def test_server_dumps_enforce_the_engines_mode_on_every_port() -> None:
    cluster = applied_cluster()
    scenario = first_phase().scenario
    checked = 0
    for w in (w for w in scenario.workloads if w.sidecar and w.ports):
        pod = pod_for(cluster, scenario, w.key)
        result = envoy_admin(cluster, pod, "config_dump", 30)
        dump = envoy_config.load_dump(result.stdout)
        assert [c["@type"].rsplit(".", 1)[1] for c in dump["configs"]] == ["ClustersConfigDump", "ListenersConfigDump", "SecretsConfigDump"]
        for port in w.container_ports:
            mode = expect(scenario, Probe(w.key, w.key, port, Address.POD)).server_mode
            assert mode is not None and ev.server_holds(port, mode)(result.stdout)[0], (w.key, port, mode)
            checked += 1
    assert checked > 20


def test_client_dumps_with_eds_hold_the_engines_per_endpoint_decision() -> None:
    cluster = applied_cluster()
    scenario = first_phase().scenario
    checked = set()
    for e in (expect(scenario, p) for p in scenario.probes):
        if not scenario.workload(e.probe.source).sidecar or e.probe.address is not Address.SERVICE:
            continue
        text = envoy_admin(cluster, pod_for(cluster, scenario, e.probe.source), "config_dump?include_eds=true", 30).stdout
        _cluster, describe, holds = ev.client_check(scenario, e)
        ok, excerpt = holds(text)
        assert ok, f"{describe}\n{excerpt}"
        checked.add(e.client_sends.value)
        dump = envoy_config.load_dump(text)
        assert envoy_config.has_eds(dump) and envoy_config.cluster_endpoints(dump, _cluster)
    assert {"istio_mutual", "plaintext"} <= checked


def test_probe_answers_parse_and_follow_the_engine() -> None:
    cluster = applied_cluster()
    scenario = first_phase().scenario
    by_client: dict[str, list[Probe]] = {}
    for p in scenario.probes:
        by_client.setdefault(p.source, []).append(p)
    outcomes = set()
    for source, probes in by_client.items():
        client = pod_for(cluster, scenario, source)
        ips = {p.target: pod_for(cluster, scenario, p.target).ip for p in probes if p.address is Address.POD}
        specs = [resolve_pod_ips(probe_spec_from(scenario, p), ips) for p in probes]
        result = cluster.exec(client, "curl", ["sh", "-c", probe_script(specs)], 30)
        observations = {o.probe_id: o for o in parse_probe_output(result.stdout, [p.id for p in probes])}
        for p in probes:
            e, o = expect(scenario, p), observations[p.id]
            assert o.outcome.value == expected(e), (p.id, o.raw)
            assert o.client_identity == (e.client_principal if e.mtls and e.protocol == "http" else None), p.id
            outcomes.add(o.outcome.value)
    assert {"ok", "reset", "503"} <= outcomes


def test_stats_are_the_scrape_artefact_plus_counted_requests() -> None:
    cluster = applied_cluster()
    scenario = first_phase().scenario
    probe = next(p for p in scenario.probes if expect(scenario, p).mtls and expect(scenario, p).protocol == "http")
    server = pod_for(cluster, scenario, probe.target)
    before = envoy_admin(cluster, server, "stats/prometheus", 30).stdout
    spec = probe_spec_from(scenario, probe)
    cluster.exec(pod_for(cluster, scenario, probe.source), "curl", ["sh", "-c", probe_script([spec])], 30)
    after = envoy_admin(cluster, server, "stats/prometheus", 30).stdout
    samples = metrics.parse_prometheus(after)
    assert metrics.select(samples, "envoy_cluster_client_ssl_socket_factory_ssl_context_update_by_sds")  # the artefact's series
    obs = parse_probe_output(cluster.exec(pod_for(cluster, scenario, probe.source), "curl",
                                          ["sh", "-c", probe_script([spec])], 30).stdout, [probe.id])[0]
    found = ev.metrics_evidence(before, after, scenario, probe, obs)
    assert found.says_mtls is True, found


def test_secrets_and_mesh_answers_parse() -> None:
    cluster = applied_cluster()
    scenario = first_phase().scenario
    pod = pod_for(cluster, scenario, "mc-client/curl")
    secrets = parse_secrets(json.loads(envoy_admin(cluster, pod, "config_dump?resource=dynamic_active_secrets", 30).stdout))
    assert workload_secret(secrets) is not None and {s.name for s in secrets} >= {"default", "ROOTCA"}
    (istiod,) = cluster.pods(ISTIO_NAMESPACE, "app=istiod")
    mesh = json.loads(cluster.exec(istiod, "discovery", ["pilot-discovery", "request", "GET", "/debug/mesh"], 30).stdout)
    assert mesh["rootNamespace"] == "istio-system" and mesh["trustDomain"] == "cluster.local"
    assert mesh["enablePrometheusMerge"] is True  # the chart's default values (helm-values/1.30.3/istiod.values.yaml)
    assert cluster.deployment_images(ISTIO_NAMESPACE, "istiod") == ["docker.io/istio/pilot:1.30.3"]


def test_state_is_shared_between_processes_through_the_state_file(tmp_path: Path) -> None:
    applied_cluster(tmp_path)
    other = FakeCluster(smoke().phases, version="1.30.3", state_file=tmp_path / "state.json")  # another xdist worker
    scenario = other.scenario()
    assert scenario is first_phase().scenario
    assert pod_for(other, scenario, "mc-client/curl").has_sidecar
    other.delete_labeled(f"mtls-conformance/run={RUN}", 10)
    assert FakeCluster(state_file=tmp_path / "state.json").list_labeled(f"mtls-conformance/run={RUN}") == []


# --- MeshSession on it --------------------------------------------------------------------------------------------------
def _run_first_phase(session: MeshSession) -> None:
    phase = first_phase()
    applied = session.apply_phase(phase)
    assert applied.objects and {r.kind for r in applied.objects} >= {"Namespace", "Deployment", "PeerAuthentication"}
    expectations = [expect(phase.scenario, p) for p in phase.scenario.probes]
    for check in session.config_checks(phase.scenario, expectations):
        assert check.holds(session._dump(check.proxy))[0], check.describe
    observations = session.probe(phase.scenario, phase.scenario.probes)
    wrong = [(o.probe_id, o.outcome.value, expected(e)) for o, e in zip(observations, expectations, strict=True)
             if o.outcome.value != expected(e)]
    assert not wrong
    mtls = next(i for i, e in enumerate(expectations) if e.mtls and e.protocol == "http")
    found = session.evidence(phase.scenario, expectations[mtls], observations[mtls])
    kinds = {f.source: f for f in found}
    assert kinds["config-dump"].says_mtls is not False and kinds["metrics"].says_mtls is True, found


def test_kind_mode_creates_the_cluster_installs_istio_and_runs_the_first_phase(tmp_path: Path) -> None:
    kit = kind_kit(tmp_path, smoke().phases)
    session = MeshSession.open(kit.options, **kit.open_kwargs())
    runner: FakeToolRunner = kit.runner
    assert [c[1:3] for c in runner.commands("kind")][:3] == [("version",), ("get", "clusters"), ("create", "cluster")]
    assert [c[3] for c in runner.commands("helm") if c[1:3] == ("upgrade", "--install")] == ["istio-base", "istiod"]
    assert kit.downloader.downloaded and str(session.istio_version).startswith("1.30.")
    assert kit.connected == [(str(session.kind.kubeconfig), "kind-mtls-conformance")] if session.kind else False
    _run_first_phase(session)
    session.close(failed=False)
    assert runner.commands("kind")[-1][1:3] == ("delete", "cluster") and kit.cluster.objects() == []


def test_existing_cluster_mode_uses_the_installed_istio_and_leaves_it(tmp_path: Path) -> None:
    kit = existing_kit(tmp_path, smoke().phases, "1.30.3")
    session = MeshSession.open(kit.options, **kit.open_kwargs())
    assert str(session.istio_version) == "1.30.3" and session.kind is None
    assert not kit.runner.commands("kind") and not kit.runner.commands("helm")
    _run_first_phase(session)
    session.close(failed=False)
    assert kit.cluster.list_labeled(f"mtls-conformance/run={kit.options.run_id}") == []
    assert kit.cluster.deployment_ready(ISTIO_NAMESPACE, "istiod")  # not ours: still there
    mesh = yaml.safe_load(kit.cluster.get_configmap(ISTIO_NAMESPACE, "istio")["mesh"])  # type: ignore[index]
    assert mesh["rootNamespace"] == "istio-system"


# --- faults ---------------------------------------------------------------------------------------------------------------
def test_a_pod_that_never_becomes_ready_times_out_the_rollout_by_name(tmp_path: Path) -> None:
    kit = existing_kit(tmp_path, smoke().phases, faults=Faults(never_ready=frozenset({"mc-ns-strict/wl-disable-port-none"})))
    session = MeshSession.open(kit.options, **kit.open_kwargs())
    with pytest.raises(WaitTimeout, match="rollout of wl-disable-port-none in namespace mc-ns-strict"):
        session.apply_phase(first_phase())
    assert kit.clock.waits  # the wait was spent on the fake clock, not in real time
    session.close(failed=True)


def test_a_failing_probe_exec_is_inconclusive_with_the_transport_error(tmp_path: Path) -> None:
    kit = existing_kit(tmp_path, smoke().phases, faults=Faults(probe_exec_fails=frozenset({"mc-legacy/curl"})))
    session = MeshSession.open(kit.options, **kit.open_kwargs())
    phase = first_phase()
    session.apply_phase(phase)
    probes = [p for p in phase.scenario.probes if p.source in ("mc-legacy/curl", "mc-client/curl")]
    observations = {o.probe_id: o for o in session.probe(phase.scenario, probes)}
    for p in probes:
        o = observations[p.id]
        if p.source == "mc-legacy/curl":
            assert o.outcome.value == "inconclusive" and "exec failed" in o.raw and "fault" in o.raw
        else:
            assert o.outcome.value != "inconclusive"
    session.close(failed=True)


# --- workload certificates: minted per pod, rotated on the fake clock ---------------------------------------------------
ROTATION_CASE = next(c for c in load_folder(Path(__file__).resolve().parents[1] / "suites" / "rotation") if not c.params.get("plugin_ca"))
SDS_PATH = "config_dump?resource=dynamic_active_secrets"


def rotation_cluster(faults: Faults | None = None, ttl: str = "5m") -> tuple[FakeCluster, LocalClock, PodInfo, PodInfo]:
    """The rotation case applied as fixtures/rotation.py applies it (SECRET_TTL in proxy.istio.io/config)."""
    clock = LocalClock()
    cluster = FakeCluster(smoke().phases, cases=[ROTATION_CASE], version="1.30.3", faults=faults, clock=clock)
    cluster.install_istio("1.30.3")
    cluster.apply(with_secret_ttl(render_scenario(ROTATION_CASE.scenario, RUN, ROTATION_CASE.id), ttl))
    scenario = ROTATION_CASE.scenario
    return cluster, clock, pod_for(cluster, scenario, "rot-ttl/httpbin"), pod_for(cluster, scenario, "rot-ttl/curl")


def watch(cluster: FakeCluster, clock: LocalClock, pod: PodInfo, seconds: float, poll_s: float = 5.0) -> list[CertSample]:
    samples = []
    end = clock.now() + seconds
    while clock.now() <= end:
        item = workload_secret(parse_secrets(json.loads(envoy_admin(cluster, pod, SDS_PATH, 30).stdout)))
        assert item is not None
        samples.append(CertSample.from_secret(item, clock.wall()))
        clock.wait(poll_s)
    return samples


def test_sds_answers_keep_the_filtered_envelope_and_swap_only_certificates() -> None:
    cluster, _clock, server, _client = rotation_cluster()
    doc = json.loads(envoy_admin(cluster, server, SDS_PATH, 30).stdout)
    artefact = envelope(FILTERED)
    assert [(c["@type"], c["name"], sorted(c)) for c in doc["configs"]] == [(c["@type"], c["name"], sorted(c)) for c in artefact["configs"]]
    for ours, theirs in zip(doc["configs"], artefact["configs"], strict=True):
        def shape(node: object) -> object:  # every key path of the envelope, values aside
            if isinstance(node, dict):
                return {k: shape(v) for k, v in node.items()}
            return type(node).__name__
        assert shape(ours) == shape(theirs)
    root = cluster.get_configmap("rot-ttl", "istio-ca-root-cert")
    assert root is not None and set(root) == {"root-cert.pem"}
    rootca = next(s for s in parse_secrets(doc) if s.name == "ROOTCA")
    assert [c.pem for c in rootca.chain] == [c.pem for c in parse_pem_chain(root["root-cert.pem"].encode())]


def test_rotating_sds_answers_parse_chain_to_the_served_root_and_renew_at_the_grace_ratio() -> None:
    cluster, clock, server, _client = rotation_cluster()
    samples = watch(cluster, clock, server, 600)
    root = (cluster.get_configmap("rot-ttl", "istio-ca-root-cert") or {})["root-cert.pem"].encode()
    spiffe = "spiffe://cluster.local/ns/rot-ttl/sa/httpbin"
    for s in samples:
        assert chains_to_root(s.chain_pems, root, at=s.observed_at)[0] and s.spiffe_id == spiffe
        assert s.not_after - s.not_before == dt.timedelta(minutes=7)  # SECRET_TTL 5m + istiod's 2 minute back-dating
    report = analyse_rotation(samples, root, min_rotations=3, expected_spiffe=spiffe)
    assert report.passed, report.describe()
    assert len(report.rotations) == 3  # 600s of a 5m certificate renewed every ~150s
    assert all(0.49 <= r.fraction <= 0.51 for r in report.rotations), report.describe()  # 1 - (0.5 +- 0.01)
    other = watch(cluster, clock, pod_for(cluster, ROTATION_CASE.scenario, "rot-ttl/curl"), 0)[0]
    assert other.spiffe_id == "spiffe://cluster.local/ns/rot-ttl/sa/curl" and chains_to_root(other.chain_pems, root)[0]


def test_the_root_configmap_is_in_every_namespace_once_istiod_runs() -> None:
    cluster = FakeCluster(smoke().phases, version="1.30.3")
    assert cluster.get_configmap("istio-system", "istio-ca-root-cert") is None  # no istiod yet
    cluster.install_istio("1.30.3")
    cluster.apply(render_phase(first_phase(), RUN))
    roots = {ns: cluster.get_configmap(ns, "istio-ca-root-cert") for ns in ("istio-system", "mc-client", "mc-legacy")}
    assert len({json.dumps(r) for r in roots.values()}) == 1 and None not in roots.values()
    assert cluster.get_configmap("no-such-namespace", "istio-ca-root-cert") is None


def test_without_secret_ttl_the_certificate_lives_24h() -> None:
    cluster = applied_cluster()
    pod = pod_for(cluster, first_phase().scenario, "mc-client/curl")
    item = workload_secret(parse_secrets(json.loads(envoy_admin(cluster, pod, SDS_PATH, 30).stdout)))
    assert item is not None and item.first is not None
    assert item.first.not_after - item.first.not_before == dt.timedelta(hours=24, minutes=2)
    assert item.first.spiffe_id == f"spiffe://cluster.local/ns/mc-client/sa/{first_phase().scenario.workload('mc-client/curl').service_account}"


def test_the_traffic_script_is_answered_over_the_watched_window() -> None:
    cluster, clock, _server, client = rotation_cluster()
    out = cluster.exec(client, "curl", ["sh", "-c", traffic_script("http://httpbin.rot-ttl.svc.cluster.local:8000/get", 600)], 660)
    results = parse_traffic(out.stdout)
    assert out.exit_code == 0 and len(results) == 1200 and all(r.ok for r in results)
    assert results[0].at == clock.wall() and (results[-1].at - results[0].at).total_seconds() == pytest.approx(599.5)


def test_a_stalled_rotation_serves_one_expiring_certificate_and_traffic_then_fails() -> None:
    cluster, clock, server, client = rotation_cluster(Faults(rotation_stalls=frozenset({"rot-ttl/httpbin"})))
    out = cluster.exec(client, "curl", ["sh", "-c", traffic_script("http://httpbin.rot-ttl.svc.cluster.local:8000/get", 600)], 660)
    lines = [line.split() for line in out.stdout.splitlines()]
    expiry = clock.epoch() + 300  # the first certificate's NotAfter: issue time + SECRET_TTL
    assert all(code == "200" for stamp, code in lines if float(stamp) <= expiry)
    assert all(code == "503" for stamp, code in lines if float(stamp) > expiry) and lines[-1][1] == "503"
    samples = watch(cluster, clock, server, 600)
    assert len({s.serial for s in samples}) == 1
    report = analyse_rotation(samples, cluster.mesh_root_pem(), parse_traffic(out.stdout))
    assert not report.passed and any("expired certificate" in p for p in report.problems)
    client_samples = watch(cluster, clock, client, 300)  # the client, not stalled, still rotates
    assert len({s.serial for s in client_samples}) > 1


def test_grace_jitter_follows_istio_agents_formula_reproducibly() -> None:
    """secretcache.go rotateTime: (rand.Float64() * 0.01) * (rand.IntN(3) - 1), here drawn from a hash of pod and index."""
    draws = [grace_jitter(f"ns/pod-{i}", k) for i in range(100) for k in range(3)]
    assert all(-0.01 < j < 0.01 for j in draws) and draws == [grace_jitter(f"ns/pod-{i}", k) for i in range(100) for k in range(3)]
    assert min(draws) < 0 < max(draws) and 0.2 < draws.count(0.0) / len(draws) < 0.45  # a third neither up nor down
    times = issue_times("ns/pod-1", 1000.0, 300.0, 2000.0)
    assert all(147.0 <= b - a <= 153.0 for a, b in itertools.pairwise(times)) and len(times) == 7
    assert issue_times("ns/pod-1", 1000.0, 300.0, 2000.0, stalled=True) == [1000.0]
