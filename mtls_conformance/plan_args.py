"""The plan arguments shared by ``plan`` and ``render``, so both show the run's one plan (same cases, same phases)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from mtls_conformance.errors import InputError
from mtls_conformance.plan.build import run_plan
from mtls_conformance.plan.model import Plan, Target
from mtls_conformance.plan.profiles import check_profile
from mtls_conformance.versions import resolve_version


def add_plan_arguments(p: argparse.ArgumentParser, profiles: Sequence[str]) -> None:
    p.add_argument("--profile", default="smoke", metavar="P", help="one of " + ", ".join(profiles) + " (default: smoke)")
    p.add_argument("--istio-version", metavar="V", help="Istio version, e.g. 1.30 or 1.30.3 (default: latest stable)")
    p.add_argument("--allow-unpinned", action="store_true", help="accept a patch newer than the line's pinned patch")
    p.add_argument("--scenario", action="append", default=[], metavar="FILE",
                   help="plan these scenario files instead of the profile (as `pytest suites --scenario FILE`)")
    p.add_argument("--suites", metavar="DIR", help="the suites folder whose case records join the plan (default: ./suites)")
    p.add_argument("--existing-cluster", action="store_true",
                   help="plan for an existing cluster without --allow-install: cases that change mesh-wide state are skipped")


def plan_from_args(args: argparse.Namespace) -> Plan:
    profile = check_profile(args.profile)
    version = resolve_version(args.istio_version, allow_unpinned=args.allow_unpinned)
    suites = Path(args.suites) if args.suites else None
    if suites is not None and not suites.is_dir():
        raise InputError(f"--suites {args.suites}", "is not a directory", "pass the suites/ folder of the project")
    scenarios = tuple(Path(s) for s in args.scenario)
    for path in scenarios:
        if not path.is_file():
            raise InputError(f"--scenario {path}", "file not found", "pass the path of a scenario file")
    return run_plan(profile, version, suites_dir=suites, scenario_files=scenarios,
                    target=Target(existing_cluster=bool(args.existing_cluster)))
