"""The client-side config check reads EDS: istiod decides auto mTLS per endpoint, not per cluster.

Real artefacts (../shared/istio/proxy-artifacts/envoy-config_dump/, provenance in ../shared/istio/SOURCES.md):
- ``describe-http_config.config_dump.json`` (istio/istio istioctl/pkg/describe/testdata/describe/http_config.json):
  the CDS cluster ``outbound|9080|v1|productpage.default.svc.cluster.local`` with the auto-mTLS
  ``transport_socket_matches`` ``tlsMode-istio`` / ``tlsMode-disabled``.
- ``endpoints.config_dump.json`` (istio/istio istioctl/pkg/writer/envoy/configdump/testdata/endpoint/configdump.json):
  the EDS of a bookinfo sidecar; ``outbound|9080||productpage.default.svc.cluster.local`` has one endpoint
  10.244.0.194:9080 with ``tlsMode: istio``; ``outbound|9200||elasticsearch.skywalking.svc.cluster.local`` has one
  endpoint without the label (no sidecar).

A client's ``/config_dump?include_eds=true`` holds both sections in one ``configs`` list, so the tests join them.
DERIVED (each marked where it is built), all against istio/istio at 86c9f01fd735fb01d8192f5bcaf0d424afb7f14c:
- cluster names: the CDS artefact's cluster is the v1 subset; the subset-less cluster of the same Service is named
  ``outbound|9080||productpage...`` (pilot/pkg/model/service.go ``BuildSubsetKey``, lines 1860-1862) and gets the
  same matches, as does every non-headless EDS cluster under auto mTLS (pilot/pkg/networking/core/cluster_tls.go
  ``applyUpstreamTLSSettings``, lines 90-110), so it is reused, renamed, for elasticsearch.
- the DISABLE endpoint: pilot/pkg/xds/endpoints/mtls_checker.go ``checkMtlsEnabled`` (lines 53-66) returns false for
  a workload port whose PeerAuthentication is DISABLE; pilot/pkg/xds/endpoints/endpoint_builder.go (lines 800-805)
  then clears the endpoint's TLSMode and pilot/pkg/networking/util/util.go ``AppendLbEndpointMetadata`` (lines 515-521)
  writes no ``envoy.transport_socket_match`` key: the rule applied below is "delete that key, keep the rest".
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from builders import pa
from paths import SHARED

from mtls_conformance.engine import expect
from mtls_conformance.engine.endpoint_tls import EndpointLabel, endpoint_tls_mode
from mtls_conformance.engine.model import ClientSends, Expectation
from mtls_conformance.executor import evidence as ev
from mtls_conformance.observe import envoy_config
from mtls_conformance.scenario import Address, Probe, Scenario

ARTEFACTS = SHARED / "istio" / "proxy-artifacts" / "envoy-config_dump"
PRODUCTPAGE = "outbound|9080||productpage.default.svc.cluster.local"
ELASTICSEARCH = "outbound|9200||elasticsearch.skywalking.svc.cluster.local"
WORKLOADS: list[dict[str, Any]] = [
    {"name": "productpage", "namespace": "default", "ports": [{"name": "http", "port": 9080}]},
    {"name": "elasticsearch", "namespace": "skywalking", "sidecar": False, "ports": [{"name": "http", "port": 9200}]},
    {"name": "sleep", "namespace": "default", "ports": []},
]
MESH_STRICT = pa("default", "istio-system", "STRICT")
PRODUCTPAGE_DISABLE = pa("w", "default", "DISABLE", {"app": "productpage"})
Build = Callable[..., Scenario]


def _artefact(name: str) -> dict[str, Any]:
    path = ARTEFACTS / f"{name}.config_dump.json"
    if not path.exists():
        pytest.fail(f"shared artefact missing: {path} (tests read ../shared relative to the project root)")
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def _cds() -> dict[str, Any]:
    """The real ClustersConfigDump (describe-http_config); its auto-mTLS cluster DERIVED by renaming (BuildSubsetKey
    without a subset), plus a renamed copy for elasticsearch (every non-headless auto-mTLS cluster has these matches)."""
    cds: dict[str, Any] = next(c for c in _artefact("describe-http_config")["configs"] if c["@type"].endswith(".ClustersConfigDump"))
    productpage = cds["dynamic_active_clusters"][0]
    assert productpage["cluster"]["name"] == "outbound|9080|v1|productpage.default.svc.cluster.local"
    productpage["cluster"]["name"] = PRODUCTPAGE
    elasticsearch = copy.deepcopy(productpage)
    elasticsearch["cluster"]["name"] = ELASTICSEARCH
    cds["dynamic_active_clusters"].append(elasticsearch)
    return cds


def _eds(*, disable: str | None = None) -> dict[str, Any]:
    """The real EndpointsConfigDump (endpoints.config_dump.json); with ``disable``, that cluster's endpoints DERIVED as
    istiod builds them for a DISABLE workload port: mtls_checker.go 53-66 says not mTLS, endpoint_builder.go 800-805
    clears TLSMode, util.go 515-521 then writes no ``envoy.transport_socket_match`` key."""
    eds: dict[str, Any] = _artefact("endpoints")["configs"][0]
    assert eds["@type"].endswith(".EndpointsConfigDump")
    for entry in eds["dynamic_endpoint_configs"]:
        if entry["endpoint_config"]["cluster_name"] == disable:
            for locality in entry["endpoint_config"]["endpoints"]:
                for lb in locality["lb_endpoints"]:
                    del lb["metadata"]["filter_metadata"]["envoy.transport_socket_match"]  # util.go 515-521: no key
    return eds


def _dump(*sections: dict[str, Any]) -> str:
    return json.dumps({"configs": list(sections)})


def _expect(build: Build, config: list[dict[str, Any]], target: str, port: int) -> tuple[Scenario, Expectation]:
    scenario = build(WORKLOADS, config)
    return scenario, expect(scenario, Probe("default/sleep", target, port))


def _holds(scenario: Scenario, e: Expectation, dump: str) -> tuple[bool, str]:
    _, _, holds = ev.client_check(scenario, e)
    return holds(dump)


# ---------------------------------------------------------------- the engine's per-endpoint decision


def test_engine_label_follows_mtls_checker(build_scenario: Build) -> None:
    def label(config: list[dict[str, Any]], target: str = "default/productpage", port: int = 9080) -> str | None:
        scenario, e = _expect(build_scenario, config, target, port)
        return endpoint_tls_mode(scenario, e).tls_mode

    assert label([MESH_STRICT]) == "istio"
    assert label([]) == "istio"  # PERMISSIVE by default
    assert label([MESH_STRICT, PRODUCTPAGE_DISABLE]) is None
    assert label([MESH_STRICT], "skywalking/elasticsearch", 9200) is None
    dr: dict[str, Any] = {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
                          "metadata": {"name": "d", "namespace": "default"},
                          "spec": {"host": "productpage", "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}}}
    assert label([MESH_STRICT, PRODUCTPAGE_DISABLE, dr]) == "istio"  # mtls_checker.go 54-56: the DR mode decides first
    dr["spec"]["trafficPolicy"] = {"tls": {"mode": "DISABLE"}}
    assert label([MESH_STRICT, dr]) is None
    with pytest.raises(ValueError, match="pod-IP"):
        scenario = build_scenario(WORKLOADS, [])
        endpoint_tls_mode(scenario, expect(scenario, Probe("default/sleep", "default/productpage", 9080, Address.POD)))


# ---------------------------------------------------------------- the check


def test_old_check_could_never_hold_for_a_disable_server(build_scenario: Build) -> None:
    """The old predicate took the endpoint's tlsMode from server.sidecar ("istio"): under auto mTLS that means mTLS,
    so the engine's plaintext for a DISABLE server never held, whatever EDS said (the phase timed out)."""
    _, e = _expect(build_scenario, [MESH_STRICT, PRODUCTPAGE_DISABLE], "default/productpage", 9080)
    assert e.client_sends is ClientSends.PLAINTEXT
    for eds in (_eds(), _eds(disable=PRODUCTPAGE)):
        dump = envoy_config.load_dump(_dump(_cds(), eds))
        assert not envoy_config.client_cluster_sends(dump, PRODUCTPAGE, e.client_sends, endpoint_tls_mode="istio")


