"""JUnit properties and Allure steps/attachments from a SYNTHETIC run, through real pytest runs (pytester)."""

from __future__ import annotations

import json
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from test_report_synthetic import WRONG_PLAINTEXT, cases, verdicts

from mtls_conformance.report import junit
from mtls_conformance.verdict import Verdict

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
JUNIT_WARNING = "is incompatible with junit_family"

INNER = """
import pytest
import test_report_synthetic as synthetic
from mtls_conformance.report import junit
from mtls_conformance.report import allure as report_allure

VERDICTS = {v.case_id + " " + v.expected.probe.id: v for v in synthetic.verdicts(synthetic.cases())}
PICK = sorted(k for k in VERDICTS if k.startswith("mesh-STRICT/ns-none/wl-none/port-none/dr-none/auto-on/"))
APPLIED = [{"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
            "metadata": {"name": "default", "namespace": "istio-system"}, "spec": {"mtls": {"mode": "STRICT"}}}]

@pytest.mark.parametrize("key", PICK)
def test_case(record_property, key):
    verdict = VERDICTS[key]
    for name, value in junit.properties(verdict):
        record_property(name, value)
    report_allure.attach_case(verdict, APPLIED)
    assert verdict.status.value == "pass", verdict.failure_message()
"""


def _verdict(case: str, port: int) -> Verdict:
    return next(v for v in verdicts(cases()) if v.case_id == case and v.expected.probe.port == port)


def test_properties_name_the_case_and_compare_expected_with_observed() -> None:
    v = _verdict(WRONG_PLAINTEXT, 8000)
    props = junit.properties(v)
    assert props[:7] == [
        ("case_id", WRONG_PLAINTEXT), ("probe", "client-mesh/curl->srv/backend:8000"), ("convergence_s", f"{v.convergence_s:.3f}"),
        ("expected", "mtls"), ("observed", "plaintext"), ("verdict", "fail"), ("rules", ",".join(r.id for r in v.expected.rules)),
    ]
    assert [p for name, p in props if name == "problem"] == list(v.problems)


def test_properties_of_a_refused_probe() -> None:
    v = _verdict("mesh-STRICT/ns-none/wl-none/port-none/dr-none/auto-on/plaintext->sidecar", 8000)
    assert dict(junit.properties(v))["expected"] == "refused:reset" == dict(junit.properties(v))["observed"]


def _project_ini() -> dict[str, object]:
    ini: dict[str, object] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    return ini


def _inner_project(pytester: pytest.Pytester) -> None:
    """The inner project gets the project's own [tool.pytest.ini_options] (the inifile of `pytest suites`)."""
    lines = ["[tool.pytest.ini_options]"] + [f"{key} = {json.dumps(value)}" for key, value in _project_ini().items()]
    pytester.makefile(".toml", pyproject="\n".join(lines) + "\n")
    pytester.makepyfile(test_inner=INNER)


@pytest.fixture
def inner_run(pytester: pytest.Pytester) -> tuple[pytest.RunResult, Path, Path]:
    _inner_project(pytester)
    xml_path, allure_dir = pytester.path / "junit.xml", pytester.path / "allure"
    result = pytester.runpytest_inprocess("test_inner.py", f"--junitxml={xml_path}", f"--alluredir={allure_dir}", "-p", "no:cacheprovider")
    return result, xml_path, allure_dir


def test_the_suites_ini_chooses_the_family_that_allows_per_test_properties() -> None:
    assert _project_ini()["junit_family"] == junit.JUNIT_FAMILY == "xunit1"


def test_junit_xml_without_warnings_and_with_every_property(inner_run: tuple[pytest.RunResult, Path, Path]) -> None:
    result, xml_path, _ = inner_run
    out = result.stdout.str() + result.stderr.str()
    assert JUNIT_WARNING not in out and "warnings" not in result.parseoutcomes(), out
    assert ET.parse(xml_path).getroot().find("testsuite") is not None
    for tc in ET.parse(xml_path).getroot().iter("testcase"):
        names = [p.get("name") for p in tc.iter("property")]
        assert names[:7] == ["case_id", "probe", "convergence_s", "expected", "observed", "verdict", "rules"], names


def test_under_xunit2_the_same_run_warns_once_per_test(pytester: pytest.Pytester) -> None:
    """The control: the check above would see the warnings if the family were pytest's default."""
    _inner_project(pytester)
    result = pytester.runpytest_inprocess("test_inner.py", f"--junitxml={pytester.path / 'j.xml'}", "-o", "junit_family=xunit2",
                                          "-p", "no:cacheprovider")
    assert JUNIT_WARNING in result.stdout.str() and result.parseoutcomes().get("warnings") == 4  # one per test


def test_junit_xml_carries_the_properties(inner_run: tuple[pytest.RunResult, Path, Path]) -> None:
    result, xml_path, _ = inner_run
    result.assert_outcomes(passed=3, failed=1)
    cases_xml = ET.parse(xml_path).getroot().iter("testcase")
    seen = {}
    for tc in cases_xml:
        props = {p.get("name"): p.get("value") for p in tc.iter("property")}
        seen[props["probe"]] = (props, tc.find("failure"))
    assert len(seen) == 4
    props, failure = seen["client-mesh/curl->srv/backend:8000"]
    assert props["case_id"] == WRONG_PLAINTEXT and (props["expected"], props["observed"], props["verdict"]) == ("mtls", "plaintext", "fail")
    assert float(props["convergence_s"] or "nan") > 0
    assert failure is not None and "engine explanation" in (failure.get("message", "") + (failure.text or ""))
    refused = seen["client-legacy/curl->srv/backend:8000"][0]
    assert (refused["expected"], refused["observed"], refused["verdict"]) == ("refused:reset", "refused:reset", "pass")


def test_allure_results_have_steps_and_attachments(inner_run: tuple[pytest.RunResult, Path, Path]) -> None:
    _, _, allure_dir = inner_run
    results = [json.loads(p.read_text()) for p in allure_dir.glob("*-result.json")]
    assert len(results) == 4
    failed = next(r for r in results if r["status"] == "failed")
    steps = [s["name"] for s in failed["steps"]]
    assert steps == ["engine expects mTLS", "configuration applied", "probe client-mesh/curl->srv/backend:8000: observed plaintext",
                     "evidence metrics: says plaintext", "verdict: fail"]
    attachments = {a["name"]: allure_dir / a["source"] for s in failed["steps"] for a in s.get("attachments", [])}
    assert set(attachments) == {"engine explanation", "applied.yaml", "probe output", "evidence metrics", "verdict.json", "failure"}
    assert "server.strict" in attachments["engine explanation"].read_text()
    assert "kind: PeerAuthentication" in attachments["applied.yaml"].read_text()
    assert attachments["probe output"].read_text().startswith("SYNTHETIC")
    assert json.loads(attachments["verdict.json"].read_text())["case"] == WRONG_PLAINTEXT
    assert {p["name"]: p["value"] for p in failed["parameters"]}["case"].strip("'") == WRONG_PLAINTEXT
