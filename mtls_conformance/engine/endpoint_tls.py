"""Per-endpoint auto mTLS: the ``tlsMode`` label istiod gives a server's endpoints in a client sidecar's EDS.

Mirrors istio/istio at 86c9f01fd735fb01d8192f5bcaf0d424afb7f14c:

- pilot/pkg/xds/endpoints/mtls_checker.go ``checkMtlsEnabled`` (lines 53-66): a DestinationRule TLS mode for the port
  decides (``ISTIO_MUTUAL`` or not; ``trafficPolicyTLSModeForPort``, lines 96-112: top-level tls, replaced by a
  port-level entry that has tls); otherwise an endpoint without ``tlsMode: istio`` (no sidecar) is not mTLS; otherwise
  the workload's PeerAuthentication mode for the endpoint port decides: anything but DISABLE is mTLS.
- pilot/pkg/xds/endpoints/endpoint_builder.go ``buildEnvoyLbEndpoint`` (lines 800-805): an endpoint that is not mTLS
  has its TLSMode cleared, and pilot/pkg/networking/util/util.go ``AppendLbEndpointMetadata`` (lines 515-521) writes
  ``filter_metadata["envoy.transport_socket_match"]["tlsMode"]`` only for a non-empty, non-"disabled" mode.

So the label is ``"istio"`` exactly when the server pod has a sidecar and the check says mTLS, and absent otherwise.
Whether the client then uses it depends on its cluster (auto mTLS ``transport_socket_matches`` or an explicit socket).
"""

from __future__ import annotations

from dataclasses import dataclass

from mtls_conformance.engine.destination_rule import find_destination_rule, tls_for_port
from mtls_conformance.engine.model import Expectation, Mode
from mtls_conformance.engine.peer_auth import effective_mode
from mtls_conformance.scenario.model import Address, Scenario

ISTIO_TLS_MODE = "istio"  # pilot/pkg/model/service.go IstioMutualTLSModeLabel


@dataclass(frozen=True)
class EndpointLabel:
    """The ``tlsMode`` istiod puts on the server's endpoints in the client's EDS (None: no label), and why."""

    tls_mode: str | None
    why: str


def endpoint_tls_mode(scenario: Scenario, expectation: Expectation) -> EndpointLabel:
    """The per-endpoint auto-mTLS decision for a Service probe (the client sidecar's EDS for ``outbound|port||host``)."""
    probe = expectation.probe
    if probe.address is not Address.SERVICE:
        raise ValueError(f"{probe.id}: a pod-IP probe uses no EDS endpoints")
    client, server = scenario.workload(probe.source), scenario.workload(probe.target)
    container_port = expectation.target_port or probe.port
    choice = find_destination_rule(scenario, client, server)
    if choice.rule is not None:
        tls = tls_for_port(choice.rule.ref, choice.traffic_policy, probe.port)
        dr_mode = tls.cluster_mode if tls.cluster_mode is not None else tls.endpoint_fallback
        if dr_mode is not None:
            if dr_mode != "ISTIO_MUTUAL":
                return EndpointLabel(None, f"{choice.rule.ref} sets tls {dr_mode} for port {probe.port}: the endpoint is not mTLS")
            if not server.sidecar:
                return EndpointLabel(None, f"{server.key} has no sidecar: its endpoint carries no tlsMode")
            return EndpointLabel(ISTIO_TLS_MODE, f"{choice.rule.ref} sets tls ISTIO_MUTUAL for port {probe.port}")
    if not server.sidecar:
        return EndpointLabel(None, f"{server.key} has no sidecar: its endpoint carries no tlsMode")
    mode, _ = effective_mode(scenario, server, container_port)
    if mode is Mode.DISABLE:
        return EndpointLabel(None, f"{server.key} port {container_port} is DISABLE: istiod drops the endpoint's tlsMode")
    return EndpointLabel(ISTIO_TLS_MODE, f"{server.key} has a sidecar and port {container_port} is {mode.value}")
