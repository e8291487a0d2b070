"""A CR not followed by LF, wherever RFC 9112 requires CRLF, is malformed at once.

RFC 9112 §2.1 ends every line of the head, of a chunk-size line, after chunk
data and in the trailer section with CRLF. The byte after a CR that is not an
LF shows that no CRLF is coming, so the finding is at that byte as soon as it
arrives, with no further bytes: the analyzer must not wait for an LF that may
never come. Every case runs whole, byte by byte, and with trailing bytes, and
gives the same finding.
"""

from __future__ import annotations

import pytest

from chunkscope.core.analyzer import Analyzer

HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


def feed_stop(data: bytes, piece: int) -> Analyzer:
    """Feed ``data`` in pieces; the analyzer must have failed by the end, before any close."""
    analyzer = Analyzer()
    for i in range(0, len(data), piece):
        analyzer.feed(data[i : i + piece], 0.001 * i)
    return analyzer


@pytest.mark.parametrize(
    ("data", "state", "at", "found"),
    [
        (HEAD + b"F\rF", "chunk-size", len(HEAD) + 2, b"F"),
        (HEAD + b"\rX", "chunk-size", len(HEAD) + 1, b"X"),
        (HEAD + b"1a;name=v\rz", "chunk-size", len(HEAD) + 10, b"z"),
        (HEAD + b"F\r\r", "chunk-size", len(HEAD) + 2, b"\r"),
        (HEAD + b"5\r\nhello\rX", "chunk-data-end", len(HEAD) + 9, b"X"),
        (HEAD + b"5\r\nhello\r\n0\r\nX-A: a\rb", "trailers", len(HEAD) + 20, b"b"),
        (HEAD + b"5\r\nhello\r\n0\r\n\rX", "trailers", len(HEAD) + 14, b"X"),
        (b"HTTP/1.1 200 OK\rX", "status-line", 16, b"X"),
        (b"HTTP/1.1 200 OK\r\nContent-Type: a\rb", "headers", 33, b"b"),
        (b"HTTP/1.1 200 OK\r\nA: b\r\n\rX", "headers", 24, b"X"),
    ],
)
def test_bare_cr_is_malformed_at_the_next_byte_at_once(
    data: bytes, state: str, at: int, found: bytes
) -> None:
    for piece in (len(data), 1, 3):
        analyzer = feed_stop(data, piece)
        assert analyzer.failed, piece
        report = analyzer.close("fin", 9.0)
        assert report.verdict.value == "malformed"
        assert report.problem is not None
        assert (report.problem.state.value, report.problem.offset, report.problem.found) == (
            state,
            at,
            found,
        ), piece
        assert "CR" in report.problem.message or state == "chunk-data-end"
    # with more bytes after it (an LF later does not mend it), the same finding
    for tail in (b"\r\n", b"\r\n0\r\n\r\n", b"more\n"):
        analyzer = feed_stop(data + tail, 1)
        report = analyzer.close("fin", 9.0)
        assert report.problem is not None
        assert (report.problem.state.value, report.problem.offset) == (state, at)


def test_an_earlier_error_in_the_line_comes_first() -> None:
    # b"@" is not an extension name: reported at once the line shows it, before the CR
    for piece in (1, 100):
        report = feed_stop(HEAD + b"F;@\rX", piece).close("fin", 1.0)
        assert report.problem is not None
        assert report.problem.offset == len(HEAD) + 2
        assert report.problem.found == b"@"


def test_a_cr_at_the_end_of_what_arrived_still_waits() -> None:
    for data in (HEAD + b"F\r", b"HTTP/1.1 200 OK\r", HEAD + b"0\r\nX-A: 1\r"):
        analyzer = Analyzer()
        analyzer.feed(data, 0.0)
        assert not analyzer.failed
        assert analyzer.close("fin", 1.0).verdict.value == "truncated"
