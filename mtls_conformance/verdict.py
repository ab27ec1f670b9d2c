"""Verdict (pure): observed behaviour against the engine's expectation, with every piece of evidence.

A verdict fails when the app-level outcome or the mTLS oracle disagrees with the expectation. When two
evidence sources disagree with each other (e.g. header says mTLS, metrics say plaintext), that is reported
as its own failure: the suite cannot claim to know what happened.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field

from mtls_conformance.engine.model import Expectation, Failure
from mtls_conformance.observe.model import Evidence, Outcome, ProbeObservation


class Status(enum.StrEnum):
    PASS = "pass"  # noqa: S105  (a verdict, not a password)
    FAIL = "fail"
    ERROR = "error"  # the suite could not observe (inconclusive after retries)
    SKIP = "skip"


_FAILURE_OUTCOMES: dict[Failure, tuple[Outcome, ...]] = {
    Failure.RESET: (Outcome.RESET,),
    Failure.UPSTREAM_503: (Outcome.HTTP_503,),
    Failure.DENIED_403: (Outcome.HTTP_403,),
}


@dataclass(frozen=True)
class Verdict:
    case_id: str
    expected: Expectation
    observed: ProbeObservation
    evidence: tuple[Evidence, ...]
    status: Status
    problems: tuple[str, ...] = field(default=())
    convergence_s: float | None = None

    def failure_message(self) -> str:
        e, o = self.expected, self.observed
        want = ("mTLS" if e.mtls else "plaintext") if e.connect else f"refused ({e.failure})"
        got = o.outcome.value + (f" HTTP {o.http_status}" if o.http_status is not None else "") + (
            f" curl exit {o.curl_exit}" if o.curl_exit not in (None, 0) else ""
        )
        lines = [
            f"{self.case_id}: {e.probe.id}",
            f"  expected: {want} (server {e.server_mode.value if e.server_mode else 'no sidecar'}, client sends {e.client_sends.value})",
            f"  observed: {got}; mTLS by header: {o.mtls}",
        ]
        lines += [f"  problem: {p}" for p in self.problems]
        lines.append("  evidence:")
        lines += [f"    - {ev.source}: {ev.detail}" for ev in self.evidence] or ["    - (none)"]
        if o.raw:
            lines.append("  probe output: " + o.raw.strip().replace("\n", "\n    ")[:800])
        lines.append("  engine explanation:")
        for i, step in enumerate(e.steps, 1):
            lines.append(f"    {i}. {step.detail} [{step.rule.id}: {step.rule.source}]")
        return "\n".join(lines)


def judge(case_id: str, expected: Expectation, observed: ProbeObservation, evidence: Sequence[Evidence] = (),
          convergence_s: float | None = None) -> Verdict:
    problems: list[str] = []
    if observed.outcome is Outcome.INCONCLUSIVE:
        return Verdict(case_id, expected, observed, tuple(evidence), Status.ERROR,
                       ("the probe could not be observed (exec/transport error)",), convergence_s)
    if expected.connect and not observed.connected:
        problems.append(f"expected the app to answer, observed {observed.outcome.value}")
    if not expected.connect:
        allowed = _FAILURE_OUTCOMES[expected.failure] if expected.failure else ()
        if observed.connected:
            problems.append(f"expected refusal ({expected.failure}), but the app answered")
        elif observed.outcome not in allowed:
            problems.append(f"expected refusal '{expected.failure}', observed '{observed.outcome.value}'")
    if expected.connect and observed.connected:
        if observed.mtls is not None and observed.mtls != expected.mtls:
            problems.append(f"expected {'mTLS' if expected.mtls else 'plaintext'}, the X-Forwarded-Client-Cert header says "
                            f"{'mTLS' if observed.mtls else 'plaintext'}")
        if expected.mtls and expected.client_principal and observed.client_identity and observed.client_identity != expected.client_principal:
            problems.append(f"client identity {observed.client_identity} != expected {expected.client_principal}")
        if expected.mtls and expected.server_principal and observed.server_identity and observed.server_identity != expected.server_principal:
            problems.append(f"server identity {observed.server_identity} != expected {expected.server_principal}")
        for ev in evidence:
            if ev.says_mtls is not None and ev.says_mtls != expected.mtls:
                problems.append(f"{ev.source} says {'mTLS' if ev.says_mtls else 'plaintext'}, expected {'mTLS' if expected.mtls else 'plaintext'}")
    opinions = {ev.source: ev.says_mtls for ev in evidence if ev.says_mtls is not None}
    if observed.mtls is not None:
        opinions["xfcc"] = observed.mtls
    if len(set(opinions.values())) > 1:
        problems.append("evidence sources disagree: " + ", ".join(f"{k}={'mTLS' if v else 'plaintext'}" for k, v in sorted(opinions.items())))
    status = Status.FAIL if problems else Status.PASS
    return Verdict(case_id, expected, observed, tuple(evidence), status, tuple(problems), convergence_s)
