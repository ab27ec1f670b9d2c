"""The one outcome vocabulary (pure, no imports from the rest of the package).

Every layer names what a probe did with these words: the engine's expectation, the parsers' observations, the
verdict, report.json, its HTML page (which receives :func:`vocabulary` as JSON), JUnit/Allure and ``diff``.

* :class:`ProbeOutcome` - how one probe's connection ended, as the probe itself saw it (curl's exit code and the
  HTTP status). The engine predicts a refusal with the same names (:data:`PREDICTED_REFUSALS`).
* :class:`Outcome` - the whole outcome of a probe: the probe outcome plus what is known about encryption. Its values
  are the ``outcome`` strings of report.json: ``mtls``, ``plaintext``, ``connected`` (the app answered, no evidence
  could tell whether the bytes were encrypted), ``refused:<probe outcome>`` and ``error:inconclusive`` (not observed).
* :class:`Category` - an outcome without the detail of the refusal (the colours of the HTML matrix).
* :class:`Status` - a verdict: the observed outcome against the expected one.
"""

from __future__ import annotations

import enum
from typing import Any


class ProbeOutcome(enum.StrEnum):
    """How one probe attempt ended (cilium-style names; the values are contract strings in report.json)."""

    OK = "ok"  # the app answered (HTTP 2xx, or TCP echo)
    HTTP_403 = "403"  # authorization denied
    HTTP_503 = "503"  # client sidecar could not connect upstream
    HTTP_OTHER = "http-other"  # another HTTP status
    RESET = "reset"  # curl 56 (reset) or 52 (empty reply): connection refused by the server side
    TLS_ERROR = "tls-error"  # curl 35
    TIMEOUT = "timeout"  # curl 28
    CONNECT_ERROR = "connect-error"  # curl 7, 6 (refused, DNS)
    INCONCLUSIVE = "inconclusive"  # exec transport error, empty output: retry, never a verdict

    @property
    def connected(self) -> bool:
        return self is ProbeOutcome.OK

    @property
    def refused(self) -> bool:
        return self not in (ProbeOutcome.OK, ProbeOutcome.INCONCLUSIVE)


# The refusals the engine predicts (Expectation.failure); a probe can end in any ProbeOutcome.
PREDICTED_REFUSALS = (ProbeOutcome.RESET, ProbeOutcome.HTTP_503, ProbeOutcome.HTTP_403)


class Category(enum.StrEnum):
    MTLS = "mtls"
    PLAINTEXT = "plaintext"
    REFUSED = "refused"  # the app did not answer
    CONNECTED = "connected"  # the app answered; encryption unknown
    ERROR = "error"  # the suite could not observe the probe

    @property
    def words(self) -> str:
        return _CATEGORY_WORDS[self]


_CATEGORY_WORDS = {
    Category.MTLS: "mTLS",
    Category.PLAINTEXT: "plaintext",
    Category.REFUSED: "refused",
    Category.CONNECTED: "connected, encryption unknown",
    Category.ERROR: "not observed",
}

# What the engine can expect (it never expects "connected" or "not observed").
EXPECTED_CATEGORIES = (Category.MTLS, Category.PLAINTEXT, Category.REFUSED)


class Outcome(enum.StrEnum):
    """The whole outcome of one probe; the value is the ``outcome`` string of report.json."""

    MTLS = "mtls"
    PLAINTEXT = "plaintext"
    CONNECTED = "connected"
    REFUSED_RESET = "refused:reset"
    REFUSED_503 = "refused:503"
    REFUSED_403 = "refused:403"
    REFUSED_HTTP_OTHER = "refused:http-other"
    REFUSED_TLS_ERROR = "refused:tls-error"
    REFUSED_TIMEOUT = "refused:timeout"
    REFUSED_CONNECT_ERROR = "refused:connect-error"
    NOT_OBSERVED = "error:inconclusive"

    @classmethod
    def of(cls, probe: ProbeOutcome, mtls: bool | None) -> Outcome:
        """The outcome of a probe that ended in ``probe`` with encryption ``mtls`` (None: unknown)."""
        if probe is ProbeOutcome.INCONCLUSIVE:
            return cls.NOT_OBSERVED
        if probe.refused:
            return cls(f"refused:{probe.value}")
        if mtls is None:
            return cls.CONNECTED
        return cls.MTLS if mtls else cls.PLAINTEXT

    @classmethod
    def expected(cls, connect: bool, mtls: bool | None, failure: ProbeOutcome | None) -> Outcome:
        """The engine's prediction: it always knows the encryption of a connection and names every refusal."""
        if connect:
            return cls.of(ProbeOutcome.OK, bool(mtls))
        if failure is None or failure not in PREDICTED_REFUSALS:
            raise ValueError(f"an expected refusal names one of {', '.join(PREDICTED_REFUSALS)}, got {failure}")
        return cls.of(failure, None)

    @property
    def category(self) -> Category:
        return Category(self.value.partition(":")[0])

    @property
    def probe_outcome(self) -> ProbeOutcome:
        """How the probe's connection ended (``ok`` for every connected outcome)."""
        _, sep, detail = self.value.partition(":")
        return ProbeOutcome(detail) if sep else ProbeOutcome.OK

    @property
    def words(self) -> str:
        return _OUTCOME_WORDS[self]


_OUTCOME_WORDS = {
    Outcome.MTLS: "mTLS",
    Outcome.PLAINTEXT: "plaintext",
    Outcome.CONNECTED: "connected (encryption unknown)",
    Outcome.REFUSED_RESET: "refused (connection reset)",
    Outcome.REFUSED_503: "refused (HTTP 503 from the client sidecar)",
    Outcome.REFUSED_403: "refused (HTTP 403 RBAC: access denied)",
    Outcome.REFUSED_HTTP_OTHER: "refused (other HTTP status)",
    Outcome.REFUSED_TLS_ERROR: "refused (TLS error)",
    Outcome.REFUSED_TIMEOUT: "refused (timeout)",
    Outcome.REFUSED_CONNECT_ERROR: "refused (connect error)",
    Outcome.NOT_OBSERVED: "not observed (exec/transport error)",
}


def describe(outcome: str) -> str:
    """Human words for an outcome string, also one read from a report (unknown strings come back unchanged)."""
    try:
        return Outcome(outcome).words
    except ValueError:
        return outcome


class Status(enum.StrEnum):
    """A verdict. Nothing is skipped per probe: a case that cannot run is listed in the report's ``skipped``."""

    PASS = "pass"  # noqa: S105  (a verdict, not a password)
    FAIL = "fail"
    ERROR = "error"  # the suite could not observe (inconclusive after retries)

    @property
    def words(self) -> str:
        return "not observed" if self is Status.ERROR else self.value


def says(mtls: bool | None) -> str:
    """What one evidence source says about encryption."""
    return "cannot tell" if mtls is None else ("mTLS" if mtls else "plaintext")


def vocabulary() -> dict[str, Any]:
    """The vocabulary as JSON, for the HTML page's script."""
    return {
        "outcomes": {o.value: o.words for o in Outcome},
        "categories": {c.value: c.words for c in Category},
        "statuses": {s.value: s.words for s in Status},
    }
