"""The tap against the HTTP/1.1 cases a reverse proxy meets, each with real peers on 127.0.0.1.

Upstreams here are written with plain trio sockets so each can misbehave
exactly as asked; clients are raw sockets, httpx, requests, aiohttp and curl.
Every case checks that the client received exactly the upstream's bytes and
ending, that nothing hangs (every wait has a limit), and that the capture
loads with a sensible report.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import shutil
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h11
import httpx
import pytest
import requests
import trio

from chunkscope import analyze_capture, load_capture
from chunkscope.cli.tap import summary_table
from chunkscope.net.tap import MAX_REQUEST_BODY, origin_form
from chunkscope.testing import Response, serving, sse_event, tapping

LIMIT = 20.0  # seconds any one wait may take before the test fails (never an asserted time)

Answer = Callable[[bytes], "bytes | Sequence[bytes | trio.Event]"]


@dataclass
class Upstream:
    """A plain-socket upstream: what it received, one entry per request, and how many connections."""

    port: int = 0
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    eofs: int = 0  # connections whose peer (the tap) closed or half-closed them

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _ok(body: bytes, *extra: bytes) -> bytes:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n" % len(body)
    return head + b"".join(line + b"\r\n" for line in extra) + b"\r\n" + body


def echo_path(request: bytes) -> bytes:
    """The default answer: a keep-alive 200 whose body names the request line (shows cross-talk)."""
    return _ok(b"you asked: " + request.split(b"\r\n", 1)[0])


async def _read_request(stream: trio.SocketStream, buffer: bytearray) -> bytes | None:
    """One request as the upstream received it (head and body, framed with h11), or None at EOF."""
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=1 << 20)
    if buffer:
        conn.receive_data(bytes(buffer))  # b"" would mean EOF to h11
    raw = bytearray(buffer)
    buffer.clear()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = await stream.receive_some(65536)
            raw += data
            conn.receive_data(data)
            if not data:
                return None
        elif isinstance(event, h11.EndOfMessage):
            leftover = conn.trailing_data[0]
            buffer += leftover
            return bytes(raw[: len(raw) - len(leftover)])
        elif isinstance(event, h11.ConnectionClosed):
            return None


async def plain_upstream(
    upstream: Upstream,
    answer: Answer = echo_path,
    after: str = "keep",
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Answer each request with ``answer(request)`` (a list: written with pauses), then ``after``.

    ``after``: ``keep`` (the connection stays open until the tap closes it),
    ``close`` (FIN right after the answer), ``websocket`` (an RFC 6455 echo).
    """

    async def handle(stream: trio.SocketStream) -> None:
        upstream.connections += 1
        buffer = bytearray()
        with trio.move_on_after(LIMIT):
            try:
                while True:
                    request = await _read_request(stream, buffer)
                    if request is None:
                        upstream.eofs += 1
                        return
                    upstream.requests.append(request)
                    reply = answer(request)
                    for i, piece in enumerate([reply] if isinstance(reply, bytes) else reply):
                        if isinstance(piece, trio.Event):
                            await piece.wait()  # the test says when
                            continue
                        if i:
                            await trio.sleep(0.2)
                        await stream.send_all(piece)
                    if after == "close":
                        return
                    if after == "websocket":
                        await _websocket_echo(stream, buffer, upstream)
                        return
            except (trio.BrokenResourceError, h11.RemoteProtocolError):
                return
            finally:
                await trio.aclose_forcefully(stream)

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    upstream.port = listeners[0].socket.getsockname()[1]
    task_status.started()
    await trio.serve_listeners(handle, listeners)


@dataclass
class Client:
    """A raw-socket client of the tap: send bytes, read an exact count, read to the end."""

    stream: trio.SocketStream
    buffer: bytearray = field(default_factory=bytearray)

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def read(self, n: int) -> bytes:
        with trio.fail_after(LIMIT):
            while len(self.buffer) < n:
                data = await self.stream.receive_some(65536)
                if not data:
                    break
                self.buffer += data
        out = bytes(self.buffer[:n])
        del self.buffer[:n]
        return out

    async def read_to_end(self, limit: float = LIMIT) -> tuple[bytes, str]:
        """Everything until the tap ends the connection, and how: fin, reset or silent."""
        how = "silent"
        with trio.move_on_after(limit):
            while True:
                try:
                    data = await self.stream.receive_some(65536)
                except trio.BrokenResourceError:
                    how = "reset"
                    break
                if not data:
                    how = "fin"
                    break
                self.buffer += data
        out = bytes(self.buffer)
        self.buffer.clear()
        return out, how


async def connect(port: int) -> Client:
    return Client(await trio.open_tcp_stream("127.0.0.1", port))


def run_upstream(
    answer: Answer = echo_path, after: str = "keep"
) -> Callable[[trio.Nursery], Awaitable[Upstream]]:
    async def start(nursery: trio.Nursery) -> Upstream:
        upstream = Upstream()
        await nursery.start(plain_upstream, upstream, answer, after)
        return upstream

    return start


