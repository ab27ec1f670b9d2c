"""``mtls-conformance plan``: a profile's cases as phases, with what a run will cost (offline)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from mtls_conformance.cli import plural
from mtls_conformance.plan import PROFILES, counts
from mtls_conformance.plan.build import phase_counts
from mtls_conformance.plan.model import Plan
from mtls_conformance.plan_args import add_plan_arguments, plan_from_args

COUNT_KEYS = ("cases", "probes", "phases", "skipped", "isolated", "namespaces", "pods", "peak_pods", "services", "resources")
# How each count reads in the table's first line, as (one, many).
_COUNT_WORDS = {k: (k.replace("_", " ").removesuffix("s"), k.replace("_", " ")) for k in COUNT_KEYS} | {
    "skipped": ("skipped", "skipped"), "isolated": ("isolated", "isolated")}


def register(sub: Any) -> None:
    p = sub.add_parser(
        "plan",
        help="the conformance matrix of a profile as phases, with counts",
        description="Print the plan a run executes: the profile's matrix and named cases plus the suites' own records "
        "(or your --scenario files), packed into phases (one cluster-wide configuration each), with what the run costs. "
        "It is the same plan, numbered the same way, as `pytest suites --plan-only` and `--collect-only` show. No "
        "cluster is needed; every case's expectation is proved independent of the other cases in its phase.",
    )
    add_plan_arguments(p, PROFILES)
    p.add_argument("--format", choices=("json", "table"), default="table", help="output format (default: table)")
    p.set_defaults(handler=run)


def plan_document(plan: Plan) -> dict[str, Any]:
    totals = counts(plan)
    doc: dict[str, Any] = {"profile": plan.profile, "istio_version": plan.istio_version}
    doc.update({k: totals[k] for k in COUNT_KEYS})
    doc["phase_list"] = [
        {"index": ph.number, "name": ph.name, "enableAutoMtls": ph.mesh.enable_auto_mtls,
         "mesh_policy": ph.mesh_policy, **phase_counts(ph)}
        for ph in plan.phases
    ]
    return doc


def render_table(doc: dict[str, Any]) -> str:
    lines = [f"profile {doc['profile']} on Istio {doc['istio_version']}: "
             + ", ".join(plural(doc[k], *_COUNT_WORDS[k]) for k in COUNT_KEYS)]
    header = ("#", "PHASE", "CASES", "PROBES", "NAMESPACES", "PODS", "SERVICES", "RESOURCES")
    rows = [header] + [(str(p["index"]), p["name"], *(str(p[k]) for k in ("cases", "probes", "namespaces", "pods", "services", "resources")))
                       for p in doc["phase_list"]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    doc = plan_document(plan_from_args(args))
    print(json.dumps(doc, indent=2) if args.format == "json" else render_table(doc))
    return 0
