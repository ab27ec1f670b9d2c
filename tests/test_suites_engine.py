"""The suites, offline: their case records load, pack into phases, reach the rule they are named after, hold no
literal expected outcome, and take every expectation from the engine (a flipped engine fails every suite)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from support.flip_engine import FLIP_ENGINE

from fixtures.markers import FEATURES
from mtls_conformance.engine import expect
from mtls_conformance.plan.build import run_plan
from mtls_conformance.plan.model import Case
from mtls_conformance.plan.records import RECORDS_FILE, suite_records
from mtls_conformance.versions import catalog

ROOT = Path(__file__).resolve().parents[1]
SUITES = ROOT / "suites"
SUITE_MODULES = sorted(p.stem for p in SUITES.glob("test_*.py"))

# Each named case must exercise the rule it is named after (the engine's reasoning cites it for some probe).
NAMED_RULES = {
    "port-level/workload-port-disable": "pa.port-level-target-port",
    "port-level/service-port-key-ignored": "pa.port-level-target-port",
    "port-level/workload-only-port": "pa.port-level-workload-only-port",
    "port-level/two-policies-oldest-wins": "pa.oldest-wins",
    "destination-rule/disable-cannot-bypass-strict": "client.dr-tls-wins",
    "destination-rule/istio-mutual-to-sidecarless-fails": "server.no-sidecar",
    "destination-rule/without-tls-keeps-auto-mtls": "client.auto-mtls",
    "auto-mtls/off-sends-plaintext": "client.auto-mtls-off",
    "plaintext-clients/docs-mesh-strict": "server.strict",
    "plaintext-clients/docs-workload-port-level": "pa.port-level-target-port",
    "identity/xfcc-names-client-spiffe-id": "outcome.xfcc",
    "authorization/allow-principal-under-strict": "authz.identity",
    "authorization/allow-principal-plaintext-under-permissive": "authz.plaintext-no-principal",
}

def _records() -> tuple[Case, ...]:
    return suite_records(SUITES)


def test_every_record_loads_with_unique_ids_and_known_features() -> None:
    records = _records()
    assert len({c.suite for c in records}) >= 5
    ids = [c.id for c in records]
    assert not [i for i, n in Counter(ids).items() if n > 1]
    facts = {f.id for f in catalog().facts}
    for case in records:
        assert case.scenario.probes, case.id
        assert all(f in FEATURES or f in facts for f in case.features), case.id


def test_every_scenario_file_beside_a_suite_has_a_record() -> None:
    referenced = {Path(c.scenario.path).resolve() for c in _records()}
    on_disk = {p.resolve() for p in SUITES.glob("*/*.yaml") if p.name != RECORDS_FILE}
    assert on_disk == referenced


@pytest.mark.parametrize("case_id", sorted(NAMED_RULES))
def test_named_cases_reach_the_rule_they_are_named_after(case_id: str) -> None:
    case = {c.id: c for c in _records()}[case_id]
    cited = {step.rule.id for probe in case.probes for step in expect(case.scenario, probe).steps}
    assert NAMED_RULES[case_id] in cited, sorted(cited)


@pytest.mark.parametrize("profile", ["smoke", "standard"])
def test_all_cases_pack_into_independent_phases(profile: str) -> None:
    """The plan packs the matrix and every record together; pack() proves the cases of each phase independent."""
    plan = run_plan(profile, catalog().latest_stable, suites_dir=SUITES)
    in_phases = {c.id for p in plan.phases for c in p.cases}
    assert {c.id for c in _records() if not c.isolated} <= in_phases
    assert {c.id for c in plan.isolated} == {c.id for c in _records() if c.isolated}
    assert len({p.name for p in plan.phases}) == len(plan.phases)


def test_suites_hold_no_literal_outcomes() -> None:
    """Suite modules may name cases and scenario files, never an expected status, exit code or mode."""
    banned_names = {"Outcome", "Failure", "ClientSends", "Expectation", "Mode"}
    for path in SUITES.glob("*.py"):
        tree = ast.parse(path.read_text())
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | {
            a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
        assert not names & banned_names, (path.name, names & banned_names)
        numbers = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, int) and not isinstance(n.value, bool)}
        assert not numbers & {200, 403, 503, 56, 52, 35}, (path.name, numbers)
        keywords = {k.arg for n in ast.walk(tree) if isinstance(n, ast.Call) for k in n.keywords}
        assert not keywords & {"connect", "mtls", "failure", "expected"}, path.name


def _suites_command(results: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "suites", "-p", "fixtures.testing", "-p", "no:cacheprovider", "-q", "-rf",
            f"--results-dir={results}", *args]


@pytest.fixture(scope="module")
def suite_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess[str]]:
    """Both full runs at once (a conforming mesh; the same mesh with a flipped engine): the self-tests stay fast."""
    tmp = tmp_path_factory.mktemp("suite-runs")
    (tmp / "flip_engine.py").write_text(FLIP_ENGINE)
    flipped_env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp), os.environ.get("PYTHONPATH", "")])}
    runs = {
        "conforming": (_suites_command(tmp / "a"), dict(os.environ)),
        "flipped": (_suites_command(tmp / "b", "-p", "flip_engine"), flipped_env),
    }
    procs = {k: subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for k, (cmd, env) in runs.items()}
    results = {}
    for key, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        results[key] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return results


def test_a_conforming_mesh_passes_every_suite(suite_runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    result = suite_runs["conforming"]
    assert result.returncode == 0, result.stdout[-3000:]
    passed = int(result.stdout.rsplit(" passed", 1)[0].split()[-1])
    assert passed >= 100


def test_a_flipped_engine_fails_every_suite(suite_runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    """The proof that expectations come from the engine: change its answers and every suite test fails."""
    result = suite_runs["flipped"]
    tail = result.stdout[-3000:] + result.stderr[-2000:]
    assert result.returncode == 1, tail
    assert " passed" not in result.stdout.splitlines()[-1], tail
    failed_files = {line.split("::")[0].removeprefix("FAILED ") for line in result.stdout.splitlines() if line.startswith("FAILED")}
    expected_files = {f"suites/{m}.py" for m in SUITE_MODULES if m not in ("test_user_scenarios", "test_rotation")}
    assert expected_files <= failed_files, tail
    assert "engine explanation:" in result.stdout
