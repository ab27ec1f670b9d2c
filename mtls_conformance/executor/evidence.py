"""Glue between what the executor fetches (config dumps, stats, pcaps) and the pure parsers in observe/.

Every name the executor uses from observe/ is imported here and nowhere else, so the boundary is one file.
"""

from __future__ import annotations

from collections.abc import Callable

from mtls_conformance.engine.endpoint_tls import EndpointLabel, endpoint_tls_mode
from mtls_conformance.engine.model import ClientSends, Expectation, Mode
from mtls_conformance.observe import capture, envoy_config, metrics
from mtls_conformance.observe.model import Evidence, ProbeObservation
from mtls_conformance.scenario.model import Address, Probe, Scenario

Holds = Callable[[str], tuple[bool, str]]


def outbound_cluster(host: str, port: int) -> str:
    """Envoy's name for the client-side cluster of a Service port (``outbound|<port>||<host>``)."""
    return f"outbound|{port}||{host}"


def server_holds(port: int, mode: Mode) -> Holds:
    """Predicate on a server sidecar's dump: its inbound chains for ``port`` enforce ``mode``."""

    def holds(text: str) -> tuple[bool, str]:
        dump = envoy_config.load_dump(text)
        return envoy_config.server_port_enforces(dump, port, mode), envoy_config.inbound_excerpt(dump, port)

    return holds


def client_holds(cluster: str, sends: ClientSends, endpoint: EndpointLabel) -> Holds:
    """Predicate on a client sidecar's dump (read with EDS): the cluster sends what the engine expects to its endpoints.

    ``endpoint`` is the engine's per-endpoint auto-mTLS decision (engine/endpoint_tls.py). With auto mTLS the wire
    depends on each endpoint's ``tlsMode`` in EDS, so every endpoint must carry the label the engine decided and the
    cluster must send ``sends`` to it; an explicit transport socket sends the same to every endpoint, labels aside.
    """

    def holds(text: str) -> tuple[bool, str]:
        dump = envoy_config.load_dump(text)
        wire = envoy_config.client_wire(dump, cluster)
        if wire is None:
            return False, envoy_config.cluster_excerpt(dump, cluster)
        ok = wire.sends() == {sends}
        if wire.per_endpoint:
            ok = ok and all(e.tls_mode == endpoint.tls_mode for e in wire.endpoints)
        expected = f"engine: {sends.value}; endpoint tlsMode={endpoint.tls_mode or 'none'} ({endpoint.why})"
        return ok, f"{wire.excerpt()}\n  {expected}"

    return holds


def client_check(scenario: Scenario, expectation: Expectation) -> tuple[str, str, Holds]:
    """The client sidecar's check for a Service probe: (its cluster, a description, the predicate)."""
    server = scenario.workload(expectation.probe.target)
    cluster = outbound_cluster(server.host, expectation.probe.port)
    endpoint = endpoint_tls_mode(scenario, expectation)
    describe = f"{cluster} sends {expectation.client_sends.value} (endpoint tlsMode={endpoint.tls_mode or 'none'})"
    return cluster, describe, client_holds(cluster, expectation.client_sends, endpoint)


def config_evidence(scenario: Scenario, expectation: Expectation, server_dump: str | None, client_dump: str | None) -> list[Evidence]:
    """What the two proxies' config says about this probe, independent of any header.

    The client dump must include EDS (``config_dump?include_eds=true``): with auto mTLS, what the client sends depends on
    each endpoint's ``tlsMode`` (the same reading as ``client_holds``).
    """
    probe = expectation.probe
    found: list[Evidence] = []
    if server_dump is not None:
        dump = envoy_config.load_dump(server_dump)
        port = expectation.target_port or probe.port
        mode = envoy_config.inbound_mode(dump, port)
        # Only STRICT and DISABLE pin down what an accepted connection was; PERMISSIVE accepts both.
        says = {Mode.STRICT: True, Mode.DISABLE: False}.get(mode) if mode is not None else None
        found.append(Evidence("config-dump", says, f"server {probe.target} port {port} enforces {mode.value if mode else 'unknown'}",
                              envoy_config.inbound_excerpt(dump, port)))
    if client_dump is not None and probe.address is Address.SERVICE:
        dump = envoy_config.load_dump(client_dump)
        server = scenario.workload(probe.target)
        cluster = outbound_cluster(server.host, probe.port)
        wire = envoy_config.client_wire(dump, cluster)
        if wire is not None:
            sends = wire.sends()
            if len(sends) == 1:
                (one,) = sends
                found.append(Evidence("config-dump", one in (ClientSends.ISTIO_MUTUAL, ClientSends.MUTUAL),
                                      f"client {probe.source} cluster sends {one.value}", wire.excerpt()))
            else:
                why = ("sends " + " or ".join(sorted(s.value for s in sends)) + " depending on the endpoint") if sends else (
                    "uses auto mTLS and the dump shows no endpoint to decide on")
                found.append(Evidence("config-dump", None, f"client {probe.source} cluster {why}: the configuration cannot tell",
                                      wire.excerpt()))
    return found


def metrics_evidence(before: str, after: str, scenario: Scenario, probe: Probe, observation: ProbeObservation) -> Evidence:
    """The destination sidecar's istio_requests_total delta around one re-run of the probe.

    The scrapes come from the server pod's own sidecar, so only the source side needs narrowing: a sidecar client is
    labeled with its namespace; a plaintext client is "unknown" to the destination, so nothing narrows it further.
    """
    if not observation.connected:
        return Evidence("metrics", None, f"the re-run probe did not connect ({observation.outcome.value}): metrics cannot tell")
    client, server = scenario.workload(probe.source), scenario.workload(probe.target)
    selector = {"destination_workload_namespace": server.namespace}
    if client.sidecar:
        selector["source_workload_namespace"] = client.namespace
    if probe.address is Address.SERVICE:
        selector["destination_service"] = server.host
    try:
        return metrics.metrics_evidence(metrics.parse_prometheus(before), metrics.parse_prometheus(after), selector)
    except metrics.MetricsSyntaxError as exc:
        return Evidence("metrics", None, f"unreadable stats/prometheus scrape: {exc}")


def capture_evidence(pcap: bytes, control_pcap: bytes | None, port: int) -> Evidence:
    """Classify the probe's capture; "encrypted" only counts when the known-plaintext control was seen as plaintext."""
    try:
        flows = capture.classify_capture(pcap, port)
        control = capture.classify_capture(control_pcap, port) if control_pcap is not None else ()
    except capture.CaptureFormatError as exc:
        return Evidence("capture", None, f"unreadable capture: {exc}")
    return capture.capture_verdict(flows, control)