def forwarded(request: bytes, port: int) -> bytes:
    """``request`` as the upstream must receive it: only its Host line names the upstream."""
    head, sep, body = request.partition(b"\r\n\r\n")
    lines = [
        b"Host: 127.0.0.1:%d" % port if line.lower().startswith(b"host:") else line
        for line in head.split(b"\r\n")
    ]
    return b"\r\n".join(lines) + sep + body


def loaded(capture: str) -> Any:
    """The capture, loaded and analysed again: what ``chunkscope analyze`` would print from it."""
    return load_capture(capture)


# -- HEAD, no-body statuses, interim responses -------------------------------------------

HEAD_REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\n"


def _no_body_answers(request: bytes) -> bytes | list[bytes]:
    line = request.split(b"\r\n", 1)[0]
    if line.startswith(b"HEAD "):
        return HEAD_REPLY
    if b"/204" in line:
        return b"HTTP/1.1 204 No Content\r\nX-Empty: yes\r\n\r\n"
    if b"/304" in line:
        return b'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\nContent-Length: 99\r\n\r\n'
    if b"/103" in line:
        return [
            b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
            _ok(b"after hints"),
        ]
    if b"/100" in line:
        return b"HTTP/1.1 100 Continue\r\n\r\n" + _ok(b"after continue")
    return echo_path(request)


GET = b"GET %s HTTP/1.1\r\nHost: tap.invalid\r\n\r\n"


