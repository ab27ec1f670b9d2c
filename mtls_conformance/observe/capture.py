"""Packet capture classifier: what the first bytes of each TCP connection to a port were, from pcap or pcapng.

A sidecar that originates Istio mTLS opens with a TLS ClientHello whose ALPN list carries Istio's markers
(``istio-peer-exchange``, ``istio``, ``istio-http/1.1``, ...; the inbound filter-chain matches in any sidecar config
dump show them). A plaintext client opens with an HTTP request line. ``capture_verdict`` turns flows into
evidence, and refuses to call anything encrypted unless a negative control (a probe known to be plaintext,
captured the same way) was seen as plaintext: otherwise the capture point may simply not see payloads.

Formats: pcap (https://www.ietf.org/archive/id/draft-ietf-opsawg-pcap-04.html) and pcapng
(https://www.ietf.org/archive/id/draft-ietf-opsawg-pcapng-02.html); link types Ethernet (1), raw IP (101),
Linux cooked SLL (113) and SLL2 (276). TLS ClientHello layout: RFC 8446 §4.1.2; ALPN extension 16: RFC 7301.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from mtls_conformance.observe.model import Evidence

ISTIO_ALPNS = frozenset({"istio", "istio-peer-exchange", "istio-http/1.0", "istio-http/1.1", "istio-h2"})
_HTTP_METHODS = (b"GET ", b"POST ", b"PUT ", b"HEAD ", b"DELETE ", b"OPTIONS ", b"PATCH ", b"CONNECT ", b"TRACE ")
_PREVIEW = 64


class CaptureFormatError(ValueError):
    """The bytes are not a pcap/pcapng file this parser understands."""


class FlowKind(enum.StrEnum):
    TLS_CLIENT_HELLO = "tls-client-hello"
    TLS_OTHER = "tls-other"  # TLS records, but the capture missed the ClientHello
    HTTP_PLAINTEXT = "http-plaintext"
    OTHER_PLAINTEXT = "other-plaintext"  # printable bytes that are not HTTP (e.g. a TCP echo line)
    OPAQUE = "opaque"  # binary, not TLS
    EMPTY = "empty"  # the client sent no payload (refused, reset, or cut short)

    @property
    def plaintext(self) -> bool:
        return self in (FlowKind.HTTP_PLAINTEXT, FlowKind.OTHER_PLAINTEXT)


@dataclass(frozen=True)
class Packet:
    timestamp: float
    src: str
    dst: str
    sport: int
    dport: int
    seq: int
    flags: int
    payload: bytes

    @property
    def syn(self) -> bool:
        return bool(self.flags & 0x02)

    @property
    def rst(self) -> bool:
        return bool(self.flags & 0x04)


@dataclass(frozen=True)
class Flow:
    client: tuple[str, int]
    server: tuple[str, int]
    kind: FlowKind
    alpn: tuple[str, ...] = ()
    sni: str = ""
    client_bytes: int = 0
    server_bytes: int = 0
    reset: bool = False
    preview: str = ""  # the first client bytes, printable characters only
    first_seen: float = 0.0

    @property
    def istio_mtls(self) -> bool:
        return self.kind is FlowKind.TLS_CLIENT_HELLO and bool(ISTIO_ALPNS.intersection(self.alpn))

    def describe(self) -> str:
        what = self.kind.value
        if self.kind is FlowKind.TLS_CLIENT_HELLO:
            what += f" alpn={','.join(self.alpn) or '-'}" + (f" sni={self.sni}" if self.sni else "")
        elif self.preview:
            what += f" {self.preview!r}"
        return f"{self.client[0]}:{self.client[1]} -> {self.server[0]}:{self.server[1]} {what}" + (" (reset)" if self.reset else "")


# ---------------------------------------------------------------- file formats


def _pcap_packets(data: bytes) -> Iterator[tuple[float, int, bytes]]:
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise CaptureFormatError("not a pcap file")
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    if len(data) < 24:
        raise CaptureFormatError("truncated pcap header")
    linktype = struct.unpack(endian + "I", data[20:24])[0] & 0x0FFFFFFF
    pos = 24
    while pos + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack(endian + "IIII", data[pos:pos + 16])
        pos += 16
        yield sec + frac / (1e9 if nano else 1e6), linktype, data[pos:pos + incl]
        pos += incl


def _pcapng_packets(data: bytes) -> Iterator[tuple[float, int, bytes]]:
    pos, endian = 0, "<"
    links: list[tuple[int, float]] = []  # per interface: link type, timestamp units per second
    while pos + 12 <= len(data):
        if data[pos:pos + 4] == b"\x0a\x0d\x0d\x0a":  # section header: byte order and a fresh interface list
            endian = "<" if data[pos + 8:pos + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            links = []
        btype, blen = struct.unpack(endian + "II", data[pos:pos + 8])
        if blen < 12 or pos + blen > len(data):
            raise CaptureFormatError(f"bad pcapng block length {blen} at offset {pos}")
        body = data[pos + 8:pos + blen - 4]
        if btype == 1:  # interface description
            links.append((struct.unpack(endian + "H", body[:2])[0], _if_tsresol(body[8:], endian)))
        elif btype == 6 and links:  # enhanced packet
            iface, ts_hi, ts_lo, cap = struct.unpack(endian + "IIII", body[:16])
            link, units = links[iface] if iface < len(links) else links[0]
            yield ((ts_hi << 32) | ts_lo) / units, link, body[20:20 + cap]
        elif btype == 3 and links:  # simple packet
            yield 0.0, links[0][0], body[4:]
        pos += blen


def _if_tsresol(options: bytes, endian: str) -> float:
    pos = 0
    while pos + 4 <= len(options):
        code, length = struct.unpack(endian + "HH", options[pos:pos + 4])
        if code == 0:
            break
        if code == 9 and length >= 1:  # if_tsresol
            value = options[pos + 4]
            return float(2 ** (value & 0x7F)) if value & 0x80 else float(10 ** value)
        pos += 4 + length + (-length % 4)
    return 1e6


def _ip_payload(link: int, frame: bytes) -> bytes | None:
    if link == 1:  # Ethernet, with optional 802.1Q tags
        ethertype, pos = struct.unpack(">H", frame[12:14])[0], 14
        while ethertype in (0x8100, 0x88A8) and len(frame) >= pos + 4:
            ethertype, pos = struct.unpack(">H", frame[pos + 2:pos + 4])[0], pos + 4
        return frame[pos:] if ethertype in (0x0800, 0x86DD) else None
    if link == 113:  # Linux cooked v1
        return frame[16:] if frame[14:16] in (b"\x08\x00", b"\x86\xdd") else None
    if link == 276:  # Linux cooked v2
        return frame[20:] if frame[0:2] in (b"\x08\x00", b"\x86\xdd") else None
    if link in (101, 228, 229, 12, 14):  # raw IP
        return frame
    return None


def _ip_addr(raw: bytes) -> str:
    if len(raw) == 4:
        return ".".join(str(b) for b in raw)
    words = [f"{(raw[i] << 8) | raw[i + 1]:x}" for i in range(0, 16, 2)]
    return ":".join(words)


def _tcp(ts: float, ip: bytes) -> Packet | None:
    if not ip:
        return None
    version = ip[0] >> 4
    if version == 4 and len(ip) >= 20:
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack(">H", ip[2:4])[0]
        if ip[9] != 6 or struct.unpack(">H", ip[6:8])[0] & 0x1FFF:  # not TCP, or a non-first fragment
            return None
        src, dst, segment = _ip_addr(ip[12:16]), _ip_addr(ip[16:20]), ip[ihl:total or len(ip)]
    elif version == 6 and len(ip) >= 40:
        if ip[6] != 6:
            return None
        length = struct.unpack(">H", ip[4:6])[0]
        src, dst, segment = _ip_addr(ip[8:24]), _ip_addr(ip[24:40]), ip[40:40 + length]
    else:
        return None
    if len(segment) < 20:
        return None
    sport, dport, seq = struct.unpack(">HHI", segment[:8])
    offset = (segment[12] >> 4) * 4
    return Packet(ts, src, dst, sport, dport, seq, segment[13], segment[offset:])


def read_packets(data: bytes) -> tuple[Packet, ...]:
    """Every TCP segment of a pcap or pcapng capture."""
    frames = _pcapng_packets(data) if data[:4] == b"\x0a\x0d\x0d\x0a" else _pcap_packets(data)
    packets = []
    for ts, link, frame in frames:
        ip = _ip_payload(link, frame)
        packet = _tcp(ts, ip) if ip is not None else None
        if packet is not None:
            packets.append(packet)
    return tuple(packets)


# ---------------------------------------------------------------- flows and payloads


def _stream(segments: Sequence[Packet], limit: int) -> bytes:
    """The direction's bytes in sequence order, retransmissions dropped, up to the first gap or ``limit``."""
    syn = next((p for p in segments if p.syn), None)
    data = [p for p in segments if p.payload]
    if not data:
        return b""
    start = (syn.seq + 1) & 0xFFFFFFFF if syn else min(p.seq for p in data)
    out = bytearray()
    for p in sorted(data, key=lambda p: (p.seq - start) & 0xFFFFFFFF):
        offset = (p.seq - start) & 0xFFFFFFFF
        if offset > len(out):
            break  # a segment the capture missed
        out += p.payload[len(out) - offset:]
        if len(out) >= limit:
            break
    return bytes(out[:limit])


