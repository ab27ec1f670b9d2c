"""The plugin end to end with a fake mesh (fixtures.testing): verdicts, JUnit properties, the engine as the only
source of expectations, failure messages, the no-cluster and --plan-only paths, user scenarios and the report."""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from support.demo_suites import make_suites
from support.flip_engine import FLIP_ENGINE

pytest_plugins = ("pytester",)

SCENARIO = """\
name: demo-strict
workloads:
  - {name: curl, namespace: demo-legacy, sidecar: false, ports: []}
  - {name: curl, namespace: demo-client, ports: []}
  - {name: httpbin, namespace: demo-server, ports: [{name: http, port: 8000, targetPort: 8080}]}
config:
  - {apiVersion: security.istio.io/v1, kind: PeerAuthentication, metadata: {name: default, namespace: demo-server}, spec: {mtls: {mode: STRICT}}}
probes:
  - {from: demo-legacy/curl, to: demo-server/httpbin, port: 8000}
  - {from: demo-client/curl, to: demo-server/httpbin, port: 8000}
"""

@pytest.fixture
def project(pytester: pytest.Pytester, tmp_path: Path) -> pytest.Pytester:
    record = {"id": "demo/strict", "scenario": "strict.yaml", "features": ["peer-authentication"], "about": "a STRICT namespace"}
    return make_suites(pytester, [record], {"strict.yaml": SCENARIO})


def _properties(junit: Path) -> list[dict[str, str]]:
    cases = ET.parse(junit).getroot().iter("testcase")
    return [{p.get("name", ""): p.get("value", "") for p in case.iter("property")} for case in cases]


