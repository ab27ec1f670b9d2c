"""Repro bundles: complete, the scenario file loads back, and the generated repro.sh is shellcheck-clean and runs.

The proxy answers are real artefacts from ../shared (provenance: ../shared/istio/SOURCES.md): the config dump joins
``envoy-config_dump/describe-http_config`` (CDS/LDS/RDS) and ``endpoints`` (EDS), as ``config_dump?include_eds=true``
returns them in one ``configs`` list, with the SecretsConfigDump of ``istioctl-secret/istio.secrets-config_dump.json``
(via tests/support/sds_answers.py; DERIVED: the join). Pods are ``pod_info()`` on the injector's golden files, and
istiod's pod follows its chart (see tests/test_executor_session.py).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path

import pytest
from support.sds_answers import FULL, envelope
from test_executor_fakes import FakeClock, FakeDownloader, FakeKube, FakeRunner
from test_executor_session import envoy_dump, istiod_pod, pods_for
from test_scripts import shellcheck

from mtls_conformance.engine import expect_all
from mtls_conformance.executor.bundle import (
    BundleInputs,
    bundle_files,
    case_probe_scripts,
    pod_ip_token,
    repro_script,
    secrets_from_dump,
    selector,
    slug,
    write_case_bundle,
)
from mtls_conformance.executor.istio import IstioInstaller
from mtls_conformance.executor.kube import ExecResult
from mtls_conformance.executor.session import MeshSession, SessionOptions
from mtls_conformance.executor.tools import Platform, Toolbox
from mtls_conformance.observe.model import ProbeObservation
from mtls_conformance.outcomes import ProbeOutcome
from mtls_conformance.plan import build_plan
from mtls_conformance.plan.model import Case
from mtls_conformance.plan.render import render_scenario
from mtls_conformance.scenario import load_scenario
from mtls_conformance.verdict import Status, Verdict, judge
from mtls_conformance.versions import parse_version, resolve_version

(SECRETS,) = envelope(FULL)["configs"]  # the SecretsConfigDump of a real /config_dump
DUMP = json.dumps({"configs": [*json.loads(envoy_dump("describe-http_config", "endpoints"))["configs"], SECRETS]})


@pytest.fixture(scope="module")
def failing_case() -> tuple[Case, list[Verdict]]:
    case = next(c for c in build_plan("smoke", resolve_version("1.30")).cases if "restrictive" in c.id)
    verdicts = []
    for e in expect_all(case.scenario, resolve_version("1.30")):
        wrong = ProbeObservation(e.probe.id, ProbeOutcome.RESET, curl_exit=56, raw="curl: (56) Recv failure: Connection reset by peer")
        verdicts.append(judge(case.id, e, wrong))
    assert any(v.status is Status.FAIL for v in verdicts)
    return case, verdicts


def inputs_for(case: Case, verdicts: list[Verdict], values: str = "") -> BundleInputs:
    client = case.scenario.probes[0].source
    return BundleInputs(case=case, verdicts=tuple(verdicts), manifests="kind: Namespace\n", istio_version="1.30.4",
                        kubernetes_version="v1.34.0", run_id="r1", probe_scripts={client: "#!/bin/sh\necho probe\n"},
                        config_dumps={client: DUMP}, logs={"istiod/istiod-abc": "istiod log\n"}, istio_values=values)


def test_bundle_holds_everything_a_bug_report_needs(tmp_path: Path, failing_case: tuple[Case, list[Verdict]]) -> None:
    case, verdicts = failing_case
    values = tmp_path / "values.yaml"
    values.write_text("pilot: {}\n")
    dest = tmp_path / "bundles" / slug(case.id)
    folder = write_case_bundle(inputs_for(case, verdicts, str(values)), dest)
    assert folder == dest and "restrictive" in folder.name and "/" not in folder.name
    client = slug(case.scenario.probes[0].source)
    assert set(bundle_files(folder)) >= {"scenario.yaml", "applied.yaml", "probe-output.txt", "verdicts.txt", "repro.sh", "README.md",
                                        "istio-values.yaml", f"probes/{client}.sh", f"proxies/{client}.config_dump.json",
                                        f"proxies/{client}.secrets.json", "logs/istiod_istiod-abc.log"}
    assert "Connection reset by peer" in (folder / "probe-output.txt").read_text()
    assert "engine explanation" in (folder / "verdicts.txt").read_text()
    assert json.loads((folder / f"proxies/{client}.secrets.json").read_text())["dynamic_active_secrets"][0]["name"] == "default"


def test_bundle_scenario_file_loads_back_as_the_same_case(tmp_path: Path, failing_case: tuple[Case, list[Verdict]]) -> None:
    case, verdicts = failing_case
    folder = write_case_bundle(inputs_for(case, verdicts), tmp_path)
    loaded = load_scenario(folder / "scenario.yaml")
    assert loaded.workloads == case.scenario.workloads and loaded.probes == case.scenario.probes
    assert [e.outcome for e in expect_all(loaded)] == [e.outcome for e in expect_all(case.scenario)]


def test_generated_repro_script_is_shellcheck_clean(tmp_path: Path, failing_case: tuple[Case, list[Verdict]]) -> None:
    case, verdicts = failing_case
    folder = write_case_bundle(inputs_for(case, verdicts, str(tmp_path / "v.yaml")), tmp_path)
    result = subprocess.run([shellcheck(), str(folder / "repro.sh")], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
    assert os.access(folder / "repro.sh", os.X_OK)


def test_repro_script_drives_the_project_scripts(tmp_path: Path, failing_case: tuple[Case, list[Verdict]]) -> None:
    case, verdicts = failing_case
    fake_project = tmp_path / "project"
    (fake_project / "scripts").mkdir(parents=True)
    log = tmp_path / "calls.log"
    for name in ("cluster-up", "install-istio", "run-scenario"):
        stub = fake_project / "scripts" / name
        stub.write_text(f'#!/usr/bin/env bash\nprintf "%s\\n" "{name} $*" >> "{log}"\n')
        stub.chmod(0o755)
    folder = write_case_bundle(inputs_for(case, verdicts), tmp_path / "b")
    env = {**os.environ, "MTLS_CONFORMANCE_HOME": str(fake_project)}
    subprocess.run([str(folder / "repro.sh")], env=env, check=True, timeout=30)
    workload = case.scenario.workload(case.scenario.probes[0].source)
    target = next(case.scenario.workload(p.target) for p in case.scenario.probes if p.address.value == "pod")
    pod_ip = f"--pod-ip {pod_ip_token(target)}={target.namespace}/{selector(target)}"
    assert log.read_text().splitlines() == [
        "cluster-up --name mtlsc-repro",
        "install-istio --name mtlsc-repro 1.30.4",
        f"run-scenario --name mtlsc-repro --probe {workload.namespace}/{selector(workload)}@probes/{slug(workload.key)}.sh {pod_ip} applied.yaml",
    ]


def test_case_probe_scripts_hold_only_the_cases_probes_with_pod_ip_tokens(failing_case: tuple[Case, list[Verdict]]) -> None:
    case, _ = failing_case
    scripts = case_probe_scripts(case.scenario, 5)
    assert set(scripts) == {p.source for p in case.scenario.probes}
    text = "".join(scripts.values())
    assert text.count("_probe ") == len(case.scenario.probes)
    pod_target = next(case.scenario.workload(p.target) for p in case.scenario.probes if p.address.value == "pod")
    assert f"://{pod_ip_token(pod_target)}:" in text


def test_repro_script_names_what_was_expected_and_observed(failing_case: tuple[Case, list[Verdict]]) -> None:
    case, verdicts = failing_case
    text = repro_script(inputs_for(case, verdicts))
    assert f"# Recreates case {case.id}" in text and "expected plaintext, observed refused:reset" in text


def test_secrets_extraction_tolerates_garbage() -> None:
    assert secrets_from_dump("not json") is None and secrets_from_dump("[]") is None
    assert secrets_from_dump(DUMP) == SECRETS


def test_session_write_bundle_collects_dumps_and_logs(tmp_path: Path, failing_case: tuple[Case, list[Verdict]]) -> None:
    case, verdicts = failing_case
    kube = FakeKube(exec_handler=lambda pod, container, cmd: ExecResult(DUMP, "", 0))
    kube.pods_by_ns.update(pods_for(case.scenario, subnet="10.1.0"))
    kube.pods_by_ns["istio-system"] = [istiod_pod()]
    runner, clock = FakeRunner(), FakeClock()
    session = MeshSession(SessionOptions(run_id="r2"), kube=kube, runner=runner, clock=clock,
                          toolbox=Toolbox(runner, FakeDownloader(), cache_root=tmp_path, plat=Platform("linux", "amd64")),
                          installer=IstioInstaller(runner, "helm", kubeconfig=None, context=None, kube=kube, clock=clock),
                          kind=None, created_cluster=False, istio_version=parse_version("1.30.4"), kubernetes_version="v1.34.0",
                          progress=io.StringIO())
    folder = session.write_bundle(case, verdicts, tmp_path / "bundles")
    files = bundle_files(folder)
    assert "logs/istiod_istiod-1.log" in files and any(f.endswith(".secrets.json") for f in files)
    dumped = [c for c in kube.calls("exec") if c[2] == "istio-proxy"]
    assert dumped and all(c[3] == ("pilot-agent", "request", "GET", "config_dump?include_eds=true") for c in dumped)
    proxies = {w.key for w in case.scenario.workloads if w.sidecar}
    assert {f for f in files if f.endswith(".config_dump.json")} == {f"proxies/{slug(k)}.config_dump.json" for k in proxies}
    assert (folder / "applied.yaml").read_text().count("kind:") == len(render_scenario(case.scenario, "r2", case.id))
