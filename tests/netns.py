"""Test helper: two network namespaces joined by a veth pair, and processes run inside them.

Only addresses inside the namespaces this helper creates are used (10.213.0.0/24), so no traffic leaves them.
Prerequisites (root, iproute2, tcpdump, openssl): a test that lacks one skips with the reason when run by hand,
and fails when CI is "true" (CI installs them).
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

SERVERS = Path(__file__).resolve().parent / "support" / "servers.py"


def require(*tools: str, root: bool = True) -> None:
    """Skip (by hand) or fail (CI=true) unless running as root with every tool on PATH."""
    missing = [t for t in tools if shutil.which(t) is None]
    problems = ([] if not root or os.geteuid() == 0 else ["root privileges"]) + [f"the '{t}' command" for t in missing]
    if problems:
        reason = "needs " + ", ".join(problems)
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " (CI installs them via .ci/run)")
        pytest.skip(reason)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@dataclass(frozen=True)
class NetnsPair:
    client_ns: str
    server_ns: str
    client_if: str
    server_if: str
    client_ip: str = "10.213.0.1"
    server_ip: str = "10.213.0.2"

    def argv(self, ns: str, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", ns, *argv]

    def run(self, ns: str, argv: Sequence[str], timeout: float = 30.0, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(ns, argv), capture_output=True, text=True, timeout=timeout, input=stdin, check=False)


@contextmanager
def netns_pair(tag: str) -> Iterator[NetnsPair]:
    """Create namespaces ``<tag><pid>c`` / ``...s`` with a veth between them; always delete them."""
    base = f"{tag}{os.getpid() % 100000}"
    pair = NetnsPair(f"{base}c", f"{base}s", f"{base}vc"[:15], f"{base}vs"[:15])
    try:
        _ip("netns", "add", pair.client_ns)
        _ip("netns", "add", pair.server_ns)
        _ip("link", "add", pair.client_if, "type", "veth", "peer", "name", pair.server_if)
        _ip("link", "set", pair.client_if, "netns", pair.client_ns)
        _ip("link", "set", pair.server_if, "netns", pair.server_ns)
        for ns, ifname, ip in ((pair.client_ns, pair.client_if, pair.client_ip), (pair.server_ns, pair.server_if, pair.server_ip)):
            _ip("-n", ns, "addr", "add", f"{ip}/24", "dev", ifname)
            _ip("-n", ns, "link", "set", ifname, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        yield pair
    finally:
        for ns in (pair.client_ns, pair.server_ns):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


def wait_for_line(proc: subprocess.Popen[str], needle: str, stream: str = "stdout", timeout: float = 10.0) -> str:
    """Block until ``needle`` appears on a line of the process's stream (event-driven, bounded)."""
    pipe = proc.stdout if stream == "stdout" else proc.stderr
    assert pipe is not None
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([pipe], [], [], left)
        if not ready:
            break
        line = pipe.readline()
        if not line:
            break
        seen.append(line)
        if needle in line:
            return line
    raise TimeoutError(f"{needle!r} not seen within {timeout}s; got: {''.join(seen)[-2000:]}")


@contextmanager
def background(argv: Sequence[str], ready: str, stream: str = "stdout", timeout: float = 10.0) -> Iterator[subprocess.Popen[str]]:
    """Start a process, wait until it prints ``ready``, and stop it (SIGINT, then kill) on exit."""
    proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_line(proc, ready, stream, timeout)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, interval: float = 0.05) -> None:
    """Bounded poll: return as soon as ``predicate()`` holds, raise TimeoutError after ``timeout``."""
    deadline = time.monotonic() + timeout
    tick = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s")
        tick.wait(interval)


def servers_argv(*args: str) -> list[str]:
    return [sys.executable, str(SERVERS), *args]
