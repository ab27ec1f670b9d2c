"""Prometheus parser on the real sidecar scrape excerpts, and the istio_requests_total mTLS evidence."""

from __future__ import annotations

import math

import pytest
from paths import SHARED

from mtls_conformance.observe.metrics import (
    MetricsSyntaxError,
    counter_delta,
    metric_types,
    metrics_evidence,
    parse_prometheus,
    requests_delta,
    select,
)

ARTEFACTS = SHARED / "istio" / "proxy-artifacts" / "prometheus"


def _read(part: str) -> str:
    path = ARTEFACTS / f"datadog-fixture-istio-1.5-istio-proxy.EXCERPT-{part}.txt"
    if not path.exists():
        pytest.fail(f"shared artefact missing: {path}")
    return path.read_text()


def test_real_scrape_head() -> None:
    text = _read("head")
    samples = parse_prometheus(text)
    assert len(samples) == 132 and len(metric_types(text)) == 119
    assert metric_types(text)["envoy_cluster_upstream_rq"] == "counter"
    sds = select(samples, "envoy_cluster_client_ssl_socket_factory_ssl_context_update_by_sds",
                 {"cluster_name": "outbound|9080||ratings.default.svc.cluster.local"})
    assert [s.value for s in sds] == [8.0]
    assert {s.label_map["response_code_class"]: s.value for s in select(samples, "envoy_cluster_upstream_rq", {"cluster_name": "xds-grpc"})} == {
        "5xx": 1.0, "2xx": 2.0}


def test_real_scrape_tail_istio_labels() -> None:
    samples = parse_prometheus(_read("tail"))
    assert [s.name for s in samples] == ["istio_request_bytes_bucket"] * 2 + ["istio_request_bytes_sum", "istio_request_bytes_count"]
    count = samples[-1].label_map
    assert count["reporter"] == "source" and count["connection_security_policy"] == "unknown"  # the source reporter never knows
    assert count["destination_service_name"] == "PassthroughCluster" and samples[-2].value == 1150.0
    assert samples[1].label_map["le"] == "+Inf"
    # the source-reported series says nothing about mTLS, even though a request was counted
    assert metrics_evidence([], samples).says_mtls is None


def _scrape(mtls: int, none: int, unknown: int = 0, extra: str = "") -> str:
    """Hand-written istio_requests_total series (DERIVED, see docs/contracts.md): the label names are those of the real
    tail excerpt above (reporter, source_workload, destination_workload, connection_security_policy, response_code),
    Istio's standard metrics share that label set (https://istio.io/latest/docs/reference/config/metrics/), and the
    values mutual_tls / none / unknown are the documented values of connection_security_policy there. No recording
    from a current sidecar with reporter="destination" exists in ../shared."""
    base = 'istio_requests_total{reporter="%s",source_workload="curl",destination_workload="httpbin",connection_security_policy="%s",response_code="200"%s} %d'
    return "\n".join([
        "# TYPE istio_requests_total counter",
        base % ("destination", "mutual_tls", extra, mtls),
        base % ("destination", "none", extra, none),
        base % ("source", "unknown", extra, unknown),
    ])


def test_requests_delta_and_evidence() -> None:
    before, after = parse_prometheus(_scrape(5, 2, 7)), parse_prometheus(_scrape(8, 2, 10))
    assert requests_delta(before, after, {"reporter": "destination", "connection_security_policy": "mutual_tls"}) == 3
    ev = metrics_evidence(before, after, {"destination_workload": "httpbin"})
    assert ev.source == "metrics" and ev.says_mtls is True and ev.extra == {"mutual_tls": "3", "none": "0", "unknown": "0"}
    plain = metrics_evidence(before, parse_prometheus(_scrape(5, 4)))
    assert plain.says_mtls is False and "connection_security_policy=none" in plain.detail
    assert metrics_evidence(before, before).says_mtls is None
    assert metrics_evidence(before, parse_prometheus(_scrape(6, 3))).says_mtls is None  # mixed: cannot attribute
    assert counter_delta(parse_prometheus(_scrape(50, 0)), parse_prometheus(_scrape(3, 0)), "istio_requests_total") == 3  # reset


def test_escapes_special_values_and_errors() -> None:
    samples = parse_prometheus('m{a="x\\"y",b="l\\\\n\\n"} NaN 1700000000000\nn +Inf\n')
    assert samples[0].label_map == {"a": 'x"y', "b": "l\\n\n"} and math.isnan(samples[0].value)
    assert samples[1].value == math.inf and samples[1].labels == ()
    with pytest.raises(MetricsSyntaxError):
        parse_prometheus('m{a=unquoted} 1')
    with pytest.raises(MetricsSyntaxError):
        parse_prometheus("m one")
