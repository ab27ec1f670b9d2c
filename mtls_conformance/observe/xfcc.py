"""X-Forwarded-Client-Cert: parse the header a sidecar adds upstream when the downstream connection was mTLS.

Format (Envoy, https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_conn_man/headers#x-forwarded-client-cert):
elements separated by ``,`` (one per proxy hop), each a ``;``-separated list of ``Key=Value`` pairs; keys are
By, Hash, Cert, Chain, Subject, URI, DNS; a value containing ``,`` ``;`` or ``=`` is double-quoted, and a
double quote inside a quoted value is escaped with a backslash. URI and DNS may repeat.
Istio's example (https://istio.io/latest/docs/tasks/security/authentication/authn-policy/):
``By=spiffe://cluster.local/ns/foo/sa/httpbin;Hash=...;Subject="";URI=spiffe://cluster.local/ns/foo/sa/curl``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

HEADER = "X-Forwarded-Client-Cert"


class XfccSyntaxError(ValueError):
    """The header value does not follow Envoy's grammar."""


@dataclass(frozen=True)
class XfccElement:
    """One hop's client-certificate details."""

    by: tuple[str, ...] = ()  # SAN URIs of the proxy that added this element (the server's identity)
    hash: str | None = None
    subject: str | None = None
    uris: tuple[str, ...] = ()  # URI SANs of the client certificate (the client's SPIFFE ID)
    dns: tuple[str, ...] = ()
    cert: str | None = None
    chain: str | None = None

    @property
    def client_identity(self) -> str | None:
        return next((u for u in self.uris if u.startswith("spiffe://")), self.uris[0] if self.uris else None)

    @property
    def server_identity(self) -> str | None:
        return next((b for b in self.by if b.startswith("spiffe://")), self.by[0] if self.by else None)


def _split(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside double quotes (backslash escapes inside quotes)."""
    parts: list[str] = []
    buf: list[str] = []
    quoted = escaped = False
    for ch in text:
        if escaped:
            buf.append(ch)
            escaped = False
        elif quoted and ch == "\\":
            buf.append(ch)
            escaped = True
        elif ch == '"':
            buf.append(ch)
            quoted = not quoted
        elif ch == sep and not quoted:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    if quoted:
        raise XfccSyntaxError(f"unterminated quote in {text!r}")
    parts.append("".join(buf))
    return parts


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def parse_xfcc(value: str) -> tuple[XfccElement, ...]:
    """All elements of the header, in order (the last one was added by the proxy nearest the backend)."""
    elements: list[XfccElement] = []
    for raw_element in _split(value, ","):
        if not raw_element.strip():
            continue
        fields: dict[str, list[str]] = {}
        for pair in _split(raw_element, ";"):
            if not pair.strip():
                continue
            key, eq, val = pair.partition("=")
            if not eq:
                raise XfccSyntaxError(f"pair without '=': {pair!r}")
            fields.setdefault(key.strip().lower(), []).append(_unquote(val))

        def one(key: str, fields: dict[str, list[str]] = fields) -> str | None:
            vals = fields.get(key)
            return vals[-1] if vals else None

        elements.append(XfccElement(
            by=tuple(fields.get("by", ())), hash=one("hash"), subject=one("subject"), uris=tuple(fields.get("uri", ())),
            dns=tuple(fields.get("dns", ())), cert=one("cert"), chain=one("chain"),
        ))
    if not elements:
        raise XfccSyntaxError("empty header")
    return tuple(elements)


def identities(value: str) -> tuple[str | None, str | None]:
    """(client identity, server identity) as seen by the proxy nearest the backend: URI= and By= of the last element."""
    last = parse_xfcc(value)[-1]
    return last.client_identity, last.server_identity


def _from_json_headers(headers: Mapping[str, Any]) -> str | None:
    for key, val in headers.items():
        if str(key).lower() == HEADER.lower():
            if isinstance(val, list):
                return ",".join(str(v) for v in val) if val else None
            return str(val)
    return None


_TEXT_HEADER = re.compile(r"^(?:RequestHeader=)?X-Forwarded-Client-Cert\s*[:=]\s*(?P<value>.*?)\s*$", re.IGNORECASE | re.MULTILINE)


def xfcc_from_echo_body(body: bytes) -> str | None:
    """The XFCC value a header-echo backend reflected, or None when the request carried none.

    Understands httpbin's ``/headers`` JSON (``{"headers": {name: value-or-list}}``) and text echo servers
    that print one ``Name: value`` (or Istio echo's ``RequestHeader=Name:value``) per line.
    """
    text = body.decode("utf-8", errors="replace")
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        headers = doc.get("headers", doc)
        return _from_json_headers(headers) if isinstance(headers, dict) else None
    match = _TEXT_HEADER.search(text)
    return match.group("value") if match else None
