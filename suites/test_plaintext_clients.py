"""Suite 4: plaintext (sidecar-less) clients. PERMISSIVE answers 200 without the client-cert header; STRICT resets
the connection (curl exit 56), as in the authn-policy task's tables; plus the plan's plaintext-client matrix.
"""

from __future__ import annotations

from fixtures.cases import Check, PlanCases, Record, ScenarioSuite
from fixtures.plugin import Conformance
from mtls_conformance.verdict import Status
from suites.matrix import matrix

SUITE = "plaintext-clients"
FEATURES = ("plaintext-client", "peer-authentication")

CASES = ScenarioSuite.beside(__file__, SUITE, [
    Record("plaintext-clients/docs-no-policy", "docs-no-policy.yaml", FEATURES, "authn-policy task setup table"),
    Record("plaintext-clients/docs-mesh-strict", "docs-mesh-strict.yaml", FEATURES, "authn-policy task, mesh-wide STRICT table"),
    Record("plaintext-clients/docs-namespace-strict", "docs-namespace-strict.yaml", FEATURES, "authn-policy task, namespace-wide STRICT table"),
    Record("plaintext-clients/docs-workload-port-level", "docs-workload-port-level.yaml", (*FEATURES, "port-level"),
           "authn-policy task, workload STRICT with port-level DISABLE table"),
])


@CASES
def test_docs_task_tables(check: Check, conformance: Conformance) -> None:
    verdict = conformance.run(check)
    assert verdict.status is Status.PASS, verdict.failure_message()


@PlanCases(SUITE, where=matrix)
def test_plaintext_client_matrix(check: Check, conformance: Conformance) -> None:
    verdict = conformance.run(check)
    assert verdict.status is Status.PASS, verdict.failure_message()
