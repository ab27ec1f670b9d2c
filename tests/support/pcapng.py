"""Rewrite a classic pcap as pcapng (tcpdump writes pcap; the pcapng reader is tested on the same real packets)."""

from __future__ import annotations

import struct


def _block(btype: int, body: bytes) -> bytes:
    body += b"\x00" * (-len(body) % 4)
    length = len(body) + 12
    return struct.pack("<II", btype, length) + body + struct.pack("<I", length)


def pcap_to_pcapng(pcap: bytes, nanosecond_resolution: bool = True) -> bytes:
    assert pcap[:4] == b"\xd4\xc3\xb2\xa1", "little-endian microsecond pcap expected"
    linktype = struct.unpack("<I", pcap[20:24])[0]
    shb = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    options = (struct.pack("<HHB3x", 9, 1, 9) if nanosecond_resolution else b"") + struct.pack("<HH", 0, 0)
    idb = _block(1, struct.pack("<HHI", linktype, 0, 262144) + options)
    out, pos = [shb, idb], 24
    scale = 1000 if nanosecond_resolution else 1
    while pos + 16 <= len(pcap):
        sec, usec, incl, orig = struct.unpack("<IIII", pcap[pos:pos + 16])
        ts = (sec * 1_000_000 + usec) * scale
        out.append(_block(6, struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, incl, orig) + pcap[pos + 16:pos + 16 + incl]))
        pos += 16 + incl
    return b"".join(out)
