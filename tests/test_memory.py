"""Constant memory: nothing grows with the stream except what the user asked to keep."""

from __future__ import annotations

import tracemalloc

from chunkscope import Analyzer

CH = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
EVENT = b"event: delta\ndata: " + b"x" * 40 + b"\n\n"
CHUNK = b"%x\r\n%s\r\n" % (len(EVENT), EVENT)


def peak_for(chunks: int, keep: int) -> int:
    block = CHUNK * 500
    analyzer = Analyzer(max_chunks_kept=keep)
    tracemalloc.start()
    analyzer.feed(CH, 0.0)
    for i in range(chunks // 500):
        analyzer.feed(block, i * 0.001)
    report = analyzer.close("fin", 1.0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert report.chunk_count == chunks
    assert report.sse is not None
    assert report.sse.events == chunks
    return peak


def test_peak_memory_does_not_grow_with_the_stream() -> None:
    small = peak_for(10_000, keep=1_000)
    large = peak_for(60_000, keep=1_000)  # six times the stream, 3.4 MB more body
    assert large < small * 1.5 + 256 * 1024


def test_kept_chunk_records_cost_about_16_bytes_each() -> None:
    base = peak_for(30_000, keep=0)
    kept = peak_for(30_000, keep=30_000)
    assert kept - base < 30_000 * 40
