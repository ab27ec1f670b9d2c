"""``mtls-conformance plan``: a profile's cases as phases, with what a run will cost (offline)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from mtls_conformance.plan import PROFILES, build_plan, counts
from mtls_conformance.plan.build import phase_counts
from mtls_conformance.plan.model import Plan
from mtls_conformance.plan.profiles import check_profile
from mtls_conformance.versions import resolve_version

COUNT_KEYS = ("cases", "probes", "phases", "namespaces", "pods", "peak_pods", "services", "resources")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "plan",
        help="the conformance matrix of a profile as phases, with counts",
        description="Print how a profile's cases pack into phases (one cluster-wide configuration each) and what the "
        "run costs: cases, probes, phases, namespaces, pods, Services, resources. No cluster is needed; every case's "
        "expectation is proved independent of the other cases in its phase.",
    )
    p.add_argument("--profile", required=True, metavar="P", help="one of " + ", ".join(PROFILES))
    p.add_argument("--istio-version", metavar="V", help="Istio version, e.g. 1.30 or 1.30.3 (default: latest stable)")
    p.add_argument("--format", choices=("json", "table"), default="table", help="output format (default: table)")
    p.set_defaults(handler=run)


def plan_document(plan: Plan) -> dict[str, Any]:
    totals = counts(plan)
    doc: dict[str, Any] = {"profile": plan.profile, "istio_version": plan.istio_version}
    doc.update({k: totals[k] for k in COUNT_KEYS})
    doc["phase_list"] = [
        {"index": ph.index, "name": ph.name, "enableAutoMtls": ph.mesh.enable_auto_mtls,
         "mesh_policy": ph.mesh_policy, **phase_counts(ph)}
        for ph in plan.phases
    ]
    return doc


def render_table(doc: dict[str, Any]) -> str:
    lines = [f"profile {doc['profile']} on Istio {doc['istio_version']}: "
             + ", ".join(f"{doc[k]} {k.replace('_', ' ')}" for k in COUNT_KEYS)]
    header = ("#", "PHASE", "CASES", "PROBES", "NAMESPACES", "PODS", "SERVICES", "RESOURCES")
    rows = [header] + [(str(p["index"]), p["name"], *(str(p[k]) for k in ("cases", "probes", "namespaces", "pods", "services", "resources")))
                       for p in doc["phase_list"]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    profile = check_profile(args.profile)
    version = resolve_version(args.istio_version)
    doc = plan_document(build_plan(profile, version))
    print(json.dumps(doc, indent=2) if args.format == "json" else render_table(doc))
    return 0
