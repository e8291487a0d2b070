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

Limits, so that hostile or broken clients cannot starve a good one:

- a client has ``REQUEST_TIMEOUT`` seconds for the TLS handshake and its whole
  request head (a slowloris drip does not extend it), ``MAX_REQUEST`` bytes;
- one write may block ``WRITE_TIMEOUT`` seconds on a client that does not read;
- every wait of a replay (a recorded gap, ``stall``, ``delay_per_write``) is at
  most ``MAX_DELAY`` seconds, whatever the capture file says;
- at ``max_connections``, or when the process runs out of file descriptors
  (EMFILE/ENFILE), the server first sheds the connection that has waited
  longest for its request head, then the one whose write has been blocked
  longest (over ``SHED_BLOCKED_AFTER`` s); with nothing to shed it pauses
  accepting (the kernel's backlog holds new clients) and says so once
  through ``on_notice``.
"""

from __future__ import annotations

import errno
import itertools
import math
import socket
import ssl
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import h11
import trio
import trio.lowlevel

from ..core.errors import UsageError
from ..core.report import CloseKind

__all__ = [
    "CLOSES",
    "MAX_DELAY",
    "REQUEST_TIMEOUT",
    "WRITE_TIMEOUT",
    "Script",
    "ServerInfo",
    "end_connection",
    "play",
    "serve",
    "serve_listeners",
]

CLOSES = ("fin", "reset", "tls-close-notify", "tls-no-close-notify", "stall")
REQUEST_TIMEOUT = 10.0  # seconds a client gets for the TLS handshake and its request
WRITE_TIMEOUT = 30.0  # seconds one write may block on a client that does not read
MAX_DELAY = 600.0  # the longest one wait of a replay (a recorded gap, stall, delay per write)
SHED_BLOCKED_AFTER = 1.0  # a write blocked this long makes its connection sheddable
MAX_CONNECTIONS = 1000
ACCEPT_RETRY = 0.1  # seconds between accept attempts while out of descriptors
# accept() errors that mean "no resources right now", not "the listener is broken"
# (the same set trio.serve_listeners sleeps on)
_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}
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
        for name in ("stall", "speed", "delay_per_write"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")

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
    shed: int = 0  # connections closed to make room (slow request heads, blocked writes)
    paused: int = 0  # times accepting paused because descriptors ran out

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}/"


async def _read_request(stream: trio.abc.Stream) -> h11.Request | None:
    """Read one request head and its body (discarded); None if the client gave up."""
    conn = h11.Connection(our_role=h11.SERVER, max_incomplete_event_size=65536)
    total = 0
    request: h11.Request | None = None
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


def _set_linger_zero(stream: trio.abc.Stream) -> None:
    transport = stream
    while isinstance(transport, trio.SSLStream):
        transport = transport.transport_stream
    if isinstance(transport, trio.SocketStream):
        transport.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


async def _end(stream: trio.abc.Stream, script: Script) -> None:
    if script.stall > 0 or script.close == "stall":
        await trio.sleep(min(script.stall if script.stall > 0 else MAX_DELAY, MAX_DELAY))
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


async def play(stream: trio.abc.Stream, script: Script, watch: _Connection | None = None) -> None:
    """Write the script's bytes on an open stream, with its timing, then end the connection.

    Each wait is clamped to ``MAX_DELAY`` seconds and each write to
    ``WRITE_TIMEOUT`` (``trio.TooSlowError``), so no capture and no client
    can hold a connection forever.
    """
    elapsed = 0.0
    speed = script.speed
    pause = min(script.delay_per_write, MAX_DELAY)
    for t, data in script.reads:
        if speed > 0 and t > elapsed:
            await trio.sleep(min((t - elapsed) / speed, MAX_DELAY))
        elapsed = max(elapsed, t)
        step = script.slice or len(data) or 1
        for start in range(0, len(data), step):
            if watch is not None:
                watch.write_since = trio.current_time()
            with trio.fail_after(WRITE_TIMEOUT):
                await stream.send_all(data[start : start + step])
            if watch is not None:
                watch.write_since = None
            if pause > 0:
                await trio.sleep(pause)
    await _end(stream, script)


ScriptSource = Script | Callable[[h11.Request], Script]


@dataclass(eq=False)
class _Connection:
    """One accepted connection, as the shedding policy sees it."""

    scope: trio.CancelScope
    accepted: float
    head_done: bool = False
    write_since: float | None = None  # when the pending write started, if one is pending


class _Connections:
    """The open connections, and which one to close when room is needed."""

    def __init__(self, info: ServerInfo) -> None:
        self.info = info
        self.open: dict[int, _Connection] = {}  # insertion order: oldest first
        self.ids = itertools.count()
        self.changed = trio.Event()  # set whenever a connection ends

    def add(self) -> tuple[int, _Connection]:
        conn = _Connection(trio.CancelScope(), trio.current_time())
        key = next(self.ids)
        self.open[key] = conn
        return key, conn

    def remove(self, key: int) -> None:
        self.open.pop(key, None)
        self.changed.set()
        self.changed = trio.Event()

    def shed_one(self) -> bool:
        """Close the worst connection to make room; False if none is worth closing."""
        now = trio.current_time()
        victim = next((c for c in self.open.values() if not c.head_done), None)
        if victim is None:
            blocked = [
                c
                for c in self.open.values()
                if c.write_since is not None and now - c.write_since >= SHED_BLOCKED_AFTER
            ]
            victim = min(blocked, key=lambda c: c.write_since or now, default=None)
        if victim is None or victim.scope.cancel_called:
            return False
        victim.scope.cancel()
        self.info.shed += 1
        return True


async def _handle(
    raw: trio.SocketStream,
    source: ScriptSource,
    ssl_context: ssl.SSLContext | None,
    info: ServerInfo,
    conn: _Connection,
) -> None:
    info.connections += 1
    stream: trio.abc.Stream = raw
    try:
        with conn.scope:
            if ssl_context is not None:
                stream = trio.SSLStream(raw, ssl_context, server_side=True, https_compatible=False)
            # One deadline for the handshake and the whole request head: a
            # client dripping a byte at a time (slowloris) does not extend it.
            request = None
            with trio.move_on_after(REQUEST_TIMEOUT):
                if isinstance(stream, trio.SSLStream):
                    await stream.do_handshake()
                request = await _read_request(stream)
            conn.head_done = True
            if request is None:
                await trio.aclose_forcefully(stream)
                return
            script = source(request) if callable(source) else source
            await play(stream, script, conn)
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
    finally:
        await trio.aclose_forcefully(stream)


async def serve_listeners(
    listeners: Sequence[trio.SocketListener],
    source: ScriptSource,
    info: ServerInfo,
    *,
    ssl_context: ssl.SSLContext | None = None,
    once: bool = False,
    max_connections: int = MAX_CONNECTIONS,
    on_notice: Callable[[str], None] | None = None,
) -> None:
    """Accept connections on ``listeners`` and play ``source`` to each.

    See the module docstring for the limits; ``on_notice`` is told, once,
    when accepting pauses because the process ran out of file descriptors.
    """
    connections = _Connections(info)
    told: set[str] = set()

    def notice(key: str, text: str) -> None:
        if key not in told and on_notice is not None:
            told.add(key)
            on_notice(text)

    async with trio.open_nursery() as nursery:
        finished = trio.Event()

        async def room() -> None:
            # At the limit: shed a slow connection, or wait for one to end.
            while len(connections.open) >= max_connections:
                if not connections.shed_one():
                    await connections.changed.wait()
                else:
                    await trio.lowlevel.checkpoint()

        async def accept(listener: trio.SocketListener) -> trio.SocketStream:
            while True:
                try:
                    return await listener.accept()
                except OSError as exc:
                    if exc.errno not in _OUT_OF_RESOURCES:
                        raise
                    info.paused += 1
                    notice(
                        "fds",
                        f"out of file descriptors ({errno.errorcode.get(exc.errno or 0, exc.errno)}):"
                        " pausing accepting until connections end; raise `ulimit -n` to serve more"
                        " at once",
                    )
                    if not connections.shed_one():
                        with trio.move_on_after(ACCEPT_RETRY):
                            await connections.changed.wait()
                    else:
                        await trio.lowlevel.checkpoint()

        async def accept_loop(listener: trio.SocketListener) -> None:
            while True:
                await room()
                raw = await accept(listener)
                key, conn = connections.add()
                nursery.start_soon(run_one, raw, key, conn)
                if once:
                    await finished.wait()
                    nursery.cancel_scope.cancel()
                    return

        async def run_one(raw: trio.SocketStream, key: int, conn: _Connection) -> None:
            try:
                await _handle(raw, source, ssl_context, info, conn)
            finally:
                connections.remove(key)
                if once:
                    finished.set()

        for listener in listeners:
            nursery.start_soon(accept_loop, listener)


async def serve(
    source: ScriptSource,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
    once: bool = False,
    on_notice: Callable[[str], None] | None = None,
    task_status: trio.TaskStatus[ServerInfo] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``source`` until cancelled (or after one connection with ``once``).

    Use with ``nursery.start``: ``info = await nursery.start(serve, script)``
    returns a :class:`ServerInfo` once the socket listens (``info.url``).
    Raises :class:`~chunkscope.UsageError` when it cannot listen (address in
    use, no such address, port out of range).
    """
    if not 0 <= port <= 65535:
        raise UsageError(f"cannot listen on port {port}: a port is 0-65535")
    try:
        listeners = await trio.open_tcp_listeners(port, host=host, backlog=1024)
    except OSError as exc:  # EADDRINUSE, EACCES, EADDRNOTAVAIL, gaierror
        where = f"[{host}]:{port}" if host and ":" in host else f"{host}:{port}"
        raise UsageError(f"cannot listen on {where}: {exc.strerror or exc}") from exc
    bound = listeners[0].socket.getsockname()
    info = ServerInfo(host=host, port=int(bound[1]), tls=ssl_context is not None)
    task_status.started(info)
    try:
        await serve_listeners(
            listeners, source, info, ssl_context=ssl_context, once=once, on_notice=on_notice
        )
    finally:
        for listener in listeners:
            await trio.aclose_forcefully(listener)
