"""``diff`` of two SYNTHETIC runs (real engine, made-up observations): every class of change, as text, JSON and HTML."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from subprocess import CompletedProcess

import pytest
from test_report_synthetic import HOSTILE_ID, INCONCLUSIVE, WRONG_PLAINTEXT, case_id, cases, made_up_observation, meta, verdicts

from mtls_conformance.engine import expect_all
from mtls_conformance.observe.model import ProbeObservation
from mtls_conformance.outcomes import ProbeOutcome
from mtls_conformance.plan.model import Case
from mtls_conformance.report import diff_reports, load_report, write_run_report
from mtls_conformance.report.diff_render import run_diff_html, run_diff_text
from mtls_conformance.verdict import Verdict, judge
from mtls_conformance.versions import parse_version

Cli = Callable[[Sequence[str]], CompletedProcess[str]]

REGRESSED = case_id("none", "none", "sidecar")  # mTLS in both versions; the new run sees plaintext
PREDICTED = case_id("PERMISSIVE", "none", "plaintext")  # the expectation changes and the new run follows it
MISSED = case_id("PERMISSIVE", "DISABLE", "plaintext")  # the expectation changes, the observation does not
LOST = case_id("STRICT", "ISTIO_MUTUAL", "sidecar")  # observed in the old run, inconclusive in the new one
DROPPED = case_id("none", "DISABLE", "sidecar")  # only in the old run


def _faithful(case: Case, version: str) -> list[Verdict]:
    out = []
    for e in expect_all(case.scenario, parse_version(version)):
        obs, ev = made_up_observation(e)
        out.append(judge(case.id, e, obs, ev, 2.0))
    return out


def _new_run() -> list[Verdict]:
    """The made-up 1.31 run. For PREDICTED and MISSED the expectation comes from the STRICT variant of the case:
    a stand-in for an engine version rule (the engine has none that changes these probes between 1.30 and 1.31)."""
    by_id = {c.id: c for c in cases()}
    strict = {PREDICTED: by_id[case_id("STRICT", "none", "plaintext")], MISSED: by_id[case_id("STRICT", "DISABLE", "plaintext")]}
    out: list[Verdict] = []
    for case in cases():
        if case.id == DROPPED:
            continue
        if case.id == PREDICTED:
            out += [judge(case.id, v.expected, v.observed, v.evidence, 2.0) for v in _faithful(strict[case.id], "1.31")]
            continue
        faithful = _faithful(case, "1.31")
        if case.id == MISSED:
            old = {v.expected.probe.id: v for v in _faithful(case, "1.30")}
            out += [judge(case.id, v.expected, old[v.expected.probe.id].observed, old[v.expected.probe.id].evidence) for v in
                    _faithful(strict[case.id], "1.31")]
            continue
        for v in faithful:
            e = v.expected
            if case.id == REGRESSED and e.probe.port == 8000:
                plain = ProbeObservation(e.probe.id, ProbeOutcome.OK, http_status=200, curl_exit=0, raw="SYNTHETIC 200, no XFCC")
                out.append(judge(case.id, e, plain, (), 2.0))
            elif case.id == LOST and e.probe.port == 8000:
                out.append(judge(case.id, e, ProbeObservation(e.probe.id, ProbeOutcome.INCONCLUSIVE, raw="SYNTHETIC exec error")))
            else:
                out.append(v)
    return out


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("diff")
    old_cases = [c for c in cases() if c.id != HOSTILE_ID]
    old = write_run_report(root, meta("1.30.4", "old-run"), list(verdicts(old_cases, "1.30")), [], old_cases)
    new = write_run_report(root, meta("1.31.0", "new-run"), _new_run(), [], cases())
    return old, new


def test_every_change_is_found_and_classified(reports: tuple[Path, Path]) -> None:
    d = diff_reports(load_report(reports[0]), load_report(reports[1]))
    got = {(c.case, c.probe.rsplit(":", 1)[1]): c.classification for c in d.changes}
    assert got == {
        (REGRESSED, "8000"): "regression",
        (PREDICTED, "8000"): "expected",
        (PREDICTED, "9000"): "expected",
        (WRONG_PLAINTEXT, "8000"): "fixed",
        (INCONCLUSIVE, "9000"): "fixed",
        (LOST, "8000"): "inconclusive",
    }
    assert {(c.case, c.classification) for c in d.missed} == {(MISSED, "missed")}
    assert d.counts == {"regression": 1, "expected": 2, "fixed": 2, "inconclusive": 1, "predicted_but_not_observed": 2}
    assert [c.classification for c in d.changes][:1] == ["regression"]  # worst first
    assert d.only_old == tuple(sorted(f"{DROPPED} {p}" for p in ("client-mesh/curl->srv/backend:8000", "client-mesh/curl->srv/backend:9000")))
    assert len(d.only_new) == 2 and all(i.startswith(HOSTILE_ID) for i in d.only_new)


def test_changes_cite_rules_and_version_facts(reports: tuple[Path, Path]) -> None:
    d = diff_reports(load_report(reports[0]), load_report(reports[1]))
    predicted = next(c for c in d.changes if c.case == PREDICTED)
    assert (predicted.old_expected, predicted.new_expected) == ("plaintext", "refused:reset")
    assert (predicted.old_observed, predicted.new_observed) == ("plaintext", "refused:reset")
    assert "server.strict" in {r["id"] for r in predicted.rules}
    regression = next(c for c in d.changes if c.classification == "regression")
    assert (regression.old_expected, regression.new_expected, regression.new_observed) == ("mtls", "mtls", "plaintext")
    assert "expects mtls in both versions" in regression.reason
    assert [(f.id, f.change) for f in d.facts] == [("behaviour.dr-subset-tls-fallback", "added")]
    assert d.facts[0].source.startswith("https://github.com/istio/istio/")


def test_text_and_html_rendering(reports: tuple[Path, Path]) -> None:
    d = diff_reports(load_report(reports[0]), load_report(reports[1]))
    text = run_diff_text(d)
    assert text.splitlines()[0] == ("Conformance diff: Istio 1.30.4 (run old-run, standard, synthetic) -> "
                                    "Istio 1.31.0 (run new-run, standard, synthetic)")
    assert "6 changed observed behaviour (1 regression, 2 expected, 2 fixed, 1 inconclusive)" in text
    assert f"REGRESSION   {REGRESSED}" in text and "observed: mTLS -> plaintext" in text
    assert "behaviour.dr-subset-tls-fallback [behaviour] holds for 1.31.0 only" in text
    page = run_diff_html(d)
    assert '<td class="cls-regression">regression</td>' in page and "<script>alert" not in page
    assert "Content-Security-Policy" in page and "<script>" not in page.split('id="report-data"')[0]


def test_cli_text_json_html_and_exit_code(reports: tuple[Path, Path], cli: Cli, tmp_path: Path) -> None:
    old, new = (str(p) for p in reports)
    out = tmp_path / "diff.html"
    result = cli(["diff", old, new, "--html", str(out)])
    assert result.returncode == 0, result.stderr
    assert "1 regression" in result.stdout and out.read_text().startswith("<!doctype html>")
    as_json = cli(["diff", str(Path(old).parent), new, "--format", "json"])
    doc = json.loads(as_json.stdout)
    assert doc["counts"]["regression"] == 1 and doc["old"]["istio_version"] == "1.30.4"
    assert doc["version_facts_changed"][0]["id"] == "behaviour.dr-subset-tls-fallback"
    assert cli(["diff", old, new, "--exit-code"]).returncode == 1
    same = cli(["diff", old, old, "--exit-code"])
    assert same.returncode == 0 and "No probe changed observed behaviour." in same.stdout


@pytest.mark.parametrize("args", [
    ["diff", "/nonexistent/a.json", "/nonexistent/b.json"],
    ["diff", "only-one.json"],
    ["diff", "--scenario", "x.yaml", "a.json", "b.json"],
    ["diff", "--expected", "1.29", "1.30", "a.json"],
])
def test_cli_bad_input_is_one_line_exit_2(cli: Cli, args: list[str]) -> None:
    result = cli(args)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and not result.stdout and "Traceback" not in result.stderr


def test_cli_rejects_a_file_that_is_not_a_report(cli: Cli, tmp_path: Path) -> None:
    bogus = tmp_path / "report.json"
    bogus.write_text('{"apiVersion": "v1", "kind": "ConfigMap"}')
    result = cli(["diff", str(bogus), str(bogus)])
    assert result.returncode == 2 and "is not an mtls-conformance report" in result.stderr


def test_report_command_rerenders_and_summarises(reports: tuple[Path, Path], cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "again.html"
    result = cli(["report", str(reports[1].parent), "--html", str(out)])
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("run new-run: Istio 1.31.0 (sidecar), Kubernetes v1.33.1, profile standard: FAILURE [synthetic]")
    assert f"  failed: {REGRESSED}" in result.stdout
    assert out.read_text() == reports[1].with_name("report.html").read_text()
    assert cli(["report", str(tmp_path / "missing")]).returncode == 2


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_a_schema_1_report_is_still_read(reports: tuple[Path, Path], tmp_path: Path, cli: Cli, version: str) -> None:
    """1.x reports stored every probe expanded (1.1 closed the outcome lists; every 1.0 report already fits them);
    diff compares them with a 2.x report, and report re-renders them."""
    old = load_report(reports[0])  # the expanded document is exactly a 1.x document
    old["schemaVersion"] = version
    (tmp_path / "report.json").write_text(json.dumps(old))
    d = diff_reports(load_report(tmp_path / "report.json"), load_report(reports[1]))
    assert d.counts["regression"] == 1
    assert cli(["diff", str(tmp_path / "report.json"), str(reports[1]), "--exit-code"]).returncode == 1
    again = cli(["report", str(tmp_path)])
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "report.html").is_file() and (tmp_path / "data" / "part-001.js").is_file()
