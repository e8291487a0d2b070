"""Incremental decoder of a ``text/event-stream`` body (WHATWG HTML §9.2.6).

Theory of operation
-------------------
``SseDecoder`` is sans-IO and keeps constant memory: the caller feeds de-chunked
body bytes with the absolute stream offset of their first byte and the time of
the read they came in; successive feeds may leave gaps between them (the
chunk-size lines of a chunked body), so every position is mapped through the
offset of the piece it arrived in, never computed from a running byte count.

``feed()`` holds pieces (about 64 KiB, each piece counted 32 bytes more) and
decodes them together in ``_flush``, which every query runs first;
``feed_joined()`` takes a read's worth of pieces already in one buffer (from
framing's C scan), decoded apart from what was held before so that nothing
large is copied again. The held pieces are joined; from each point where the
decoder is between events, a
*run of plain blocks* -- ``[id] [event] [id] data`` lines, one of each at
most, then a blank line; no terminal event, no ``[DONE]``, nothing that
would add a note -- is found with C-speed passes: for a run of one shape,
counts (sixteen bytes at a time in C when the extension is built,
``bytes.count`` otherwise) of the "blank line + ``event: NAME`` + ``data:`` + how the
first value starts" marker and of the line ends (``k`` blocks of that shape
have exactly ``lines * k`` of them; when no value starting so can be
``[DONE]`` or watched, nothing else is searched), otherwise one possessive
regex match. A run is at most
``max_event_bytes`` long, so no cap applies inside it; its blocks are only
counted per name, and its last block goes to the line decoder below, as do
the first block when the previous flush stopped inside an event, every block
the fast path refuses, the last complete block and the tail. So the last
event, offsets, times, notes and the partial event always come from the line
decoder, and every field is what it would have given (tests/core/
test_sse_fast.py checks it on random, adversarial and huge streams).
``fast=False`` or ``live_events=True`` decodes every piece on arrival.

The line decoder cuts the stream into lines with ``bytes.split``/``re.finditer`` over whole
buffers. Only the unterminated tail of a feed is kept (``_pending``, at most
``max_event_bytes``) and joined to the start of the next feed. Each complete
line is then interpreted per §9.2.6::

    line                        effect
    ----                        ------
    ""                          dispatch (or, with an empty data buffer, reset)
    ":..."                      comment, ignored
    "name:value" / "name"       field; one leading U+0020 of value removed
        data                    append value + "\\n" to the data buffer
        event                   set the event type buffer
        id                      set the last event ID buffer, unless value has NUL
        retry                   reconnection time, if value is all ASCII digits
        anything else           ignored

Line ends are CRLF, LF or CR. A CR that ends one feed may be the first half of
a CRLF completed by the next feed: the line is treated as ended at the CR, and
an LF that opens the next feed is swallowed; if the CR ended the blank line that
dispatched an event, that event's ``end`` is moved past the LF so that every
split of the stream reports the same offsets. (An event already handed out by
``pop_events()`` keeps the end it was given.)

UTF-8 decoding happens per event (data) or per summary (names, ids): a line end
never falls inside a UTF-8 sequence, so decoding lines separately equals
decoding the stream (invalid sequences become U+FFFD, as in browsers). A byte
order mark is skipped only at the very start of the stream.

Limits: a line, or an event's data, longer than ``max_event_bytes`` keeps its
first ``max_event_bytes`` bytes (cut back to a UTF-8 character boundary),
counts the rest (``data_length`` stays exact for valid UTF-8), adds a note and
is still dispatched by its blank line. Names, notes and field names are capped
too; only ``pop_events()``'s queue grows, until the caller drains it.

At the end of the stream a browser silently discards an event whose blank line
never came; the summary reports it as ``partial_event`` so a truncated stream is
visible even when the HTTP framing looked complete.
"""

from __future__ import annotations

import re
import sys
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from itertools import accumulate, chain, repeat
from operator import sub
from typing import Any

from .errors import UsageError
from .report import SseEvent, SseSummary
from .speedups import count_byte as _c_count_byte
from .speedups import count_marker as _c_count_marker

__all__ = ["DEFAULT_TERMINAL_NAMES", "SseDecoder"]

#: Event names that end an LLM-style stream without further ado: ``done``
#: (several APIs) and Anthropic's ``message_stop``. Data ``[DONE]`` (OpenAI) is
#: recognised separately.
DEFAULT_TERMINAL_NAMES = ("done", "message_stop")

_BOM = b"\xef\xbb\xbf"
_DONE = b"[DONE]"
_LINE_END = re.compile(rb"\r\n?|\n")
_CONTINUATION = bytes(range(0x80, 0xC0))  # UTF-8 continuation bytes
_MAX_NAMES = 1000
_MAX_NAME_BYTES = 256  # a name key in ``names`` longer than this is cut
_OTHER = "(other)"
_MAX_FIELDS = 32  # distinct field names remembered for a partial event
_MAX_NOTES = 20
_MAX_UNKNOWN_NOTES = 5
_MAX_TERMINALS = 16  # terminal events kept by SseDecoder.terminal_events
_TERMINAL_DATA_CHARS = 4096
_BATCH = 1 << 16  # held bytes that make feed() decode what it holds...
_PIECE_COST = 32  # ...each piece counted as this many more (bounds the lists of tiny pieces)
_EXACT_SPAN = 8192  # after the fast path refused a block: bytes decoded line by line
# A run is looked for in at most this many bytes: an odd block costs the fast
# path's passes over one window, not over the whole (up to a read's) buffer.
# The window doubles after each run it held whole, up to _MAX_WINDOW, and is
# back to _WINDOW after any other: a long plain stream pays the per-window
# work a few times per read, an odd one no more than before.
_WINDOW = 1 << 16
_MAX_WINDOW = 1 << 20
# After a run whose values did not all start as its first did (see
# SseDecoder._lead), this many runs are counted without a lead.
_LEAD_PAUSE = 16


def _py_count_byte(buf: bytes, byte: int, start: int, end: int) -> int:
    return buf.count(bytes((byte,)), start, end)


