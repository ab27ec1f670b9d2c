"""Fixtures built from certificates the tests mint (no real capture of Envoy's /certs exists upstream)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cryptography import x509

from mtls_conformance.observe.pki import Issued


def envoy_certs_document(chain: list[Issued], roots: list[Issued], now: dt.datetime) -> dict[str, Any]:
    """An Envoy admin /certs document (envoy.admin.v3.Certificates, protojson) for one SDS cert chain and root."""
    def detail(issued: Issued, path: str) -> dict[str, Any]:
        cert = issued.cert
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            sans = [{"uri": u} for u in san.get_values_for_type(x509.UniformResourceIdentifier)]
        except x509.ExtensionNotFound:
            sans = []
        return {
            "path": path,
            "serial_number": format(cert.serial_number, "x"),
            "subject_alt_names": sans,
            "days_until_expiration": str(max(0, (cert.not_valid_after_utc - now).days)),
            "valid_from": cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "expiration_time": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    return {"certificates": [{
        "ca_cert": [detail(r, "ROOTCA") for r in roots],
        "cert_chain": [detail(c, "default") for c in chain],
    }]}
