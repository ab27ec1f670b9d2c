"""Suite 3: DestinationRule x auto mTLS. The plan's matrix (DR none / without tls / DISABLE / SIMPLE / ISTIO_MUTUAL
against STRICT, PERMISSIVE, DISABLE and sidecar-less servers, at every scope layering, auto mTLS on and off) plus the
documented edges recorded in destination_rule/cases.yaml.
"""

from __future__ import annotations

from fixtures.cases import Check, cases
from fixtures.plugin import Conformance
from mtls_conformance.verdict import Status

SUITE = "destination-rule"


@cases(suite=SUITE, origin="record")
def test_destination_rule(check: Check, conformance: Conformance) -> None:
    verdict = conformance.run(check)
    assert verdict.status is Status.PASS, verdict.failure_message()


@cases(suite=SUITE, origin="matrix")
def test_destination_rule_matrix(check: Check, conformance: Conformance) -> None:
    verdict = conformance.run(check)
    assert verdict.status is Status.PASS, verdict.failure_message()
