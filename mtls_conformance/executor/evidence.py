"""Glue between what the executor fetches (config dumps, stats, pcaps) and the pure parsers in observe/.

Every name the executor uses from observe/ is imported here and nowhere else, so the boundary is one file.
"""

from __future__ import annotations

from collections.abc import Callable

from mtls_conformance.engine.model import ClientSends, Expectation, Mode
from mtls_conformance.observe import envoy_config
from mtls_conformance.observe.model import Evidence
from mtls_conformance.scenario.model import Address, Scenario

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


def client_holds(cluster: str, sends: ClientSends, server_has_sidecar: bool) -> Holds:
    """Predicate on a client sidecar's dump: the outbound cluster's transport socket sends what the engine expects."""
    endpoint_mode = "istio" if server_has_sidecar else None

    def holds(text: str) -> tuple[bool, str]:
        dump = envoy_config.load_dump(text)
        return envoy_config.client_cluster_sends(dump, cluster, sends, endpoint_mode), envoy_config.cluster_excerpt(dump, cluster)

    return holds


def config_evidence(scenario: Scenario, expectation: Expectation, server_dump: str | None, client_dump: str | None) -> list[Evidence]:
    """What the two proxies' config says about this probe, independent of any header."""
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
        tls = envoy_config.cluster_tls(dump, cluster)
        if tls is not None:
            sends = tls.sends_to("istio" if server.sidecar else None)
            found.append(Evidence("config-dump", sends in (ClientSends.ISTIO_MUTUAL, ClientSends.MUTUAL),
                                  f"client {probe.source} cluster sends {sends.value}", envoy_config.cluster_excerpt(dump, cluster)))
    return found
