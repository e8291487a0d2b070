"""The live client: one HTTP/1.1 request over TCP or TLS, every byte recorded.

Theory of operation
-------------------
``capture()`` dials (directly, via ``connect_to``, or through an HTTP
proxy: CONNECT for https://, an absolute-form request for http://; from
``proxy`` or the environment, see :mod:`chunkscope.net.proxies`), optionally wraps the stream in TLS
(:class:`~chunkscope.net.tls.TLSStream`, which sees a missing close_notify the
way ``trio.SSLStream(https_compatible=False)`` does, and returns every record
of one transport read as one read), writes the request that h11 serialises,
then loops on ``receive_some``. Each read goes to the
:class:`~chunkscope.net.recorder.Recorder` (capture file first, then the
analyzer). The loop ends when the peer closes, resets, goes idle, the
time limit passes, the user interrupts, or the analyzer says the message is
complete (then chunkscope waits a short grace period to see how the server
closes) or broken (then it stops at once: a hostile peer gets no more time).

How the connection ended is observed, not guessed:

==========================  ===============================================
``receive_some`` outcome     close kind
==========================  ===============================================
``b""`` on TLS               tls-close-notify (the peer sent close_notify)
``b""`` on plain TCP         fin
BrokenResourceError from     tls-no-close-notify (TCP EOF inside TLS)
  SSLEOFError
BrokenResourceError from     reset (RST; bytes in flight may be lost)
  ConnectionResetError
idle / max-time expiry       timeout
Ctrl-C (SIGINT)              interrupted
==========================  ===============================================

Ctrl-C is a cancellation, never an exception in the middle of a read: while
the response is read, SIGINT goes to a signal receiver (in the main thread,
when the handler is Python's or trio's default), which cancels the exchange.
trio raises ``Cancelled`` only at a checkpoint where no byte has been taken
from the socket (and :class:`~chunkscope.net.tls.TLSStream` keeps that
promise too), and the step read -> record -> feed has no checkpoint inside,
so the capture file holds every byte read and the report printed at Ctrl-C
is exactly the report of the file. A ``KeyboardInterrupt`` raised anyway
(another thread, a custom handler) still ends the capture as interrupted.

trio, ssl and OS exceptions are mapped to :class:`TransportError` here, at
the I/O boundary, and nowhere else.
"""

from __future__ import annotations

import math
import os
import signal
import ssl
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import h11
import trio

if sys.version_info < (3, 11):  # pragma: no cover - the builtin from 3.11 on
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]

from ..core.analyzer import Analyzer
from ..core.crosscheck import H11CrossCheck
from ..core.errors import TransportError, UsageError
from ..core.report import CloseKind, Report
from ..formats.capture import CaptureWriter, redact_url
from .proxies import Proxy, select_proxy
from .recorder import Recorder
from .tls import TLSStream

__all__ = ["CaptureOptions", "capture", "classify_receive_error", "open_connection"]

RECEIVE_SIZE = 1 << 20  # the most one read takes; a read returns what the socket holds
GRACE_AFTER_COMPLETE = 1.0  # seconds to wait for the server's own close
_MAX_PROXY_HEAD = 65536


