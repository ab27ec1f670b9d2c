"""Suite 2: port-level mTLS. Keyed on the workload port it works; keyed on the Service port it must not apply
(istio/istio#49098); on a workload-only port it is enforced (#27994); of two policies on one workload only the
oldest applies (#48036). Plus the plan's port-level matrix cases.
"""

from __future__ import annotations

from fixtures.cases import Check, PlanCases, Record, ScenarioSuite
from fixtures.plugin import Conformance
from mtls_conformance.verdict import Status
from suites.matrix import matrix

SUITE = "port-level"
FEATURES = ("peer-authentication", "port-level")

CASES = ScenarioSuite.beside(__file__, SUITE, [
    Record("port-level/workload-port-disable", "workload-port.yaml", FEATURES,
           "portLevelMtls on the container port 8080 turns that port to DISABLE; the other port stays STRICT"),
    Record("port-level/service-port-key-ignored", "service-port.yaml", FEATURES,
           "portLevelMtls keyed on the Service port 8000 has no effect", issue="https://github.com/istio/istio/issues/49098"),
    Record("port-level/workload-only-port", "workload-only-port.yaml", FEATURES,
           "portLevelMtls on a port no Service exposes is enforced", issue="https://github.com/istio/istio/issues/27994"),
    Record("port-level/two-policies-oldest-wins", "two-policies.yaml", FEATURES,
           "two workload policies on one workload: only the oldest one's port-level settings apply",
           issue="https://github.com/istio/istio/issues/48036"),
])


@CASES
def test_port_level(check: Check, conformance: Conformance) -> None:
    verdict = conformance.run(check)
    assert verdict.status is Status.PASS, verdict.failure_message()


@PlanCases(SUITE, where=matrix)
def test_port_level_matrix(check: Check, conformance: Conformance) -> None:
    verdict = conformance.run(check)
    assert verdict.status is Status.PASS, verdict.failure_message()
