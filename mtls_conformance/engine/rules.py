"""Every rule the expectation engine applies, with the Istio source that defines it.

A verdict cites rules by id; ``explain`` and the report print ``says`` and ``source``. Where Istio's docs
and its code/tests disagree, the rule follows code/tests and ``contradiction`` records the disagreement.
"""

from __future__ import annotations

from dataclasses import dataclass

DOCS = "https://istio.io/latest/docs"
API_PA = f"{DOCS}/reference/config/security/peer_authentication/"
API_DR = f"{DOCS}/reference/config/networking/destination-rule/"
API_AP = f"{DOCS}/reference/config/security/authorization-policy/"
CONCEPTS = f"{DOCS}/concepts/security/"
AUTHN_TASK = f"{DOCS}/tasks/security/authentication/authn-policy/"
MIGRATION_TASK = f"{DOCS}/tasks/security/authentication/mtls-migration/"
TLS_CONFIG = f"{DOCS}/ops/configuration/traffic-management/tls-configuration/"
NETWORK_ISSUES = f"{DOCS}/ops/common-problems/network-issues/#503-errors-after-setting-destination-rule"
MESH_CONFIG = f"{DOCS}/reference/config/istio.mesh.v1alpha1/"
GH = "https://github.com/istio/istio/blob/master"


@dataclass(frozen=True)
class Rule:
    id: str
    says: str
    source: str
    contradiction: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "says": self.says, "source": self.source}