@dataclass
class CaptureOptions:
    """Everything ``capture()`` accepts, as one object (the CLI builds it)."""

    url: str
    method: str = "GET"
    headers: Sequence[tuple[str, str]] = ()
    body: bytes | None = None
    cacert: str | None = None
    insecure: bool = False
    connect_to: str | None = None
    proxy: str | None = None  # None: from the environment (HTTPS_PROXY...); "": no proxy
    no_proxy: str | None = None  # hosts that bypass the environment's proxy (replaces NO_PROXY)
    connect_timeout: float | None = 30.0
    idle_timeout: float | None = 60.0
    head_timeout: float | None = 60.0
    max_time: float | None = None
    output: str | None = None
    overwrite: bool = True  # the CLI refuses an existing -o file unless --force
    redact: bool = True
    terminal_events: Iterable[str] = ()
    profile: str | None = None  # provider profile (core/profiles.py); None: detected
    cross_check: bool = False
    live_events: bool = False
    ssl_context: ssl.SSLContext | None = None
    on_read: Callable[[Analyzer, Recorder], None] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # SIGINT cancels this capture between reads; False for a caller that runs many captures
    # and handles SIGINT itself (the probe: trio hands a signal to one receiver only)
    sigint_cancels: bool = True

    def __post_init__(self) -> None:
        for name in ("connect_timeout", "idle_timeout", "head_timeout", "max_time"):
            value = getattr(self, name)
            if value is not None and not (
                isinstance(value, (int, float)) and math.isfinite(value) and value >= 0
            ):
                raise UsageError(f"{name} must be None or a finite number >= 0, got {value!r}")


@dataclass
class _Target:
    scheme: str
    host: str
    port: int
    request_target: str
    host_header: str
    dial_host: str
    dial_port: int

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    @property
    def where(self) -> str:
        return f"{self.dial_host}:{self.dial_port}"


def _parse_target(url: str, connect_to: str | None) -> _Target:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UsageError(f"unsupported URL scheme {parts.scheme!r} (use http:// or https://)")
    if not parts.hostname:
        raise UsageError(f"URL has no host: {redact_url(url)[0]!r}")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise UsageError(f"URL has an invalid port: {redact_url(url)[0]!r}") from None
    host = parts.hostname
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    default_port = 443 if scheme == "https" else 80
    host_text = f"[{host}]" if ":" in host else host
    host_header = host_text if port == default_port else f"{host_text}:{port}"
    dial_host, dial_port = host, port
    if connect_to:
        dial_host, dial_port = _host_port(connect_to, "--connect-to")
    return _Target(scheme, host, port, target, host_header, dial_host, dial_port)


def _host_port(text: str, what: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise UsageError(f"{what} wants HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def _request_bytes(options: CaptureOptions, target: _Target, proxy: Proxy | None = None) -> bytes:
    from .._version import __version__

    names = {n.lower() for n, _ in options.headers}
    headers: list[tuple[str, str]] = [("Host", target.host_header)]
    if "user-agent" not in names:
        headers.append(("User-Agent", f"chunkscope/{__version__}"))
    if "accept" not in names:
        headers.append(("Accept", "*/*"))
    if "connection" not in names:
        # Ask the server to close after the response, so that how it closes
        # can be observed rather than waited for.
        headers.append(("Connection", "close"))
    headers.extend((n, v) for n, v in options.headers if n.lower() != "host")
    parts = urlsplit(options.url)
    if parts.username is not None and "authorization" not in names:
        # As curl does: URL userinfo becomes Basic credentials (RFC 7617).
        from base64 import b64encode
        from urllib.parse import unquote

        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers.append(("Authorization", "Basic " + b64encode(pair.encode()).decode("ascii")))
    if proxy is not None and not target.tls and "proxy-authorization" not in names:
        headers.extend(_proxy_authorization(proxy))
    body = options.body
    if body is not None and "content-length" not in names and "transfer-encoding" not in names:
        headers.append(("Content-Length", str(len(body))))
    conn = h11.Connection(our_role=h11.CLIENT)
    try:
        out = conn.send(
            h11.Request(method=options.method, target=target.request_target, headers=headers)
        )
        if body:
            out = (out or b"") + (conn.send(h11.Data(data=body)) or b"")
    except h11.LocalProtocolError as exc:
        raise UsageError(f"cannot send this request: {exc}") from None
    return out or b""


def _ssl_context(options: CaptureOptions) -> ssl.SSLContext:
    if options.ssl_context is not None:
        return options.ssl_context
    try:
        ctx = ssl.create_default_context(cafile=options.cacert)
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(f"cannot load --cacert {options.cacert}: {exc}") from None
    if options.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])  # HTTP/1.1 only: framing is what we analyse
    return ctx


