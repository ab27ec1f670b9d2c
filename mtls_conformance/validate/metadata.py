"""The checks the Kubernetes API server makes of every object's metadata (names, labels, annotations)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def _key_ok(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return False
    return 0 < len(name) <= 63 and bool(_LABEL_NAME.match(name))


def metadata_violations(obj: Mapping[str, Any], namespaced: bool) -> Iterator[str]:
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping):
        yield "metadata: Required value"
        return
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        yield "metadata.name: Required value: name is required"
    elif len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        yield f'metadata.name: Invalid value: "{name}": must be a lowercase RFC 1123 subdomain'
    namespace = meta.get("namespace")
    if namespaced and namespace is not None and (not isinstance(namespace, str) or len(namespace) > 63 or not _DNS_LABEL.match(namespace)):
        yield f'metadata.namespace: Invalid value: "{namespace}": must be a lowercase RFC 1123 label'
    for key, value in (meta.get("labels") or {}).items():
        if not _key_ok(str(key)):
            yield f'metadata.labels: Invalid value: "{key}": name part must be at most 63 valid characters'
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            yield f'metadata.labels: Invalid value: "{value}": a valid label must be at most 63 characters of [A-Za-z0-9-_.]'
    for key, value in (meta.get("annotations") or {}).items():
        if not _key_ok(str(key)):
            yield f'metadata.annotations: Invalid value: "{key}": name part must be at most 63 valid characters'
        if not isinstance(value, str):
            yield f"metadata.annotations.{key}: Invalid value: annotation values must be strings"
