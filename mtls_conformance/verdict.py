"""Verdict (pure): observed behaviour against the engine's expectation, with every piece of evidence.

A verdict fails when the app-level outcome, the mTLS oracle or the identities disagree with the expectation.
When two evidence sources disagree with each other (e.g. the header says mTLS, the metrics say plaintext), that is
reported as its own problem: the suite cannot claim to know what happened. A source that cannot tell (TCP ports
carry no X-Forwarded-Client-Cert; metrics with no destination-reported request; a capture without a plaintext
negative control) is listed as such, and when no source could tell on a connected probe the verdict says that
encryption was not verified instead of pretending it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from mtls_conformance.engine.model import Expectation
from mtls_conformance.observe.model import Evidence, ProbeObservation
from mtls_conformance.observe.rotation import RotationReport
from mtls_conformance.outcomes import Outcome, ProbeOutcome, Status
from mtls_conformance.outcomes import says as _says

__all__ = ["Agreement", "Status", "Verdict", "evidence_agreement", "header_evidence", "judge"]


@dataclass(frozen=True)
class Agreement:
    """What the evidence sources say about encryption, source by source (a source may give several records)."""

    mtls: tuple[str, ...]  # sources that say mTLS
    plaintext: tuple[str, ...]  # sources that say plaintext
    silent: tuple[str, ...]  # sources that cannot tell

    @property
    def disputed(self) -> bool:
        return bool(self.mtls and self.plaintext)

    @property
    def says_mtls(self) -> bool | None:
        """The encryption the sources agree on; None when none of them can tell or when they disagree."""
        if self.disputed or not (self.mtls or self.plaintext):
            return None
        return bool(self.mtls)

    def __str__(self) -> str:
        opinions = {f"{s}={_says(True)}" for s in self.mtls} | {f"{s}={_says(False)}" for s in self.plaintext}
        return ", ".join(sorted(opinions))


def evidence_agreement(evidence: Iterable[Evidence]) -> Agreement:
    """Do the evidence sources agree on encryption? The only place the suite answers that question."""
    records = list(evidence)
    return Agreement(tuple(ev.source for ev in records if ev.says_mtls is True),
                     tuple(ev.source for ev in records if ev.says_mtls is False),
                     tuple(ev.source for ev in records if ev.says_mtls is None))


def header_evidence(observed: ProbeObservation) -> Evidence:
    """The X-Forwarded-Client-Cert oracle as an Evidence record (None on TCP ports and unconnected probes)."""
    if observed.mtls is None:
        why = "the probe did not connect" if not observed.connected else "TCP port: no HTTP header can carry it"
        return Evidence("xfcc", None, f"X-Forwarded-Client-Cert cannot tell: {why}")
    if observed.mtls:
        return Evidence("xfcc", True, f"X-Forwarded-Client-Cert present: URI={observed.client_identity} By={observed.server_identity}",
                        observed.xfcc or "")
    return Evidence("xfcc", False, "no X-Forwarded-Client-Cert header reached the backend")


def _expected_text(e: Expectation) -> str:
    if not e.connect:
        return f"refused ({e.failure.value if e.failure else 'any'})"
    text = "connects with " + ("mTLS" if e.mtls else "plaintext")
    if e.mtls and e.client_principal:
        text += f", client identity {e.client_principal}"
    return text


def _observed_text(o: ProbeObservation) -> str:
    text = o.outcome.value
    if o.http_status is not None:
        text += f" HTTP {o.http_status}"
    if o.curl_exit not in (None, 0):
        text += f" (curl exit {o.curl_exit})"
    return text


@dataclass(frozen=True)
class Verdict:
    case_id: str
    expected: Expectation
    observed: ProbeObservation
    evidence: tuple[Evidence, ...]
    status: Status
    problems: tuple[str, ...] = field(default=())
    convergence_s: float | None = None
    notes: tuple[str, ...] = field(default=())  # caveats that do not fail the case (e.g. encryption not verifiable)

    @property
    def all_evidence(self) -> tuple[Evidence, ...]:
        """The header oracle first, then the independent sources."""
        return (header_evidence(self.observed), *self.evidence)

    @property
    def agreement(self) -> Agreement:
        return evidence_agreement(self.all_evidence)

    @property
    def mtls_verified(self) -> bool | None:
        """What the evidence agrees on about encryption; None when no source could tell or they disagree."""
        return self.agreement.says_mtls

    @property
    def outcome(self) -> Outcome:
        """The observed outcome, in the same vocabulary as ``expected.outcome``."""
        return Outcome.of(self.observed.outcome, self.mtls_verified)

    def failure_message(self) -> str:
        e, o = self.expected, self.observed
        server = e.server_mode.value if e.server_mode else "no sidecar"
        lines = [
            f"{self.case_id}: {e.probe.id} [{self.status.value}]",
            f"  expected: {_expected_text(e)} (server {server}, client sends {e.client_sends.value}, {e.protocol} port {e.target_port or e.probe.port})",
            f"  observed: {_observed_text(o)}",
        ]
        lines += [f"  problem: {p}" for p in self.problems]
        lines += [f"  note: {n}" for n in self.notes]
        lines.append("  evidence:")
        for ev in self.all_evidence:
            lines.append(f"    - {ev.source} ({_says(ev.says_mtls)}): {ev.detail}")
            if ev.artefact and ev.source != "xfcc":
                lines += [f"        {line}" for line in ev.artefact.strip().splitlines()[:12]]
        if o.raw:
            lines.append("  probe output:")
            lines += [f"    {line}" for line in o.raw.strip()[:800].splitlines()]
        lines.append("  engine explanation:")
        for i, step in enumerate(e.steps, 1):
            lines.append(f"    {i}. {step.detail} [{step.rule.id}: {step.rule.source}]")
        if self.convergence_s is not None:
            lines.append(f"  converged after {self.convergence_s:.1f}s")
        return "\n".join(lines)


def _outcome_problems(expected: Expectation, observed: ProbeObservation) -> list[str]:
    if expected.connect and not observed.connected:
        return [f"expected the app to answer, observed {_observed_text(observed)}"]
    if not expected.connect:
        if observed.connected:
            return [f"expected refusal ({expected.failure}), but the app answered"]
        if expected.failure is not None and observed.outcome is not expected.failure:
            return [f"expected refusal '{expected.failure}', observed '{_observed_text(observed)}'"]
    return []


def _identity_problems(expected: Expectation, observed: ProbeObservation) -> list[str]:
    if not (expected.connect and expected.mtls and observed.mtls):
        return []
    problems = []
    if expected.client_principal:
        if observed.client_identity is None:
            problems.append(f"X-Forwarded-Client-Cert has no URI=; expected client identity {expected.client_principal}")
        elif observed.client_identity != expected.client_principal:
            problems.append(f"client identity {observed.client_identity} != expected {expected.client_principal}")
    if expected.server_principal and observed.server_identity and observed.server_identity != expected.server_principal:
        problems.append(f"server identity {observed.server_identity} != expected {expected.server_principal}")
    return problems


def judge(case_id: str, expected: Expectation, observed: ProbeObservation, evidence: Sequence[Evidence] = (),
          convergence_s: float | None = None) -> Verdict:
    """Compare one observation (and its independent evidence) with the engine's expectation."""
    if observed.outcome is ProbeOutcome.INCONCLUSIVE:
        return Verdict(case_id, expected, observed, tuple(evidence), Status.ERROR,
                       ("the probe could not be observed (exec/transport error)",), convergence_s)
    problems = _outcome_problems(expected, observed)
    notes: list[str] = []
    everything = (header_evidence(observed), *evidence)
    agreement = evidence_agreement(everything)
    if expected.connect and observed.connected:
        for ev in everything:
            if ev.says_mtls is None or ev.says_mtls == expected.mtls:
                continue
            if ev.source == "xfcc":
                problems.append(f"expected {_says(expected.mtls)}, the X-Forwarded-Client-Cert header says {_says(ev.says_mtls)}")
            else:
                problems.append(f"expected {_says(expected.mtls)}, {ev.source} says {_says(ev.says_mtls)}: {ev.detail}")
        problems += _identity_problems(expected, observed)
        if not (agreement.mtls or agreement.plaintext):
            notes.append(f"encryption not verified: no evidence source could tell ({', '.join(agreement.silent)})")
    # Encryption evidence describes an accepted connection. On a refused one, a server that demands mTLS and a client
    # that sends plaintext are the reason for the refusal, not a disagreement (found by the offline dry run).
    if agreement.disputed and observed.connected:
        problems.append(f"evidence sources disagree: {agreement}")
    status = Status.FAIL if problems else Status.PASS
    return Verdict(case_id, expected, observed, tuple(evidence), status, tuple(problems), convergence_s, tuple(notes))