async def test_head_then_get_on_one_kept_alive_connection(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        upstream = await run_upstream(_no_body_answers)(nursery)
        async with tapping(upstream.url, tmp_path) as tap:
            client = await connect(tap.info.port)
            await client.send(b"HEAD /thing HTTP/1.1\r\nHost: tap.invalid\r\n\r\n")
            assert await client.read(len(HEAD_REPLY)) == HEAD_REPLY
            await client.send(GET % b"/thing")
            expected = echo_path(GET % b"/thing")
            assert await client.read(len(expected)) == expected
            await client.stream.aclose()
            await tap.wait_idle()
        nursery.cancel_scope.cancel()
    assert tap.info.connections == 1
    assert [e.method for e in tap.exchanges] == ["HEAD", "GET"]
    head_report, get_report = (e.report for e in tap.exchanges)
    assert head_report is not None
    assert get_report is not None
    assert (head_report.verdict.value, head_report.status, head_report.body_bytes) == (
        "complete",
        200,
        0,
    )
    assert head_report.extra_bytes == 0
    assert get_report.verdict.value == "complete"
    capture = loaded(tap.exchanges[0].capture)
    assert capture.server_bytes == HEAD_REPLY
    assert capture.meta["method"] == "HEAD"
    assert (
        analyze_capture(capture.path).verdict.value == "complete"
    )  # HEAD: the Content-Length has no body


async def test_no_body_statuses_and_interim_responses_keep_the_connection(tmp_path: Path) -> None:
    paths = [b"/204", b"/304", b"/103", b"/100", b"/last"]
    async with trio.open_nursery() as nursery:
        upstream = await run_upstream(_no_body_answers)(nursery)
        async with tapping(upstream.url, tmp_path) as tap:
            client = await connect(tap.info.port)
            for path in paths:
                reply = _no_body_answers(GET % path)
                expected = reply if isinstance(reply, bytes) else b"".join(reply)
                await client.send(GET % path)
                assert await client.read(len(expected)) == expected, path
            await client.stream.aclose()
            await tap.wait_idle()
        nursery.cancel_scope.cancel()
    assert tap.info.connections == 1
    reports = {e.target: e.report for e in tap.exchanges}
    assert {t: r.status for t, r in reports.items() if r} == {
        "/204": 204,
        "/304": 304,
        "/103": 200,
        "/100": 200,
        "/last": 200,
    }
    assert all(r is not None and r.verdict.value == "complete" for r in reports.values())
    early = reports["/103"]
    assert early is not None
    interim = early.to_dict()["head"]["interim"]
    assert [i["status"] for i in interim] == [103]
    for exchange in tap.exchanges:
        capture = loaded(exchange.capture)
        assert analyze_capture(capture.path).verdict.value == "complete", exchange.target


async def test_httpx_head_204_304_and_get_share_one_pooled_connection(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        upstream = await run_upstream(_no_body_answers)(nursery)
        async with (
            tapping(upstream.url, tmp_path) as tap,
            httpx.AsyncClient(base_url=tap.info.root, timeout=LIMIT) as client,
        ):
            head = await client.head("/x")
            no_content = await client.get("/204")
            not_modified = await client.get("/304")
            hinted = await client.get("/103")
            last = await client.get("/last")
            await tap.wait_idle()
        nursery.cancel_scope.cancel()
    assert (head.status_code, head.headers["content-length"], head.content) == (200, "5", b"")
    assert (no_content.status_code, no_content.content) == (204, b"")
    assert (not_modified.status_code, not_modified.content) == (304, b"")
    assert (hinted.status_code, hinted.content) == (200, b"after hints")
    assert last.content == b"you asked: GET /last HTTP/1.1"
    assert tap.info.connections == 1
    assert len(tap.exchanges) == 5


# -- Expect: 100-continue ---------------------------------------------------------------

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


async def test_expect_100_continue_the_tap_asks_for_the_body_and_relays_the_upstreams_100(
    tmp_path: Path,
) -> None:
    def answer(request: bytes) -> bytes:
        return CONTINUE + _ok(
            hashlib.sha256(request.partition(b"\r\n\r\n")[2]).hexdigest().encode()
        )

    body = os.urandom(50000)
    head = (
        b"PUT /upload HTTP/1.1\r\nHost: tap.invalid\r\nContent-Length: %d\r\n"
        b"Expect: 100-continue\r\n\r\n" % len(body)
    )
    async with trio.open_nursery() as nursery:
        upstream = await run_upstream(answer)(nursery)
        async with tapping(upstream.url, tmp_path) as tap:
            client = await connect(tap.info.port)
            await client.send(head)
            # the tap needs the body before it dials, so it says 100 itself
            assert await client.read(len(CONTINUE)) == CONTINUE
            await client.send(body)
            expected = answer(head + body)
            assert await client.read(len(expected)) == expected  # the upstream's 100 too
            # the body already sent with the head: no 100 of the tap's own
            await client.send(head + body)
            assert await client.read(len(expected)) == expected
            await client.stream.aclose()
            await tap.wait_idle()
        nursery.cancel_scope.cancel()
    assert upstream.requests == [forwarded(head + body, upstream.port)] * 2
    for exchange in tap.exchanges:
        capture = loaded(exchange.capture)
        assert capture.server_bytes == expected
        report = analyze_capture(capture.path)
        assert (report.verdict.value, report.status) == ("complete", 200)
        assert [i["status"] for i in report.to_dict()["head"]["interim"]] == [100]


async def test_curl_with_expect_copes_with_the_upstreams_own_100(tmp_path: Path) -> None:
    curl = _which("curl")
    body = os.urandom(2 << 20)  # curl sends Expect: 100-continue above 1 MiB
    (tmp_path / "body").write_bytes(body)

    def answer(request: bytes) -> bytes:
        got = request.partition(b"\r\n\r\n")[2]
        return CONTINUE + _ok(hashlib.sha256(got).hexdigest().encode())

    async with trio.open_nursery() as nursery:
        upstream = await run_upstream(answer)(nursery)
        async with tapping(upstream.url, tmp_path / "caps") as tap:
            done = await trio.run_process(
                [
                    curl,
                    "-sS",
                    "-v",
                    "--max-time",
                    "20",
                    "--data-binary",
                    f"@{tmp_path / 'body'}",
                    tap.info.root + "/up",
                ],
                capture_stdout=True,
                capture_stderr=True,
            )
            await tap.wait_idle()
        nursery.cancel_scope.cancel()
    assert b"Expect: 100-continue" in done.stderr
    assert done.stdout == hashlib.sha256(body).hexdigest().encode()
    assert tap.exchanges[0].outcome == "complete, unknown"  # the upstream kept its connection


async def test_a_body_too_large_by_its_content_length_is_refused_before_any_100(
    tmp_path: Path,
) -> None:
    async with trio.open_nursery() as nursery:
        upstream = await run_upstream()(nursery)
        async with tapping(upstream.url, tmp_path) as tap:
            client = await connect(tap.info.port)
            await client.send(
                b"POST / HTTP/1.1\r\nHost: tap.invalid\r\nExpect: 100-continue\r\n"
                b"Content-Length: %d\r\n\r\n" % (MAX_REQUEST_BODY + 1)
            )
            received, how = await client.read_to_end()
        nursery.cancel_scope.cancel()
    assert received.startswith(b"HTTP/1.1 413 Content Too Large\r\n")
    assert received.endswith(b"\r\n\r\nchunkscope tap: request larger than 268435456 bytes\n")
    assert how == "fin"
    assert upstream.requests == []


# -- pipelining -------------------------------------------------------------------------

PIPELINE = [
    b"HEAD /one HTTP/1.1\r\nHost: tap.invalid\r\n\r\n",
    b"GET /204 HTTP/1.1\r\nHost: tap.invalid\r\n\r\n",
    b"POST /two HTTP/1.1\r\nHost: tap.invalid\r\nContent-Length: 11\r\n\r\nhello world",
    b"POST /three HTTP/1.1\r\nHost: tap.invalid\r\nTransfer-Encoding: chunked\r\n"
    b"Trailer: X-Sum\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 11\r\n\r\n",
    b"GET /four HTTP/1.1\r\nHost: tap.invalid\r\n\r\n",
]


@pytest.mark.parametrize("split", ["one-write", "byte-by-byte"])
async def test_pipelined_requests_are_answered_in_order_without_cross_talk(
    split: str, tmp_path: Path
) -> None:
    data = b"".join(PIPELINE)
    async with trio.open_nursery() as nursery:
        upstream = await run_upstream(_no_body_answers)(nursery)
        async with tapping(upstream.url, tmp_path) as tap:
            client = await connect(tap.info.port)
            if split == "one-write":
                await client.send(data)
            else:
                for i in range(len(data)):
                    await client.send(data[i : i + 1])
            replies = [_no_body_answers(r) for r in PIPELINE]
            expected = b"".join(r if isinstance(r, bytes) else b"".join(r) for r in replies)
            assert await client.read(len(expected)) == expected
            await client.stream.aclose()
            await tap.wait_idle()
        nursery.cancel_scope.cancel()
    # each request went upstream alone, as sent, on a connection of its own
    assert upstream.requests == [forwarded(r, upstream.port) for r in PIPELINE]
    assert upstream.connections == len(PIPELINE)
    assert tap.info.connections == 1
    assert [e.target for e in sorted(tap.exchanges, key=lambda e: e.number)] == [
        "/one",
        "/204",
        "/two",
        "/three",
        "/four",
    ]
    for exchange in tap.exchanges:
        capture = loaded(exchange.capture)
        assert capture.request_bytes == forwarded(PIPELINE[exchange.number - 1], upstream.port)
        assert analyze_capture(capture.path).verdict.value == "complete"


async def test_a_pipelined_request_after_a_closing_response_is_not_forwarded(
    tmp_path: Path,
) -> None:
    def answer(request: bytes) -> bytes:
        return _ok(b"bye", b"Connection: close")

    async with trio.open_nursery() as nursery:
        upstream = await run_upstream(answer, after="close")(nursery)
        async with tapping(upstream.url, tmp_path) as tap:
            client = await connect(tap.info.port)
            await client.send(GET % b"/a" + GET % b"/b")
            received, how = await client.read_to_end()
            await tap.wait_idle()
        nursery.cancel_scope.cancel()
    assert received == answer(b"")
    assert how == "fin"
    assert len(upstream.requests) == 1  # the client must retry /b on a new connection
    assert [e.outcome for e in tap.exchanges] == ["complete, fin"]


# -- request bodies and framing the tap must refuse ----------------------------------------------


async def test_a_chunked_request_with_trailers_goes_upstream_byte_for_byte(
    tmp_path: Path,
) -> None:
    request = (
        b"POST /t HTTP/1.1\r\nHost: tap.invalid\r\nTransfer-Encoding: chunked\r\n"
        b"Trailer: X-Digest\r\n\r\n"
        b"4;ext=1\r\nabcd\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Digest: sha-256=:x:\r\n"
        b"X-Other: 2\r\n\r\n"
    )
    async with trio.open_nursery() as nursery:
        upstream = await run_upstream()(nursery)
        async with tapping(upstream.url, tmp_path) as tap:
            client = await connect(tap.info.port)
            await client.send(request)
            expected = echo_path(request)
            assert await client.read(len(expected)) == expected
            await client.stream.aclose()
            await tap.wait_idle()
        nursery.cancel_scope.cancel()
    assert upstream.requests == [forwarded(request, upstream.port)]
    assert loaded(tap.exchanges[0].capture).request_bytes == forwarded(request, upstream.port)


REFUSED = [
    (
        "content-length-and-chunked",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
        b"400 Bad Request",
        b"both Content-Length and Transfer-Encoding",
    ),
    (
        "chunked-then-content-length",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n"
        b"0\r\n\r\n",
        b"400 Bad Request",
        b"both Content-Length and Transfer-Encoding",
    ),
    (
        "differing-content-lengths",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nhello",
        b"400 Bad Request",
        b"conflicting Content-Length",
    ),
    (
        "content-length-list",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4, 5\r\n\r\nhello",
        b"400 Bad Request",
        b"conflicting Content-Length",
    ),
    (
        "unknown-transfer-coding",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        b"501 Not Implemented",
        b"Transfer-Encoding: chunked",
    ),
    (
        "two-hosts",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"400 Bad Request",
        b"multiple Host",
    ),
    ("no-host", b"GET / HTTP/1.1\r\n\r\n", b"400 Bad Request", b"Host"),
    (
        "space-before-colon",
        b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\nhello",
        b"400 Bad Request",
        b"bad request",
    ),
    (
        "authority-form-without-connect",
        b"GET api.example:443 HTTP/1.1\r\nHost: a\r\n\r\n",
        b"400 Bad Request",
        b"request target b'api.example:443' is not /path, http://host/path or *",
    ),
    (
        "asterisk-for-get",
        b"GET * HTTP/1.1\r\nHost: a\r\n\r\n",
        b"400 Bad Request",
        b"request target b'*'",
    ),
    (
        "obs-fold",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n 5\r\n\r\nhello",
        b"400 Bad Request",
        b"obs-fold (a header line starting with a space or tab) at byte 43",
    ),
    (
        "bare-lf",
        b"POST / HTTP/1.1\r\nHost: a\nContent-Length: 5\r\n\r\nhello",
        b"400 Bad Request",
        b"a line of the head ends in a bare LF at byte 24",
    ),
    (
        "all-bare-lf",
        b"GET / HTTP/1.1\nHost: a\n\n",
        b"400 Bad Request",
        b"bare LF at byte 14",
    ),
    (
        "connect",
        b"CONNECT api.example:443 HTTP/1.1\r\nHost: api.example:443\r\n\r\n",
        b"501 Not Implemented",
        b"CONNECT is not supported: the tap is a reverse proxy",
    ),
    (
        "long-header-line",
        b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + b"a" * 70000 + b"\r\n\r\n",
        b"431 Request Header Fields Too Large",
        b"request head larger than 65536 bytes",
    ),
    (
        "huge-head-still-being-sent",
        b"GET / HTTP/1.1\r\nHost: a\r\n"
        + b"X-Many: "
        + b"b" * 4000
        + b"\r\n" * 1
        + b"c" * (4 << 20),
        b"431 Request Header Fields Too Large",
        b"request head larger than 65536 bytes",
    ),
    (
        "long-chunk-size-line",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;"
        + b"e" * (2 << 20)  # more than the tap buffers: it cannot arrive whole
        + b"\r\nx\r\n0\r\n\r\n",
        b"400 Bad Request",
        b"a chunk-size or trailer line longer than 65536 bytes",
    ),
]


@pytest.mark.parametrize(
    ("request_bytes", "status", "reason"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
async def test_requests_a_proxy_must_not_forward_are_refused_with_one_line(
    request_bytes: bytes, status: bytes, reason: bytes, tmp_path: Path
) -> None:
    async with trio.open_nursery() as nursery:
        upstream = await run_upstream()(nursery)
        async with tapping(upstream.url, tmp_path) as tap:
            client = await connect(tap.info.port)
            async with trio.open_nursery() as sending:
                # sent while the answer is read: a huge head is refused before it is all sent
                sending.start_soon(client.send, request_bytes)
                received, how = await client.read_to_end()
                sending.cancel_scope.cancel()
            await tap.wait_idle()
        nursery.cancel_scope.cancel()
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 " + status + b"\r\n")
    assert b"Connection: close\r\n" in head + b"\r\n"
    assert body.count(b"\n") == 1
    assert body.endswith(b"\n")
    assert reason in body
    assert body.startswith(b"chunkscope tap: ")
    assert how == "fin"  # not a reset, even when the client was still sending
    assert upstream.requests == []
    assert tap.exchanges == []
    assert tap.info.refused == {status.decode(): 1}
    assert summary_table(tap.info).endswith(
        "chunkscope tap: 1 request refused by the tap (not forwarded, no capture)\n"
        f"      1  {status.decode()}\n"
    )


# -- closing clients ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /old HTTP/1.0\r\n\r\n",
        b"GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        b"GET /old HTTP/1.1\r\nHost: tap.invalid\r\nConnection: close\r\n\r\n",
    ],
    ids=["http-1.0", "http-1.0-keep-alive", "connection-close"],
)
@pytest.mark.parametrize("after", ["keep", "close"])
async def test_a_client_that_does_not_keep_alive_gets_the_response_and_a_fin(
    request_bytes: bytes, after: str, tmp_path: Path
) -> None:
    async with trio.open_nursery() as nursery:
        upstream = await run_upstream(after=after)(nursery)
        async with tapping(upstream.url, tmp_path) as tap:
            client = await connect(tap.info.port)
            await client.send(request_bytes + GET % b"/never")
            received, how = await client.read_to_end()
            await tap.wait_idle()
        nursery.cancel_scope.cancel()
    assert received == echo_path(request_bytes)
    assert how == "fin"
    (head,) = upstream.requests  # the request after it is not forwarded
    assert head.startswith(request_bytes.split(b"\r\n", 1)[0] + b"\r\nHost: 127.0.0.1:")
    report = tap.exchanges[0].report
    assert report is not None
    assert report.verdict.value == "complete"
    # an upstream that keeps its connection open despite the close is closed by the tap
    assert report.close.kind.value == ("fin" if after == "close" else "unknown")


async def test_curl_http_1_0_through_the_tap(tmp_path: Path) -> None:
    curl = _which("curl")
    async with trio.open_nursery() as nursery:
        upstream = await run_upstream()(nursery)
        async with tapping(upstream.url, tmp_path) as tap:
            done = await trio.run_process(
                [curl, "-sS", "--http1.0", "--max-time", "20", tap.info.root + "/ten"],
                capture_stdout=True,
            )
            await tap.wait_idle()
        nursery.cancel_scope.cancel()
    assert done.stdout == b"you asked: GET /ten HTTP/1.0"
    assert tap.exchanges[0].report is not None
    assert tap.exchanges[0].report.verdict.value == "complete"


# -- Upgrade and CONNECT ----------------------------------------------------------------------

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def _websocket_accept(request: bytes) -> bytes:
    key = next(
        line.split(b":", 1)[1].strip()
        for line in request.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )


def _frame(opcode: int, payload: bytes) -> bytes:
    assert len(payload) < 126
    return bytes([0x80 | opcode, len(payload)]) + payload


async def _websocket_echo(stream: trio.SocketStream, buffer: bytearray, upstream: Upstream) -> None:
    """RFC 6455, the least of it: unmask each client frame, echo text with a prefix, answer close."""
    while True:
        while len(buffer) < 2 or len(buffer) < 6 + (buffer[1] & 0x7F):
            data = await stream.receive_some(65536)
            if not data:
                upstream.eofs += 1
                return
            buffer += data
        size = buffer[1] & 0x7F
        assert size < 126  # small and masked: all the clients here send
        assert buffer[1] & 0x80
        opcode, mask = buffer[0] & 0x0F, buffer[2:6]
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(buffer[6 : 6 + size]))
        del buffer[: 6 + size]
        if opcode == 8:
            await stream.send_all(_frame(8, payload[:2]))
            return  # the server closes the TCP connection first (RFC 6455 §7.1.1)
        await stream.send_all(_frame(opcode, b"echo: " + payload))


async def test_aiohttp_websocket_through_the_tap_is_relayed_both_ways(tmp_path: Path) -> None:
    import aiohttp

    async def talk(url: str) -> list[str]:
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            out = []
            for i in range(3):
                await ws.send_str(f"message {i}")
                out.append((await ws.receive(timeout=LIMIT)).data)
            await ws.close()
            return out

    async with trio.open_nursery() as nursery:
        upstream = await run_upstream(_websocket_accept, after="websocket")(nursery)
        async with tapping(upstream.url, tmp_path) as tap:
            echoed = await trio.to_thread.run_sync(
                lambda: asyncio.run(asyncio.wait_for(talk(tap.info.root + "/ws"), LIMIT))
            )
            await tap.wait_idle()
        nursery.cancel_scope.cancel()
    assert echoed == [f"echo: message {i}" for i in range(3)]
    exchange = tap.exchanges[0]
    assert exchange.outcome == "complete, fin"  # the upstream closed first, as RFC 6455 says
    capture = loaded(exchange.capture)
    report = analyze_capture(capture.path)
    assert (report.status, report.verdict.value) == (101, "complete")
    head_end = capture.server_bytes.index(b"\r\n\r\n") + 4
    assert report.extra_bytes == len(capture.server_bytes) - head_end  # the frames, recorded
    assert capture.server_bytes[head_end:].count(b"echo: message") == 3
    assert len(capture.request_bytes) > len(upstream.requests[0])  # the client's frames too


@pytest.mark.parametrize("who_closes", ["upstream", "client"])
async def test_an_upgraded_connection_is_a_tunnel_until_either_side_closes(
    who_closes: str, tmp_path: Path
) -> None:
    request = (
        b"GET /chat HTTP/1.1\r\nHost: tap.invalid\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    hello = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"  # "Hello", masked (RFC 6455 §5.7)
    close = b"\x88\x82\x00\x00\x00\x00\x03\xe8"
    accept = _websocket_accept(request)
    async with trio.open_nursery() as nursery:
        upstream = await run_upstream(_websocket_accept, after="websocket")(nursery)
        async with tapping(upstream.url, tmp_path) as tap:
            client = await connect(tap.info.port)
            await client.send(request + hello)  # a frame in the same write as the request
            echo = _frame(1, b"echo: Hello")
            assert await client.read(len(accept) + len(echo)) == accept + echo
            if who_closes == "upstream":
                await client.send(close)
                received, how = await client.read_to_end()
                assert (received, how) == (_frame(8, b"\x03\xe8"), "fin")
            else:
                await client.stream.aclose()  # the tap half-closes the upstream, which closes
            await tap.wait_idle()
        nursery.cancel_scope.cancel()
    assert upstream.eofs == (1 if who_closes == "client" else 0)
    report = tap.exchanges[0].report
    assert report is not None
    assert report.close.kind.value == "fin"
    if who_closes == "client":
        assert report.close.detail is not None
        assert report.close.detail.startswith("the client left the upgraded connection")
    capture = loaded(tap.exchanges[0].capture)
    head = forwarded(request, upstream.port)
    assert upstream.requests == [head]
    sent = capture.request_bytes  # the Sec-WebSocket-Key is masked, same length
    assert sent[len(head) :] == hello + (close if who_closes == "upstream" else b"")
    assert capture.server_bytes == accept + echo + (
        _frame(8, b"\x03\xe8") if who_closes == "upstream" else b""
    )


async def test_an_upgraded_connection_through_a_tls_tap_ends_with_close_notify(
    tmp_path: Path,
) -> None:
    request = (
        b"GET /chat HTTP/1.1\r\nHost: tap.invalid\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    hello = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"
    close = b"\x88\x82\x00\x00\x00\x00\x03\xe8"
    async with trio.open_nursery() as nursery:
        upstream = await run_upstream(_websocket_accept, after="websocket")(nursery)
        async with tapping(upstream.url, tmp_path, tls=True) as tap:
            assert tap.ssl_context is not None
            tcp = await trio.open_tcp_stream("127.0.0.1", tap.info.port)
            tls = trio.SSLStream(tcp, tap.ssl_context, server_hostname="127.0.0.1")
            await tls.send_all(request + hello + close)
            received = bytearray()
            with trio.fail_after(LIMIT):
                while data := await tls.receive_some(65536):  # b"": close_notify arrived
                    received += data
            await trio.aclose_forcefully(tls)
            await tap.wait_idle()
        nursery.cancel_scope.cancel()
    expected = _websocket_accept(request) + _frame(1, b"echo: Hello") + _frame(8, b"\x03\xe8")
    assert bytes(received) == expected
    assert tap.exchanges[0].outcome == "complete, fin"


async def test_a_silent_tunnel_ends_at_the_idle_timeout(tmp_path: Path) -> None:
    request = GET.replace(b"\r\n\r\n", b"\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n") % b"/x"
    switch = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n"
    async with trio.open_nursery() as nursery:
        upstream = await run_upstream(lambda _: switch)(nursery)
        async with tapping(upstream.url, tmp_path, idle_timeout=0.5) as tap:
            client = await connect(tap.info.port)
            await client.send(request)
            received, how = await client.read_to_end()
            await tap.wait_idle()
        nursery.cancel_scope.cancel()
    assert (received, how) == (switch, "fin")
    report = tap.exchanges[0].report
    assert report is not None
    assert report.close.kind.value == "timeout"
    assert report.verdict.value == "complete"


async def test_curl_through_the_tap_as_a_forward_proxy_tunnel_gets_the_501(tmp_path: Path) -> None:
    curl = _which("curl")
    async with trio.open_nursery() as nursery:
        upstream = await run_upstream()(nursery)
        async with tapping(upstream.url, tmp_path) as tap:
            done = await trio.run_process(
                [
                    curl,
                    "-sS",
                    "-v",
                    "--max-time",
                    "20",
                    "-p",
                    "-x",
                    tap.info.root,
                    "http://api.example/v1/models",
                ],
                capture_stderr=True,
                check=False,
            )
        nursery.cancel_scope.cancel()
    assert done.returncode != 0
    assert b"501" in done.stderr
    assert upstream.requests == []


# -- request targets --------------------------------------------------------------------------


def test_origin_form_keeps_path_and_query_and_nothing_else() -> None:
    assert origin_form(b"GET http://a.example:8080/p/q?x=1&y HTTP/1.1\r\nHost: a\r\n\r\n") == (
        b"GET /p/q?x=1&y HTTP/1.1\r\nHost: a\r\n\r\n"
    )
    assert origin_form(b"GET http://a.example HTTP/1.1\r\n\r\n") == b"GET / HTTP/1.1\r\n\r\n"


async def test_absolute_form_targets_go_upstream_in_origin_form(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        upstream = await run_upstream()(nursery)
        async with tapping(upstream.url, tmp_path) as tap:
            client = await connect(tap.info.port)
            await client.send(
                b"GET http://api.example/v1/models?limit=2 HTTP/1.1\r\nHost: x\r\n\r\n"
            )
            expected = echo_path(b"GET /v1/models?limit=2 HTTP/1.1\r\n")
            assert await client.read(len(expected)) == expected
            await client.stream.aclose()
            # requests sends absolute-form to what it takes for a proxy
            proxied = await trio.to_thread.run_sync(
                lambda: requests.get(
                    "http://elsewhere.example/p?q=1",
                    proxies={"http": tap.info.root},
                    timeout=LIMIT,
                )
            )
            await tap.wait_idle()
        nursery.cancel_scope.cancel()
    assert proxied.content == b"you asked: GET /p?q=1 HTTP/1.1"
    assert [r.split(b"\r\n", 1)[0] for r in upstream.requests] == [
        b"GET /v1/models?limit=2 HTTP/1.1",
        b"GET /p?q=1 HTTP/1.1",
    ]
    first = sorted(tap.exchanges, key=lambda e: e.number)[0]
    assert first.target == "/v1/models?limit=2"  # as it went upstream
    capture = loaded(first.capture)
    assert capture.meta["target"] == f"{upstream.url}/v1/models?limit=2"
    assert capture.request_bytes.startswith(b"GET /v1/models?limit=2 HTTP/1.1\r\n")


async def test_options_asterisk_goes_upstream_as_sent(tmp_path: Path) -> None:
    request = b"OPTIONS * HTTP/1.1\r\nHost: tap.invalid\r\n\r\n"
    async with trio.open_nursery() as nursery:
        upstream = await run_upstream()(nursery)
        async with tapping(upstream.url, tmp_path) as tap:
            client = await connect(tap.info.port)
            await client.send(request)
            expected = echo_path(request)
            assert await client.read(len(expected)) == expected
            await client.stream.aclose()
            await tap.wait_idle()
        nursery.cancel_scope.cancel()
    assert upstream.requests == [forwarded(request, upstream.port)]
    capture = loaded(tap.exchanges[0].capture)
    assert capture.meta["target"] == upstream.url
    assert analyze_capture(capture.path).verdict.value == "complete"


# -- the upstream's own misbehaviour ---------------------------------------------------------


async def test_extra_bytes_in_the_same_read_are_relayed_and_end_the_connection(
    tmp_path: Path,
) -> None:
    reply = _ok(b"hello") + b"GARBAGE"
    async with trio.open_nursery() as nursery:
        upstream = await run_upstream(lambda _: reply)(nursery)
        async with tapping(upstream.url, tmp_path) as tap:
            client = await connect(tap.info.port)
            await client.send(GET % b"/x")
            received, how = await client.read_to_end()
            await tap.wait_idle()
        nursery.cancel_scope.cancel()
    assert (received, how) == (reply, "fin")
    report = tap.exchanges[0].report
    assert report is not None
    assert (report.verdict.value, report.extra_bytes) == ("complete", 7)
    assert loaded(tap.exchanges[0].capture).server_bytes == reply


async def test_extra_bytes_in_a_later_read_are_recorded_but_never_reach_the_next_exchange(
    tmp_path: Path,
) -> None:
    read = {b"/a": trio.Event(), b"/b": trio.Event()}  # set once the client has the response

    def answer(request: bytes) -> list[bytes | trio.Event]:
        path = request.split(b" ")[1]
        return [echo_path(request), read[path], b"LATE-GARBAGE"]

    async with trio.open_nursery() as nursery:
        upstream = await run_upstream(answer)(nursery)
        async with tapping(upstream.url, tmp_path) as tap:
            client = await connect(tap.info.port)
            for path in (b"/a", b"/b"):
                await client.send(GET % path)
                expected = echo_path(GET % path)
                assert await client.read(len(expected)) == expected
                read[path].set()  # the garbage comes in a read of its own, after the response
            await client.stream.aclose()
            await tap.wait_idle()
        nursery.cancel_scope.cancel()
    assert tap.info.connections == 1
    for exchange in tap.exchanges:
        capture = loaded(exchange.capture)
        assert capture.server_bytes == echo_path(GET % exchange.target.encode()) + b"LATE-GARBAGE"
        assert analyze_capture(capture.path).extra_bytes == len(b"LATE-GARBAGE")


async def test_an_upstream_that_closes_after_a_keep_alive_response_does_not_fail_the_next(
    tmp_path: Path,
) -> None:
    async with trio.open_nursery() as nursery:
        upstream = await run_upstream(after="close")(nursery)
        async with tapping(upstream.url, tmp_path) as tap:
            client = await connect(tap.info.port)
            for path in (b"/a", b"/b", b"/c"):
                await client.send(GET % path)  # as soon as the last response is read
                expected = echo_path(GET % path)
                assert await client.read(len(expected)) == expected
            await client.stream.aclose()
            await tap.wait_idle()
        nursery.cancel_scope.cancel()
    assert tap.info.connections == 1
    assert upstream.connections == 3
    assert [e.outcome for e in sorted(tap.exchanges, key=lambda e: e.number)] == [
        "complete, fin"
    ] * 3


# -- a pool of real clients --------------------------------------------------------------------


async def test_httpx_pool_makes_thirty_streaming_requests_over_one_connection(
    tmp_path: Path,
) -> None:
    stream = Response(events=[sse_event("delta", f"part {i}") for i in range(5)])
    async with (
        serving(stream, speed=0) as server,
        tapping(server, tmp_path) as tap,
        httpx.AsyncClient(timeout=LIMIT) as client,
    ):
        bodies = []
        for i in range(30):
            async with client.stream("POST", tap.info.root + f"/v1/stream/{i}") as response:
                bodies.append(b"".join([part async for part in response.aiter_raw()]))
        await tap.wait_idle()
    assert tap.info.connections == 1
    assert len(tap.exchanges) == 30
    assert len(tap.captures()) == 30
    assert {e.outcome for e in tap.exchanges} == {"complete, fin"}
    assert sorted(e.target for e in tap.exchanges) == sorted(f"/v1/stream/{i}" for i in range(30))
    for exchange in tap.exchanges:
        assert loaded(exchange.capture).server_bytes == server.server_bytes
    assert all(body == b"".join(stream.events or ()) for body in bodies)  # de-chunked by httpx


async def test_a_requests_session_reuses_its_connection_through_the_tap(tmp_path: Path) -> None:
    def run(url: str) -> list[bytes]:
        with requests.Session() as session:
            return [session.get(f"{url}/r/{i}", timeout=LIMIT).content for i in range(10)]

    async with trio.open_nursery() as nursery:
        upstream = await run_upstream()(nursery)
        async with tapping(upstream.url, tmp_path) as tap:
            bodies = await trio.to_thread.run_sync(run, tap.info.root)
            await tap.wait_idle()
        nursery.cancel_scope.cancel()
    assert bodies == [b"you asked: GET /r/%d HTTP/1.1" % i for i in range(10)]
    assert tap.info.connections == 1
    assert len(tap.exchanges) == 10


def _which(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path
