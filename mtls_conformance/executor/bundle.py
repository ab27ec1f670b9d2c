"""Repro bundles: everything needed to understand and recreate one failing case on a fresh kind cluster.

A bundle folder holds the case's scenario file (runnable with ``pytest suites --scenario scenario.yaml``), the applied
YAML, the probe scripts and their output, the proxies' config dumps and SDS secrets, istiod and proxy logs, and
``repro.sh``, which recreates exactly this case with the project's scripts/ (cluster-up, install-istio, run-scenario).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from mtls_conformance.observe.curl import probe_script, probe_spec_from, resolve_pod_ips
from mtls_conformance.plan.compose import scenario_document
from mtls_conformance.plan.model import Case
from mtls_conformance.scenario.model import Address, Scenario, Workload

if TYPE_CHECKING:  # only a type here: the executor never judges
    from mtls_conformance.verdict import Verdict

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class BundleInputs:
    case: Case
    verdicts: tuple[Verdict, ...]
    manifests: str  # the case's objects as applied (YAML stream)
    istio_version: str
    kubernetes_version: str
    run_id: str
    probe_scripts: Mapping[str, str] = field(default_factory=dict)  # client workload key -> probe script
    config_dumps: Mapping[str, str] = field(default_factory=dict)  # workload key -> config_dump JSON text
    logs: Mapping[str, str] = field(default_factory=dict)  # "<ns>/<name>/istio-proxy" or "istiod/<pod>" -> text
    istio_values: str = ""  # path of the --istio-values file, if any


def pod_ip_token(workload: Workload) -> str:
    """Stands for a pod IP in a bundled probe script; scripts/run-scenario replaces it with the pod's IP on the new cluster."""
    return f"mtlsc-pod-ip.{workload.namespace}.{workload.name}"


def selector(workload: Workload) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((workload.labels or {"app": workload.name}).items()))


def case_probe_scripts(scenario: Scenario, max_time_s: float, tcp_max_time_s: float = 2.0) -> dict[str, str]:
    """One probe script per client of the case, holding only the case's probes (a phase batches many cases per client)."""
    by_client: dict[str, list[Any]] = {}
    tokens = {w.key: pod_ip_token(w) for w in scenario.workloads}
    for probe in scenario.probes:
        by_client.setdefault(probe.source, []).append(resolve_pod_ips(probe_spec_from(scenario, probe), tokens))
    return {client: probe_script(specs, max_time_s=max_time_s, tcp_max_time_s=tcp_max_time_s) for client, specs in by_client.items()}


