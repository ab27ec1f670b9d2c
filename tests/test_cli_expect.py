"""`mtls-conformance expect` / `explain` through the console script: the JSON contract (exact keys and types),
the table, the version flag, and explain's cited steps."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from mtls_conformance.engine import expect_all
from mtls_conformance.scenario import load_scenario
from mtls_conformance.versions import catalog

Cli = Callable[[Sequence[str]], subprocess.CompletedProcess[str]]
SCENARIOS = Path(__file__).resolve().parent / "scenarios"
MESH_STRICT = SCENARIOS / "docs" / "authn-policy-mesh-strict.yaml"
NAMED = SCENARIOS / "named" / "most-restrictive-claim-refuted.yaml"

PROBE_KEYS = ["from", "to", "port", "address", "connect", "mtls", "failure", "server_mode", "client_sends", "rules"]


def _json(cli: Cli, *args: str) -> dict[str, object]:
    result = cli(["expect", *args, "--format", "json"])
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    doc = json.loads(result.stdout)
    assert isinstance(doc, dict)
    return doc


def test_json_contract_exact_keys_and_types(cli: Cli) -> None:
    doc = _json(cli, str(MESH_STRICT))
    assert list(doc) == ["scenario", "istio_version", "probes"]
    assert doc["scenario"] == "authn-policy-mesh-strict"
    assert doc["istio_version"] == catalog().latest_stable.minor_line
    probes = doc["probes"]
    assert isinstance(probes, list) and len(probes) == 9
    for p in probes:
        assert list(p) == PROBE_KEYS
        assert isinstance(p["from"], str) and isinstance(p["to"], str) and type(p["port"]) is int
        assert p["address"] in ("service", "pod")
        assert type(p["connect"]) is bool
        assert p["failure"] in (None, "reset", "503", "403")
        assert p["server_mode"] in (None, "STRICT", "PERMISSIVE", "DISABLE")
        assert p["client_sends"] in ("plaintext", "istio_mutual", "simple", "mutual")
        if p["connect"]:
            assert type(p["mtls"]) is bool and p["failure"] is None
        else:
            assert p["mtls"] is None and p["failure"] is not None
        assert p["rules"], "every probe cites at least one rule"
        for r in p["rules"]:
            assert list(r) == ["id", "says", "source"] and r["source"].startswith("https://")


def test_json_matches_the_engine_row_for_the_seed_example(cli: Cli) -> None:
    probes = _json(cli, str(MESH_STRICT))["probes"]
    assert isinstance(probes, list)
    row = next(p for p in probes if p["from"] == "legacy/curl" and p["to"] == "foo/httpbin")
    assert {k: row[k] for k in PROBE_KEYS[:-1]} == {
        "from": "legacy/curl", "to": "foo/httpbin", "port": 8000, "address": "service",
        "connect": False, "mtls": None, "failure": "reset", "server_mode": "STRICT", "client_sends": "plaintext",
    }
    engine = {e.probe.id: e.as_dict() for e in expect_all(load_scenario(MESH_STRICT))}
    assert [engine[f"{p['from']}->{p['to']}:{p['port']}"] for p in probes] == probes


@pytest.mark.parametrize("given, line", [("1.26", "1.26"), ("1.30.3", "1.30"), ("v1.29.7", "1.29")])
def test_istio_version_flag_reports_the_minor_line(cli: Cli, given: str, line: str) -> None:
    assert _json(cli, str(NAMED), "--istio-version", given)["istio_version"] == line


def test_table_format_is_the_default(cli: Cli) -> None:
    result = cli(["expect", str(MESH_STRICT)])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("scenario authn-policy-mesh-strict on Istio ") and lines[0].endswith("9 probes")
    assert lines[1].split()[:7] == ["FROM", "TO", "PORT", "ADDR", "SERVER", "CLIENT", "SENDS"]
    legacy_foo = next(x for x in lines if x.startswith("legacy/curl") and " foo/httpbin " in x)
    assert "FAIL reset" in legacy_foo and "server.strict" in legacy_foo


def test_explain_prints_each_step_with_rule_and_source(cli: Cli) -> None:
    result = cli(["explain", str(NAMED), "--from", "legacy/curl", "--to", "foo/httpbin", "--port", "8000"])
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.splitlines()[0] == "legacy/curl->foo/httpbin:8000 on Istio 1.31: connects in plaintext"
    steps = [x for x in out.splitlines() if x[:1].isdigit()]
    rules = [x for x in out.splitlines() if x.strip().startswith("rule ")]
    sources = [x.strip().removeprefix("source: ") for x in out.splitlines() if x.strip().startswith("source: ")]
    assert len(steps) == len(rules) == len(sources) >= 3
    assert all(s.startswith("https://") for s in sources)
    assert any("pa.narrowest-wins" in r for r in rules)
    assert "note: A widely read blog post claims 'the most restrictive policy applies'" in out
    assert "server mode: PERMISSIVE; client sends: plaintext" in out


def test_explain_pod_address_and_identities(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "workloads:\n"
        "  - {name: echo, namespace: foo, ports: [{port: 80, targetPort: 8080}], workloadOnlyPorts: [18083]}\n"
        "  - {name: client, namespace: bar, serviceAccount: sa-client, ports: []}\n"
    )
    pod = cli(["explain", str(path), "--from", "bar/client", "--to", "foo/echo", "--port", "18083", "--address", "pod"])
    assert pod.returncode == 0, pod.stderr
    assert "client.pod-ip-passthrough" in pod.stdout and "connects in plaintext" in pod.stdout
    svc = cli(["explain", str(path), "--from", "bar/client", "--to", "foo/echo", "--port", "80"])
    assert "client identity: spiffe://cluster.local/ns/bar/sa/sa-client; server identity: spiffe://cluster.local/ns/foo/sa/echo" in svc.stdout


def test_default_probes_cover_every_service_port_of_every_other_workload(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "workloads:\n"
        "  - {name: a, namespace: foo, ports: [{port: 80}, {port: 90, protocol: tcp}]}\n"
        "  - {name: b, namespace: bar, ports: [{port: 8000, targetPort: 8080}]}\n"
        "  - {name: c, namespace: legacy, sidecar: false}\n"
    )
    probes = _json(cli, str(path))["probes"]
    assert isinstance(probes, list)
    assert sorted((p["from"], p["to"], p["port"]) for p in probes) == sorted([
        ("bar/b", "foo/a", 80), ("bar/b", "foo/a", 90), ("legacy/c", "foo/a", 80), ("legacy/c", "foo/a", 90),
        ("foo/a", "bar/b", 8000), ("legacy/c", "bar/b", 8000),
    ])
