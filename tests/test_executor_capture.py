"""PacketCapture's exec commands run for real: tcpdump in a network namespace standing in for the debug container.

The fake Kubernetes exec runs each command with `sh -c` inside the server's namespace, so the exact shell the harness
sends to the ephemeral container (start in the background, wait for "listening on", SIGINT, wait for the packet
counts, base64 back over the exec stream) is exercised against real traffic on a veth pair. The pcap is then judged
by the evidence glue, with a plaintext negative control.

The server pod is ``pod_info()`` on Istio's injector golden ``hello.yaml.injected`` (../shared/istio/inject/, istio/istio
pkg/kube/inject/testdata/inject at 1.30.3; a native sidecar), renamed and given the veth address as its podIP
(PodStatus: https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/#PodStatus).
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

import pytest
from netns import background, netns_pair, require, servers_argv
from test_executor_fakes import FakeKube
from test_executor_pod_shapes import golden_pod

from mtls_conformance.executor import evidence
from mtls_conformance.executor.capture import DEBUG_CONTAINER, PacketCapture
from mtls_conformance.executor.converge import RealClock
from mtls_conformance.executor.kube import ExecResult, PodInfo, pod_info

pytestmark = pytest.mark.netns


def in_namespace(ns: str):  # type: ignore[no-untyped-def]
    def handler(pod: PodInfo, container: str, command: Sequence[str]) -> ExecResult:
        assert container == DEBUG_CONTAINER
        done = subprocess.run(["ip", "netns", "exec", ns, *command], capture_output=True, text=True, timeout=30, check=False)
        return ExecResult(done.stdout, done.stderr, done.returncode)

    return handler


def test_capture_sees_tls_with_istio_alpn_and_the_plaintext_control() -> None:
    require("ip", "tcpdump", "openssl", "curl", "timeout", "base64")
    with netns_pair("mcap") as pair:
        kube = FakeKube(exec_handler=in_namespace(pair.server_ns))
        capture = PacketCapture(kube, RealClock(), exec_timeout_s=30, start_timeout_s=15, poll_interval_s=0.1, interface=pair.server_if)
        injected = golden_pod("hello.yaml.injected")
        injected["metadata"].update(name="httpbin-1", namespace="foo")
        injected["status"] = {"phase": "Running", "podIP": pair.server_ip, "conditions": [{"type": "Ready", "status": "True"}]}
        pod = pod_info(injected)
        assert pod.has_sidecar and pod.ip == pair.server_ip
        with background(pair.argv(pair.server_ns, servers_argv("--bind", pair.server_ip, "--http-echo", "8080")), "READY"):
            # the probe: a TLS ClientHello offering Istio's ALPN, as a client sidecar sends it
            cap = capture.start(pod, 8080, window_s=20)
            # (the echo server waits for an HTTP request that never comes: `timeout` ends the handshake attempt)
            pair.run(pair.client_ns, ["timeout", "1", "openssl", "s_client", "-connect", f"{pair.server_ip}:8080",
                                      "-alpn", "istio-peer-exchange,istio"], stdin="", timeout=15)
            probe_pcap = capture.stop(pod, cap)
            # the negative control: a known-plaintext request to the same port
            cap = capture.start(pod, 8080, window_s=20)
            pair.run(pair.client_ns, ["curl", "-s", "-o", "/dev/null", "--max-time", "5", f"http://{pair.server_ip}:8080/headers"])
            control_pcap = capture.stop(pod, cap)
    assert probe_pcap[:4] in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x0a\x0d\x0d\x0a")  # a pcap or pcapng file
    says = evidence.capture_evidence(probe_pcap, control_pcap, 8080)
    assert says.says_mtls is True and "istio-peer-exchange" in says.detail, says.artefact
    plain = evidence.capture_evidence(control_pcap, control_pcap, 8080)
    assert plain.says_mtls is False
    without_control = evidence.capture_evidence(probe_pcap, None, 8080)
    assert without_control.says_mtls is None  # never "encrypted" without a negative control
    debug_calls = kube.calls("debug")
    assert debug_calls and all(c[2] == DEBUG_CONTAINER for c in debug_calls)
