"""The run loop: one check at a time, hold its phase -> apply -> converge -> probe -> evidence -> judge -> record.

Everything it does is decided by the plan (which phase a case runs in, which cases are skipped and why); it asks the
engine for each expectation at run time and judges in exactly one place (``RunLoop.judge``), which it also lends to
the convergence wait. The session (the executor) only applies, waits, probes and fetches: it never judges.
One RunLoop per process (per xdist worker); processes share the mesh through ``MeshCoordinator``'s lock.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mtls_conformance import engine
from mtls_conformance.engine.model import Expectation
from mtls_conformance.errors import InputError, WaitTimeout
from mtls_conformance.observe.model import Evidence, ProbeObservation
from mtls_conformance.observe.rotation import RotationReport
from mtls_conformance.outcomes import ProbeOutcome
from mtls_conformance.plan.model import Case, Phase, Plan
from mtls_conformance.run.coordination import MeshCoordinator
from mtls_conformance.run.session_api import MeshSessionLike, convergence_seconds
from mtls_conformance.scenario import Probe
from mtls_conformance.verdict import CaseVerdict, Status, Verdict, judge, judge_rotation
from mtls_conformance.versions import IstioVersion, parse_version


class CheckSkipped(Exception):
    """The plan says this check does not run here; the message is the reason."""


class CheckError(Exception):
    """The check could not be judged (no session, a phase that never converged); the message is one clear line."""


def bundle_dir_name(check_id: str) -> str:
    """A folder name for a check's repro bundle: readable, and unique even when it has to be cut short."""
    text = re.sub(r"[^A-Za-z0-9_.-]+", "_", check_id).strip("_")
    if len(text) <= 120:
        return text
    return text[:107].rstrip("_.-") + "-" + hashlib.sha256(check_id.encode()).hexdigest()[:12]