def test_disable_server_check_holds_once_eds_drops_the_label(build_scenario: Build) -> None:
    scenario, e = _expect(build_scenario, [MESH_STRICT, PRODUCTPAGE_DISABLE], "default/productpage", 9080)
    assert e.client_sends is ClientSends.PLAINTEXT
    ok, excerpt = _holds(scenario, e, _dump(_cds(), _eds(disable=PRODUCTPAGE)))
    assert ok, excerpt
    assert "endpoint 10.244.0.194:9080 tlsMode=none -> plaintext" in excerpt
    # Before istiod's push reaches EDS the endpoint still says istio: the proxy would send mTLS, so it must not hold.
    ok, excerpt = _holds(scenario, e, _dump(_cds(), _eds()))
    assert not ok and "tlsMode=istio -> istio_mutual" in excerpt and "DISABLE" in excerpt


@pytest.mark.parametrize("config", [[MESH_STRICT], []], ids=["strict", "permissive"])
def test_sidecar_server_check_holds_on_the_real_istio_endpoint(build_scenario: Build, config: list[dict[str, Any]]) -> None:
    scenario, e = _expect(build_scenario, config, "default/productpage", 9080)
    assert e.client_sends is ClientSends.ISTIO_MUTUAL
    ok, excerpt = _holds(scenario, e, _dump(_cds(), _eds()))
    assert ok, excerpt
    assert not _holds(scenario, e, _dump(_cds(), _eds(disable=PRODUCTPAGE)))[0]


