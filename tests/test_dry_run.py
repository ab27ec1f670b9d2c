"""The offline dry run of the whole product: `pytest suites --profile smoke` through the real plugin, run loop and
MeshSession, against the fake cluster built from recorded artefacts (tests/support/fake_cluster.py), with and without
xdist, on a fresh kind cluster and on an existing cluster without --allow-install. It proves the plumbing
(install -> apply -> converge -> probe -> evidence -> verdict -> report -> bundle), not Istio's semantics: the fake
answers every probe with the engine's own prediction."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.fake_cluster import kind_kubeconfig

from mtls_conformance.plan.build import run_plan
from mtls_conformance.plan.model import Target
from mtls_conformance.report import load_report
from mtls_conformance.versions import resolve_version

ROOT = Path(__file__).resolve().parents[1]
VERSION = "1.30"
ROTATION_OFF = ("-m", "not rotation")  # rotation watches ~9 fake minutes per case: its own test below
ROTATION_ONLY = ("-m", "rotation and not plugin_ca")  # the plug-in CA variant runs alone (pytest suites -m plugin_ca)


def _dry_run(tmp: Path, mode: str, workers: int, *extra: str, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], Path]:
    state = tmp / "cluster"
    state.mkdir(parents=True, exist_ok=True)
    results = tmp / "results"
    args = [sys.executable, "-m", "pytest", "suites", "-p", "dry_run_plugin", "-p", "no:cacheprovider", "-q", "-rfEs",
            "--profile", "smoke", "--istio-version", VERSION, f"--results-dir={results}", "-n", str(workers), *extra]
    if mode == "existing":
        kubeconfig = state / "existing-kubeconfig.yaml"
        kubeconfig.write_text(yaml.safe_dump(kind_kubeconfig("existing"), sort_keys=False))
        args.append(f"--kubeconfig={kubeconfig}")
    path = os.pathsep.join([str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "support"), os.environ.get("PYTHONPATH", "")])
    run_env = {**os.environ, "PYTHONPATH": path, "MTLS_DRY_RUN_DIR": str(state), "MTLS_DRY_RUN_MODE": mode, **(env or {})}
    result = subprocess.run(args, cwd=ROOT, env=run_env, capture_output=True, text=True, timeout=600, check=False)
    return result, results


def _report(results: Path) -> dict[str, Any]:
    reports = list(results.glob("*/report.json"))
    assert len(reports) == 1, reports
    doc: dict[str, Any] = load_report(reports[0])  # expands report.json 2.x (compact rows) to one document
    return doc


def _plan(existing: bool) -> Any:
    return run_plan("smoke", resolve_version(VERSION), suites_dir=ROOT / "suites", target=Target(existing_cluster=existing))


@pytest.mark.slow
@pytest.mark.parametrize("workers", [0, 2], ids=["no-xdist", "xdist-2"])
def test_dry_run_on_a_fresh_kind_cluster(tmp_path: Path, workers: int) -> None:
    result, results = _dry_run(tmp_path, "kind", workers, *ROTATION_OFF)
    tail = result.stdout[-4000:] + result.stderr[-2000:]
    assert result.returncode == 0, tail
    plan = _plan(existing=False)
    doc = _report(results)
    assert doc["result"] == "success", doc["summary"]
    assert doc["summary"]["probes"]["total"] == plan.probe_count  # every planned probe ran and was judged
    assert doc["summary"]["probes"]["passed"] == plan.probe_count
    assert doc["mesh"]["istio_version"].startswith(VERSION + ".") and doc["mesh"]["profile"] == "smoke"
    assert "Traceback" not in tail


@pytest.mark.slow
@pytest.mark.parametrize("workers", [0, 2], ids=["no-xdist", "xdist-2"])
def test_dry_run_on_an_existing_cluster_without_allow_install(tmp_path: Path, workers: int) -> None:
    """The plan leaves out what would change mesh-wide state; the restricted phases converge and every other probe passes."""
    result, results = _dry_run(tmp_path, "existing", workers, *ROTATION_OFF)
    tail = result.stdout[-4000:] + result.stderr[-2000:]
    assert result.returncode == 0, tail
    plan = _plan(existing=True)
    assert plan.skipped and all("pass --allow-install" in r for r in plan.skipped.values())
    ran = sum(len(c.probes) for p in plan.phases for c in p.cases)
    doc = _report(results)
    assert doc["summary"]["probes"]["total"] == doc["summary"]["probes"]["passed"] == ran
    skipped = {c.id for c in plan.cases if c.id in plan.skipped and not c.isolated}  # rotation is deselected here
    assert doc["summary"]["cases"]["skipped"] == len(skipped)
    assert doc["result"] == "partial"  # Gateway API semantics: something was skipped
    assert {s["case"] for s in doc["skipped"]} == skipped


@pytest.mark.slow
def test_dry_run_failures_carry_their_evidence_and_a_bundle(tmp_path: Path) -> None:
    """A client whose probe exec fails: its checks end in error with the transport error, a repro bundle each, and the
    report and exit status say so; every other check still passes."""
    client = "az-allowed/curl"  # identity_authz/cases.yaml: used by the authorization records only
    result, results = _dry_run(tmp_path, "kind", 0, *ROTATION_OFF, env={"MTLS_DRY_RUN_EXEC_FAILS": client})
    assert result.returncode == 1, result.stdout[-3000:]
    doc = _report(results)
    errors = [r for r in doc["results"] if r["status"] == "error"]
    assert errors and all(r["probe"].startswith(client) for r in errors)
    assert all("exec failed" in r["observed"]["raw"] for r in errors)
    bundles = list(results.glob("*/bundles/*"))
    assert len(bundles) == len(errors)
    assert doc["summary"]["probes"]["passed"] == doc["summary"]["probes"]["total"] - len(errors)


@pytest.mark.slow
def test_dry_run_rotation_passes_and_a_stalled_rotation_fails_with_its_analysis(tmp_path: Path) -> None:
    """The rotation case on the fake cluster: certificates minted per pod, renewed at the grace ratio on the fake clock,
    traffic answered across the window. With istio-agent stalled on the server, the check fails with the analysis in
    report.json, and the diff against the passing run is a regression (exit 1 with --exit-code)."""
    case = "rotation/short-lived-certs-rotate-without-failures"
    result, results = _dry_run(tmp_path / "pass", "kind", 0, *ROTATION_ONLY)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    good = _report(results)
    (check,) = good["checks"]
    assert check["case"] == case and check["status"] == "pass" and check["problems"] == [], check
    assert int(check["facts"]["rotations"]) >= 2 and check["facts"]["failed_requests"] == "0" and int(check["facts"]["requests"]) > 0

    stalled, stalled_results = _dry_run(tmp_path / "stall", "kind", 0, *ROTATION_ONLY,
                                        env={"MTLS_DRY_RUN_ROTATION_STALLS": "rot-ttl/httpbin"})
    assert stalled.returncode == 1, stalled.stdout[-3000:]
    bad = _report(stalled_results)
    (failed,) = bad["checks"]
    assert failed["case"] == case and failed["status"] == "fail", failed
    problems = " | ".join(failed["problems"])
    assert "observed 0 rotation(s), need at least 2" in problems and "an expired certificate" in problems, problems
    assert "requests failed across the rotations" in problems and failed["facts"]["rotations"] == "0"
    assert "problem: observed 0 rotation(s)" in failed["detail"]

    cli = Path(sys.executable).with_name("mtls-conformance")
    old, new = (next(r.glob("*/report.json")) for r in (results, stalled_results))
    diff = subprocess.run([str(cli), "diff", str(old), str(new), "--exit-code"], capture_output=True, text=True, timeout=120, check=False)
    assert diff.returncode == 1, diff.stdout + diff.stderr
    assert "REGRESSION" in diff.stdout and case in diff.stdout
    same = subprocess.run([str(cli), "diff", str(old), str(old), "--exit-code"], capture_output=True, text=True, timeout=120, check=False)
    assert same.returncode == 0, same.stdout + same.stderr
