"""``mtls-conformance explain``: the engine's reasoning for one probe, step by step, each with its source."""

from __future__ import annotations

import argparse
from typing import Any

from mtls_conformance.engine import Expectation, expect
from mtls_conformance.errors import InputError
from mtls_conformance.scenario import Address, Probe, load_scenario
from mtls_conformance.versions import ALLOW_UNPINNED, resolve_version


def register(sub: Any) -> None:
    p = sub.add_parser(
        "explain",
        help="step-by-step reasoning for one probe",
        description="Explain why Istio must connect or refuse, with mTLS or plaintext, for one probe of SCENARIO. "
        "Each step names the rule and the Istio doc, reference or upstream test that defines it.",
    )
    p.add_argument("scenario", metavar="SCENARIO.yaml", help="scenario file that defines the two workloads (see README, 'Scenario files')")
    p.add_argument("--from", dest="source", required=True, metavar="NS/NAME", help="client workload, e.g. legacy/curl")
    p.add_argument("--to", dest="target", required=True, metavar="NS/NAME", help="server workload, e.g. foo/httpbin")
    p.add_argument("--port", required=True, type=_port_number, metavar="P", help="Service port (or container port with --address pod)")
    p.add_argument("--address", choices=("service", "pod"), default="service",
                   help="call the Service (default), or a pod IP directly on a container port")
    p.add_argument("--istio-version", metavar="V", help="Istio version, e.g. 1.30 or 1.30.3 (default: latest stable)")
    p.add_argument(ALLOW_UNPINNED, action="store_true", help="accept a patch newer than the line's pinned patch")
    p.set_defaults(handler=run)


def _port_number(text: str) -> int:
    # int() would also take non-ASCII digits and surrounding spaces; a port is written in ASCII digits.
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (use 1-65535)")
    return int(text)


def run(args: argparse.Namespace) -> int:
    version = resolve_version(args.istio_version, allow_unpinned=args.allow_unpinned)
    scenario = load_scenario(args.scenario)
    keys = {w.key for w in scenario.workloads}
    for flag, ref in (("--from", args.source), ("--to", args.target)):
        if ref not in keys:
            raise InputError(f"{scenario.path}: {flag}", f"{ref!r} is not a workload of the scenario", "use one of " + ", ".join(sorted(keys)))
    target = scenario.workload(args.target)
    address = Address(args.address)
    valid = [p.port for p in target.ports] if address is Address.SERVICE else list(target.container_ports)
    if args.port not in valid:
        what = "Service port" if address is Address.SERVICE else "container port"
        raise InputError(f"{scenario.path}: --port", f"{args.port} is not a {what} of {args.target}", "use one of " + (", ".join(map(str, valid)) or "none"))
    e = expect(scenario, Probe(args.source, args.target, args.port, address), version)
    print(render(e, version.minor_line))
    return 0


def render(e: Expectation, version: str) -> str:
    verdict = ("connects with Istio mTLS" if e.mtls else "connects in plaintext") if e.connect else f"fails: {e.failure}"
    lines = [f"{e.probe.id} on Istio {version}: {verdict}", ""]
    for i, step in enumerate(e.steps, 1):
        lines.append(f"{i}. {step.detail}")
        lines.append(f"   rule {step.rule.id}: {step.rule.says}")
        lines.append(f"   source: {step.rule.source}")
        if step.rule.contradiction:
            lines.append(f"   note: {step.rule.contradiction}")
    lines += ["", f"server mode: {e.server_mode.value if e.server_mode else 'no sidecar'}; client sends: {e.client_sends.value}"]
    if e.client_principal:
        lines.append(f"client identity: {e.client_principal}; server identity: {e.server_principal}")
    return "\n".join(lines)
