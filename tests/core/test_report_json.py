"""Report.to_json writes chunk records from the chunk columns: the same text as json.dumps."""

from __future__ import annotations

import json

from chunkscope.core.analyzer import Analyzer
from chunkscope.core.report import Report

HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


def report_of(body: bytes, read: int, max_chunks_kept: int = 100_000) -> Report:
    analyzer = Analyzer(max_chunks_kept=max_chunks_kept)
    data = HEAD + body
    for k, i in enumerate(range(0, len(data), read)):
        analyzer.feed(data[i : i + read], 0.1 * k + 1 / 3)
    return analyzer.close("fin", 99.5)


def test_many_chunks_same_text_as_json_dumps() -> None:
    parts = []
    for i in range(3000):
        size = 1 + i % 300
        line = b"%x" % size
        if i % 7 == 0:
            line += b';name="q\\"uoted";x=1'
        if i % 11 == 0:
            line = b"00" + line  # leading zeros: the data offset is kept apart
        parts.append(line + b"\r\n" + bytes([65 + i % 26]) * size + b"\r\n")
    body = b"".join(parts) + b"0\r\nX-Trailer: 1\r\n\r\n"
    for read in (1 << 16, 999, 1 << 20):
        for kept in (100_000, 1000):
            report = report_of(body, read, max_chunks_kept=kept)
            text = report.to_json()
            assert text == json.dumps(report.to_dict(), indent=2)
            assert json.loads(text)["chunks_elided"] == 3000 - min(kept, 3000)


def test_other_indents_and_short_lists_unchanged() -> None:
    report = report_of(b"5\r\nhello\r\n" * 100 + b"0\r\n\r\n", 64)
    for indent in (None, 4):
        assert report.to_json(indent) == json.dumps(report.to_dict(), indent=indent)
    short = report_of(b"5\r\nhello\r\n0\r\n\r\n", 3)
    assert short.to_json() == json.dumps(short.to_dict(), indent=2)
