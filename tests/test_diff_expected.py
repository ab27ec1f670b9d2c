"""``diff --expected OLD NEW``: the engine's prediction between two Istio versions, without a cluster."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from subprocess import CompletedProcess

import pytest
import yaml

from mtls_conformance.engine import Expectation, expect_all
from mtls_conformance.outcomes import ProbeOutcome
from mtls_conformance.report import predict as predict_module
from mtls_conformance.report.diff_render import prediction_html, prediction_text
from mtls_conformance.report.predict import Prediction, predict, scenario_files, standard_cases
from mtls_conformance.scenario.model import Scenario
from mtls_conformance.versions import IstioVersion, VersionFact, catalog, parse_version

Cli = Callable[[Sequence[str]], CompletedProcess[str]]

USER_SCENARIO = {
    "workloads": [{"name": "httpbin", "namespace": "foo", "ports": [{"name": "http", "port": 8000, "targetPort": 8080}]},
                  {"name": "curl", "namespace": "foo", "ports": []},
                  {"name": "curl", "namespace": "legacy", "sidecar": False, "ports": []}],
    "config": [{"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication", "metadata": {"name": "default", "namespace": "foo"},
                "spec": {"mtls": {"mode": "STRICT"}}}],
}


@pytest.fixture
def user_file(tmp_path: Path) -> Path:
    path = tmp_path / "my-mesh.yaml"
    path.write_text(yaml.safe_dump(USER_SCENARIO))
    return path


@pytest.fixture(scope="module")
def standard_prediction() -> Prediction:
    """The engine's prediction 1.29 -> 1.30 on the standard profile, computed in-process (built once: plans take a while)."""
    old, new = parse_version("1.29"), parse_version("1.30")
    source, old_cases = standard_cases(old)
    return predict(old, new, old_cases, standard_cases(new)[1], source)


def test_cli_prediction_matches_the_engine(cli: Cli, standard_prediction: Prediction) -> None:
    result = cli(["diff", "--expected", "1.29", "1.30", "--format", "json"])
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == standard_prediction.as_dict()
    assert standard_prediction.probes > 0  # something was compared


def test_text_says_so_when_nothing_changes_and_lists_the_facts(standard_prediction: Prediction) -> None:
    text, doc = prediction_text(standard_prediction), standard_prediction.as_dict()
    if doc["behaviour_changes"] == 0:
        assert f"No change in mTLS behaviour is predicted: all {doc['probes']} probes keep the same expected outcome." in text
    assert f"Version facts compared ({len(catalog().facts)}; data/istio-versions.yaml):" in text
    for fact in catalog().facts:  # every fact, whether it holds for each version, and its source
        holds = ("holds" if fact.holds_for(parse_version("1.29")) else "no", "holds" if fact.holds_for(parse_version("1.30")) else "no")
        assert f"{fact.id} [{fact.kind}] 1.29: {holds[0]}, 1.30: {holds[1]} ({fact.source})" in text


def test_facts_that_differ_are_listed_with_sources(cli: Cli, user_file: Path) -> None:
    result = cli(["diff", "--expected", "1.30", "1.31", "--scenario", str(user_file)])
    differing = [f for f in catalog().facts if f.holds_for(parse_version("1.30")) != f.holds_for(parse_version("1.31"))]
    assert differing, "the catalog has a fact that starts at 1.31"
    for fact in differing:
        assert f"  {fact.id} [{fact.kind}] holds for 1.31 only" in result.stdout and f"    source: {fact.source}" in result.stdout


def _flip_on(version: IstioVersion) -> Callable[[Scenario, IstioVersion | None], tuple[Expectation, ...]]:
    """A stand-in version rule: from ``version`` on, every mTLS probe is refused with a reset."""
    def fake(scenario: Scenario, v: IstioVersion | None = None) -> tuple[Expectation, ...]:
        real = expect_all(scenario, v)
        if v is None or v.line() < version:
            return real
        return tuple(replace(e, connect=False, mtls=None, failure=ProbeOutcome.RESET) if e.connect and e.mtls else e for e in real)
    return fake


def test_a_version_rule_shows_as_a_predicted_change(monkeypatch: pytest.MonkeyPatch, user_file: Path) -> None:
    monkeypatch.setattr(predict_module, "expect_all", _flip_on(parse_version("1.31")))
    named = scenario_files([user_file])
    p = predict(parse_version("1.30"), parse_version("1.31"), named, named, "test")
    mtls_probes = [e for e in expect_all(named[0][1]) if e.connect and e.mtls]
    assert mtls_probes and len(p.changes) == len(mtls_probes)
    assert {(c.old_outcome, c.new_outcome) for c in p.changes} == {("mtls", "refused:reset")}
    text = prediction_text(p)
    n_changed = len(mtls_probes)
    assert f"{n_changed} probe{'' if n_changed == 1 else 's'} {'is' if n_changed == 1 else 'are'} predicted to change behaviour:" in text and "expected: mTLS -> refused (connection reset)" in text
    assert "refused (connection reset)" in prediction_html(p)


def test_a_new_fact_shows_as_a_difference(monkeypatch: pytest.MonkeyPatch) -> None:
    fact = VersionFact("behaviour.test-only", "made up for this test", "https://example.invalid/source", parse_version("1.30"), None, "behaviour")
    monkeypatch.setattr(predict_module, "catalog", lambda: replace(catalog(), facts=(*catalog().facts, fact)))
    p = predict(parse_version("1.29"), parse_version("1.30"), [], [], "no cases")
    assert [(f.id, f.change, f.source) for f in p.fact_changes] == [("behaviour.test-only", "added", "https://example.invalid/source")]


def test_user_scenarios_and_html(cli: Cli, user_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "prediction.html"
    result = cli(["diff", "--expected", "1.30", "1.31", "--scenario", str(user_file), "--html", str(out)])
    assert result.returncode == 0, result.stderr
    n = len(expect_all(scenario_files([user_file])[0][1]))
    assert f"1 case, {n} probe{'' if n == 1 else 's'} from 1 scenario file" in result.stdout
    assert "Engine prediction: Istio 1.30 → 1.31" in out.read_text()


@pytest.mark.parametrize(("args", "message"), [
    (["--expected", "1.30", "1.30.2"], "both versions are on the 1.30 line"),
    (["--expected", "1.29", "9.99"], "Istio 9.99 is not supported"),
    (["--expected", "1.29", "latest"], "is not an Istio version"),
    (["--expected", "1.29", "1.30", "--scenario", "/nonexistent.yaml"], "file not found"),
])
def test_bad_versions_and_files(cli: Cli, args: list[str], message: str) -> None:
    result = cli(["diff", *args])
    assert result.returncode == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1