def test_sidecarless_server_check_holds_on_the_real_unlabelled_endpoint(build_scenario: Build) -> None:
    scenario, e = _expect(build_scenario, [MESH_STRICT], "skywalking/elasticsearch", 9200)
    assert e.client_sends is ClientSends.PLAINTEXT
    ok, excerpt = _holds(scenario, e, _dump(_cds(), _eds()))
    assert ok, excerpt
    assert "endpoint 10.244.0.185:9200 tlsMode=none -> plaintext" in excerpt


def test_auto_mtls_cluster_without_eds_cannot_hold(build_scenario: Build) -> None:
    """A plain /config_dump has no EDS: the endpoints' labels, hence the wire, are unknown."""
    scenario, e = _expect(build_scenario, [MESH_STRICT], "default/productpage", 9080)
    ok, excerpt = _holds(scenario, e, _dump(_cds()))
    assert not ok and "include_eds=true" in excerpt
    ok, excerpt = _holds(scenario, e, _dump({"@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump"}))
    assert not ok and "not in the dump" in excerpt


def test_explicit_transport_socket_ignores_endpoint_labels(build_scenario: Build) -> None:
    """A DestinationRule TLS mode is the cluster's own transport_socket (cluster_tls.go lines 84-89): the same for every endpoint."""
    dr = {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": {"name": "d", "namespace": "default"},
          "spec": {"host": "productpage", "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}}}
    scenario, e = _expect(build_scenario, [MESH_STRICT, dr], "default/productpage", 9080)
    assert e.client_sends is ClientSends.ISTIO_MUTUAL
    cds = _cds()
    cluster = cds["dynamic_active_clusters"][0]["cluster"]
    cluster["transport_socket"] = cluster.pop("transport_socket_matches")[0]["transport_socket"]  # DERIVED: the same socket, unmatched
    assert _holds(scenario, e, _dump(cds))[0]  # no EDS needed
    assert _holds(scenario, e, _dump(cds, _eds(disable=PRODUCTPAGE)))[0]


def test_mixed_endpoints_hold_only_when_every_endpoint_gets_what_the_engine_expects(build_scenario: Build) -> None:
    scenario, e = _expect(build_scenario, [MESH_STRICT, PRODUCTPAGE_DISABLE], "default/productpage", 9080)
    eds = _eds(disable=PRODUCTPAGE)
    entry = next(x for x in eds["dynamic_endpoint_configs"] if x["endpoint_config"]["cluster_name"] == PRODUCTPAGE)
    lbs = entry["endpoint_config"]["endpoints"][0]["lb_endpoints"]
    second = copy.deepcopy(lbs[0])
    second["endpoint"]["address"]["socket_address"]["address"] = "10.244.0.250"
    second["metadata"]["filter_metadata"]["envoy.transport_socket_match"] = {"tlsMode": "istio"}  # a pod not yet updated
    lbs.append(second)
    ok, excerpt = _holds(scenario, e, _dump(_cds(), eds))
    assert not ok and "10.244.0.250:9080 tlsMode=istio -> istio_mutual" in excerpt


def test_client_holds_compares_labels_with_the_engine() -> None:
    dump = _dump(_cds(), _eds(disable=PRODUCTPAGE))
    assert ev.client_holds(PRODUCTPAGE, ClientSends.PLAINTEXT, EndpointLabel(None, "DISABLE"))(dump)[0]
    # An engine that expected the istio label but plaintext on the wire contradicts itself: never holds.
    assert not ev.client_holds(PRODUCTPAGE, ClientSends.PLAINTEXT, EndpointLabel("istio", "?"))(dump)[0]


# ---------------------------------------------------------------- evidence agrees with the check


def test_config_evidence_reads_the_same_eds(build_scenario: Build) -> None:
    scenario, e = _expect(build_scenario, [MESH_STRICT, PRODUCTPAGE_DISABLE], "default/productpage", 9080)
    (found,) = ev.config_evidence(scenario, e, None, _dump(_cds(), _eds(disable=PRODUCTPAGE)))
    assert found.says_mtls is False and "sends plaintext" in found.detail
    (found,) = ev.config_evidence(scenario, e, None, _dump(_cds(), _eds()))
    assert found.says_mtls is True and "sends istio_mutual" in found.detail
    (found,) = ev.config_evidence(scenario, e, None, _dump(_cds()))
    assert found.says_mtls is None and "include_eds=true" in found.artefact
    scenario, e = _expect(build_scenario, [MESH_STRICT], "skywalking/elasticsearch", 9200)
    (found,) = ev.config_evidence(scenario, e, None, _dump(_cds(), _eds()))
    assert found.says_mtls is False
