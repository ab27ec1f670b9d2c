"""``mtls-conformance render``: every phase of a profile as plain Kubernetes/Istio YAML, one file per phase."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import yaml

from mtls_conformance.cli import plural
from mtls_conformance.errors import InputError
from mtls_conformance.plan import PROFILES
from mtls_conformance.plan.render import render_phase
from mtls_conformance.plan_args import add_plan_arguments, plan_from_args

DEFAULT_RUN_ID = "local"


def register(sub: Any) -> None:
    p = sub.add_parser(
        "render",
        help="every phase of a profile as plain YAML",
        description="Write each phase of the plan (the same plan `plan` prints and the suites run) as one "
        "multi-document YAML file (DIR/phase-NN-<name>.yaml, NN from 01), in apply order. Isolated cases (rotation) "
        "are applied by their own suite and are not rendered. Same input, same bytes. Files from an earlier render in "
        "DIR are replaced.",
    )
    add_plan_arguments(p, PROFILES)
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (created if missing)")
    p.add_argument("--run-id", default=DEFAULT_RUN_ID, metavar="ID", help=f"value of the mtls-conformance/run label (default: {DEFAULT_RUN_ID})")
    p.set_defaults(handler=run)


def phase_file_name(index: int, name: str) -> str:
    return f"phase-{index:02d}-{re.sub(r'[^A-Za-z0-9]+', '-', name).strip('-').lower()}.yaml"


def _out_dir(text: str) -> Path:
    out = Path(text)
    if out.exists() and not out.is_dir():
        raise InputError("--out", f"{text} exists and is not a directory", "pass a directory path (it is created if missing)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError("--out", f"cannot create {text} ({exc.strerror})", "pass a writable directory") from None
    return out


def run(args: argparse.Namespace) -> int:
    plan = plan_from_args(args)
    rendered = [(phase_file_name(ph.number, ph.name), render_phase(ph, args.run_id)) for ph in plan.phases]  # checks --run-id first
    out = _out_dir(args.out)
    for stale in out.glob("phase-*.yaml"):
        stale.unlink()
    for file_name, objects in rendered:
        text = yaml.safe_dump_all(objects, sort_keys=False, default_flow_style=False, width=1000)
        (out / file_name).write_text(text, encoding="utf-8")
        print(f"{out / file_name}: {plural(len(objects), 'object')}")
    return 0
