"""What the engine returns: an expectation per probe, with the reasoning steps that produced it."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from mtls_conformance.engine.rules import Rule, rule
from mtls_conformance.outcomes import Outcome, ProbeOutcome
from mtls_conformance.scenario.model import Probe


class Mode(enum.StrEnum):
    """Effective PeerAuthentication mode of a sidecar for one port."""

    STRICT = "STRICT"
    PERMISSIVE = "PERMISSIVE"
    DISABLE = "DISABLE"


class ClientSends(enum.StrEnum):
    """What leaves the client (its sidecar, if any) toward the server."""

    PLAINTEXT = "plaintext"
    ISTIO_MUTUAL = "istio_mutual"
    SIMPLE = "simple"  # TLS without a client certificate
    MUTUAL = "mutual"  # TLS with user-supplied certificates


@dataclass(frozen=True)
class Step:
    """One step of reasoning: a rule and what it concluded here."""

    rule: Rule
    detail: str

    @staticmethod
    def of(rule_id: str, detail: str) -> Step:
        return Step(rule(rule_id), detail)


@dataclass(frozen=True)
class Expectation:
    probe: Probe
    connect: bool
    mtls: bool | None
    failure: ProbeOutcome | None  # how the probe is refused (one of outcomes.PREDICTED_REFUSALS); None: it connects
    server_mode: Mode | None  # None: the server has no sidecar
    client_sends: ClientSends
    steps: tuple[Step, ...] = field(default=())
    client_principal: str | None = None  # SPIFFE ID the server sees (mTLS only)
    server_principal: str | None = None  # SPIFFE ID of the server sidecar (mTLS only)
    target_port: int = 0
    protocol: str = "http"

    @property
    def rules(self) -> tuple[Rule, ...]:
        seen: dict[str, Rule] = {}
        for s in self.steps:
            seen.setdefault(s.rule.id, s.rule)
        return tuple(seen.values())

    @property
    def outcome(self) -> Outcome:
        """The whole expected outcome: ``mtls``, ``plaintext`` or ``refused:<failure>``."""
        return Outcome.expected(self.connect, self.mtls, self.failure)

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.probe.source,
            "to": self.probe.target,
            "port": self.probe.port,
            "address": self.probe.address.value,
            "connect": self.connect,
            "mtls": self.mtls,
            "failure": self.failure.value if self.failure else None,
            "server_mode": self.server_mode.value if self.server_mode else None,
            "client_sends": self.client_sends.value,
            "rules": [r.as_dict() for r in self.rules],
        }