def _py_count_marker(buf: bytes, marker: bytes, start: int, end: int) -> int:
    return buf.count(marker, start, end)


# The C counts take sixteen bytes at a time (SSE2): CPython's one-byte count
# looks at each byte (about 1.3 GB/s here), and its search for a marker that
# starts with a blank line is slower still.
_count_byte = _c_count_byte or _py_count_byte
_count_marker = _c_count_marker or _py_count_marker


class _Always:
    """The read time of every piece of one read: ``times[i]`` without a list of them."""

    __slots__ = ("t",)

    def __init__(self, t: float) -> None:
        self.t = t

    def __getitem__(self, index: int) -> float:
        return self.t


# Possessive quantifiers (Python 3.11+) keep the fast path's regexes from
# stacking backtrack state per block; without them the patterns match the same.
_PLUS, _STAR, _OPT = (b"*+", b"*+", b"?+") if sys.version_info >= (3, 11) else (b"*", b"*", b"?")
_NAME_LINE = {
    False: re.compile(rb"\nevent: ?([^\n]*)"),
    True: re.compile(rb"\nevent: ?([^\r]*)"),
}


def _fast_patterns(
    terminal_names: frozenset[bytes], data_prefixes: tuple[bytes, ...] = ()
) -> dict[bool, re.Pattern[bytes]]:
    """The generic run of plain blocks, for LF (False) and CRLF (True) line ends.

    A *plain block* is what the line decoder would dispatch with no note and
    no terminal event: ``[id] [event] [id] data`` lines, one of each at most,
    each ``name:value``, then a blank line; the event name not terminal, the
    data not ``[DONE]`` and not starting with one of ``data_prefixes``
    (events a provider profile watches). (``_fast`` also refuses a bare LF in a CRLF block,
    invalid UTF-8 and NUL.)
    """
    terminal = b"|".join(re.escape(n) for n in sorted(terminal_names))
    out = {}
    for crlf in (False, True):
        eol = rb"\r\n" if crlf else rb"\n"
        line = (rb"[^\r]" if crlf else rb"[^\n]") + _PLUS + eol
        ident = b"(?:id:" + line + b")" + _OPT
        event = b"(?:event:(?! ?(?:" + terminal + b")" + eol + b")" + line + b")" + _OPT
        watched = b"".join(b"|" + re.escape(p) for p in data_prefixes)
        data = rb"data:(?! ?(?:\[DONE\]" + eol + watched + b"))" + line + eol
        out[crlf] = re.compile(b"(?:" + ident + event + ident + data + b")" + _STAR)
    return out


def _retry_ms(digits: bytes) -> str:
    """A ``retry:`` value (ASCII digits) as text, bounded: never through ``int()``.

    A peer may send any number of digits (``int()`` refuses more than 4300);
    leading zeros go, a value of more than 40 digits is shown by its first 20
    and its length.
    """
    significant = digits.lstrip(b"0") or b"0"
    if len(significant) > 40:
        return f"{significant[:20].decode('ascii')}... ({len(significant)} digits)"
    return significant.decode("ascii")


def _chars(data: bytes) -> int:
    """The number of characters ``data`` decodes to (exact for valid UTF-8)."""
    return len(data.translate(None, _CONTINUATION))


