"""pcapng export: a capture file as synthetic TCP packets Wireshark and tshark can read.

Theory of operation
-------------------
chunkscope records at the socket level: the plaintext it sent, every read it
received with its arrival time, and how the connection ended. There are no
packets to save, so this module *synthesises* them: a TCP connection between
the recorded local and peer addresses (IPv4, or IPv6 when that is what was
recorded), carrying exactly the recorded plaintext bytes::

    client -> server  SYN                      at connect start (t0_wall + dns)
    server -> client  SYN-ACK                  when connect finished
    client -> server  ACK
    client -> server  request bytes            one send record, split at the MSS
    server -> client  one recorded read        split at the MSS, all at the read's time
    client -> server  ACK                      after each read
    ...
    server -> client  FIN (or RST)             as the capture ended

Sequence and acknowledgement numbers are real (they count every byte), so
Wireshark's TCP reassembly and its HTTP dissector see the exchange as it was:
the chunk tree, and whether "End of chunked encoding" was ever seen. The
timestamps are the recorded ones, anchored at the capture's wall-clock start
(``t0_wall``). TLS is not re-created: the frames carry what TLS carried (the
plaintext), and the close kind (``tls-no-close-notify``, ``tls-close-notify``)
is said in a packet comment, since a TCP frame cannot show it.

How the capture ended maps onto the last packets:

=========================  ==============================================
close kind                 synthetic ending
=========================  ==============================================
fin, tls-*                 server FIN, client ACK, client FIN, server ACK
reset                      server RST (no FIN)
timeout, interrupted,      client FIN (chunkscope closed), server ACK
unknown
capture cut off            no ending packets (the recording stops)
=========================  ==============================================

The file is pcapng (draft-ietf-opsawg-pcapng): one Section Header Block
whose ``shb_comment`` says the packets were synthesised, one Interface
Description Block of link type RAW (101: the packet starts at the IP header),
then one Enhanced Packet Block per frame, the first segment of each read
commented with its read number, time and size. Written with :mod:`struct`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from .._version import __version__
from ..core.report import CloseKind
from .capture import Ended, Received, Sent, iter_capture

__all__ = ["MSS_IPV4", "MSS_IPV6", "write_pcapng"]

MSS_IPV4 = 1460  # 1500-byte Ethernet MTU less 20 (IPv4) and 20 (TCP) header bytes
MSS_IPV6 = 1440  # 1500 less 40 (IPv6) and 20 (TCP)

_LINKTYPE_RAW = 101  # the packet is an IPv4 or IPv6 header and what follows it
_SHB, _IDB, _EPB = 0x0A0D0D0A, 0x00000001, 0x00000006
_OPT_END, _OPT_COMMENT = 0, 1
_SHB_USERAPPL = 4
_IF_NAME, _IF_DESCRIPTION, _IF_TSRESOL = 2, 3, 9
_FIN, _SYN, _RST, _PSH, _ACK = 0x01, 0x02, 0x04, 0x08, 0x10
_WINDOW = 0xFFFF
_WSCALE = 7  # advertised in SYN/SYN-ACK: 8 MiB windows, so 1 MiB reads fit in flight
# Documentation addresses (RFC 5737) for a capture that recorded none.
_FALLBACK_CLIENT = ("198.51.100.1", 49152)
_FALLBACK_SERVER = ("192.0.2.1", 80)

_CLOSE_WORDS = {
    CloseKind.FIN: "the peer closed TCP (FIN)",
    CloseKind.RESET: "the connection was reset (RST)",
    CloseKind.TLS_CLOSE_NOTIFY: "TLS ended with close_notify, then TCP closed (shown as FIN)",
    CloseKind.TLS_NO_CLOSE_NOTIFY: "TCP closed under TLS without close_notify (shown as FIN)",
    CloseKind.TIMEOUT: "chunkscope stopped waiting (timeout) and closed (shown as client FIN)",
    CloseKind.INTERRUPTED: "the capture was interrupted and chunkscope closed (client FIN)",
    CloseKind.UNKNOWN: "chunkscope closed the connection (client FIN)",
}


def _option(code: int, value: bytes) -> bytes:
    pad = (-len(value)) % 4
    return struct.pack("<HH", code, len(value)) + value + b"\0" * pad


def _options(*opts: bytes) -> bytes:
    return b"".join(opts) + struct.pack("<HH", _OPT_END, 0) if opts else b""


def _block(kind: int, body: bytes) -> bytes:
    total = 12 + len(body)
    return struct.pack("<II", kind, total) + body + struct.pack("<I", total)


def _checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071): one's complement of the one's complement sum."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


@dataclass
class _Endpoint:
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    port: int
    seq: int  # next sequence number this side sends
    ip_id: int = 0


def _parse_address(value: Any) -> tuple[str, int] | None:
    """``"192.0.2.10:443"`` or ``"[::1]:443"`` as (host, port); None if it is not one."""
    if not isinstance(value, str):
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return host, int(port)


def _wall_start(meta: dict[str, Any]) -> float:
    """Seconds since the epoch at which the capture started (0.0 when not recorded)."""
    for key in ("t0_wall", "created"):
        value = meta.get(key)
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return 0.0


class _Synthesiser:
    """Turns the records of one capture into frames, in order, with sequence numbers."""

    def __init__(self, meta: dict[str, Any], out: IO[bytes]) -> None:
        self.out = out
        self.notes: list[str] = []
        local = _parse_address(meta.get("local"))
        peer = _parse_address(meta.get("peer"))
        if local is None or peer is None:
            port = meta.get("port") if isinstance(meta.get("port"), int) else None
            local = local or _FALLBACK_CLIENT
            peer = peer or (_FALLBACK_SERVER[0], port or _FALLBACK_SERVER[1])
            self.notes.append(
                "the capture recorded no IP address for one side: RFC 5737 documentation "
                f"addresses are used ({local[0]}:{local[1]} -> {peer[0]}:{peer[1]})"
            )
        client_ip = ipaddress.ip_address(local[0])
        server_ip = ipaddress.ip_address(peer[0])
        if client_ip.version != server_ip.version:
            client_ip = ipaddress.ip_address(
                _FALLBACK_CLIENT[0] if server_ip.version == 4 else "2001:db8::1"
            )
            self.notes.append(f"local address {local[0]} replaced to match the peer's IP version")
        # Initial sequence numbers: fixed per connection (a hash of its addresses),
        # so the same capture always exports the same file.
        seed = hashlib.sha256(f"{local}{peer}".encode()).digest()
        isn_client, isn_server = struct.unpack("!II", seed[:8])
        self.client = _Endpoint(client_ip, local[1], isn_client)
        self.server = _Endpoint(server_ip, peer[1], isn_server)
        self.mss = MSS_IPV4 if server_ip.version == 4 else MSS_IPV6
        self.t_base = _wall_start(meta)
        self.frames = 0
        self.last_ts = 0.0

    # -- frames ----------------------------------------------------------------

    def _ip_packet(self, src: _Endpoint, dst: _Endpoint, tcp: bytes) -> bytes:
        if src.ip.version == 4:
            src.ip_id = (src.ip_id + 1) & 0xFFFF
            header = struct.pack(
                "!BBHHHBBH4s4s",
                0x45,  # version 4, header of 5 words
                0,
                20 + len(tcp),
                src.ip_id,
                0x4000,  # don't fragment
                64,  # TTL
                6,  # TCP
                0,
                src.ip.packed,
                dst.ip.packed,
            )
            header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
            return header + tcp
        header = struct.pack("!IHBB16s16s", 6 << 28, len(tcp), 6, 64, src.ip.packed, dst.ip.packed)
        return header + tcp

    def _tcp(
        self, src: _Endpoint, dst: _Endpoint, flags: int, payload: bytes, options: bytes
    ) -> bytes:
        words = 5 + len(options) // 4
        ack = dst.seq if flags & _ACK else 0
        header = struct.pack(
            "!HHIIBBHHH", src.port, dst.port, src.seq, ack, words << 4, flags, _WINDOW, 0, 0
        )
        segment = header + options + payload
        if src.ip.version == 4:
            pseudo = src.ip.packed + dst.ip.packed + struct.pack("!BBH", 0, 6, len(segment))
        else:
            pseudo = src.ip.packed + dst.ip.packed + struct.pack("!I3xB", len(segment), 6)
        checksum = _checksum(pseudo + segment)
        return segment[:16] + struct.pack("!H", checksum) + segment[18:]

    def send(
        self,
        src: _Endpoint,
        dst: _Endpoint,
        t: float,
        flags: int,
        payload: bytes = b"",
        comment: str | None = None,
        options: bytes = b"",
    ) -> None:
        packet = self._ip_packet(src, dst, self._tcp(src, dst, flags, payload, options))
        # Timestamps never go backwards in the file, whatever the metadata says.
        ts = max(self.t_base + t, self.last_ts)
        self.last_ts = ts
        micros = round(ts * 1_000_000)
        opts = _options(_option(_OPT_COMMENT, comment.encode("utf-8"))) if comment else b""
        pad = (-len(packet)) % 4
        body = (
            struct.pack("<IIIII", 0, micros >> 32, micros & 0xFFFFFFFF, len(packet), len(packet))
            + packet
            + b"\0" * pad
            + opts
        )
        self.out.write(_block(_EPB, body))
        self.frames += 1
        src.seq = (src.seq + len(payload) + (1 if flags & (_SYN | _FIN) else 0)) & 0xFFFFFFFF

    def data(self, src: _Endpoint, dst: _Endpoint, t: float, data: bytes, comment: str) -> None:
        """``data`` as segments of at most one MSS, all at ``t``; the last one pushed."""
        view = memoryview(data)
        for start in range(0, len(data), self.mss):
            piece = bytes(view[start : start + self.mss])
            last = start + self.mss >= len(data)
            self.send(
                src,
                dst,
                t,
                _ACK | (_PSH if last else 0),
                piece,
                comment if start == 0 else None,
            )

    def handshake(self, t_syn: float, t_synack: float, comment: str) -> None:
        syn_options = struct.pack("!BBH", 2, 4, self.mss) + struct.pack("!BBBB", 1, 3, 3, _WSCALE)
        c, s = self.client, self.server
        self.send(c, s, t_syn, _SYN, comment=comment, options=syn_options)
        self.send(s, c, t_synack, _SYN | _ACK, options=syn_options)
        self.send(c, s, t_synack, _ACK)


def _header_blocks(comment: str, interface: str) -> bytes:
    shb = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + _options(
        _option(_OPT_COMMENT, comment.encode("utf-8")),
        _option(_SHB_USERAPPL, f"chunkscope {__version__}".encode()),
    )
    idb = struct.pack("<HHI", _LINKTYPE_RAW, 0, 262144) + _options(
        _option(_IF_NAME, b"chunkscope-synthetic"),
        _option(_IF_DESCRIPTION, interface.encode("utf-8")),
        _option(_IF_TSRESOL, b"\x06"),  # microseconds
    )
    return _block(_SHB, shb) + _block(_IDB, idb)


def _first_meta(path: str) -> dict[str, Any]:
    """Every meta record (merged) and the header, read ahead of the packets."""
    meta: dict[str, Any] = {}
    for record in iter_capture(path):
        if isinstance(record, dict):
            meta.update(record)
    return meta


def _records(path: str) -> Iterator[Sent | Received | Ended]:
    for record in iter_capture(path):
        if not isinstance(record, dict):
            yield record


_SHB_COMMENT = (
    "Synthesised by chunkscope from socket-level recordings, not captured off the wire. "
    "Packets carry the plaintext HTTP bytes exactly as sent and received, one TCP segment per "
    "recorded read (split at the MSS), at the recorded times; sequence numbers count every "
    "byte. Handshake and teardown packets are inferred; TLS records are not re-created (the "
    "plaintext is shown in their place). Each connection's SYN carries a comment naming its "
    "capture. A plaintext exchange on port 443 may need: tshark -d tcp.port==443,http."
)


def write_pcapng(
    captures: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], out: IO[bytes]
) -> int:
    """Write one or more capture files as a pcapng file to ``out``; return the packet count.

    Each capture becomes one synthetic TCP connection. Every capture is read
    twice, record by record (the addresses may be recorded after the first
    bytes), so memory stays constant however long it is. Raises
    :class:`~chunkscope.CaptureFileError` for a file that is not a valid
    capture (before anything is written for it).

    Example::

        with open("run.pcapng", "wb") as f:
            write_pcapng("run.capture", f)
        # tshark -r run.pcapng -Y http
    """
    paths = (
        [os.fspath(captures)]
        if isinstance(captures, (str, os.PathLike))
        else [os.fspath(p) for p in captures]
    )
    metas = [_first_meta(path) for path in paths]  # every file checked before a byte is written
    out.write(
        _header_blocks(_SHB_COMMENT, "synthetic connections replayed from chunkscope captures")
    )
    used: set[tuple[str, int, str, int]] = set()
    return sum(
        _write_connection(path, meta, out, used) for path, meta in zip(paths, metas, strict=True)
    )


def _write_connection(
    path: str, meta: dict[str, Any], out: IO[bytes], used: set[tuple[str, int, str, int]]
) -> int:
    synth = _Synthesiser(meta, out)
    # Two captures with the same addresses and ports (fixtures, a replayed
    # capture) would read as one TCP stream: the later gets another client port.
    recorded = synth.client.port
    while (
        str(synth.client.ip),
        synth.client.port,
        str(synth.server.ip),
        synth.server.port,
    ) in used:
        synth.client.port = 1024 + (synth.client.port - 1024 + 1) % (65536 - 1024)
    used.add((str(synth.client.ip), synth.client.port, str(synth.server.ip), synth.server.port))
    if synth.client.port != recorded:
        synth.notes.append(
            f"client port {recorded} shown as {synth.client.port}: an earlier connection in "
            "this file has the same addresses"
        )
    timings = meta.get("timings") if isinstance(meta.get("timings"), dict) else {}
    assert isinstance(timings, dict)

    def seconds(key: str) -> float:
        value = timings.get(key)
        return float(value) if isinstance(value, (int, float)) and value >= 0 else 0.0

    # Record times count from the request; the wall-clock anchor is taken before
    # DNS, so the connection itself happened before t = 0.
    dns, connect, tls = seconds("dns"), seconds("connect"), seconds("tls")
    synth.t_base += dns + connect + tls
    tls_meta = meta.get("tls") if isinstance(meta.get("tls"), dict) else None
    target = meta.get("target") or "?"
    comment = f"chunkscope capture {os.path.basename(path)}: {target}"
    if tls_meta is not None:
        comment += (
            f"; the connection used TLS ({tls_meta.get('version') or '?'}): its plaintext is shown"
        )
    comment += "".join(f"; note: {n}" for n in synth.notes)
    c, s = synth.client, synth.server
    synth.handshake(-(connect + tls), -tls, comment)
    reads = 0
    ended: Ended | None = None
    last_t = 0.0
    for record in _records(path):
        if isinstance(record, Sent):
            synth.data(c, s, record.t, record.data, f"sent at t={record.t:.6f} s")
            last_t = max(last_t, record.t)
        elif isinstance(record, Received):
            synth.data(
                s,
                c,
                record.t,
                record.data,
                f"chunkscope read #{reads} at t={record.t:.6f} s, {len(record.data)} bytes",
            )
            synth.send(c, s, record.t, _ACK)
            reads += 1
            last_t = max(last_t, record.t)
        else:
            ended = record
    if ended is None:
        return synth.frames  # cut off: the recording just stops
    t = ended.t if ended.t is not None else last_t
    words = _CLOSE_WORDS[ended.kind]
    note = f"capture ended: {ended.kind.value}: {words}" + (
        f" ({ended.detail})" if ended.detail else ""
    )
    if ended.kind is CloseKind.RESET:
        synth.send(s, c, t, _RST | _ACK, comment=note)
    elif ended.kind in (CloseKind.FIN, CloseKind.TLS_CLOSE_NOTIFY, CloseKind.TLS_NO_CLOSE_NOTIFY):
        synth.send(s, c, t, _FIN | _ACK, comment=note)
        synth.send(c, s, t, _ACK)
        synth.send(c, s, t, _FIN | _ACK)
        synth.send(s, c, t, _ACK)
    else:
        synth.send(c, s, t, _FIN | _ACK, comment=note)
        synth.send(s, c, t, _ACK)
    return synth.frames
