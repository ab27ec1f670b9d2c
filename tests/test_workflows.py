"""The GitHub workflows and report scripts, validated offline: actionlint (+ shellcheck), the GitHub-workflow JSON
schema, the version matrix read from the data file, the diff step run for real, and the scripts' behaviour."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_report_synthetic import cases, meta, verdicts

from mtls_conformance.report import write_run_report
from mtls_conformance.versions import catalog

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent
SCRIPTS = [ROOT / "scripts" / "allure-report", ROOT / "scripts" / "pre-upgrade"]


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        reason = f"needs {name} in the project's venv (pip install -e '.[test]')"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return str(path)


def _workflow(name: str) -> dict[Any, Any]:
    doc = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())
    assert isinstance(doc, dict)
    return doc


def _step(job: dict[str, Any], name_or_id: str) -> dict[str, Any]:
    return next(s for s in job["steps"] if name_or_id in (s.get("id"), s.get("name")))


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **extra}


def test_workflows_exist() -> None:
    assert {p.name for p in WORKFLOWS} >= {"nightly.yml", "pre-upgrade.yml"}


def test_actionlint_with_shellcheck_reports_nothing() -> None:
    result = subprocess.run([_tool("actionlint"), "-shellcheck", _tool("shellcheck"), *map(str, WORKFLOWS)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_github_workflow_schema_offline() -> None:
    result = subprocess.run([_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_scripts_are_shellcheck_clean() -> None:
    result = subprocess.run([_tool("shellcheck"), "-x", *map(str, SCRIPTS)], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actions_are_pinned_to_a_release() -> None:
    for wf in WORKFLOWS:
        for ref in re.findall(r"uses:\s*(\S+)", wf.read_text()):
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@(v\d+\.\d+\.\d+|[0-9a-f]{40})", ref), f"{wf.name}: {ref} is not pinned"


def test_versions_are_not_hard_coded_in_workflows() -> None:
    for wf in WORKFLOWS:
        text = "\n".join(line for line in wf.read_text().splitlines() if not line.lstrip().startswith("#"))
        text = text.replace('PYTHON_VERSION: "3.11"', "").replace('python-version: "3.11"', "")
        assert not re.search(r"\b1\.\d{2}\b", text), f"{wf.name} names an Istio version; the data file is the only place"


def test_the_matrix_step_reads_the_data_file(tmp_path: Path) -> None:
    script = _step(_workflow("nightly.yml")["jobs"]["versions"], "read")["run"]
    out = tmp_path / "github_output"
    result = subprocess.run(["bash", "-e", "-c", script], cwd=ROOT, env=_env(GITHUB_OUTPUT=str(out)),
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    key, _, value = out.read_text().strip().partition("=")
    assert key == "matrix" and json.loads(value) == [str(v) for v in catalog().supported]
    for version in catalog().supported:  # each job installs its line's pinned patch, shown in the log and summary
        assert f"Istio {version}: installs {catalog().pinned_patch[str(version)]}" in result.stdout


def test_nightly_runs_the_standard_profile_per_version_and_uploads_reports() -> None:
    wf = _workflow("nightly.yml")
    assert "schedule" in wf[True] and "workflow_dispatch" in wf[True]  # YAML 1.1 reads the key 'on' as True
    job = wf["jobs"]["conformance"]
    assert job["needs"] == "versions" and job["strategy"]["matrix"]["istio"] == "${{ fromJSON(needs.versions.outputs.matrix) }}"
    assert job["strategy"]["fail-fast"] is False
    assert "scripts/cluster-up" in _step(job, "Create the kind cluster")["run"]
    run = next(s["run"] for s in job["steps"] if "pytest suites" in s.get("run", ""))
    assert '--istio-version "$ISTIO" --profile "$PROFILE"' in run and "--junitxml" in run and "--alluredir" in run
    assert wf["env"]["PROFILE"] == "${{ inputs.profile || 'standard' }}"
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["name"] == "report-istio-${{ matrix.istio }}" and upload["if"] == "always()"
    diff = wf["jobs"]["diff"]
    assert diff["needs"] == ["versions", "conformance"] and "always()" in diff["if"]


def test_the_diff_step_compares_adjacent_versions(tmp_path: Path) -> None:
    """Run the nightly diff step's script for real on SYNTHETIC reports: 1.30 -> 1.31 with a regression."""
    script = _step(_workflow("nightly.yml")["jobs"]["diff"], "Diff each version with the next")["run"]
    case_list = cases()
    good = list(verdicts(case_list, "1.30", deviations=False))
    bad = list(verdicts(case_list, "1.31", deviations=True))  # the deliberate deviations read as a regression
    for version, vs, name in (("1.30.4", good, "report-istio-1.30"), ("1.31.0", bad, "report-istio-1.31")):
        report = write_run_report(tmp_path / "runs", meta(version, name), vs, [], case_list)
        (tmp_path / "reports" / name).mkdir(parents=True)
        (tmp_path / "reports" / name / "report.json").write_text(report.read_text())
    summary = tmp_path / "summary.md"
    result = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path,
                            env=_env(VERSIONS='["1.30", "1.31"]', GITHUB_STEP_SUMMARY=str(summary)),
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "::error::1 adjacent-version diffs show a regression" in result.stdout
    text = summary.read_text()
    assert "## Istio 1.30 -> 1.31" in text and "Engine prediction, Istio 1.30 -> 1.31" in text and "REGRESSION" in text
    assert {p.name for p in (tmp_path / "diffs").iterdir()} >= {"diff-1.30-1.31.html", "expected-1.30-1.31.html", "diff-1.30-1.31.txt"}


