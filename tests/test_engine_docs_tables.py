"""The docs tasks' published outputs, row by row, against the engine.

Each table of the Authentication Policy and Mutual TLS Migration tasks is a scenario file in
tests/scenarios/docs/; tests/scenarios/docs/expected.yaml holds the published rows.
'200' must mean connect; '000 exit 56' must mean a reset connection (no HTTP status at all).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mtls_conformance.engine import Expectation, expect_all
from mtls_conformance.outcomes import ProbeOutcome
from mtls_conformance.scenario import load_scenario
from mtls_conformance.versions import catalog

DOCS = Path(__file__).resolve().parent / "scenarios" / "docs"
EXPECTED: dict[str, Any] = yaml.safe_load((DOCS / "expected.yaml").read_text())["tables"]

# How many rows each published table has (authn-policy: 3x3 curl/httpbin pairs; migration: no httpbin in legacy).
TABLE_SIZES = {
    "authn-policy-setup": 9,
    "authn-policy-mesh-strict": 9,
    "authn-policy-namespace-strict": 9,
    "authn-policy-workload-strict": 9,
    "authn-policy-port-level": 9,
    "authn-policy-precedence": 1,
    "mtls-migration-setup": 6,
    "mtls-migration-namespace-strict": 6,
    "mtls-migration-mesh-strict": 6,
}


def row_key(e: Expectation) -> str:
    src_ns, src = e.probe.source.split("/")
    dst_ns, dst = e.probe.target.split("/")
    return f"{src}.{src_ns} to {dst}.{dst_ns}"


def published(e: Expectation) -> str:
    """What the task's curl loop prints for this expectation."""
    if e.connect:
        return "200"
    assert e.failure is ProbeOutcome.RESET, f"{e.probe.id}: a refused curl from these tables is a reset, got {e.failure}"
    return "000 exit 56"


def test_every_table_has_a_scenario_file_and_no_file_is_orphaned() -> None:
    files = {p.stem for p in DOCS.glob("*.yaml")} - {"expected"}
    assert files == set(EXPECTED) == set(TABLE_SIZES)


@pytest.mark.parametrize("table", sorted(TABLE_SIZES))
def test_row_set_is_complete(table: str) -> None:
    scenario = load_scenario(DOCS / f"{table}.yaml")
    rows = EXPECTED[table]["rows"]
    assert len(rows) == TABLE_SIZES[table]
    assert sorted(row_key(e) for e in expect_all(scenario)) == sorted(rows), "probes and published rows must be the same set"
    assert set(rows.values()) <= {"200", "000 exit 56"}
    assert EXPECTED[table]["source"].startswith("https://istio.io/latest/docs/tasks/security/authentication/")


@pytest.mark.parametrize("version", [str(v) for v in catalog().supported])
@pytest.mark.parametrize("table", sorted(TABLE_SIZES))
def test_engine_matches_every_published_row(table: str, version: str) -> None:
    from mtls_conformance.versions import resolve_version

    scenario = load_scenario(DOCS / f"{table}.yaml")
    rows = EXPECTED[table]["rows"]
    for e in expect_all(scenario, resolve_version(version)):
        assert published(e) == rows[row_key(e)], f"{table} on {version}: {row_key(e)}"
        if e.connect:
            # Sidecar-to-sidecar rows go over mTLS (auto mTLS); any row with a plaintext end is plaintext.
            both_sidecars = scenario.workload(e.probe.source).sidecar and scenario.workload(e.probe.target).sidecar
            assert e.mtls is both_sidecars or (e.server_mode is not None and e.server_mode.value == "DISABLE" and not e.mtls)


def test_port_level_table_keys_the_container_port() -> None:
    # The task keys portLevelMtls on 8080 (targetPort); clients call 8000. Keying 8000 would have no effect.
    scenario = load_scenario(DOCS / "authn-policy-port-level.yaml")
    e = {row_key(x): x for x in expect_all(scenario)}["curl.legacy to httpbin.bar"]
    assert e.probe.port == 8000 and e.target_port == 8080
    assert "pa.port-level-target-port" in {r.id for r in e.rules}


def test_precedence_row_is_narrowest_wins() -> None:
    scenario = load_scenario(DOCS / "authn-policy-precedence.yaml")
    (e,) = expect_all(scenario)
    assert e.connect and e.mtls is False
    assert e.server_mode is not None and e.server_mode.value == "DISABLE"
    assert "pa.narrowest-wins" in {r.id for r in e.rules}
