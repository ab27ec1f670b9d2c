"""X-Forwarded-Client-Cert parsing: Istio's documented example, several hops, quoting, echo bodies."""

from __future__ import annotations

import pytest

from mtls_conformance.observe.xfcc import XfccSyntaxError, identities, parse_xfcc, xfcc_from_echo_body

# Istio's docs: the XFCC header httpbin echoes in the mutual TLS tasks (https://istio.io/latest/docs/tasks/security/
# authentication/mtls-migration/ and authn-policy/), hash redacted as there
DOC_EXAMPLE = 'By=spiffe://cluster.local/ns/foo/sa/httpbin;Hash=<redacted>;Subject="";URI=spiffe://cluster.local/ns/foo/sa/curl'


def test_istio_doc_example() -> None:
    (el,) = parse_xfcc(DOC_EXAMPLE)
    assert el.by == ("spiffe://cluster.local/ns/foo/sa/httpbin",)
    assert el.hash == "<redacted>" and el.subject == ""
    assert identities(DOC_EXAMPLE) == ("spiffe://cluster.local/ns/foo/sa/curl", "spiffe://cluster.local/ns/foo/sa/httpbin")


def test_multiple_elements_quoting_and_repeated_uris() -> None:
    # Envoy's documented XFCC examples (several elements separated by commas, a quoted Subject with escaped quotes,
    # repeated URI and DNS keys): https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_conn_man/headers#x-forwarded-client-cert
    value = ('By=http://frontend.lyft.com;Hash=468;URI=http://testclient.lyft.com,'
             'By=spiffe://td/ns/b/sa/srv;Hash=9f;Subject="/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test \\"quoted\\" Client";'
             'URI=spiffe://td/ns/a/sa/one;URI=spiffe://td/ns/a/sa/two;DNS=a.example;DNS=b.example')
    first, last = parse_xfcc(value)
    assert first.uris == ("http://testclient.lyft.com",) and first.client_identity == "http://testclient.lyft.com"
    assert last.subject == '/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test "quoted" Client'
    assert last.uris == ("spiffe://td/ns/a/sa/one", "spiffe://td/ns/a/sa/two") and last.dns == ("a.example", "b.example")
    assert identities(value) == ("spiffe://td/ns/a/sa/one", "spiffe://td/ns/b/sa/srv")  # the hop nearest the backend


@pytest.mark.parametrize("bad", ["", "By", 'Subject="unterminated'])
def test_malformed(bad: str) -> None:
    with pytest.raises(XfccSyntaxError):
        parse_xfcc(bad)


def test_echo_bodies() -> None:
    # go-httpbin's /headers answers {"headers": {name: [values]}} (https://github.com/mccutchen/go-httpbin, the image in
    # manifests/images.yaml); a string value and Istio's echo app "RequestHeader=Name:value" lines are tolerated forms
    # (**assumption** for the latter: not recorded)
    assert xfcc_from_echo_body(b'{"headers": {"X-Forwarded-Client-Cert": ["' + DOC_EXAMPLE.replace('"', '\\"').encode() + b'"]}}') == DOC_EXAMPLE
    assert xfcc_from_echo_body(b'{"headers": {"x-forwarded-client-cert": "By=a;URI=b"}}') == "By=a;URI=b"
    assert xfcc_from_echo_body(b'{"headers": {"Host": ["x"]}}') is None
    assert xfcc_from_echo_body(b"RequestHeader=Host:x\nRequestHeader=X-Forwarded-Client-Cert:By=a;URI=b\n") == "By=a;URI=b"
    assert xfcc_from_echo_body(b"\xff\xfe binary") is None
