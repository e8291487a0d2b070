"""The analyzer: one HTTP/1.1 response as a client received it, in, one report out.

Theory of operation
-------------------
``Analyzer`` is sans-IO: the caller feeds each read with its arrival time and
ends the stream explicitly with how the connection ended. Inside, three
phases follow one another::

    HEAD --final head--> BODY --message framed--> DONE
      |                    |
      +----malformed-------+--------------------> FAILED

- HEAD: ``HeadReader`` collects one head; an interim 1xx head (not 101) is
  recorded and the next head read from the following byte.
- BODY: the framing chosen from the head (RFC 9112 §6.3) reads the body:
  ``ChunkedReader`` for chunked, a byte count for Content-Length, everything
  until the close for a close-delimited body. With ``text/event-stream`` the
  body bytes also go, with their stream offsets, to the SSE decoder.
- DONE / FAILED: later bytes are only counted (``extra_bytes``).

Only ``close()`` turns the state into a verdict, because whether a stream is
truncated depends on where it stopped, and for a close-delimited body on how.
The same bytes split into reads differently give the same report, apart from
the times each read carries.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from .errors import UsageError
from .framing import ChunkedReader, ChunkTable
from .head import Head, HeadReader
from .report import (
    ChunkHeader,
    Close,
    CloseKind,
    Framing,
    Note,
    Problem,
    ProblemState,
    Report,
    SseEvent,
    Verdict,
)

if TYPE_CHECKING:
    from .sse import SseDecoder

__all__ = ["Analyzer", "analyze_bytes"]

_DIGITS = re.compile(r"[0-9]+")
_MAX_NOTES = 50
_CONTEXT_BEFORE = 64  # bytes shown before the end of the stream or a malformation
_CONTEXT_AFTER = 16

# How a close-delimited body may end and still be whole (RFC 9112 §6.3 item 8,
# §9.8: a TLS close without close_notify is an incomplete close).
_CLEAN_CLOSES = frozenset({CloseKind.FIN, CloseKind.TLS_CLOSE_NOTIFY, CloseKind.UNKNOWN})


class _Phase(enum.Enum):
    HEAD = "head"
    BODY = "body"
    DONE = "done"
    FAILED = "failed"


class Analyzer:
    """Incremental analyzer of one HTTP/1.1 response as received by a client.

    Feed every read with ``feed(data, t)`` (``t``: seconds since the request
    was sent), then call ``close(how, t)`` once to get the :class:`Report`.
    Any split of the same bytes into reads gives the same findings.

    Example::

        a = Analyzer()
        a.feed(b"HTTP/1.1 200 OK\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n5\\r\\nhello\\r\\n", 0.01)
        report = a.close(CloseKind.FIN, 0.02)
        assert report.problem.missing == b"0\\r\\n\\r\\n"

    Limits keep memory bounded whatever the peer sends: ``max_head`` bytes of
    response head, ``max_line`` bytes of a chunk-size line, ``max_chunk_size``
    for a declared size, ``max_chunks_kept`` chunk records (later chunks are
    counted and checked but not listed; ``None`` keeps all).
    """

    def __init__(
        self,
        *,
        request_method: str = "GET",
        terminal_events: Iterable[str] = (),
        sse: bool | None = None,
        live_events: bool = False,
        max_line: int = 8192,
        max_head: int = 65536,
        max_chunk_size: int = 2**62,
        max_chunks_kept: int | None = 100_000,
        max_trailers: int = 65536,
    ) -> None:
        if max_line < 16 or max_head < 64 or max_chunk_size < 1 or max_trailers < 2:
            raise UsageError("analyzer limits are too small to read any response")
        self.request_method = request_method.upper()
        self.terminal_events = tuple(terminal_events)
        self._sse_wanted = sse
        self.live_events = live_events
        self.max_line = max_line
        self.max_head = max_head
        self.max_chunk_size = max_chunk_size
        self.max_chunks_kept = max_chunks_kept
        self.max_trailers = max_trailers

        self.received_bytes = 0
        self.body_bytes = 0  # for chunked bodies, see ``chunked.body_bytes``
        self.extra_bytes = 0
        self.framing: Framing | None = None
        self.head: dict[str, object] | None = None
        self.chunked: ChunkedReader | None = None
        self.sse: SseDecoder | None = None

        self._phase = _Phase.HEAD
        self._head_reader = HeadReader(0, max_head)
        self._final_head: Head | None = None
        self._interim: list[dict[str, int]] = []
        self._notes: list[Note] = []
        self._content_length: int | None = None
        self._body_end: int | None = None
        self._failure: Problem | None = None
        self._closed: Report | None = None
        self._live_next = 0
        self._live_last_chunk = False
        # timing, all in the caller's clock
        self._reads = 0
        self._first_t: float | None = None
        self._last_t: float | None = None
        self._prev_t: float | None = None
        self._head_t: float | None = None
        self._gap = 0.0
        self._gap_t: float | None = None
        self._gap_offset: int | None = None
        # The last bytes received, for showing where a stream stopped or broke.
        self._tail = b""
        self._context: dict[str, object] | None = None

    # -- live views -----------------------------------------------------------

    @property
    def message_complete(self) -> bool:
        """The final response is completely framed: a client may stop reading."""
        return self._phase is _Phase.DONE

    @property
    def failed(self) -> bool:
        """A malformation was found; later bytes are only counted."""
        return self._phase is _Phase.FAILED

    @property
    def chunk_count(self) -> int:
        return 0 if self.chunked is None else self.chunked.count

    @property
    def sse_event_count(self) -> int:
        return 0 if self.sse is None else self.sse.event_count

    @property
    def body_offset(self) -> int | None:
        return None if self._final_head is None else self._final_head.end

    @property
    def state(self) -> str:
        """Where the analyzer is now: a ProblemState value, "done" or "failed"."""
        if self._phase is _Phase.HEAD:
            return "status-line" if self._head_reader.in_status_line else "headers"
        if self._phase is _Phase.BODY:
            return self.chunked.state if self.chunked is not None else "body"
        return str(self._phase.value)

    def pop_events(self) -> list[ChunkHeader | SseEvent]:
        """Chunk headers and SSE events since the last call, in stream order.

        Only with ``live_events=True``; chunk headers beyond ``max_chunks_kept``
        are not kept and so not returned.
        """
        if not self.live_events:
            return []
        events: list[ChunkHeader | SseEvent] = []
        chunked = self.chunked
        if chunked is not None:
            kept = chunked.kept
            events.extend(chunked.header(i) for i in range(self._live_next, kept))
            self._live_next = max(self._live_next, kept)
            if chunked.last_chunk is not None and not self._live_last_chunk:
                events.append(chunked.last_chunk)
                self._live_last_chunk = True
        if self.sse is not None:
            events.extend(self.sse.pop_events())
        events.sort(key=lambda e: e.offset)
        return events

    # -- input ----------------------------------------------------------------

    def feed(self, data: bytes, t: float) -> None:
        """Take one read of server bytes that arrived at time ``t``."""
        if self._closed is not None:
            raise UsageError("feed() after close(): the stream already ended")
        n = len(data)
        if n == 0:
            return
        base = self.received_bytes
        self.received_bytes = base + n
        self._reads += 1
        if self._first_t is None:
            self._first_t = t
        elif self._last_t is not None and t - self._last_t > self._gap:
            self._gap = t - self._last_t
            self._gap_t = t
            self._gap_offset = base
        self._prev_t = self._last_t
        self._last_t = t

        tail = self._tail
        try:
            self._consume(data, base, t)
        finally:
            if self._failure is not None and self._context is None:
                window = tail + data
                window_base = base - len(tail)
                start = max(self._failure.offset - _CONTEXT_BEFORE, window_base)
                stop = self._failure.offset + _CONTEXT_AFTER
                self._context = {
                    "offset": start,
                    "data": window[start - window_base : stop - window_base].decode("latin-1"),
                }
            self._tail = (tail + data[-_CONTEXT_BEFORE:])[-_CONTEXT_BEFORE:]

    def _consume(self, data: bytes, base: int, t: float) -> None:
        n = len(data)
        pos = 0
        while pos < n:
            phase = self._phase
            if phase is _Phase.BODY:
                pos += self._feed_body(data if pos == 0 else data[pos:], base + pos, t)
            elif phase is _Phase.HEAD:
                pos += self._feed_head(data if pos == 0 else data[pos:], base + pos, t)
            elif phase is _Phase.DONE:
                if self.extra_bytes == 0:
                    self._note(base + pos, "bytes after the end of the response (not part of it)")
                self.extra_bytes += n - pos
                return
            else:
                return

    def _note(self, offset: int, message: str) -> None:
        if len(self._notes) < _MAX_NOTES:
            self._notes.append(Note(offset, message))

    def _feed_head(self, data: bytes, base: int, t: float) -> int:
        reader = self._head_reader
        used = reader.feed(data)
        if reader.finding is not None:
            f = reader.finding
            state = ProblemState.STATUS_LINE if f.in_status_line else ProblemState.HEADERS
            self._fail(state, f.offset, f.found, f.expected, f.reason, t, f.tolerated_by)
            return len(data)
        head = reader.head
        if head is None:
            return used
        for offset, message in head.notes:
            self._note(offset, message)
        if 100 <= head.status < 200 and head.status != 101:
            self._interim.append({"status": head.status, "offset": head.offset})
            self._head_reader = HeadReader(head.end, self.max_head)
            return used
        self._final_head = head
        self._head_t = t
        self._start_body(head, t)
        return used

    def _fail(
        self,
        state: ProblemState,
        offset: int,
        found: bytes | None,
        expected: str,
        reason: str,
        t: float,
        tolerated_by: str | None,
        chunk: int | None = None,
    ) -> None:
        where = f"chunk #{chunk}: " if chunk is not None else ""
        message = f"{where}{reason} at byte {offset}: found {found!r}, expected {expected}"
        if tolerated_by:
            message += f"; tolerated by {tolerated_by}"
        self._failure = Problem(
            verdict=Verdict.MALFORMED,
            state=state,
            offset=offset,
            chunk=chunk,
            expected=expected,
            message=message,
            found=found,
            t=t,
            idle=None if self._prev_t is None else t - self._prev_t,
            tolerated_by=tolerated_by,
        )
        self._phase = _Phase.FAILED

    # -- body -----------------------------------------------------------------

    def _start_body(self, head: Head, t: float) -> None:
        framing, length = self._choose_framing(head, t)
        if self._phase is _Phase.FAILED:
            return
        self.framing = framing
        self.head = {
            "version": head.version,
            "status": head.status,
            "reason": head.reason,
            "headers": [[n, v] for n, v in head.headers],
            "offset": head.offset,
            "body_offset": head.end,
            "interim": self._interim,
            "t": t,
        }
        if framing is Framing.NO_BODY or (framing is Framing.CONTENT_LENGTH and length == 0):
            self._content_length = length
            self._body_end = head.end
            self._phase = _Phase.DONE
            return
        content_type = ",".join(head.get_all("content-type")).strip().lower()
        want_sse = self._sse_wanted
        if want_sse is None:
            want_sse = content_type.startswith("text/event-stream")
        if want_sse:
            from .sse import SseDecoder  # only SSE bodies pay for the import

            self.sse = SseDecoder(terminal_names=self.terminal_events, live_events=self.live_events)
        sink = None if self.sse is None else self.sse.feed
        if framing is Framing.CHUNKED:
            self.chunked = ChunkedReader(
                max_line=self.max_line,
                max_chunk_size=self.max_chunk_size,
                max_trailers=self.max_trailers,
                max_chunks_kept=self.max_chunks_kept,
                sink=sink,
            )
        self._content_length = length
        self._phase = _Phase.BODY

    def _choose_framing(self, head: Head, t: float) -> tuple[Framing, int | None]:
        """RFC 9112 §6.3: how the body of this response is delimited."""
        status = head.status
        method = self.request_method
        if (
            method == "HEAD"
            or status in (101, 204, 304)
            or (method == "CONNECT" and 200 <= status < 300)
        ):
            if status == 101:
                self._note(head.offset, "101 Switching Protocols: the connection leaves HTTP/1.1")
            return Framing.NO_BODY, None
        te_values = head.get_all("transfer-encoding")
        cl_index = [i for i, (n, _) in enumerate(head.headers) if n.lower() == "content-length"]
        if te_values:
            codings = [c.strip().lower() for v in te_values for c in v.split(",") if c.strip()]
            te_offset = head.header_offsets[
                next(i for i, (n, _) in enumerate(head.headers) if n.lower() == "transfer-encoding")
            ]
            if not codings:
                self._fail(
                    ProblemState.HEADERS,
                    te_offset,
                    b"",
                    "a transfer coding, e.g. chunked",
                    "empty Transfer-Encoding: the body's framing is ambiguous",
                    t,
                    None,
                )
                return Framing.CLOSE_DELIMITED, None
            if codings.count("chunked") > 1:
                self._fail(
                    ProblemState.HEADERS,
                    te_offset,
                    ", ".join(codings).encode("latin-1"),
                    "chunked applied at most once (RFC 9112 §6.1)",
                    "Transfer-Encoding applies chunked more than once",
                    t,
                    None,
                )
                return Framing.CHUNKED, None
            if cl_index:
                self._note(
                    head.header_offsets[cl_index[0]],
                    "both Transfer-Encoding and Content-Length: Transfer-Encoding wins (RFC 9112 §6.3)",
                )
            if head.version == "1.0":
                self._note(
                    te_offset,
                    "Transfer-Encoding in an HTTP/1.0 response: framing is faulty (RFC 9112 §6.1)",
                )
            if codings and codings[-1] == "chunked":
                return Framing.CHUNKED, None
            self._note(
                te_offset, "Transfer-Encoding without chunked last: the body ends at the close"
            )
            return Framing.CLOSE_DELIMITED, None
        if cl_index:
            values: list[str] = []
            for i in cl_index:
                parts = [p.strip() for p in head.headers[i][1].split(",")]
                for part in parts:
                    if not _DIGITS.fullmatch(part):
                        self._fail(
                            ProblemState.HEADERS,
                            head.header_offsets[i],
                            head.headers[i][1].encode("latin-1")[:32],
                            "Content-Length: 1*DIGIT",
                            "invalid Content-Length value",
                            t,
                            None,
                        )
                        return Framing.CONTENT_LENGTH, None
                values.extend(parts)
            lengths = {int(v) for v in values}
            if len(lengths) > 1:
                self._fail(
                    ProblemState.HEADERS,
                    head.header_offsets[cl_index[-1]],
                    ", ".join(values).encode("latin-1")[:32],
                    "one Content-Length value",
                    "conflicting Content-Length values",
                    t,
                    None,
                )
                return Framing.CONTENT_LENGTH, None
            if len(values) > 1:
                self._note(
                    head.header_offsets[cl_index[0]],
                    "repeated identical Content-Length values (accepted, RFC 9110 §8.6)",
                )
            return Framing.CONTENT_LENGTH, lengths.pop()
        return Framing.CLOSE_DELIMITED, None

    def _feed_body(self, data: bytes, base: int, t: float) -> int:
        chunked = self.chunked
        if chunked is not None:
            used = chunked.feed(data, base, t)
            self.body_bytes = chunked.body_bytes
            if chunked.finding is not None:
                f = chunked.finding
                chunk = chunked.count if f.state is ProblemState.CHUNK_SIZE else chunked.count - 1
                if f.state is ProblemState.TRAILERS:
                    chunk = chunked.count
                self._fail(
                    f.state, f.offset, f.found, f.expected, f.reason, t, f.tolerated_by, chunk
                )
                return len(data)
            if chunked.done:
                self._body_end = chunked.end
                self._phase = _Phase.DONE
            return used
        n = len(data)
        take = n
        if self._content_length is not None:
            take = min(n, self._content_length - self.body_bytes)
        if take and self.sse is not None:
            self.sse.feed(data if take == n else data[:take], base, t)
        self.body_bytes += take
        if self._content_length is not None and self.body_bytes == self._content_length:
            self._body_end = base + take
            self._phase = _Phase.DONE
        return take

    # -- end of stream --------------------------------------------------------

    def close(
        self,
        how: CloseKind | str = CloseKind.UNKNOWN,
        t: float | None = None,
        detail: str | None = None,
    ) -> Report:
        """End the stream: ``how`` the connection ended, at time ``t``; returns the report."""
        if self._closed is not None:
            raise UsageError("close() called twice")
        kind = CloseKind(how)
        idle = None if t is None or self._last_t is None else t - self._last_t
        close = Close(kind, t, idle, detail)
        problem = self._failure
        if problem is not None:
            verdict = Verdict.MALFORMED
        elif self._phase is _Phase.DONE:
            verdict = Verdict.COMPLETE
        elif self.received_bytes == 0:
            verdict = Verdict.NO_RESPONSE
            problem = self._truncation(close)
        elif (
            self._phase is _Phase.BODY
            and self.framing is Framing.CLOSE_DELIMITED
            and kind in _CLEAN_CLOSES
        ):
            verdict = Verdict.COMPLETE
            self._body_end = self.received_bytes
        else:
            verdict = Verdict.TRUNCATED
            problem = self._truncation(close)
        sse = None
        if self.sse is not None:
            sse = self.sse.summary()
        chunked = self.chunked
        chunks: Sequence[ChunkHeader] = () if chunked is None else ChunkTable(chunked)
        head = self.head
        if head is not None and chunked is not None:
            head["trailers"] = [[n, v] for n, v in chunked.trailers]
        report = Report(
            verdict=verdict,
            framing=self.framing,
            status=None if self._final_head is None else self._final_head.status,
            received_bytes=self.received_bytes,
            body_bytes=self.body_bytes,
            chunk_count=self.chunk_count,
            chunks=chunks,
            chunks_elided=0 if chunked is None else chunked.count - chunked.kept,
            last_chunk=None if chunked is None else chunked.last_chunk,
            problem=problem,
            close=close,
            sse=sse,
            head=head,
            notes=list(self._notes),
            timing=self._timing(),
            extra_bytes=self.extra_bytes,
            context=self._context
            or {
                "offset": self.received_bytes - len(self._tail),
                "data": self._tail.decode("latin-1"),
            },
        )
        self._closed = report
        return report

    def _timing(self) -> dict[str, object]:
        return {
            "reads": self._reads,
            "first_byte": self._first_t,
            "last_byte": self._last_t,
            "head_complete": self._head_t,
            "largest_gap": None
            if self._gap_t is None
            else {"duration": self._gap, "t": self._gap_t, "offset": self._gap_offset},
        }

    def _truncation(self, close: Close) -> Problem:
        """Where the stream stopped, what was expected there, and what is missing."""
        end = self.received_bytes
        missing: bytes | None = None
        remaining: int | None = None
        chunk: int | None = None
        how = f"the connection ended ({close.kind.value})"
        if self._phase is _Phase.HEAD:
            reader = self._head_reader
            if end == 0:
                state = ProblemState.STATUS_LINE
                expected = 'a status line, e.g. b"HTTP/1.1 200 OK\\r\\n"'
                message = f"{how} before any response byte arrived"
                return self._problem(state, end, chunk, expected, message, close)
            if reader.in_status_line:
                state = ProblemState.STATUS_LINE
                expected = "the rest of the status line and the response head"
            else:
                state = ProblemState.HEADERS
                partial = reader.partial_line
                if partial == b"":
                    missing = b"\r\n"
                    expected = 'more header fields or the blank line b"\\r\\n" ending the head'
                elif partial == b"\r":
                    missing = b"\n"
                    expected = 'b"\\n" completing the blank line that ends the head'
                else:
                    expected = "the rest of a header line and the blank line ending the head"
            message = f"stream ended at byte {end} inside the response head; expected {expected}"
            return self._problem(state, end, chunk, expected, message, close, missing)
        chunked = self.chunked
        if chunked is not None:
            cstate = chunked.state
            if cstate == "chunk-size":
                partial = chunked.partial_line
                chunk = chunked.count
                if not partial:
                    state = ProblemState.CHUNK_BOUNDARY
                    missing = b"0\r\n\r\n"
                    expected = "a chunk-size line or the last-chunk"
                    message = (
                        f"chunk #{chunk}: stream ended at byte {end} where a chunk-size line or "
                        f"the last-chunk was expected; missing {missing!r}"
                    )
                    return self._problem(state, end, chunk, expected, message, close, missing)
                state = ProblemState.CHUNK_SIZE
                digits = partial.rstrip(b"\r")
                if digits and digits.strip(b"0") == b"":
                    missing = (b"\n" if partial.endswith(b"\r") else b"\r\n") + b"\r\n"
                expected = f"the rest of the chunk-size line {partial!r}"
                message = (
                    f"chunk #{chunk}: stream ended at byte {end} inside a chunk-size line "
                    f"(got {partial[:32]!r}"
                    + (f"; missing {missing!r} if it is the last-chunk)" if missing else ")")
                )
                return self._problem(state, end, chunk, expected, message, close, missing)
            if cstate == "chunk-data":
                chunk = chunked.count - 1
                remaining = chunked.remaining
                size = chunked.sizes[chunk] if chunk < chunked.kept else None
                state = ProblemState.CHUNK_DATA
                expected = f"{remaining} more bytes of chunk data, then CRLF"
                got = f"{size - remaining} of {size}" if size is not None else "part"
                message = (
                    f"chunk #{chunk}: stream ended at byte {end} inside chunk data "
                    f"({got} bytes received; {remaining} missing)"
                )
                return self._problem(state, end, chunk, expected, message, close, None, remaining)
            if cstate == "chunk-data-end":
                chunk = chunked.count - 1
                state = ProblemState.CHUNK_DATA_END
                missing = b"\r\n"[chunked.crlf_got :] + b"0\r\n\r\n"
                expected = 'CRLF (b"\\r\\n") after the chunk data'
                message = (
                    f"chunk #{chunk}: stream ended at byte {end} after the chunk data, before its "
                    f"CRLF was complete; missing at least {missing!r}"
                )
                return self._problem(state, end, chunk, expected, message, close, missing)
            # trailers
            chunk = chunked.count
            state = ProblemState.TRAILERS
            partial = chunked.partial_line
            if partial == b"":
                missing = b"\r\n"
            elif partial == b"\r":
                missing = b"\n"
            expected = 'trailer fields or the final CRLF (b"\\r\\n")'
            message = (
                f"chunk #{chunk}: stream ended at byte {end} after the last-chunk, before the "
                f"final CRLF"
                + (f"; missing {missing!r}" if missing else f" (inside {partial[:32]!r})")
            )
            return self._problem(state, end, chunk, expected, message, close, missing)
        state = ProblemState.BODY
        if self._content_length is not None:
            remaining = self._content_length - self.body_bytes
            expected = f"{remaining} more body bytes (Content-Length: {self._content_length})"
            message = (
                f"stream ended at byte {end} after {self.body_bytes} of {self._content_length} "
                f"body bytes; {remaining} missing"
            )
        else:
            expected = (
                "a clean close (TCP FIN, or TLS close_notify) ending the close-delimited body"
            )
            message = (
                f"close-delimited body ended by {close.kind.value} at byte {end}: "
                "the end of the body cannot be trusted"
            )
        return self._problem(state, end, None, expected, message, close, None, remaining)

    def _problem(
        self,
        state: ProblemState,
        offset: int,
        chunk: int | None,
        expected: str,
        message: str,
        close: Close,
        missing: bytes | None = None,
        remaining: int | None = None,
    ) -> Problem:
        return Problem(
            verdict=Verdict.TRUNCATED,
            state=state,
            offset=offset,
            chunk=chunk,
            expected=expected,
            message=message,
            missing=missing,
            remaining=remaining,
            t=close.t,
            idle=close.idle,
        )


def analyze_bytes(
    data: bytes,
    *,
    request_method: str = "GET",
    close: CloseKind | str = CloseKind.UNKNOWN,
    terminal_events: Iterable[str] = (),
    read_size: int = 1 << 20,
    **limits: int | None,
) -> Report:
    """Analyze a complete byte string of server bytes (e.g. ``curl --raw -i`` output).

    No timestamps are known, so every read gets ``t=0.0`` and the close ``t=None``.
    """
    analyzer = Analyzer(request_method=request_method, terminal_events=terminal_events, **limits)  # type: ignore[arg-type]
    view = memoryview(data)
    for start in range(0, len(data), read_size):
        analyzer.feed(bytes(view[start : start + read_size]), 0.0)
    return analyzer.close(close, None)
