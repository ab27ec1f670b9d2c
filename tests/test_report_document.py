"""report.json / report.yaml from a SYNTHETIC run (real engine, made-up observations), checked field by field.

report.json stores the results compactly (schema 2.x); the tests read it through load_report, which gives back the
expanded document, and check that nothing is lost on the way.
"""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_report_synthetic import HOSTILE_ID, INCONCLUSIVE, SKIPPED, WRONG_PLAINTEXT, cases, meta, verdicts

from mtls_conformance.errors import InputError
from mtls_conformance.report import (
    API_VERSION,
    SCHEMA_VERSION,
    build_report,
    load_report,
    report_schema,
    schema_problems,
    write_run_report,
)
from mtls_conformance.verdict import Status, Verdict
from mtls_conformance.versions import catalog, parse_version


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Verdict], dict[str, Any]]:
    case_list = cases()
    vs = list(verdicts(case_list))
    path = write_run_report(tmp_path_factory.mktemp("results"), meta(), vs, SKIPPED, case_list)
    return path, vs, load_report(path)


def test_files_are_written_under_the_run_id(run: tuple[Path, list[Verdict], dict[str, Any]]) -> None:
    path, _, _ = run
    assert path.name == "report.json" and path.parent.name == "synthetic-1"
    assert {p.name for p in path.parent.iterdir()} == {"report.json", "report.yaml", "report.html", "data"}
    assert [p.name for p in (path.parent / "data").iterdir()] == ["part-001.js"]  # a small run: one part


def test_a_run_folder_is_used_as_is(tmp_path: Path) -> None:
    folder = tmp_path / "synthetic-1"
    path = write_run_report(folder, meta(), [], [])
    assert path == folder / "report.json"


def test_json_validates_against_the_shipped_schema_and_is_compact(run: tuple[Path, list[Verdict], dict[str, Any]]) -> None:
    path, vs, doc = run
    stored = json.loads(path.read_text())
    assert schema_problems(stored) == []
    assert report_schema()["properties"]["apiVersion"]["const"] == API_VERSION == stored["apiVersion"] == doc["apiVersion"]
    assert stored["schemaVersion"] == SCHEMA_VERSION == "2.0" and stored["kind"] == "MeshConformanceReport"
    assert stored["results"]["count"] == len(stored["results"]["status"]) == len(vs) == len(doc["results"])
    assert stored["results"]["status"].count("f") == 1 and stored["results"]["status"].count("e") == 1
    # every distinct block once: far fewer explanation steps and expectations than probes
    assert len(stored["pool"]["step"]) < len(vs) and len(stored["pool"]["expected"]) <= len(vs)


def test_a_broken_row_is_a_schema_problem(run: tuple[Path, list[Verdict], dict[str, Any]]) -> None:
    stored = json.loads(run[0].read_text())
    size = len(stored["pool"]["expected"])
    column = stored["results"]["columns"]["expected"]
    column[3] += size  # delta-coded: the fourth probe now points past the pool
    assert schema_problems(stored) == [f"results/columns/expected/3: {sum(column[:4])} is not an index of pool/expected (0..{size - 1})"]
    column.pop()
    assert schema_problems(stored) == [f"results/columns/expected: {len(column)} values for {len(column) + 1} probes"]
    stored["results"]["status"] = "x" + stored["results"]["status"][1:]
    assert schema_problems(stored)[0].startswith("results/status: 'xpp")  # the schema's pattern says it first


def test_yaml_is_the_readable_digest(run: tuple[Path, list[Verdict], dict[str, Any]]) -> None:
    path, _, doc = run
    digest = yaml.safe_load(path.with_name("report.yaml").read_text())
    assert {k: digest[k] for k in ("run", "mesh", "result", "summary", "failed_cases", "skipped")} == \
        {k: doc[k] for k in ("run", "mesh", "result", "summary", "failed_cases", "skipped")}
    assert digest["failed_or_unobserved"] == [r for r in doc["results"] if r["status"] != "pass"]
    assert {r["status"] for r in digest["failed_or_unobserved"]} == {"fail", "error"}
    assert set(digest["rules"]) <= set(doc["rules"]) and digest["rules"]
    with pytest.raises(InputError, match="readable digest"):
        load_report(path.with_name("report.yaml"))


