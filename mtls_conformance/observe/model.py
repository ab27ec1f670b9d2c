"""Observations (shared contract): what a probe and the other evidence sources saw. Produced by the pure parsers."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Outcome(enum.StrEnum):
    """Named outcomes of one probe attempt (cilium-style)."""

    OK = "ok"  # the app answered (HTTP 2xx, or TCP echo)
    HTTP_403 = "403"  # authorization denied
    HTTP_503 = "503"  # client sidecar could not connect upstream
    HTTP_OTHER = "http-other"  # another HTTP status
    RESET = "reset"  # curl 56 (reset) or 52 (empty reply): connection refused by the server side
    TLS_ERROR = "tls-error"  # curl 35
    TIMEOUT = "timeout"  # curl 28
    CONNECT_ERROR = "connect-error"  # curl 7, 6 (refused, DNS)
    INCONCLUSIVE = "inconclusive"  # exec transport error, empty output: retry, never a verdict


@dataclass(frozen=True)
class ProbeObservation:
    probe_id: str
    outcome: Outcome
    http_status: int | None = None
    curl_exit: int | None = None
    xfcc: str | None = None  # raw X-Forwarded-Client-Cert echoed by the backend
    client_identity: str | None = None  # URI= of the XFCC
    server_identity: str | None = None  # By= of the XFCC
    raw: str = ""  # the probe's raw output, kept as evidence
    duration_s: float | None = None

    @property
    def connected(self) -> bool:
        return self.outcome is Outcome.OK

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
