"""Suite 6: certificate rotation. Short-lived workload certificates (SECRET_TTL via the pod annotation, in an isolated
namespace so it runs in parallel with the rest): the serial changes before expiry at about the grace ratio, the new
certificate chains to the root in istio-ca-root-cert, the SPIFFE ID stays, and continuous traffic across at least two
rotations has zero failed requests (count and longest gap reported). A plug-in CA variant chains to a suite-made root.
"""

from __future__ import annotations

from fixtures.rotation import Rotation, RotationRecord, RotationSuite

SERVER, CLIENT = "rot-ttl/httpbin", "rot-ttl/curl"

ROTATION = RotationSuite.beside(__file__, [
    RotationRecord("rotation/short-lived-certs-rotate-without-failures", "short-lived-certs.yaml", ("rotation", "identity"),
                   "SECRET_TTL 5m: two rotations under traffic", server=SERVER, client=CLIENT, secret_ttl="5m", min_rotations=2),
    RotationRecord("plugin-ca/workload-certs-chain-to-suite-root", "plugin-ca.yaml", ("rotation", "plugin-ca"),
                   "cacerts made by the suite: workload certificates chain to its root", server="rot-pluginca/httpbin",
                   client="rot-pluginca/curl", secret_ttl="5m", min_rotations=1, plugin_ca=True),
])


@ROTATION
def test_certificate_rotation(record: RotationRecord, rotation: Rotation) -> None:
    report = rotation.run(ROTATION, record)
    assert report.passed, report.describe()
