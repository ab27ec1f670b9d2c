"""Envoy admin ``/certs`` (what ``pilot-agent request GET certs`` returns inside istio-proxy).

Schema ``envoy.admin.v3.Certificates`` (https://www.envoyproxy.io/docs/envoy/latest/api-v3/admin/v3/certs.proto):
``certificates[]`` each with ``ca_cert[]`` and ``cert_chain[]`` of CertificateDetails: ``path``,
``serial_number`` (hex), ``subject_alt_names[]`` (``uri``/``dns``/``ip_address``), ``days_until_expiration``
(uint64, a JSON string in protojson), ``valid_from``, ``expiration_time`` (RFC 3339). No real capture of this
output exists upstream; the self-tests use documents built from certificates they mint.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EnvoyCert:
    section: str  # "cert_chain" or "ca_cert"
    path: str  # e.g. "default" / "ROOTCA" for SDS secrets
    serial: int
    uris: tuple[str, ...]
    dns: tuple[str, ...]
    valid_from: dt.datetime | None
    expiration: dt.datetime | None
    days_until_expiration: int | None

    @property
    def spiffe_id(self) -> str | None:
        return next((u for u in self.uris if u.startswith("spiffe://")), None)


def _time(value: Any) -> dt.datetime | None:
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(p.capitalize() for p in rest)


def _field(obj: Mapping[str, Any], snake: str) -> Any:
    return obj[snake] if snake in obj else obj.get(_camel(snake))


def parse_certs(doc: Mapping[str, Any]) -> tuple[EnvoyCert, ...]:
    """Every certificate Envoy has loaded, workload chains and CA certificates, in document order."""
    result: list[EnvoyCert] = []
    for group in _field(doc, "certificates") or ():
        for section in ("cert_chain", "ca_cert"):
            for detail in _field(group, section) or ():
                sans = _field(detail, "subject_alt_names") or ()
                days = _field(detail, "days_until_expiration")
                result.append(EnvoyCert(
                    section=section, path=str(detail.get("path", "")), serial=int(str(_field(detail, "serial_number") or "0"), 16),
                    uris=tuple(str(s["uri"]) for s in sans if "uri" in s), dns=tuple(str(s["dns"]) for s in sans if "dns" in s),
                    valid_from=_time(_field(detail, "valid_from")), expiration=_time(_field(detail, "expiration_time")),
                    days_until_expiration=int(days) if days is not None else None,
                ))
    return tuple(result)


def workload_certs(doc: Mapping[str, Any]) -> tuple[EnvoyCert, ...]:
    """Leaf certificates carrying a SPIFFE ID (the workload identity Envoy presents)."""
    return tuple(c for c in parse_certs(doc) if c.section == "cert_chain" and c.spiffe_id)
