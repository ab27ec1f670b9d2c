"""Envoy config dump (JSON of ``/config_dump``): the data-plane view of mTLS, independent of any HTTP header.

Server side: the ``virtualInbound`` listener's filter chains for a destination port. istiod builds them from the
effective PeerAuthentication of that workload port (pilot/pkg/networking/core/filterchain_options.go,
https://github.com/istio/istio/blob/master/pilot/pkg/networking/core/filterchain_options.go):
STRICT = only chains that terminate TLS and require a client certificate; PERMISSIVE = those plus ``raw_buffer``
(plaintext) chains; DISABLE = ``raw_buffer`` chains only. A ``tls`` chain without a transport socket passes
the application's own TLS through and proves nothing about mTLS.

Client side: an outbound cluster with auto mTLS has ``transport_socket_matches`` ``tlsMode-istio`` (mTLS to
endpoints labelled ``tlsMode: istio``) and ``tlsMode-disabled`` (plaintext otherwise); an explicit DestinationRule
TLS setting becomes the cluster's ``transport_socket`` (pilot/pkg/networking/core/cluster_tls.go,
``applyUpstreamTLSSettings``).

Endpoints (EDS, only in ``/config_dump?include_eds=true``): ``EndpointsConfigDump`` ->
``dynamic_endpoint_configs[].endpoint_config`` (a ``ClusterLoadAssignment``: ``cluster_name``, ``endpoints[]`` ->
``lb_endpoints[]`` -> ``metadata.filter_metadata``). istiod decides auto mTLS per endpoint
(pilot/pkg/xds/endpoints/mtls_checker.go ``checkMtlsEnabled``) and writes ``envoy.transport_socket_match: {tlsMode:
istio}`` only on endpoints it considers mTLS (pilot/pkg/networking/util/util.go ``AppendLbEndpointMetadata``); an
auto-mTLS cluster's ``tlsMode-istio`` match applies to exactly those, ``tlsMode-disabled`` (plaintext) to the rest.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from mtls_conformance.engine.model import ClientSends, Mode
from mtls_conformance.observe.model import Evidence

Dump = Mapping[str, Any]
_INBOUND_LISTENER = "virtualInbound"
_INBOUND_CAPTURE_PORT = 15006  # the blackhole chain of virtualInbound: traffic sent to the capture port itself
_ISTIO_SDS_CERT = "default"  # the workload certificate's SDS secret name
_SHORT_TYPES = {
    "ListenersConfigDump": "LDS", "ClustersConfigDump": "CDS", "EndpointsConfigDump": "EDS",
    "RoutesConfigDump": "RDS", "SecretsConfigDump": "SDS", "BootstrapConfigDump": "bootstrap",
}


def _configs(dump: Dump, type_suffix: str) -> Iterator[Mapping[str, Any]]:
    for cfg in dump.get("configs", ()):
        if str(cfg.get("@type", "")).endswith("." + type_suffix):
            yield cfg


def version_info(dump: Dump) -> dict[str, str]:
    """Version per xDS type (LDS, CDS, ...): the dump-level version, else the newest per-resource one.

    Comparing two dumps' versions tells whether istiod pushed a change in between.
    """
    versions: dict[str, str] = {}
    for cfg in dump.get("configs", ()):
        short = _SHORT_TYPES.get(str(cfg.get("@type", "")).rsplit(".", 1)[-1])
        if short is None:
            continue
        if cfg.get("version_info"):
            versions[short] = str(cfg["version_info"])
            continue
        per_resource = [str(item.get("version_info") or item.get("active_state", {}).get("version_info") or "")
                        for items in cfg.values() if isinstance(items, list) for item in items if isinstance(item, dict)]
        per_resource = [v for v in per_resource if v]
        if per_resource:
            versions[short] = max(per_resource)
    return versions


# ---------------------------------------------------------------- server side


@dataclass(frozen=True)
class InboundChain:
    name: str
    destination_port: int | None  # None: a catch-all chain (ports without their own chains)
    transport_protocol: str  # "tls", "raw_buffer" or "" (any)
    alpn: tuple[str, ...]
    terminates_tls: bool  # has a DownstreamTlsContext
    requires_client_cert: bool

    @property
    def accepts_mtls(self) -> bool:
        return self.terminates_tls and self.requires_client_cert

    @property
    def accepts_plaintext(self) -> bool:
        return not self.terminates_tls and self.transport_protocol in ("raw_buffer", "")

    def describe(self) -> str:
        kind = "mTLS" if self.accepts_mtls else "TLS (no client cert)" if self.terminates_tls else (
            "plaintext" if self.accepts_plaintext else "TLS passthrough")
        port = self.destination_port if self.destination_port is not None else "*"
        alpn = ",".join(self.alpn) or "-"
        return f"{self.name} port={port} transport={self.transport_protocol or 'any'} alpn={alpn} -> {kind}"


def _listener(dump: Dump, name: str) -> Mapping[str, Any] | None:
    for cfg in _configs(dump, "ListenersConfigDump"):
        for entry in cfg.get("dynamic_listeners", ()):
            if entry.get("name") == name and "active_state" in entry:
                found: Mapping[str, Any] | None = entry["active_state"].get("listener")
                return found
        for entry in cfg.get("static_listeners", ()):
            listener: Mapping[str, Any] = entry.get("listener", {})
            if listener.get("name") == name:
                return listener
    return None


def _downstream_tls(chain: Mapping[str, Any]) -> Mapping[str, Any] | None:
    config = chain.get("transport_socket", {}).get("typed_config", {})
    return config if str(config.get("@type", "")).endswith("DownstreamTlsContext") else None


def inbound_chains(dump: Dump) -> tuple[InboundChain, ...]:
    listener = _listener(dump, _INBOUND_LISTENER)
    if listener is None:
        return ()
    chains = []
    for fc in listener.get("filter_chains", ()):
        match = fc.get("filter_chain_match", {})
        tls = _downstream_tls(fc)
        chains.append(InboundChain(
            name=str(fc.get("name", "")),
            destination_port=int(match["destination_port"]) if "destination_port" in match else None,
            transport_protocol=str(match.get("transport_protocol", "")),
            alpn=tuple(match.get("application_protocols", ())),
            terminates_tls=tls is not None,
            requires_client_cert=bool(tls and tls.get("require_client_certificate")),
        ))
    return tuple(chains)


def inbound_chains_for_port(dump: Dump, port: int) -> tuple[InboundChain, ...]:
    """The chains that handle a connection to ``port``: its own chains, else the catch-all ones."""
    chains = inbound_chains(dump)
    own = tuple(c for c in chains if c.destination_port == port)
    if own:
        return own
    return tuple(c for c in chains if c.destination_port is None)


def inbound_mode(dump: Dump, port: int) -> Mode | None:
    """The PeerAuthentication mode the sidecar enforces on ``port``; None when the dump has no inbound chains for it."""
    chains = inbound_chains_for_port(dump, port)
    mtls = any(c.accepts_mtls for c in chains)
    plain = any(c.accepts_plaintext for c in chains)
    if mtls and plain:
        return Mode.PERMISSIVE
    if mtls:
        return Mode.STRICT
    if plain:
        return Mode.DISABLE
    return None


def server_port_enforces(dump: Dump, port: int, mode: Mode) -> bool:
    return inbound_mode(dump, port) is mode


def inbound_excerpt(dump: Dump, port: int) -> str:
    """Human-readable summary of the inbound chains for ``port`` (for timeout and failure messages)."""
    chains = inbound_chains_for_port(dump, port)
    if not chains:
        return f"virtualInbound: no filter chains for port {port}"
    mode = inbound_mode(dump, port)
    lines = [f"virtualInbound port {port}: enforces {mode.value if mode else 'unknown'}"]
    lines += [f"  {c.describe()}" for c in chains]
    return "\n".join(lines)


# ---------------------------------------------------------------- client side


class ClientTls(enum.StrEnum):
    """What a client cluster is configured to send."""

    AUTO = "auto"  # auto mTLS: ISTIO_MUTUAL to endpoints with tlsMode=istio, plaintext to the others
    ISTIO_MUTUAL = "istio_mutual"
    MUTUAL = "mutual"
    SIMPLE = "simple"
    PLAINTEXT = "plaintext"


@dataclass(frozen=True)
class ClusterTls:
    cluster: str
    kind: ClientTls
    alpn: tuple[str, ...] = ()
    sni: str = ""
    verify_sans: tuple[str, ...] = ()

    def sends_to(self, endpoint_tls_mode: str | None) -> ClientSends:
        """What goes on the wire toward one endpoint (``endpoint_tls_mode``: its ``tlsMode`` metadata)."""
        if self.kind is ClientTls.AUTO:
            return ClientSends.ISTIO_MUTUAL if endpoint_tls_mode == "istio" else ClientSends.PLAINTEXT
        return ClientSends(self.kind.value)


def _clusters(dump: Dump) -> Iterator[Mapping[str, Any]]:
    for cfg in _configs(dump, "ClustersConfigDump"):
        for field in ("static_clusters", "dynamic_active_clusters"):
            for entry in cfg.get(field, ()):
                if "cluster" in entry:
                    yield entry["cluster"]


def find_cluster(dump: Dump, name: str) -> Mapping[str, Any] | None:
    return next((c for c in _clusters(dump) if c.get("name") == name), None)


def _upstream_kind(socket: Mapping[str, Any]) -> tuple[ClientTls, Mapping[str, Any]]:
    config = socket.get("typed_config", {})
    if not str(config.get("@type", "")).endswith("UpstreamTlsContext"):
        return ClientTls.PLAINTEXT, {}
    common = config.get("common_tls_context", {})
    sds = [s.get("name") for s in common.get("tls_certificate_sds_secret_configs", ())]
    if _ISTIO_SDS_CERT in sds:
        return ClientTls.ISTIO_MUTUAL, config
    if sds or common.get("tls_certificates"):
        return ClientTls.MUTUAL, config
    return ClientTls.SIMPLE, config


def _validation_sans(config: Mapping[str, Any]) -> tuple[str, ...]:
    common = config.get("common_tls_context", {})
    ctx = common.get("combined_validation_context", {}).get("default_validation_context") or common.get("validation_context", {})
    return tuple(str(next(iter(m.values()))) for m in ctx.get("match_subject_alt_names", ()) if m)


def cluster_tls(dump: Dump, name: str) -> ClusterTls | None:
    """The TLS a client cluster originates, or None when the dump has no such cluster."""
    cluster = find_cluster(dump, name)
    if cluster is None:
        return None
    for match in cluster.get("transport_socket_matches", ()):
        if match.get("match", {}).get("tlsMode") == "istio":
            kind, config = _upstream_kind(match.get("transport_socket", {}))
            if kind is ClientTls.ISTIO_MUTUAL:
                return ClusterTls(name, ClientTls.AUTO, _alpn(config), str(config.get("sni", "")), _validation_sans(config))
    kind, config = _upstream_kind(cluster.get("transport_socket", {}))
    return ClusterTls(name, kind, _alpn(config), str(config.get("sni", "")), _validation_sans(config))


def _alpn(config: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(config.get("common_tls_context", {}).get("alpn_protocols", ()))


def client_cluster_sends(dump: Dump, cluster: str, expected: ClientSends, endpoint_tls_mode: str | None = "istio") -> bool:
    """Whether ``cluster`` sends ``expected`` toward an endpoint with the given ``tlsMode`` metadata."""
    tls = cluster_tls(dump, cluster)
    return tls is not None and tls.sends_to(endpoint_tls_mode) is expected


def cluster_excerpt(dump: Dump, cluster: str) -> str:
    tls = cluster_tls(dump, cluster)
    if tls is None:
        return f"cluster {cluster}: not in the dump"
    return cluster_excerpt_of(tls)


def cluster_excerpt_of(tls: ClusterTls) -> str:
    extra = f" alpn={','.join(tls.alpn)}" if tls.alpn else ""
    extra += f" sni={tls.sni}" if tls.sni else ""
    extra += f" verify={','.join(tls.verify_sans)}" if tls.verify_sans else ""
    return f"cluster {tls.cluster}: {tls.kind.value}{extra}"


# ---------------------------------------------------------------- endpoints


@dataclass(frozen=True)
class EndpointTls:
    cluster: str
    address: str
    port: int
    tls_mode: str | None  # "istio" when the pod has a sidecar (label security.istio.io/tlsMode), else None
    workload: str = ""


def has_eds(dump: Dump) -> bool:
    """Whether the dump carries EDS at all (``/config_dump`` omits it unless asked with ``?include_eds=true``)."""
    return any(True for _ in _configs(dump, "EndpointsConfigDump"))


def endpoints(dump: Dump) -> tuple[EndpointTls, ...]:
    result = []
    for cfg in _configs(dump, "EndpointsConfigDump"):
        for field in ("static_endpoint_configs", "dynamic_endpoint_configs"):
            for entry in cfg.get(field, ()):
                ec = entry.get("endpoint_config", {})
                for locality in ec.get("endpoints", ()):
                    for lb in locality.get("lb_endpoints", ()):
                        sock = lb.get("endpoint", {}).get("address", {}).get("socket_address", {})
                        meta = lb.get("metadata", {}).get("filter_metadata", {})
                        result.append(EndpointTls(
                            cluster=str(ec.get("cluster_name", "")), address=str(sock.get("address", "")),
                            port=int(sock.get("port_value", 0)), tls_mode=meta.get("envoy.transport_socket_match", {}).get("tlsMode"),
                            workload=str(meta.get("istio", {}).get("workload", "")),
                        ))
    return tuple(result)


def cluster_endpoints(dump: Dump, cluster: str) -> tuple[EndpointTls, ...]:
    """The EDS endpoints of one cluster (``outbound|PORT||HOST``); empty without EDS or without endpoints."""
    return tuple(e for e in endpoints(dump) if e.cluster == cluster)


def endpoint_tls_modes(dump: Dump, cluster: str) -> frozenset[str | None]:
    """The ``tlsMode`` labels the cluster's endpoints carry (None: an endpoint without the label)."""
    return frozenset(e.tls_mode for e in cluster_endpoints(dump, cluster))