def slug(text: str, limit: int = 120) -> str:
    """A file-system-safe name for a case or workload id."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text.replace("->", "_to_")).strip("_.")
    return cleaned[:limit] or "case"


def secrets_from_dump(dump_text: str) -> dict[str, Any] | None:
    """The SecretsConfigDump of a config dump (the JSON `istioctl proxy-config secret -o json` prints); keys are redacted by Envoy."""
    try:
        dump = json.loads(dump_text)
    except ValueError:
        return None
    for config in dump.get("configs", []) if isinstance(dump, dict) else []:
        if str(config.get("@type", "")).endswith("SecretsConfigDump"):
            return dict(config)
    return None


def repro_script(inputs: BundleInputs, project_root: Path = PROJECT_ROOT) -> str:
    """A bash script that recreates the case on a fresh kind cluster with the project's scripts (shellcheck-clean)."""
    scenario = inputs.case.scenario
    probe_args = []
    for key in sorted(inputs.probe_scripts):
        workload = scenario.workload(key)
        probe_args.append(f"--probe {shlex.quote(f'{workload.namespace}/{selector(workload)}@probes/{slug(key)}.sh')}")
    for key in sorted({p.target for p in scenario.probes if p.address is Address.POD}):
        workload = scenario.workload(key)
        probe_args.append(f"--pod-ip {shlex.quote(f'{pod_ip_token(workload)}={workload.namespace}/{selector(workload)}')}")
    values = '--values "$here/istio-values.yaml" ' if inputs.istio_values else ""
    expected = [f"#   {v.expected.probe.id}: expected {v.expected.outcome}, observed {v.outcome}"
                for v in inputs.verdicts]
    lines = [
        "#!/usr/bin/env bash",
        f"# Recreates case {inputs.case.id} on a fresh kind cluster:",
        f"# Istio {inputs.istio_version} (observed on Kubernetes {inputs.kubernetes_version}, run {inputs.run_id}),",
        "# the case's workloads and Istio config, then its probes. What the run saw:",
        *expected,
        "# Usage: ./repro.sh            (set MTLS_CONFORMANCE_HOME if the project moved; MTLS_CONFORMANCE_CLUSTER to rename)",
        "# Remove the cluster afterwards: \"$MTLS_CONFORMANCE_HOME/scripts/cluster-down\" --name mtlsc-repro",
        "set -euo pipefail",
        'here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)',
        f"project=${{MTLS_CONFORMANCE_HOME:-{shlex.quote(str(project_root))}}}",
        "cluster=${MTLS_CONFORMANCE_CLUSTER:-mtlsc-repro}",
        'cd "$here"',
        '"$project/scripts/cluster-up" --name "$cluster"',
        f'"$project/scripts/install-istio" --name "$cluster" {values}{shlex.quote(inputs.istio_version)}',
        " ".join(['"$project/scripts/run-scenario" --name "$cluster"', *probe_args, "applied.yaml"]),
        "",
    ]
    return "\n".join(lines)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def write_case_bundle(inputs: BundleInputs, dest: Path, project_root: Path = PROJECT_ROOT) -> Path:
    """Write the bundle into the folder ``dest`` (created if needed; e.g. results/<run>/bundles/<case>) and return it."""
    folder = dest
    folder.mkdir(parents=True, exist_ok=True)
    doc = scenario_document(inputs.case.scenario)
    _write(folder / "scenario.yaml", f"# Case {inputs.case.id}; run it alone: pytest suites --scenario scenario.yaml\n"
           + yaml.safe_dump(doc, sort_keys=False))
    _write(folder / "applied.yaml", inputs.manifests)
    for key, text in inputs.probe_scripts.items():
        _write(folder / "probes" / f"{slug(key)}.sh", text)
    _write(folder / "probe-output.txt", "\n\n".join(f"== {v.expected.probe.id}\n{v.observed.raw}" for v in inputs.verdicts))
    _write(folder / "verdicts.txt", "\n\n".join(v.failure_message() for v in inputs.verdicts) + "\n")
    for key, text in inputs.config_dumps.items():
        _write(folder / "proxies" / f"{slug(key)}.config_dump.json", text)
        found = secrets_from_dump(text)
        if found is not None:
            _write(folder / "proxies" / f"{slug(key)}.secrets.json", json.dumps(found, indent=1))
    for name, text in inputs.logs.items():
        _write(folder / "logs" / f"{slug(name)}.log", text)
    if inputs.istio_values:
        values = Path(inputs.istio_values)
        if values.is_file():
            _write(folder / "istio-values.yaml", values.read_text())
    script = folder / "repro.sh"
    _write(script, repro_script(inputs, project_root))
    script.chmod(0o755)
    _write(folder / "README.md", _readme(inputs))
    return folder


def _readme(inputs: BundleInputs) -> str:
    return "\n".join([
        f"# Repro bundle: {inputs.case.id}",
        "",
        f"Istio {inputs.istio_version}, Kubernetes {inputs.kubernetes_version}, run {inputs.run_id}, suite {inputs.case.suite}.",
        "",
        "- `repro.sh`: recreate this case on a fresh kind cluster (Docker is the only prerequisite).",
        "- `scenario.yaml`: the case as a scenario file: `pytest suites --scenario scenario.yaml`, or",
        "  `mtls-conformance explain scenario.yaml --from A --to B --port P` for the engine's reasoning.",
        "- `applied.yaml`: every object applied for this case; `probes/`: the probe scripts; `probe-output.txt`: their output.",
        "- `verdicts.txt`: expected vs observed with all evidence and the engine's explanation.",
        "- `proxies/`: Envoy config dumps and SDS secrets (private keys are redacted by Envoy); `logs/`: istiod and proxy logs.",
        "",
    ])


def bundle_files(folder: Path) -> Sequence[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
