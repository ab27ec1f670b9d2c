"""``mtls-conformance expect``: the engine's expectation for every probe of a scenario file."""

from __future__ import annotations

import argparse
import json
from typing import Any

from mtls_conformance.cli import plural
from mtls_conformance.engine import Expectation, expect_all
from mtls_conformance.scenario import load_scenario
from mtls_conformance.versions import ALLOW_UNPINNED, resolve_version


def register(sub: Any) -> None:
    p = sub.add_parser(
        "expect",
        help="expected outcome of every probe in a scenario file",
        description="Print what Istio must do for every probe of SCENARIO, with the rules and their sources: the table "
        "cites each rule as id[n], and [n] is listed under it with the Istio doc, reference or upstream test behind it "
        "(JSON gives each rule's text and source). No cluster is needed. JSON output is a stable contract (see docs/engine.md, "
        "'expect --format json contract').",
    )
    p.add_argument("scenario", metavar="SCENARIO.yaml", help="scenario file (see docs/scenarios.md)")
    p.add_argument("--istio-version", metavar="V", help="Istio version, e.g. 1.30 or 1.30.3 (default: latest stable)")
    p.add_argument(ALLOW_UNPINNED, action="store_true", help="accept a patch newer than the line's pinned patch")
    p.add_argument("--format", choices=("json", "table"), default="table", help="output format (default: table)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    version = resolve_version(args.istio_version, allow_unpinned=args.allow_unpinned)
    scenario = load_scenario(args.scenario)
    expectations = expect_all(scenario, version)
    if args.format == "json":
        doc = {
            "scenario": scenario.name,
            "istio_version": version.minor_line,
            "probes": [e.as_dict() for e in expectations],
        }
        print(json.dumps(doc, indent=2))
    else:
        print(render_table(scenario.name, version.minor_line, expectations))
    return 0


def render_table(name: str, version: str, expectations: tuple[Expectation, ...]) -> str:
    """The probes as a table; each rule is cited as ``id[n]`` and the sources [n] are listed once, below it."""
    sources: dict[str, int] = {}
    for e in expectations:
        for rule in e.rules:
            sources.setdefault(rule.source, len(sources) + 1)
    header = ("FROM", "TO", "PORT", "ADDR", "SERVER", "CLIENT SENDS", "EXPECT", "RULES [SOURCE]")
    rows = [header]
    for e in expectations:
        rows.append((
            e.probe.source,
            e.probe.target,
            str(e.probe.port),
            e.probe.address.value,
            e.server_mode.value if e.server_mode else "no-sidecar",
            e.client_sends.value,
            ("mTLS" if e.mtls else "plaintext") if e.connect else f"FAIL {e.failure}",
            ",".join(f"{rule.id}[{sources[rule.source]}]" for rule in e.rules),
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    lines = [f"scenario {name} on Istio {version}: {plural(len(expectations), 'probe')}"]
    for r in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1])
    if sources:
        lines.append("sources:")
        lines += [f"  [{n}] {url}" for url, n in sources.items()]
    return "\n".join(lines)
