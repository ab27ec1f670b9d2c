"""AuthorizationPolicy evaluation for one request at the server sidecar (ALLOW/DENY on source identity, ports)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mtls_conformance.engine.model import Step
from mtls_conformance.engine.peer_auth import in_namespaces, selects
from mtls_conformance.scenario.model import IstioResource, Scenario, Workload


@dataclass(frozen=True)
class Decision:
    allowed: bool
    steps: tuple[Step, ...]


def _value_matches(pattern: str, value: str | None) -> bool:
    # Istio string matching: exact, prefix "abc*", suffix "*abc", or "*" for any non-empty value.
    if not value:
        return False
    if pattern == "*":
        return True
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    if pattern.startswith("*"):
        return value.endswith(pattern[1:])
    return value == pattern


def _any(patterns: Sequence[Any], values: Sequence[str]) -> bool:
    return any(_value_matches(str(p), v) for p in patterns for v in values)


def _source_matches(source: Mapping[str, Any], principals: tuple[str, ...], namespace: str | None) -> bool:
    namespaces = (namespace,) if namespace else ()
    # serviceAccounts use "<namespace>/<serviceaccount>", read from the mTLS principal like namespaces are.
    accounts = tuple(f"{p.split('/ns/', 1)[1].split('/sa/', 1)[0]}/{p.rsplit('/sa/', 1)[1]}" for p in principals[:1] if "/sa/" in p)
    checks = (
        ("principals", principals, True),
        ("notPrincipals", principals, False),
        ("namespaces", namespaces, True),
        ("notNamespaces", namespaces, False),
        ("serviceAccounts", accounts, True),
        ("notServiceAccounts", accounts, False),
    )
    # An empty list is an unset field in Istio's protobuf API, so it constrains nothing.
    return all(_any(source[key], value) == positive for key, value, positive in checks if source.get(key))


def _operation_matches(operation: Mapping[str, Any], port: int) -> bool:
    if operation.get("ports") and str(port) not in {str(p) for p in operation["ports"]}:
        return False
    return not (operation.get("notPorts") and str(port) in {str(p) for p in operation["notPorts"]})


def _rule_matches(rule: Mapping[str, Any] | None, principal: tuple[str, ...], namespace: str | None, port: int) -> bool:
    rule = rule or {}
    froms = rule.get("from")
    if froms is not None and not any(_source_matches((f or {}).get("source") or {}, principal, namespace) for f in froms):
        return False
    tos = rule.get("to")
    return tos is None or any(_operation_matches((t or {}).get("operation") or {}, port) for t in tos)


def _policy_matches(policy: IstioResource, principal: tuple[str, ...], namespace: str | None, port: int) -> bool:
    rules = policy.spec.get("rules")
    if not rules:
        return False  # no rules: an ALLOW policy allows nothing, a DENY policy denies nothing
    return any(_rule_matches(r, principal, namespace, port) for r in rules)


def policies_for(scenario: Scenario, workload: Workload) -> tuple[IstioResource, ...]:
    root = scenario.mesh.root_namespace
    found = []
    for ap in in_namespaces(scenario, "AuthorizationPolicy", root, workload.namespace):
        if ap.selector is None or selects(ap.selector, workload.labels):
            found.append(ap)
    return tuple(found)


def decide(scenario: Scenario, server: Workload, principal: str | None, container_port: int) -> Decision:
    policies = policies_for(scenario, server)
    if not policies:
        return Decision(True, ())
    namespace = principal.split("/ns/", 1)[1].split("/", 1)[0] if principal and "/ns/" in principal else None
    who = f"principal {principal}" if principal else "a plaintext request (no principal)"
    steps = [Step.of("authz.scope", f"{len(policies)} AuthorizationPolicy(ies) apply to {server.key}: " + ", ".join(p.ref for p in policies))]
    if principal is None:
        steps.append(Step.of("authz.plaintext-no-principal", "the request is plaintext, so it carries no principal or namespace"))
    else:
        steps.append(Step.of("authz.identity", f"the client presents {principal}"))
    # "cluster.local" in a policy's principal stands for the local trust domain (pilot/pkg/security/trustdomain/bundle.go).
    names: tuple[str, ...] = ()
    if principal:
        names = (principal,)
        local_td, _, rest = principal.partition("/")
        if local_td != "cluster.local":
            names += (f"cluster.local/{rest}",)
    deny = [p for p in policies if p.spec.get("action", "ALLOW") == "DENY"]
    allow = [p for p in policies if p.spec.get("action", "ALLOW") == "ALLOW"]
    for p in deny:
        if _policy_matches(p, names, namespace, container_port):
            steps.append(Step.of("authz.order", f"DENY {p.ref} matches {who}: denied"))
            return Decision(False, tuple(steps))
    if not allow:
        steps.append(Step.of("authz.order", f"no DENY matches {who} and there is no ALLOW policy: allowed"))
        return Decision(True, tuple(steps))
    for p in allow:
        if _policy_matches(p, names, namespace, container_port):
            steps.append(Step.of("authz.order", f"ALLOW {p.ref} matches {who}: allowed"))
            return Decision(True, tuple(steps))
    steps.append(Step.of("authz.order", f"no ALLOW policy matches {who}: denied"))
    return Decision(False, tuple(steps))
