"""Verdicts of one run -> the report document (a plain dict: what report.json/.yaml hold). Pure.

Shaped after Gateway API's ConformanceReport: identity of the implementation under test, a result
(success / partial / failure), statistics, the failed and skipped cases with reasons; plus, per probe,
what the engine expected (with its reasoning and sources) against what was observed (with evidence).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from mtls_conformance.engine.model import Expectation
from mtls_conformance.errors import InputError
from mtls_conformance.outcomes import EXPECTED_CATEGORIES, Category, Status
from mtls_conformance.plan.model import Case
from mtls_conformance.report.model import API_VERSION, KIND, SCHEMA_VERSION, RunMeta
from mtls_conformance.verdict import CaseVerdict, Verdict
from mtls_conformance.versions import catalog, parse_version

RAW_LIMIT = 8000  # characters of probe output kept per probe; the repro bundle keeps the rest
# Case-ID segments the planner writes (mesh-STRICT/ns-none/.../plaintext->sidecar); used only when a
# verdict arrives without its Case, so the matrix can still be filtered.
_ID_DIMENSIONS = ("mesh", "ns", "wl", "port", "dr", "auto")


def dimensions_from_id(case_id: str) -> dict[str, str]:
    dims: dict[str, str] = {}
    for segment in case_id.split("/"):
        if "->" in segment:
            dims["client"], _, dims["server"] = segment.partition("->")
            continue
        key, sep, value = segment.partition("-")
        if sep and key in _ID_DIMENSIONS:
            dims[key] = value
    return dims


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def expectation_doc(e: Expectation) -> dict[str, Any]:
    """The engine's Expectation JSON, with rules by id (their text is in the report's top-level ``rules`` table)."""
    doc = e.as_dict()
    doc.update(
        rules=[r.id for r in e.rules],
        outcome=e.outcome.value,
        category=e.outcome.category.value,
        client_principal=e.client_principal,
        server_principal=e.server_principal,
        target_port=e.target_port,
        protocol=e.protocol,
    )
    return doc


def explanation_doc(e: Expectation) -> list[dict[str, str]]:
    return [{"rule": s.rule.id, "detail": s.detail} for s in e.steps]


def rules_table(expectations: Iterable[Expectation]) -> dict[str, dict[str, str]]:
    """Every rule the expectations cite, once: id -> says, source (and the doc/code contradiction, if any)."""
    table: dict[str, dict[str, str]] = {}
    for e in expectations:
        for r in e.rules:
            if r.id not in table:
                table[r.id] = {"says": r.says, "source": r.source, **({"contradiction": r.contradiction} if r.contradiction else {})}
    return dict(sorted(table.items()))


def result_doc(v: Verdict, case: Case | None) -> dict[str, Any]:
    o = v.observed
    raw = o.raw if len(o.raw) <= RAW_LIMIT else o.raw[:RAW_LIMIT] + f"\n... ({len(o.raw) - RAW_LIMIT} more characters in the bundle)"
    return {
        "case": v.case_id,
        "probe": v.expected.probe.id,
        "suite": case.suite if case else None,
        "features": list(case.features) if case else [],
        "dimensions": dict(case.dimensions) if case and case.dimensions else dimensions_from_id(v.case_id),
        "status": v.status.value,
        "expected": expectation_doc(v.expected),
        "observed": {
            "outcome": v.outcome.value,
            "category": v.outcome.category.value,
            "probe_outcome": o.outcome.value,
            "http_status": o.http_status,
            "curl_exit": o.curl_exit,
            "mtls": v.mtls_verified,
            "xfcc": o.xfcc,
            "client_identity": o.client_identity,
            "server_identity": o.server_identity,
            "duration_s": o.duration_s,
            "raw": raw,
        },
        "evidence": [
            {"source": ev.source, "says_mtls": ev.says_mtls, "detail": ev.detail, "artefact": ev.artefact, "extra": dict(ev.extra)}
            for ev in v.evidence
        ],
        "convergence_s": v.convergence_s,
        "problems": list(v.problems),
        "explanation": explanation_doc(v.expected),
    }


def _case_status(statuses: Iterable[str]) -> str:
    s = set(statuses)
    for status in (Status.FAIL, Status.ERROR):
        if status.value in s:
            return status.value
    return Status.PASS.value


def check_doc(v: CaseVerdict, case: Case | None) -> dict[str, Any]:
    """A whole-case check (certificate rotation) in report.json's ``checks``."""
    return {"case": v.case_id, "kind": v.kind, "status": v.status.value, "suite": case.suite if case else "",
            "description": case.description if case else "", "problems": list(v.problems), "notes": list(v.notes),
            "facts": dict(v.facts), "detail": v.detail}


