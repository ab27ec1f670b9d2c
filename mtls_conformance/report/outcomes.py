"""One vocabulary for what a probe did, shared by the report, its HTML matrix, JUnit properties and the diff.

Categories (colours in the matrix): ``mtls``, ``plaintext``, ``refused`` (the app did not answer),
``connected`` (the app answered but no evidence source could tell whether the bytes were encrypted,
e.g. a TCP port without a capture) and ``error`` (the suite could not observe: inconclusive).
"""

from __future__ import annotations

from collections.abc import Sequence

from mtls_conformance.engine.model import Expectation
from mtls_conformance.observe.model import Evidence, Outcome, ProbeObservation

CATEGORIES = ("mtls", "plaintext", "refused", "connected", "error")


def expected_category(e: Expectation) -> str:
    if not e.connect:
        return "refused"
    return "mtls" if e.mtls else "plaintext"


def expected_outcome(e: Expectation) -> str:
    """``mtls``, ``plaintext`` or ``refused:<failure>`` (reset, 503, 403)."""
    return f"refused:{e.failure}" if not e.connect else expected_category(e)


def observed_mtls(o: ProbeObservation, evidence: Sequence[Evidence]) -> bool | None:
    """The header oracle first; otherwise the evidence sources, but only when they agree."""
    if o.mtls is not None:
        return o.mtls
    opinions = {ev.says_mtls for ev in evidence if ev.says_mtls is not None}
    return opinions.pop() if len(opinions) == 1 else None


def observed_category(o: ProbeObservation, evidence: Sequence[Evidence]) -> str:
    if o.outcome is Outcome.INCONCLUSIVE:
        return "error"
    if not o.connected:
        return "refused"
    mtls = observed_mtls(o, evidence)
    if mtls is None:
        return "connected"
    return "mtls" if mtls else "plaintext"


def observed_outcome(o: ProbeObservation, evidence: Sequence[Evidence]) -> str:
    """Like :func:`expected_outcome`, so the two compare directly: ``refused:reset``, ``refused:timeout`` ..."""
    category = observed_category(o, evidence)
    if category == "refused":
        return f"refused:{o.outcome.value}"
    if category == "error":
        return f"error:{o.outcome.value}"
    return category


def describe_outcome(outcome: str) -> str:
    """Human words for an outcome string (used by text output and the HTML)."""
    words = {
        "mtls": "mTLS",
        "plaintext": "plaintext",
        "connected": "connected (encryption unknown)",
        "refused:reset": "refused (connection reset)",
        "refused:503": "refused (HTTP 503 from the client sidecar)",
        "refused:403": "refused (HTTP 403 RBAC: access denied)",
        "refused:tls-error": "refused (TLS error)",
        "refused:timeout": "refused (timeout)",
        "refused:connect-error": "refused (connect error)",
        "refused:http-other": "refused (other HTTP status)",
    }
    return words.get(outcome, outcome)
