"""Verdicts against REAL engine expectations: outcomes, the header oracle, identities, evidence disagreement,
TCP ports the header cannot judge, and the failure message (expected, observed, evidence, explanation)."""

from __future__ import annotations

import pytest

from mtls_conformance.engine.expect import expect
from mtls_conformance.engine.model import Expectation
from mtls_conformance.observe.curl import parse_probe_output
from mtls_conformance.observe.model import Evidence, ProbeObservation
from mtls_conformance.outcomes import Outcome, ProbeOutcome
from mtls_conformance.scenario.load import parse_scenario
from mtls_conformance.verdict import Status, header_evidence, judge

SCENARIO = parse_scenario("""
workloads:
  - {name: httpbin, namespace: foo, ports: [{name: http, port: 8000, targetPort: 8080}, {name: tcp, port: 9000, protocol: tcp}]}
  - {name: curl, namespace: foo, ports: []}
  - {name: curl, namespace: legacy, sidecar: false, ports: []}
config:
  - {apiVersion: security.istio.io/v1, kind: PeerAuthentication, metadata: {name: default, namespace: istio-system}, spec: {mtls: {mode: STRICT}}}
probes:
  - {from: legacy/curl, to: foo/httpbin, port: 8000}
  - {from: foo/curl, to: foo/httpbin, port: 8000}
  - {from: foo/curl, to: foo/httpbin, port: 9000}
""")
LEGACY, SIDECAR_HTTP, SIDECAR_TCP = SCENARIO.probes
CURL_ID = "spiffe://cluster.local/ns/foo/sa/curl"
XFCC = f"By=spiffe://cluster.local/ns/foo/sa/httpbin;Hash=ab;Subject=\"\";URI={CURL_ID}"


def _exp(probe_index: int) -> Expectation:
    return expect(SCENARIO, SCENARIO.probes[probe_index])


def _ok(probe_id: str, xfcc: str | None = XFCC, status: int | None = 200, client: str | None = CURL_ID) -> ProbeObservation:
    return ProbeObservation(probe_id, ProbeOutcome.OK, http_status=status, curl_exit=0, xfcc=xfcc,
                            client_identity=client if xfcc else None,
                            server_identity="spiffe://cluster.local/ns/foo/sa/httpbin" if xfcc else None)


def test_engine_expectations_used_here() -> None:
    assert not _exp(0).connect and _exp(0).failure is ProbeOutcome.RESET
    assert _exp(1).connect and _exp(1).mtls and _exp(1).client_principal == CURL_ID
    assert _exp(2).connect and _exp(2).mtls and _exp(2).protocol == "tcp"


def test_plaintext_client_reset_under_strict_passes() -> None:
    (obs,) = parse_probe_output(f"MTLSPROBE1 {LEGACY.id.encode().hex()} http 56 000 0.01 0 - - {b'Connection reset by peer'.hex()}")
    verdict = judge("strict/legacy", _exp(0), obs)
    assert verdict.status is Status.PASS and verdict.problems == () and verdict.notes == ()


def test_plaintext_client_answered_fails_with_full_message() -> None:
    verdict = judge("strict/legacy", _exp(0), _ok(LEGACY.id, xfcc=None),
                    [Evidence("metrics", False, "istio_requests_total +1 with connection_security_policy=none")])
    assert verdict.status is Status.FAIL
    assert "expected refusal (reset), but the app answered" in verdict.problems
    msg = verdict.failure_message()
    for needle in ("expected: refused (reset)", "observed: ok HTTP 200", "metrics (plaintext): istio_requests_total",
                   "xfcc (plaintext)", "engine explanation:", "1. "):
        assert needle in msg, msg
    assert all(f"[{step.rule.id}: {step.rule.source}]" in msg for step in _exp(0).steps)


def test_sidecar_http_mtls_passes_and_identity_mismatch_fails() -> None:
    verdict = judge("strict/sidecar", _exp(1), _ok(SIDECAR_HTTP.id), [Evidence("metrics", True, "mutual_tls +1")])
    assert verdict.status is Status.PASS and verdict.mtls_verified is True
    other = "spiffe://cluster.local/ns/bar/sa/curl"
    wrong = judge("strict/sidecar", _exp(1), _ok(SIDECAR_HTTP.id, xfcc=XFCC.replace(CURL_ID, other), client=other))
    assert wrong.status is Status.FAIL and f"client identity {other} != expected {CURL_ID}" in wrong.problems


def test_header_says_plaintext_where_engine_expects_mtls() -> None:
    verdict = judge("strict/sidecar", _exp(1), _ok(SIDECAR_HTTP.id, xfcc=None))
    assert verdict.status is Status.FAIL
    assert "expected mTLS, the X-Forwarded-Client-Cert header says plaintext" in verdict.problems


