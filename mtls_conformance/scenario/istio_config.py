"""Structural checks of the Istio resources a scenario applies.

The engine only models fields whose semantics it can cite; anything else is rejected here with a
one-line fix rather than silently ignored (a silently ignored field would make a verdict wrong).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mtls_conformance.errors import InputError
from mtls_conformance.scenario.model import IstioResource, MeshConfig
from mtls_conformance.scenario.names import DNS_LABEL, DNS_SUBDOMAIN, bad_label, has_control_or_space, is_host
from mtls_conformance.scenario.traffic_policy import CHECKS as TRAFFIC_POLICY_CHECKS

ErrorFactory = Callable[[str, str, str], InputError]

API_VERSIONS: dict[str, tuple[str, ...]] = {
    "PeerAuthentication": ("security.istio.io/v1", "security.istio.io/v1beta1"),
    "AuthorizationPolicy": ("security.istio.io/v1", "security.istio.io/v1beta1"),
    "DestinationRule": ("networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"),
}
RESOURCE_KEYS = ("apiVersion", "kind", "metadata", "spec", "status")
PA_MODES = ("UNSET", "DISABLE", "PERMISSIVE", "STRICT")
DR_TLS_MODES = ("DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL")
AP_ACTIONS = ("ALLOW", "DENY")
AP_SOURCE_KEYS = ("principals", "notPrincipals", "namespaces", "notNamespaces", "serviceAccounts", "notServiceAccounts")
AP_OPERATION_KEYS = ("ports", "notPorts")
_TLS_FILE_KEYS = ("credentialName", "clientCertificate", "privateKey", "caCertificates", "caCrl", "subjectAltNames", "sni", "insecureSkipVerify")
DR_TLS_KEYS_BY_MODE: dict[str, tuple[str, ...]] = {
    # DISABLE and ISTIO_MUTUAL: istiod rejects certificate fields with ISTIO_MUTUAL; subjectAltNames would change
    # which server identities the client accepts, which the engine does not model.
    "DISABLE": ("mode",),
    "ISTIO_MUTUAL": ("mode", "sni"),
    # SIMPLE and MUTUAL fail against the suite's plaintext backends whatever the certificates (or send plaintext
    # when credentialName is dropped), so these fields cannot change an outcome.
    "SIMPLE": ("mode", *_TLS_FILE_KEYS),
    "MUTUAL": ("mode", *_TLS_FILE_KEYS),
}
TRAFFIC_POLICY_KEYS = ("tls", "portLevelSettings", "connectionPool", "outlierDetection", "loadBalancer")
PORT_POLICY_KEYS = ("port", "tls", "connectionPool", "outlierDetection", "loadBalancer")


def check_resource(err: ErrorFactory, field: str, item: Any, mesh: MeshConfig) -> IstioResource:
    if not isinstance(item, Mapping):
        raise err(field, "must be a Kubernetes object (a mapping)", "write '{apiVersion: ..., kind: ..., metadata: {...}, spec: {...}}'")
    for key in item:
        if key not in RESOURCE_KEYS:
            raise err(f"{field}.{key}", "is not a field of a Kubernetes object", "use only " + ", ".join(RESOURCE_KEYS) + " (the settings go under 'spec')")
    kind = item.get("kind")
    if not isinstance(kind, str) or kind not in API_VERSIONS:
        raise err(f"{field}.kind", f"{kind!r} is not supported", "use PeerAuthentication, DestinationRule or AuthorizationPolicy")
    api = item.get("apiVersion")
    if not isinstance(api, str) or api not in API_VERSIONS[kind]:
        raise err(f"{field}.apiVersion", f"{api!r} is not an apiVersion of {kind}", "use one of " + ", ".join(API_VERSIONS[kind]))
    meta = item.get("metadata")
    if not isinstance(meta, Mapping):
        raise err(f"{field}.metadata", "is missing", "add 'metadata: {name: ..., namespace: ...}'")
    _metadata(err, f"{field}.metadata", meta)
    name, namespace = meta.get("name"), meta.get("namespace")
    if not isinstance(name, str) or not name:
        raise err(f"{field}.metadata.name", "is missing", "give the resource a name")
    if len(name) > 253 or not DNS_SUBDOMAIN.match(name):
        raise err(f"{field}.metadata.name", f"{name!r} is not a valid Kubernetes name", "use lowercase letters, digits, '-' and '.', starting and ending alphanumeric")
    if not isinstance(namespace, str) or not namespace:
        raise err(f"{field}.metadata.namespace", "is missing", f"set the namespace explicitly (mesh-wide policies go in '{mesh.root_namespace}')")
    if len(namespace) > 63 or not DNS_LABEL.match(namespace):
        raise err(f"{field}.metadata.namespace", f"{namespace!r} is not a valid namespace name", "use lowercase letters, digits and '-', starting and ending alphanumeric")
    spec = item.get("spec", {})
    if spec is None:
        spec = {}
    if not isinstance(spec, Mapping):
        raise err(f"{field}.spec", "must be a mapping", "write 'spec: {...}'")
    checker = {"PeerAuthentication": _peer_auth, "DestinationRule": _destination_rule, "AuthorizationPolicy": _authz}[kind]
    checker(err, f"{field}.spec", spec)
    ts = meta.get("creationTimestamp")
    return IstioResource(
        api_version=api,
        kind=kind,
        name=name,
        namespace=namespace,
        spec=spec,
        created_rank=-1,
        creation_timestamp=str(ts) if ts is not None else None,
        raw=item,
    )


def _metadata(err: ErrorFactory, field: str, meta: Mapping[str, Any]) -> None:
    """Labels and annotations map strings to strings; other metadata is scalar (nothing here may hide a structure)."""
    for key, value in meta.items():
        if key in ("labels", "annotations"):
            if value is not None and (not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())):
                raise err(f"{field}.{key}", "must map names to string values", f"write '{key}: {{app: httpbin}}' (quote numbers)")
        elif isinstance(value, Mapping | list):
            raise err(f"{field}.{key}", "is not modeled by the expectation engine", "remove it; metadata needs only name, namespace (and creationTimestamp)")


def _keys(err: ErrorFactory, field: str, doc: Mapping[str, Any], allowed: tuple[str, ...], what: str) -> None:
    for key in doc:
        if key not in allowed:
            raise err(f"{field}.{key}", f"is not modeled by the expectation engine for {what}", "remove it, or use only: " + ", ".join(allowed))


def _selector(err: ErrorFactory, field: str, sel: Any) -> None:
    if sel is None:
        return
    if not isinstance(sel, Mapping):
        raise err(field, "must be a mapping", "write 'selector: {matchLabels: {app: httpbin}}'")
    _keys(err, field, sel, ("matchLabels",), "selectors")
    labels = sel.get("matchLabels")
    if labels is None:
        return
    if not isinstance(labels, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise err(f"{field}.matchLabels", "must map label names to string values", "write 'matchLabels: {app: httpbin}' (quote numbers)")
    _labels(err, f"{field}.matchLabels", labels)


def _labels(err: ErrorFactory, field: str, labels: Mapping[str, Any]) -> None:
    bad = bad_label(labels)
    if bad is not None:
        raise err(f"{field}.{bad[0]}", bad[1], "use label names and values of letters, digits, '-', '_' or '.' (at most 63 characters)")


def _mode(err: ErrorFactory, field: str, holder: Any, allowed: tuple[str, ...], default: str) -> None:
    if holder is None:
        return
    if not isinstance(holder, Mapping):
        raise err(field, "must be a mapping", f"write '{field.rsplit('.', 1)[-1]}: {{mode: {allowed[-1]}}}'")
    mode = holder.get("mode", default)
    if mode not in allowed:
        raise err(f"{field}.mode", f"{mode!r} is not a valid mode", "use one of " + ", ".join(allowed))


def _peer_auth(err: ErrorFactory, field: str, spec: Mapping[str, Any]) -> None:
    _keys(err, field, spec, ("selector", "mtls", "portLevelMtls"), "PeerAuthentication")
    _selector(err, f"{field}.selector", spec.get("selector"))
    if spec.get("mtls") is not None:
        _keys(err, f"{field}.mtls", spec["mtls"] if isinstance(spec["mtls"], Mapping) else {}, ("mode",), "PeerAuthentication mtls")
    _mode(err, f"{field}.mtls", spec.get("mtls"), PA_MODES, "UNSET")
    plm = spec.get("portLevelMtls")
    if plm is None:
        return
    if not isinstance(plm, Mapping) or not plm:
        raise err(f"{field}.portLevelMtls", "must be a non-empty mapping of container port to {mode: ...}", "write 'portLevelMtls: {8080: {mode: DISABLE}}'")
    has_selector = bool(((spec.get("selector") or {}).get("matchLabels")) or {})
    if not has_selector:
        # CRD CEL rule since 1.23 and istiod's webhook: "portLevelMtls requires selector".
        raise err(f"{field}.portLevelMtls", "portLevelMtls requires selector (Istio rejects it on mesh- and namespace-wide policies)", "add 'selector: {matchLabels: {...}}' naming the workload")
    ports: set[int] = set()
    for key, value in plm.items():
        # A YAML integer, or a string of ASCII digits (JSON keys); int() alone would accept ' 80', '+80' or non-ASCII digits.
        digits = isinstance(key, str) and key.isascii() and key.isdigit()
        if isinstance(key, bool) or not (isinstance(key, int) or digits):
            raise err(f"{field}.portLevelMtls.{key}", "is not a port number", "key port-level settings by the container (target) port, e.g. 8080")
        port = int(key)
        if not 1 <= port <= 65535:
            raise err(f"{field}.portLevelMtls.{key}", "port must be between 1-65535", "use the workload's container port")
        if port in ports:
            raise err(f"{field}.portLevelMtls.{key}", f"port {port} is listed twice", "keep one entry per port")
        ports.add(port)
        if value is None:
            raise err(f"{field}.portLevelMtls.{key}", "has no settings", "write '{mode: DISABLE}' (or STRICT, PERMISSIVE, UNSET)")
        _mode(err, f"{field}.portLevelMtls.{key}", value, PA_MODES, "UNSET")
        _keys(err, f"{field}.portLevelMtls.{key}", value, ("mode",), "PeerAuthentication portLevelMtls")


def _tls(err: ErrorFactory, field: str, tls: Any) -> None:
    if tls is None:
        return
    _mode(err, field, tls, DR_TLS_MODES, "DISABLE")
    mode = tls.get("mode", "DISABLE")
    # Fields that change nothing the engine predicts for the mode; anything else would change the outcome unseen.
    allowed = DR_TLS_KEYS_BY_MODE[mode]
    _keys(err, field, tls, allowed, f"tls mode {mode}")
    for key, value in tls.items():
        if key in ("subjectAltNames",):
            if not isinstance(value, list) or not all(isinstance(v, str) and v and not has_control_or_space(v) for v in value):
                raise err(f"{field}.{key}", "must be a list of non-empty strings without spaces", f"write '{key}: [\"...\"]'")
        elif key == "insecureSkipVerify":
            if not isinstance(value, bool):
                raise err(f"{field}.{key}", "must be true or false", f"write '{key}: true'")
        elif key != "mode" and (not isinstance(value, str) or has_control_or_space(value)):
            raise err(f"{field}.{key}", "must be a string without spaces or control characters", f"quote the value of {key}")
    has_certs = bool(tls.get("clientCertificate")) and bool(tls.get("privateKey"))
    if tls.get("credentialName") and any(tls.get(k) for k in ("clientCertificate", "privateKey", "caCertificates", "caCrl")):
        # istiod's validation webhook (pkg/config/validation, validateTLS)
        raise err(f"{field}.credentialName", "cannot be combined with client certificates or a CA certificate", "use either credentialName or the file fields")
    if mode == "MUTUAL" and not has_certs and not tls.get("credentialName"):
        missing = "clientCertificate" if not tls.get("clientCertificate") else "privateKey"
        raise err(f"{field}.{missing}", "is required for mutual tls (Istio rejects MUTUAL without client certificate and private key)",
                  "set clientCertificate and privateKey, or credentialName (with a workloadSelector), or use ISTIO_MUTUAL")


def _traffic_policy(err: ErrorFactory, field: str, tp: Any, top_level: bool) -> None:
    if not isinstance(tp, Mapping):
        raise err(field, "must be a mapping", "write 'trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}'")
    allowed = TRAFFIC_POLICY_KEYS if top_level else PORT_POLICY_KEYS
    _keys(err, field, tp, allowed, "DestinationRule traffic policies")
    for key, check in TRAFFIC_POLICY_CHECKS.items():
        if tp.get(key) is not None:
            check(err, f"{field}.{key}", tp[key])
    lb = tp.get("loadBalancer") or {}
    if lb.get("simple") == "PASSTHROUGH":
        # PASSTHROUGH makes auto mTLS treat the Service like a headless one (push_context.go BestEffortInferServiceMTLSMode).
        raise err(f"{field}.loadBalancer.simple", "PASSTHROUGH is not modeled by the expectation engine", "remove it, or use another load balancer")
    _tls(err, f"{field}.tls", tp.get("tls"))


def _destination_rule(err: ErrorFactory, field: str, spec: Mapping[str, Any]) -> None:
    _keys(err, field, spec, ("host", "trafficPolicy", "subsets", "exportTo", "workloadSelector"), "DestinationRule")
    host = spec.get("host")
    if not isinstance(host, str) or not host:
        raise err(f"{field}.host", "is missing", "name the Service, e.g. 'host: httpbin.foo.svc.cluster.local'")
    if not is_host(host):
        raise err(f"{field}.host", f"{host!r} is not a host name", "use a Service name ('httpbin'), an FQDN ('httpbin.foo.svc.cluster.local') or a wildcard ('*.foo.svc.cluster.local')")
    _selector(err, f"{field}.workloadSelector", spec.get("workloadSelector"))
    export = spec.get("exportTo")
    if export is not None and (not isinstance(export, list) or not all(isinstance(e, str) for e in export)):
        raise err(f"{field}.exportTo", "must be a list of namespaces", "write 'exportTo: [\".\"]' or '[\"*\"]'")
    for i, e in enumerate(export or []):
        if e not in (".", "*", "~") and not DNS_LABEL.match(e):
            raise err(f"{field}.exportTo[{i}]", f"{e!r} is not a namespace, '.', '*' or '~'", "list namespace names, '.' (this namespace) or '*' (all)")
    _subsets(err, f"{field}.subsets", spec.get("subsets"))
    tp = spec.get("trafficPolicy")
    if tp is not None:
        _traffic_policy_tree(err, f"{field}.trafficPolicy", tp)


def _traffic_policy_tree(err: ErrorFactory, field: str, tp: Any) -> None:
    _traffic_policy(err, field, tp, top_level=True)
    pls = tp.get("portLevelSettings")
    if pls is None:
        return
    if not isinstance(pls, list):
        raise err(f"{field}.portLevelSettings", "must be a list", "write 'portLevelSettings: [{port: {number: 8000}, tls: {mode: DISABLE}}]'")
    seen: set[int] = set()
    for i, entry in enumerate(pls):
        ef = f"{field}.portLevelSettings[{i}]"
        if not isinstance(entry, Mapping):
            raise err(ef, "must be a mapping", "write '{port: {number: 8000}, tls: {mode: DISABLE}}'")
        port = entry.get("port")
        if isinstance(port, Mapping):
            _keys(err, f"{ef}.port", port, ("number",), "DestinationRule port selectors")
        number = port.get("number") if isinstance(port, Mapping) else None
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= 65535:
            raise err(f"{ef}.port.number", "must be a Service port number", "key DestinationRule port-level settings by the Service port, e.g. 'port: {number: 8000}'")
        if number in seen:
            raise err(f"{ef}.port.number", f"port {number} has two entries", "merge the settings of a port into one entry")
        seen.add(number)
        _traffic_policy(err, ef, entry, top_level=False)


def _subsets(err: ErrorFactory, field: str, subsets: Any) -> None:
    # Probes address Services, never subsets (no VirtualService), so subset policies cannot change an outcome.
    if subsets is None:
        return
    if not isinstance(subsets, list):
        raise err(field, "must be a list", "write 'subsets: [{name: v1, labels: {version: v1}}]'")
    for i, sub in enumerate(subsets):
        if not isinstance(sub, Mapping):
            raise err(f"{field}[{i}]", "must be a mapping", "write '{name: v1, labels: {version: v1}}'")
        _keys(err, f"{field}[{i}]", sub, ("name", "labels", "trafficPolicy"), "DestinationRule subsets")
        name = sub.get("name")
        if not isinstance(name, str) or not name:
            raise err(f"{field}[{i}].name", "is missing", "name the subset, e.g. 'name: v1'")
        if len(name) > 63 or not DNS_LABEL.match(name):
            # istiod's validation webhook (validateSubset): a subset name is a DNS-1123 label.
            raise err(f"{field}[{i}].name", f"{name!r} is not a valid subset name", "use lowercase letters, digits and '-', e.g. 'v1'")
        labels = sub.get("labels")
        if labels is not None:
            if not isinstance(labels, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
                raise err(f"{field}[{i}].labels", "must map label names to string values", "write 'labels: {version: v1}' (quote numbers)")
            _labels(err, f"{field}[{i}].labels", labels)
        if sub.get("trafficPolicy") is not None:
            _traffic_policy_tree(err, f"{field}[{i}].trafficPolicy", sub["trafficPolicy"])


def _authz(err: ErrorFactory, field: str, spec: Mapping[str, Any]) -> None:
    _keys(err, field, spec, ("selector", "action", "rules"), "AuthorizationPolicy")
    _selector(err, f"{field}.selector", spec.get("selector"))
    action = spec.get("action", "ALLOW")
    if action not in AP_ACTIONS:
        raise err(f"{field}.action", f"{action!r} is not modeled by the engine", "use ALLOW or DENY")
    rules = spec.get("rules")
    if rules is None:
        return
    if not isinstance(rules, list):
        raise err(f"{field}.rules", "must be a list", "write 'rules: [{from: [{source: {principals: [...]}}]}]'")
    for i, raw_rule in enumerate(rules):
        rf = f"{field}.rules[{i}]"
        rule = {} if raw_rule is None else raw_rule
        if not isinstance(rule, Mapping):
            raise err(rf, "must be a mapping", "write '{from: [{source: {...}}]}'")
        _keys(err, rf, rule, ("from", "to"), "authorization rules")
        for part, inner, allowed in (("from", "source", AP_SOURCE_KEYS), ("to", "operation", AP_OPERATION_KEYS)):
            entries = rule.get(part)
            if entries is None:
                continue
            if not isinstance(entries, list):
                raise err(f"{rf}.{part}", "must be a list", f"write '{part}: [{{{inner}: {{...}}}}]'")
            if not entries:
                # istiod's validation webhook: "`from` must not be empty" / "`to` must not be empty"
                raise err(f"{rf}.{part}", "must not be empty", f"remove '{part}:' to match any {inner}, or list at least one")
            for j, entry in enumerate(entries):
                _authz_entry(err, f"{rf}.{part}[{j}]", entry, inner=inner, allowed=allowed, part=part)


def _authz_entry(err: ErrorFactory, ef: str, entry: Any, *, inner: str, allowed: tuple[str, ...], part: str) -> None:
    if not isinstance(entry, Mapping):
        raise err(ef, "must be a mapping", f"write '{{{inner}: {{...}}}}'")
    _keys(err, ef, entry, (inner,), "authorization rules")
    body = entry.get(inner)
    if not isinstance(body, Mapping):
        raise err(f"{ef}.{inner}", "must be a mapping" if body is not None else "is missing", f"write '{inner}: {{...}}' (see the AuthorizationPolicy reference)")
    _keys(err, f"{ef}.{inner}", body, allowed, f"{part}.{inner}")
    for key, values in body.items():
        if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
            raise err(f"{ef}.{inner}.{key}", "must be a list of non-empty strings", f"write '{key}: [\"...\"]' (quote port numbers)")
        spaced = next((v for v in values if has_control_or_space(v)), None)
        if spaced is not None:
            raise err(f"{ef}.{inner}.{key}", f"{spaced!r} contains whitespace or control characters, so it can never match", "remove the spaces (e.g. 'cluster.local/ns/foo/sa/curl')")
        if key in ("ports", "notPorts"):
            for v in values:
                if not v.isdigit() or not 1 <= int(v) <= 65535:
                    raise err(f"{ef}.{inner}.{key}", f"{v!r} is not a port number", "use quoted port numbers from 1 to 65535, e.g. [\"8080\"]")
    accounts = [k for k in ("serviceAccounts", "notServiceAccounts") if body.get(k)]
    if accounts:
        identity = [k for k in ("principals", "notPrincipals", "namespaces", "notNamespaces") if body.get(k)]
        if identity:
            # AuthorizationPolicy reference: serviceAccounts cannot be combined with principals or namespaces.
            raise err(f"{ef}.{inner}.{accounts[0]}", f"cannot be combined with {identity[0]}", "use either serviceAccounts or principals/namespaces in one source")
        for v in (v for k in accounts for v in body[k]):
            if "/" not in v:
                raise err(f"{ef}.{inner}.{accounts[0]}", f"{v!r} (a service account without a namespace) is not modeled by the expectation engine",
                          "write '<namespace>/<serviceaccount>', e.g. 'foo/curl'")
            if v.count("/") != 1 or not all(v.split("/")):
                raise err(f"{ef}.{inner}.{accounts[0]}", f"{v!r} is not '<namespace>/<serviceaccount>'", "write e.g. 'serviceAccounts: [\"foo/curl\"]'")
    if not any(body.values()):
        # istiod's validation webhook: "`from.source` must not be empty" (likewise to.operation)
        raise err(f"{ef}.{inner}", "must not be empty", f"set at least one of {', '.join(allowed)}")
