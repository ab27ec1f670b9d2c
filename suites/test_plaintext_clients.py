"""Suite 4: plaintext (sidecar-less) clients. PERMISSIVE answers 200 without the client-cert header; STRICT resets
the connection (curl exit 56), as in the authn-policy task's tables (plaintext_clients/cases.yaml); plus the plan's
single-scope plaintext-client matrix (its layered cases run with the precedence test of suite 1).
"""

from __future__ import annotations

from fixtures.cases import Check, cases
from fixtures.plugin import Conformance
from mtls_conformance.verdict import Status
from suites.matrix import single_scope

SUITE = "plaintext-clients"


@cases(suite=SUITE, origin="record")
def test_docs_task_tables(check: Check, conformance: Conformance) -> None:
    verdict = conformance.run(check)
    assert verdict.status is Status.PASS, verdict.failure_message()


@cases(suite=SUITE, origin="matrix", where=single_scope)
def test_plaintext_client_matrix(check: Check, conformance: Conformance) -> None:
    verdict = conformance.run(check)
    assert verdict.status is Status.PASS, verdict.failure_message()