def _exception_chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and seen not in chain and len(chain) < 10:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    return chain


def classify_receive_error(exc: BaseException) -> tuple[CloseKind, str]:
    """Map an exception from ``receive_some`` to a close kind and a detail line."""
    chain = _exception_chain(exc)
    for e in chain:
        if isinstance(e, ConnectionResetError):
            return CloseKind.RESET, (
                f"{e.strerror or e} (ECONNRESET); bytes in flight may have been dropped by the kernel"
            )
    for e in chain:
        if isinstance(e, ssl.SSLEOFError) or (
            isinstance(e, ssl.SSLError) and "UNEXPECTED_EOF" in str(e)
        ):
            return CloseKind.TLS_NO_CLOSE_NOTIFY, f"peer closed TCP without close_notify ({e})"
    for e in chain:
        if isinstance(e, ssl.SSLError):
            return CloseKind.UNKNOWN, f"TLS error while reading: {e}"
        if isinstance(e, OSError):
            return CloseKind.UNKNOWN, f"socket error while reading: {e}"
    return CloseKind.UNKNOWN, f"{type(exc).__name__}: {exc}"


_HANDSHAKE_HINTS = {
    # What OpenSSL's reason means for someone who typed the URL.
    "WRONG_VERSION_NUMBER": " (the server does not speak TLS on this port: plain http://?)",
    "TLSV1_ALERT_PROTOCOL_VERSION": " (no TLS version both sides accept)",
    "SSLV3_ALERT_HANDSHAKE_FAILURE": " (no cipher or TLS feature both sides accept)",
    "NO_APPLICATION_PROTOCOL": " (the server refused ALPN http/1.1: it may speak HTTP/2 only)",
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": " (the server wants a client certificate)",
}


def _tls_error(exc: BaseException, where: str) -> TransportError:
    for e in _exception_chain(exc):
        if isinstance(e, ssl.SSLCertVerificationError):
            return TransportError("tls", where, f"certificate verify failed: {e.verify_message}")
        if isinstance(e, ssl.SSLEOFError):
            return TransportError(
                "tls", where, "the peer closed the connection during the TLS handshake"
            )
        if isinstance(e, ssl.SSLError):
            hint = _HANDSHAKE_HINTS.get(e.reason or "", "")
            return TransportError("tls", where, f"handshake failed: {e.reason or e}{hint}")
        if isinstance(e, OSError):
            return TransportError("tls", where, f"connection lost during the TLS handshake: {e}")
    return TransportError("tls", where, f"handshake failed: {exc}")


async def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = await trio.socket.getaddrinfo(host, port, type=trio.socket.SOCK_STREAM)
    except OSError as exc:  # socket.gaierror
        raise TransportError(
            "dns", f"{host}:{port}", f"cannot resolve host: {exc.strerror or exc}"
        ) from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def _open_tcp(host: str, port: int) -> trio.SocketStream:
    try:
        return await trio.open_tcp_stream(host, port)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        attempts = getattr(exc.__cause__, "exceptions", None)  # trio's group of per-address errors
        if attempts:
            reason = "; ".join(sorted({getattr(e, "strerror", None) or str(e) for e in attempts}))
        raise TransportError("connect", f"{host}:{port}", f"cannot connect: {reason}") from exc


def _proxy_authorization(proxy: Proxy) -> list[tuple[str, str]]:
    if proxy.username is None:
        return []
    import base64

    secret = f"{proxy.username}:{proxy.password or ''}".encode()
    return [("Proxy-Authorization", "Basic " + base64.b64encode(secret).decode("ascii"))]


def _use_forward_proxy(options: CaptureOptions, target: _Target) -> Proxy | None:
    """The proxy for this capture; for http:// the request goes out in absolute form."""
    proxy = select_proxy(
        target.scheme, target.host, target.port, explicit=options.proxy, no_proxy=options.no_proxy
    )
    if proxy is not None and not target.tls:
        if options.connect_to:
            raise UsageError(
                "--connect-to cannot apply to an http:// URL through a proxy: the proxy dials "
                "the URL's host (use --proxy '' to connect directly)"
            )
        # RFC 9112 §3.2.2: to a proxy, the request target is the absolute URI
        target.request_target = f"http://{target.host_header}{target.request_target}"
    return proxy


