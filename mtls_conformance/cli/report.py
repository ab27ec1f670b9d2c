"""``mtls-conformance report``: re-render (and check) the report of a results directory."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mtls_conformance.errors import InputError

FAILED_LINES = 50  # failed cases printed; report.yaml and the page list them all


def register(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="re-render the HTML report of a results directory and print its summary",
        description="Validate results/<run-id>/report.json against the report schema (2.x, or an older 1.x report), rewrite "
        "report.html and its data/ folder beside it (or at --html OUT), and print the summary.",
    )
    p.add_argument("report", metavar="RESULTS", help="results/<run-id> folder or its report.json")
    p.add_argument("--html", metavar="OUT", help="write the HTML here instead of beside report.json")
    p.add_argument("--format", choices=("text", "json"), default="text", help="summary format (default: text)")
    p.set_defaults(handler=run)


def summary_text(doc: dict[str, Any]) -> str:
    mesh, s = doc["mesh"], doc["summary"]
    lines = [
        f"run {doc['run']['id']}: Istio {mesh['istio_version']} ({mesh['data_plane_mode']}), Kubernetes {mesh['kubernetes_version']}, "
        f"profile {mesh['profile']}: {doc['result'].upper()}" + (" [synthetic]" if doc["run"]["synthetic"] else ""),
        f"  cases: {s['cases']['total']} ({s['cases']['passed']} passed, {s['cases']['failed']} failed, {s['cases']['errors']} not observed, "
        f"{s['cases']['skipped']} skipped)",
        f"  probes: {s['probes']['total']} ({s['probes']['passed']} passed, {s['probes']['failed']} failed, {s['probes']['errors']} not observed)",
        "  observed: " + ", ".join(f"{k} {v}" for k, v in s["observed"].items()),
    ]
    failed = doc["failed_cases"]
    lines += [f"  failed: {c}" for c in failed[:FAILED_LINES]]
    if len(failed) > FAILED_LINES:
        lines.append(f"  ... and {len(failed) - FAILED_LINES} more failed cases (report.yaml lists every failed probe)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from mtls_conformance.report.store import HTML_NAME, load_report_forms, resolve_report_path, write_html  # here: subcommands start fast

    path = resolve_report_path(args.report)
    doc, stored = load_report_forms(path)
    out = Path(args.html) if args.html else path.parent / HTML_NAME
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_html(out, doc, stored)  # the page and data/ beside it
    except OSError as exc:
        raise InputError("--html", f"cannot write {out} ({exc.strerror})", "choose a writable path") from None
    if args.format == "json":
        print(json.dumps({"report": str(path), "html": str(out), "result": doc["result"], "summary": doc["summary"]}, indent=2))
    else:
        print(summary_text(doc))
        print(f"  html: {out}")
    return 0
