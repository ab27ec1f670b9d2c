"""Suite 2: port-level mTLS. Keyed on the workload port it works; keyed on the Service port it must not apply
(istio/istio#49098); on a workload-only port it is enforced (#27994); of two policies on one workload only the
oldest applies (#48036) (port_level/cases.yaml). Plus the plan's port-level matrix, at every scope layering.
"""

from __future__ import annotations

from fixtures.cases import Check, cases
from fixtures.plugin import Conformance
from mtls_conformance.verdict import Status

SUITE = "port-level"


@cases(suite=SUITE, origin="record")
def test_port_level(check: Check, conformance: Conformance) -> None:
    verdict = conformance.run(check)
    assert verdict.status is Status.PASS, verdict.failure_message()


@cases(suite=SUITE, origin="matrix")
def test_port_level_matrix(check: Check, conformance: Conformance) -> None:
    verdict = conformance.run(check)
    assert verdict.status is Status.PASS, verdict.failure_message()