@dataclass(frozen=True)
class ClientWire:
    """What a client cluster puts on the wire, per endpoint: its transport socket(s) and, for auto mTLS, EDS labels."""

    tls: ClusterTls
    endpoints: tuple[EndpointTls, ...]  # the cluster's EDS endpoints
    eds: bool  # the dump carries EDS

    @property
    def per_endpoint(self) -> bool:
        """Whether the wire depends on endpoint labels (auto mTLS ``transport_socket_matches``)."""
        return self.tls.kind is ClientTls.AUTO

    def sends(self) -> frozenset[ClientSends]:
        """What reaches the endpoints; empty when auto mTLS decides and there are no endpoints to decide on."""
        if not self.per_endpoint:
            return frozenset({self.tls.sends_to(None)})
        return frozenset(self.tls.sends_to(e.tls_mode) for e in self.endpoints)

    def excerpt(self) -> str:
        lines = [cluster_excerpt_of(self.tls)]
        if not self.per_endpoint:
            return lines[0]
        if not self.eds:
            lines.append("  no EDS in the dump (read /config_dump?include_eds=true): the endpoints' tlsMode is unknown")
        elif not self.endpoints:
            lines.append(f"  EDS has no endpoints for {self.tls.cluster}")
        for e in self.endpoints:
            label = e.tls_mode or "none"
            lines.append(f"  endpoint {e.address}:{e.port} tlsMode={label} -> {self.tls.sends_to(e.tls_mode).value}")
        return "\n".join(lines)


