"""What the run loop needs from a mesh session. ``mtls_conformance.executor.session.MeshSession`` is the real one; the
pytest plugin opens it through its hooks, so self-tests can hand in a fake cluster or a fake mesh instead."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from mtls_conformance.engine.model import Expectation
from mtls_conformance.observe.model import Evidence, ProbeObservation
from mtls_conformance.plan.model import Case, Phase
from mtls_conformance.scenario import Probe, Scenario
from mtls_conformance.verdict import Verdict

# (expectation, observation) -> does the observation agree? The run loop's judge, lent to the convergence wait.
Agrees = Callable[[Expectation, ProbeObservation], bool]


class MeshSessionLike(Protocol):
    @property
    def istio_version(self) -> Any: ...

    @property
    def kubernetes_version(self) -> Any: ...

    def apply_phase(self, phase: Phase) -> Any: ...

    def converge(self, phase: Phase, expectations: Sequence[Expectation], agrees: Agrees) -> Any: ...

    def joined_phase(self, phase: Phase) -> None: ...

    def cluster_auto_mtls(self) -> bool: ...

    def probe(self, scenario: Scenario, probes: Sequence[Probe]) -> Sequence[ProbeObservation]: ...

    def evidence(self, scenario: Scenario, expectation: Expectation, observation: ProbeObservation) -> Sequence[Evidence]: ...

    def write_bundle(self, case: Case, verdicts: Sequence[Verdict], dest: Path) -> Any: ...

    def close(self, failed: bool) -> Any: ...


def convergence_seconds(result: Any) -> float | None:
    """Seconds from the executor's Convergence (or a bare number from a fake)."""
    if result is None:
        return None
    if isinstance(result, int | float):
        return float(result)
    seconds = getattr(result, "seconds", None)
    return float(seconds) if seconds is not None else None