async def _connect_via_proxy(
    proxy: Proxy, target: _Target, tunnel: bool = False
) -> tuple[trio.SocketStream, dict[str, Any]]:
    phost, pport = proxy.host, proxy.port
    stream = await _open_tcp(phost, pport)
    where = proxy.where
    info: dict[str, Any] = {"proxy": where, "proxy_from": proxy.source}
    if not target.tls and not tunnel:  # a forward proxy: the request itself names the target
        return stream, {**info, "proxy_mode": "forward"}
    host = f"[{target.dial_host}]" if ":" in target.dial_host else target.dial_host
    authority = f"{host}:{target.dial_port}"
    lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"]
    lines += [f"{n}: {v}" for n, v in _proxy_authorization(proxy)]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    try:
        await stream.send_all(request)
        head = bytearray()
        while b"\r\n\r\n" not in head:
            data = await stream.receive_some(4096)
            if not data:
                raise TransportError("proxy", where, "proxy closed the connection during CONNECT")
            head += data
            if len(head) > _MAX_PROXY_HEAD:
                raise TransportError("proxy", where, "proxy response head too large")
    except (trio.BrokenResourceError, OSError) as exc:
        raise TransportError("proxy", where, f"proxy connection failed: {exc}") from exc
    end = head.index(b"\r\n\r\n") + 4
    status_line = bytes(head[: head.find(b"\r\n")]).decode("latin-1")
    parts_ = status_line.split(" ", 2)
    if len(parts_) < 2 or not parts_[1].startswith("2"):
        await trio.aclose_forcefully(stream)
        raise TransportError("proxy", where, f"CONNECT {authority} refused: {status_line!r}")
    if end != len(head):
        raise TransportError("proxy", where, "proxy sent bytes after its CONNECT response")
    return stream, {**info, "proxy_mode": "connect", "proxy_status": status_line}


def _cert_summary(cert: dict[str, Any] | None) -> dict[str, Any] | None:
    if not cert:
        return None

    def name(rdns: Any) -> str:
        return ", ".join(f"{k}={v}" for rdn in rdns for (k, v) in rdn)

    return {
        "subject": name(cert.get("subject", ())),
        "issuer": name(cert.get("issuer", ())),
        "not_after": cert.get("notAfter"),
        "san": [v for k, v in cert.get("subjectAltName", ()) if k == "DNS"][:10],
    }


async def capture(url: str, **kwargs: Any) -> Report:
    """Send one HTTP/1.1 request and diagnose the response, byte-exactly.

    Returns the same :class:`~chunkscope.Report` that ``chunkscope capture``
    prints, with ``report.connection`` holding DNS, addresses, TLS details
    and timings. Keyword arguments are the fields of :class:`CaptureOptions`
    (``method``, ``headers``, ``body``, ``cacert``, ``insecure``,
    ``connect_to``, ``proxy``, ``connect_timeout``, ``idle_timeout``,
    ``max_time``, ``output`` (capture file path), ``redact``,
    ``terminal_events``, ``cross_check``, ``ssl_context``).

    Raises :class:`~chunkscope.TransportError` when no connection could be
    made (DNS, connect, TLS, proxy); once connected, every ending is a report.

    Example (inside a trio or pytest-trio test)::

        report = await chunkscope.capture("https://127.0.0.1:8443/stream", cacert="ca.pem")
        assert report.verdict.value == "truncated"
    """
    return await run_capture(CaptureOptions(url=url, **kwargs))


