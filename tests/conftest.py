"""Shared helpers for the self-tests: where things are, and small builders. Keep it small."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from paths import SHARED

from mtls_conformance.scenario import Scenario, parse_scenario

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
SCENARIOS = TESTS / "scenarios"

# The pytest adapter (fixtures/) and the suites are not installed packages: they are found from the checkout, as the
# root conftest.py finds them for `pytest suites`. Subprocesses the self-tests start (pytester projects, the CLI) get
# the checkout on their path the same way.
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)



def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require(condition: bool, reason: str) -> None:
    """Skip with a clear reason when run by hand; fail in CI, where every prerequisite is installed."""
    if condition:
        return
    if in_ci():
        pytest.fail(f"prerequisite missing in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture
def shared_dir() -> Path:
    require(SHARED.is_dir(), f"shared reference material not found at {SHARED}")
    return SHARED


def console_script() -> list[str]:
    """The installed `mtls-conformance` console script (next to this interpreter), as users run it."""
    script = Path(sys.executable).with_name("mtls-conformance")
    found = str(script) if script.exists() else shutil.which("mtls-conformance")
    require(found is not None, "the mtls-conformance console script is not installed (pip install -e .)")
    assert found is not None
    return [found]


def run_cli(args: Sequence[str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*console_script(), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture(scope="session")
def cli() -> Callable[[Sequence[str]], subprocess.CompletedProcess[str]]:
    return run_cli


def scenario(workloads: list[dict[str, Any]], config: list[dict[str, Any]] | None = None,
             probes: list[dict[str, Any]] | None = None, **extra: Any) -> Scenario:
    """Build a scenario through the real loader (so tests exercise the same validation users get)."""
    doc: dict[str, Any] = {"workloads": workloads, "config": config or [], **extra}
    if probes is not None:
        doc["probes"] = probes
    return parse_scenario(yaml.safe_dump(doc, sort_keys=False), "<test>")


@pytest.fixture
def build_scenario() -> Callable[..., Scenario]:
    return scenario
