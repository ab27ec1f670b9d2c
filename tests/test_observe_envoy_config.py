"""Config-dump predicates on the real Istio artefacts in ../shared/istio/proxy-artifacts/envoy-config_dump/."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from paths import SHARED

from mtls_conformance.engine.model import ClientSends, Mode
from mtls_conformance.observe.envoy_config import (
    ClientTls,
    client_cluster_sends,
    client_wire,
    cluster_endpoints,
    cluster_excerpt,
    cluster_tls,
    config_dump_evidence,
    endpoint_tls_modes,
    endpoints,
    has_eds,
    inbound_chains,
    inbound_excerpt,
    inbound_mode,
    load_dump,
    server_port_enforces,
    version_info,
)

ARTEFACTS = SHARED / "istio" / "proxy-artifacts" / "envoy-config_dump"
PRODUCTPAGE = "outbound|9080|v1|productpage.default.svc.cluster.local"


def _load(name: str) -> dict[str, Any]:
    path = ARTEFACTS / f"{name}.config_dump.json"
    if not path.exists():
        pytest.fail(f"shared artefact missing: {path} (tests read ../shared relative to the project root)")
    return dict(load_dump(path.read_text()))


def _virtual_inbound(dump: dict[str, Any]) -> dict[str, Any]:
    entry = next(e for e in dump["configs"][0]["dynamic_listeners"] if e["name"] == "virtualInbound")
    listener: dict[str, Any] = entry["active_state"]["listener"]
    return listener


def test_sidecar_listeners_port_80_is_permissive() -> None:
    dump = _load("sidecar-listeners")
    assert version_info(dump) == {"LDS": "2023-06-20T09:08:58Z/4"}
    assert len(inbound_chains(dump)) == 8
    assert inbound_mode(dump, 80) is Mode.PERMISSIVE
    assert server_port_enforces(dump, 80, Mode.PERMISSIVE) and not server_port_enforces(dump, 80, Mode.STRICT)
    excerpt = inbound_excerpt(dump, 80)
    assert "0.0.0.0_80 port=80 transport=tls alpn=istio,istio-peer-exchange" in excerpt and "-> plaintext" in excerpt
    # a port without chains of its own falls to the catch-all chains: PERMISSIVE too, with a TLS passthrough chain
    assert inbound_mode(dump, 9080) is Mode.PERMISSIVE
    assert "TLS passthrough" in inbound_excerpt(dump, 9080)


def test_derived_strict_and_disable_dumps() -> None:
    dump = _load("sidecar-listeners")
    strict = copy.deepcopy(dump)
    listener = _virtual_inbound(strict)
    listener["filter_chains"] = [fc for fc in listener["filter_chains"]
                                 if fc.get("filter_chain_match", {}).get("transport_protocol") != "raw_buffer"]
    assert inbound_mode(strict, 80) is Mode.STRICT
    disable = copy.deepcopy(dump)
    listener = _virtual_inbound(disable)
    listener["filter_chains"] = [fc for fc in listener["filter_chains"] if "transport_socket" not in fc]
    assert inbound_mode(disable, 80) is Mode.DISABLE
    no_cert = copy.deepcopy(dump)
    for fc in _virtual_inbound(no_cert)["filter_chains"]:
        fc.get("transport_socket", {}).get("typed_config", {}).pop("require_client_certificate", None)
    assert inbound_mode(no_cert, 80) is Mode.DISABLE  # TLS without client certificates is not mTLS
    assert inbound_mode({"configs": []}, 80) is None
    assert inbound_excerpt({"configs": []}, 80) == "virtualInbound: no filter chains for port 80"


def test_client_cluster_auto_mtls() -> None:
    dump = _load("describe-http_config")
    tls = cluster_tls(dump, PRODUCTPAGE)
    assert tls is not None and tls.kind is ClientTls.AUTO
    assert tls.alpn == ("istio-peer-exchange", "istio")
    assert tls.sni == "outbound_.9080_.v1_.productpage.default.svc.cluster.local"
    assert "spiffe://cluster.local/ns/default/sa/bookinfo-productpage" in tls.verify_sans
    assert client_cluster_sends(dump, PRODUCTPAGE, ClientSends.ISTIO_MUTUAL, endpoint_tls_mode="istio")
    assert client_cluster_sends(dump, PRODUCTPAGE, ClientSends.PLAINTEXT, endpoint_tls_mode=None)
    assert not client_cluster_sends(dump, "outbound|1||missing", ClientSends.PLAINTEXT)
    assert "auto alpn=istio-peer-exchange,istio" in cluster_excerpt(dump, PRODUCTPAGE)


def test_client_cluster_explicit_settings() -> None:
    dump = _load("describe-http_config")
    cluster = dump["configs"][1]["dynamic_active_clusters"][0]["cluster"]
    istio_socket = cluster.pop("transport_socket_matches")[0]["transport_socket"]
    assert cluster_tls(dump, PRODUCTPAGE).kind is ClientTls.PLAINTEXT  # type: ignore[union-attr]
    cluster["transport_socket"] = istio_socket  # DR ISTIO_MUTUAL: the whole cluster, every endpoint
    assert client_cluster_sends(dump, PRODUCTPAGE, ClientSends.ISTIO_MUTUAL, endpoint_tls_mode=None)
    cluster["transport_socket"] = copy.deepcopy(istio_socket)
    cluster["transport_socket"]["typed_config"]["common_tls_context"].pop("tls_certificate_sds_secret_configs")
    assert client_cluster_sends(dump, PRODUCTPAGE, ClientSends.SIMPLE)


def test_endpoints_tls_mode_metadata() -> None:
    eps = endpoints(_load("endpoints"))
    assert len(eps) == 36
    httpbin = [e for e in eps if e.cluster == "outbound|8000||httpbin.default.svc.cluster.local"]
    assert [(e.address, e.port, e.tls_mode) for e in httpbin] == [("10.244.0.178", 80, "istio")]
    istiod = [e for e in eps if e.cluster == "outbound|15012||istiod.istio-system.svc.cluster.local"]
    assert istiod and all(e.tls_mode is None for e in istiod)  # istiod has no sidecar: plaintext under auto mTLS


def test_endpoint_tls_modes_per_outbound_cluster() -> None:
    """EDS from endpoints.config_dump.json (the section ``/config_dump?include_eds=true`` adds): labels per cluster."""
    eds = _load("endpoints")
    assert has_eds(eds) and not has_eds(_load("describe-http_config"))
    assert endpoint_tls_modes(eds, "outbound|9080||productpage.default.svc.cluster.local") == {"istio"}
    assert endpoint_tls_modes(eds, "outbound|9200||elasticsearch.skywalking.svc.cluster.local") == {None}  # no sidecar
    reviews = cluster_endpoints(eds, "outbound|9080||reviews.default.svc.cluster.local")
    assert [(e.address, e.tls_mode) for e in reviews] == [("10.244.0.192", "istio"), ("10.244.0.193", "istio"), ("10.244.0.195", "istio")]
    assert reviews[0].workload == "reviews-v3;default;reviews;v3;Kubernetes"
    assert endpoint_tls_modes(eds, "outbound|1||missing") == frozenset()


def test_client_wire_joins_the_cluster_with_its_endpoints() -> None:
    """The real auto-mTLS cluster and the real EDS in one dump (the shape of ``config_dump?include_eds=true``).

    DERIVED: the CDS artefact's cluster is the v1 subset; EDS has the subset-less ``outbound|9080||productpage...``, so
    the cluster is renamed to it (istio/istio@86c9f01fd735 pilot/pkg/model/service.go BuildSubsetKey, lines 1860-1862).
    """
    clusters = _load("describe-http_config")
    cluster = clusters["configs"][1]["dynamic_active_clusters"][0]["cluster"]
    cluster["name"] = "outbound|9080||productpage.default.svc.cluster.local"
    joined = {"configs": [*clusters["configs"], *_load("endpoints")["configs"]]}
    wire = client_wire(joined, cluster["name"])
    assert wire is not None and wire.per_endpoint and wire.eds
    assert wire.sends() == {ClientSends.ISTIO_MUTUAL}
    assert "endpoint 10.244.0.194:9080 tlsMode=istio -> istio_mutual" in wire.excerpt()
    no_eds = client_wire(clusters, cluster["name"])
    assert no_eds is not None and no_eds.sends() == frozenset() and "include_eds=true" in no_eds.excerpt()
    assert client_wire(joined, "outbound|1||missing") is None


def test_load_dump_rejects_other_json() -> None:
    with pytest.raises(ValueError, match="config dump"):
        load_dump("[1, 2]")


def test_config_dump_evidence() -> None:
    server = _load("sidecar-listeners")
    client = _load("describe-http_config")
    permissive = config_dump_evidence(server, 80)
    assert permissive.source == "config-dump" and permissive.says_mtls is None and "enforces PERMISSIVE" in permissive.artefact
    assert config_dump_evidence(server, 80, client, PRODUCTPAGE, "istio").says_mtls is True
    assert config_dump_evidence(server, 80, client, PRODUCTPAGE, None).says_mtls is False
    strict = copy.deepcopy(server)
    listener = _virtual_inbound(strict)
    listener["filter_chains"] = [fc for fc in listener["filter_chains"] if "transport_socket" in fc]
    assert config_dump_evidence(strict, 80).says_mtls is True
