"""Suite 5: identity and authorization. The client-cert header names the real client's SPIFFE ID; an ALLOW policy
on principals admits the listed identity and answers 403 'RBAC: access denied' to another identity and, under
PERMISSIVE, to plaintext (istio/istio#36119). Records: identity_authz/cases.yaml.
"""

from __future__ import annotations

from fixtures.cases import Check, cases
from fixtures.plugin import Conformance
from mtls_conformance.verdict import Status


@cases(suite="identity-authz", origin="record")
def test_identity_and_authorization(check: Check, conformance: Conformance) -> None:
    verdict = conformance.run(check)
    assert verdict.status is Status.PASS, verdict.failure_message()