@dataclass(frozen=True)
class CaseVerdict:
    """The verdict of a check judged as a whole, with no single probe to compare (certificate rotation). It reaches the
    report's ``checks``, its summary and result, and ``diff --exit-code`` like a probe's verdict does."""

    case_id: str
    kind: str  # "rotation"
    status: Status
    problems: tuple[str, ...]
    notes: tuple[str, ...]
    facts: tuple[tuple[str, str], ...]  # (name, value) in display order: rotations, requests, failed requests, longest gap
    detail: str  # the analysis, as the test failure shows it

    def failure_message(self) -> str:
        return "\n".join([f"{self.case_id}: {self.kind} {self.status.value}", *(f"problem: {p}" for p in self.problems), self.detail])


def judge_rotation(case_id: str, report: RotationReport) -> CaseVerdict:
    """A rotation passes when the analysis found no problem (observe/rotation.py: serial changed before expiry at about
    the grace ratio, chains to the root, same SPIFFE ID, enough rotations, zero failed requests)."""
    traffic = report.traffic
    facts = (("rotations", str(len(report.rotations))), ("requests", str(traffic.total if traffic else 0)),
             ("failed_requests", str(traffic.failures if traffic else 0)),
             ("longest_gap_s", f"{traffic.longest_gap.total_seconds():.1f}" if traffic else "n/a"))
    return CaseVerdict(case_id, "rotation", Status.PASS if report.passed else Status.FAIL, tuple(report.problems),
                       tuple(report.notes), facts, report.describe())
