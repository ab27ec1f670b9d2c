"""pytest-xdist safety: one owner of mesh-global state at a time, phases never interleave, workers share a run."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from support.demo_suites import make_suites

from mtls_conformance.run.coordination import MeshCoordinator

pytest_plugins = ("pytester",)

CLIENTS = """\
  - {name: curl, namespace: x-legacy, sidecar: false, ports: []}
  - {name: curl, namespace: x-client, ports: []}
"""


def _scenario(name: str, namespace: str, mesh: str = "", root_mode: str | None = None) -> str:
    config = ""
    if root_mode:
        config = ("config:\n  - {apiVersion: security.istio.io/v1, kind: PeerAuthentication, metadata: {name: default, "
                  f"namespace: istio-system}}, spec: {{mtls: {{mode: {root_mode}}}}}}}\n")
    return (f"name: {name}\n{mesh}workloads:\n{CLIENTS}"
            f"  - {{name: httpbin, namespace: {namespace}, ports: [{{name: http, port: 8000, targetPort: 8080}}, "
            f"{{name: tcp, port: 9001, targetPort: 9090, protocol: tcp}}]}}\n{config}")


# Three mesh-global states (no mesh policy; mesh STRICT; auto mTLS off), two cases each in their own namespaces.
SCENARIOS = {
    "none-a.yaml": _scenario("none-a", "x-none-a"),
    "none-b.yaml": _scenario("none-b", "x-none-b"),
    "strict-a.yaml": _scenario("strict-a", "x-strict-a", root_mode="STRICT"),
    "strict-b.yaml": _scenario("strict-b", "x-strict-b", root_mode="STRICT"),
    "autooff-a.yaml": _scenario("autooff-a", "x-off-a", mesh="mesh: {enableAutoMtls: false}\n"),
    "autooff-b.yaml": _scenario("autooff-b", "x-off-b", mesh="mesh: {enableAutoMtls: false}\n"),
}

RECORDS = [{"id": f"mesh/{name}", "scenario": f"{name}.yaml", "features": ["peer-authentication"], "about": name}
           for name in ("none-a", "strict-a", "autooff-a", "none-b", "strict-b", "autooff-b")]

EXPECTED_MESH = {"none": "mesh-none/auto-on", "strict": "mesh-STRICT/auto-on", "autooff": "mesh-none/auto-off"}


def test_two_workers_never_apply_conflicting_phases(pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_suites(pytester, RECORDS, SCENARIOS, suite="mesh", folder="mesh")
    log = tmp_path / "events.jsonl"
    monkeypatch.setenv("MTLS_FAKE_LOG", str(log))
    result = pytester.runpytest_subprocess("-n", "2", f"--results-dir={tmp_path / 'results'}", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=6 * 4)
    events = [json.loads(line) for line in log.read_text().splitlines()]
    probes = [e for e in events if e["event"] == "probe"]
    assert len(probes) == 24
    # Every probe ran while the mesh was in its own case's phase: no other worker moved the mesh underneath.
    for e in probes:
        assert e["mesh"] == EXPECTED_MESH[e["scenario"].split("-")[0]], e
    applies = [e["phase"] for e in events if e["event"] == "apply"]
    assert set(applies) == set(EXPECTED_MESH.values())
    assert len(applies) <= 4, applies  # each phase applied about once, not once per test
    assert {e["worker"] for e in probes} == {"gw0", "gw1"}
    # One worker closes the session (the last to finish), so cluster clean-up happens once.
    closes = [e for e in events if e["event"] == "close"]
    assert len(closes) == 1 and closes[0]["failed"] is False
    report = next((tmp_path / "results").glob("*/report.json"))
    assert json.loads(report.read_text())["summary"]["probes"]["total"] == 24


def test_the_mesh_lock_blocks_another_phase_until_released(tmp_path: Path) -> None:
    """Two coordinators (as two workers): B must wait for A to leave before it may apply another phase."""
    a, b = MeshCoordinator(tmp_path, "a"), MeshCoordinator(tmp_path, "b")
    applied: list[str] = []
    b_applied = threading.Event()

    def apply_a() -> float:
        applied.append("a:phase-1")
        return 1.5

    def apply_b() -> float:
        applied.append("b:phase-2")
        b_applied.set()
        return 2.5

    def b_enters() -> None:
        b.enter("phase-2", apply_b)

    assert a.enter("phase-1", apply_a) == 1.5

    thread = threading.Thread(target=b_enters)
    thread.start()
    assert not b_applied.wait(0.5), "B applied a conflicting phase while A held the mesh"
    assert a.enter("phase-1", lambda: pytest.fail("re-applied a held phase")) == 1.5
    a.leave()
    assert b_applied.wait(10)
    thread.join(10)
    assert applied == ["a:phase-1", "b:phase-2"]
    assert a.snapshot()["phase"] == "phase-2"
    b.close()
    a.close()


def test_workers_needing_the_applied_phase_join_it(tmp_path: Path) -> None:
    a, b = MeshCoordinator(tmp_path, "a"), MeshCoordinator(tmp_path, "b")
    a.enter("phase-1", lambda: 3.0)
    assert b.enter("phase-1", lambda: pytest.fail("applied twice")) == 3.0
    assert [h["phase"] for h in a.snapshot()["history"]] == ["phase-1"]
    a.close()
    b.close()


def test_a_failed_apply_leaves_the_phase_unknown_and_the_lock_free(tmp_path: Path) -> None:
    a, b = MeshCoordinator(tmp_path, "a"), MeshCoordinator(tmp_path, "b")

    def broken() -> float:
        raise RuntimeError("apply failed")

    with pytest.raises(RuntimeError):
        a.enter("phase-1", broken)
    assert a.snapshot()["phase"] is None
    assert b.enter("phase-1", lambda: 1.0) == 1.0  # not blocked by the failed attempt
    a.close()
    b.close()


def test_only_the_last_session_closes(tmp_path: Path) -> None:
    a, b = MeshCoordinator(tmp_path, "a"), MeshCoordinator(tmp_path, "b")
    a.open_session(lambda: "session-a")
    b.open_session(lambda: "session-b")
    a.mark_failed()
    closed: list[tuple[str, bool]] = []
    a.close_session(lambda failed: closed.append(("a", failed)))
    assert closed == []
    b.close_session(lambda failed: closed.append(("b", failed)))
    assert closed == [("b", True)]


def test_case_scope_keeps_a_cases_probes_together() -> None:
    from fixtures.cases import case_scope

    a = "suites/test_port_level.py::test_port_level[port-level/service-port-key-ignored:st-legacy/curl->pl-svcport/httpbin:8000]"
    b = "suites/test_port_level.py::test_port_level[port-level/service-port-key-ignored:st-client/curl->pl-svcport/httpbin:8000]"
    assert case_scope(a) == case_scope(b) == "port-level/service-port-key-ignored"
    assert case_scope("tests/test_x.py::test_plain") == "tests/test_x.py::test_plain"
