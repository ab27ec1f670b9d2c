"""The capture classifier on REAL traffic: network namespaces, a veth pair, tcpdump, a plaintext HTTP server and
an mTLS server with SPIFFE certificates minted here (ALPN istio-peer-exchange,istio). Everything stays inside the
namespaces this test creates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from netns import background, netns_pair, require, servers_argv, wait_until
from support.pcapng import pcap_to_pcapng

from mtls_conformance.observe.capture import (
    CaptureFormatError,
    FlowKind,
    capture_verdict,
    classify_capture,
    classify_payload,
    read_packets,
)
from mtls_conformance.observe.pki import mint_ca, mint_workload

SERVER_ID = "spiffe://cluster.local/ns/foo/sa/httpbin"
CLIENT_ID = "spiffe://cluster.local/ns/foo/sa/curl"
ALPN = "istio-peer-exchange,istio"


def _pki(tmp: Path) -> dict[str, str]:
    now = dt.datetime.now(dt.UTC)
    root = mint_ca("test root", not_before=now - dt.timedelta(hours=1), lifetime=dt.timedelta(days=1))
    files = {"ca": root.cert_pem}
    for name, spiffe in (("server", SERVER_ID), ("client", CLIENT_ID)):
        leaf = mint_workload(spiffe, root, not_before=now - dt.timedelta(minutes=2), lifetime=dt.timedelta(hours=1))
        files[f"{name}.crt"], files[f"{name}.key"] = leaf.cert_pem + root.cert_pem, leaf.key_pem
    paths = {}
    for name, data in files.items():
        (tmp / name).write_bytes(data)
        paths[name] = str(tmp / name)
    return paths


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, str]:
    """One real capture: a plaintext HTTP request to :8080 and an mTLS request to :8443."""
    require("ip", "tcpdump", "curl")
    tmp = tmp_path_factory.mktemp("capture")
    tmp.chmod(0o755)  # tcpdump may drop privileges before writing
    pki = _pki(tmp)
    pcap = tmp / "probe.pcap"
    with netns_pair("h4cap") as net:
        ip = net.server_ip
        server = servers_argv("--bind", ip, "--http-echo", "8080",
                              "--tls-echo", f"8443:{pki['server.crt']}:{pki['server.key']}:{pki['ca']}:{ALPN}")
        dump = ["tcpdump", "-i", net.server_if, "-n", "-U", "--immediate-mode", "-s", "0", "-Z", "root", "-w", str(pcap), "tcp port 8080 or tcp port 8443"]
        with background(net.argv(net.server_ns, server), "READY"), \
             background(net.argv(net.server_ns, dump), "listening on", stream="stderr"):
            plain = net.run(net.client_ns, ["curl", "-sS", "--max-time", "5", f"http://{ip}:8080/headers"])
            assert plain.returncode == 0, plain.stderr
            mtls = net.run(net.client_ns, servers_argv("--tls-client", ip, "8443", pki["client.crt"], pki["client.key"], pki["ca"], ALPN))
            assert mtls.returncode == 0, mtls.stderr
            assert CLIENT_ID in mtls.stdout and '"alpn": "istio-peer-exchange"' in mtls.stdout  # a real mutual TLS handshake
            # tcpdump writes each packet as it arrives (-U, --immediate-mode): wait until both connections closed (FIN or RST)
            wait_until(lambda: sum(1 for p in read_packets(pcap.read_bytes()) if p.flags & 0x05) >= 4)
    return pcap.read_bytes(), ip


@pytest.mark.netns
def test_real_capture_classifies_plaintext_and_mtls(captured: tuple[bytes, str]) -> None:
    data, ip = captured
    (plain,) = classify_capture(data, 8080)
    assert plain.kind is FlowKind.HTTP_PLAINTEXT and plain.preview.startswith("GET /headers HTTP/1.1")
    assert plain.server == (ip, 8080) and plain.server_bytes > 0
    (tls,) = classify_capture(data, 8443)
    assert tls.kind is FlowKind.TLS_CLIENT_HELLO and tls.alpn == ("istio-peer-exchange", "istio") and tls.istio_mtls
    assert tls.preview == ""  # never echo encrypted bytes as text
    ev = capture_verdict([tls], negative_control_flows=[plain])
    assert ev.source == "capture" and ev.says_mtls is True and "istio-peer-exchange" in ev.detail
    assert capture_verdict([plain], [plain]).says_mtls is False


@pytest.mark.netns
def test_capture_refuses_without_a_plaintext_negative_control(captured: tuple[bytes, str]) -> None:
    data, _ = captured
    tls = classify_capture(data, 8443)
    assert capture_verdict(tls, []).says_mtls is None
    refused = capture_verdict(tls, negative_control_flows=tls)  # the "control" was encrypted: the capture proves nothing
    assert refused.says_mtls is None and "control was not seen as plaintext" in refused.detail
    assert capture_verdict([], classify_capture(data, 8080)).says_mtls is None


@pytest.mark.netns
def test_pcapng_reader_on_the_same_packets(captured: tuple[bytes, str]) -> None:
    data, _ = captured
    as_pcapng = pcap_to_pcapng(data)
    assert [(p.src, p.dport, p.payload) for p in read_packets(as_pcapng)] == [(p.src, p.dport, p.payload) for p in read_packets(data)]
    assert abs(read_packets(as_pcapng)[0].timestamp - read_packets(data)[0].timestamp) < 1e-6
    assert classify_capture(as_pcapng, 8443)[0].alpn == ("istio-peer-exchange", "istio")


def test_payload_classes_and_bad_input() -> None:
    # Hand-built payloads, each a documented format: a TLS record header (content type 0x17 application_data, legacy
    # version 0x0303, length: RFC 8446 section 5.1) and the HTTP/2 client connection preface (RFC 9113 section 3.4).
    assert classify_payload(b"")[0] is FlowKind.EMPTY
    assert classify_payload(b"mtls-probe-0123\n")[0] is FlowKind.OTHER_PLAINTEXT
    assert classify_payload(b"\x17\x03\x03\x00\x10" + bytes(16))[0] is FlowKind.TLS_OTHER
    assert classify_payload(bytes(range(256)))[0] is FlowKind.OPAQUE
    assert classify_payload(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")[0] is FlowKind.HTTP_PLAINTEXT
    with pytest.raises(CaptureFormatError):
        read_packets(b"not a capture at all")