def test_evidence_disagreement_is_its_own_problem() -> None:
    evidence = [Evidence("metrics", False, "istio_requests_total +1 with connection_security_policy=none"),
                Evidence("capture", None, "no negative control was captured")]
    verdict = judge("strict/sidecar", _exp(1), _ok(SIDECAR_HTTP.id), evidence)
    assert verdict.status is Status.FAIL
    assert "evidence sources disagree: metrics=plaintext, xfcc=mTLS" in verdict.problems
    assert verdict.mtls_verified is None and verdict.agreement.disputed
    assert verdict.outcome is Outcome.CONNECTED  # the report does not take the header's side either
    assert "capture (cannot tell): no negative control was captured" in verdict.failure_message()


def test_two_records_of_one_source_that_disagree_are_a_disagreement() -> None:
    evidence = [Evidence("config-dump", True, "server port 8080 enforces STRICT"),
                Evidence("config-dump", False, "client cluster sends plaintext")]
    verdict = judge("strict/sidecar", _exp(1), _ok(SIDECAR_HTTP.id), evidence)
    assert "evidence sources disagree: config-dump=mTLS, config-dump=plaintext, xfcc=mTLS" in verdict.problems
    assert verdict.status is Status.FAIL and verdict.mtls_verified is None


def test_observed_outcome_uses_the_expected_vocabulary() -> None:
    assert judge("strict/sidecar", _exp(1), _ok(SIDECAR_HTTP.id)).outcome is _exp(1).outcome is Outcome.MTLS
    refused = judge("strict/legacy", _exp(0), ProbeObservation(LEGACY.id, ProbeOutcome.RESET, curl_exit=56))
    assert refused.outcome is _exp(0).outcome is Outcome.REFUSED_RESET and refused.status is Status.PASS
    lost = judge("strict/legacy", _exp(0), ProbeObservation(LEGACY.id, ProbeOutcome.INCONCLUSIVE))
    assert lost.outcome is Outcome.NOT_OBSERVED and lost.status is Status.ERROR


def test_tcp_port_header_cannot_tell() -> None:
    tcp = ProbeObservation(SIDECAR_TCP.id, ProbeOutcome.OK, curl_exit=28)
    assert header_evidence(tcp).says_mtls is None and "TCP port" in header_evidence(tcp).detail
    unverified = judge("strict/tcp", _exp(2), tcp)
    assert unverified.status is Status.PASS and unverified.mtls_verified is None and unverified.outcome is Outcome.CONNECTED
    assert unverified.notes and "encryption not verified" in unverified.notes[0]
    assert "note: encryption not verified" in unverified.failure_message()
    verified = judge("strict/tcp", _exp(2), tcp, [Evidence("config-dump", True, "virtualInbound port 9000: enforces STRICT")])
    assert verified.status is Status.PASS and verified.notes == () and verified.mtls_verified is True
    contradicted = judge("strict/tcp", _exp(2), tcp, [Evidence("capture", False, "1 flow(s) carry plaintext")])
    assert contradicted.status is Status.FAIL


@pytest.mark.parametrize("outcome", [ProbeOutcome.HTTP_503, ProbeOutcome.TIMEOUT, ProbeOutcome.CONNECT_ERROR])
def test_wrong_refusal_kind_fails(outcome: ProbeOutcome) -> None:
    verdict = judge("strict/legacy", _exp(0), ProbeObservation(LEGACY.id, outcome))
    assert verdict.status is Status.FAIL and "expected refusal 'reset'" in verdict.problems[0]


def test_inconclusive_is_an_error_not_a_verdict() -> None:
    verdict = judge("strict/legacy", _exp(0), ProbeObservation(LEGACY.id, ProbeOutcome.INCONCLUSIVE))
    assert verdict.status is Status.ERROR


def test_config_that_explains_a_refusal_is_not_a_disagreement() -> None:
    """Found by the offline dry run: a DestinationRule DISABLE client to a STRICT server is refused; the server's dump says
    mTLS and the client's says plaintext, which is why. Encryption evidence only describes an accepted connection."""
    evidence = [Evidence("config-dump", True, "server foo/httpbin port 8080 enforces STRICT"),
                Evidence("config-dump", False, "client cluster sends plaintext")]
    refused = ProbeObservation(LEGACY.id, ProbeOutcome.RESET, curl_exit=56)
    verdict = judge("strict/legacy", _exp(0), refused, evidence)
    assert verdict.status is Status.PASS, verdict.problems
    assert not any("disagree" in p for p in verdict.problems)
