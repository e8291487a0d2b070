"""The timeline of one response: reads, chunk boundaries and SSE events over time, in bins.

Theory of operation
-------------------
A :class:`TimelineBuilder` is fed each read as the analyzer sees it, with the
chunk headers and SSE events that read completed. It keeps the items
themselves while there are few (up to ``exact_limit`` of each kind), and
always a fixed number of bins per kind, so that a stream of millions of chunks
costs the same memory as one of ten, and a drawing of it needs one element
per bin, never one per chunk.

The bins cover ``[0, width * bins)`` on the x axis (seconds since the request,
or stream offsets when the input has no times). Items come in x order; when
one falls beyond the last bin, every series is halved in resolution (bin pairs
merged, width doubled) until it fits. The final resolution is therefore within
a factor of two of ``span / bins``, without knowing the span in advance.

The largest gaps between reads (and the wait before the first byte) are kept
in a bounded heap, so the longest silences can be labelled.
"""

from __future__ import annotations

import heapq
import os
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..core.analyzer import Analyzer
from ..core.report import ChunkHeader, SseEvent
from .capture import Ended, Received, Sent, iter_capture

__all__ = ["EventMark", "Gap", "Timeline", "TimelineBuilder", "collect_timeline"]

BINS = 400
EXACT_LIMIT = 2000  # items of one kind kept one by one, and drawn as such
MAX_NAMES = (
    12  # SSE event names with a row of their own (terminal ones always); the rest share "(other)"
)
MAX_GAPS = 12
LIST_EDGE = 200  # chunk and event records kept at each end of the stream, for listing
_OTHER = "(other)"
_RAW_READ = 1 << 16  # raw files carry no reads: they are cut into reads of this size


@dataclass(frozen=True, slots=True)
class Gap:
    """A silence: no byte from ``start`` to ``end``; ``offset`` is the byte that ended it."""

    start: float
    end: float
    offset: int
    first_byte: bool = False  # the wait between the request and the first byte

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class EventMark:
    """One SSE event as drawn and listed: where and when, its name and a data preview."""

    index: int
    x: float
    t: float
    offset: int
    end: int
    name: str
    preview: str
    data_length: int
    id: str | None
    terminal: bool


@dataclass
class Timeline:
    """What :class:`TimelineBuilder` gathered: exact items when few, bins always."""

    axis: str  # "time" (seconds since the request) or "offset" (bytes)
    bin_width: float
    bins: int
    read_count: list[int]
    read_bytes: list[int]
    chunk_count: list[int]
    event_count: dict[str, list[int]]  # per name row, in order of first appearance
    reads: list[tuple[float, int, int]] | None  # (x, offset, size), None when binned
    chunks: list[tuple[float, int, int]] | None  # (x, offset, size)
    events: list[EventMark] | None
    names: list[str]  # the rows: names in order of first appearance, "(other)" last
    name_totals: dict[str, int]
    terminal_names: set[str]
    gaps: list[Gap]  # the longest, by start time
    first_events: list[EventMark]
    last_events: list[EventMark]
    total_reads: int
    total_chunks: int
    total_events: int
    x_max: float  # the largest x of any item (close included)
    head_x: float | None = None
    request_head: bytes = b""
    meta: dict[str, Any] = field(default_factory=dict)


class _Series:
    """Bins that all share one width and double it together."""

    def __init__(self, bins: int, width: float) -> None:
        self.n = bins
        self.width = width
        self.arrays: list[list[int]] = []

    def new(self) -> list[int]:
        array = [0] * self.n
        self.arrays.append(array)
        return array

    def index(self, x: float) -> int:
        x = max(x, 0.0)
        while x >= self.width * self.n:
            self._halve()
        return int(x / self.width)

    def _halve(self) -> None:
        half = self.n // 2
        for array in self.arrays:
            merged = [array[2 * i] + array[2 * i + 1] for i in range(half)]
            array[:half] = merged
            array[half:] = [0] * (self.n - half)
        self.width *= 2