async def run_capture(options: CaptureOptions) -> Report:
    """:func:`capture` with its options as one object."""
    target = _parse_target(options.url, options.connect_to)
    proxy = _use_forward_proxy(options, target)
    request = _request_bytes(options, target, proxy)
    shown_url, url_masked = redact_url(options.url) if options.redact else (options.url, [])
    meta: dict[str, Any] = {
        "target": shown_url,
        "method": options.method.upper(),
        "scheme": target.scheme,
        "host": target.host,
        "port": target.port,
        "t0_wall": datetime.now(timezone.utc)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
    }
    if options.connect_to:
        meta["connect_to"] = target.where
    writer = (
        CaptureWriter(options.output, meta=meta, redact=options.redact, overwrite=options.overwrite)
        if options.output
        else None
    )
    try:
        return await _run(options, target, request, meta, writer, shown_url, url_masked, proxy)
    except BaseException as exc:
        # Stopped while connecting (Ctrl-C, SIGTERM): the file still says how it ended.
        if writer is not None and _is_interrupt(exc):
            writer.ended(CloseKind.INTERRUPTED, None, "interrupted before the response began")
        raise
    finally:
        if writer is not None:
            writer.close()


def _is_interrupt(exc: BaseException) -> bool:
    """A KeyboardInterrupt, alone or inside trio's exception groups."""
    if isinstance(exc, KeyboardInterrupt):
        return True
    return any(_is_interrupt(inner) for inner in getattr(exc, "exceptions", ()))


async def _run(
    options: CaptureOptions,
    target: _Target,
    request: bytes,
    meta: dict[str, Any],
    writer: CaptureWriter | None,
    shown_url: str,
    url_masked: list[str],
    proxy: Proxy | None = None,
) -> Report:
    timings: dict[str, float] = {}
    clock0 = trio.current_time()
    max_deadline = math.inf if not options.max_time else clock0 + options.max_time
    stream: trio.abc.Stream
    try:
        stream = await open_connection(options, target, meta, timings, max_deadline, proxy)
    except TransportError as exc:
        if writer is not None:
            writer.meta(error={"kind": exc.kind, "reason": exc.reason}, timings=timings)
        raise
    if writer is not None:
        writer.meta(
            **{
                k: v
                for k, v in meta.items()
                if k not in ("target", "method", "scheme", "host", "port", "t0_wall", "connect_to")
            },
            timings=timings,
        )

    analyzer = Analyzer(
        request_method=options.method,
        terminal_events=options.terminal_events,
        live_events=options.live_events,
        profile=options.profile,
        request_path=target.request_target,
    )
    check = H11CrossCheck(options.method, full=options.cross_check)
    start = trio.current_time()
    recorder = Recorder(
        analyzer, writer, lambda: trio.current_time() - start, check.feed, redact=options.redact
    )
    read_log = os.environ.get("CHUNKSCOPE_READ_LOG")
    if read_log:
        stream = _LoggedStream(stream, read_log)
    interrupt = trio.CancelScope()
    async with _sigint_cancels(interrupt, options.sigint_cancels):
        kind, detail = await _exchange(
            options, stream, target, request, recorder, max_deadline, interrupt
        )
        report = recorder.end(kind, detail)
    if recorder.first_t is not None:
        timings["first_byte"] = recorder.first_t
    meta["timings"] = timings
    meta["h11"] = check.close()
    if report.timing.get("largest_gap"):
        meta["largest_gap"] = report.timing["largest_gap"]
    masked = recorder.masked
    if masked is not None:
        masked = url_masked + [n for n in masked if n not in url_masked]
    meta["redacted"] = masked  # as a capture file says it: null means --no-redact
    report.connection = meta
    report.request = {"method": options.method.upper(), "url": shown_url}
    return report


