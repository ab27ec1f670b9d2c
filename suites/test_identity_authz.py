"""Suite 5: identity and authorization. The client-cert header names the real client's SPIFFE ID; an ALLOW policy
on principals admits the listed identity and answers 403 'RBAC: access denied' to another identity and, under
PERMISSIVE, to plaintext (istio/istio#36119).
"""

from __future__ import annotations

from fixtures.cases import Check, Record, ScenarioSuite
from fixtures.plugin import Conformance
from mtls_conformance.verdict import Status

CASES = ScenarioSuite.beside(__file__, "identity-authz", [
    Record("identity/xfcc-names-client-spiffe-id", "xfcc-identity.yaml", ("identity",),
           "XFCC URI= is spiffe://cluster.local/ns/id-client/sa/id-client-sa"),
    Record("authorization/allow-principal-under-strict", "allow-principal-strict.yaml", ("authorization", "identity"),
           "ALLOW principals: listed identity 200, other identity 403"),
    Record("authorization/allow-principal-plaintext-under-permissive", "allow-principal-permissive.yaml",
           ("authorization", "plaintext-client"), "ALLOW principals under PERMISSIVE: plaintext 403",
           issue="https://github.com/istio/istio/issues/36119"),
])


@CASES
def test_identity_and_authorization(check: Check, conformance: Conformance) -> None:
    verdict = conformance.run(check)
    assert verdict.status is Status.PASS, verdict.failure_message()
