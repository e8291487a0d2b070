"""TLSStream against a real stdlib TLS server on 127.0.0.1: batching, limits, every ending.

The peer is a blocking ``ssl`` server socket in a thread, so each record and
each ending is produced by a different driver of OpenSSL than the client's.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import ssl
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import trio

from chunkscope.core.report import CloseKind
from chunkscope.net.client import classify_receive_error
from chunkscope.net.tls import TLSStream
from chunkscope.testing import TlsPair, tls_pair

TIMEOUT = 10.0
VERSIONS = [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3]


class Peer:
    """One TLS connection served by a thread: ``pieces`` sent as separate records, then ``end``."""

    def __init__(self, pair: TlsPair, pieces: list[bytes], end: str) -> None:
        self.pieces = pieces
        self.end = end
        self.context = pair.server_context
        self.sent = threading.Event()  # every piece is in the client's receive queue
        self.go_on = threading.Event()  # the client has read what it wanted: end now
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(TIMEOUT)
        self.port = self.listener.getsockname()[1]
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError as exc:
            self.error = exc
            return
        conn.settimeout(TIMEOUT)
        try:
            tls = self.context.wrap_socket(conn, server_side=True)
            for piece in self.pieces:
                tls.sendall(piece)
            self.sent.set()
            self.go_on.wait(TIMEOUT)
            self._finish(tls)
        except (OSError, ssl.SSLError) as exc:
            self.error = exc
        finally:
            conn.close()
            self.listener.close()

    def _finish(self, tls: ssl.SSLSocket) -> None:
        if self.end == "close-notify":
            # unwrap() sends close_notify, then waits for the client's or its FIN.
            with contextlib.suppress(OSError, ssl.SSLError):
                tls.unwrap()
        elif self.end == "no-close-notify":
            os.close(tls.detach())  # TCP FIN with no TLS alert
        elif self.end == "reset":
            tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            tls.close()


@contextmanager
def peer(pieces: list[bytes], end: str = "close-notify") -> Iterator[tuple[Peer, TlsPair]]:
    pair = tls_pair()
    server = Peer(pair, pieces, end)
    try:
        yield server, pair
    finally:
        server.go_on.set()
        server.thread.join(TIMEOUT)


async def connect(port: int, context: ssl.SSLContext) -> TLSStream:
    tcp = await trio.open_tcp_stream("127.0.0.1", port)
    stream = TLSStream(tcp, context, server_hostname="127.0.0.1")
    await stream.do_handshake()
    return stream


async def wait_for(event: threading.Event) -> None:
    assert await trio.to_thread.run_sync(event.wait, TIMEOUT)
    await trio.sleep(0.05)  # loopback delivery of the last segment


def context_for(pair: TlsPair, version: ssl.TLSVersion) -> ssl.SSLContext:
    ctx = pair.client_context
    ctx.minimum_version = ctx.maximum_version = version
    return ctx


async def read_all(stream: trio.abc.ReceiveStream) -> bytes:
    out = bytearray()
    with trio.fail_after(TIMEOUT):
        while data := await stream.receive_some():
            out += data
    return bytes(out)


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: v.name)
async def test_every_record_of_one_transport_read_is_one_read(version: ssl.TLSVersion) -> None:
    pieces = [bytes([65 + i]) * 4000 for i in range(8)]  # eight records
    with peer(pieces) as (server, pair):
        stream = await connect(server.port, context_for(pair, version))
        await wait_for(server.sent)
        first = await stream.receive_some()
        assert first == b"".join(pieces)
        assert stream.version() == ("TLSv1.3" if version is ssl.TLSVersion.TLSv1_3 else "TLSv1.2")
        assert stream.selected_alpn_protocol() == "http/1.1"
        server.go_on.set()
        assert await read_all(stream) == b""
        await stream.aclose()


async def test_max_bytes_is_respected_and_nothing_is_lost() -> None:
    pieces = [os.urandom(5000) for _ in range(6)]
    with peer(pieces) as (server, pair):
        stream = await connect(server.port, pair.client_context)
        await wait_for(server.sent)
        got = bytearray()
        while len(got) < 30000:
            data = await stream.receive_some(777)
            assert 0 < len(data) <= 777
            got += data
        assert bytes(got) == b"".join(pieces)
        server.go_on.set()
        await stream.aclose()


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: v.name)
async def test_close_notify_reads_as_a_clean_end_after_every_byte(
    version: ssl.TLSVersion,
) -> None:
    pieces = [b"HTTP/1.1 200 OK\r\n", b"Transfer-Encoding: chunked\r\n\r\n", b"5\r\nhello\r\n"]
    with peer(pieces, "close-notify") as (server, pair):
        stream = await connect(server.port, context_for(pair, version))
        server.go_on.set()
        assert await read_all(stream) == b"".join(pieces)
        assert await stream.receive_some() == b""  # and stays ended
        await stream.aclose()


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: v.name)
async def test_fin_without_close_notify_is_broken_from_ssl_eof(version: ssl.TLSVersion) -> None:
    pieces = [b"x" * 20000, b"tail"]
    with peer(pieces, "no-close-notify") as (server, pair):
        stream = await connect(server.port, context_for(pair, version))
        server.go_on.set()
        got = bytearray()
        with pytest.raises(trio.BrokenResourceError) as info:  # noqa: PT012 - reads until the error
            while True:
                got += await stream.receive_some()
        assert bytes(got) == b"".join(pieces)
        assert isinstance(info.value.__cause__, ssl.SSLEOFError)
        assert classify_receive_error(info.value)[0] is CloseKind.TLS_NO_CLOSE_NOTIFY
        with pytest.raises(trio.BrokenResourceError):
            await stream.receive_some()  # and stays broken
        await stream.aclose()


async def test_reset_is_the_transports_own_error() -> None:
    with peer([b"y" * 1000], "reset") as (server, pair):
        stream = await connect(server.port, pair.client_context)
        await wait_for(server.sent)
        assert await stream.receive_some() == b"y" * 1000
        server.go_on.set()
        with pytest.raises(trio.BrokenResourceError) as info:
            await read_all(stream)
        kind, detail = classify_receive_error(info.value)
        assert kind is CloseKind.RESET
        assert "dropped by the kernel" in detail
        await stream.aclose()


async def test_untrusted_certificate_fails_the_handshake_with_its_cause() -> None:
    with peer([]) as (server, _pair):
        tcp = await trio.open_tcp_stream("127.0.0.1", server.port)
        stream = TLSStream(tcp, ssl.create_default_context(), server_hostname="127.0.0.1")
        with pytest.raises(trio.BrokenResourceError, match="TLS handshake failed") as info:
            await stream.do_handshake()
        assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)
        await stream.aclose()


async def test_same_bytes_as_trio_sslstream_for_ragged_writes() -> None:
    rng = random.Random(1234)
    pieces = [rng.randbytes(rng.choice([1, 7, 100, 4096, 16384, 16385, 40000])) for _ in range(60)]
    expected = b"".join(pieces)
    for make in ("chunkscope", "trio"):
        with peer(pieces) as (server, pair):
            tcp = await trio.open_tcp_stream("127.0.0.1", server.port)
            stream: trio.abc.Stream
            if make == "chunkscope":
                stream = TLSStream(tcp, pair.client_context, server_hostname="127.0.0.1")
            else:
                stream = trio.SSLStream(
                    tcp, pair.client_context, server_hostname="127.0.0.1", https_compatible=False
                )
            await stream.do_handshake()  # type: ignore[attr-defined]
            server.go_on.set()
            assert await read_all(stream) == expected, make
            await stream.aclose()


async def test_send_all_reaches_the_peer() -> None:
    received: list[bytes] = []
    pair = tls_pair()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(TIMEOUT)

    def echo_head() -> None:
        conn, _ = listener.accept()
        conn.settimeout(TIMEOUT)
        with pair.server_context.wrap_socket(conn, server_side=True) as tls:
            data = b""
            while b"\r\n\r\n" not in data and (more := tls.recv(65536)):
                data += more
            received.append(data)
        listener.close()

    thread = threading.Thread(target=echo_head, daemon=True)
    thread.start()
    stream = await connect(listener.getsockname()[1], pair.client_context)
    request = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"p" * 40000 + b"\r\n\r\n"
    await stream.send_all(request)
    await trio.to_thread.run_sync(thread.join, TIMEOUT)
    assert received == [request]
    await stream.aclose()


async def test_a_cancelled_read_takes_nothing() -> None:
    # trio's promise for a cancelled receive_some, which Ctrl-C (a cancellation
    # in the capture client) relies on: the plaintext already decrypted when
    # the checkpoint is cancelled is returned by the next read.
    pieces = [os.urandom(5000) for _ in range(4)]
    with peer(pieces) as (server, pair):
        stream = await connect(server.port, pair.client_context)
        await wait_for(server.sent)
        got = bytearray(await stream.receive_some(1000))
        for _ in range(3):
            with trio.CancelScope() as scope:
                scope.cancel()
                await stream.receive_some(3000)  # decrypts, then meets the cancelled checkpoint
            assert scope.cancelled_caught
        server.go_on.set()
        got += await read_all(stream)
        assert bytes(got) == b"".join(pieces)
        await stream.aclose()
