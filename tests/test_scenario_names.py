"""The name grammars the loader applies (Kubernetes labels, Istio hosts, SPIFFE trust domains)."""

from __future__ import annotations

import pytest

from mtls_conformance.scenario.names import bad_label, is_host, is_label_key, is_label_value, is_trust_domain


@pytest.mark.parametrize("key, ok", [
    ("app", True), ("app.kubernetes.io/name", True), ("security.istio.io/tlsMode", True), ("App_1.x-y", True),
    ("a" * 63, True), ("a" * 64, False), ("/x", False), ("x/", False), ("a/b/c", False), ("Example.com/x", False),
    ("-app", False), ("", False), (1, False), (None, False),
])
def test_label_key(key: object, ok: bool) -> None:
    assert is_label_key(key) is ok


@pytest.mark.parametrize("value, ok", [
    ("", True), ("v1", True), ("a.b_c-d", True), ("a" * 63, True), ("a" * 64, False), ("-v", False), ("v-", False),
    ("http bin", False), ("a/b", False), ("ü", False), (1, False), (True, False),
])
def test_label_value(value: object, ok: bool) -> None:
    assert is_label_value(value) is ok


def test_bad_label_names_the_first_offender() -> None:
    assert bad_label({"app": "x", "version": "1 0"}) == ("version", "'1 0' is not a valid label value")
    assert bad_label({"app": "x"}) is None


@pytest.mark.parametrize("host, ok", [
    ("*", True), ("*.local", True), ("httpbin", True), ("httpbin.foo.svc.cluster.local", True), ("*.foo.svc.cluster.local", True),
    ("foo.*", False), ("**.x", False), ("a..b", False), ("*.", False), ("foo/httpbin", False), (" ", False), ("a" * 64, False),
])
def test_host(host: str, ok: bool) -> None:
    assert is_host(host) is ok


@pytest.mark.parametrize("domain, ok", [
    ("cluster.local", True), ("example.org", True), ("td_1.example", True), ("", False), ("a b", False), ("x:443", False),
    ("spiffe://x", False), (".x", False), (None, False),
])
def test_trust_domain(domain: object, ok: bool) -> None:
    assert is_trust_domain(domain) is ok


def test_resources_without_timestamp_are_created_after_those_that_give_one() -> None:
    """A file mixing both: dated resources already exist; undated ones are applied now, in list order."""
    from mtls_conformance.scenario import parse_scenario

    text = """
workloads: [{name: httpbin, namespace: foo, ports: [{port: 8000}]}]
config:
  - {apiVersion: security.istio.io/v1, kind: PeerAuthentication, metadata: {name: undated, namespace: foo}, spec: {mtls: {mode: STRICT}}}
  - {apiVersion: security.istio.io/v1, kind: PeerAuthentication,
     metadata: {name: dated, namespace: foo, creationTimestamp: "2031-05-06T07:08:09Z"}, spec: {mtls: {mode: DISABLE}}}
  - {apiVersion: security.istio.io/v1, kind: PeerAuthentication, metadata: {name: later, namespace: foo}, spec: {mtls: {mode: PERMISSIVE}}}
"""
    ranks = {r.name: r.created_rank for r in parse_scenario(text, "<mixed>").config}
    assert ranks == {"dated": 0, "undated": 1, "later": 2}