def parse_client_hello(data: bytes) -> tuple[tuple[str, ...], str] | None:
    """(ALPN protocols, SNI) of a TLS ClientHello at the start of ``data``; None if it is not one."""
    handshake = bytearray()
    pos = 0
    while pos + 5 <= len(data) and data[pos] == 0x16 and data[pos + 1] == 3:  # handshake records
        length = struct.unpack(">H", data[pos + 3:pos + 5])[0]
        handshake += data[pos + 5:pos + 5 + length]
        pos += 5 + length
        if len(handshake) >= 4 and len(handshake) >= 4 + int.from_bytes(handshake[1:4], "big"):
            break
    if len(handshake) < 4 or handshake[0] != 1:
        return None
    body = bytes(handshake[4:4 + int.from_bytes(handshake[1:4], "big")])
    try:
        p = 2 + 32  # legacy_version, random
        p += 1 + body[p]  # session id
        p += 2 + struct.unpack(">H", body[p:p + 2])[0]  # cipher suites
        p += 1 + body[p]  # compression methods
        if p + 2 > len(body):
            return (), ""
        end = p + 2 + struct.unpack(">H", body[p:p + 2])[0]
        p += 2
        alpn: tuple[str, ...] = ()
        sni = ""
        while p + 4 <= end:
            ext, length = struct.unpack(">HH", body[p:p + 4])
            value = body[p + 4:p + 4 + length]
            if ext == 16:
                q, names = 2, []
                while q < len(value):
                    names.append(value[q + 1:q + 1 + value[q]].decode("ascii", "replace"))
                    q += 1 + value[q]
                alpn = tuple(names)
            elif ext == 0 and len(value) >= 5:
                sni = value[5:5 + struct.unpack(">H", value[3:5])[0]].decode("ascii", "replace")
            p += 4 + length
    except (IndexError, struct.error):
        return None
    return alpn, sni


