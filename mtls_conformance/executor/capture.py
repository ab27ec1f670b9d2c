"""Packet captures on a backend pod: tcpdump in an ephemeral debug container, started and stopped by exec.

The capture listens on eth0 only: inside a sidecar pod, Envoy forwards to the app over loopback in plaintext, and
that hop must not be mistaken for what crossed the network. The pcap comes back base64-encoded over the exec stream.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import secrets
import shlex

from mtls_conformance.executor.converge import Clock, poll_until
from mtls_conformance.executor.errors import HarnessError
from mtls_conformance.executor.kube import ExecResult, Kube, PodInfo

DEBUG_CONTAINER = "mtlsc-capture"
# nicolaka/netshoot ships tcpdump; pinned by tag so `kind load` can preload it (https://github.com/nicolaka/netshoot).
CAPTURE_IMAGE = "docker.io/nicolaka/netshoot:v0.14"


class PacketCapture:
    _ids = itertools.count(1)

    def __init__(self, kube: Kube, clock: Clock, *, exec_timeout_s: float, start_timeout_s: float, poll_interval_s: float = 0.5,
                 image: str = CAPTURE_IMAGE, interface: str = "eth0") -> None:
        self.kube = kube
        self.clock = clock
        self.exec_timeout_s = exec_timeout_s
        self.start_timeout_s = start_timeout_s
        self.image = image
        self.poll_interval_s = poll_interval_s
        self.interface = interface

    def _sh(self, pod: PodInfo, script: str) -> ExecResult:
        return self.kube.exec(pod, DEBUG_CONTAINER, ["sh", "-c", script], self.exec_timeout_s)

    def start(self, pod: PodInfo, port: int, window_s: float) -> str:
        """Start tcpdump for TCP ``port`` on the pod's interface; returns a capture id once tcpdump is listening."""
        self.kube.ensure_debug_container(pod, DEBUG_CONTAINER, self.image, self.start_timeout_s)
        # A path inside the debug container, not on this machine; unique so overlapping captures never share files.
        cap = f"/tmp/mtlsc-{secrets.token_hex(4)}-{next(self._ids)}"  # noqa: S108
        # `timeout` bounds the capture even if stop() never runs (the run was interrupted). --immediate-mode: without it,
        # packets wait in a kernel buffer block for up to a second and are lost when SIGINT ends the capture.
        started = self._sh(pod, f"timeout {max(1, round(window_s))} tcpdump --immediate-mode -i {shlex.quote(self.interface)} -U -n -s 0 "
                                f"-w {cap}.pcap "
                                f"{shlex.quote(f'tcp port {port}')} >{cap}.log 2>&1 & echo $! >{cap}.pid")
        if started.exit_code != 0:
            raise HarnessError(pod.key, f"tcpdump did not start: {started.stderr.strip() or started.transport_error}",
                               f"check that {self.image} can run with NET_RAW/NET_ADMIN in this cluster")

        def listening() -> tuple[bool, str]:
            log = self._sh(pod, f"cat {cap}.log")
            return "listening on" in log.stdout, log.stdout.strip()[-300:] or "(no tcpdump output yet)"

        poll_until(listening, what=f"tcpdump to listen in {pod.key}", timeout_s=self.start_timeout_s, interval_s=self.poll_interval_s, clock=self.clock)
        return cap

    def stop(self, pod: PodInfo, cap: str) -> bytes:
        """Stop tcpdump (SIGINT makes it flush and print its packet counts) and return the pcap bytes."""
        self._sh(pod, f"kill -INT $(cat {cap}.pid) 2>/dev/null || true")

        def stopped() -> tuple[bool, str]:
            # The exit summary, not `kill -0`: in an ephemeral container nothing reaps the exited tcpdump, and a zombie
            # still answers kill -0.
            log = self._sh(pod, f"cat {cap}.log")
            return "packets captured" in log.stdout, log.stdout.strip()[-300:]

        poll_until(stopped, what=f"tcpdump to stop in {pod.key}", timeout_s=self.start_timeout_s, interval_s=self.poll_interval_s, clock=self.clock)
        dumped = self._sh(pod, f"base64 {cap}.pcap && rm -f {cap}.pcap {cap}.pid {cap}.log")
        if dumped.exit_code != 0:
            raise HarnessError(pod.key, f"cannot read the capture: {dumped.stderr.strip() or dumped.transport_error}", "")
        try:
            return base64.b64decode("".join(dumped.stdout.split()), validate=True)
        except binascii.Error:
            raise HarnessError(pod.key, "the capture came back corrupted", "retry; the exec stream may have been cut") from None
