"""Kubernetes and Istio name grammars the loader checks (one place, shared by workloads and Istio resources).

Label keys and values: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#syntax-and-character-set
Hosts: Istio's validation accepts a (possibly short) DNS name, optionally prefixed by '*.', or '*' alone
(pkg/config/validation, ValidateWildcardDomain).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_HOST_LABEL = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$")
_TRUST_DOMAIN = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_CONTROL_OR_SPACE = re.compile(r"[\s\x00-\x1f\x7f]")


def is_label_key(key: Any) -> bool:
    if not isinstance(key, str) or not key:
        return False
    prefix, slash, name = key.rpartition("/")
    if slash and (len(prefix) > 253 or not DNS_SUBDOMAIN.match(prefix)):
        return False
    return len(name) <= 63 and bool(_LABEL_NAME.match(name))


def is_label_value(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= 63 and bool(_LABEL_VALUE.match(value))


def bad_label(labels: Mapping[Any, Any]) -> tuple[str, str] | None:
    """The first (key, problem) that Kubernetes would reject, or None."""
    for k, v in labels.items():
        if not is_label_key(k):
            return str(k), f"{k!r} is not a valid label name"
        if not is_label_value(v):
            return str(k), f"{v!r} is not a valid label value"
    return None


def is_host(host: str) -> bool:
    if host == "*":
        return True
    body = host[2:] if host.startswith("*.") else host
    labels = body.split(".")
    return len(host) <= 255 and all(len(label) <= 63 and _HOST_LABEL.match(label) for label in labels)


def is_trust_domain(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= 255 and bool(_TRUST_DOMAIN.match(value))


def has_control_or_space(value: str) -> bool:
    return bool(_CONTROL_OR_SPACE.search(value))
