"""`pytest suites` on a machine without a cluster (the real executor's availability check), and collection."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOWHERE = {"KUBECONFIG": "/nonexistent/kubeconfig", "DOCKER_HOST": "unix:///nonexistent/docker.sock"}


def _pytest(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "suites", "-n", "0", "-p", "no:cacheprovider", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False, env={**os.environ, **NOWHERE})


def test_without_a_cluster_the_run_fails_in_one_line_naming_the_cause(tmp_path: Path) -> None:
    """A run that cannot reach a cluster must not pass as "all skipped" (a broken nightly runner would be green)."""
    result = _pytest("-q", f"--results-dir={tmp_path}")
    out = (result.stdout + result.stderr).strip()
    assert result.returncode == 2, out[-2000:]
    assert out.count("\n") == 0 and out.startswith("ERROR: no cluster: ") and "docker" in out.lower(), out
    assert "--plan-only" in out  # and what still works without one
    assert not any(tmp_path.iterdir()), "nothing is written without a cluster"


def test_without_a_cluster_under_xdist_too(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "pytest", "suites", "-n", "2", "-p", "no:cacheprovider", "-q",
                             f"--results-dir={tmp_path}"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
                            env={**os.environ, **NOWHERE})
    assert result.returncode == 2 and (result.stdout + result.stderr).strip().startswith("ERROR: no cluster: ")


def test_plan_only_prints_phases_with_counts(tmp_path: Path) -> None:
    result = _pytest("-q", "--plan-only", f"--results-dir={tmp_path}")
    assert result.returncode == 0
    phases = [line for line in result.stdout.splitlines() if re.match(r"\s+phase \d+ \S+: \d+ cases, \d+ probes", line)]
    assert len(phases) >= 2


def test_collection_lists_the_cases_by_id_without_a_cluster() -> None:
    result = _pytest("--collect-only", "-q")
    assert result.returncode == 0
    ids = [line for line in result.stdout.splitlines() if "::" in line]
    assert len(ids) >= 100
    assert any("restrictive" in line for line in ids)
    assert any("port-level/service-port-key-ignored:" in line for line in ids)
    assert not re.search(r"(?im)^E |error", result.stdout + result.stderr)
