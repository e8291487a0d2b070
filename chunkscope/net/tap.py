"""The tap: a recording reverse proxy that passes every byte and every ending through unchanged.

Theory of operation
-------------------
A client (an unmodified SDK pointed here by ``OPENAI_BASE_URL``, say)
connects to the tap. Each downstream connection has one reader task
(:class:`_Client`) that keeps reading the client into a bounded buffer for
the connection's whole life, so a client that goes away is noticed at once,
even while the upstream is silent. Requests are parsed from that buffer with
h11 (head and body, ``Content-Length`` or chunked, bounded in size and
time), and each one is sent upstream over a connection of its own, opened
with the capture client's machinery (:func:`~chunkscope.net.client.open_connection`:
DNS, TCP, ``--connect-to``, ``--proxy`` CONNECT, TLS with verification). The
request goes upstream as the client sent it, byte for byte, but for the
``Host`` line, which names the upstream.

Every upstream read is recorded (capture file first, then the analyzer,
exactly as ``chunkscope capture`` records) and then written to the client
as it is: never re-framed, so the client receives exactly the upstream's
server bytes. How the upstream ended is then mirrored to the client:

==========================  =============================================
upstream ending             what the client gets
==========================  =============================================
fin / tls-close-notify      FIN (plain) or close_notify then FIN (TLS)
tls-no-close-notify         FIN without close_notify (TLS), FIN (plain)
reset                       RST (SO_LINGER 0 after a short pause)
silence (a stall)           silence: the connection stays open until the
                            client gives up; ``--idle-timeout`` only ends
                            the recording and the upstream connection
==========================  =============================================

A response that ended cleanly (the analyzer says the message is complete,
and neither the request nor the response said ``Connection: close``) leaves
the downstream connection open for the client's next request, as connection
pools expect; the upstream connection is watched a short grace period more
in the background to record how the server closes it.

A client that leaves early ends the exchange: the upstream connection is
closed and the capture's end record says the client left (close kind
``interrupted``). An upstream that cannot be reached gets the client a
``502`` with a one-line reason, and the capture records why.

HTTP/1.1 edges, decided as a reverse proxy in front of one upstream:

- Requests are read one at a time, so pipelined requests are forwarded
  and answered in order; after a response that ends the connection, the
  ones behind it are not forwarded (the client retries them).
- A response without a body (HEAD, 204, 304) and interim 1xx responses
  (103, 100) are relayed as they come; the connection stays open after
  the final response. ``Expect: 100-continue``: the tap needs the body
  before it dials, so it answers ``100 Continue`` itself unless the body
  came with the head; an upstream's own 100 is relayed too (clients must
  accept several 1xx, RFC 9110 §15.2).
- ``101 Switching Protocols`` (``Upgrade: websocket``, ``h2c``) makes the
  connection a tunnel: bytes both ways, each recorded (the client's as
  sent, the upstream's as received), until either side closes; a client
  close half-closes the upstream and its own close is recorded within a
  grace period; ``idle_timeout`` without a byte either way closes both.
- Refused, with a one-line reason and no capture (counted in
  :attr:`TapInfo.refused`): ``CONNECT`` (501: the tap is not a forward
  proxy), ``Content-Length`` with ``Transfer-Encoding`` (400, request
  smuggling, RFC 9112 §6.1), differing ``Content-Length`` values or more
  than one ``Host`` (400), a transfer coding other than chunked (501), a
  head over 64 KiB (431), a body over 256 MiB (413, before any 100), a
  target that is not ``/path``, absolute-form or ``OPTIONS *`` (400), a
  head with a bare LF line end or an obs-fold line (400: h11 reads them
  leniently, an upstream may not, and the head goes upstream as sent), and
  anything h11 cannot parse (400). The tap half-closes and reads on for up
  to 2 s before it closes, so a client still sending gets the answer, not
  a reset.
- An absolute-form target (``GET http://host/path``, as a client sends
  to what it takes for a forward proxy) goes upstream in origin-form
  (``/path``), as nginx sends it: the upstream is the tap's, whatever the
  target names.
- Bytes after a complete response are relayed if they came in the same
  read (and the connection then ends as the upstream ends it); later ones
  are recorded but never relayed, since the connection now carries the
  client's next exchange. Each request has an upstream connection of its
  own, so an upstream that closes after a kept-alive response costs the
  next request nothing.
- A client that half-closes after its request counts as leaving (as with
  nginx's default ``proxy_ignore_client_abort off``).

This module only moves and timestamps bytes; what they mean is the
analyzer's.
"""

from __future__ import annotations

import math
import os
import re
import ssl
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import h11
import trio

from ..core.analyzer import Analyzer
from ..core.errors import TransportError, UsageError
from ..core.report import CloseKind, Report
from ..formats.capture import CaptureWriter
from .client import (
    GRACE_AFTER_COMPLETE,
    RECEIVE_SIZE,
    CaptureOptions,
    _parse_target,
    _ssl_context,
    _Target,
    classify_receive_error,
    open_connection,
)
from .proxies import parse_proxy
from .recorder import Recorder
from .server import end_connection
from .throwaway_ca import TlsPair, tls_pair

__all__ = [
    "DEFAULT_DIRECTORY",
    "Exchange",
    "RunningTap",
    "TapInfo",
    "TapOptions",
    "capture_name",
    "mirror_close",
    "origin_form",
    "rewrite_host",
    "serve_tap",
    "start_tap",
    "tapping",
]