async def open_connection(
    options: CaptureOptions,
    target: _Target,
    meta: dict[str, Any],
    timings: dict[str, float],
    max_deadline: float = math.inf,
    proxy: Proxy | None = None,
    tunnel: bool = False,
) -> trio.abc.Stream:
    """Dial ``target`` as ``options`` say (DNS, TCP, proxy, TLS) within ``--connect-timeout``.

    ``proxy`` is the proxy to go through, if any; ``tunnel`` asks for a CONNECT tunnel even
    to an http:// target (the tap relays origin-form requests, which a forward proxy refuses).

    Fills ``meta`` (addresses, TLS details) and ``timings``; raises
    :class:`TransportError` for every way of not getting a connection. The
    capture client and the tap share it.
    """
    try:
        with trio.fail_after(options.connect_timeout or math.inf):
            with trio.CancelScope(deadline=max_deadline):
                stream = await _connect(options, target, meta, timings, proxy, tunnel)
            if trio.current_time() >= max_deadline:
                raise TransportError(
                    "timeout",
                    target.where,
                    f"--max-time {options.max_time} s passed while connecting",
                )
    except trio.TooSlowError:
        raise TransportError(
            "timeout",
            target.where,
            f"no connection within --connect-timeout {options.connect_timeout} s",
        ) from None
    return stream


async def _connect(
    options: CaptureOptions,
    target: _Target,
    meta: dict[str, Any],
    timings: dict[str, float],
    proxy: Proxy | None = None,
    tunnel: bool = False,
) -> trio.abc.Stream:
    t = trio.current_time()
    if proxy is not None:
        tcp, proxy_meta = await _connect_via_proxy(proxy, target, tunnel)
        meta.update(proxy_meta)
    else:
        meta["dns"] = await _resolve(target.dial_host, target.dial_port)
        timings["dns"] = trio.current_time() - t
        t = trio.current_time()
        tcp = await _open_tcp(target.dial_host, target.dial_port)
    timings["connect"] = trio.current_time() - t
    sock = tcp.socket
    try:
        meta["local"] = _address(sock.getsockname())
        meta["peer"] = _address(sock.getpeername())
    except OSError:
        pass
    if not target.tls:
        return tcp
    ctx = _ssl_context(options)
    tls = TLSStream(tcp, ctx, server_hostname=target.host)
    t = trio.current_time()
    try:
        await tls.do_handshake()
    except (trio.BrokenResourceError, ssl.SSLError, OSError) as exc:
        await trio.aclose_forcefully(tcp)
        raise _tls_error(exc, f"{target.host}:{target.port}") from exc
    timings["tls"] = trio.current_time() - t
    cert = tls.getpeercert() if ctx.verify_mode != ssl.CERT_NONE else None
    meta["tls"] = {
        "version": tls.version(),
        "cipher": (tls.cipher() or (None,))[0],
        "alpn": tls.selected_alpn_protocol(),
        "sni": target.host,
        "verified": ctx.verify_mode != ssl.CERT_NONE,
        "peer_cert": _cert_summary(cert),
    }
    return tls


def _address(addr: Any) -> str:
    if isinstance(addr, tuple) and len(addr) >= 2:
        host = str(addr[0])
        return f"[{host}]:{addr[1]}" if ":" in host else f"{host}:{addr[1]}"
    return str(addr)


def _sigint_is_ours() -> bool:
    """Whether SIGINT may be taken over: main thread, and Python's or trio's own handler."""
    if threading.current_thread() is not threading.main_thread():
        return False
    handler = signal.getsignal(signal.SIGINT)
    return handler is signal.default_int_handler or str(
        getattr(handler, "__module__", "")
    ).startswith("trio.")


@asynccontextmanager
async def _sigint_cancels(scope: trio.CancelScope, wanted: bool) -> AsyncIterator[None]:
    """Within the block, SIGINT cancels ``scope`` instead of raising KeyboardInterrupt."""
    if not wanted or not _sigint_is_ours():
        yield
        return
    with trio.open_signal_receiver(signal.SIGINT) as signals:
        try:
            async with trio.open_nursery() as nursery:

                async def watch() -> None:
                    async for _ in signals:
                        scope.cancel()

                nursery.start_soon(watch)
                try:
                    yield
                finally:
                    nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # The watcher never fails: an error is the exchange's own, raised as it is.
            if len(group.exceptions) == 1:
                raise group.exceptions[0] from None
            raise