def _trim(data: bytes) -> bytes:
    """``data`` without an incomplete UTF-8 sequence at its end (left by a cut)."""
    for back in range(1, min(3, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:
            return data
        if byte >= 0xC0:  # the lead byte: how long should the sequence be?
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return data[:-back] if need > back else data
    return data


def _decode(data: bytes) -> tuple[str, bool]:
    """``data`` as UTF-8 with U+FFFD replacements, and whether any were needed."""
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace"), True


class SseDecoder:
    """Decode a ``text/event-stream`` body incrementally, in constant memory.

    Feed de-chunked body bytes with :meth:`feed`; ask for :meth:`summary` at
    any time (once more after the body ended, for the final state). Events are
    counted, not kept: the summary holds the last event, the first terminal
    event and a count per event name.

    An event is *terminal* when its data is ``[DONE]`` or its name is one of
    :data:`DEFAULT_TERMINAL_NAMES` or of ``terminal_names``.

    ``max_event_bytes`` bounds the memory of one line and of one event's data
    buffer; beyond it bytes are counted but dropped, and a note says so.
    ``preview_chars`` bounds the data shown per event. With ``live_events``,
    each dispatched event is also queued for :meth:`pop_events`. Each event
    named in ``watch_names``, and each whose data starts with ``[DONE]`` or a
    ``watch_data`` prefix, is handed to ``on_watched(event, data)`` as it is
    dispatched, with its whole data bytes (at most ``max_event_bytes``): how
    provider profiles see terminal events. The fast path never counts such an
    event: it leaves it to the line decoder. With
    ``fast=False`` every piece is decoded line by line on arrival (the
    reference the per-buffer fast path is tested against; same results).

    Example::

        >>> d = SseDecoder()
        >>> d.feed(b"data: hi\\n\\ndata: [DONE]\\n\\n", 0, 0.0)
        >>> s = d.summary()
        >>> s.events, s.terminal_seen, s.last_event.offset, s.last_event.end
        (2, True, 10, 24)
    """

    def __init__(
        self,
        *,
        terminal_names: Iterable[str] = (),
        max_event_bytes: int = 1 << 20,
        preview_chars: int = 200,
        live_events: bool = False,
        fast: bool = True,
        watch_names: Iterable[str] = (),
        watch_data: tuple[bytes, ...] = (),
        on_watched: Callable[[SseEvent, bytes], None] | None = None,
    ) -> None:
        if isinstance(terminal_names, str):
            raise UsageError(f"terminal_names must be an iterable of names, not {terminal_names!r}")
        if max_event_bytes < 1:
            raise UsageError(f"max_event_bytes must be at least 1, not {max_event_bytes!r}")
        if preview_chars < 0:
            raise UsageError(f"preview_chars must not be negative, not {preview_chars!r}")
        names = set(DEFAULT_TERMINAL_NAMES)
        names.update(terminal_names)
        self._terminal_names = tuple(sorted(names))
        self._terminal_bytes = frozenset(n.encode("utf-8") for n in names)
        self._max = max_event_bytes
        self._preview = preview_chars
        self._live = live_events or not fast  # decode every piece line by line on arrival
        self._queue: list[SseEvent] = []
        # Pieces fed but not decoded yet (see _flush), with their lengths,
        # offsets and times; ``_held`` holds them as given: one bytes object
        # a piece, or one for many consecutive pieces (feed_joined).
        self._held: list[bytes] = []
        self._held_len: list[int] = []
        self._held_at: list[int] = []
        self._held_t: list[float] = []
        self._held_size = 0
        # Provider profiles (core/profiles.py) watch a few event names and data
        # prefixes: each such event goes to on_watched with its whole data.
        self._watch = frozenset(n.encode("utf-8") for n in watch_names)
        self._watch_data = (_DONE, *watch_data)
        self._watch_prefixes = tuple(watch_data)  # besides [DONE], which is searched apart
        self._on_watched = on_watched
        self._fast_patterns = _fast_patterns(
            self._terminal_bytes | self._watch, self._watch_prefixes
        )
        self._fast_name: bytes | None = None  # the name of the blocks of the last fast region
        self._window = _WINDOW  # bytes the fast path looks at for one run (see _MAX_WINDOW)
        self._lead_pause = 0  # runs to look at before the fast path trusts a lead again
        self._lead_bytes = max(map(len, self._watch_data))  # what a lead may need to tell apart
        self._done_at: int | None = None  # where the buffer being flushed holds its first [DONE]

        self._fed = 0  # body bytes fed so far (gaps not counted)
        self._at_start = True  # a BOM may still be coming
        self._bom_held = b""  # the first 1 or 2 bytes of the stream, if they start a BOM
        self._after_cr = False  # the last feed ended with a CR line end
        self._cr_dispatch_end = -1  # end given to an event dispatched by that CR
        # The unterminated line: kept bytes, their total count, where it began.
        self._pending = bytearray()
        self._pending_len = 0
        self._pending_start = 0
        self._pending_fed = 0
        self._pending_dropped = 0  # characters beyond the cap
        self._cr_at = 0  # offset of the CR that ended the last feed
        # The event being collected (since the last blank line).
        self._ev_start = -1  # offset of its first field line; -1: none yet
        self._ev_fed = 0
        self._data: list[bytes] = []
        self._data_size = 0  # kept data bytes, "\n" separators included
        self._data_dropped = 0  # characters of data dropped beyond max_event_bytes
        self._data_lines = 0
        self._type = b""
        self._seen_event = False  # an event field was seen (its value may be empty)
        self._fields: set[bytes] = set()  # other field names seen (bounded)
        self._last_id: bytes | None = None
        # What was dispatched.
        self._count = 0
        self._names: dict[bytes, int] = {}
        self._other = 0
        self._last: tuple[int, bytes, str, int, bytes | None, int, int, float] | None = None
        self._terminal: SseEvent | None = None
        self._terminals: list[SseEvent] = []  # every terminal event (bounded), data up to 4 KiB
        self._after_terminal = 0
        self._after_terminal_at = -1
        # kind -> [first offset, count, detail]; rendered by summary()
        self._notes: dict[str, list[Any]] = {}

    # -- public --------------------------------------------------------------

    @property
    def event_count(self) -> int:
        """Events dispatched so far."""
        if self._held:
            self._flush()
        return self._count

    @property
    def last_event_end(self) -> int | None:
        """Where the last event dispatched so far ends (see :attr:`SseEvent.end`), or None."""
        if self._held:
            self._flush()
        return None if self._last is None else self._last[6]

    @property
    def terminal_events(self) -> tuple[SseEvent, ...]:
        """Every terminal event dispatched so far, in order (the first 16).

        The first is :attr:`SseSummary.terminal_event`; here each keeps up to
        4096 characters of its data (``data_length`` is the whole length), so
        that what a provider put in its final event can be read back.
        """
        if self._held:
            self._flush()
        return tuple(self._terminals)

    def pop_events(self) -> list[SseEvent]:
        """Events dispatched since the last call (always ``[]`` without ``live_events``)."""
        if self._held:
            self._flush()
        events = self._queue
        self._queue = []
        return events

    def feed(self, data: bytes, offset: int, t: float) -> None:
        """Decode ``data``, body bytes whose first byte is at stream ``offset``, read at ``t``.

        Pieces are held (up to about 64 KiB) and decoded together; every
        query (:meth:`summary`, :meth:`pop_events`, :attr:`event_count`)
        decodes what is held first, so the answers are the same as if each
        piece had been decoded on arrival.
        """
        if self._live:
            self._feed_exact(data, offset, t)
            return
        self._held.append(data)
        self._held_len.append(len(data))
        self._held_at.append(offset)
        self._held_t.append(t)
        self._held_size += len(data) + _PIECE_COST
        if self._held_size >= _BATCH:
            self._flush()

    def feed_many(self, pieces: list[bytes], offsets: list[int], t: float) -> None:
        """:meth:`feed` each of ``pieces`` (``pieces[i]`` at stream ``offsets[i]``), all read at ``t``."""
        if self._live:
            for piece, offset in zip(pieces, offsets, strict=True):
                self._feed_exact(piece, offset, t)
            return
        self._held += pieces
        self._held_len += map(len, pieces)
        self._held_at += offsets
        self._held_t += [t] * len(pieces)
        # The span the pieces cover (chunk headers between them included): no pass over them.
        span = max(offsets[-1] - offsets[0] + len(pieces[-1]), 0) if pieces else 0
        self._held_size += span + _PIECE_COST * len(pieces)
        if self._held_size >= _BATCH:
            self._flush()

    def feed_joined(
        self, joined: bytes, ends: Sequence[int], offsets: Sequence[int], t: float
    ) -> None:
        """:meth:`feed_many` of the pieces that ``joined`` holds one after another.

        Piece ``i`` is ``joined[ends[i - 1]:ends[i]]`` (from 0 for the first),
        at stream ``offsets[i]``, all read at ``t``: what chunked framing
        hands over from its C scan, which copies a read's chunk data into one
        buffer (and its ends and offsets into int64 columns) instead of
        making objects per chunk. A read's worth is decoded at once, apart
        from what was held before, so that nothing large is copied again.
        """
        if not ends:
            return
        if self._live:
            start = 0
            for end, offset in zip(ends, offsets, strict=True):
                self._feed_exact(joined[start:end], offset, t)
                start = end
            return
        span = max(offsets[-1] - offsets[0] + ends[-1] - (ends[-2] if len(ends) > 1 else 0), 0)
        if span + _PIECE_COST * len(ends) >= _BATCH:
            if self._held:
                self._flush()
            self._decode(joined, ends, offsets, _Always(t))
            return
        self._held.append(joined)
        self._held_len += map(sub, ends, chain((0,), ends))
        self._held_at += offsets
        self._held_t += repeat(t, len(ends))
        self._held_size += span + _PIECE_COST * len(ends)
        if self._held_size >= _BATCH:
            self._flush()

    def summary(self) -> SseSummary:
        """What the stream held so far; after the body ended, the final state."""
        if self._held:
            self._flush()
        names: dict[str, int] = {}
        for raw, count in self._names.items():
            if len(raw) > _MAX_NAME_BYTES:
                key = raw[:_MAX_NAME_BYTES].decode("utf-8", "replace") + "…"
            else:
                key = raw.decode("utf-8", "replace")
            names[key] = names.get(key, 0) + count
        if self._other:
            names[_OTHER] = names.get(_OTHER, 0) + self._other
        last = None
        if self._last is not None:
            index, name, text, length, ident, start, end, t = self._last
            last = self._event(index, name, text, length, ident, start, end, t)
        notes = self._render_notes()
        return SseSummary(
            events=self._count,
            names=names,
            last_event=last,
            terminal_seen=self._terminal is not None,
            terminal_event=self._terminal,
            partial_event=self._partial(),
            terminal_names=self._terminal_names,
            notes=notes,
        )

    # -- the fast path ---------------------------------------------------------

    def _flush(self) -> None:
        """Decode the held pieces: whole runs of plain events at once, the rest line by line.

        The pieces are joined into one buffer. Runs of *plain blocks* (see
        :func:`_fast_patterns`) that start where the decoder is between events
        are found by counting (:meth:`_uniform`) or one regex match, in windows
        of 64 KiB to 1 MiB (see ``_MAX_WINDOW``), and only counted; everything else -- the
        first block if the previous flush stopped inside an event, whatever a
        pattern refuses, and always the last complete block and the tail (so
        that ``last_event``, offsets and the partial event come from the line
        decoder) -- is fed to the line decoder piece by piece, with the
        pieces' own offsets and times.
        """
        blocks, offsets, times = self._held, self._held_at, self._held_t
        ends = list(accumulate(self._held_len))
        self._held, self._held_len, self._held_at, self._held_t = [], [], [], []
        self._held_size = 0
        self._decode(blocks[0] if len(blocks) == 1 else b"".join(blocks), ends, offsets, times)

    def _decode(
        self,
        buf: bytes,
        ends: Sequence[int],
        offsets: Sequence[int],
        times: Sequence[float] | _Always,
    ) -> None:
        """Decode pieces joined in ``buf``: piece ``i`` ends at ``ends[i]``, at ``offsets[i]``, read at ``times[i]``."""
        crlf = b"\r" in buf
        sep = b"\r\n\r\n" if crlf else b"\n\n"
        n = len(buf)
        pos = 0
        last = buf.rfind(sep)
        stop = 0  # where the last complete block starts: the line decoder takes it on
        if last > 0:
            before = buf.rfind(sep, 0, last)
            stop = before + len(sep) if before >= 0 else 0
        ascii_only = buf.isascii()
        self._done_at = None  # where buf holds its first [DONE]: looked for when needed
        while pos < stop:
            if self._clean():
                window = self._window
                limit = min(stop, pos + min(self._max, window))
                cut, end = self._fast(buf, pos, limit, crlf, ascii_only)
                if end > pos and end >= limit - window // 2 and limit < stop:
                    self._window = min(2 * window, _MAX_WINDOW)
                else:
                    self._window = _WINDOW
                if end > pos:
                    # pos:cut counted; cut:end, the run's last block, may hold the
                    # last event of the stream so far: the line decoder takes it.
                    self._exact(buf, offsets, times, ends, cut, end)
                    pos = end
                    continue
                span = buf.rfind(sep, pos, min(stop, pos + _EXACT_SPAN))
            else:
                span = -1
            end = buf.find(sep, pos) + len(sep) if span < 0 else span + len(sep)
            self._exact(buf, offsets, times, ends, pos, end)
            pos = end
        self._exact(buf, offsets, times, ends, pos, n)

    def _clean(self) -> bool:
        """Between two events, at a line start, with nothing to watch for."""
        return (
            not self._pending_len
            and self._ev_start < 0
            and not self._after_cr
            and not self._at_start
            and self._terminal is None
        )

    def _exact(
        self,
        buf: bytes,
        offsets: Sequence[int],
        times: Sequence[float] | _Always,
        ends: Sequence[int],
        a: int,
        b: int,
    ) -> None:
        """Feed bytes ``a:b`` of the held pieces, joined in ``buf``, to the line decoder, piece by piece.

        Piece ``i`` is ``buf[ends[i - 1]:ends[i]]`` (from 0 for the first),
        at stream offset ``offsets[i]``, read at ``times[i]``.
        """
        if a >= b:
            return
        i = bisect_right(ends, a)
        if not (self._at_start or self._after_cr) and len(ends) > 1:
            # No line end in a:b (a long line, or an event arriving byte by byte):
            # one _keep for all of it, however many pieces it came in.
            part = buf[a:b]
            if b"\n" not in part and b"\r" not in part:
                first = ends[i - 1] if i else 0
                fed = self._fed
                self._fed = fed + len(part)
                self._keep(part, offsets[i] + a - first, fed)
                return
        while a < b:
            first = ends[i - 1] if i else 0
            hi = min(b, ends[i])
            self._feed_exact(buf[a:hi], offsets[i] + a - first, times[i])
            a = hi
            i += 1

    def _fast(
        self, buf: bytes, pos: int, limit: int, crlf: bool, ascii_only: bool
    ) -> tuple[int, int]:
        """Find a run of plain blocks from ``pos`` to at most ``limit``; count all but its last.

        Returns ``(cut, end)``: the blocks in ``pos:cut`` are counted, the
        run's last block ``cut:end`` is left to the caller; ``(pos, pos)`` if
        no plain block starts at ``pos``. The decoder is between events at
        ``pos``; a run is at most ``max_event_bytes`` long, so no cap applies.
        """
        uniform = self._uniform(buf, pos, limit, crlf)
        if uniform is not None:
            end, blocks = uniform
        else:
            end = self._fast_patterns[crlf].match(buf, pos, limit).end()  # type: ignore[union-attr]
            if end == pos:
                return pos, pos
            if crlf and buf.count(b"\r", pos, end) != buf.count(b"\n", pos, end):
                return pos, pos  # a bare LF inside a line: not a plain block
            if buf.find(b"\x00", pos, end) >= 0:
                return pos, pos  # an id with NUL is noted by the line decoder
        if not ascii_only:
            try:
                buf[pos:end].decode("utf-8")
            except UnicodeDecodeError:
                return pos, pos  # the line decoder notes it
        sep = b"\r\n\r\n" if crlf else b"\n\n"
        cut = buf.rfind(sep, pos, end - len(sep))
        cut = pos if cut < 0 else cut + len(sep)
        if cut == pos:
            return pos, end
        if uniform is None:
            found = self._generic_names(buf, pos, cut, crlf)
            if found is None:
                return pos, pos
            blocks, names = found
        else:
            blocks -= 1
            names = Counter({self._fast_name or b"message": blocks})
        self._fed += cut - pos
        self._count += blocks
        known = self._names
        for key, count in names.items():
            if key in known:
                known[key] += count
            else:
                self._new_name(key, count)
        return cut, end

    def _uniform(self, buf: bytes, pos: int, limit: int, crlf: bool) -> tuple[int, int] | None:
        """Blocks all ``[event: NAME] data:VALUE`` (NAME: the last run's commonest), by counting.

        With ``head`` the event line (or nothing) and ``M`` = blank line +
        head + ``data:`` + ``LEAD``, a run that starts with head + ``data:`` +
        LEAD, ends with a blank line and holds ``k - 1`` M's has exactly ``k``
        blocks of that shape if and only if it has ``lines * k`` LFs (and as
        many CRs, with CRLF): a VALUE with a line end of its own would add one.
        LEAD is how the run's first VALUE starts, just far enough that no
        VALUE starting so can be ``[DONE]`` or start with a watched prefix
        (see :meth:`_lead`): then the passes that look for those are not
        needed. Two or three C-speed passes, however short the events.
        """
        name = self._fast_name
        eol = b"\r\n" if crlf else b"\n"
        head = b"" if name is None else b"event: " + name + eol
        if not buf.startswith(head, pos) or not buf.startswith(b"data:", pos + len(head)):
            return None
        sep = eol + eol
        last = buf.rfind(sep, pos, limit)
        if last < 0:
            return None
        end = last + len(sep)
        lead = self._lead(buf, pos + len(head) + 5, end)
        if lead:
            before = buf.rfind(sep, pos, last)
            last_block = pos if before < 0 else before + len(sep)
            if not buf.startswith(head + b"data:" + lead, last_block):
                lead = b""  # the run's last block starts otherwise: the values vary
        per_block = 2 if name is None else 3
        while True:
            marker = sep + head + b"data:" + lead
            blocks = _count_marker(buf, marker, pos, end) + 1
            lines = per_block * blocks
            if _count_byte(buf, 10, pos, end) == lines and (
                not crlf or _count_byte(buf, 13, pos, end) == lines
            ):
                break
            if not lead:
                return None
            self._lead_pause = _LEAD_PAUSE  # the values did not all start alike: not for a while
            lead = b""
        if lead:
            return end, blocks  # no VALUE can be [DONE] or start with a watched prefix
        if self._done_at is None:
            self._done_at = buf.find(b"[DONE]")  # the first; -1: no data [DONE] to watch for
        done = self._done_at
        if 0 <= done < end and buf.find(b"[DONE]", pos, end) >= 0:
            return None  # maybe a terminal event: the regex stops before it
        for prefix in self._watch_prefixes:
            if buf.find(prefix, pos, end) >= 0:
                return None  # maybe a watched event (e.g. a chat error): the line decoder's
        return end, blocks

    def _lead(self, buf: bytes, at: int, end: int) -> bytes:
        """How the VALUE at ``at`` starts, just far enough that no VALUE starting so is watched.

        The shortest start of the VALUE (with its one leading space, if any)
        that differs from ``[DONE]`` and from every watched data prefix at
        some byte: e.g. ``{`` against ``[DONE]`` alone, ``{"i`` against
        ``{"error"`` too. ``b""`` when the VALUE starts with one of them or
        is, up to its line end, a start of one (only a search can tell what
        the other values are), and while a lead that failed pauses them.
        """
        if self._lead_pause:
            self._lead_pause -= 1
            return b""
        start = at + buf.startswith(b" ", at)
        value = buf[start : min(start + self._lead_bytes, end)]
        for line_end in (b"\n", b"\r"):
            cut = value.find(line_end)
            if cut >= 0:
                value = value[:cut]
        need = 1
        for watched in self._watch_data:
            shared = 0
            for ours, theirs in zip(value, watched, strict=False):
                if ours != theirs:
                    break
                shared += 1
            if shared in (len(watched), len(value)):
                return b""
            need = max(need, shared + 1)
        return buf[at : start + need]

    def _generic_names(
        self, buf: bytes, pos: int, end: int, crlf: bool
    ) -> tuple[int, Counter[bytes]] | None:
        """Blocks and names of a run of plain blocks of any shape; sets the last event ID."""
        sep = b"\r\n\r\n" if crlf else b"\n\n"
        blocks = buf.count(sep, pos, end)
        # Every line start but the run's first follows an LF; the first is checked apart.
        # (First names first: which names get in under _MAX_NAMES depends on the order.)
        names: Counter[bytes] = Counter()
        if buf.startswith(b"event:", pos):
            value = buf[pos + 6 : buf.find(b"\r" if crlf else b"\n", pos)]
            names[value[1:] if value[:1] == b" " else value] = 1
        names.update(_NAME_LINE[crlf].findall(buf, pos, end))
        named = sum(names.values())
        unnamed = blocks - named
        # The next run is tried first as blocks all of the commonest shape.
        fast_name = names.most_common(1)[0][0] if named > unnamed else None
        if fast_name != self._fast_name:
            self._fast_name = fast_name
            self._lead_pause = 0  # a new shape: its values may start alike
        if b"" in names:
            unnamed += names.pop(b"")
        if unnamed:
            names[b"message"] += unnamed
        if self._terminal_bytes.intersection(names) or self._watch.intersection(names):
            return None  # cannot happen (the pattern refuses them); the line decoder decides
        ident = buf.rfind(b"\nid:", pos, end)
        if ident >= 0 or buf.startswith(b"id:", pos):
            start = ident + 1 if ident >= 0 else pos
            value = buf[start + 3 : buf.find(b"\r" if crlf else b"\n", start)]
            self._last_id = value[1:] if value[:1] == b" " else value
        return blocks, names

    # -- lines ---------------------------------------------------------------

    def _feed_exact(self, data: bytes, offset: int, t: float) -> None:
        """The line decoder: ``data``, body bytes whose first byte is at stream ``offset``."""
        n = len(data)
        if not n:
            return
        fed = self._fed
        self._fed = fed + n
        if self._at_start or self._after_cr:
            data, offset, fed = self._edges(data, offset, fed)
            if not data:
                return
        crlf = b"\r" in data
        if crlf and data.count(b"\r") != data.count(b"\r\n"):  # a bare CR
            self._feed_any(data, offset, fed, t)
            return
        nl = data.find(b"\n")
        if nl < 0:  # no line end: all of it continues the pending line
            self._keep(data, offset, fed)
            return
        self._feed_lf(data, nl, offset, fed, t, crlf)

    def _edges(self, data: bytes, offset: int, fed: int) -> tuple[bytes, int, int]:
        """Skip a BOM at the start of the stream and the LF of a CRLF split across feeds."""
        if self._at_start:
            held = self._bom_held
            joined = held + data if held else data
            if len(joined) < 3 and _BOM.startswith(joined):
                # Maybe a BOM: wait for the rest. The bytes also start the
                # pending line, in case they turn out not to be one.
                self._bom_held = joined
                self._keep(data, offset, fed)
                return b"", offset, fed
            self._at_start = False
            self._bom_held = b""
            if joined.startswith(_BOM):
                self._note("bom", self._pending_start if held else offset, "")
                skip = 3 - len(held)
                self._pending.clear()
                self._pending_len = 0
                self._pending_dropped = 0
                data = data[skip:]
                offset += skip
                fed += skip
        if self._after_cr and data:
            self._after_cr = False
            cr_end = self._cr_dispatch_end
            self._cr_dispatch_end = -1
            if data[0] == 0x0A:  # the LF of a CRLF split across feeds
                if cr_end >= 0:
                    self._move_end(cr_end, offset + 1)
                data = data[1:]
                offset += 1
                fed += 1
            else:
                self._note("cr", self._cr_at, "")
        return data, offset, fed

    def _feed_lf(self, data: bytes, nl: int, offset: int, fed: int, t: float, crlf: bool) -> None:
        """Lines ended by LF or CRLF (the common case); ``data[nl]`` is the first LF.

        With ``crlf``, some lines end with CRLF (every CR in ``data`` is followed
        by an LF): the CR is cut from the line after its length is counted.

        The usual lines (blank, comment, ``data:``, ``event:``) are handled
        inline; anything else goes through :meth:`_line`.
        """
        lines = data.split(b"\n")
        tail = lines.pop()
        delta = fed - offset  # fed position minus stream offset, within this feed
        cap = self._max
        pos = offset  # stream offset of the next line
        joined_start = offset  # where the first line began, if it began in an earlier feed
        if self._pending_len:
            joined_start = self._pending_start
            if self._pending_len + nl > cap:
                first = lines[0]
                if crlf and first.endswith(b"\r"):
                    first = first[:-1]
                body, dropped = self._take_pending(first)
                pos = offset + nl + 1
                self._line(body, joined_start, self._pending_fed, pos, t, dropped)
                del lines[0]
            else:
                head = bytes(self._pending)
                self._pending.clear()
                self._pending_len = 0
                if self._ev_start < 0 and head[0] != 0x3A:
                    self._ev_start = joined_start
                    self._ev_fed = self._pending_fed
                lines[0] = head + lines[0]
                pos = offset - len(head)  # so that the line ends where its LF is
        for item in lines:
            start = pos
            pos += len(item) + 1
            if crlf and item[-1:] == b"\r":
                item = item[:-1]
            if not item:
                self._blank(pos, t)
            elif item[0] == 0x3A:  # ':' comment
                continue
            elif len(item) <= cap and item.startswith(b"data:"):
                if self._ev_start < 0:
                    self._ev_start = start
                    self._ev_fed = start + delta
                value = item[6:] if item[5:6] == b" " else item[5:]
                size = self._data_size + len(value) + 1
                if size > cap:
                    self._append_data(value, 0)
                else:
                    self._data.append(value)
                    self._data_size = size
                    self._data_lines += 1
            elif len(item) <= cap and item.startswith(b"event:"):
                if self._ev_start < 0:
                    self._ev_start = start
                    self._ev_fed = start + delta
                self._type = item[7:] if item[6:7] == b" " else item[6:]
                self._seen_event = True
            else:
                if start < offset:
                    start = joined_start
                self._line(item, start, start + delta, pos, t, -1)
        if tail:
            self._keep(tail, pos, pos + delta)

    def _feed_any(self, data: bytes, offset: int, fed: int, t: float) -> None:
        """Lines ended by CRLF, LF or CR, in any mix."""
        i = 0
        delta = fed - offset
        for m in _LINE_END.finditer(data):
            a, b = m.span()
            end = offset + b
            if i == 0 and self._pending_len:
                start, start_fed = self._pending_start, self._pending_fed
                body, dropped = self._take_pending(data[:a])
            else:
                body = data[i:a]
                start = offset + i
                start_fed = start + delta
                dropped = -1
            cr_alone = b - a == 1 and data[a] == 0x0D
            if cr_alone and b == len(data):
                self._after_cr = True  # maybe a CRLF split across feeds
                self._cr_at = offset + a
            dispatched = self._line(body, start, start_fed, end, t, dropped)
            if cr_alone:
                if self._after_cr:
                    self._cr_dispatch_end = end if dispatched else -1
                else:
                    self._note("cr", offset + a, "")
            i = b
        if i < len(data):
            self._keep(data[i:], offset + i, offset + i + delta)

    def _keep(self, piece: bytes, offset: int, fed: int) -> None:
        """Hold the start (or more) of an unterminated line, capped at max_event_bytes."""
        if not self._pending_len:
            self._pending_start = offset
            self._pending_fed = fed
        room = self._max - len(self._pending)
        if room >= len(piece):
            self._pending += piece
        else:
            if room > 0:
                self._pending += piece[:room]
            self._pending_dropped += _chars(piece[max(room, 0) :])
        self._pending_len += len(piece)

    def _take_pending(self, rest: bytes) -> tuple[bytes, int]:
        """The pending line completed by ``rest``, and how many of its characters were
        dropped beyond max_event_bytes (-1: none, the line is whole); resets it."""
        pending = self._pending
        room = self._max - len(pending)
        if self._pending_len + len(rest) <= self._max:
            line = bytes(pending) + rest
            dropped = -1
        else:
            room = max(room, 0)
            raw = bytes(pending) + rest[:room]  # the first max_event_bytes of the line
            line = _trim(raw)
            dropped = self._pending_dropped + _chars(raw[len(line) :]) + _chars(rest[room:])
        pending.clear()
        self._pending_len = 0
        self._pending_dropped = 0
        return line, dropped

    def _line(
        self, line: bytes, start: int, start_fed: int, end: int, t: float, dropped: int
    ) -> bool:
        """Interpret one complete line (§9.2.6); True if it dispatched an event.

        ``dropped`` counts the characters of the line beyond max_event_bytes
        when the line was already cut to that size; -1 if it is whole.
        """
        if not line:
            if dropped < 0:
                return self._blank(end, t)
            # else a line cut to nothing (a cap inside its first character): a field
        elif line[0] == 0x3A:  # ':' comment
            return False
        if self._ev_start < 0:
            self._ev_start = start
            self._ev_fed = start_fed
        if dropped < 0 and len(line) > self._max:
            kept = _trim(line[: self._max])
            dropped = _chars(line[len(kept) :])
            line = kept
        if dropped >= 0:
            self._note("long", start, str(self._max))
        else:
            dropped = 0
        colon = line.find(b":")
        if colon < 0:
            name = line
            value = b""
        else:
            name = line[:colon]
            vstart = colon + 2 if line[colon + 1 : colon + 2] == b" " else colon + 1
            value = line[vstart:]
        if name == b"data":
            self._append_data(value, dropped)
        elif name == b"event":
            self._type = value
            self._seen_event = True
        elif name == b"id":
            if b"\x00" in value:
                self._note("id-nul", start, "")
            else:
                self._last_id = value
        elif name == b"retry":
            if value.isdigit():
                self._note("retry", start, _retry_ms(value))
            else:
                self._note("retry-bogus", start, repr(value[:40]))
        else:
            self._unknown(name, start)
        if len(self._fields) < _MAX_FIELDS:
            self._fields.add(name[:64])
        return False

    def _append_data(self, value: bytes, dropped: int) -> None:
        self._data_lines += 1
        size = self._data_size
        if dropped or size + len(value) + 1 > self._max:
            if size < self._max:
                kept = _trim(value[: self._max - size])
                self._data.append(kept)
                self._data_size = size + len(kept) + 1
                self._data_dropped += _chars(value[len(kept) :])
            else:
                self._data_dropped += _chars(value) + 1
            self._data_dropped += dropped
            if size + len(value) + 1 > self._max:
                self._note("big", self._ev_start, str(self._max))
            return
        self._data.append(value)
        self._data_size = size + len(value) + 1

    def _unknown(self, name: bytes, start: int) -> None:
        key = "unknown:" + name[:40].decode("utf-8", "replace")
        if key in self._notes:
            self._notes[key][1] += 1
        elif sum(k.startswith("unknown:") for k in self._notes) < _MAX_UNKNOWN_NOTES:
            self._note(key, start, "")

    # -- dispatch ------------------------------------------------------------

    def _blank(self, end: int, t: float) -> bool:
        """A blank line: dispatch the event, or reset an event without data."""
        start = self._ev_start
        self._ev_start = -1
        self._seen_event = False
        if self._fields:
            self._fields.clear()
        if not self._data_lines:
            if self._type:
                self._note("no-data", start, "")
                self._type = b""
            return False
        parts = self._data
        raw = parts[0] if len(parts) == 1 else b"\n".join(parts)
        parts.clear()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("utf-8", "replace")
            self._note("utf8", start, "")
        length = len(text)
        if self._data_dropped:
            length += self._data_dropped
            self._data_dropped = 0
        self._data_size = 0
        self._data_lines = 0
        name = self._type or b"message"
        self._type = b""
        index = self._count
        self._count = index + 1
        names = self._names
        if name in names:
            names[name] += 1
        else:
            self._new_name(name)
        terminal = raw == _DONE or name in self._terminal_bytes
        if terminal and len(self._terminals) < _MAX_TERMINALS:
            whole = (index, name, text[:_TERMINAL_DATA_CHARS], length, self._last_id, start, end, t)
            self._terminals.append(self._event(*whole))
        if length > self._preview:
            text = text[: self._preview]
        self._last = (index, name, text, length, self._last_id, start, end, t)
        if self._terminal is not None:
            if not self._after_terminal:
                self._after_terminal_at = start
            self._after_terminal += 1
        elif terminal:
            self._terminal = self._event(*self._last)
        if self._on_watched is not None and (
            name in self._watch or raw.startswith(self._watch_data)
        ):
            self._on_watched(self._event(*self._last), raw)
        if self._live:
            self._queue.append(self._event(*self._last))
        return True

    def _new_name(self, name: bytes, count: int = 1) -> None:
        """Count the first events of a name (bounded: the rest go under ``(other)``)."""
        names = self._names
        if len(name) > _MAX_NAME_BYTES:
            name = name[: _MAX_NAME_BYTES + 1]
            if name in names:
                names[name] += count
                return
        if len(names) < _MAX_NAMES:
            names[name] = count
        else:
            self._other += count

    @staticmethod
    def _event(
        index: int,
        name: bytes,
        data: str,
        length: int,
        ident: bytes | None,
        start: int,
        end: int,
        t: float,
    ) -> SseEvent:
        return SseEvent(
            index=index,
            name=name.decode("utf-8", "replace"),
            data=data,
            data_length=length,
            id=None if ident is None else ident.decode("utf-8", "replace"),
            offset=start,
            end=end,
            t=t,
        )

    def _move_end(self, old: int, new: int) -> None:
        """Move the end of the event dispatched by a CR past the LF that followed it."""
        last = self._last
        if last is None or last[6] != old:
            return
        self._last = (*last[:6], new, last[7])
        if self._terminal is not None and self._terminal.index == last[0]:
            self._terminal = replace(self._terminal, end=new)
        if self._terminals and self._terminals[-1].index == last[0]:
            self._terminals[-1] = replace(self._terminals[-1], end=new)
        if self._queue and self._queue[-1].index == last[0]:
            self._queue[-1] = replace(self._queue[-1], end=new)

    # -- summary helpers -----------------------------------------------------

    def _partial(self) -> dict[str, Any] | None:
        """The event the stream stopped in, if anything but comments arrived of it."""
        pending = self._pending_len > 0
        pending_field = pending and self._pending[0] != 0x3A
        if self._ev_start < 0 and not pending_field:
            return None
        if self._ev_start >= 0:
            start, start_fed = self._ev_start, self._ev_fed
        else:
            start, start_fed = self._pending_start, self._pending_fed
        preview, _ = _decode(b"\n".join(self._data))
        fields = {f.decode("utf-8", "replace") for f in self._fields}
        if self._data_lines:
            fields.add("data")
        if self._seen_event:
            fields.add("event")
        partial: dict[str, Any] = {
            "offset": start,
            "bytes": self._fed - start_fed,
            "fields": sorted(fields),
            "preview": preview[: self._preview],
            "unterminated_line": pending,
        }
        if pending:
            line, _ = _decode(bytes(self._pending[: self._preview * 4]))
            partial["line_preview"] = line[: self._preview]
        return partial

    def _note(self, kind: str, offset: int, detail: str) -> None:
        note = self._notes.get(kind)
        if note is not None:
            note[1] += 1
        elif len(self._notes) < _MAX_NOTES:
            self._notes[kind] = [offset, 1, detail]

    def _render_notes(self) -> tuple[str, ...]:
        notes = dict(self._notes)
        if self._after_cr:  # the stream (so far) ends with a CR: a bare one, until an LF comes
            if "cr" in notes:
                offset, count, detail = notes["cr"]
                notes["cr"] = [offset, count + 1, detail]
            else:
                notes["cr"] = [self._cr_at, 1, ""]
        out = []
        for kind, (offset, count, detail) in sorted(notes.items(), key=lambda kv: kv[1][0]):
            times = "" if count == 1 else f" ({count} times)"
            if kind == "bom":
                out.append("UTF-8 byte order mark at the start of the stream, skipped")
            elif kind == "cr":
                out.append(f"lines ended by a bare CR{times}, first at byte {offset}")
            elif kind == "long":
                out.append(
                    f"line at byte {offset} longer than max_event_bytes ({detail}): "
                    f"its content beyond that was dropped{times}"
                )
            elif kind == "big":
                out.append(
                    f"event at byte {offset} has more data than max_event_bytes ({detail}): "
                    f"data beyond that was dropped, length counted{times}"
                )
            elif kind == "utf8":
                out.append(
                    f"invalid UTF-8 replaced by U+FFFD{times}, first in the event at byte {offset}"
                )
            elif kind == "id-nul":
                out.append(f"id field containing NUL ignored{times}, first at byte {offset}")
            elif kind == "retry":
                out.append(f"retry field at byte {offset}: reconnection time {detail} ms{times}")
            elif kind == "retry-bogus":
                out.append(
                    f"retry field at byte {offset} not all ASCII digits, ignored: {detail}{times}"
                )
            elif kind == "no-data":
                out.append(
                    f"event at byte {offset} had an event field but no data: not dispatched{times}"
                )
            elif kind.startswith("unknown:"):
                out.append(f"unknown field {kind[8:]!r} ignored{times}, first at byte {offset}")
        if self._after_terminal:
            out.append(
                f"{self._after_terminal} event(s) after the terminal event, "
                f"first at byte {self._after_terminal_at}"
            )
        return tuple(out[:_MAX_NOTES])