DEFAULT_DIRECTORY = "chunkscope-captures"
CLIENT_READ = 65536  # one read from the client
CLIENT_BUFFER = 1 << 20  # the reader pauses while this much is waiting to be parsed
MAX_REQUEST_HEAD = 65536
MAX_REQUEST_BODY = 256 << 20  # a request body is held whole before it goes upstream
KEEPALIVE_TIMEOUT = 75.0  # seconds an idle client connection waits for a request (nginx's default)
REQUEST_IDLE_TIMEOUT = 30.0  # seconds without a byte inside a request before it is refused
HANDSHAKE_TIMEOUT = 10.0
REFUSE_TIMEOUT = 5.0  # seconds to deliver a 4xx/5xx of the tap's own
_ABSOLUTE_FORM = re.compile(rb"[A-Za-z][A-Za-z0-9+.-]*://")
LINGER_TIMEOUT = 2.0  # seconds a refused client may go on sending before the tap closes
KEPT_EXCHANGES = 1000  # the most recent exchanges TapInfo keeps; outcomes are counted for all


@dataclass
class TapOptions:
    """How the tap reaches its upstream and records exchanges (the CLI builds it).

    ``upstream`` is the URL the tap stands in for (``https://api.openai.com/v1``);
    its path is the prefix clients put in their base URL, requests are
    forwarded with their own paths. ``idle_timeout`` (seconds without an
    upstream byte, None never) ends a recording as ``timeout``.
    ``ssl_context`` replaces the upstream TLS context built from ``cacert``
    and ``insecure``. ``keep_exchanges`` bounds the ended exchanges (with
    their reports) that :class:`TapInfo` keeps; outcomes are counted for all.
    """

    upstream: str
    directory: str = DEFAULT_DIRECTORY
    cacert: str | None = None
    insecure: bool = False
    connect_to: str | None = None
    proxy: str | None = None
    connect_timeout: float | None = 30.0
    idle_timeout: float | None = 60.0
    redact: bool = True
    terminal_events: Iterable[str] = ()
    ssl_context: ssl.SSLContext | None = None
    keep_exchanges: int = KEPT_EXCHANGES  # how many ended exchanges TapInfo keeps (0: none)


@dataclass
class Exchange:
    """One request through the tap and what became of its response.

    ``report`` is the analyzer's report of the upstream's response (as
    ``chunkscope analyze`` of ``capture`` prints it); ``error`` is set when
    no upstream connection could be made (the client got a 502);
    ``client_left`` when the client closed its connection before the
    response ended.
    """

    number: int
    method: str
    target: str
    capture: str
    started: str
    report: Report | None = None
    error: TransportError | None = None
    client_left: bool = False
    finished: bool = field(default=False, repr=False)

    @property
    def status(self) -> int | None:
        if self.error is not None:
            return 502
        return None if self.report is None else self.report.status

    @property
    def outcome(self) -> str:
        """What the summary table counts: the verdict and the close, or why there was none."""
        if self.error is not None:
            return f"no upstream ({self.error.kind}), 502 sent"
        if self.report is None:
            return "unfinished"
        if self.client_left:
            return f"{self.report.verdict.value}, client left"
        return f"{self.report.verdict.value}, {self.report.close.kind.value}"


