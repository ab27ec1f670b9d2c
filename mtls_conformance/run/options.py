"""The options of one run, validated (the pytest plugin parses them from its flags; scripts may build them directly)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mtls_conformance.plan.build import run_plan
from mtls_conformance.plan.model import Plan, Target
from mtls_conformance.versions import IstioVersion


@dataclass(frozen=True)
class RunOptions:
    """Everything the suites need to know about this run, validated."""

    istio_version: IstioVersion
    profile: str
    kubeconfig: Path | None
    context: str | None
    allow_install: bool
    keep_cluster: bool
    keep_on_failure: bool
    istio_values: Path | None
    scenario_files: tuple[Path, ...]
    plan_only: bool
    results_dir: Path
    timing: Path | None
    cluster_name: str
    kind_config: Path
    run_id: str
    suites_dir: Path | None = None  # where the suites' case records are (default: suites/ of the project)

    @property
    def external(self) -> bool:
        """An existing cluster (not a kind cluster this run creates or reuses)."""
        return self.kubeconfig is not None or self.context is not None

    def target(self) -> Target:
        return Target(existing_cluster=self.external, allow_install=self.allow_install)

    def plan(self) -> Plan:
        """The one plan of this run (built once per process; the full profile takes a few seconds)."""
        return run_plan(self.profile, self.istio_version, suites_dir=self.suites_dir, scenario_files=self.scenario_files,
                        target=self.target())
