"""Envoy SDS answers for fakes: the real artefact envelopes from ../shared, with only the certificates swapped.

Envelopes, read at test time (never copied into the project):
- ``istio.secrets-config_dump.json``: a real capture, the whole ``envoy.admin.v3.SecretsConfigDump`` inside a
  ConfigDump, as ``/config_dump`` returns it (upstream istio/istio
  istioctl/pkg/writer/envoy/configdump/testdata/secret/istio/config_dump.json; commit in ../shared/istio/SOURCES.md).
- ``istio.dynamic_active_secrets.resource-filtered.DERIVED.json``: the same active entries as
  ``/config_dump?resource=dynamic_active_secrets`` lists them, each an ``Any`` of
  ``envoy.admin.v3.SecretsConfigDump.DynamicSecret`` directly under ``configs`` (a derivation, SOURCES.md "Derived").
  Envoy packs every element of the requested repeated field into its own ``configs`` entry: envoyproxy/envoy
  source/server/admin/config_dump_handler.cc ``addResourceToDump`` (``dump.add_configs()->PackFrom(msg)``) at
  be62faacf4c2a9f2b5cf370a3608aeec137b2dbb, and docs/root/operations/admin.rst "/config_dump?resource={}" at
  c8ffcdb66f01fff936943a4d91f9ba80ce461ed4 (https://www.envoyproxy.io/docs/envoy/latest/operations/admin).

Only the ``inline_bytes`` of secret ``default``'s certificate chain and of ``ROOTCA``'s trusted CA are replaced, and
only when a test needs control over serials and validity; every other field is the artefact's.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from paths import SHARED

ARTEFACTS: Path = SHARED / "istio" / "proxy-artifacts" / "istioctl-secret"
FULL = "istio.secrets-config_dump.json"
FILTERED = "istio.dynamic_active_secrets.resource-filtered.DERIVED.json"
_SECTIONS = ("static_secrets", "dynamic_active_secrets", "dynamic_warming_secrets")


@functools.cache
def _text(name: str) -> str:
    path = ARTEFACTS / name
    if not path.exists():
        raise FileNotFoundError(f"shared artefact missing: {path}")
    return path.read_text(encoding="utf-8")


def envelope(name: str) -> dict[str, Any]:
    """A fresh copy of an artefact document (``FULL`` or ``FILTERED``)."""
    doc: dict[str, Any] = json.loads(_text(name))
    return doc


def _entries(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for config in doc["configs"]:
        if str(config.get("@type", "")).endswith(".SecretsConfigDump"):
            for section in _SECTIONS:
                yield from config.get(section, ())
        else:
            yield config


def with_certificates(doc: dict[str, Any], chain_pem: bytes, root_pem: bytes | None = None) -> dict[str, Any]:
    """``doc`` (changed in place and returned) serving ``chain_pem`` as secret ``default`` and ``root_pem`` as ROOTCA."""
    swapped = set()
    for entry in _entries(doc):
        secret = entry.get("secret", {})
        if entry.get("name") == "default" and "tls_certificate" in secret:
            secret["tls_certificate"]["certificate_chain"]["inline_bytes"] = base64.b64encode(chain_pem).decode()
            swapped.add("default")
        elif entry.get("name") == "ROOTCA" and root_pem is not None and "trusted_ca" in secret.get("validation_context", {}):
            secret["validation_context"]["trusted_ca"]["inline_bytes"] = base64.b64encode(root_pem).decode()
            swapped.add("ROOTCA")
    wanted = {"default"} | ({"ROOTCA"} if root_pem is not None else set())
    if swapped != wanted:
        raise AssertionError(f"the artefact envelope no longer has secret(s) {sorted(wanted - swapped)} to swap")
    return doc


def sds_answer(admin_path: str, chain_pem: bytes, root_pem: bytes | None = None) -> dict[str, Any]:
    """What Envoy's admin ``admin_path`` returns: the filtered list for ``resource=dynamic_active_secrets``, else the dump."""
    if admin_path == "config_dump?resource=dynamic_active_secrets":
        return with_certificates(envelope(FILTERED), chain_pem, root_pem)
    if admin_path == "config_dump":
        return with_certificates(envelope(FULL), chain_pem, root_pem)
    raise AssertionError(f"no SDS artefact stands for admin path {admin_path!r}")