def client_wire(dump: Dump, cluster: str) -> ClientWire | None:
    """The cluster's TLS joined with its EDS endpoints; None when the dump has no such cluster."""
    tls = cluster_tls(dump, cluster)
    if tls is None:
        return None
    return ClientWire(tls, cluster_endpoints(dump, cluster), has_eds(dump))


def load_dump(text: str) -> Dump:
    """Parse a config dump; raises ValueError when it is not a JSON object with ``configs``."""
    doc = json.loads(text)
    if not isinstance(doc, dict) or not isinstance(doc.get("configs"), list):
        raise ValueError("not an Envoy config dump: expected a JSON object with a 'configs' list")
    return doc


def config_dump_evidence(server_dump: Dump | None, port: int, client_dump: Dump | None = None, cluster: str = "",
                         endpoint_tls_mode: str | None = "istio") -> Evidence:
    """What the proxies' configuration says about a connection that succeeded to container ``port``.

    STRICT on the server means a successful connection was mTLS; DISABLE means plaintext; PERMISSIVE accepts
    both, so the client cluster decides (auto mTLS: by the endpoint's ``tlsMode``).
    """
    parts: list[str] = []
    mode = inbound_mode(server_dump, port) if server_dump is not None else None
    if server_dump is not None:
        parts.append(inbound_excerpt(server_dump, port))
    sends = None
    if client_dump is not None and cluster:
        tls = cluster_tls(client_dump, cluster)
        parts.append(cluster_excerpt(client_dump, cluster))
        sends = tls.sends_to(endpoint_tls_mode) if tls else None
    artefact = "\n".join(parts)
    if mode is Mode.STRICT:
        return Evidence("config-dump", True, f"server port {port} accepts only mTLS (STRICT filter chains)", artefact)
    if mode is Mode.DISABLE:
        return Evidence("config-dump", False, f"server port {port} accepts only plaintext (DISABLE filter chains)", artefact)
    if sends is ClientSends.ISTIO_MUTUAL:
        return Evidence("config-dump", True, f"client cluster {cluster} originates Istio mTLS to this endpoint", artefact)
    if sends is ClientSends.PLAINTEXT:
        return Evidence("config-dump", False, f"client cluster {cluster} sends plaintext to this endpoint", artefact)
    why = "PERMISSIVE server" if mode is Mode.PERMISSIVE else "no inbound chains for the port"
    return Evidence("config-dump", None, f"{why} and no client cluster view: the configuration cannot tell", artefact)
