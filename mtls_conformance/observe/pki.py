"""Certificates the suite mints itself (pure: keys and certificates in memory, nothing written or sent).

Used for the plug-in CA variant of the rotation suite (the ``cacerts`` secret layout of
https://istio.io/latest/docs/tasks/security/cert-management/plugin-ca-cert/: ``ca-cert.pem``, ``ca-key.pem``,
``root-cert.pem``, ``cert-chain.pem``) and by the self-tests to build workload certificates with SPIFFE URI SANs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: PrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _name(org: str, common_name: str | None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)]
    if common_name:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _builder(subject: x509.Name, issuer_name: x509.Name, key: ec.EllipticCurvePrivateKey, *, serial: int | None,
             not_before: dt.datetime, lifetime: dt.timedelta) -> x509.CertificateBuilder:
    """What every minted certificate shares: names, key, serial and validity."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + lifetime)
    )


def mint_ca(common_name: str, *, not_before: dt.datetime, lifetime: dt.timedelta, issuer: Issued | None = None,
            org: str = "cluster.local", serial: int | None = None) -> Issued:
    """A CA certificate: self-signed root when ``issuer`` is None, else an intermediate signed by it."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name(org, common_name)
    builder = (
        _builder(subject, issuer.cert.subject if issuer else subject, key, serial=serial, not_before=not_before, lifetime=lifetime)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False),
                       critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    signer = issuer.key if issuer else key
    return Issued(builder.sign(signer, hashes.SHA256()), key)


def mint_workload(spiffe_id: str, issuer: Issued, *, not_before: dt.datetime, lifetime: dt.timedelta, serial: int | None = None) -> Issued:
    """A workload certificate like Istio's: empty subject, the SPIFFE ID as its only (critical) URI SAN."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        _builder(x509.Name([]), issuer.cert.subject, key, serial=serial, not_before=not_before, lifetime=lifetime)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False),
                       critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(spiffe_id)]), critical=True)
    )
    return Issued(builder.sign(issuer.key, hashes.SHA256()), key)


def cacerts_bundle(*, now: dt.datetime, root_lifetime: dt.timedelta = dt.timedelta(days=3650),
                   ca_lifetime: dt.timedelta = dt.timedelta(days=365), org: str = "mtls-conformance") -> dict[str, bytes]:
    """Files of the ``cacerts`` secret: a suite-made root and an intermediate CA that istiod signs workloads with.

    ``cert-chain.pem`` is the intermediate followed by the root, as in Istio's plug-in CA task.
    """
    root = mint_ca("mtls-conformance root", not_before=now, lifetime=root_lifetime, org=org)
    ca = mint_ca("mtls-conformance intermediate", not_before=now, lifetime=ca_lifetime, issuer=root, org=org)
    return {
        "ca-cert.pem": ca.cert_pem,
        "ca-key.pem": ca.key_pem,
        "root-cert.pem": root.cert_pem,
        "cert-chain.pem": ca.cert_pem + root.cert_pem,
    }