_RULES = [
    # --- PeerAuthentication: which policy applies ---------------------------------------------------
    Rule("pa.default-permissive",
         "With no PeerAuthentication in effect (or only UNSET), a sidecar accepts both mTLS and plaintext (PERMISSIVE).",
         CONCEPTS + "#peer-authentication"),
    Rule("pa.scopes",
         "A policy in the root namespace without selector is mesh-wide; in another namespace without selector it is "
         "namespace-wide; with a non-empty selector it is workload-specific.",
         CONCEPTS + "#selector-field"),
    Rule("pa.narrowest-wins",
         "The narrowest matching policy applies: workload-specific, then namespace-wide, then mesh-wide; "
         "strictness plays no part (so mesh STRICT + workload PERMISSIVE accepts plaintext).",
         CONCEPTS + "#selector-field",
         contradiction="A widely read blog post claims 'the most restrictive policy applies'; Istio's docs and "
                       "ComposePeerAuthentication (pilot/pkg/security/authn/policy_applier.go) say the narrowest wins."),
    Rule("pa.unset-inherits",
         "Mode UNSET (or no mtls field) inherits the parent scope's mode; at mesh level it means PERMISSIVE.",
         API_PA + "#PeerAuthentication-MutualTLS-Mode"),
    Rule("pa.oldest-wins",
         "Of several mesh-wide, namespace-wide, or workload policies matching the same workload, the oldest applies; "
         "equal creation times are ordered by name, then namespace.",
         CONCEPTS + "#peer-authentication",
         contradiction="The concepts page speaks only of ignoring newer policies; the tie-break by name then namespace "
                       "comes from the creation-time comparator in pilot/pkg/model/config.go."),
    Rule("pa.root-selector-ignored",
         "A PeerAuthentication with a workload selector in the root namespace is ignored.",
         API_PA + "#PeerAuthentication",
         contradiction="The same reference's selector field comment says root-namespace selectors match workloads in "
                       "all namespaces; the note (istio/api#3604) and ComposePeerAuthentication say ignored."),
    Rule("pa.port-level-target-port",
         "portLevelMtls applies only with a selector and is keyed on the workload (container/target) port, not the "
         "Service port; a key equal only to a Service port has no effect.",
         API_PA + "#PeerAuthentication",
         contradiction="Users key it on the Service port and see it ignored (istio/istio#49098)."),
    Rule("pa.port-level-unset-inherits",
         "A port-level UNSET takes the workload's composed mode.",
         f"{GH}/pilot/pkg/security/authn/policy_applier.go"),
    Rule("pa.port-level-workload-only-port",
         "Port-level modes are enforced on container ports that no Service exposes (pass-through filter chains).",
         f"{GH}/tests/integration/security/pass_through_filter_chain_test.go",
         contradiction="The authn-policy task says portLevelMtls is ignored for ports not bound to a Service; the 1.9 "
                       "upgrade notes and the pass-through filter-chain integration test say it is enforced."),
    # --- Server: what a mode accepts -----------------------------------------------------------------
    Rule("server.strict",
         "STRICT accepts only Istio mTLS; a plaintext connection is reset (curl exit 56, '000').",
         AUTHN_TASK + "#globally-enabling-istio-mutual-tls-in-strict-mode"),
    Rule("server.permissive",
         "PERMISSIVE accepts Istio mTLS and plaintext.",
         CONCEPTS + "#peer-authentication"),
    Rule("server.disable",
         "DISABLE accepts plaintext only; TLS sent to it fails.",
         TLS_CONFIG,
         contradiction="No page says what happens to mTLS sent to a DISABLE port. Code/tests: the sidecar does not "
                       "terminate it but hands the TLS bytes to the plaintext app (peer_authentication_simulation_test.go "
                       "'tls on plaintext port'), so the call fails; pass_through_filter_chain_test.go expects "
                       "mtlsSucceeds=false for DISABLE."),
    Rule("server.no-sidecar",
         "A server without a sidecar speaks only its application's plaintext protocol; TLS originated to it fails.",
         "https://github.com/istio/istio/blob/master/tests/integration/security/reachability_test.go"),
    Rule("server.app-plaintext",
         "The suite's backends speak plaintext: TLS without Istio's mTLS ALPN (SIMPLE, MUTUAL) is handed to the app on "
         "a PERMISSIVE port, to the plaintext chain on DISABLE, and refused on STRICT, so it fails everywhere.",
         f"{GH}/pilot/pkg/networking/core/filterchain_options.go"),
    # --- Client: what the client sends ----------------------------------------------------------------
    Rule("client.no-sidecar",
         "A client without a sidecar sends plaintext.",
         AUTHN_TASK + "#auto-mutual-tls"),
    Rule("client.dr-lookup",
         "A sidecar looks up the DestinationRule for the host in its own namespace, then in the Service's namespace, "
         "then in the root namespace, taking the most specific host match in each; outside the client's namespace only "
         "rules exported to it (exportTo) count; a rule with a workloadSelector binds only the selected clients of its "
         "own namespace and, once it is the most specific match there, no other namespace is consulted.",
         f"{GH}/pilot/pkg/model/push_context.go",
         contradiction="The best-practices page describes only the namespace order; exportTo filtering and the "
                       "workloadSelector shadowing come from push_context.go and sidecar.go."),
    Rule("client.dr-merge",
         "DestinationRules for the same host in the same namespace (no selector, or identical selectors) are merged: "
         "the oldest rule's top-level trafficPolicy is kept and a newer one fills it only when the oldest has none.",
         f"{GH}/pilot/pkg/model/destination_rule.go"),
    Rule("client.dr-credential-name-ignored",
         "On a sidecar, SIMPLE or MUTUAL with credentialName is honoured only when the DestinationRule has a "
         "workloadSelector; without one the cluster gets no TLS context and the sidecar sends plaintext.",
         API_DR + "#ClientTLSSettings",
         contradiction="The reference says only that the field applies at gateways; buildUpstreamClusterTLSContext "
                       "(pilot/pkg/networking/core/cluster_tls.go) drops the whole TLS context, so plaintext is sent."),
    Rule("client.dr-tls-wins",
         "When the DestinationRule has ClientTLSSettings for the port, they are always used instead of auto mTLS: "
         "DISABLE sends plaintext, SIMPLE TLS, MUTUAL TLS with the given certificates, ISTIO_MUTUAL Istio mTLS.",
         MESH_CONFIG + "#MeshConfig-enable_auto_mtls"),
    Rule("client.dr-port-level",
         "DestinationRule portLevelSettings are keyed on the Service port and replace the top-level tls for that "
         "port (an entry without tls leaves the port's cluster on auto mTLS).",
         API_DR + "#TrafficPolicy-PortTrafficPolicy"),
    Rule("client.dr-port-level-fallback",
         "For a port-level entry without tls, the per-endpoint mTLS decision falls back to the DestinationRule's "
         "top-level tls mode: ISTIO_MUTUAL keeps mTLS to sidecar endpoints, any other mode sends plaintext.",
         f"{GH}/pilot/pkg/xds/endpoints/mtls_checker.go"),
    Rule("client.dr-without-tls",
         "A DestinationRule whose trafficPolicy has no tls does not turn auto mTLS off.",
         MESH_CONFIG + "#MeshConfig-enable_auto_mtls"),
    Rule("client.auto-mtls",
         "With auto mTLS and no DestinationRule TLS, the sidecar sends Istio mTLS to endpoints that have a sidecar and "
         "whose effective mode for the target port is not DISABLE, and plaintext to the others.",
         f"{GH}/pilot/pkg/xds/endpoints/mtls_checker.go"),
    Rule("client.auto-mtls-service-disable",
         "When the destination's namespace-level (or, failing that, mesh-level) mode is DISABLE, auto mTLS sends "
         "plaintext to the whole Service (workload and port-level policies are not consulted).",
         f"{GH}/pilot/pkg/model/push_context.go"),
    Rule("client.auto-mtls-off",
         "With enableAutoMtls false and no DestinationRule TLS, the sidecar sends plaintext.",
         MESH_CONFIG + "#MeshConfig-enable_auto_mtls",
         contradiction="The network-issues page says the mode 'defaults to DISABLE'; that holds only with auto mTLS off."),
    Rule("client.headless",
         "For a headless Service auto mTLS is all-or-nothing: mTLS if every instance has a sidecar (and the "
         "namespace/mesh mode is not DISABLE), plaintext otherwise; workload/port-level DISABLE is invisible to clients.",
         f"{GH}/pilot/pkg/model/push_context.go"),
    Rule("client.pod-ip-passthrough",
         "A sidecar client calling a pod IP on a port no Service listener matches goes through PassthroughCluster and "
         "sends plaintext, even to another sidecar; a refusal is a closed TCP connection, not an HTTP 503.",
         f"{GH}/tests/integration/security/pass_through_filter_chain_test.go"),
    # --- Outcome ---------------------------------------------------------------------------------------
    Rule("outcome.client-sidecar-503",
         "When the client's sidecar proxies HTTP and cannot connect upstream (TLS conflict), the client gets HTTP 503 "
         "(UF); on a TCP path it sees the connection closed.",
         NETWORK_ISSUES),
    Rule("outcome.plaintext-reset",
         "A refused connection without a client sidecar, or on a TCP proxy path, is reset/closed (curl exit 56 or 52).",
         f"{DOCS}/tasks/traffic-management/ingress/ingress-sidecar-tls-termination/"),
    Rule("outcome.xfcc",
         "When the hop into the server is Istio mTLS, the server sidecar adds X-Forwarded-Client-Cert with the "
         "client's SPIFFE ID; plaintext carries no such header.",
         AUTHN_TASK + "#auto-mutual-tls"),
    # --- Authorization ------------------------------------------------------------------------------------
    Rule("authz.order",
         "DENY policies are evaluated first; with no ALLOW policy the request is allowed; otherwise it must match an "
         "ALLOW rule or it is denied.",
         API_AP),
    Rule("authz.scope",
         "An AuthorizationPolicy applies to its namespace's workloads (all, or those its selector matches); in the "
         "root namespace it applies mesh-wide.",
         API_AP),
    Rule("authz.plaintext-no-principal",
         "Plaintext requests carry no principal or namespace: positive matches on principals/namespaces never match "
         "them, negative matches (notPrincipals/notNamespaces) always do.",
         "https://istio.io/latest/news/security/istio-security-2021-004/"),
    Rule("authz.identity",
         "An mTLS client's principal is <trustDomain>/ns/<namespace>/sa/<serviceAccount>; a policy principal in the "
         "'cluster.local' trust domain stands for the local trust domain.",
         API_AP + "#Source",
         contradiction="The reference does not mention the cluster.local alias; it comes from "
                       "pilot/pkg/security/trustdomain/bundle.go (ReplaceTrustDomainAliases)."),
    Rule("authz.denied",
         "A denied HTTP request gets 403 'RBAC: access denied'; a denied TCP connection is closed.",
         f"{DOCS}/tasks/security/authorization/authz-http/"),
    Rule("authz.no-sidecar",
         "A server without a sidecar enforces no AuthorizationPolicy.",
         CONCEPTS + "#authorization-architecture"),
]

RULES: dict[str, Rule] = {r.id: r for r in _RULES}


def rule(rule_id: str) -> Rule:
    return RULES[rule_id]
