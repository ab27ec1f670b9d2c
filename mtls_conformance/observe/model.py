"""Observations (shared contract): what a probe and the other evidence sources saw. Produced by the pure parsers."""

from __future__ import annotations

from dataclasses import dataclass, field

from mtls_conformance.outcomes import ProbeOutcome


@dataclass(frozen=True)
class ProbeObservation:
    probe_id: str
    outcome: ProbeOutcome  # how the probe's connection ended
    http_status: int | None = None
    curl_exit: int | None = None
    xfcc: str | None = None  # raw X-Forwarded-Client-Cert echoed by the backend
    client_identity: str | None = None  # URI= of the XFCC
    server_identity: str | None = None  # By= of the XFCC
    raw: str = ""  # the probe's raw output, kept as evidence
    duration_s: float | None = None

    @property
    def connected(self) -> bool:
        return self.outcome is ProbeOutcome.OK

    @property
    def mtls(self) -> bool | None:
        """mTLS by the header oracle: None when not connected or when the port cannot carry headers (TCP)."""
        if not self.connected or self.http_status is None:
            return None
        return self.xfcc is not None


@dataclass(frozen=True)
class Evidence:
    """One independent piece of evidence about a probe's encryption or identity."""

    source: str  # "xfcc", "metrics", "config-dump", "capture", "secret"
    says_mtls: bool | None  # None: this source cannot tell
    detail: str
    artefact: str = ""  # excerpt or path of the artefact behind it
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ProbeSpec:
    """One probe as the client pod runs it: a new connection to host:port.

    ``host`` is a Service DNS name, an IP, or a pod-IP placeholder (see ``observe.curl.pod_ip_placeholder``)
    that the executor resolves before building the script.
    """

    probe_id: str
    host: str
    port: int
    protocol: str = "http"  # "http": GET the backend's header-echo path; "tcp": send a line, read the echo
    path: str = "/headers"