class TimelineBuilder:
    """Collects a :class:`Timeline` read by read, in constant memory.

    ``axis`` is ``"time"`` (x = seconds since the request) or ``"offset"``
    (x = stream offset, for raw bytes without times).
    """

    def __init__(
        self, *, axis: str = "time", bins: int = BINS, exact_limit: int = EXACT_LIMIT
    ) -> None:
        self.axis = axis
        self.exact_limit = exact_limit
        self.series = _Series(bins, 0.001 if axis == "time" else 64.0)
        self.read_count = self.series.new()
        self.read_bytes = self.series.new()
        self.chunk_count = self.series.new()
        self.event_count: dict[str, list[int]] = {}
        self.name_totals: dict[str, int] = {}
        self.reads: list[tuple[float, int, int]] | None = []
        self.chunks: list[tuple[float, int, int]] | None = []
        self.events: list[EventMark] | None = []
        self.terminal_names: set[str] = set()
        self.first_events: list[EventMark] = []
        self.last_events: deque[EventMark] = deque(maxlen=LIST_EDGE)
        self.total_reads = self.total_chunks = self.total_events = 0
        self._gaps: list[tuple[float, float, float, int, bool]] = []
        self._prev_x: float | None = None
        self.x_max = 0.0

    def _x(self, t: float, offset: int) -> float:
        return t if self.axis == "time" else float(offset)

    def _gap(self, start: float, end: float, offset: int, first: bool) -> None:
        item = (end - start, start, end, offset, first)
        if len(self._gaps) < MAX_GAPS:
            heapq.heappush(self._gaps, item)
        elif item > self._gaps[0]:
            heapq.heapreplace(self._gaps, item)

    def read(self, t: float, offset: int, size: int) -> None:
        x = self._x(t, offset)
        if self.axis == "time":
            if self._prev_x is None:
                if x > 0:
                    self._gap(0.0, x, offset, True)
            elif x > self._prev_x:
                self._gap(self._prev_x, x, offset, False)
        self._prev_x = x
        i = self.series.index(x)
        self.read_count[i] += 1
        self.read_bytes[i] += size
        self.total_reads += 1
        self.x_max = max(self.x_max, x + (size if self.axis == "offset" else 0))
        if self.reads is not None:
            self.reads.append((x, offset, size))
            if len(self.reads) > self.exact_limit:
                self.reads = None

    def chunk(self, t: float, offset: int, size: int, count: int = 1) -> None:
        """``count`` chunk boundaries at (``t``, ``offset``); more than one when not kept."""
        x = self._x(t, offset)
        self.chunk_count[self.series.index(x)] += count
        self.total_chunks += count
        if self.chunks is not None:
            if count == 1:
                self.chunks.append((x, offset, size))
            if count != 1 or len(self.chunks) > self.exact_limit:
                self.chunks = None

    def event(self, event: SseEvent, terminal: bool) -> None:
        x = self._x(event.t, event.offset)
        name = event.name
        if name not in self.event_count:
            if len(self.event_count) >= MAX_NAMES and not terminal:
                name = _OTHER
            if name not in self.event_count:
                self.event_count[name] = self.series.new()
        self.event_count[name][self.series.index(x)] += 1
        self.name_totals[name] = self.name_totals.get(name, 0) + 1
        if terminal:
            self.terminal_names.add(name)
        mark = EventMark(
            index=event.index,
            x=x,
            t=event.t,
            offset=event.offset,
            end=event.end,
            name=name,
            preview=event.data[:160],
            data_length=event.data_length,
            id=event.id,
            terminal=terminal,
        )
        self.total_events += 1
        if len(self.first_events) < LIST_EDGE:
            self.first_events.append(mark)
        else:
            self.last_events.append(mark)
        if self.events is not None:
            self.events.append(mark)
            if len(self.events) > self.exact_limit:
                self.events = None

    def finish(self, x_end: float | None = None) -> Timeline:
        if x_end is not None:
            self.x_max = max(self.x_max, x_end)
            self.series.index(self.x_max)
        names = [n for n in self.event_count if n != _OTHER]
        if _OTHER in self.event_count:
            names.append(_OTHER)
        gaps = sorted(
            (Gap(start, end, offset, first) for _, start, end, offset, first in self._gaps),
            key=lambda g: g.start,
        )
        return Timeline(
            axis=self.axis,
            bin_width=self.series.width,
            bins=self.series.n,
            read_count=self.read_count,
            read_bytes=self.read_bytes,
            chunk_count=self.chunk_count,
            event_count=self.event_count,
            reads=self.reads,
            chunks=self.chunks,
            events=self.events,
            names=names,
            name_totals=self.name_totals,
            terminal_names=self.terminal_names,
            gaps=gaps,
            first_events=self.first_events,
            last_events=list(self.last_events),
            total_reads=self.total_reads,
            total_chunks=self.total_chunks,
            total_events=self.total_events,
            x_max=self.x_max,
        )


