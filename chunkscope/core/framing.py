"""Chunked transfer coding reader (RFC 9112 §7.1), built for a million chunks a second.

Theory of operation
-------------------
The reader sees the body bytes read by read and moves through five states::

    SIZE --size>0--> DATA --all data--> DATA_END --CRLF--> SIZE
    SIZE --size 0--> TRAILERS --blank line--> DONE
    any state --bad byte--> FAILED

The hot path is ``_scan_chunks``: while whole chunks (size line, data, CRLF)
lie inside the current read, one pre-compiled regex match per chunk-size line
and one ``startswith`` for the CRLF after the data, with the chunk recorded in
columnar ``array`` storage. Everything unusual -- a line split across reads, a
chunk extension, the last-chunk, trailers, any malformation -- falls to the
slow path, which validates byte by byte and reports the first offending byte.
With the optional C extension built (``speedups.scan_chunks``), the same
walk over whole plain chunks runs in C first (15 times faster on SSE's
one-event chunks) and stops at the first chunk it would not take whole: the
Python loop takes that one on, so both give the same records and findings
(tests/core/test_speedups.py). The C scan copies the chunks' data into one
buffer for the SSE decoder (``sink_joined``) instead of a bytes object each.

Memory is bounded: a partial size line is capped at ``max_line`` bytes, the
trailer section at ``max_trailers``, and chunk records at ``max_chunks_kept``
(later chunks are counted, not kept). Chunk data is never copied except to
hand it to a body sink (the SSE decoder) when one is attached.
"""

from __future__ import annotations

import bisect
import enum
import re
import sys
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import overload

from .report import ChunkHeader, ProblemState
from .speedups import scan_chunks as _scan_plain

__all__ = ["BodySink", "ChunkTable", "ChunkedReader", "FramingFinding"]

BodySink = Callable[[bytes, int, float], None]
BatchSink = Callable[[list[bytes], list[int], float], None]
JoinedSink = Callable[[bytes, Sequence[int], Sequence[int], float], None]

# Chunk extensions are kept as received for the first chunks that have them,
# up to this many bytes in all; later extensions are counted (``ext_count``,
# ``ext_bytes``) but not kept, and their chunk records say ``ext=None``.
MAX_EXT_BYTES_KEPT = 1 << 20

