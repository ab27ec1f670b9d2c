"""Envoy SDS secrets, as ``istioctl proxy-config secret -o json`` prints them: the workload cert chain and ROOTCA.

The JSON is Envoy's ``SecretsConfigDump`` (snake_case from ``/config_dump``, camelCase from istioctl's protojson;
both are read), or the ``SecretsConfigDump.DynamicSecret`` entries ``/config_dump?resource=dynamic_active_secrets``
lists (``parse_secrets`` says which Envoy answer shapes it takes, and why). ``summary_table`` reproduces istioctl's
table byte for byte (the golden outputs in
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


ACTIVE_SECRETS = "dynamic_active_secrets"
ACTIVE_SECRETS_DUMP = f"config_dump?resource={ACTIVE_SECRETS}"  # the Envoy admin path whose answer parse_secrets reads
_STATES = {"dynamic_active_secrets": "ACTIVE", "dynamic_warming_secrets": "WARMING"}
_DUMP_FIELDS = {"@type", "static_secrets", "staticSecrets", "dynamic_active_secrets", "dynamicActiveSecrets",
                "dynamic_warming_secrets", "dynamicWarmingSecrets"}


def _describe(value: Any) -> str:
    """What a JSON value is, in a few words on one line (for an error message)."""
    if isinstance(value, Mapping):
        keys = sorted(str(k) for k in value)
        shown = ", ".join(repr(k) for k in keys[:6]) + (", ..." if len(keys) > 6 else "")
        return f"a JSON object with keys {shown}" if keys else "an empty JSON object"
    if isinstance(value, list):
        return f"a JSON array of {len(value)} item{'' if len(value) == 1 else 's'}"
    return {str: "a JSON string", bool: "a JSON boolean", type(None): "JSON null"}.get(type(value), "a JSON number")


def _type_name(config: Mapping[str, Any]) -> str:
    return str(config.get("@type", "")).rsplit("/", 1)[-1]


def _is_dump(config: Mapping[str, Any]) -> bool:
    """A SecretsConfigDump: typed as one, or (istioctl, hand-made) untyped with only its fields."""
    name = _type_name(config)
    return name.endswith(".SecretsConfigDump") if name else set(config) <= _DUMP_FIELDS


def _not_secrets(got: str) -> ValueError:
    return ValueError(f"not an Envoy secrets dump: expected a SecretsConfigDump or the SecretsConfigDump.DynamicSecret "
                      f"entries of {ACTIVE_SECRETS_DUMP}, got {got}")


def parse_secrets(doc: Mapping[str, Any], resource: str = ACTIVE_SECRETS) -> tuple[SecretItem, ...]:
    """Secrets Envoy reported: warming first, then active. Raises ValueError (one line) on any other document.

    Two shapes (Envoy admin docs, https://www.envoyproxy.io/docs/envoy/latest/operations/admin, "/config_dump" and
    "/config_dump?resource={}"): ``/config_dump`` (and istioctl) give a ConfigDump whose ``configs`` hold one
    ``envoy.admin.v3.SecretsConfigDump`` among the other dumps, or that dump alone; ``/config_dump?resource=F`` gives
    the elements of the repeated field F themselves under ``configs``, each an Any of
    ``envoy.admin.v3.SecretsConfigDump.DynamicSecret`` (envoyproxy/envoy source/server/admin/config_dump_handler.cc,
    ``addResourceToDump``: ``dump.add_configs()->PackFrom(msg)`` per element). Those entries do not say whether they
    were active or warming: ``resource`` (the F that was asked for, ``dynamic_active_secrets`` by default) does.
    Envoy omits empty repeated fields, so a proxy with no secret yet answers ``{}``: no secrets, not an error.
    """
    if not isinstance(doc, Mapping):
        raise _not_secrets(_describe(doc))
    configs = doc.get("configs")
    if configs is None:
        if not _is_dump(doc):
            raise _not_secrets(_describe(doc))
        configs = [doc]
    elif not isinstance(configs, list):
        raise _not_secrets(f"configs is {_describe(configs)}")
    warming: list[SecretItem] = []
    active: list[SecretItem] = []
    others: set[str] = set()  # the other dumps of a whole /config_dump, or what came instead of secrets
    about_secrets = False
    for cfg in configs:
        if not isinstance(cfg, Mapping):
            raise _not_secrets(f"a configs entry that is {_describe(cfg)}")
        name = _type_name(cfg)
        if name.endswith(".SecretsConfigDump.DynamicSecret"):
            state = _STATES.get(resource)
            if state is None:
                raise ValueError(f"DynamicSecret entries of resource {resource!r}: expected one of {', '.join(_STATES)}")
            (active if state == "ACTIVE" else warming).extend(_secret_items(cfg, state))
            about_secrets = True
        elif _is_dump(cfg):
            about_secrets = True
            for entry in _get(cfg, "dynamic_warming_secrets") or ():
                warming += _secret_items(entry, "WARMING")
            for entry in _get(cfg, "dynamic_active_secrets") or ():
                active += _secret_items(entry, "ACTIVE")
        else:
            others.add(name or "an entry without @type")
    if configs and not about_secrets:
        raise _not_secrets(f"configs of {', '.join(sorted(others))}")
    return tuple(warming + active)


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
