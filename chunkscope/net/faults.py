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
work on any recorded or built response.
"""

from __future__ import annotations

from dataclasses import replace

from ..core.analyzer import Analyzer
from ..core.errors import UsageError
from ..core.report import ChunkHeader, SseEvent
from .server import CLOSES, Script

__all__ = ["NAMED_POINTS", "apply_faults", "resolve_point", "truncate_reads"]

NAMED_POINTS = (
    "before-last-chunk",
    "after-last-chunk",
    "mid-chunk:N",
    "mid-size-line:N",
    "after-event:NAME",
)


def _survey(data: bytes) -> tuple[list[ChunkHeader], ChunkHeader | None, list[SseEvent]]:
    analyzer = Analyzer(live_events=True, max_chunks_kept=None, sse=True)
    analyzer.feed(data, 0.0)
    events = analyzer.pop_events()
    analyzer.close("unknown", None)
    chunks = [e for e in events if isinstance(e, ChunkHeader) and e.size > 0]
    last = analyzer.chunked.last_chunk if analyzer.chunked is not None else None
    sse = [e for e in events if isinstance(e, SseEvent)]
    if analyzer.framing is None or analyzer.framing.value != "chunked":
        raise UsageError(
            f"named cut points need a chunked response; this one is {analyzer.framing or 'not a response'}"
        )
    return chunks, last, sse


def _index(point: str, chunks: list[ChunkHeader]) -> int:
    try:
        index = int(point.split(":", 1)[1])
    except ValueError:
        raise UsageError(f"{point}: N must be a chunk index (0-based)") from None
    if not 0 <= index < len(chunks):
        raise UsageError(f"{point}: the stream has {len(chunks)} data chunks (0-{len(chunks) - 1})")
    return index


def resolve_point(data: bytes, point: str | int) -> int:
    """The absolute offset where ``point`` cuts ``data`` (bytes before it are sent)."""
    if isinstance(point, int) or point.isdigit():
        offset = int(point)
        if offset > len(data):
            raise UsageError(
                f"--truncate-at {offset} is beyond the {len(data)} bytes of the stream"
            )
        return offset
    chunks, last, sse = _survey(data)
    if point == "before-last-chunk":
        if last is None:
            raise UsageError("before-last-chunk: the stream has no last-chunk")
        return last.offset
    if point == "after-last-chunk":
        if last is None:
            raise UsageError("after-last-chunk: the stream has no last-chunk")
        return last.data_offset
    if point.startswith("mid-chunk:"):
        chunk = chunks[_index(point, chunks)]
        return chunk.data_offset + max(chunk.size // 2, 1) if chunk.size > 1 else chunk.data_offset
    if point.startswith("mid-size-line:"):
        return chunks[_index(point, chunks)].offset + 1
    if point.startswith("after-event:"):
        name = point.split(":", 1)[1]
        event = next((e for e in sse if e.name == name), None)
        if event is None:
            names = sorted({e.name for e in sse})
            raise UsageError(
                f"{point}: no SSE event named {name!r} (events: {', '.join(names) or 'none'})"
            )
        for chunk in chunks:
            end = chunk.data_offset + chunk.size + 2
            if end >= event.end:
                return end
        return event.end
    raise UsageError(
        f"unknown cut point {point!r}; use an offset or one of {', '.join(NAMED_POINTS)}"
    )


def truncate_reads(
    reads: tuple[tuple[float, bytes], ...], offset: int
) -> tuple[tuple[float, bytes], ...]:
    """The reads cut to their first ``offset`` bytes, read boundaries and times kept."""
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
        reads = truncate_reads(reads, resolve_point(script.server_bytes, truncate_at))
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