@dataclass
class TapInfo:
    """Where a running tap listens and what it has done so far.

    ``outcomes`` counts the exchanges by :attr:`Exchange.outcome`;
    ``refused`` the requests the tap answered itself without forwarding
    them (no capture), by status line, e.g. ``"501 Not Implemented"``.
    """

    host: str
    port: int
    tls: bool
    upstream: str
    directory: str
    connections: int = 0
    started: int = 0  # exchanges begun
    in_flight: int = 0
    exchanges: deque[Exchange] = field(default_factory=lambda: deque(maxlen=KEPT_EXCHANGES))
    outcomes: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)  # "431 Request Header Fields Too Large"
    idle: trio.Event = field(default_factory=trio.Event)

    @property
    def root(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    @property
    def prefix(self) -> str:
        """The upstream URL's path without its trailing slash (``/v1``), or ``""``."""
        return urlsplit(self.upstream).path.rstrip("/")

    @property
    def url(self) -> str:
        """The URL clients use instead of the upstream's: the tap's root plus the upstream's path."""
        return self.root + (self.prefix or "/")

    async def wait_idle(self) -> None:
        """Wait until no exchange is in flight."""
        while self.in_flight:
            await self.idle.wait()

    def environment(self, ca_pem: str | None = None) -> dict[str, str]:
        """The variables that point an unmodified SDK at the tap (``-- COMMAND`` gets them).

        ``OPENAI_BASE_URL`` is the tap plus the upstream's path prefix
        (``/v1``); ``ANTHROPIC_BASE_URL`` the same without a final ``/v1``
        (anthropic-sdk-python adds it); ``CHUNKSCOPE_TAP_URL`` is :attr:`url`;
        ``CHUNKSCOPE_TAP_CA`` the CA that signs a TLS tap's certificate.
        """
        base = self.root + self.prefix
        env = {
            "OPENAI_BASE_URL": base,
            "ANTHROPIC_BASE_URL": base[: -len("/v1")] if base.endswith("/v1") else base,
            "CHUNKSCOPE_TAP_URL": self.url,
        }
        if ca_pem:
            env["CHUNKSCOPE_TAP_CA"] = ca_pem
        return env


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def capture_name(number: int, method: str, target: str, when: datetime) -> str:
    """A capture file name that sorts in time order and shows method and path.

    ``20261201T083512.123Z-0001-POST-v1_threads_runs.capture``
    """
    path = target.split("?", 1)[0]
    if "://" in path:  # absolute-form request target
        path = urlsplit(path).path
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", path.strip("/").replace("/", "_"))[:80] or "root"
    method_slug = re.sub(r"[^A-Za-z0-9]+", "-", method)[:16] or "X"
    stamp = when.strftime("%Y%m%dT%H%M%S.") + f"{when.microsecond // 1000:03d}Z"
    return f"{stamp}-{number:04d}-{method_slug}-{slug}.capture"


def rewrite_host(head: bytes, host: str) -> bytes:
    """``head`` with its ``Host`` field's value replaced by ``host`` (added if absent); nothing else changes."""
    lines = head.split(b"\n")  # each line keeps its CR, if it had one
    out = [lines[0]]
    done = False
    for line in lines[1:]:
        name, sep, _ = line.partition(b":")
        if not done and sep and name.strip().lower() == b"host":
            line = name + b": " + host.encode("ascii") + (b"\r" if line.endswith(b"\r") else b"")
            done = True
        out.append(line)
    if not done:
        out.insert(
            1, b"Host: " + host.encode("ascii") + (b"\r" if lines[0].endswith(b"\r") else b"")
        )
    return b"\n".join(out)


def origin_form(head: bytes) -> bytes:
    """``head`` with an absolute-form request target (``http://a/b?c``) in origin-form (``/b?c``)."""
    line, sep, rest = head.partition(b"\n")
    parts = line.split(b" ", 2)
    if len(parts) == 3:
        parts[1] = _origin_target(parts[1].decode("latin-1")).encode("latin-1")
    return b" ".join(parts) + sep + rest


def _origin_target(target: str) -> str:
    url = urlsplit(target)
    return (url.path or "/") + (f"?{url.query}" if url.query else "")


def _refusal(exc: h11.RemoteProtocolError, in_body: bool) -> _Refused:
    """The tap's answer to a request h11 cannot read: 431, 501 or 400, with one line."""
    if exc.error_status_hint == 431:
        if in_body:
            return _Refused(
                400,
                "Bad Request",
                f"chunkscope tap: bad request: a chunk-size or trailer line longer than "
                f"{MAX_REQUEST_HEAD} bytes",
            )
        return _Refused(
            431,
            "Request Header Fields Too Large",
            f"chunkscope tap: request head larger than {MAX_REQUEST_HEAD} bytes",
        )
    if exc.error_status_hint == 501:
        # RFC 9112 §6.1: a transfer coding the tap does not understand
        return _Refused(501, "Not Implemented", f"chunkscope tap: not implemented: {exc}")
    return _Refused(400, "Bad Request", f"chunkscope tap: bad request: {exc}")


def _check_lines(head: bytes) -> None:
    """Refuse a head h11 reads leniently but an upstream may read otherwise (raises :class:`_Refused`).

    The head goes upstream as sent, so where h11 is lenient the tap and the
    upstream could frame the request differently: a bare LF line end (RFC
    9112 §2.2) or an obs-fold continuation line (§5.2), which h11 joins to
    the field before it (``Content-Length:`` + ``\r\n 5``).
    """
    if head.count(b"\n") != head.count(b"\r\n"):
        at = next(i for i in range(len(head)) if head[i] == 10 and (i == 0 or head[i - 1] != 13))
        raise _Refused(
            400,
            "Bad Request",
            f"chunkscope tap: bad request: a line of the head ends in a bare LF at byte {at}; "
            "HTTP/1.1 wants CRLF (RFC 9112 section 2.2)",
        )
    fold = re.search(rb"\r\n[ \t]", head[: len(head) - 2])
    if fold is not None:
        raise _Refused(
            400,
            "Bad Request",
            f"chunkscope tap: bad request: obs-fold (a header line starting with a space or tab) "
            f"at byte {fold.start() + 2} (RFC 9112 section 5.2)",
        )


def mirror_close(kind: CloseKind, downstream_tls: bool) -> str:
    """The server-side ending (a :func:`~chunkscope.net.server.end_connection` name) that shows the client ``kind``."""
    if kind is CloseKind.RESET:
        return "reset"
    if not downstream_tls:
        return "fin"
    if kind is CloseKind.TLS_NO_CLOSE_NOTIFY:
        return "tls-no-close-notify"
    return "tls-close-notify"


def _has_close_token(headers: Iterable[tuple[Any, Any]]) -> bool:
    for name, value in headers:
        name_text = name.decode("latin-1") if isinstance(name, bytes) else str(name)
        value_text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        if name_text.lower() == "connection" and "close" in {
            token.strip().lower() for token in value_text.split(",")
        }:
            return True
    return False


class _Client:
    """The downstream side of one connection, read by one task for the connection's life."""

    def __init__(self, stream: trio.abc.Stream, peer: str) -> None:
        self.stream = stream
        self.peer = peer
        self.buffer = bytearray()
        self.left: str | None = None  # how the client went away, once it has
        self.gone = trio.Event()
        self._arrived = trio.Event()
        self._drained = trio.Event()
        self._watch: trio.CancelScope | None = None

    async def pump(self) -> None:
        """Read the client until it goes away; cancel the watching exchange when it does."""
        while True:
            while len(self.buffer) >= CLIENT_BUFFER:
                self._drained = trio.Event()
                await self._drained.wait()
            try:
                data = await self.stream.receive_some(CLIENT_READ)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                kind, _ = classify_receive_error(exc)
                self._leave(f"its connection ended ({kind.value})")
                return
            if not data:
                self._leave("it closed its connection")
                return
            self.buffer += data
            self._arrived.set()

    def _leave(self, how: str) -> None:
        if self.left is None:
            self.left = how
        self.gone.set()
        self._arrived.set()
        if self._watch is not None:
            self._watch.cancel()

    def watch(self, scope: trio.CancelScope | None) -> None:
        """Cancel ``scope`` when the client goes away (at once, if it already has)."""
        self._watch = scope
        if scope is not None and self.left is not None:
            scope.cancel()

    async def wait_for_data(self) -> None:
        if not self.buffer and self.left is None:
            self._arrived = trio.Event()
            await self._arrived.wait()

    def take(self) -> bytes:
        data = bytes(self.buffer)
        self.buffer.clear()
        self._drained.set()
        return data

    def unread(self, data: bytes) -> None:
        self.buffer[:0] = data


@dataclass
class _Request:
    method: str
    target: str  # as it goes upstream: an absolute-form target in origin-form
    data: bytes  # what goes upstream: the head (Host rewritten) and the body as sent
    keep_alive: bool  # the client allows another request on this connection


class _Refused(Exception):
    """A request the tap answers itself (400, 408, 413), with a one-line reason."""

    def __init__(self, status: int, phrase: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.phrase = phrase
        self.reason = reason


class _Tap:
    def __init__(
        self,
        options: TapOptions,
        info: TapInfo,
        server_context: ssl.SSLContext | None,
        on_exchange: Callable[[Exchange], None] | None,
    ) -> None:
        self.options = options
        self.info = info
        self.server_context = server_context
        self.on_exchange = on_exchange
        self.target: _Target = _parse_target(options.upstream, options.connect_to)
        self.dial = CaptureOptions(
            url=options.upstream,
            cacert=options.cacert,
            insecure=options.insecure,
            connect_to=options.connect_to,
            proxy=options.proxy,
            connect_timeout=options.connect_timeout,
            ssl_context=options.ssl_context,
        )
        if self.target.tls and self.dial.ssl_context is None:
            self.dial.ssl_context = _ssl_context(self.dial)  # once, and a bad --cacert fails now
        # Only an explicit --proxy: a reverse proxy in front of one upstream has no business
        # with the environment's proxies, which are for the clients behind it.
        self.proxy = parse_proxy(options.proxy, "--proxy") if options.proxy else None
        self.background: trio.Nursery | None = None

    # -- one downstream connection -----------------------------------------

    async def connection(self, raw: trio.SocketStream) -> None:
        self.info.connections += 1
        stream: trio.abc.Stream = raw
        try:
            peer = _address(raw.socket.getpeername())
        except OSError:
            peer = "?"
        try:
            if self.server_context is not None:
                stream = trio.SSLStream(
                    raw, self.server_context, server_side=True, https_compatible=False
                )
                with trio.fail_after(HANDSHAKE_TIMEOUT):
                    await stream.do_handshake()
            client = _Client(stream, peer)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(client.pump)
                while True:
                    try:
                        request = await self._read_request(client)
                    except _Refused as refused:
                        self.info.refused[f"{refused.status} {refused.phrase}"] += 1
                        await self._answer(client, refused.status, refused.phrase, refused.reason)
                        break
                    if request is None or not await self._exchange(client, request):
                        break
                nursery.cancel_scope.cancel()
        except (trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError, OSError):
            pass
        finally:
            await trio.aclose_forcefully(stream)

    async def _read_request(self, client: _Client) -> _Request | None:
        """The next request on the connection, or None when the client is done."""
        conn = h11.Connection(our_role=h11.SERVER, max_incomplete_event_size=MAX_REQUEST_HEAD)
        raw = bytearray()
        head_end = 0
        request: h11.Request | None = None
        eof_fed = False
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                if client.left is not None:
                    return None
                raise _refusal(exc, request is not None) from None
            if event is h11.NEED_DATA:
                if client.buffer:
                    data = client.take()
                    raw += data
                    if len(raw) > MAX_REQUEST_HEAD + MAX_REQUEST_BODY:
                        raise _Refused(
                            413,
                            "Content Too Large",
                            f"chunkscope tap: request larger than {MAX_REQUEST_BODY} bytes",
                        )
                    conn.receive_data(data)
                    continue
                if client.left is not None:
                    if eof_fed:
                        return None
                    conn.receive_data(b"")
                    eof_fed = True
                    continue
                timeout = REQUEST_IDLE_TIMEOUT if raw else KEEPALIVE_TIMEOUT
                with trio.move_on_after(timeout) as waited:
                    await client.wait_for_data()
                if waited.cancelled_caught:
                    if not raw:
                        return None  # an idle kept-alive connection: closed like any server's
                    raise _Refused(
                        408, "Request Timeout", f"chunkscope tap: no request byte for {timeout} s"
                    )
            elif isinstance(event, h11.Request):
                request = event
                body_so_far = conn.trailing_data[0]
                head_end = len(raw) - len(body_so_far)
                if head_end > MAX_REQUEST_HEAD:
                    # h11 bounds only a head still incomplete; one that arrived
                    # whole in a single read is held to the same limit here.
                    raise _refusal(h11.RemoteProtocolError("", error_status_hint=431), False)
                self._check(request)
                _check_lines(bytes(raw[:head_end]))
                if conn.they_are_waiting_for_100_continue and not body_so_far:
                    # RFC 9110 §10.1.1: the body is needed before the upstream is
                    # asked. The upstream's own 100, if it sends one, is relayed too.
                    await client.stream.send_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            elif isinstance(event, h11.EndOfMessage):
                assert request is not None
                leftover = conn.trailing_data[0]
                client.unread(leftover)
                end = len(raw) - len(leftover)
                head = rewrite_host(bytes(raw[:head_end]), self.target.host_header)
                target = request.target.decode("latin-1")
                if "://" in target:
                    # RFC 9112 §3.2.2: absolute-form names a host, which an origin
                    # server would use instead of Host. A reverse proxy has one
                    # upstream: the target goes in origin-form, as nginx sends it.
                    head = origin_form(head)
                    target = _origin_target(target)
                keep_alive = request.http_version == b"1.1" and not _has_close_token(
                    request.headers
                )
                return _Request(
                    method=request.method.decode("latin-1"),
                    target=target,
                    data=head + bytes(raw[head_end:end]),
                    keep_alive=keep_alive,
                )
            elif isinstance(event, h11.ConnectionClosed):
                return None
            elif event is h11.PAUSED:  # not before EndOfMessage, but never loop on it
                raise _Refused(400, "Bad Request", "chunkscope tap: cannot read this request")
            # h11.Data: the body is forwarded from ``raw``, exactly as sent

    def _check(self, request: h11.Request) -> None:
        """Refuse what h11 lets through but a proxy must not forward (raises :class:`_Refused`)."""
        if request.method.upper() == b"CONNECT":
            raise _Refused(
                501,
                "Not Implemented",
                "chunkscope tap: CONNECT is not supported: the tap is a reverse proxy for "
                f"{self.options.upstream}, not a forward proxy",
            )
        target = request.target
        if not (
            target.startswith(b"/")
            or _ABSOLUTE_FORM.match(target)
            or (target == b"*" and request.method.upper() == b"OPTIONS")
        ):
            # RFC 9112 §3.2: origin-form, absolute-form, or * for OPTIONS; the
            # authority-form is CONNECT's alone.
            raise _Refused(
                400,
                "Bad Request",
                f"chunkscope tap: bad request: request target {target[:80]!r} is not "
                "/path, http://host/path or * (RFC 9112 section 3.2)",
            )
        names = [name for name, _ in request.headers]
        if b"transfer-encoding" in names and b"content-length" in names:
            # RFC 9112 §6.1: such a message is how requests are smuggled past a
            # proxy that frames it one way to an upstream that frames it the other.
            raise _Refused(
                400,
                "Bad Request",
                "chunkscope tap: bad request: both Content-Length and Transfer-Encoding "
                "(RFC 9112 section 6.1)",
            )
        for name, value in request.headers:
            if name == b"content-length" and int(value) > MAX_REQUEST_BODY:
                raise _Refused(
                    413,
                    "Content Too Large",
                    f"chunkscope tap: request larger than {MAX_REQUEST_BODY} bytes",
                )

    async def _answer(self, client: _Client, status: int, phrase: str, reason: str) -> None:
        """Send a response of the tap's own (one line of text), then close the connection."""
        if client.left is not None:
            return
        body = (reason.replace("\n", " ") + "\n").encode("utf-8", "replace")
        head = (
            f"HTTP/1.1 {status} {phrase}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode("ascii")
        with trio.move_on_after(REFUSE_TIMEOUT):
            try:
                await client.stream.send_all(head + body)
                await self._drain(client)
                await end_connection(client.stream, mirror_close(CloseKind.FIN, self.info.tls))
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass

    @staticmethod
    async def _drain(client: _Client) -> None:
        """Read and drop what the client still sends, for a short while, before closing.

        RFC 9112 §9.6: closing with unread bytes makes the kernel send RST,
        which can destroy the answer still in flight (a 431 to a client still
        sending a huge head), so the tap half-closes and reads on first.
        """
        stream = client.stream
        if isinstance(stream, trio.abc.HalfCloseableStream):
            await stream.send_eof()
        with trio.move_on_after(LINGER_TIMEOUT):
            while client.left is None:
                client.take()
                await client.wait_for_data()
        client.take()

    # -- one exchange ------------------------------------------------------------

    async def _exchange(self, client: _Client, request: _Request) -> bool:
        """Forward one request and relay its response; True if the connection stays open."""
        info = self.info
        info.started += 1
        if info.in_flight == 0:
            info.idle = trio.Event()
        info.in_flight += 1
        when = _utc_now()
        number = info.started
        target = self.target
        path = os.path.join(
            self.options.directory, capture_name(number, request.method, request.target, when)
        )
        exchange = Exchange(
            number,
            request.method,
            request.target,
            path,
            when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        )
        path_part = "" if request.target == "*" else request.target
        url = f"{target.scheme}://{target.host_header}{path_part}"
        meta: dict[str, Any] = {
            "target": url,
            "method": request.method.upper(),
            "scheme": target.scheme,
            "host": target.host,
            "port": target.port,
            "t0_wall": exchange.started,
            "tap": {"exchange": number, "client": client.peer, "listen": info.root},
        }
        if self.options.connect_to:
            meta["connect_to"] = target.where
        writer = CaptureWriter(path, meta=meta, redact=self.options.redact)
        recorder: Recorder | None = None
        upstream: trio.abc.Stream | None = None
        handed_off = False
        try:
            connection: dict[str, Any] = {}
            timings: dict[str, float] = {}
            try:
                upstream = await open_connection(
                    self.dial, target, connection, timings, proxy=self.proxy, tunnel=True
                )
            except TransportError as exc:
                writer.meta(error={"kind": exc.kind, "reason": exc.reason}, timings=timings)
                writer.sent(0.0, request.data)
                writer.ended(CloseKind.UNKNOWN, None, f"no upstream connection: {exc}")
                exchange.error = exc
                await self._answer(client, 502, "Bad Gateway", f"chunkscope tap: {exc}")
                return False
            writer.meta(**connection, timings=timings)
            analyzer = Analyzer(
                request_method=request.method, terminal_events=self.options.terminal_events
            )
            start = trio.current_time()
            recorder = Recorder(analyzer, writer, lambda: trio.current_time() - start)
            outcome, kind, detail = await self._relay(client, upstream, recorder, request)
            if outcome == "upgraded":
                outcome, kind, detail = await self._tunnel(client, upstream, recorder)
            if outcome == "complete":
                # The client may send its next request now; how the upstream
                # closes is recorded in the background.
                assert self.background is not None
                self.background.start_soon(self._linger, upstream, recorder, writer, exchange)
                handed_off = True
                return True
            if outcome == "client-left":
                exchange.client_left = True
                writer.meta(client_left=True)
            exchange.report = recorder.end(kind, detail)
            await trio.aclose_forcefully(upstream)
            upstream = None
            if outcome == "timeout":
                self._finish(exchange)
                # The upstream never closed, so neither does the client's
                # connection: the client's own timeout decides, as without the tap.
                await client.gone.wait()
            elif outcome == "ended" and client.left is None:
                client.watch(None)
                await end_connection(client.stream, mirror_close(kind, info.tls))
            return False
        finally:
            if not handed_off:
                if recorder is not None and recorder.ended is None:
                    exchange.report = recorder.end(
                        CloseKind.INTERRUPTED,
                        "the tap was stopped before the connection ended",
                    )
                writer.close()
                self._finish(exchange)  # before any await: a cancelled tap still counts it
                if upstream is not None:
                    await trio.aclose_forcefully(upstream)

    async def _relay(
        self, client: _Client, upstream: trio.abc.Stream, recorder: Recorder, request: _Request
    ) -> tuple[str, CloseKind, str | None]:
        """Send the request, then record and relay every read until the response ends.

        Returns ``(outcome, close kind, detail)``; outcome is ``ended`` (the
        upstream closed: mirror it), ``complete`` (a clean response on a
        connection that stays open), ``timeout`` or ``client-left``.
        """
        analyzer = recorder.analyzer
        idle = self.options.idle_timeout or math.inf
        tls = self.target.tls
        send = client.stream.send_all
        grace = math.inf
        with trio.CancelScope() as watch:
            client.watch(watch)
            try:
                await upstream.send_all(request.data)
                recorder.sent(request.data)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                # The upstream may still have answered (an early 413, say): read on.
                recorder.sent(request.data)
                if recorder.writer is not None:
                    recorder.writer.meta(send_error=classify_receive_error(exc)[1])
            with trio.CancelScope(deadline=trio.current_time() + idle) as waiting:
                while True:
                    try:
                        data = await upstream.receive_some(RECEIVE_SIZE)
                    except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                        kind, detail = classify_receive_error(exc)
                        return "ended", kind, detail
                    if not data:
                        return "ended", (CloseKind.TLS_CLOSE_NOTIFY if tls else CloseKind.FIN), None
                    recorder.received(data if type(data) is bytes else bytes(data))
                    try:
                        await send(data)
                    except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                        client._leave(f"sending to it failed ({exc})")
                        break
                    if analyzer.message_complete:
                        if analyzer.head is not None and analyzer.head.get("status") == 101:
                            return "upgraded", CloseKind.UNKNOWN, None
                        if self._reusable(analyzer, request):
                            return "complete", CloseKind.UNKNOWN, None
                        if grace == math.inf:
                            # The connection is to close: the upstream gets a grace
                            # period to close it, as capture gives a server.
                            grace = trio.current_time() + GRACE_AFTER_COMPLETE
                    waiting.deadline = min(trio.current_time() + idle, grace)
            if waiting.cancelled_caught and not watch.cancel_called:
                if analyzer.message_complete:
                    return (
                        "ended",
                        CloseKind.UNKNOWN,
                        (
                            "the upstream kept its connection open after a complete response; "
                            "the tap closed it"
                        ),
                    )
                return "timeout", CloseKind.TIMEOUT, f"no byte for --idle-timeout {idle:g} s"
        client.watch(None)
        if analyzer.message_complete:
            # The client had the whole response and went: nothing was cut. How
            # the upstream closes is still worth recording.
            return "complete", CloseKind.UNKNOWN, None
        last = recorder.last_t
        since = "" if last is None else f", {recorder.clock() - last:.3f} s after the last byte"
        return (
            "client-left",
            CloseKind.INTERRUPTED,
            f"the client left: {client.left}{since}; the tap closed the upstream connection",
        )

    async def _tunnel(
        self, client: _Client, upstream: trio.abc.Stream, recorder: Recorder
    ) -> tuple[str, CloseKind, str | None]:
        """After a relayed ``101 Switching Protocols``: bytes both ways, each recorded, until one side closes.

        The upstream's bytes are recorded as received (after the 101 the
        analyzer only counts them), the client's as sent. Returns ``ended``
        with how the upstream's connection ended: on its own (mirrored to the
        client), within a grace period after the client closed (the tap
        half-closes it), or ``timeout`` after ``idle_timeout`` seconds
        without a byte either way (the tap closes both).
        """
        idle = self.options.idle_timeout or math.inf
        tls = self.target.tls
        ended: list[tuple[CloseKind, str | None]] = []
        client_closed = False
        client.watch(None)

        async with trio.open_nursery() as nursery:
            scope = nursery.cancel_scope
            scope.deadline = trio.current_time() + idle

            async def from_upstream() -> None:
                while True:
                    try:
                        data = await upstream.receive_some(RECEIVE_SIZE)
                    except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                        ended.append(classify_receive_error(exc))
                        break
                    if not data:
                        ended.append((CloseKind.TLS_CLOSE_NOTIFY if tls else CloseKind.FIN, None))
                        break
                    if not client_closed:
                        scope.deadline = trio.current_time() + idle
                    recorder.received(data if type(data) is bytes else bytes(data))
                    if client.left is not None:
                        continue  # recorded until the upstream closes or the grace ends
                    try:
                        await client.stream.send_all(data)
                    except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                        client._leave(f"sending to it failed ({exc})")
                scope.cancel()

            async def from_client() -> None:
                nonlocal client_closed
                while True:
                    await client.wait_for_data()
                    if not client.buffer:
                        break  # the client closed its connection
                    data = client.take()
                    scope.deadline = trio.current_time() + idle
                    recorder.sent(data)
                    try:
                        await upstream.send_all(data)
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        return  # from_upstream records how the upstream ended
                client_closed = True
                # The upstream gets a grace period to close after the client,
                # so how it closes is observed rather than caused.
                scope.deadline = min(scope.deadline, trio.current_time() + GRACE_AFTER_COMPLETE)
                if isinstance(upstream, trio.abc.HalfCloseableStream):
                    with suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                        await upstream.send_eof()

            nursery.start_soon(from_upstream)
            nursery.start_soon(from_client)
        after = f"the client left the upgraded connection: {client.left}"
        if ended:
            kind, detail = ended[0]
            if client_closed:
                detail = f"{after}, then the upstream closed" + (f": {detail}" if detail else "")
            return "ended", kind, detail
        if client_closed:
            return "ended", CloseKind.UNKNOWN, f"{after}; the tap closed the upstream connection"
        return (
            "ended",
            CloseKind.TIMEOUT,
            f"no byte either way for --idle-timeout {idle:g} s; the tap closed both connections",
        )

    @staticmethod
    def _reusable(analyzer: Analyzer, request: _Request) -> bool:
        """Whether the client may send another request on its connection (RFC 9112 §9.3)."""
        head = analyzer.head
        if not request.keep_alive or head is None or head.get("version") != "1.1":
            return False
        if analyzer.extra_bytes:
            # Bytes after the message came in the same read and were relayed: a
            # client reusing the connection would take them for its next
            # response, so the connection ends as the upstream ends it.
            return False
        headers = head.get("headers")
        return not _has_close_token(headers if isinstance(headers, list) else ())

    async def _linger(
        self,
        upstream: trio.abc.Stream,
        recorder: Recorder,
        writer: CaptureWriter,
        exchange: Exchange,
    ) -> None:
        """After a complete response: record how the upstream closes, within a grace period."""
        kind = CloseKind.UNKNOWN
        detail: str | None = (
            "the upstream kept its connection open after a complete response; the tap closed it"
        )
        try:
            with trio.move_on_after(GRACE_AFTER_COMPLETE):
                while True:
                    try:
                        data = await upstream.receive_some(RECEIVE_SIZE)
                    except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                        kind, detail = classify_receive_error(exc)
                        break
                    if not data:
                        kind = CloseKind.TLS_CLOSE_NOTIFY if self.target.tls else CloseKind.FIN
                        detail = None
                        break
                    # After the message: recorded (extra_bytes), never relayed
                    # to a connection that carries the client's next exchange.
                    recorder.received(data if type(data) is bytes else bytes(data))
        finally:
            if recorder.ended is None:
                exchange.report = recorder.end(kind, detail)
            exchange.report = recorder.ended
            writer.close()
            self._finish(exchange)  # before any await: a cancelled tap still counts it
            await trio.aclose_forcefully(upstream)

    def _finish(self, exchange: Exchange) -> None:
        info = self.info
        if exchange.finished:
            return
        exchange.finished = True
        info.exchanges.append(exchange)
        info.outcomes[exchange.outcome] += 1
        info.in_flight -= 1
        if info.in_flight == 0:
            info.idle.set()
        if self.on_exchange is not None:
            self.on_exchange(exchange)


def _address(addr: Any) -> str:
    if isinstance(addr, tuple) and len(addr) >= 2:
        host = str(addr[0])
        return f"[{host}]:{addr[1]}" if ":" in host else f"{host}:{addr[1]}"
    return str(addr)


async def serve_tap(
    options: TapOptions,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
    on_exchange: Callable[[Exchange], None] | None = None,
    task_status: trio.TaskStatus[TapInfo] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run a tap in front of ``options.upstream`` until cancelled.

    Use with ``nursery.start``: ``info = await nursery.start(serve_tap, options)``
    returns a :class:`TapInfo` once the socket listens; point clients at
    ``info.url``. ``ssl_context`` (a server context) makes the tap speak TLS
    to its clients. ``on_exchange`` is called with each :class:`Exchange`
    as it ends. Raises :class:`~chunkscope.UsageError` for a bad upstream URL,
    ``--cacert`` or directory.
    """
    try:
        os.makedirs(options.directory, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"cannot create the capture directory {options.directory}: {exc.strerror or exc}"
        ) from None
    listeners = await trio.open_tcp_listeners(port, host=host, backlog=1024)
    bound = listeners[0].socket.getsockname()
    info = TapInfo(
        host=host,
        port=int(bound[1]),
        tls=ssl_context is not None,
        upstream=options.upstream,
        directory=options.directory,
        exchanges=deque(maxlen=max(0, options.keep_exchanges)),
    )
    info.idle.set()
    tap = _Tap(options, info, ssl_context, on_exchange)
    try:
        async with trio.open_nursery() as background:
            tap.background = background
            task_status.started(info)
            async with trio.open_nursery() as nursery:
                for listener in listeners:
                    nursery.start_soon(trio.serve_listeners, tap.connection, [listener])
    finally:
        for listener in listeners:
            await trio.aclose_forcefully(listener)


@dataclass
class RunningTap:
    """A tap started by :func:`tapping` or :func:`start_tap`."""

    info: TapInfo
    tls: TlsPair | None

    @property
    def url(self) -> str:
        """The URL clients use instead of the upstream's (``http://127.0.0.1:PORT/v1``)."""
        return self.info.url

    @property
    def directory(self) -> str:
        return self.info.directory

    @property
    def exchanges(self) -> list[Exchange]:
        """The exchanges that ended so far, in the order they ended."""
        return list(self.info.exchanges)

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        """A client context that trusts a TLS tap's throwaway CA."""
        return None if self.tls is None else self.tls.client_context

    @property
    def ca_pem(self) -> str | None:
        return None if self.tls is None else self.tls.ca_pem

    @property
    def env(self) -> dict[str, str]:
        """``OPENAI_BASE_URL``, ``ANTHROPIC_BASE_URL``, ``CHUNKSCOPE_TAP_URL`` (see :meth:`TapInfo.environment`)."""
        return self.info.environment(self.ca_pem)

    def captures(self) -> list[str]:
        """The capture files in the tap's directory, in time order."""
        return sorted(
            os.path.join(self.directory, name)
            for name in os.listdir(self.directory)
            if name.endswith(".capture")
        )

    async def wait_idle(self) -> None:
        """Wait until every exchange so far has ended (its capture closed, its line printed)."""
        await self.info.wait_idle()


def _upstream_of(upstream: Any, prefix: str, options: dict[str, Any]) -> str:
    url = getattr(upstream, "url", upstream)
    if not isinstance(url, str):
        raise UsageError(f"the upstream must be a URL or a running server, got {upstream!r}")
    context = getattr(upstream, "ssl_context", None)
    if context is not None:
        options.setdefault("ssl_context", context)
    if prefix:
        url = url.rstrip("/") + "/" + prefix.strip("/")
    return url


async def start_tap(
    nursery: trio.Nursery,
    upstream: Any,
    directory: str | os.PathLike[str] | None = None,
    *,
    prefix: str = "",
    tls: bool | TlsPair = False,
    host: str = "127.0.0.1",
    port: int = 0,
    on_exchange: Callable[[Exchange], None] | None = None,
    **options: Any,
) -> RunningTap:
    """Start a tap in ``nursery`` in front of ``upstream``; it runs until the nursery is cancelled.

    ``upstream`` is a URL or a running server (:func:`chunkscope.testing.serving`),
    whose CA the tap then trusts; ``prefix`` is added to its URL (``"v1"``).
    ``directory`` defaults to a fresh temporary folder. ``tls`` makes the
    tap speak TLS to its clients (``True``: a throwaway CA; or a
    :class:`TlsPair`, e.g. the served fixture's, so one CA covers both).
    ``options`` are :class:`TapOptions` fields.
    """
    import tempfile

    url = _upstream_of(upstream, prefix, options)
    folder = (
        os.fspath(directory)
        if directory is not None
        else tempfile.mkdtemp(prefix="chunkscope-tap-")
    )
    pair = tls if isinstance(tls, TlsPair) else (tls_pair() if tls else None)
    tap_options = TapOptions(upstream=url, directory=folder, **options)
    info: TapInfo = await nursery.start(
        partial(
            serve_tap,
            tap_options,
            host=host,
            port=port,
            ssl_context=None if pair is None else pair.server_context,
            on_exchange=on_exchange,
        )
    )
    return RunningTap(info, pair)


@asynccontextmanager
async def tapping(
    upstream: Any, directory: str | os.PathLike[str] | None = None, **options: Any
) -> AsyncIterator[RunningTap]:
    """Run a tap in front of ``upstream`` for the duration of the ``async with`` block.

    Example (pytest-trio), an SDK in a subprocess driven through the tap::

        async with serving(Response(events=[...]), truncate_at="before-last-chunk") as server:
            async with tapping(server, tmp_path, prefix="v1") as tap:
                subprocess.run([...], env={**os.environ, **tap.env})  # via trio.to_thread
                await tap.wait_idle()
                report = tap.exchanges[0].report

    Options as :func:`start_tap`.
    """
    async with trio.open_nursery() as nursery:
        tap = await start_tap(nursery, upstream, directory, **options)
        try:
            yield tap
        finally:
            nursery.cancel_scope.cancel()
