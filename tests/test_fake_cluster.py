"""The dry run's fake cluster (tests/support/fake_cluster.py): every answer parses with the project's own parsers, and
MeshSession.open + apply_phase + probe + evidence work on it for the smoke profile's first phase, on a fresh kind
cluster and on an existing cluster with Istio installed."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
import yaml
from support.fake_cluster import (
    ISTIO_NAMESPACE,
    FakeCluster,
    FakeToolRunner,
    Faults,
    existing_kit,
    kind_kit,
    matches_selector,
)

from mtls_conformance.engine.expect import expect
from mtls_conformance.engine.model import Expectation
from mtls_conformance.executor import evidence as ev
from mtls_conformance.executor.errors import WaitTimeout
from mtls_conformance.executor.kube import PodInfo, envoy_admin, pod_info
from mtls_conformance.executor.session import MeshSession
from mtls_conformance.observe import envoy_config, metrics
from mtls_conformance.observe.curl import parse_probe_output, probe_script, probe_spec_from, resolve_pod_ips
from mtls_conformance.observe.secrets import parse_secrets, workload_secret
from mtls_conformance.plan import build_plan
from mtls_conformance.plan.model import Phase, Plan
from mtls_conformance.plan.render import render_phase
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