def classify_payload(data: bytes) -> tuple[FlowKind, tuple[str, ...], str]:
    if not data:
        return FlowKind.EMPTY, (), ""
    hello = parse_client_hello(data)
    if hello is not None:
        return FlowKind.TLS_CLIENT_HELLO, hello[0], hello[1]
    if len(data) >= 3 and data[0] in (0x14, 0x15, 0x16, 0x17) and data[1] == 3 and data[2] <= 4:
        return FlowKind.TLS_OTHER, (), ""
    first_line = data.split(b"\r\n", 1)[0]
    if (data.startswith(_HTTP_METHODS) and b" HTTP/1." in first_line) or data.startswith(b"PRI * HTTP/2.0"):
        return FlowKind.HTTP_PLAINTEXT, (), ""
    sample = data[:256]
    printable = sum(1 for b in sample if 32 <= b < 127 or b in (9, 10, 13))
    return (FlowKind.OTHER_PLAINTEXT if printable >= 0.9 * len(sample) else FlowKind.OPAQUE), (), ""


def flows_to_port(packets: Sequence[Packet], port: int, limit: int = 16384) -> tuple[Flow, ...]:
    """Each TCP connection whose server side is ``port``, classified by its first client bytes."""
    by_conn: dict[tuple[str, int, str, int], list[Packet]] = {}
    for p in packets:
        if p.dport == port:
            by_conn.setdefault((p.src, p.sport, p.dst, p.dport), []).append(p)
        elif p.sport == port:
            by_conn.setdefault((p.dst, p.dport, p.src, p.sport), []).append(p)
    flows = []
    for (cip, cport, sip, sport), pkts in by_conn.items():
        up = [p for p in pkts if p.dport == sport and p.src == cip]
        down = [p for p in pkts if p.sport == sport and p.src == sip]
        client = _stream(up, limit)
        kind, alpn, sni = classify_payload(client)
        preview = "".join(chr(b) if 32 <= b < 127 else "." for b in client[:_PREVIEW])
        flows.append(Flow(
            client=(cip, cport), server=(sip, sport), kind=kind, alpn=alpn, sni=sni, client_bytes=sum(len(p.payload) for p in up),
            server_bytes=sum(len(p.payload) for p in down), reset=any(p.rst for p in pkts),
            preview=preview if kind.plaintext or kind is FlowKind.OPAQUE else "", first_seen=min(p.timestamp for p in pkts),
        ))
    return tuple(sorted(flows, key=lambda f: f.first_seen))