def _synthetic_report(results: Path, run_id: str, *, executed: bool) -> Path:
    case_list = cases()
    if executed:
        return write_run_report(results, meta("1.30.4", run_id), list(verdicts(case_list, "1.30", deviations=False)), [], case_list)
    return write_run_report(results, meta("1.30.4", run_id), [], [(c.id, "no cluster test ran") for c in case_list], case_list)


def _run_step(script: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-e", "-c", script], cwd=cwd, env=_env(**env), capture_output=True, text=True, timeout=120, check=False)


def _collect_step() -> dict[str, Any]:
    return next(s for s in _workflow("nightly.yml")["jobs"]["conformance"]["steps"] if s.get("name", "").startswith("Collect the report"))


@pytest.mark.parametrize("state", ["no-report", "nothing-executed", "executed"])
def test_nightly_collect_step_fails_without_a_report_or_without_an_executed_case(tmp_path: Path, state: str) -> None:
    step = _collect_step()
    assert step["if"] == "always()"
    results = tmp_path / "results" / "istio-1.30"
    results.mkdir(parents=True)
    (results / "junit.xml").write_text("<testsuites/>")
    if state != "no-report":
        _synthetic_report(results, "nightly-1", executed=state == "executed")
    summary = tmp_path / "summary.md"
    result = _run_step(step["run"], tmp_path, ISTIO="1.30", GITHUB_STEP_SUMMARY=str(summary))
    out = result.stdout + result.stderr
    if state == "no-report":
        assert result.returncode == 1 and "::error::Istio 1.30: the run wrote no report.json" in out, out
    elif state == "nothing-executed":
        assert result.returncode == 1 and "::error::Istio 1.30: the run executed no case" in out, out
    else:
        assert result.returncode == 0, out
        assert f"Istio 1.30: {len(cases())} cases executed" in out and summary.read_text().strip()
    assert (tmp_path / "upload" / "run" / "junit.xml").is_file()  # what the run left is uploaded either way


@pytest.mark.parametrize(("current", "target", "errors"), [
    ("executed", "executed", []),
    ("executed", None, ["the target run wrote no report.json"]),
    ("nothing", "executed", ["the current run executed no case"]),
    (None, "nothing", ["the current run wrote no report.json", "the target run executed no case"]),
])
def test_pre_upgrade_check_step_fails_without_reports_or_executed_cases(tmp_path: Path, current: str | None, target: str | None,
                                                                          errors: list[str]) -> None:
    step = _step(_workflow("pre-upgrade.yml")["jobs"]["gate"], "Check both runs wrote a report and executed cases")
    assert step["if"] == "always()"
    for name, state in (("current", current), ("target", target)):
        if state is not None:
            _synthetic_report(tmp_path / "results" / "pre-upgrade" / name, f"{name}-1", executed=state == "executed")
    result = _run_step(step["run"], tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode == (1 if errors else 0), out
    assert [line.removeprefix("::error::").split(" (")[0].split(":")[0] for line in out.splitlines() if line.startswith("::error::")] == errors


def test_report_uploads_fail_when_there_is_nothing_to_upload() -> None:
    nightly = next(s for s in _workflow("nightly.yml")["jobs"]["conformance"]["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    gate = next(s for s in _workflow("pre-upgrade.yml")["jobs"]["gate"]["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert nightly["with"]["if-no-files-found"] == gate["with"]["if-no-files-found"] == "error"


def test_pre_upgrade_workflow_runs_the_script_with_a_secret_kubeconfig() -> None:
    wf = _workflow("pre-upgrade.yml")
    inputs = wf[True]["workflow_dispatch"]["inputs"]
    assert inputs["current"]["required"] and inputs["target"]["required"] and inputs["profile"]["default"] == "smoke"
    job = wf["jobs"]["gate"]
    assert job["env"]["KUBECONFIG_CURRENT"] == "${{ secrets.KUBECONFIG_CURRENT }}"
    assert "scripts/pre-upgrade" in _step(job, "Pre-upgrade gate")["run"]


# ---- scripts ---------------------------------------------------------------------------------------------


def _script(name: str, *args: str, path: str | None = None, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    e = _env(**env)
    if path is not None:
        e["PATH"] = path
    return subprocess.run(["bash", str(ROOT / "scripts" / name), *args], cwd=cwd, env=e, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def allure_results(tmp_path: Path) -> Path:
    results = tmp_path / "allure-results"
    results.mkdir()
    (results / "0-result.json").write_text("{}")
    return results


def test_allure_report_explains_a_missing_cli(allure_results: Path, tmp_path: Path) -> None:
    result = _script("allure-report", str(allure_results), str(tmp_path / "out"), path="/usr/bin:/bin", cwd=tmp_path)
    assert result.returncode == 2
    assert "Allure's CLI was not found (install: https://allurereport.org/docs/install/" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_allure_report_runs_allure_generate(allure_results: Path, tmp_path: Path) -> None:
    fake = tmp_path / "allure"
    fake.write_text('#!/bin/sh\necho "$@" > "$ALLURE_ARGS"\nmkdir -p "$4" && echo report > "$4/index.html"\n')
    fake.chmod(0o755)
    out, args = tmp_path / "report", tmp_path / "args"
    for _ in range(2):  # the second run replaces the first report
        result = _script("allure-report", str(allure_results), str(out), cwd=tmp_path, ALLURE=str(fake), ALLURE_ARGS=str(args))
        assert result.returncode == 0, result.stderr
    assert args.read_text().split() == ["generate", str(allure_results), "-o", str(out)]
    assert (out / "index.html").is_file()


def test_allure_report_refuses_bad_folders(allure_results: Path, tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    result = _script("allure-report", str(allure_results), str(precious), cwd=tmp_path, ALLURE="/bin/true")
    assert result.returncode == 2 and "is not an Allure report" in result.stderr and (precious / "notes.txt").exists()
    empty = tmp_path / "empty-results"
    empty.mkdir()
    assert "holds no *-result.json files" in _script("allure-report", str(empty), cwd=tmp_path).stderr


def test_pre_upgrade_dry_run_shows_the_four_steps(tmp_path: Path) -> None:
    result = _script("pre-upgrade", "--current", "1.29", "--target", "1.30", "--kubeconfig", "/k/current", "--context", "staging",
                     "--results", str(tmp_path / "r"), "--dry-run")
    assert result.returncode == 0, result.stderr
    commands = [line[2:] for line in result.stderr.splitlines() if line.startswith("+ ")]
    assert len(commands) == 4
    assert "-m mtls_conformance diff --expected 1.29 1.30" in commands[0]
    assert "-m pytest suites --istio-version 1.29 --profile smoke" in commands[1] and commands[1].endswith("--kubeconfig /k/current --context staging")
    assert "--istio-version 1.30" in commands[2] and commands[2].endswith("--cluster-name mtls-pre-upgrade")
    assert "--allow-install" not in commands[1]  # the existing cluster's Istio is never touched
    assert "diff" in commands[3] and commands[3].endswith("--exit-code")
    assert not (tmp_path / "r").exists()


def test_pre_upgrade_uses_a_target_cluster_when_given() -> None:
    result = _script("pre-upgrade", "--current", "1.29", "--target", "1.30", "--kubeconfig", "/k/c", "--target-kubeconfig", "/k/t",
                     "--dry-run")
    target = [line for line in result.stderr.splitlines() if "--istio-version 1.30" in line]
    assert target and target[0].endswith("--kubeconfig /k/t")


@pytest.mark.parametrize(("args", "message"), [
    (["--target", "1.30", "--kubeconfig", "/k"], "--current VERSION is required"),
    (["--current", "1.29", "--kubeconfig", "/k"], "--target VERSION is required"),
    (["--current", "1.29", "--target", "1.30", "--kubeconfig", "/nonexistent/kubeconfig"], "kubeconfig /nonexistent/kubeconfig not found"),
    (["--current"], "--current needs a value"),
    (["--bogus"], "unknown argument '--bogus'"),
])
def test_pre_upgrade_bad_arguments(args: list[str], message: str) -> None:
    result = _script("pre-upgrade", *args, KUBECONFIG="")
    assert result.returncode == 2 and message in result.stderr


def test_pre_upgrade_stops_on_a_bad_version_before_any_cluster_work(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    result = _script("pre-upgrade", "--current", "1.29", "--target", "9.99", "--kubeconfig", str(kubeconfig), "--results", str(tmp_path / "r"))
    assert result.returncode == 2 and "Istio 9.99 is not supported" in result.stderr
    assert "2/4" not in result.stderr
