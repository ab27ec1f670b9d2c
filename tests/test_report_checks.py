"""Whole-case checks (certificate rotation) are first-class: their verdict is judged by the run loop's judge, lands in
report.json's ``checks``, counts in the summary, the result and ``failed_cases``, and fails ``diff --exit-code``."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from subprocess import CompletedProcess

from test_report_synthetic import cases, meta, verdicts

from mtls_conformance.observe.rotation import RequestResult, RotationReport, traffic_report
from mtls_conformance.report import diff_reports, load_report, write_run_report
from mtls_conformance.verdict import CaseVerdict, Status, judge_rotation

Cli = Callable[[Sequence[str]], CompletedProcess[str]]
CASE = "rotation/short-lived-certs-rotate-without-failures"  # suites/rotation/cases.yaml
T0 = dt.datetime(2026, 11, 26, 3, 0, tzinfo=dt.UTC)


def _rotation(problems: tuple[str, ...]) -> CaseVerdict:
    requests = [RequestResult(T0 + dt.timedelta(seconds=i), ok=i != 7 or not problems) for i in range(20)]
    return judge_rotation(CASE, RotationReport(rotations=(), traffic=traffic_report(requests), problems=problems))


def _write(tmp_path: Path, name: str, check: CaseVerdict) -> Path:
    probe_verdicts = list(verdicts(cases()[:2], deviations=False))
    return write_run_report(tmp_path / name, meta(run_id=name), [*probe_verdicts, check], [])


def test_a_failed_rotation_fails_the_report(tmp_path: Path) -> None:
    path = _write(tmp_path, "new", _rotation(("observed 0 rotation(s), need at least 2",)))  # validated against the schema on write
    doc = load_report(path)
    (check,) = doc["checks"]
    assert check["case"] == CASE and check["status"] == "fail" and check["kind"] == "rotation"
    assert check["problems"] == ["observed 0 rotation(s), need at least 2"] and check["facts"]["requests"] == "20"
    assert doc["result"] == "failure" and CASE in doc["failed_cases"] and doc["summary"]["cases"]["failed"] == 1


def test_a_passing_rotation_passes_and_is_counted(tmp_path: Path) -> None:
    doc = load_report(_write(tmp_path, "ok", _rotation(())))
    assert doc["checks"][0]["status"] == Status.PASS and doc["result"] == "success"
    assert doc["summary"]["cases"]["passed"] == doc["summary"]["cases"]["total"]


def test_a_failed_rotation_is_a_regression_for_the_gate(tmp_path: Path, cli: Cli) -> None:
    old = _write(tmp_path, "old", _rotation(()))
    new = _write(tmp_path, "new", _rotation(("serial 1a expired before the new certificate was seen",)))
    d = diff_reports(load_report(old), load_report(new))
    assert d.counts["regression"] == 1
    (change,) = d.changes
    assert change.case == CASE and change.classification == "regression" and "expired" in change.reason
    assert cli(["diff", str(old), str(new), "--exit-code"]).returncode == 1  # the pre-upgrade gate
    back = cli(["diff", str(new), str(old), "--exit-code", "--format", "json"])
    assert back.returncode == 0 and json.loads(back.stdout)["counts"]["fixed"] == 1


def test_the_html_page_shows_each_check_with_its_problems(tmp_path: Path) -> None:
    path = _write(tmp_path, "new", _rotation(("observed 0 rotation(s), need at least 2",)))
    page = (path.parent / "report.html").read_text()
    assert "checks judged as a whole" in page and CASE in page and "observed 0 rotation(s), need at least 2" in page
    attention = page[page.index('<section id="attention">'):page.index("</section>", page.index('<section id="attention">'))]
    assert "Needs attention: 1 failed" in attention and "observed 0 rotation(s), need at least 2" in attention
    assert 'href="#check-0"' in attention and 'id="check-0"' in page  # the first screen links to the check's row
