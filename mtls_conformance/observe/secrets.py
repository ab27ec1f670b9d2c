"""Envoy SDS secrets, as ``istioctl proxy-config secret -o json`` prints them: the workload cert chain and ROOTCA.

The JSON is Envoy's ``SecretsConfigDump`` (snake_case from ``/config_dump``, camelCase from istioctl's protojson;
both are read). ``summary_table`` reproduces istioctl's table byte for byte (the golden outputs in
../shared/istio/proxy-artifacts/istioctl-secret/ are compared by a test); the facts behind it, from
istioctl/pkg/writer/compare/sds (https://github.com/istio/istio/tree/master/istioctl/pkg/writer/compare/sds):
warming secrets first, then active ones; a SPIFFE validator's trust bundles give one ROOTCA row per trust
domain; the serial is printed as ``%032x``; "VALID CERT" means NotBefore < now < NotAfter of the first
certificate; the TRUST DOMAIN column appears only when every row has one; columns are padded by 5 spaces.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509


@dataclass(frozen=True)
class CertInfo:
    serial: int
    not_before: dt.datetime
    not_after: dt.datetime
    is_ca: bool
    spiffe_ids: tuple[str, ...]
    pem: bytes

    @property
    def serial_hex(self) -> str:
        return f"{self.serial:032x}"

    def valid_at(self, now: dt.datetime) -> bool:
        return self.not_before < now < self.not_after

    @property
    def spiffe_id(self) -> str | None:
        return self.spiffe_ids[0] if self.spiffe_ids else None

    @property
    def trust_domain(self) -> str | None:
        """Host of the last spiffe:// URI SAN (what istioctl shows)."""
        hosts = [u.split("/", 3)[2] for u in self.spiffe_ids]
        return hosts[-1] if hosts else None


def _pem_blocks(data: bytes) -> list[bytes]:
    return re.findall(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\s*", data, re.DOTALL)


def cert_info(pem: bytes) -> CertInfo:
    cert = x509.load_pem_x509_certificate(pem)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = tuple(u for u in san.get_values_for_type(x509.UniformResourceIdentifier) if u.startswith("spiffe://"))
    except x509.ExtensionNotFound:
        uris = ()
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    return CertInfo(cert.serial_number, cert.not_valid_before_utc, cert.not_valid_after_utc, is_ca, uris, pem)


def parse_pem_chain(data: bytes) -> tuple[CertInfo, ...]:
    """Every certificate of a PEM bundle, in order (leaf first for a cert chain)."""
    return tuple(cert_info(block) for block in _pem_blocks(data))


@dataclass(frozen=True)
class SecretItem:
    name: str
    state: str  # ACTIVE, WARMING or UNINITIALIZED
    chain: tuple[CertInfo, ...]  # empty when the secret carries no certificate
    trust_domain: str | None = None  # from the SPIFFE validator, else from the leaf's URI SAN

    @property
    def first(self) -> CertInfo | None:
        return self.chain[0] if self.chain else None

    @property
    def type(self) -> str:
        if self.first is None:
            return ""
        return "CA" if self.first.is_ca else "Cert Chain"

    def valid_at(self, now: dt.datetime) -> bool:
        return self.first is not None and self.first.valid_at(now)


def _get(obj: Mapping[str, Any], snake: str) -> Any:
    """Field by its snake_case name or its protojson camelCase name."""
    if snake in obj:
        return obj[snake]
    head, *rest = snake.split("_")
    return obj.get(head + "".join(p.capitalize() for p in rest))


def _inline(source: Mapping[str, Any] | None) -> bytes:
    if not source:
        return b""
    value = _get(source, "inline_bytes")
    return base64.b64decode(value) if value else b""


def _secret_items(entry: Mapping[str, Any], state: str) -> list[SecretItem]:
    name = str(entry.get("name", ""))
    if entry.get("version_info") == "uninitialized" and state == "ACTIVE":
        state = "UNINITIALIZED"
    secret = entry.get("secret") or {}
    chain = _inline(_get(_get(secret, "tls_certificate") or {}, "certificate_chain"))
    validation = _get(secret, "validation_context") or {}
    ca = _inline(_get(validation, "trusted_ca"))
    data = chain or ca
    if not data:
        custom = _get(validation, "custom_validator_config") or {}
        config = _get(custom, "typed_config") or {}
        if str(config.get("@type", "")).endswith("SPIFFECertValidatorConfig"):
            items = []
            for domain in _get(config, "trust_domains") or ():
                certs = parse_pem_chain(_inline(_get(domain, "trust_bundle")))
                items.append(SecretItem(name, state, certs, str(domain.get("name", "")) or None))
            return items
    certs = parse_pem_chain(data) if data else ()
    return [SecretItem(name, state, certs, certs[0].trust_domain if certs else None)]


def parse_secrets(doc: Mapping[str, Any]) -> tuple[SecretItem, ...]:
    """Secrets of a SecretsConfigDump (or a full config dump containing one): warming first, then active."""
    configs = doc.get("configs", [doc])
    items: list[SecretItem] = []
    for cfg in configs:
        if "@type" in cfg and not str(cfg["@type"]).endswith("SecretsConfigDump"):
            continue
        for entry in _get(cfg, "dynamic_warming_secrets") or ():
            items += _secret_items(entry, "WARMING")
        for entry in _get(cfg, "dynamic_active_secrets") or ():
            items += _secret_items(entry, "ACTIVE")
    return tuple(items)


def workload_secret(items: Sequence[SecretItem]) -> SecretItem | None:
    """The workload certificate chain (SDS secret ``default``)."""
    return next((i for i in items if i.name == "default" and i.chain), None)


def root_secrets(items: Sequence[SecretItem]) -> tuple[SecretItem, ...]:
    return tuple(i for i in items if i.name == "ROOTCA" and i.chain)


_COLUMNS = ("RESOURCE NAME", "TYPE", "STATUS", "VALID CERT", "SERIAL NUMBER", "NOT AFTER", "NOT BEFORE")
_PADDING = 5


def _rfc3339(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _tabulate(rows: Sequence[Sequence[str]]) -> str:
    """Like Go's text/tabwriter (padding 5, spaces): every cell but a line's last is padded to its column."""
    widths = [max(len(r[i]) for r in rows if len(r) > i + 1) + _PADDING for i in range(max(len(r) for r in rows) - 1)]
    return "".join("".join(c.ljust(widths[i]) for i, c in enumerate(r[:-1])) + r[-1] + "\n" for r in rows)


def summary_table(items: Sequence[SecretItem], now: dt.datetime) -> str:
    """``istioctl proxy-config secret POD`` as text."""
    if not items:
        return "No secret items to show.\n"
    with_domain = all(i.trust_domain for i in items)
    rows = [list(_COLUMNS) + (["TRUST DOMAIN"] if with_domain else [])]
    for i in items:
        first = i.first
        row = [i.name, i.type, i.state, "true" if i.valid_at(now) else "false",
               first.serial_hex if first else "", _rfc3339(first.not_after) if first else "", _rfc3339(first.not_before) if first else ""]
        rows.append(row + ([i.trust_domain or ""] if with_domain else []))
    return _tabulate(rows)
