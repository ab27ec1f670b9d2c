"""Small servers (and a TLS client) for the real-traffic tests; run inside a test network namespace.

    python servers.py --bind 10.213.0.2 --http-echo 8080 --reset 8082 --status 8083:503 ...
prints READY once every listener is bound, then serves until interrupted.
    python servers.py --tls-client HOST PORT CERT KEY CA ALPN[,ALPN]   # one mTLS request, prints the reply
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import socketserver
import ssl
import struct
import sys
import threading
from collections.abc import Callable
from typing import Any

FAKE_RECORD = "MTLSPROBE1 6f6f6f tcp 0 200 0.1 1 41 - -\nMTLSPROBE1-END 1\n"  # a body must never forge a probe record


def _read_request(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def _headers(request: bytes) -> dict[str, str]:
    lines = request.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")[1:]
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in lines if ":" in line)}


def _respond(sock: socket.socket, status: int, body: bytes, ctype: str = "application/json") -> None:
    reason = {200: "OK", 403: "Forbidden", 503: "Service Unavailable"}.get(status, "Status")
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    sock.sendall(head.encode() + body)


def http_echo(xfcc: str | None) -> Callable[[socket.socket], None]:
    """httpbin-style /headers; with ``xfcc`` it adds the header as a server sidecar would after mTLS."""
    def handle(sock: socket.socket) -> None:
        headers = _headers(_read_request(sock))
        if xfcc is not None:
            headers["X-Forwarded-Client-Cert"] = xfcc
        body = json.dumps({"headers": {k: [v] for k, v in headers.items()}, "note": FAKE_RECORD}).encode()
        _respond(sock, 200, body)
    return handle


def status(code: int) -> Callable[[socket.socket], None]:
    def handle(sock: socket.socket) -> None:
        _read_request(sock)
        _respond(sock, code, b"RBAC: access denied" if code == 403 else b"upstream connect error", "text/plain")
    return handle


def forge(sock: socket.socket) -> None:
    """200 with a body made of lines that look like probe records."""
    _read_request(sock)
    _respond(sock, 200, FAKE_RECORD.encode() * 3, "text/plain")


def reset(sock: socket.socket) -> None:
    """Read the request, then abort with a TCP RST (SO_LINGER 0), as a STRICT sidecar does to plaintext."""
    _read_request(sock)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()  # now, before socketserver's orderly shutdown() could send a FIN


def empty(sock: socket.socket) -> None:
    """Read the request and close cleanly without a byte of reply (curl 52)."""
    _read_request(sock)


def hang(sock: socket.socket) -> None:
    """Never answer (curl 28 at --max-time); wait until the client gives up."""
    while sock.recv(4096):
        pass


def tcp_echo(sock: socket.socket) -> None:
    while data := sock.recv(4096):
        sock.sendall(data)


def close_at_once(sock: socket.socket) -> None:
    """Accept and close: a refused TCP connection seen through a proxy."""


def tls_echo(cert: str, key: str, ca: str, alpn: list[str]) -> tuple[Callable[[socket.socket], None], ssl.SSLContext]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.load_verify_locations(ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.set_alpn_protocols(alpn)

    def handle(sock: socket.socket) -> None:
        tls = ctx.wrap_socket(sock, server_side=True)
        peer = tls.getpeercert() or {}
        uris = [v for k, v in peer.get("subjectAltName", ()) if k == "URI"]
        _read_request(tls)  # type: ignore[arg-type]
        _respond(tls, 200, json.dumps({"peer_uris": uris, "alpn": tls.selected_alpn_protocol()}).encode())  # type: ignore[arg-type]
        tls.close()
    return handle, ctx


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def _serve(bind: str, port: int, fn: Callable[[socket.socket], None]) -> _Server:
    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            with contextlib.suppress(OSError, ssl.SSLError):
                fn(self.request)

    server = _Server((bind, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def tls_client(host: str, port: int, cert: str, key: str, ca: str, alpn: str) -> int:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_cert_chain(cert, key)
    ctx.load_verify_locations(ca)
    ctx.check_hostname = False  # SPIFFE certificates carry URI SANs only; the server's chain is still verified
    ctx.set_alpn_protocols(alpn.split(","))
    with socket.create_connection((host, port), timeout=10) as raw, ctx.wrap_socket(raw) as tls:
        tls.sendall(f"GET /headers HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        reply = b""
        while chunk := tls.recv(4096):
            reply += chunk
    print(reply.decode(errors="replace"))
    return 0


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--bind", default="0.0.0.0")
    p.add_argument("--http-echo", type=int, action="append", default=[])
    p.add_argument("--http-xfcc", action="append", default=[], help="PORT:XFCC")
    p.add_argument("--status", action="append", default=[], help="PORT:CODE")
    p.add_argument("--forge", type=int, action="append", default=[])
    p.add_argument("--reset", type=int, action="append", default=[])
    p.add_argument("--empty", type=int, action="append", default=[])
    p.add_argument("--hang", type=int, action="append", default=[])
    p.add_argument("--tcp-echo", type=int, action="append", default=[])
    p.add_argument("--close", type=int, action="append", default=[])
    p.add_argument("--tls-echo", action="append", default=[], help="PORT:CERT:KEY:CA:ALPN[,ALPN]")
    p.add_argument("--tls-client", nargs=6, metavar=("HOST", "PORT", "CERT", "KEY", "CA", "ALPN"))
    a = p.parse_args(argv)
    if a.tls_client:
        host, port, cert, key, ca, alpn = a.tls_client
        return tls_client(host, int(port), cert, key, ca, alpn)
    handlers: list[tuple[int, Callable[[socket.socket], Any]]] = []
    handlers += [(port, http_echo(None)) for port in a.http_echo]
    handlers += [(int(spec.split(":", 1)[0]), http_echo(spec.split(":", 1)[1])) for spec in a.http_xfcc]
    handlers += [(int(spec.split(":")[0]), status(int(spec.split(":")[1]))) for spec in a.status]
    handlers += [(port, reset) for port in a.reset] + [(port, empty) for port in a.empty] + [(port, hang) for port in a.hang]
    handlers += [(port, forge) for port in a.forge]
    handlers += [(port, tcp_echo) for port in a.tcp_echo] + [(port, close_at_once) for port in a.close]
    for spec in a.tls_echo:
        port, cert, key, ca, alpn = spec.split(":")
        handlers.append((int(port), tls_echo(cert, key, ca, alpn.split(","))[0]))
    servers = [_serve(a.bind, port, fn) for port, fn in handlers]
    print("READY", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
    for s in servers:
        s.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