def test_a_conforming_mesh_passes_and_records_case_and_convergence(project: pytest.Pytester, tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    result = project.runpytest_subprocess("--results-dir", str(tmp_path / "results"), f"--junitxml={junit}")
    result.assert_outcomes(passed=2)
    props = _properties(junit)
    assert {p["case_id"] for p in props} == {"demo/strict"}
    assert all(float(p["convergence_s"]) > 0 for p in props)
    assert sorted(p["expected"] for p in props) == sorted(p["observed"] for p in props)
    assert {p["probe"] for p in props} == {"demo-legacy/curl->demo-server/httpbin:8000", "demo-client/curl->demo-server/httpbin:8000"}


def test_expectations_come_from_the_engine(project: pytest.Pytester, tmp_path: Path) -> None:
    """Patch the engine's answer: the suite's expectation follows it (and the unchanged mesh now disagrees)."""
    before, after = tmp_path / "before.xml", tmp_path / "after.xml"
    project.runpytest_subprocess("--results-dir", str(tmp_path / "r1"), f"--junitxml={before}").assert_outcomes(passed=2)
    (project.path / "flip_engine.py").write_text(FLIP_ENGINE)
    result = project.runpytest_subprocess("-p", "flip_engine", "--results-dir", str(tmp_path / "r2"), f"--junitxml={after}")
    result.assert_outcomes(failed=2)
    expected_before = {p["probe"]: p["expected"] for p in _properties(before)}
    expected_after = {p["probe"]: p["expected"] for p in _properties(after)}
    assert expected_before.keys() == expected_after.keys()
    assert all(expected_before[k] != expected_after[k] for k in expected_before)


def test_a_disagreement_fails_with_expected_observed_evidence_and_explanation(project: pytest.Pytester, tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MTLS_FAKE_CONTRADICT", "demo-strict")
    results = tmp_path / "results"
    result = project.runpytest_subprocess("--results-dir", str(results), "-q")
    result.assert_outcomes(failed=2)
    text = result.stdout.str()
    for needle in ("expected:", "observed:", "evidence:", "- metrics", "engine explanation:", "server.strict",
                   "https://istio.io/latest/docs/"):
        assert needle in text, needle
    bundles = list(results.glob("*/bundles/*/failure.txt"))
    assert len(bundles) == 2
    report = json.loads(next(results.glob("*/report.json")).read_text())
    assert "demo/strict" in json.dumps(report)


def test_without_a_cluster_the_run_stops_with_one_line(project: pytest.Pytester, tmp_path: Path) -> None:
    project.makeconftest(textwrap.dedent("""\
        pytest_plugins = ["fixtures.plugin"]

        def pytest_mtls_cluster_available(config, options):
            return False, "no cluster: Docker is not running (test)"
    """))
    result = project.runpytest_subprocess("suites", "--results-dir", str(tmp_path / "results"))
    assert result.ret == 2
    assert [line for line in result.stderr.lines if line.strip()] == [
        "ERROR: no cluster: Docker is not running (test); fix: start Docker for a kind cluster, or pass --kubeconfig/--context "
        "of a reachable cluster; --plan-only and --collect-only work without a cluster"]
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert not (tmp_path / "results").exists(), "no report without a cluster"


def test_plan_only_prints_the_phases_and_skips(project: pytest.Pytester, tmp_path: Path) -> None:
    result = project.runpytest_subprocess("--plan-only", "-rs", "--results-dir", str(tmp_path / "results"))
    assert result.ret == 0
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*mtls-conformance plan*", "*1 phase, 1 case*", "  phase 1 mesh-none/auto-on: 1 case, 2 probes (demo)"])


def test_user_scenario_file_runs_alone(project: pytest.Pytester, tmp_path: Path) -> None:
    user = tmp_path / "bug.yaml"
    user.write_text(SCENARIO.replace("demo-strict", "my-bug"))
    project.makepyfile(test_user=(Path(__file__).parents[1] / "suites" / "test_user_scenarios.py").read_text())
    junit = tmp_path / "junit.xml"
    result = project.runpytest_subprocess(f"--scenario={user}", "--results-dir", str(tmp_path / "r"), f"--junitxml={junit}")
    result.assert_outcomes(passed=2, deselected=1)  # the records test: --scenario plans only the scenario
    assert {p["case_id"] for p in _properties(junit)} == {"scenario/my-bug"}


def test_a_broken_user_scenario_is_a_one_line_usage_error(project: pytest.Pytester, tmp_path: Path) -> None:
    user = tmp_path / "bad.yaml"
    user.write_text("workloads: [{name: x}]\n")
    result = project.runpytest_subprocess(f"--scenario={user}")
    assert result.ret == 2
    errors = [line for line in result.stderr.lines if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("ERROR: ") and str(user) in errors[0]


BROKEN = """\
from fixtures.testing import FakeMesh
from mtls_conformance.executor.errors import HarnessError

pytest_plugins = ["fixtures.plugin"]
APPLIES = []


class BrokenMesh(FakeMesh):
    def apply_phase(self, phase):
        APPLIES.append(phase.name)
        assert len(APPLIES) == 1, "a failed phase must not be re-applied for every test"
        raise HarnessError("kubectl apply", "the API server refused the phase", "check the cluster")


def pytest_mtls_cluster_available(config, options):
    return True, "fake"


def pytest_mtls_open_session(config, options):
    if config.getoption("--cluster-name") == "no-docker":
        raise HarnessError("docker", "the Docker daemon is unreachable", "start Docker")
    return BrokenMesh(options, "main")
"""


def test_a_phase_that_cannot_be_applied_fails_its_tests_in_one_line(project: pytest.Pytester, tmp_path: Path) -> None:
    project.makeconftest(BROKEN)
    result = project.runpytest_subprocess(f"--results-dir={tmp_path}", "-rf")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*phase 1 mesh-none/auto-on could not be applied: kubectl apply: the API server refused the phase*"])
    assert "Traceback" not in result.stdout.str()


def test_a_session_that_cannot_open_fails_every_test_with_the_fix(project: pytest.Pytester, tmp_path: Path) -> None:
    project.makeconftest(BROKEN)
    result = project.runpytest_subprocess(f"--results-dir={tmp_path}", "--cluster-name=no-docker", "-rf")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*cannot open the mesh session: docker: the Docker daemon is unreachable; fix: start Docker*"])


GUARDED = """\
from fixtures.testing import FakeMesh

pytest_plugins = ["fixtures.plugin"]


class ExistingCluster(FakeMesh):
    def apply_phase(self, phase):
        assert all(r.namespace != "istio-system" for r in phase.scenario.config), "mesh-wide config applied"
        return super().apply_phase(phase)


def pytest_mtls_cluster_available(config, options):
    return True, "fake"


def pytest_mtls_open_session(config, options):
    return ExistingCluster(options, "main")
"""

MESH_STRICT = SCENARIO.replace("demo-strict", "demo-mesh").replace("demo-server", "demo-mesh-server").replace(
    "namespace: demo-mesh-server}, spec", "namespace: istio-system}, spec")


def test_mesh_wide_cases_on_an_existing_cluster_skip_and_the_rest_of_the_phase_runs(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """The plan (not the session) leaves mesh-wide cases out on someone else's cluster; the phase still runs the rest."""
    records = [{"id": "demo/strict", "scenario": "strict.yaml", "features": ["peer-authentication"], "about": "namespace STRICT"},
               {"id": "demo/mesh", "scenario": "mesh.yaml", "features": ["peer-authentication"], "about": "mesh STRICT"}]
    project = make_suites(pytester, records, {"strict.yaml": SCENARIO, "mesh.yaml": MESH_STRICT})
    project.makeconftest(GUARDED)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    result = project.runpytest_subprocess(f"--results-dir={tmp_path}", f"--kubeconfig={kubeconfig}", "-rs")
    result.assert_outcomes(passed=2, skipped=2)
    result.stdout.fnmatch_lines(["*applies mesh-wide config in 'istio-system' (PeerAuthentication istio-system/default) on an "
                                 "existing cluster; pass --allow-install to include it*"])


def test_allure_gets_the_applied_yaml_probe_output_and_explanation(project: pytest.Pytester, tmp_path: Path) -> None:
    alluredir = tmp_path / "allure"
    project.runpytest_subprocess(f"--results-dir={tmp_path / 'r'}", f"--alluredir={alluredir}").assert_outcomes(passed=2)
    results = [json.loads(p.read_text()) for p in alluredir.glob("*-result.json")]
    assert len(results) == 2
    for result in results:
        text = json.dumps(result)
        for name in ("engine explanation", "applied.yaml", "probe output", "verdict.json"):
            assert f'"name": "{name}"' in text, name
        assert {"name": "case_id", "value": "demo/strict"} in result["labels"]
    attachments = "".join(p.read_text() for p in alluredir.glob("*-attachment*"))
    assert "kind: PeerAuthentication" in attachments and "server.strict" in attachments
