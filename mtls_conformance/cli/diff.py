"""``mtls-conformance diff``: what changed between two conformance runs, or what the engine predicts between versions."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mtls_conformance.cli import plural
from mtls_conformance.errors import InputError
from mtls_conformance.versions import resolve_version

# The report modules (jsonschema, the planner) are imported when the command runs, so every other
# subcommand starts fast.

EPILOG = """\
examples:
  mtls-conformance diff results/istio-1.29/report.json results/istio-1.30/report.json
  mtls-conformance diff OLD/report.json NEW/report.json --format json --html diff.html
  mtls-conformance diff --expected 1.29 1.30
  mtls-conformance diff --expected 1.30 1.31 --scenario my-mesh.yaml

classes: expected (the engine's expectation changed between the versions and was observed), regression
(the new run disagrees with the engine), fixed (the old run disagreed, the new one agrees), inconclusive
(the new run could not observe the probe). With --exit-code the status is 1 when there is a regression.
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "diff",
        help="what changed between two conformance reports, or what the engine predicts between versions",
        description="List every probe whose observed mTLS behaviour changed between two runs (e.g. Istio 1.29 and 1.30) "
        "and say whether the engine expected the change; or, with --expected, what the engine predicts will change "
        "between two Istio versions, without a cluster.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("reports", nargs="*", metavar="REPORT", help="OLD and NEW report.json (or their results/<run-id> folders)")
    p.add_argument("--expected", nargs=2, metavar=("OLD", "NEW"), help="predict the change between two Istio versions (no cluster)")
    p.add_argument("--scenario", action="append", default=[], metavar="FILE",
                   help="with --expected: predict for these scenario files instead of the standard profile (repeatable)")
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    p.add_argument("--html", metavar="OUT", help="also write the diff as a self-contained HTML page")
    p.add_argument("--allow-unpinned", action="store_true", help="with --expected: accept patches newer than their line's pinned patch")
    p.add_argument("--exit-code", action="store_true", help="exit 1 when a regression is found (for CI gates)")
    p.set_defaults(handler=run)


def _write_html(path: str, text: str) -> None:
    out = Path(path)
    if out.is_dir():
        raise InputError("--html", f"{out} is a directory", "give a file name, e.g. --html diff.html")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError("--html", f"cannot write {out} ({exc.strerror})", "choose a writable path") from None


def run(args: argparse.Namespace) -> int:
    if args.expected:
        if args.reports:
            raise InputError("diff", "--expected takes two versions, not report files", "drop the report paths or drop --expected")
        return _run_expected(args)
    if args.scenario:
        raise InputError("--scenario", "only applies with --expected", "add --expected OLD NEW, or drop --scenario")
    if len(args.reports) != 2:
        raise InputError("diff", f"needs exactly two reports, got {len(args.reports)}",
                         "run 'mtls-conformance diff OLD/report.json NEW/report.json' or 'mtls-conformance diff --expected 1.29 1.30'")
    from mtls_conformance.report.diff import diff_reports
    from mtls_conformance.report.diff_render import run_diff_html, run_diff_text
    from mtls_conformance.report.store import load_report

    old, new = (load_report(p) for p in args.reports)
    d = diff_reports(old, new)
    print(json.dumps(d.as_dict(), indent=2) if args.format == "json" else run_diff_text(d))
    if args.html:
        _write_html(args.html, run_diff_html(d))
    return 1 if args.exit_code and d.counts["regression"] else 0


def _run_expected(args: argparse.Namespace) -> int:
    from mtls_conformance.report.diff_render import prediction_html, prediction_text
    from mtls_conformance.report.predict import ensure_distinct, predict, scenario_files, standard_cases

    old = resolve_version(args.expected[0], "diff --expected OLD", allow_unpinned=args.allow_unpinned)
    new = resolve_version(args.expected[1], "diff --expected NEW", allow_unpinned=args.allow_unpinned)
    ensure_distinct(old, new)
    if args.scenario:
        named = scenario_files(args.scenario)
        source = plural(len(named), "scenario file")
        old_cases, new_cases = named, named
    else:
        source, old_cases = standard_cases(old)
        _, new_cases = standard_cases(new)
    prediction = predict(old, new, old_cases, new_cases, source)
    print(json.dumps(prediction.as_dict(), indent=2) if args.format == "json" else prediction_text(prediction))
    if args.html:
        _write_html(args.html, prediction_html(prediction))
    return 0
