"""Small builders of Istio resources for the engine's self-tests (plain dicts, as a scenario file holds them)."""

from __future__ import annotations

from typing import Any


def pa(name: str, ns: str, mode: str | None = None, selector: dict[str, str] | None = None,
       port_level: dict[int, str | None] | None = None, created: str | None = None,
       api: str = "security.istio.io/v1") -> dict[str, Any]:
    """A PeerAuthentication; a port-level value of None is an entry without a mode (UNSET)."""
    spec: dict[str, Any] = {}
    if selector is not None:
        spec["selector"] = {"matchLabels": selector}
    if mode:
        spec["mtls"] = {"mode": mode}
    if port_level:
        spec["portLevelMtls"] = {p: ({"mode": m} if m else {}) for p, m in port_level.items()}
    meta: dict[str, Any] = {"name": name, "namespace": ns}
    if created:
        meta["creationTimestamp"] = created
    return {"apiVersion": api, "kind": "PeerAuthentication", "metadata": meta, "spec": spec}
