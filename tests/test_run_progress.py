"""Progress on long runs: phase k/N, checks done/total, failures, an ETA, in the terminal (quiet under -q) and in
results/<run>/progress.json; and a run in which nothing executed fails."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.demo_suites import make_suites

from mtls_conformance.plan.build import run_plan
from mtls_conformance.run.progress import Progress
from mtls_conformance.versions import resolve_version

pytest_plugins = ("pytester",)
ROOT = Path(__file__).resolve().parents[1]
SCENARIO = """\
workloads:
  - {name: curl, namespace: pg-client, ports: []}
  - {name: httpbin, namespace: pg-server, ports: [{name: http, port: 8000, targetPort: 8080}]}
"""


def test_progress_says_where_the_run_is_and_what_is_left() -> None:
    plan = run_plan("smoke", resolve_version("1.30"), suites_dir=ROOT / "suites")
    first, last = plan.phases[0], plan.phases[-1]
    progress = Progress(plan, started=100.0, total=10)
    progress.finished(first.cases[0].id, "passed")
    assert progress.line(110.0) == (f"mtls-conformance: phase 1/{len(plan.phases)} {first.name} · checks 1/10 · no failures "
                                    "· elapsed 10s · ETA 1m30s")
    assert progress.worth_showing() and not progress.worth_showing()  # once per phase change, not per check
    progress.finished(last.cases[0].id, "failed")
    assert f"phase {last.number}/{len(plan.phases)} {last.name}" in progress.line(120.0) and "1 failed" in progress.line(120.0)
    progress.finished(plan.isolated[0].id, "passed")
    assert progress.phase == "isolated (rotation)"
    snap = progress.snapshot(130.0)
    assert snap["done"] == 3 and snap["total"] == 10 and snap["failed"] == 1 and snap["eta_s"] == pytest.approx(70.0)


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    records = [{"id": "demo/a", "scenario": "a.yaml", "features": [], "about": "a"},
               {"id": "demo/new", "scenario": "a.yaml", "features": [], "about": "b", "requires_istio": ">=1.99"}]
    return make_suites(pytester, records, {"a.yaml": SCENARIO})


def test_a_run_shows_progress_and_writes_it_beside_the_report(project: pytest.Pytester, tmp_path: Path) -> None:
    result = project.runpytest_subprocess("suites", f"--results-dir={tmp_path}", "--istio-version=1.30")
    result.assert_outcomes(passed=1, skipped=1)
    lines = [line for line in result.stdout.lines if line.startswith("mtls-conformance: phase 1/1 mesh-none/auto-on")]
    assert lines and "checks" in lines[-1]
    (progress,) = tmp_path.glob("*/progress.json")
    assert json.loads(progress.read_text())["done"] == json.loads(progress.read_text())["total"] == 2


def test_quiet_runs_stay_quiet(project: pytest.Pytester, tmp_path: Path) -> None:
    result = project.runpytest_subprocess("suites", "-q", f"--results-dir={tmp_path}", "--istio-version=1.30")
    assert not [line for line in result.stdout.lines if line.startswith("mtls-conformance: phase")]


def test_a_run_that_executed_nothing_fails(project: pytest.Pytester, tmp_path: Path) -> None:
    result = project.runpytest_subprocess("suites", "-k", "demo/new", f"--results-dir={tmp_path}", "--istio-version=1.30")
    result.assert_outcomes(skipped=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*no check ran (every selected test was skipped)*"])