def test_run_and_mesh_identity(run: tuple[Path, list[Verdict], dict[str, Any]]) -> None:
    _, _, doc = run
    assert doc["run"] == {"id": "synthetic-1", "started": "2026-11-26T02:00:00Z", "finished": "2026-11-26T02:07:00Z",
                          "duration_s": 420.0, "suite_version": "0.1.0", "synthetic": True}
    assert doc["mesh"] == {"implementation": "istio", "istio_version": "1.30.4", "istio_minor": "1.30",
                           "kubernetes_version": "v1.33.1", "data_plane_mode": "sidecar", "profile": "standard"}
    expected_facts = [f.id for f in catalog().facts_for(parse_version("1.30.4"))]
    assert [f["id"] for f in doc["version_facts"]] == expected_facts
    assert all(f["source"].startswith("https://") for f in doc["version_facts"])


def test_summary_counts_match_the_verdicts(run: tuple[Path, list[Verdict], dict[str, Any]]) -> None:
    _, vs, doc = run
    s = doc["summary"]
    case_ids = {v.case_id for v in vs}
    assert s["probes"] == {"total": len(vs), "passed": sum(v.status is Status.PASS for v in vs),
                           "failed": 1, "errors": 1}
    assert s["cases"] == {"total": len(case_ids) + 1, "passed": len(case_ids) - 2, "failed": 1, "errors": 1, "skipped": 1}
    assert sum(s["observed"].values()) == len(vs)
    assert s["expected"]["mtls"] == sum(bool(v.expected.connect and v.expected.mtls) for v in vs)
    assert s["expected"]["refused"] == sum(not v.expected.connect for v in vs)
    assert doc["result"] == "failure"
    assert doc["failed_cases"] == sorted([INCONCLUSIVE, WRONG_PLAINTEXT])
    assert doc["skipped"] == [{"case": c, "reason": r} for c, r in SKIPPED]


def test_every_result_carries_expected_observed_evidence_and_reasoning(run: tuple[Path, list[Verdict], dict[str, Any]]) -> None:
    _, vs, doc = run
    by_key = {(r["case"], r["probe"]): r for r in doc["results"]}
    case_by_id = {c.id: c for c in cases()}
    assert len(by_key) == len(vs)
    for v in vs:
        r = by_key[(v.case_id, v.expected.probe.id)]
        e, o = v.expected, v.observed
        contract = e.as_dict()  # the engine's JSON contract, with rules by id
        assert {k: r["expected"][k] for k in contract if k != "rules"} == {k: v for k, v in contract.items() if k != "rules"}
        assert r["expected"]["rules"] == [rule.id for rule in e.rules]
        assert all({**doc["rules"][rule.id], "id": rule.id} == {**rule.as_dict(), **({"contradiction": rule.contradiction} if rule.contradiction else {})}
                   for rule in e.rules)
        assert r["explanation"] == [{"rule": s.rule.id, "detail": s.detail} for s in e.steps]
        assert r["status"] == v.status.value and r["problems"] == list(v.problems)
        assert r["convergence_s"] == v.convergence_s
        assert r["observed"]["probe_outcome"] == o.outcome.value and r["observed"]["http_status"] == o.http_status
        assert r["observed"]["xfcc"] == o.xfcc and r["observed"]["raw"] == o.raw
        assert [ev["source"] for ev in r["evidence"]] == [ev.source for ev in v.evidence]
        assert [ev["says_mtls"] for ev in r["evidence"]] == [ev.says_mtls for ev in v.evidence]
        case = case_by_id[v.case_id]
        assert r["dimensions"] == dict(case.dimensions) and r["suite"] == case.suite
        want = "refused" if not e.connect else ("mtls" if e.mtls else "plaintext")
        assert r["expected"]["category"] == want


def test_deviations_show_as_observed(run: tuple[Path, list[Verdict], dict[str, Any]]) -> None:
    _, _, doc = run
    wrong = next(r for r in doc["results"] if r["case"] == WRONG_PLAINTEXT and r["probe"].endswith(":8000"))
    assert (wrong["expected"]["outcome"], wrong["observed"]["outcome"], wrong["status"]) == ("mtls", "plaintext", "fail")
    assert any("X-Forwarded-Client-Cert" in p for p in wrong["problems"])
    lost = next(r for r in doc["results"] if r["case"] == INCONCLUSIVE and r["probe"].endswith(":9000"))
    assert (lost["observed"]["category"], lost["status"]) == ("error", "error")
    tcp_mtls = [r for r in doc["results"] if r["probe"].endswith(":9000") and r["expected"]["outcome"] == "mtls" and r["status"] == "pass"]
    assert tcp_mtls and all(r["observed"]["outcome"] == "mtls" and r["observed"]["http_status"] is None for r in tcp_mtls)


