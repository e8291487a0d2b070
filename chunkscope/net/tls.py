"""TLS for the capture client: an ``ssl.SSLObject`` over MemoryBIOs on any trio stream.

Theory of operation
-------------------
``trio.SSLStream.receive_some`` returns at most one TLS record (16 KiB of
plaintext at most) per call, and pays trio's lock-and-retry machinery for
each. At loopback speed that per-record cost, not the cipher, bounds a
capture: every record would also become its own capture-file record, its own
timestamp and its own analyzer call. :class:`TLSStream` instead reads one
block of ciphertext from the transport, decrypts every complete record in it
and returns their plaintext as one read. That is also the faithful unit for a
recorder: those records arrived together, in one transport read, at one time.

How the stream ended is reported exactly as ``trio.SSLStream`` does with
``https_compatible=False``, so one classifier serves both:

=======================================  ====================================
what the peer did                        what ``receive_some`` does
=======================================  ====================================
close_notify                             returns ``b""`` (after every byte
                                         that came before it)
TCP FIN without close_notify             raises ``trio.BrokenResourceError``
                                         from ``ssl.SSLEOFError``
RST                                      the transport's own
                                         ``BrokenResourceError`` (from
                                         ``ConnectionResetError``), unchanged
any other TLS failure (bad MAC, alert)   raises ``trio.BrokenResourceError``
                                         from the ``ssl.SSLError``
=======================================  ====================================

Plaintext decrypted before a failure is returned first; the failure is
raised by the next call, and by every call after it.

Cancellation keeps trio's promise that a cancelled ``receive_some`` took
nothing: plaintext already decrypted when a checkpoint is cancelled stays
in the stream and is what the next call returns first. (The capture client
turns Ctrl-C into a cancellation and relies on this to record every byte.)
"""

from __future__ import annotations

import contextlib
import ssl
from typing import Any

import trio

__all__ = ["TLSStream"]

# The most one transport read takes. A read returns what the socket holds,
# so a slow stream still gets small, timely reads; at full speed each read
# carries dozens of records and the per-read costs (a capture record, an
# analyzer call, a trio wakeup) are paid once for all of them. Measured on a
# 256 MiB loopback capture: 64 KiB reads 0.52-0.54x of a bare SSLStream
# loop, 1 MiB reads 0.79-0.85x; larger gained nothing more.
RECEIVE_SIZE = 1 << 20


class TLSStream(trio.abc.Stream):
    """A client TLS stream that returns all the plaintext of one transport read at once.

    Use it like ``trio.SSLStream(transport, context, server_hostname=...,
    https_compatible=False)``: ``await do_handshake()``, then ``send_all``
    and ``receive_some``. One task at a time may receive, and one may send.
    """

    def __init__(
        self,
        transport_stream: trio.abc.Stream,
        ssl_context: ssl.SSLContext,
        *,
        server_hostname: str | None,
        receive_size: int = RECEIVE_SIZE,
    ) -> None:
        self.transport_stream = transport_stream
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._ssl = ssl_context.wrap_bio(
            self._incoming, self._outgoing, server_hostname=server_hostname
        )
        self._receive_size = receive_size
        self._clean_eof = False  # close_notify received: b"" from now on
        self._failure: trio.BrokenResourceError | None = None
        self._unread = b""  # plaintext decrypted by a call that was then cancelled

    # -- what the handshake settled ------------------------------------------

    def version(self) -> str | None:
        return self._ssl.version()

    def cipher(self) -> tuple[str, str, int] | None:
        return self._ssl.cipher()

    def selected_alpn_protocol(self) -> str | None:
        return self._ssl.selected_alpn_protocol()

    def getpeercert(self) -> dict[str, Any] | None:
        return self._ssl.getpeercert()

    # -- I/O -----------------------------------------------------------------

    async def do_handshake(self) -> None:
        """Run the TLS handshake; failures raise ``trio.BrokenResourceError`` from the cause."""
        while True:
            try:
                self._ssl.do_handshake()
            except ssl.SSLWantReadError:
                await self._flush()
                await self._fill()
                continue
            except ssl.SSLError as exc:
                await self._flush_quietly()  # the alert that tells the peer why
                raise trio.BrokenResourceError(f"TLS handshake failed: {exc}") from exc
            break
        await self._flush()

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[self._ssl.write(view) :]
        except ssl.SSLError as exc:
            raise trio.BrokenResourceError(f"TLS write failed: {exc}") from exc
        await self._flush()
        if not data:
            await trio.lowlevel.checkpoint()

    async def wait_send_all_might_not_block(self) -> None:
        await self.transport_stream.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        limit = self._receive_size if max_bytes is None else max_bytes
        if limit < 1:
            raise ValueError("max_bytes must be >= 1")
        waited = False
        while True:
            data = self._take_unread(limit) or self._decrypt(limit)
            if data:
                try:
                    if self._outgoing.pending:
                        # A TLS 1.3 KeyUpdate answer, say: housekeeping that must
                        # not turn a successful read into an error.
                        await self._flush_quietly()
                    elif not waited:
                        await trio.lowlevel.checkpoint()
                except BaseException:  # Cancelled, KeyboardInterrupt: nothing was taken
                    self._unread = data + self._unread
                    raise
                return data
            if self._failure is not None:
                raise self._failure
            if self._clean_eof:
                if not waited:
                    await trio.lowlevel.checkpoint()
                return b""
            # Reading may have produced handshake bytes the peer now waits
            # for (a TLS 1.2 renegotiation, say): send them before waiting.
            if self._outgoing.pending:
                await self._flush_quietly()
            await self._fill()
            waited = True

    async def aclose(self) -> None:
        """Send close_notify if the transport takes it at once, then close the transport."""
        try:
            if self._failure is None and not self._clean_eof:
                # unwrap() queues our close_notify, then wants the peer's: not waited for.
                with contextlib.suppress(ssl.SSLError):
                    self._ssl.unwrap()
                await self._flush_quietly()
        finally:
            await self.transport_stream.aclose()

    # -- helpers --------------------------------------------------------------

    def _take_unread(self, limit: int) -> bytes:
        data = self._unread
        if not data:
            return data
        self._unread = data[limit:]
        return data[:limit]

    def _decrypt(self, limit: int) -> bytes:
        """Every byte of plaintext the records received so far hold, up to ``limit``."""
        parts: list[bytes] = []
        got = 0
        read = self._ssl.read
        while got < limit and self._failure is None and not self._clean_eof:
            try:
                part = read(limit - got)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                self._clean_eof = True
                break
            except ssl.SSLError as exc:
                # SSLEOFError: the transport ended without close_notify.
                failure = trio.BrokenResourceError(f"TLS read failed: {exc}")
                failure.__cause__ = exc
                self._failure = failure
                break
            if not part:  # the ssl module's way of saying close_notify
                self._clean_eof = True
                break
            parts.append(part)
            got += len(part)
        if len(parts) == 1:
            return parts[0]
        return b"".join(parts)

    async def _fill(self) -> None:
        ciphertext = await self.transport_stream.receive_some(self._receive_size)
        if ciphertext:
            self._incoming.write(ciphertext)
        else:
            self._incoming.write_eof()

    async def _flush(self) -> None:
        if self._outgoing.pending:
            await self.transport_stream.send_all(self._outgoing.read())

    async def _flush_quietly(self) -> None:
        # Errors here are left to the reading side, which reports how the connection ended.
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await self._flush()