class _LoggedStream(trio.abc.Stream):
    """A stream that appends the size of every read it returns to a file (an audit aid).

    Set ``CHUNKSCOPE_READ_LOG=FILE`` to check from outside that a capture file
    holds every byte read from the connection: the sizes are written after
    the read returned, before the recorder sees it.
    """

    def __init__(self, inner: trio.abc.Stream, path: str) -> None:
        self.inner = inner
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        data = await self.inner.receive_some(max_bytes)
        os.write(self._fd, b"%d\n" % len(data))
        return data

    async def aclose(self) -> None:
        try:
            await self.inner.aclose()
        finally:
            os.close(self._fd)


async def _exchange(
    options: CaptureOptions,
    stream: trio.abc.Stream,
    target: _Target,
    request: bytes,
    recorder: Recorder,
    max_deadline: float,
    interrupt: trio.CancelScope | None = None,
) -> tuple[CloseKind, str | None]:
    analyzer = recorder.analyzer
    on_read = options.on_read
    idle = options.idle_timeout or math.inf
    grace_deadline = math.inf
    # A head dripped a byte at a time resets the idle timer forever; the head
    # (unlike a long stream's body) has a deadline of its own.
    head_deadline = trio.current_time() + (options.head_timeout or math.inf)
    interrupt = interrupt or trio.CancelScope()
    try:
        with interrupt, trio.CancelScope(deadline=max_deadline) as overall:
            try:
                await stream.send_all(request)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                kind, detail = classify_receive_error(exc)
                return kind, f"sending the request failed: {detail}"
            recorder.sent(request)
            # One cancel scope for the idle timer, its deadline moved after
            # each read: cheaper than a new scope per read on the hot path.
            with trio.CancelScope(
                deadline=min(trio.current_time() + idle, head_deadline)
            ) as waiting:
                while True:
                    try:
                        data = await stream.receive_some(RECEIVE_SIZE)
                    except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                        return classify_receive_error(exc)
                    if not data:
                        return (CloseKind.TLS_CLOSE_NOTIFY if target.tls else CloseKind.FIN), None
                    recorder.received(data if type(data) is bytes else bytes(data))
                    if on_read is not None:
                        on_read(analyzer, recorder)
                    if analyzer.failed:
                        return CloseKind.UNKNOWN, (
                            "chunkscope stopped reading at the malformation and closed the connection"
                        )
                    if analyzer.message_complete and grace_deadline == math.inf:
                        grace_deadline = trio.current_time() + GRACE_AFTER_COMPLETE
                    waiting.deadline = min(
                        trio.current_time() + idle,
                        grace_deadline,
                        head_deadline if analyzer.body_offset is None else math.inf,
                    )
            if waiting.cancelled_caught and not overall.cancel_called:
                if analyzer.message_complete:
                    return CloseKind.UNKNOWN, (
                        "server kept the connection open after a complete response; chunkscope closed it"
                    )
                if analyzer.body_offset is None and trio.current_time() >= head_deadline:
                    return CloseKind.TIMEOUT, (
                        f"the response head was not complete within --head-timeout {options.head_timeout} s"
                    )
                return CloseKind.TIMEOUT, f"no byte for --idle-timeout {options.idle_timeout} s"
        if interrupt.cancelled_caught:
            return CloseKind.INTERRUPTED, "interrupted by the user (Ctrl-C)"
        if overall.cancelled_caught:
            return CloseKind.TIMEOUT, f"--max-time {options.max_time} s reached"
        raise AssertionError("unreachable")  # pragma: no cover
    except KeyboardInterrupt:
        return CloseKind.INTERRUPTED, "interrupted by the user (Ctrl-C or SIGTERM)"
    finally:
        with trio.CancelScope(shield=True):
            await trio.aclose_forcefully(stream)
