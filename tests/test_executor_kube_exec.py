"""KubeClient.exec through the REAL client's websocket stream, against a minimal exec endpoint on loopback.

The endpoint speaks the channel protocol of `kubectl exec` (v4.channel.k8s.io): stdout on channel 1 (split over many
frames), stderr on 2, and the command's status on 3 (Success, or Failure with the exit code), then closes. It proves
exit codes, large outputs and a command that never ends (bounded by the exec timeout, reported as a transport problem,
i.e. INCONCLUSIVE) are handled as the probes, config dumps and captures need.

The status channel carries a ``v1.Status`` (https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/status/),
written as the kubelet's streaming server writes it: kubernetes/kubernetes
staging/src/k8s.io/kubelet/pkg/cri/streaming/remotecommand/exec.go @ cb07ae69a32f ``ServeExec``: Success; or Failure,
reason ``NonZeroExitCode``, one cause of type ``ExitCode`` (``StatusCause.Type`` is serialised as ``reason``) whose
message is the code, message "command terminated with non-zero exit code: <the runtime's error>" (containerd
internal/cri/server/streaming.go @ 52ac30acbeb6: "error executing command [..], exit code N"); any other exec error is
``apierrors.NewInternalError`` (staging/src/k8s.io/apimachinery/pkg/api/errors/errors.go @ 04846cc25b86): code 500,
reason ``InternalError``, message "Internal error occurred: ...", no exit code. The pod exec'd into is ``pod_info()`` on
Istio's injector golden ``hello.yaml.injected`` (../shared/istio/inject/; a native sidecar).
"""

from __future__ import annotations

import base64
import hashlib
import json
import socketserver
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import yaml
from test_executor_pod_shapes import golden_pod

from mtls_conformance.executor.kube import KubeClient, PodInfo, pod_info

BIG = ("0123456789abcdef" * 8192).encode()  # 128 KiB: more than one frame
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def frame(payload: bytes, opcode: int = 0x2) -> bytes:
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([n])
    elif n < 1 << 16:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    return head + payload


class ExecEndpoint(socketserver.BaseRequestHandler):
    commands: list[list[str]] = []
    auth: list[str] = []  # the Authorization header of each handshake

    def handle(self) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            request += chunk
        lines = request.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        query = parse_qs(urlparse(lines[0].split(" ")[1]).query)
        command = query.get("command", [])
        ExecEndpoint.commands.append(command)
        ExecEndpoint.auth.append(headers.get("authorization", ""))
        accept = base64.b64encode(hashlib.sha1((headers["sec-websocket-key"] + GUID).encode()).digest()).decode()
        self.request.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              f"Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n").encode())
        status: dict[str, object]
        if command[-1:] == ["big"]:
            for i in range(0, len(BIG), 16384):
                self.request.sendall(frame(b"\x01" + BIG[i:i + 16384]))
            status = {"metadata": {}, "status": "Success"}
        elif command[-1:] == ["fail"]:
            self.request.sendall(frame(b"\x01" + b"MTLSPROBE1 partial\n") + frame(b"\x02" + b"curl: (56) Recv failure\n"))
            status = {"metadata": {}, "status": "Failure",
                      "message": "command terminated with non-zero exit code: error executing command [sh -c fail], exit code 56",
                      "reason": "NonZeroExitCode", "details": {"causes": [{"reason": "ExitCode", "message": "56"}]}}
        elif command[-1:] == ["utf8"]:
            text = "caf\u00e9 \u2713\n".encode()  # two- and three-byte characters, each split across two frames
            for i in (4, 7):
                self.request.sendall(frame(b"\x01" + text[:i]))
                text = text[i:]
            self.request.sendall(frame(b"\x01" + text))
            status = {"metadata": {}, "status": "Success"}
        elif command[-1:] == ["hang"]:
            self.request.sendall(frame(b"\x01" + b"started\n"))
            self.request.recv(4096)  # until the client gives up and closes
            return
        else:
            cause = ('error executing command in container: failed to exec in container: failed to start exec "0f3c": '
                     'OCI runtime exec failed: exec failed: unable to start container process: exec: "whatever": '
                     'executable file not found in $PATH: unknown')
            status = {"metadata": {}, "status": "Failure", "message": f"Internal error occurred: {cause}",
                      "reason": "InternalError", "details": {"causes": [{"message": cause}]}, "code": 500}
        self.request.sendall(frame(b"\x03" + json.dumps(status).encode()) + frame(struct.pack("!H", 1000), opcode=0x8))


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[KubeClient]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), ExecEndpoint)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "fake",
        "clusters": [{"name": "fake", "cluster": {"server": f"http://127.0.0.1:{server.server_address[1]}"}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "u"}}], "users": [{"name": "u", "user": {"token": "t"}}]}))
    ExecEndpoint.commands = []
    ExecEndpoint.auth = []
    try:
        yield KubeClient.connect(str(kubeconfig), "fake")
    finally:
        server.shutdown()
        server.server_close()


def _pod() -> PodInfo:
    pod = golden_pod("hello.yaml.injected")
    pod["metadata"].update(name="curl-1", namespace="foo")
    return pod_info(pod)


POD = _pod()
APP = POD.app_containers[0]  # "hello": where a probe runs (istio-proxy is a restartable init container here)


def test_large_output_over_many_frames_and_exit_zero(kube: KubeClient) -> None:
    result = kube.exec(POD, "istio-proxy", ["pilot-agent", "request", "GET", "big"], timeout_s=10)
    assert result.exit_code == 0 and result.stdout.encode() == BIG and result.stderr == ""
    assert ExecEndpoint.commands == [["pilot-agent", "request", "GET", "big"]]
    assert ExecEndpoint.auth == ["Bearer t"]  # the kubeconfig's token reaches the websocket handshake


def test_non_zero_exit_code_comes_from_the_status_channel(kube: KubeClient) -> None:
    result = kube.exec(POD, APP, ["sh", "-c", "fail"], timeout_s=10)
    assert (result.exit_code, result.stdout, result.stderr) == (56, "MTLSPROBE1 partial\n", "curl: (56) Recv failure\n")


def test_a_command_that_never_ends_is_inconclusive_after_the_timeout(kube: KubeClient) -> None:
    result = kube.exec(POD, APP, ["hang"], timeout_s=1)
    assert result.exit_code is None and "did not finish within 1s" in result.transport_error and result.stdout == "started\n"


def test_a_failure_without_an_exit_code_is_a_transport_problem(kube: KubeClient) -> None:
    result = kube.exec(POD, APP, ["whatever"], timeout_s=5)
    assert result.exit_code is None and result.transport_error


def test_a_character_split_across_frames_is_decoded_whole(kube: KubeClient) -> None:
    result = kube.exec(POD, "istio-proxy", ["pilot-agent", "request", "GET", "utf8"], timeout_s=10)
    assert (result.exit_code, result.stdout) == (0, "caf\u00e9 \u2713\n")


def test_parallel_execs_leave_the_shared_client_for_rest_calls(kube: KubeClient) -> None:
    """stream() swaps call_api on the ApiClient it is given; execs in parallel threads must not leave a websocket
    call_api on the client every REST call (apply, list, watch) uses."""
    from concurrent.futures import ThreadPoolExecutor

    from kubernetes.client import ApiClient

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda _: kube.exec(POD, "istio-proxy", ["pilot-agent", "request", "GET", "big"], 10), range(32)))
    assert [r.exit_code for r in results] == [0] * 32 and all(r.stdout.encode() == BIG for r in results)
    assert "call_api" not in vars(kube.api_client)
    assert getattr(kube.api_client.call_api, "__func__", None) is ApiClient.call_api