@dataclass
class RunLoop:
    plan: Plan
    open_session: Callable[[], MeshSessionLike]
    coordinator: MeshCoordinator
    results_dir: Path
    verdicts: list[Verdict | CaseVerdict] = field(default_factory=list)
    _session: MeshSessionLike | None = None
    _open_error: str = ""
    _broken_phases: dict[str, str] = field(default_factory=dict)
    _observed: dict[str, dict[str, ProbeObservation]] = field(default_factory=dict)

    # --- the session ---------------------------------------------------------------------------------------
    @property
    def session(self) -> MeshSessionLike:
        if self._open_error:
            raise CheckError(self._open_error)  # the same one line for every test, without retrying
        if self._session is None:
            try:
                session = self.coordinator.open_session(self.open_session)
            except InputError as exc:  # HarnessError too: what is missing on the user's machine, and the fix
                self._open_error = f"cannot open the mesh session: {exc.one_line()}"
                raise CheckError(self._open_error) from None
            self._session = session
            self._check_target(session)
            self.coordinator.record(istio_version=str(session.istio_version), kubernetes_version=str(session.kubernetes_version))
        return self._session

    def _check_target(self, session: MeshSessionLike) -> None:
        """The plan assumed the existing cluster's enableAutoMtls; if the cluster says otherwise, no phase may run."""
        target = self.plan.target
        if not target.restricted:
            return
        actual = session.cluster_auto_mtls()
        if actual is not target.cluster_auto_mtls:
            self._open_error = (f"the cluster runs with meshConfig.enableAutoMtls {str(actual).lower()}, the plan assumed "
                                f"{str(target.cluster_auto_mtls).lower()} (Istio's default); without --allow-install the "
                                "suite may not change it: run with --allow-install on a staging cluster")
            raise CheckError(self._open_error)

    @property
    def version(self) -> IstioVersion:
        """The installed Istio version (an existing cluster may run another patch than --istio-version)."""
        return parse_version(str(self.session.istio_version), "installed Istio version")

    # --- the one judge -------------------------------------------------------------------------------------
    def judge(self, case_id: str, expectation: Expectation, observation: ProbeObservation,
              evidence: tuple[Evidence, ...] = (), convergence_s: float | None = None) -> Verdict:
        return judge(case_id, expectation, observation, evidence, convergence_s)

    def judge_rotation(self, case_id: str, report: RotationReport) -> CaseVerdict:
        """A whole-case check: the rotation analysis, judged; recorded like a probe's verdict."""
        verdict = judge_rotation(case_id, report)
        self.verdicts.append(verdict)
        if verdict.status is not Status.PASS:
            self.coordinator.mark_failed()
        return verdict

    def _agrees(self, expectation: Expectation, observation: ProbeObservation) -> bool:
        return self.judge("converge", expectation, observation).status is Status.PASS

    # --- phases --------------------------------------------------------------------------------------------
    def _apply(self, phase: Phase) -> float | None:
        self._observed.clear()
        self.session.apply_phase(phase)
        expectations = [engine.expect(c.scenario, p, self.version) for c in phase.cases for p in c.probes]
        return convergence_seconds(self.session.converge(phase, expectations, self._agrees))

    def hold(self, phase: Phase) -> float | None:
        """Hold ``phase`` on the mesh for this process (applying and converging it if the mesh is elsewhere)."""
        if phase.name in self._broken_phases:
            raise CheckError(self._broken_phases[phase.name])
        held_before = self.coordinator.held
        try:
            seconds = self.coordinator.enter(phase.name, lambda: self._apply(phase))
        except (InputError, WaitTimeout) as exc:
            # One clear failure per test of the phase, without re-applying it for each of them.
            self._broken_phases[phase.name] = f"phase {phase.number} {phase.name} could not be applied: {exc}"
            self.coordinator.mark_failed()
            raise CheckError(self._broken_phases[phase.name]) from None
        if held_before != phase.name:
            self._observed.clear()  # the mesh may have moved since this process last probed
            self.session.joined_phase(phase)
        return seconds

    def release_unless(self, next_phase: str | None) -> None:
        """Release the mesh unless this process's next check needs the same phase (keeps phases contiguous)."""
        if self.coordinator.held is not None and self.coordinator.held != next_phase:
            self.coordinator.leave()
            self._observed.clear()

    # --- one check -----------------------------------------------------------------------------------------
    def _observe(self, case: Case, probe: Probe) -> ProbeObservation:
        # One batch per case: the session probes all of a case's probes in few execs.
        if case.id not in self._observed:
            batch = self.session.probe(case.scenario, case.probes)
            self._observed[case.id] = {o.probe_id: o for o in batch}
        found = self._observed[case.id].get(probe.id)
        return found or ProbeObservation(probe.id, ProbeOutcome.INCONCLUSIVE, raw="the session returned no observation for this probe")

    def check(self, case_id: str, probe_id: str) -> Verdict:
        """Run and judge one planned probe. Raises CheckSkipped (the plan's reason) or CheckError (one line)."""
        if case_id in self.plan.skipped:
            raise CheckSkipped(self.plan.skipped[case_id])
        case = self.plan.case(case_id)
        phase = self.plan.phase_of(case_id)
        if phase is None:
            raise CheckError(f"case {case_id} is not in a phase of the plan")
        probe = next((p for p in case.probes if p.id == probe_id), None)
        if probe is None:
            raise CheckError(f"case {case_id} has no probe {probe_id}")
        convergence = self.hold(phase)
        expectation = engine.expect(case.scenario, probe, self.version)
        observation = self._observe(case, probe)
        evidence = tuple(self.session.evidence(case.scenario, expectation, observation))
        verdict = self.judge(case.id, expectation, observation, evidence, convergence)
        self.record(case, verdict)
        return verdict

    def record(self, case: Case, verdict: Verdict) -> None:
        self.verdicts.append(verdict)
        if verdict.status is not Status.PASS:
            self.coordinator.mark_failed()
            check_id = f"{case.id}:{verdict.expected.probe.id}"
            self.session.write_bundle(case, [verdict], self.results_dir / "bundles" / bundle_dir_name(check_id))

    def finish(self) -> None:
        """Close this process's session (the last process of the run cleans up)."""
        if self._session is not None:
            self.coordinator.close_session(self._session.close)
        self.coordinator.close()