def test_rules_are_listed_once_with_their_sources(run: tuple[Path, list[Verdict], dict[str, Any]]) -> None:
    _, vs, doc = run
    cited = {rule.id for v in vs for rule in v.expected.rules}
    assert set(doc["rules"]) == cited
    assert all(r["source"].startswith("https://") and r["says"] for r in doc["rules"].values())


def test_dimensions_fall_back_to_the_case_id(tmp_path: Path) -> None:
    vs = list(verdicts(cases()))[:2]
    doc = load_report(write_run_report(tmp_path, meta(), vs, []))
    assert doc["results"][0]["dimensions"] == {"mesh": "none", "ns": "none", "wl": "none", "port": "none", "dr": "none",
                                               "auto": "on", "client": "sidecar", "server": "sidecar"}
    assert doc["results"][0]["suite"] is None


def test_load_report_round_trips(run: tuple[Path, list[Verdict], dict[str, Any]]) -> None:
    """Compact on disk, and nothing lost: what load_report gives back is exactly the document the run built."""
    path, vs, doc = run
    built = build_report(meta(), vs, SKIPPED, cases())
    assert doc == json.loads(json.dumps(built))
    assert load_report(path.parent) == doc


def test_a_schema_1_report_is_still_read(run: tuple[Path, list[Verdict], dict[str, Any]], tmp_path: Path) -> None:
    """1.0 and 1.1 reports (results expanded, report.schema.json of 1.x, now report-1.schema.json) load as they did."""
    _, _, doc = run
    for version in ("1.0", "1.1"):
        old = {**doc, "schemaVersion": version}
        for name, text in (("report.json", json.dumps(old)), ("report.yaml", yaml.safe_dump(old))):
            path = tmp_path / version / name
            path.parent.mkdir(exist_ok=True)
            path.write_text(text)
            assert load_report(path) == old


@pytest.mark.parametrize(("content", "problem"), [
    (None, "file not found"),
    ("{not json", "is not valid JSON"),
    ('{"apiVersion": "v1", "kind": "Pod"}', "is not an mtls-conformance report"),
    ("[1, 2]", "is not an mtls-conformance report"),
    (json.dumps({"apiVersion": API_VERSION, "schemaVersion": "3.0"}), "schemaVersion '3.0'; this tool reads 1.x and 2.x"),
    (json.dumps({"apiVersion": API_VERSION, "schemaVersion": SCHEMA_VERSION, "kind": "MeshConformanceReport"}), "does not match the report schema"),
])
def test_load_report_rejects_bad_files_in_one_line(tmp_path: Path, content: str | None, problem: str) -> None:
    path = tmp_path / "report.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InputError) as err:
        load_report(path)
    assert problem in err.value.one_line() and "\n" not in err.value.one_line()
    assert str(path) in err.value.one_line()


def test_hostile_text_is_escaped_in_the_html(run: tuple[Path, list[Verdict], dict[str, Any]]) -> None:
    path, _, doc = run
    page = path.with_name("report.html").read_text()
    assert any(r["case"] == HOSTILE_ID for r in doc["results"])
    assert "<script>alert" not in page and "<b>STRICT</b>" not in page
    summary = _page_summary(page)  # the ID travels inside the compressed summary, and the page inserts it as text
    assert [c for c in summary["cases"] if c[0] == HOSTILE_ID]


def test_html_loads_nothing_from_the_network(run: tuple[Path, list[Verdict], dict[str, Any]]) -> None:
    page = run[0].with_name("report.html").read_text()
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    for marker in ("<link", " src=", "@import", "url(http", "fetch(", "XMLHttpRequest"):
        assert marker not in page
    assert _page_summary(page)["parts"] == {"dir": "data", "names": ["part-001.js"]}  # its own files, beside it


def _page_summary(page: str) -> dict[str, Any]:
    """The compact summary report.html carries (gzip, base64) for its grid and filters."""
    start = page.index('id="report-data">') + len('id="report-data">')
    data: dict[str, Any] = json.loads(gzip.decompress(base64.b64decode(page[start:page.index("</script>", start)])))
    return data
