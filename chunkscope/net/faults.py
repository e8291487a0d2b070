"""Fault injection at the HTTP-framing level: cut a stream where framing matters.

toxiproxy cuts TCP streams at byte counts; chunked-streaming bugs live at
framing positions, so a cut point can be named by what it breaks:

=====================  ==========================================================
point                  the stream is cut just before...
=====================  ==========================================================
``N`` (an integer)     absolute byte offset N (bytes 0..N-1 are sent)
``before-last-chunk``  the last-chunk ``0\\r\\n`` (the field failure)
``after-last-chunk``   the final CRLF, after ``0\\r\\n`` (state trailers)
``mid-chunk:N``        the middle of chunk N's data
``mid-size-line:N``    the second byte of chunk N's size line
``after-event:NAME``   the next chunk boundary after the first SSE event NAME
=====================  ==========================================================

Points are found by running the analyzer over the complete bytes, so they
work on any recorded or built response. It runs in one streaming pass (two
for ``after-event``) that keeps only what the point needs, so resolving a
point in a stream of millions of chunks costs little memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ..core.analyzer import Analyzer
from ..core.errors import UsageError
from ..core.report import SseEvent
from .reads import ReadTable
from .server import CLOSES, Script

__all__ = ["NAMED_POINTS", "apply_faults", "resolve_point", "truncate_reads"]

NAMED_POINTS = (
    "before-last-chunk",
    "after-last-chunk",
    "mid-chunk:N",
    "mid-size-line:N",
    "after-event:NAME",
)


_PIECE = 1 << 20  # bytes fed to the surveying analyzer at a time


def _survey(
    data: bytes, *, keep: int = 0, sse: bool = False, stop_at: int | None = None
) -> Analyzer:
    """An analyzer fed ``data`` (up to ``stop_at``) that keeps ``keep`` chunk records."""
    analyzer = Analyzer(live_events=sse, max_chunks_kept=keep, sse=sse or None)
    end = len(data) if stop_at is None else min(stop_at, len(data))
    for start in range(0, end, _PIECE):
        analyzer.feed(data[start : min(start + _PIECE, end)], 0.0)
        if analyzer.framing is not None and analyzer.framing.value != "chunked":
            break
        if analyzer.failed or analyzer.message_complete:
            break
    if analyzer.framing is None or analyzer.framing.value != "chunked":
        raise UsageError(
            f"named cut points need a chunked response; this one is {analyzer.framing or 'not a response'}"
        )
    return analyzer


def _index(point: str, count: int) -> int:
    try:
        index = int(point.split(":", 1)[1])
    except ValueError:
        raise UsageError(f"{point}: N must be a chunk index (0-based)") from None
    if not 0 <= index < count:
        raise UsageError(f"{point}: the stream has {count} data chunks (0-{count - 1})")
    return index


def _wanted_index(point: str) -> int:
    try:
        return max(int(point.split(":", 1)[1]), 0)
    except ValueError:
        raise UsageError(f"{point}: N must be a chunk index (0-based)") from None


def _first_event(data: bytes, name: str) -> SseEvent | None:
    analyzer = Analyzer(live_events=True, max_chunks_kept=0, sse=True)
    names: set[str] = set()
    for start in range(0, len(data), _PIECE):
        analyzer.feed(data[start : start + _PIECE], 0.0)
        for event in analyzer.pop_events():
            if isinstance(event, SseEvent):
                if event.name == name:
                    return event
                if len(names) < 50:
                    names.add(event.name)
        if analyzer.failed or analyzer.message_complete:
            break
    if analyzer.framing is None or analyzer.framing.value != "chunked":
        raise UsageError(
            f"named cut points need a chunked response; this one is {analyzer.framing or 'not a response'}"
        )
    raise UsageError(
        f"after-event:{name}: no SSE event named {name!r} (events: {', '.join(sorted(names)) or 'none'})"
    )


def resolve_point(data: bytes, point: str | int) -> int:
    """The absolute offset where ``point`` cuts ``data`` (bytes before it are sent)."""
    if isinstance(point, int) or point.isdigit():
        offset = int(point)
        if offset > len(data):
            raise UsageError(
                f"--truncate-at {offset} is beyond the {len(data)} bytes of the stream"
            )
        return offset
    if point in ("before-last-chunk", "after-last-chunk"):
        chunked = _survey(data).chunked
        last = None if chunked is None else chunked.last_chunk
        if last is None:
            raise UsageError(f"{point}: the stream has no last-chunk")
        return last.offset if point == "before-last-chunk" else last.data_offset
    if point.startswith(("mid-chunk:", "mid-size-line:")):
        chunked = _survey(data, keep=_wanted_index(point) + 1).chunked
        assert chunked is not None
        chunk = chunked.header(_index(point, chunked.count))
        if point.startswith("mid-size-line:"):
            return chunk.offset + 1
        return chunk.data_offset + max(chunk.size // 2, 1) if chunk.size > 1 else chunk.data_offset
    if point.startswith("after-event:"):
        event = _first_event(data, point.split(":", 1)[1])
        assert event is not None
        # The next chunk boundary at or after the event's end: where the
        # chunk holding the event's last byte ends, CRLF included.
        chunked = _survey(data, stop_at=event.end).chunked
        assert chunked is not None
        if chunked.state == "chunk-data":
            return event.end + chunked.remaining + 2
        if chunked.state == "chunk-data-end":
            return event.end + 2 - chunked.crlf_got
        return event.end
    raise UsageError(
        f"unknown cut point {point!r}; use an offset or one of {', '.join(NAMED_POINTS)}"
    )


def truncate_reads(
    reads: Sequence[tuple[float, bytes]], offset: int
) -> Sequence[tuple[float, bytes]]:
    """The reads cut to their first ``offset`` bytes, read boundaries and times kept."""
    if isinstance(reads, ReadTable):
        return reads.truncated(offset)
    out = []
    seen = 0
    for t, data in reads:
        if seen >= offset:
            break
        take = data[: offset - seen]
        out.append((t, take))
        seen += len(take)
    return tuple(out)


def apply_faults(
    script: Script,
    *,
    truncate_at: str | int | None = None,
    close: str | None = None,
    stall: float | None = None,
    slice: int | None = None,
    delay_per_write: float | None = None,
    speed: float | None = None,
) -> Script:
    """A copy of ``script`` with the faults applied (None leaves a setting as it is)."""
    reads = script.reads
    if truncate_at is not None:
        data = reads.data if isinstance(reads, ReadTable) else script.server_bytes  # no copy
        reads = truncate_reads(reads, resolve_point(data, truncate_at))
    if close is not None and close not in CLOSES:
        raise UsageError(f"unknown --close {close!r}; one of {', '.join(CLOSES)}")
    if slice is not None and slice < 1:
        raise UsageError("--slice wants a positive number of bytes")
    for name, value in (
        ("--stall", stall),
        ("--delay-per-write", delay_per_write),
        ("--speed", speed),
    ):
        if value is not None and value < 0:
            raise UsageError(f"{name} cannot be negative")
    return replace(
        script,
        reads=reads,
        close=close if close is not None else script.close,
        stall=stall if stall is not None else script.stall,
        slice=slice if slice is not None else script.slice,
        delay_per_write=delay_per_write if delay_per_write is not None else script.delay_per_write,
        speed=speed if speed is not None else script.speed,
    )
