"""Suite 6: certificate rotation. Short-lived workload certificates (SECRET_TTL via the pod annotation, in an isolated
namespace so it runs in parallel with the rest): the serial changes before expiry at about the grace ratio, the new
certificate chains to the root in istio-ca-root-cert, the SPIFFE ID stays, and continuous traffic across at least two
rotations has zero failed requests (count and longest gap reported). A plug-in CA variant chains to a suite-made root.
Records: rotation/cases.yaml.
"""

from __future__ import annotations

from fixtures.cases import Check, cases
from fixtures.rotation import Rotation
from mtls_conformance.verdict import Status


@cases(suite="rotation", origin="rotation")
def test_certificate_rotation(check: Check, rotation: Rotation) -> None:
    verdict = rotation.check(check.case)
    assert verdict.status is Status.PASS, verdict.failure_message()