def _is_terminal(event: SseEvent, names: frozenset[str]) -> bool:
    return event.data == "[DONE]" or event.name in names


class _Feeder:
    """An analyzer with live events, whose chunk headers and events go to a builder."""

    def __init__(self, builder: TimelineBuilder, analyzer: Analyzer) -> None:
        self.builder = builder
        self.analyzer = analyzer
        self.offset = 0
        self.chunks_seen = 0
        self.head_x: float | None = None
        from ..core.sse import DEFAULT_TERMINAL_NAMES

        self.terminal = frozenset((*DEFAULT_TERMINAL_NAMES, *analyzer.terminal_events))

    def feed(self, t: float, data: bytes) -> None:
        analyzer, builder = self.analyzer, self.builder
        analyzer.feed(data, t)
        builder.read(t, self.offset, len(data))
        if self.head_x is None and analyzer.head is not None:
            self.head_x = t if builder.axis == "time" else float(analyzer.body_offset or 0)
        for event in analyzer.pop_events():
            if isinstance(event, ChunkHeader):
                if event.size:
                    builder.chunk(event.t, event.offset, event.size)
                    self.chunks_seen += 1
            else:
                builder.event(event, _is_terminal(event, self.terminal))
        # Chunks beyond the analyzer's kept records are counted, not listed:
        # they are binned at this read, which completed their size lines.
        unseen = analyzer.chunk_count - self.chunks_seen
        if unseen > 0:
            builder.chunk(t, self.offset + len(data), 0, unseen)
            self.chunks_seen += unseen
        self.offset += len(data)


def collect_timeline(
    path: str | os.PathLike[str],
    *,
    raw: bool = False,
    method: str = "GET",
    terminal_events: Iterable[str] = (),
    max_chunks_kept: int | None = 100_000,
    bins: int = BINS,
) -> Timeline:
    """The timeline of a capture file (or, with ``raw``, a file of raw server bytes).

    Reads the file once, record by record, in constant memory. Raises
    :class:`~chunkscope.CaptureFileError` for a capture that cannot be read,
    :class:`OSError` for a raw file that cannot be opened.
    """
    name = os.fspath(path)
    builder = TimelineBuilder(axis="offset" if raw else "time", bins=bins)
    request_head = bytearray()
    meta: dict[str, Any] = {}
    end_x: float | None = None
    feeder: _Feeder | None = None

    def start() -> _Feeder:
        how = meta.get("method")
        if not isinstance(how, str) or not how:
            how = bytes(request_head).split(b" ", 1)[0].decode("latin-1") or method
        return _Feeder(
            builder,
            Analyzer(
                request_method=how,
                terminal_events=terminal_events,
                live_events=True,
                max_chunks_kept=max_chunks_kept,
            ),
        )

    if raw:
        feeder = start()
        with open(name, "rb") as f:
            while data := f.read(_RAW_READ):
                feeder.feed(0.0, data)
    else:
        for record in iter_capture(name):
            if isinstance(record, dict):
                meta.update(record)
            elif isinstance(record, Sent):
                if len(request_head) < 16384:
                    request_head.extend(record.data[: 16384 - len(request_head)])
            elif isinstance(record, Received):
                if feeder is None:
                    feeder = start()
                feeder.feed(record.t, record.data)
            elif isinstance(record, Ended) and record.t is not None:
                end_x = record.t
    timeline = builder.finish(end_x)
    timeline.head_x = None if feeder is None else feeder.head_x
    timeline.request_head = bytes(request_head).split(b"\r\n\r\n", 1)[0]
    timeline.meta = meta
    return timeline