def classify_capture(data: bytes, port: int) -> tuple[Flow, ...]:
    return flows_to_port(read_packets(data), port)


# ---------------------------------------------------------------- evidence


def capture_verdict(flows: Sequence[Flow], negative_control_flows: Sequence[Flow]) -> Evidence:
    """Evidence from a capture of the probe, judged only if the negative control was seen in plaintext."""
    artefact = "\n".join(["probe flows:"] + [f"  {f.describe()}" for f in flows] +
                         ["negative control flows:"] + [f"  {f.describe()}" for f in negative_control_flows])
    if not negative_control_flows:
        return Evidence("capture", None, "no negative control was captured: the capture cannot prove encryption", artefact)
    if not all(f.kind.plaintext for f in negative_control_flows):
        kinds = ", ".join(sorted({f.kind.value for f in negative_control_flows}))
        return Evidence("capture", None, f"the known-plaintext control was not seen as plaintext ({kinds}): "
                                         "this capture point cannot tell encrypted from plaintext", artefact)
    payload_flows = [f for f in flows if f.kind is not FlowKind.EMPTY]
    if not payload_flows:
        return Evidence("capture", None, "no client payload to the port was captured", artefact)
    if all(f.istio_mtls for f in payload_flows):
        alpns = sorted({a for f in payload_flows for a in f.alpn})
        return Evidence("capture", True, f"{len(payload_flows)} flow(s) open with a TLS ClientHello, ALPN {','.join(alpns)}", artefact,
                        {"alpn": ",".join(alpns)})
    if all(f.kind.plaintext for f in payload_flows):
        return Evidence("capture", False, f"{len(payload_flows)} flow(s) carry plaintext ({payload_flows[0].kind.value})", artefact)
    if all(f.kind is FlowKind.TLS_CLIENT_HELLO for f in payload_flows):
        return Evidence("capture", None, "TLS without Istio's ALPN: application TLS or DestinationRule SIMPLE, not Istio mTLS", artefact)
    kinds = ", ".join(sorted({f.kind.value for f in payload_flows}))
    return Evidence("capture", None, f"flows disagree ({kinds}): cannot attribute the probe", artefact)
