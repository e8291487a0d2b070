"""The replay server: plays recorded server bytes to any client, then ends the connection for real.

Theory of operation
-------------------
Each accepted connection gets its own task: it reads the request (h11 as a
server-side parser, bounded in size and time), writes the script's reads
with their original timing scaled by ``speed`` (0: as fast as possible),
optionally sliced into small writes, and then ends the connection the way
the script says -- and that ending is real, at the socket level:

================== =======================================================
close              what the client sees
================== =======================================================
fin                TCP FIN after the last byte
reset              RST (SO_LINGER 0), after a short pause so the kernel
                   does not discard bytes the client has not read yet
tls-close-notify   TLS close_notify alert, then FIN
tls-no-close-notify FIN on the TCP socket with no close_notify
stall              nothing more: the connection stays open ``stall``
                   seconds (a client's idle timeout fires first), then FIN
================== =======================================================

A misbehaving client (garbage, early disconnect, never reading) only ever
costs its own task: every wait is bounded and errors end that connection.
"""

from __future__ import annotations

import socket
import ssl
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import h11
import trio

from ..core.report import CloseKind

__all__ = ["CLOSES", "Script", "ServerInfo", "end_connection", "serve", "serve_listeners"]

CLOSES = ("fin", "reset", "tls-close-notify", "tls-no-close-notify", "stall")
REQUEST_TIMEOUT = 10.0  # seconds a client gets to send its request
WRITE_TIMEOUT = 30.0  # seconds one write may block on a client that does not read
MAX_REQUEST = 1 << 20
RESET_PAUSE = 0.05  # Linux drops unread bytes on RST: let the client read first


@dataclass(frozen=True)
class Script:
    """What one connection receives: timed writes, then an ending.

    ``reads`` are ``(t, bytes)`` with ``t`` in seconds since the request
    (as in a capture file); ``speed`` scales the gaps (1 = original timing,
    10 = ten times faster, 0 = no waiting); ``slice`` splits every write into
    segments of at most that many bytes, with ``delay_per_write`` seconds
    between segments; ``stall`` seconds pass before the close (for
    ``close="stall"``: how long the connection is held open).
    """

    reads: Sequence[tuple[float, bytes]]  # a tuple, or a compact ReadTable (net/reads.py)
    close: str = "fin"
    stall: float = 0.0
    speed: float = 0.0
    slice: int | None = None
    delay_per_write: float = 0.0

    def __post_init__(self) -> None:
        if self.close not in CLOSES:
            raise ValueError(f"unknown close {self.close!r}; one of {', '.join(CLOSES)}")

    @classmethod
    def from_bytes(cls, data: bytes, close: str = "fin", **kwargs: object) -> Script:
        return cls(reads=((0.0, data),), close=close, **kwargs)  # type: ignore[arg-type]

    @property
    def server_bytes(self) -> bytes:
        return b"".join(data for _, data in self.reads)

    def with_options(self, **changes: object) -> Script:
        return replace(self, **changes)  # type: ignore[arg-type]


def close_for_capture(kind: CloseKind | None, tls: bool) -> str:
    """The server-side ending that reproduces a capture's observed close."""
    if kind is None:
        return "tls-no-close-notify" if tls else "fin"
    mapping = {
        CloseKind.FIN: "fin",
        CloseKind.RESET: "reset",
        CloseKind.TLS_CLOSE_NOTIFY: "tls-close-notify" if tls else "fin",
        CloseKind.TLS_NO_CLOSE_NOTIFY: "tls-no-close-notify" if tls else "fin",
        CloseKind.TIMEOUT: "stall",
        CloseKind.INTERRUPTED: "stall",
        CloseKind.UNKNOWN: "fin",
    }
    return mapping[kind]


@dataclass
class ServerInfo:
    """Where a running server listens, and what it has done so far."""

    host: str
    port: int
    tls: bool
    connections: int = 0
    completed: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}/"


async def _read_request(stream: trio.abc.Stream) -> h11.Request | None:
    """Read one request head and its body (discarded); None if the client gave up."""
    conn = h11.Connection(our_role=h11.SERVER, max_incomplete_event_size=65536)
    total = 0
    request: h11.Request | None = None
    with trio.move_on_after(REQUEST_TIMEOUT):
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await stream.receive_some(65536)
                total += len(data)
                if total > MAX_REQUEST:
                    return None
                conn.receive_data(bytes(data))
                continue
            if isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.EndOfMessage):
                return request
            elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return None
    return None


def _set_linger_zero(stream: trio.abc.Stream) -> None:
    transport = stream
    while isinstance(transport, trio.SSLStream):
        transport = transport.transport_stream
    if isinstance(transport, trio.SocketStream):
        transport.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