def summarize(results: Sequence[Mapping[str, Any]], skipped: Sequence[Mapping[str, str]],
              checks: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    by_case: dict[str, list[str]] = {}
    for r in [*results, *checks]:
        by_case.setdefault(r["case"], []).append(r["status"])
    case_status = Counter(_case_status(s) for s in by_case.values())
    probe_status = Counter(r["status"] for r in results)
    skipped_ids = {s["case"] for s in skipped} - set(by_case)
    return {
        "cases": {
            "total": len(by_case) + len(skipped_ids),
            "passed": case_status[Status.PASS],
            "failed": case_status[Status.FAIL],
            "errors": case_status[Status.ERROR],
            "skipped": len(skipped_ids),
        },
        "probes": {
            "total": len(results),
            "passed": probe_status[Status.PASS],
            "failed": probe_status[Status.FAIL],
            "errors": probe_status[Status.ERROR],
        },
        "observed": {c.value: sum(1 for r in results if r["observed"]["category"] == c) for c in Category},
        "expected": {c.value: sum(1 for r in results if r["expected"]["category"] == c) for c in EXPECTED_CATEGORIES},
    }


def overall_result(summary: Mapping[str, Any]) -> str:
    """Gateway API semantics: failure if anything failed, partial if something was skipped (or nothing ran)."""
    cases = summary["cases"]
    if cases["failed"] or cases["errors"]:
        return "failure"
    if cases["skipped"] or not summary["probes"]["total"]:
        return "partial"
    return "success"


def version_facts(istio_version: str) -> list[dict[str, str]]:
    """The catalog's version facts that hold for the tested release (with sources); [] if it is not a version."""
    try:
        version = parse_version(istio_version, "report istio_version")
    except InputError:
        return []
    return [{"id": f.id, "kind": f.kind, "says": f.says, "source": f.source} for f in catalog().facts_for(version)]


def build_report(meta: RunMeta, verdicts: Sequence[Verdict | CaseVerdict], skipped: Sequence[tuple[str, str]],
                 cases: Iterable[Case] = ()) -> dict[str, Any]:
    by_id = {c.id: c for c in cases}
    probe_verdicts = [v for v in verdicts if isinstance(v, Verdict)]
    results = [result_doc(v, by_id.get(v.case_id)) for v in probe_verdicts]
    checks = [check_doc(v, by_id.get(v.case_id)) for v in verdicts if isinstance(v, CaseVerdict)]
    skipped_doc = [{"case": case_id, "reason": reason} for case_id, reason in skipped]
    summary = summarize(results, skipped_doc, checks)
    try:
        minor = parse_version(meta.istio_version, "report istio_version").minor_line
    except InputError:
        minor = None
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "schemaVersion": SCHEMA_VERSION,
        "run": {
            "id": meta.run_id,
            "started": _iso(meta.started),
            "finished": _iso(meta.finished),
            "duration_s": round((meta.finished - meta.started).total_seconds(), 3),
            "suite_version": meta.suite_version,
            "synthetic": meta.synthetic,
        },
        "mesh": {
            "implementation": "istio",
            "istio_version": meta.istio_version,
            "istio_minor": minor,
            "kubernetes_version": meta.kubernetes_version,
            "data_plane_mode": meta.data_plane_mode,
            "profile": meta.profile,
        },
        "result": overall_result(summary),
        "summary": summary,
        "failed_cases": sorted({r["case"] for r in [*results, *checks] if r["status"] != Status.PASS}),
        "skipped": skipped_doc,
        "version_facts": version_facts(meta.istio_version),
        "rules": rules_table(v.expected for v in probe_verdicts),
        "results": results,
        "checks": checks,
    }
