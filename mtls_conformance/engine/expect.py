"""The expectation engine: for each probe, what Istio's documented semantics say must happen.

Pure: a scenario and a version in, expectations with cited reasoning out. Reads no cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mtls_conformance.engine import authz
from mtls_conformance.engine.destination_rule import find_destination_rule, tls_for_port
from mtls_conformance.engine.model import ClientSends, Expectation, Mode, Step
from mtls_conformance.engine.peer_auth import effective_mode, namespace_mode
from mtls_conformance.outcomes import ProbeOutcome
from mtls_conformance.scenario.model import Address, IstioResource, Probe, Protocol, Scenario, Workload
from mtls_conformance.versions import IstioVersion, catalog

_SENDS_BY_DR_MODE = {
    "DISABLE": ClientSends.PLAINTEXT,
    "SIMPLE": ClientSends.SIMPLE,
    "MUTUAL": ClientSends.MUTUAL,
    "ISTIO_MUTUAL": ClientSends.ISTIO_MUTUAL,
}


@dataclass(frozen=True)
class _Target:
    container_port: int
    service_port: int | None  # None when the probe bypasses Service listeners (pod IP pass-through)
    protocol: Protocol
    via_service_listener: bool  # the client sidecar handles the call with the Service's listener/cluster


def _target(server: Workload, probe: Probe) -> _Target:
    if probe.address is Address.SERVICE:
        sp = server.service_port(probe.port)
        if sp is None:
            raise ValueError(f"{probe.id}: {probe.port} is not a Service port of {server.key}")
        return _Target(sp.target_port, sp.port, sp.protocol, True)
    sp = server.port_for_target(probe.port)
    protocol = server.protocol_of_container_port(probe.port)
    # Headless Services get per-endpoint listeners (pod IP:port), so pod-IP calls on their ports use them.
    if server.headless and sp is not None and sp.port == sp.target_port:
        return _Target(probe.port, sp.port, protocol, True)
    return _Target(probe.port, None, protocol, False)


def spiffe(scenario: Scenario, workload: Workload) -> str:
    return f"spiffe://{scenario.mesh.trust_domain}/ns/{workload.namespace}/sa/{workload.service_account}"


def _dr_tls_sends(rule: IstioResource, mode: str, settings: Mapping[str, Any] | None) -> tuple[ClientSends, Step | None]:
    # cluster_tls.go buildUpstreamClusterTLSContext: on a sidecar, SIMPLE/MUTUAL with credentialName is honoured
    # only for a DestinationRule with a workloadSelector; otherwise the cluster gets no TLS context at all.
    if mode in ("SIMPLE", "MUTUAL") and settings is not None and settings.get("credentialName") and rule.selector is None:
        return ClientSends.PLAINTEXT, Step.of(
            "client.dr-credential-name-ignored",
            f"{rule.ref} sets {mode} with credentialName but has no workloadSelector: the sidecar originates no TLS, plaintext",
        )
    return _SENDS_BY_DR_MODE[mode], None


def _client_sends(scenario: Scenario, client: Workload, server: Workload, target: _Target) -> tuple[ClientSends, list[Step]]:
    if not client.sidecar:
        return ClientSends.PLAINTEXT, [Step.of("client.no-sidecar", f"{client.key} has no sidecar: it sends plaintext")]
    if not target.via_service_listener or target.service_port is None:
        return ClientSends.PLAINTEXT, [Step.of("client.pod-ip-passthrough",
                                                f"{client.key} calls a pod IP on {target.container_port}: PassthroughCluster, plaintext")]
    steps: list[Step] = []
    choice = find_destination_rule(scenario, client, server)
    steps += choice.steps
    fallback: str | None = None
    if choice.rule is not None:
        tls = tls_for_port(choice.rule.ref, choice.traffic_policy, target.service_port)
        steps += tls.steps
        if tls.cluster_mode is not None:
            sends, note = _dr_tls_sends(choice.rule, tls.cluster_mode, tls.settings)
            if note is not None:
                steps.append(note)
            return sends, steps
        fallback = tls.endpoint_fallback
    if not scenario.mesh.enable_auto_mtls:
        steps.append(Step.of("client.auto-mtls-off", "enableAutoMtls is false and no DestinationRule TLS applies: plaintext"))
        return ClientSends.PLAINTEXT, steps
    svc_mode, ns_steps = namespace_mode(scenario, server.namespace)
    if svc_mode is Mode.DISABLE:
        steps += ns_steps
        steps.append(Step.of("client.auto-mtls-service-disable", f"namespace/mesh mode of '{server.namespace}' is DISABLE: plaintext to the whole Service"))
        return ClientSends.PLAINTEXT, steps
    if server.headless:
        if not server.sidecar:
            steps.append(Step.of("client.headless", f"{server.key} is headless and an instance has no sidecar: plaintext to the whole Service"))
            return ClientSends.PLAINTEXT, steps
        steps.append(Step.of("client.headless", f"{server.key} is headless and every instance has a sidecar: mTLS to the whole Service"))
        return ClientSends.ISTIO_MUTUAL, steps
    if not server.sidecar:
        steps.append(Step.of("client.auto-mtls", f"{server.key} has no sidecar (endpoint tlsMode is not istio): plaintext"))
        return ClientSends.PLAINTEXT, steps
    if fallback is not None:
        # mtls_checker.go can only downgrade an endpoint labelled tlsMode=istio; the DR mode replaces the PA check.
        sends = ClientSends.ISTIO_MUTUAL if fallback == "ISTIO_MUTUAL" else ClientSends.PLAINTEXT
        steps.append(Step.of("client.dr-port-level-fallback", f"the endpoint gets {sends.value} from the fallback mode {fallback}"))
        return sends, steps
    endpoint_mode, _ = effective_mode(scenario, server, target.container_port)
    if endpoint_mode is Mode.DISABLE:
        steps.append(Step.of("client.auto-mtls", f"{server.key} port {target.container_port} is DISABLE: auto mTLS sends plaintext"))
        return ClientSends.PLAINTEXT, steps
    steps.append(Step.of("client.auto-mtls", f"{server.key} has a sidecar and port {target.container_port} is {endpoint_mode}: Istio mTLS"))
    return ClientSends.ISTIO_MUTUAL, steps


def _accepts(server_mode: Mode | None, sends: ClientSends) -> tuple[bool, Step]:
    if server_mode is None:
        ok = sends is ClientSends.PLAINTEXT
        return ok, Step.of("server.no-sidecar", "no sidecar: plaintext reaches the app" if ok else f"no sidecar: {sends.value} TLS reaches a plaintext app and fails")
    if sends in (ClientSends.SIMPLE, ClientSends.MUTUAL):
        return False, Step.of("server.app-plaintext", f"{sends.value} TLS is not Istio mTLS and the app speaks plaintext: fails under {server_mode}")
    if server_mode is Mode.STRICT:
        ok = sends is ClientSends.ISTIO_MUTUAL
        return ok, Step.of("server.strict", "STRICT accepts the Istio mTLS connection" if ok else "STRICT rejects plaintext: the connection is reset")
    if server_mode is Mode.PERMISSIVE:
        return True, Step.of("server.permissive", f"PERMISSIVE accepts {sends.value}")
    ok = sends is ClientSends.PLAINTEXT
    return ok, Step.of("server.disable", "DISABLE accepts plaintext" if ok else "DISABLE does not terminate mTLS: the connection fails")


def _wildcard_http_listener(scenario: Scenario, port: int) -> bool:
    """Whether client sidecars have an HTTP listener on 0.0.0.0:port (some non-headless Service exposes port as HTTP)."""
    return any(
        sp.port == port and sp.protocol is Protocol.HTTP
        for w in scenario.workloads
        if not w.headless
        for sp in w.ports
    )


def _refusal(scenario: Scenario, client: Workload, target: _Target) -> tuple[ProbeOutcome, Step]:
    if client.sidecar and target.protocol is Protocol.HTTP:
        if target.via_service_listener:
            return ProbeOutcome.HTTP_503, Step.of("outcome.client-sidecar-503", "the client sidecar cannot connect upstream: HTTP 503")
        if _wildcard_http_listener(scenario, target.container_port):
            return ProbeOutcome.HTTP_503, Step.of(
                "outcome.client-sidecar-503",
                f"a Service exposes HTTP port {target.container_port}, so the client sidecar proxies this pod-IP call as HTTP "
                "(PassthroughCluster) and answers 503 when the upstream refuses",
            )
    return ProbeOutcome.RESET, Step.of("outcome.plaintext-reset", "the client sees the connection reset/closed")


def _expectation(probe: Probe, target: _Target, server_mode: Mode | None, sends: ClientSends, steps: list[Step], *,
                 failure: ProbeOutcome | None = None, mtls: bool = False, client_principal: str | None = None,
                 server_principal: str | None = None) -> Expectation:
    return Expectation(
        probe=probe,
        connect=failure is None,
        mtls=None if failure is not None else mtls,
        failure=failure,
        server_mode=server_mode,
        client_sends=sends,
        steps=tuple(steps),
        client_principal=client_principal,
        server_principal=server_principal,
        target_port=target.container_port,
        protocol=target.protocol.value,
    )


def expect(scenario: Scenario, probe: Probe, version: IstioVersion | None = None) -> Expectation:
    # Every supported version (1.26+) agrees on the behaviour modelled here; version facts that differ
    # (data/istio-versions.yaml) only concern traffic the scenario model cannot express (DR subsets).
    _ = version or catalog().latest_stable
    client, server = scenario.workload(probe.source), scenario.workload(probe.target)
    target = _target(server, probe)
    steps: list[Step] = []

    server_mode: Mode | None = None
    if server.sidecar:
        server_mode, mode_steps = effective_mode(scenario, server, target.container_port)
        steps += mode_steps
    sends, client_steps = _client_sends(scenario, client, server, target)
    steps += client_steps
    accepted, accept_step = _accepts(server_mode, sends)
    steps.append(accept_step)

    if not accepted:
        failure, why = _refusal(scenario, client, target)
        steps.append(why)
        return _expectation(probe, target, server_mode, sends, steps, failure=failure)

    mtls = sends is ClientSends.ISTIO_MUTUAL
    principal = spiffe(scenario, client) if mtls else None
    if server.sidecar:
        decision = authz.decide(scenario, server, principal.removeprefix("spiffe://") if principal else None, target.container_port)
        steps += decision.steps
        if not decision.allowed:
            if target.protocol is Protocol.HTTP:
                failure, why = ProbeOutcome.HTTP_403, Step.of("authz.denied", "the server sidecar answers 403 'RBAC: access denied'")
            else:
                failure, why = ProbeOutcome.RESET, Step.of("authz.denied", "the server sidecar closes the TCP connection")
            steps.append(why)
            return _expectation(probe, target, server_mode, sends, steps, failure=failure)
    elif authz.policies_for(scenario, server):
        steps.append(Step.of("authz.no-sidecar", f"{server.key} has no sidecar: AuthorizationPolicy is not enforced"))
    if mtls:
        steps.append(Step.of("outcome.xfcc", f"mTLS: the server sees {principal}"))
    return _expectation(probe, target, server_mode, sends, steps, mtls=mtls, client_principal=principal,
                        server_principal=spiffe(scenario, server) if mtls else None)


def expect_all(scenario: Scenario, version: IstioVersion | None = None) -> tuple[Expectation, ...]:
    return tuple(expect(scenario, p, version) for p in scenario.probes)