async def _end(stream: trio.abc.Stream, script: Script) -> None:
    if script.stall > 0 or script.close == "stall":
        await trio.sleep(script.stall if script.stall > 0 else 3600)
    await end_connection(stream, script.close)


async def end_connection(stream: trio.abc.Stream, close: str) -> None:
    """End a server-side connection for real: ``fin``, ``reset``, ``tls-close-notify`` or ``tls-no-close-notify``.

    ``stream`` is a ``trio.SocketStream`` or a ``trio.SSLStream`` over one
    (the TLS endings need the latter; on plain TCP they are a FIN).
    """
    if close == "reset":
        await trio.sleep(RESET_PAUSE)
        _set_linger_zero(stream)
        await trio.aclose_forcefully(stream)
    elif close == "tls-no-close-notify" and isinstance(stream, trio.SSLStream):
        await stream.transport_stream.aclose()  # TCP FIN, no TLS alert
    elif close == "tls-close-notify" and isinstance(stream, trio.SSLStream):
        with trio.move_on_after(1.0):
            await stream.aclose()  # close_notify, then FIN
        await trio.aclose_forcefully(stream)
    else:
        if isinstance(stream, trio.SSLStream):
            await stream.transport_stream.aclose()
        else:
            await stream.aclose()


async def play(stream: trio.abc.Stream, script: Script) -> None:
    """Write the script's bytes on an open stream, with its timing, then end the connection."""
    elapsed = 0.0
    speed = script.speed
    for t, data in script.reads:
        if speed > 0 and t > elapsed:
            await trio.sleep((t - elapsed) / speed)
        elapsed = max(elapsed, t)
        step = script.slice or len(data) or 1
        for start in range(0, len(data), step):
            with trio.fail_after(WRITE_TIMEOUT):
                await stream.send_all(data[start : start + step])
            if script.delay_per_write > 0:
                await trio.sleep(script.delay_per_write)
    await _end(stream, script)


ScriptSource = Script | Callable[[h11.Request], Script]


async def _handle(
    raw: trio.SocketStream,
    source: ScriptSource,
    ssl_context: ssl.SSLContext | None,
    info: ServerInfo,
    done: Callable[[], None],
) -> None:
    info.connections += 1
    stream: trio.abc.Stream = raw
    try:
        if ssl_context is not None:
            stream = trio.SSLStream(raw, ssl_context, server_side=True, https_compatible=False)
            with trio.fail_after(REQUEST_TIMEOUT):
                await stream.do_handshake()
        request = await _read_request(stream)
        if request is None:
            await trio.aclose_forcefully(stream)
            return
        script = source(request) if callable(source) else source
        await play(stream, script)
        info.completed += 1
    except (
        trio.BrokenResourceError,
        trio.ClosedResourceError,
        trio.TooSlowError,
        h11.ProtocolError,
        OSError,
    ) as exc:
        if len(info.errors) < 100:
            info.errors.append(f"{type(exc).__name__}: {exc}")
        await trio.aclose_forcefully(stream)
    finally:
        done()


async def serve_listeners(
    listeners: Sequence[trio.SocketListener],
    source: ScriptSource,
    info: ServerInfo,
    *,
    ssl_context: ssl.SSLContext | None = None,
    once: bool = False,
    max_connections: int = 1000,
) -> None:
    """Accept connections on ``listeners`` and play ``source`` to each."""
    limiter = trio.CapacityLimiter(max_connections)
    async with trio.open_nursery() as nursery:
        finished = trio.Event()

        def done() -> None:
            if once:
                finished.set()

        async def accept_loop(listener: trio.SocketListener) -> None:
            while True:
                raw = await listener.accept()
                nursery.start_soon(_limited, raw)
                if once:
                    await finished.wait()
                    nursery.cancel_scope.cancel()
                    return

        async def _limited(raw: trio.SocketStream) -> None:
            async with limiter:
                await _handle(raw, source, ssl_context, info, done)

        for listener in listeners:
            nursery.start_soon(accept_loop, listener)


async def serve(
    source: ScriptSource,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
    once: bool = False,
    task_status: trio.TaskStatus[ServerInfo] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``source`` until cancelled (or after one connection with ``once``).

    Use with ``nursery.start``: ``info = await nursery.start(serve, script)``
    returns a :class:`ServerInfo` once the socket listens (``info.url``).
    """
    listeners = await trio.open_tcp_listeners(port, host=host, backlog=1024)
    bound = listeners[0].socket.getsockname()
    info = ServerInfo(host=host, port=int(bound[1]), tls=ssl_context is not None)
    task_status.started(info)
    try:
        await serve_listeners(listeners, source, info, ssl_context=ssl_context, once=once)
    finally:
        for listener in listeners:
            await trio.aclose_forcefully(listener)
