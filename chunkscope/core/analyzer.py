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
  body bytes also go, with their stream offsets, to the SSE decoder; with a
  Content-Encoding they go through the content decoder first (body bytes ->
  ``ContentDecoder`` -> ``SseDecoder``), so SSE offsets count in the decoded
  stream while framing offsets stay offsets in the received stream. A
  ``ProfileWatcher`` sees the terminal events the decoder dispatches and gives
  the application stream its own outcome at the close.
- DONE / FAILED: later bytes are only counted (``extra_bytes``).

Only ``close()`` turns the state into a verdict, because whether a stream is
truncated depends on where it stopped, and for a close-delimited body on how.
The same bytes split into reads differently give the same report, apart from
the times each read carries.
"""

from __future__ import annotations

import enum
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from .body_framing import choose_framing
from .errors import UsageError
from .framing import BodySink, ChunkedReader, ChunkTable
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
    SseSummary,
    Verdict,
)
from .truncation import explain_truncation

if TYPE_CHECKING:
    from .codings import ContentDecoder
    from .profiles import ProfileWatcher
    from .sse import SseDecoder

__all__ = ["Analyzer", "analyze_bytes"]

_MAX_NOTES = 50
_DECODED_BATCH = 1 << 16  # decoded bytes collected before the SSE decoder gets them...
_DECODED_PIECE_COST = 32  # ...each piece counted as this many more (bounds lists of tiny pieces)
_DECODED_PIECES_HELD = 4096  # decoded pieces noted before the SSE decoder is made to catch up
_INTERIM_KEPT = 10  # interim (1xx) heads listed in the report; the rest are counted
_HEAD_STEP = 512  # a head reader is fed this much of a read first, then twice as much...
_CONTEXT_BEFORE = 64  # bytes shown before the end of the stream or a malformation
_CONTEXT_AFTER = 16

# How a close-delimited body may end and still be whole (RFC 9112 §6.3 item 8,
# §9.8: a TLS close without close_notify is an incomplete close). Only an
# observed clean close counts: ``unknown`` (a capture file without an end
# record, a raw byte file, an unclassified read error) leaves the end of the
# body unknown, so the verdict is truncated, never complete.
_CLEAN_CLOSES = frozenset({CloseKind.FIN, CloseKind.TLS_CLOSE_NOTIFY})


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

    The application axis: ``profile`` forces a provider profile (see
    :mod:`chunkscope.core.profiles`; by default detected from the events and
    ``request_path``), ``max_decoded_ratio`` bounds decoded bytes per received
    byte of a content-coded body. ``preamble`` lists ``(offset, end, status
    line)`` of heads before the response, e.g. a proxy's ``HTTP/1.1 200
    Connection established`` in ``curl -x`` output (see
    :func:`chunkscope.core.preamble.find_connect_preamble`): their bytes count
    in the offsets but are not read as the response, and a note says so.
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
        profile: str | None = None,
        request_path: str | None = None,
        max_decoded_ratio: int = 512,
        preamble: Sequence[tuple[int, int, str]] = (),
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
        self.profile = profile
        self.request_path = request_path
        self.max_decoded_ratio = max_decoded_ratio
        if profile is not None:
            from .profiles import PROFILES

            if profile not in PROFILES:
                raise UsageError(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")

        self.received_bytes = 0
        self.body_bytes = 0  # for chunked bodies, see ``chunked.body_bytes``
        self.extra_bytes = 0
        self.framing: Framing | None = None
        self.head: dict[str, object] | None = None
        self.chunked: ChunkedReader | None = None
        self.sse: SseDecoder | None = None
        self.decoder: ContentDecoder | None = None
        self._watcher: ProfileWatcher | None = None
        self._coded_end = 0  # received offset just past the last piece given to the decoder
        self._events_seen = 0
        self._last_received_end: int | None = None
        # Decoded pieces not yet resolved: where each ends in the decoded stream and
        # the received offset (_coded_end) when it came out (see _decoded).
        self._decoded_ends: list[int] = []
        self._decoded_at: list[int] = []
        # Decoded pieces (and their decoded offsets) not yet given to the SSE decoder,
        # and what they cost, bounded by _DECODED_BATCH.
        self._out: list[bytes] = []
        self._out_starts: list[int] = []
        self._out_size = 0
        self._watched_received: dict[int, int] = {}  # event index -> received_end (bounded)
        self._coded_queue: list[SseEvent] = []
        self._body_sink: BodySink | None = None
        self._preamble_left = preamble[-1][1] if preamble else 0

        self._phase = _Phase.HEAD
        self._head_reader = HeadReader(self._preamble_left, max_head)
        self._final_head: Head | None = None
        self._interim: list[dict[str, int]] = []  # the first _INTERIM_KEPT
        self._interim_count = 0
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
        for offset, end, line in preamble:
            self._note(
                offset,
                f"{line!r} (bytes {offset}-{end}) is a proxy's answer to CONNECT, not the "
                "response: skipped, the response starts after it",
            )

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
            if self.decoder is not None:
                events.extend(self._coded_queue)
                self._coded_queue = []
            else:
                events.extend(self.sse.pop_events())
        events.sort(key=_received_position)
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
        if self._preamble_left:
            pos = min(n, self._preamble_left)
            self._preamble_left -= pos
        while pos < n:
            phase = self._phase
            if phase is _Phase.BODY:
                pos += self._feed_body(data if pos == 0 else data[pos:], base + pos, t)
            elif phase is _Phase.HEAD:
                pos += self._feed_head(data, pos, base + pos, t)
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

    def _report_notes(self) -> list[Note]:
        """The notes so far, then the chunked reader's (trailers come last in the stream)."""
        notes = list(self._notes)
        if self.chunked is not None:
            room = max(0, _MAX_NOTES - len(notes))
            notes += [Note(offset, message) for offset, message in self.chunked.notes[:room]]
        return notes

    def _feed_head(self, data: bytes, start: int, base: int, t: float) -> int:
        """Feed ``data[start:]`` to the head reader; return how many bytes the head took."""
        reader = self._head_reader
        # A head is small but the read holding it may be large (and may hold a
        # million interim heads): feeding pieces that grow from _HEAD_STEP
        # keeps each head's cost near its own size, not the read's.
        used = 0
        step = _HEAD_STEP
        n = len(data) - start
        while True:
            if used == 0 and start == 0 and n <= step:
                piece = data
            else:
                piece = data[start + used : start + used + step]
            used += reader.feed(piece)
            if reader.finding is not None or reader.head is not None or used >= n:
                break
            step *= 2
        if reader.finding is not None:
            f = reader.finding
            state = ProblemState.STATUS_LINE if f.in_status_line else ProblemState.HEADERS
            self._fail(state, f.offset, f.found, f.expected, f.reason, t, f.tolerated_by)
            return n
        head = reader.head
        if head is None:
            return used
        for offset, message in head.notes:
            self._note(offset, message)
        if 100 <= head.status < 200 and head.status != 101:
            self._interim_count += 1
            if len(self._interim) < _INTERIM_KEPT:
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
        choice = choose_framing(head, self.request_method)
        for offset, message in choice.notes:
            self._note(offset, message)
        framing, length = choice.framing, choice.length
        if choice.failure is not None:
            f = choice.failure
            self._fail(f.state, f.offset, f.found, f.expected, f.reason, t, None)
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
            "interim_count": self._interim_count,
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
            from .profiles import ProfileWatcher
            from .sse import SseDecoder  # only SSE bodies pay for the import

            watcher = ProfileWatcher(profile=self.profile, terminal_names=self.terminal_events)
            self._watcher = watcher
            self.sse = SseDecoder(
                terminal_names=self.terminal_events,
                live_events=self.live_events,
                watch_names=watcher.watch_names,
                watch_data=watcher.watch_data,
                on_watched=self._watched,
            )
        sink = None if self.sse is None else self.sse.feed
        codings = head.get_all("content-encoding")
        if codings:
            from .codings import ContentDecoder, parse_content_coding

            applied = parse_content_coding(codings)
            if applied:
                self.decoder = ContentDecoder(
                    applied,
                    None if self.sse is None else self._decoded,
                    max_ratio=self.max_decoded_ratio,
                )
                sink = self._coded
        self._body_sink = sink
        if framing is Framing.CHUNKED:
            self.chunked = ChunkedReader(
                max_line=self.max_line,
                max_chunk_size=self.max_chunk_size,
                max_trailers=self.max_trailers,
                max_chunks_kept=self.max_chunks_kept,
                sink=sink,
                # a coded body goes through its decoder first, a read's whole chunks at once
                sink_many=self._coded_many
                if self.decoder is not None
                else None
                if self.sse is None
                else self.sse.feed_many,
                sink_joined=None
                if self.sse is None or self.decoder is not None
                else self.sse.feed_joined,
            )
        self._content_length = length
        self._phase = _Phase.BODY

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
        if take and self._body_sink is not None:
            self._body_sink(data if take == n else data[:take], base, t)
        self.body_bytes += take
        if self._content_length is not None and self.body_bytes == self._content_length:
            self._body_end = base + take
            self._phase = _Phase.DONE
        return take

    # -- content coding and application events -------------------------------

    def _coded(self, data: bytes, offset: int, t: float) -> None:
        """Received body bytes of a content-coded body: to the content decoder."""
        self._coded_end = offset + len(data)
        assert self.decoder is not None
        self.decoder.feed(data, offset, t)
        self._hand_decoded(t)

    def _coded_many(self, pieces: list[bytes], offsets: list[int], t: float) -> None:
        """The whole chunks of a content-coded body from one read, in order: to the content decoder.

        What they decode to goes to the SSE decoder in one call (see
        :meth:`_decoded`): a stream flushed per event is one small piece per
        chunk, and a call chain per piece cost more than the decoding.
        """
        feed = self.decoder.feed  # type: ignore[union-attr]
        for piece, offset in zip(pieces, offsets, strict=True):
            self._coded_end = offset + len(piece)
            feed(piece, offset, t)
        self._hand_decoded(t)

    def _decoded(self, data: bytes, offset: int, t: float) -> None:
        """Decoded body bytes (offsets in the decoded stream), on their way to the SSE decoder.

        Pieces are noted with the received offset they came out at and
        collected; :meth:`_hand_decoded` gives the SSE decoder a received
        piece's (or read's) worth at once, which it batches as it batches a
        plain body. Which received offset completed an event is looked up
        when it is needed (:meth:`_received_end`), so no query forces a
        decode per piece. Live events are decoded piece by piece instead, so
        that each comes out with the received offset that completed it.
        """
        if self.live_events:
            sse = self.sse
            assert sse is not None
            sse.feed(data, offset, t)
            count = sse.event_count
            if count != self._events_seen:
                self._events_seen = count
                self._last_received_end = self._coded_end
                end = self._coded_end
                self._coded_queue.extend(replace(e, received_end=end) for e in sse.pop_events())
            return
        self._out.append(data)
        self._out_starts.append(offset)
        self._decoded_ends.append(offset + len(data))
        self._decoded_at.append(self._coded_end)
        # One read can decode to hundreds of times its size: hand over in bounded batches.
        self._out_size += len(data) + _DECODED_PIECE_COST
        if self._out_size >= _DECODED_BATCH:
            self._hand_decoded(t)

    def _hand_decoded(self, t: float) -> None:
        """The decoded pieces :meth:`_decoded` collected: to the SSE decoder in one call."""
        pieces = self._out
        if not pieces:
            return
        starts = self._out_starts
        self._out = []
        self._out_starts = []
        self._out_size = 0
        # Noted in _decoded_ends before the SSE decoder sees them: an event it
        # decodes now finds where its last byte was received (_watched).
        self.sse.feed_many(pieces, starts, t)  # type: ignore[union-attr]
        if len(self._decoded_ends) >= _DECODED_PIECES_HELD:
            self._settle_decoded()

    def _received_end(self, end: int) -> int:
        """The received offset at which the decoded byte before ``end`` came out."""
        ends = self._decoded_ends
        i = bisect_left(ends, end)
        return self._decoded_at[i] if i < len(ends) else self._coded_end

    def _settle_decoded(self) -> None:
        """Decode what the SSE decoder holds, note where its last event came in, forget the pieces."""
        sse = self.sse
        if sse is None or self.live_events:
            return
        count = sse.event_count  # decodes what is held
        if count != self._events_seen:
            self._events_seen = count
            last_end = sse.last_event_end
            if last_end is not None:
                self._last_received_end = self._received_end(last_end)
        self._decoded_ends.clear()
        self._decoded_at.clear()

    def _watched(self, event: SseEvent, data: bytes) -> None:
        if self.decoder is not None:
            received = self._coded_end if self.live_events else self._received_end(event.end)
            if len(self._watched_received) < 64:
                self._watched_received[event.index] = received
            event = replace(event, received_end=received)
        assert self._watcher is not None
        self._watcher.observe(event, data)

    def _application(self) -> SseSummary | None:
        """The SSE summary with received positions and the profile's outcome filled in."""
        if self.sse is None:
            return None
        if self.decoder is not None:
            self._settle_decoded()
        summary = self.sse.summary()
        if self.decoder is not None:
            last, terminal = summary.last_event, summary.terminal_event
            if last is not None:
                last = replace(last, received_end=self._last_received_end)
            if terminal is not None:
                terminal = replace(
                    terminal, received_end=self._watched_received.get(terminal.index)
                )
            summary = replace(summary, last_event=last, terminal_event=terminal)
        watcher = self._watcher
        assert watcher is not None
        undecoded = None
        decoder = self.decoder
        problem = None if decoder is None else decoder.problem
        if problem is not None and problem.kind == "undecodable":
            undecoded = problem.message
        elif problem is not None and problem.kind == "bomb":
            undecoded = "decoding stopped at the decompression bound, the rest was not read"
        outcome = watcher.outcome(summary, request_path=self.request_path, undecoded=undecoded)
        summary = replace(
            summary,
            profile=outcome.profile,
            outcome=outcome.outcome,
            outcome_detail=outcome.to_dict(),
        )
        if (
            not summary.terminal_seen
            and outcome.event is not None
            and outcome.outcome in ("completed", "failed", "incomplete")
        ):
            # The profile's own terminal event ended the stream (e.g. response.completed,
            # which the default list does not hold): the legacy keys say so too.
            summary = replace(summary, terminal_seen=True, terminal_event=outcome.event)
        return summary

    # -- end of stream --------------------------------------------------------

    def _truncation(self, close: Close) -> Problem:
        """Where the stream stopped early, from the readers' state (core/truncation.py)."""
        return explain_truncation(
            close,
            received_bytes=self.received_bytes,
            head_reader=self._head_reader if self._phase is _Phase.HEAD else None,
            chunked=self.chunked,
            content_length=self._content_length,
            body_bytes=self.body_bytes,
        )

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
        content_coding = None
        if self.decoder is not None:
            end = self._body_end if self._body_end is not None else self.received_bytes
            self.decoder.finish(end)
            content_coding = self.decoder.to_dict()
        sse = self._application()
        chunked = self.chunked
        chunks: Sequence[ChunkHeader] = () if chunked is None else ChunkTable(chunked)
        head = self.head
        if head is not None and chunked is not None:
            head["trailers"] = [[n, v] for n, v in chunked.trailers]
            head["chunk_extensions"] = {
                "count": chunked.ext_count,
                "bytes": chunked.ext_bytes,
                "kept": len(chunked.exts),
            }
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
            notes=self._report_notes(),
            timing=self._timing(),
            extra_bytes=self.extra_bytes,
            content_coding=content_coding,
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


