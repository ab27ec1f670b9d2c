"""Suite 3: DestinationRule x auto mTLS. The plan's matrix (DR none / without tls / DISABLE / SIMPLE / ISTIO_MUTUAL
against STRICT, PERMISSIVE, DISABLE and sidecar-less servers, auto mTLS on and off) plus the documented edges.
"""

from __future__ import annotations

from fixtures.cases import Check, PlanCases, Record, ScenarioSuite
from fixtures.plugin import Conformance
from mtls_conformance.verdict import Status
from suites.matrix import matrix

SUITE = "destination-rule"

CASES = ScenarioSuite.beside(__file__, SUITE, [
    Record("destination-rule/disable-cannot-bypass-strict", "disable-vs-strict.yaml", ("destination-rule", "peer-authentication"),
           "DR tls DISABLE to a STRICT server: HTTP 503 from the client sidecar, TCP connection closed"),
    Record("destination-rule/istio-mutual-to-sidecarless-fails", "istio-mutual-no-sidecar.yaml", ("destination-rule",),
           "DR ISTIO_MUTUAL to a server without a sidecar fails; a plaintext client still gets through"),
    Record("destination-rule/without-tls-keeps-auto-mtls", "without-tls.yaml", ("destination-rule", "auto-mtls"),
           "a trafficPolicy without tls does not turn auto mTLS off"),
    Record("auto-mtls/off-sends-plaintext", "auto-mtls-off.yaml", ("auto-mtls",),
           "enableAutoMtls false: plaintext to PERMISSIVE answers, STRICT refuses"),
])


@CASES
def test_destination_rule(check: Check, conformance: Conformance) -> None:
    verdict = conformance.run(check)
    assert verdict.status is Status.PASS, verdict.failure_message()


@PlanCases(SUITE, where=matrix)
def test_destination_rule_matrix(check: Check, conformance: Conformance) -> None:
    verdict = conformance.run(check)
    assert verdict.status is Status.PASS, verdict.failure_message()