# A size line of a data chunk with no extension, no leading zero and at most 15
# hex digits: the shape of nearly every real chunk header, and one whose data
# offset follows from its size. Anything else (the last-chunk "0", leading
# zeros, extensions, errors) takes the slow path.
_PLAIN_SIZE_LINE = re.compile(rb"[1-9A-Fa-f][0-9A-Fa-f]{0,14}\r\n")
_PLAIN_LINE_MAX = 17  # 15 hex digits and CRLF
# Plain size lines already matched, with their sizes: shared by every reader
# (a pure function of the bytes), and cleared when full so it stays small.
_KNOWN_SIZE_LINES: dict[bytes, int] = {}
_KNOWN_MAX = 4096
_HEXDIGITS = frozenset(b"0123456789abcdefABCDEF")
_HEX_RUN = re.compile(rb"[0-9A-Fa-f]*")
_TCHAR = frozenset(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_QDTEXT = frozenset([0x09, 0x20, 0x21, *range(0x23, 0x5C), *range(0x5D, 0x7F), *range(0x80, 0x100)])
_QUOTED_PAIR = frozenset([0x09, 0x20, *range(0x21, 0x7F), *range(0x80, 0x100)])
_FIELD_VALUE_BAD = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_BWS = b" \t"

_SIZE_LINE_EXPECTED = (
    'a chunk-size line: 1*HEXDIG *( BWS ";" BWS ext-name [ BWS "=" BWS ext-value ] ) CRLF'
)
_IN_SIZE_LINE = "the chunk-size line"
_IN_TRAILERS = "the trailer section"
_TRAILER_EXPECTED = 'a trailer field (field-name ":" OWS field-value OWS CRLF) or the final CRLF'


class ChunkTable(Sequence[ChunkHeader]):
    """The recorded chunks of a reader as a read-only sequence of ChunkHeader.

    Headers are made on access, so a report over a million chunks costs
    nothing until someone looks at them.
    """

    def __init__(self, reader: ChunkedReader) -> None:
        self._reader = reader
        self._len = reader.kept

    def __len__(self) -> int:
        return self._len

    @overload
    def __getitem__(self, index: int) -> ChunkHeader: ...
    @overload
    def __getitem__(self, index: slice) -> list[ChunkHeader]: ...
    def __getitem__(self, index: int | slice) -> ChunkHeader | list[ChunkHeader]:
        if isinstance(index, slice):
            return [self._reader.header(i) for i in range(*index.indices(self._len))]
        if index < 0:
            index += self._len
        if not 0 <= index < self._len:
            raise IndexError("chunk index out of range")
        return self._reader.header(index)

    def __iter__(self) -> Iterator[ChunkHeader]:
        header = self._reader.header
        return (header(i) for i in range(self._len))

    def rows(self) -> Iterator[tuple[int, int, int, bytes | None, int, float]]:
        """``(index, offset, size, ext, data_offset, t)`` of every chunk, read from the columns.

        What :meth:`ChunkHeader.to_dict` holds, without an object per chunk:
        the JSON report of a stream of a million chunks writes them from here.
        """
        for first, end, t in self._reads():
            yield from self.rows_of(first, end, t)

    def rows_of(
        self, first: int, end: int, t: float
    ) -> Iterator[tuple[int, int, int, bytes | None, int, float]]:
        """:meth:`rows` of the chunks ``first:end``, all read at ``t`` (as :meth:`runs` gives them)."""
        reader = self._reader
        offsets, sizes, exts, data_offsets = (
            reader.offsets,
            reader.sizes,
            reader.exts,
            reader._data_offsets,
        )
        unkept = reader._ext_unkept
        for index in range(first, end):
            offset = offsets[index]
            size = sizes[index]
            data_offset = data_offsets.get(index)
            if data_offset is None:  # a plain size line: hex digits and CRLF
                data_offset = offset + (size.bit_length() + 3) // 4 + 2
            ext = exts.get(index)
            if ext is None:  # none, or one too much to keep (see ChunkedReader._ext)
                ext = None if index in unkept else b""
            yield index, offset, size, ext, data_offset, t

    def _reads(self) -> Iterator[tuple[int, int, float]]:
        """``(first, end, t)``: the chunks ``first:end`` first recorded in one read, at ``t``."""
        reader = self._reader
        firsts, times = reader._read_first, reader._read_times
        for r, first in enumerate(firsts):
            end = min(firsts[r + 1] if r + 1 < len(firsts) else self._len, self._len)
            if first < end:
                yield first, end, times[r]

    def runs(self) -> Iterator[tuple[int, int, float, bool]]:
        """``(first, end, t, plain)``: every chunk, in order, in runs of one read at ``t``.

        ``plain``: every chunk of the run has no extension and a plain size
        line (hex digits and CRLF), so its data offset follows from its offset
        and size. Otherwise none of them is plain: read them from
        :meth:`rows_of`. With :attr:`offsets` and :attr:`sizes`, what a writer
        needs to write a million chunk records without a Python step each.
        """
        reader = self._reader
        special = sorted({*reader.exts, *reader._data_offsets, *reader._ext_unkept})
        k = 0
        for first, end, t in self._reads():
            pos = first
            while pos < end:
                while k < len(special) and special[k] < pos:
                    k += 1
                stop = special[k] if k < len(special) and special[k] < end else end
                if stop > pos:
                    yield pos, stop, t, True
                    pos = stop
                odd = pos
                while pos < end and k < len(special) and special[k] == pos:
                    pos += 1
                    k += 1
                if pos > odd:
                    yield odd, pos, t, False

    @property
    def offsets(self) -> array[int]:
        """Each recorded chunk's offset (of its size line), by index."""
        return self._reader.offsets

    @property
    def sizes(self) -> array[int]:
        """Each recorded chunk's size, by index."""
        return self._reader.sizes

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return list(self) == list(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"<ChunkTable of {self._len} chunks>"


class _State(enum.Enum):
    SIZE = "chunk-size"
    DATA = "chunk-data"
    DATA_END = "chunk-data-end"
    TRAILERS = "trailers"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class FramingFinding:
    """A malformation in the chunked body."""

    state: ProblemState
    offset: int
    found: bytes
    expected: str
    reason: str
    tolerated_by: str | None = None


class ChunkedReader:
    """Incremental, strict reader of a chunked body that records every chunk."""

    def __init__(
        self,
        *,
        max_line: int = 8192,
        max_chunk_size: int = 2**62,
        max_trailers: int = 65536,
        max_chunks_kept: int | None = 100_000,
        sink: BodySink | None = None,
        sink_many: BatchSink | None = None,
        sink_joined: JoinedSink | None = None,
    ) -> None:
        self.max_line = max_line
        self.max_chunk_size = max_chunk_size
        self.max_trailers = max_trailers
        self.keep = (1 << 62) if max_chunks_kept is None else max_chunks_kept
        self.sink = sink
        # Optional: the whole chunks of one read handed over in one call
        # (pieces, their offsets, the read's time) instead of one sink call each.
        self.sink_many = sink_many
        # Optional, with sink_many: the whole chunks the C scan takes from one
        # read, their data copied into one buffer (data, each piece's end in
        # it, each piece's stream offset, the read's time).
        self.sink_joined = sink_joined if sink_many is not None else None
        # Columnar chunk records (see STYLE.md): chunk i lives at position i.
        # The data offset follows from offset and size for plain size lines;
        # only other lines (extensions, leading zeros) are kept in
        # ``_data_offsets``. Times are kept per read, not per chunk: the
        # chunks first recorded in read r start at ``_read_first[r]``.
        self.offsets = array("q")
        self.sizes = array("q")
        self.exts: dict[int, bytes] = {}
        self.ext_count = 0  # data chunks with an extension, kept or not
        self.ext_bytes = 0  # their extension bytes
        self._ext_kept_bytes = 0
        self._ext_unkept: set[int] = set()  # chunks whose extension was too much to keep
        self._data_offsets: dict[int, int] = {}
        self._read_first = array("q")
        self._read_times = array("d")
        self.count = 0  # data chunks whose size line was read
        self._declared = 0  # sum of the sizes of all data chunks begun
        self.last_chunk: ChunkHeader | None = None  # the zero-size last-chunk
        self.trailers: list[tuple[str, str]] = []
        self.trailer_fields = (
            0  # trailer fields read, obs-fold lines not counted (``trailers`` keeps 100)
        )
        self.notes: list[tuple[int, str]] = []  # (offset, message): accepted deviations
        self.finding: FramingFinding | None = None
        self.end: int | None = None  # offset just after the final CRLF
        self._state = _State.SIZE
        self._line = bytearray()  # a size or trailer line split across reads
        self._line_offset = 0
        self._remaining = 0  # data bytes still owed for the current chunk
        self._crlf_got = 0  # bytes of the CRLF after data seen so far
        self._trailer_bytes = 0

    # -- views ----------------------------------------------------------------

    @property
    def state(self) -> str:
        return self._state.value

    @property
    def done(self) -> bool:
        return self._state is _State.DONE

    @property
    def failed(self) -> bool:
        return self._state is _State.FAILED

    @property
    def kept(self) -> int:
        return len(self.offsets)

    @property
    def partial_line(self) -> bytes:
        return bytes(self._line)

    @property
    def partial_line_offset(self) -> int:
        return self._line_offset

    @property
    def body_bytes(self) -> int:
        """Chunk data bytes received so far."""
        return self._declared - self._remaining

    @property
    def remaining(self) -> int:
        return self._remaining

    @property
    def crlf_got(self) -> int:
        return self._crlf_got

    def header(self, index: int) -> ChunkHeader:
        """The recorded chunk ``index`` (must be < ``kept``)."""
        offset = self.offsets[index]
        size = self.sizes[index]
        data_offset = self._data_offsets.get(index)
        if data_offset is None:
            data_offset = offset + len(f"{size:x}") + 2
        read = bisect.bisect_right(self._read_first, index) - 1
        return ChunkHeader(
            index=index,
            offset=offset,
            size=size,
            ext=self._ext(index),
            data_offset=data_offset,
            t=self._read_times[read],
        )

    def _ext(self, index: int) -> bytes | None:
        ext = self.exts.get(index)
        if ext is not None:
            return ext
        if index in self._ext_unkept:
            return None  # it had one, too much to keep
        return b""

    # -- input ----------------------------------------------------------------

    def feed(self, data: bytes, base: int, t: float) -> int:
        """Take one read whose first byte is at stream offset ``base``.

        Returns how many bytes belong to the body: all of them, unless the
        message ended or a malformation was found inside this read.
        """
        pos = 0
        n = len(data)
        while pos < n:
            state = self._state
            if state is _State.SIZE:
                if not self._line:
                    pos = self._scan_chunks(data, pos, base, t)
                    if pos >= n or self._state is not _State.SIZE:
                        continue
                pos = self._size_line(data, pos, base, t)
            elif state is _State.DATA:
                avail = n - pos
                if avail < self._remaining:
                    if self.sink is not None:
                        self.sink(data[pos:], base + pos, t)
                    self._remaining -= avail
                    return n
                end = pos + self._remaining
                if self.sink is not None:
                    self.sink(data[pos:end], base + pos, t)
                self._remaining = 0
                self._crlf_got = 0
                self._state = _State.DATA_END
                pos = end
            elif state is _State.DATA_END:
                pos = self._data_end(data, pos, base)
            elif state is _State.TRAILERS:
                pos = self._trailer_line(data, pos, base)
            else:
                break
        return pos

    def _scan_chunks(self, data: bytes, pos: int, base: int, t: float) -> int:
        """The hot path: whole plain chunks inside this read."""
        match = _PLAIN_SIZE_LINE.match
        n = len(data)
        count = self.count
        first = count
        body = self._declared
        keep = self.keep
        max_size = self.max_chunk_size
        sink = self.sink
        add_offset = self.offsets.append
        add_size = self.sizes.append
        batch = self.sink_many
        pieces: list[bytes] = []
        piece_offsets: list[int] = []
        add_piece = pieces.append
        add_piece_offset = piece_offsets.append
        find = data.find
        known = _KNOWN_SIZE_LINES
        known_size = known.get
        joined = self.sink_joined
        if _scan_plain is not None and (joined is not None or batch is not None or sink is None):
            # The same walk in C; it stops at the first chunk it would not
            # take whole, and the loop below takes that chunk on.
            hand_over = 2 if joined is not None else 1 if batch is not None else 0
            pos, taken, taken_bytes, offsets, sizes, c_data, c_offsets = _scan_plain(
                data, pos, base, min(keep - count, sys.maxsize), max_size, hand_over
            )
            if taken:
                self.offsets.frombytes(offsets)
                self.sizes.frombytes(sizes)
                count += taken
                body += taken_bytes
                if hand_over == 2:
                    joined_data, ends = c_data
                    joined(  # type: ignore[misc]
                        joined_data, memoryview(ends).cast("q"), memoryview(c_offsets).cast("q"), t
                    )
                elif hand_over == 1:
                    pieces = c_data
                    piece_offsets = c_offsets
                    add_piece = pieces.append
                    add_piece_offset = piece_offsets.append
        try:
            while True:
                # A size line seen before is one dict lookup; a new one is
                # matched, then remembered (SSE events come in few sizes).
                line_end = find(b"\n", pos, pos + _PLAIN_LINE_MAX) + 1
                size = known_size(data[pos:line_end])
                if size is None:
                    m = match(data, pos)
                    if m is None:
                        return pos
                    line_end = m.end()
                    size = int(data[pos:line_end], 16)
                    if len(known) >= _KNOWN_MAX:
                        known.clear()
                    known[data[pos:line_end]] = size
                if size > max_size:
                    return pos  # the slow path reports it
                if count < keep:
                    add_offset(base + pos)
                    add_size(size)
                count += 1
                body += size
                end = line_end + size
                if data.startswith(b"\r\n", end):
                    if batch is not None:
                        add_piece(data[line_end:end])
                        add_piece_offset(base + line_end)
                    elif sink is not None:
                        sink(data[line_end:end], base + line_end, t)
                    pos = end + 2
                    continue
                if pieces:  # before this chunk's data, in order
                    batch(pieces, piece_offsets, t)  # type: ignore[misc]
                    pieces = []
                self._crlf_got = 0
                if end <= n:  # the CRLF is split or wrong: DATA_END reads or reports it
                    if sink is not None:
                        sink(data[line_end:end], base + line_end, t)
                    self._state = _State.DATA_END
                    return end
                if sink is not None:
                    sink(data[line_end:], base + line_end, t)
                self._remaining = end - n
                self._state = _State.DATA
                return n
        finally:
            if pieces:
                batch(pieces, piece_offsets, t)  # type: ignore[misc]
            if count != first:
                self.count = count
                self._declared = body
                if first < keep:
                    self._read_first.append(first)
                    self._read_times.append(t)

    # -- slow path: size lines ------------------------------------------------

    def _fail(
        self,
        state: ProblemState,
        offset: int,
        found: bytes,
        expected: str,
        reason: str,
        tolerated_by: str | None = None,
    ) -> None:
        self._state = _State.FAILED
        self.finding = FramingFinding(state, offset, found, expected, reason, tolerated_by)

    def _size_line(self, data: bytes, pos: int, base: int, t: float) -> int:
        n = len(data)
        if not self._line:
            self._line_offset = base + pos
        nl = data.find(b"\n", pos, pos + self.max_line + 2 - len(self._line))
        if nl < 0:
            had = len(self._line)
            self._line += data[pos:]
            if not self._line_can_continue():
                return n
            if self._line.find(b"\r", max(had - 1, 0)) >= 0:
                bad = _bare_cr(bytes(self._line), _validate_size_line, _IN_SIZE_LINE)
                if bad is not None:  # known now: no LF can mend it
                    self._report_size_line_error(bytes(self._line), self._line_offset, bad)
                    return n
            if len(self._line) > self.max_line + 1:
                self._fail(
                    ProblemState.CHUNK_SIZE,
                    self._line_offset + self.max_line + 1,
                    bytes(self._line[self.max_line + 1 : self.max_line + 2]),
                    f"a chunk-size line of at most {self.max_line} bytes",
                    f"chunk-size line longer than {self.max_line} bytes without a line end",
                )
                return n
            return n
        if self._line:
            line = bytes(self._line) + data[pos : nl + 1]
            self._line.clear()
        else:
            line = data[pos : nl + 1]
        self._finish_size_line(line, t)
        return nl + 1

    def _line_can_continue(self) -> bool:
        """Catch a partial size line that is already wrong (an HTML error page, ``b"0_"``)."""
        line = self._line
        first = line[0]
        if first in _HEXDIGITS or first == 0x0D:  # a CR may be an empty line: wait for its LF
            # RFC 9112 §7.1: after the hex digits come BWS, ';' or the CR of CRLF; any
            # other byte is the finding now, as it is once the line ends (so every
            # split of the stream gives it, and a stream cut here is not "truncated").
            match = _HEX_RUN.match(line)
            end = 0 if match is None else match.end()
            if end == 0 or end == len(line) or line[end] in b" \t;\r":
                return True
            content = bytes(line[: end + 1])
            bad = _validate_size_line(content)
            assert bad is not None  # a hex digit run, then a byte no size line has there
            self._report_size_line_error(content, self._line_offset, bad)
            return False
        self._fail(
            ProblemState.CHUNK_SIZE,
            self._line_offset,
            bytes(self._line[:1]),
            _SIZE_LINE_EXPECTED,
            "chunk-size line does not start with a hex digit",
            _tolerance_for_leading(first),
        )
        return False

    def _finish_size_line(self, line: bytes, t: float) -> None:
        offset = self._line_offset
        content = line[:-1]  # without the LF
        bad = _bare_cr(content, _validate_size_line, _IN_SIZE_LINE)
        if bad is not None:
            self._report_size_line_error(content, offset, bad)
            return
        if not content.endswith(b"\r"):
            bad = _validate_size_line(content)
            if bad is not None and bad[0] < len(content):
                self._report_size_line_error(content, offset, bad)
                return
            self._fail(
                ProblemState.CHUNK_SIZE,
                offset + len(content),
                b"\n",
                'CRLF (b"\\r\\n") ending the chunk-size line',
                "chunk-size line ends with a bare LF",
                "curl (it reads a chunk-size line up to the LF); h11, llhttp and Go reject it",
            )
            return
        content = content[:-1]
        bad = _validate_size_line(content)
        if bad is not None:
            self._report_size_line_error(content, offset, bad)
            return
        digits_end = 0
        while digits_end < len(content) and content[digits_end] in _HEXDIGITS:
            digits_end += 1
        digits = content[:digits_end]
        significant = digits.lstrip(b"0")
        if len(significant) > 16 or (size := int(digits, 16)) > self.max_chunk_size:
            self._fail(
                ProblemState.CHUNK_SIZE,
                offset,
                digits[:24],
                f"a chunk size of at most {self.max_chunk_size} bytes",
                f"chunk size 0x{digits[:24].decode()}{'...' if len(digits) > 24 else ''} exceeds the limit",
            )
            return
        ext = content[digits_end:]
        index = self.count
        if size == 0:
            self.last_chunk = ChunkHeader(index, offset, 0, ext, offset + len(line), t)
            self._state = _State.TRAILERS
            return
        if ext:
            self.ext_count += 1
            self.ext_bytes += len(ext)
        if index < self.keep:
            self.offsets.append(offset)
            self.sizes.append(size)
            if ext:
                if self._ext_kept_bytes + len(ext) <= MAX_EXT_BYTES_KEPT:
                    self.exts[index] = ext
                    self._ext_kept_bytes += len(ext)
                else:
                    self._ext_unkept.add(index)
            if len(line) != len(f"{size:x}") + 2:
                self._data_offsets[index] = offset + len(line)
            if not self._read_times or self._read_times[-1] != t or self._read_first[-1] > index:
                self._read_first.append(index)
                self._read_times.append(t)
        self.count = index + 1
        self._declared += size
        self._remaining = size
        self._state = _State.DATA

    def _report_size_line_error(self, content: bytes, offset: int, bad: tuple[int, str]) -> None:
        index, reason = bad
        tolerated = None
        semicolon = content.find(b";")
        if reason.startswith("whitespace after the chunk size"):
            tolerated = (
                "h11, Go, curl and aiohttp's lax mode (they ignore trailing whitespace); "
                "llhttp rejects it"
            )
        elif index == 0:
            tolerated = _tolerance_for_leading(content[0] if content else 0x0D)
        elif 0 <= semicolon < index and not reason.startswith("CR not followed by LF"):
            # h11 (chunk-ext matched as ";.*"), Go (cut at the first ';') and
            # curl (skips to the LF) never parse what follows the ';'.
            tolerated = "h11, Go and curl (they skip chunk extensions unparsed); llhttp rejects it"
        elif reason.startswith("invalid chunk extension"):
            tolerated = "curl (it skips everything after the chunk size up to the LF)"
        self._fail(
            ProblemState.CHUNK_SIZE,
            offset + index,
            (content + b"\r")[index : index + 1],
            _SIZE_LINE_EXPECTED,
            reason,
            tolerated,
        )

    # -- slow path: the CRLF after data, trailers -----------------------------

    def _data_end(self, data: bytes, pos: int, base: int) -> int:
        n = len(data)
        while self._crlf_got < 2 and pos < n:
            want = 0x0D if self._crlf_got == 0 else 0x0A
            if data[pos] != want:
                found = data[pos : pos + 1]
                self._fail(
                    ProblemState.CHUNK_DATA_END,
                    base + pos,
                    found,
                    'CRLF (b"\\r\\n") after the chunk data',
                    f"chunk data not followed by CRLF (chunk #{self.count - 1} declared {self._last_size()} bytes)",
                    "curl (a bare LF after chunk data)"
                    if self._crlf_got == 0 and data[pos] == 0x0A
                    else None,
                )
                return pos
            self._crlf_got += 1
            pos += 1
        if self._crlf_got == 2:
            self._state = _State.SIZE
        return pos

    def _last_size(self) -> int | str:
        index = self.count - 1
        return self.sizes[index] if 0 <= index < len(self.sizes) else "?"

    def _trailer_line(self, data: bytes, pos: int, base: int) -> int:
        n = len(data)
        if not self._line:
            self._line_offset = base + pos
        budget = self.max_trailers - self._trailer_bytes
        nl = data.find(b"\n", pos, pos + budget - len(self._line) + 1)
        if nl < 0:
            take = min(n - pos, budget - len(self._line) + 1)
            had = len(self._line)
            self._line += data[pos : pos + take]
            if self._line.find(b"\r", max(had - 1, 0)) >= 0:
                bad = _bare_cr(bytes(self._line), self._validate_trailer, _IN_TRAILERS)
                if bad is not None:  # known now: no LF can mend it
                    self._fail_trailer(bytes(self._line), bad)
                    return pos + take
            if len(self._line) > budget:
                self._fail(
                    ProblemState.TRAILERS,
                    base + pos + take - 1,
                    bytes(self._line[-1:]),
                    f"a trailer section of at most {self.max_trailers} bytes",
                    f"trailer section exceeds {self.max_trailers} bytes",
                )
            return pos + take
        line = bytes(self._line) + data[pos : nl + 1] if self._line else data[pos : nl + 1]
        self._line.clear()
        self._trailer_bytes += len(line)
        offset = self._line_offset
        content = line[:-1]
        bad = _bare_cr(content, self._validate_trailer, _IN_TRAILERS)
        if bad is not None:
            self._fail_trailer(content, bad)
            return nl + 1
        if not content.endswith(b"\r"):
            self._fail(
                ProblemState.TRAILERS,
                offset + len(content),
                b"\n",
                'CRLF (b"\\r\\n")',
                "bare LF in the trailer section"
                if content
                else "bare LF instead of the final CRLF",
                "h11 and picohttpparser (they accept bare LF line ends in trailers)",
            )
            return nl + 1
        content = content[:-1]
        if not content:
            self._state = _State.DONE
            self.end = base + nl + 1
            return nl + 1
        bad = self._validate_trailer(content)
        if bad is not None:
            self._fail_trailer(content, bad)
            return nl + 1
        if content[0] in _BWS:
            # RFC 9112 §5.2: a user agent replaces obs-fold with SP, in any
            # field section; the head reader does the same. The field it
            # continues is the last in ``trailers`` unless that list was full.
            if len(self.trailers) == self.trailer_fields:
                field_name, field_value = self.trailers[-1]
                more = content.strip(_BWS).decode("latin-1")
                self.trailers[-1] = (field_name, f"{field_value} {more}".strip())
            if len(self.notes) < 10:
                self.notes.append(
                    (offset, "obs-fold (line folding) in a trailer field (accepted, RFC 9112 §5.2)")
                )
            return nl + 1
        self.trailer_fields += 1
        if len(self.trailers) < 100:
            name, _, value = content.partition(b":")
            self.trailers.append((name.decode("latin-1"), value.strip(_BWS).decode("latin-1")))
        return nl + 1

    def _validate_trailer(self, content: bytes) -> tuple[int, str] | None:
        """A trailer field line's first offending index, and why (see _validate_field_line).

        A line starting with whitespace continues the field before it
        (obs-fold); only its bytes are checked then. Before any field it has
        nothing to continue.
        """
        if content[:1] in (b" ", b"\t") and self.trailer_fields:
            bad = _FIELD_VALUE_BAD.search(content)
            return None if bad is None else (bad.start(), "control byte in a trailer field value")
        return _validate_field_line(content)

    def _fail_trailer(self, content: bytes, bad: tuple[int, str]) -> None:
        index, reason = bad
        tolerated = None
        if reason.startswith("control byte") and content[index] not in b"\x00\x0b\x0c":
            tolerated = "h11 (it keeps CTLs other than NUL and whitespace, RFC 9110 §5.5)"
        self._fail(
            ProblemState.TRAILERS,
            self._line_offset + index,
            (content + b"\r")[index : index + 1],
            _TRAILER_EXPECTED,
            reason,
            tolerated,
        )


def _bare_cr(
    content: bytes, validate: Callable[[bytes], tuple[int, str] | None], where: str
) -> tuple[int, str] | None:
    """A CR followed by a byte other than LF in a line (RFC 9112 §2.1: CRLF ends a line).

    ``content`` is the line so far, without its LF. The finding is at the byte
    after the CR, which shows at once that no CRLF is coming -- unless the
    bytes before the CR already break the grammar (checked with a byte that
    is invalid wherever it lands in place of the CR), so that every split of
    the stream gives the same finding.
    """
    cr = content.find(b"\r")
    if cr < 0 or cr + 1 >= len(content):
        return None
    bad = validate(content[:cr] + b"\x00")
    if bad is not None and bad[0] < cr:
        return bad
    return cr + 1, f"CR not followed by LF in {where}"


def _tolerance_for_leading(byte: int) -> str | None:
    if byte in _BWS:
        return "some lenient parsers skip leading whitespace; h11, llhttp and curl reject it"
    return None


def _validate_size_line(content: bytes) -> tuple[int, str] | None:
    """First offending index in a size line without its line end, and why; None if valid.

    RFC 9112 §7.1 and §7.1.1::

        chunk-size = 1*HEXDIG
        chunk-ext  = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
        chunk-ext-val = token / quoted-string
    """
    n = len(content)
    i = 0
    while i < n and content[i] in _HEXDIGITS:
        i += 1
    if i == 0:
        if n == 0:
            return 0, "empty chunk-size line"
        return 0, "chunk-size line does not start with a hex digit"
    size_end = i
    while i < n:
        j = i
        while j < n and content[j] in _BWS:
            j += 1
        if j == n:
            if i > size_end:  # BWS comes only before ';' or '=', never at the end
                return i, "whitespace after a chunk extension with no chunk extension following"
            return i, "whitespace after the chunk size with no chunk extension following"
        if content[j] != 0x3B:  # ';'
            if j == i and content[j] == 0x0D:
                return j, "CR not followed by LF in the chunk-size line"
            if j == i and i > 0 and content[:i].isalnum() and content[j] in _TCHAR:
                return j, "invalid byte in the chunk size (not a hex digit)"
            return j, "invalid chunk extension: expected ';' or CRLF"
        j += 1
        while j < n and content[j] in _BWS:
            j += 1
        k = j
        while k < n and content[k] in _TCHAR:
            k += 1
        if k == j:
            return j, "invalid chunk extension: missing extension name after ';'"
        i = k
        while k < n and content[k] in _BWS:
            k += 1
        if k < n and content[k] == 0x3D:  # '='
            k += 1
            while k < n and content[k] in _BWS:
                k += 1
            if k < n and content[k] == 0x22:  # '"'
                end = _quoted_string_end(content, k)
                if end < 0:
                    return -end - 1, "unterminated or invalid quoted-string in a chunk extension"
                i = end
            else:
                v = k
                while v < n and content[v] in _TCHAR:
                    v += 1
                if v == k:
                    return k, "invalid chunk extension: missing value after '='"
                i = v
    return None


def _quoted_string_end(content: bytes, start: int) -> int:
    """Index after the closing quote, or -(index of the bad byte) - 1."""
    n = len(content)
    i = start + 1
    while i < n:
        byte = content[i]
        if byte == 0x22:
            return i + 1
        if byte == 0x5C:  # backslash: quoted-pair
            if i + 1 < n and content[i + 1] in _QUOTED_PAIR:
                i += 2
                continue
            return -(i + 1) - 1
        if byte not in _QDTEXT:
            return -i - 1
        i += 1
    return -n - 1


def _validate_field_line(content: bytes) -> tuple[int, str] | None:
    """First offending index in a trailer field line, and why; None if valid."""
    if content[0] in _BWS:
        return 0, "the trailer section starts with whitespace (obs-fold has no field to continue)"
    colon = content.find(b":")
    i = 0
    limit = len(content) if colon < 0 else colon
    while i < limit and content[i] in _TCHAR:
        i += 1
    if colon < 0:
        if i == len(content):
            return i, "trailer field without a colon"
        return i, "invalid byte in a trailer field name"
    if colon == 0:
        return 0, "trailer field with an empty name"
    if i < colon:
        if content[i:colon].strip(_BWS) == b"":
            return i, "whitespace between a trailer field name and the colon"
        return i, "invalid byte in a trailer field name"
    bad = _FIELD_VALUE_BAD.search(content, colon + 1)
    if bad is not None:
        return bad.start(), "control byte in a trailer field value"
    return None
