"""Reports (pure): report.json/.yaml/.html of a run, Allure and JUnit helpers, run diffs and engine predictions."""

from mtls_conformance.report.diff import RunDiff, diff_reports
from mtls_conformance.report.document import build_report
from mtls_conformance.report.model import API_VERSION, KIND, SCHEMA_VERSION, RunMeta
from mtls_conformance.report.schema import report_schema, schema_problems
from mtls_conformance.report.store import load_report, write_report_files, write_run_report

__all__ = [
    "API_VERSION",
    "KIND",
    "SCHEMA_VERSION",
    "RunDiff",
    "RunMeta",
    "build_report",
    "diff_reports",
    "load_report",
    "report_schema",
    "schema_problems",
    "write_report_files",
    "write_run_report",
]