def _received_position(event: ChunkHeader | SseEvent) -> int:
    """Where an event sits in the received stream (SSE events of a coded body: their end)."""
    if isinstance(event, SseEvent) and event.received_end is not None:
        return event.received_end
    return event.offset


def analyze_bytes(
    data: bytes,
    *,
    request_method: str = "GET",
    close: CloseKind | str = CloseKind.UNKNOWN,
    terminal_events: Iterable[str] = (),
    read_size: int = 1 << 20,
    profile: str | None = None,
    request_path: str | None = None,
    **limits: int | None,
) -> Report:
    """Analyze a complete byte string of server bytes (e.g. ``curl --raw -i`` output).

    No timestamps are known, so every read gets ``t=0.0`` and the close ``t=None``.
    Leading proxy answers to CONNECT (``curl -x`` output) are skipped with a note.
    """
    from .preamble import find_connect_preamble

    analyzer = Analyzer(
        request_method=request_method,
        terminal_events=terminal_events,
        profile=profile,
        request_path=request_path,
        preamble=find_connect_preamble(data[:65536]),
        **limits,  # type: ignore[arg-type]
    )
    view = memoryview(data)
    for start in range(0, len(data), read_size):
        analyzer.feed(bytes(view[start : start + read_size]), 0.0)
    return analyzer.close(close, None)
