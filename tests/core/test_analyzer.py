"""The analyzer on every framing state and malformation, three ways each.

Each case runs whole, one byte at a time, and split at random points; the
findings (verdict, state, offsets, missing bytes) must not depend on the split.
"""

from __future__ import annotations

import random
import re
from typing import Any

import h11
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chunkscope import Analyzer, CloseKind, UsageError, analyze_bytes

CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
H = len(CHUNKED)
SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
)


def feed_all(reads: list[bytes], close: str = "fin", method: str = "GET") -> dict[str, Any]:
    analyzer = Analyzer(request_method=method)
    for i, read in enumerate(reads):
        analyzer.feed(read, 0.001 * i)
    report = analyzer.close(close, 1.0)
    return comparable(report.to_dict())


def comparable(d: dict[str, Any]) -> dict[str, Any]:
    """The report minus what legitimately depends on how bytes were split into reads."""
    d = dict(d)
    d.pop("timing")
    d.pop("context")
    d["close"] = {k: v for k, v in d["close"].items() if k not in ("t", "idle")}
    d.pop("hints", None)  # read from the times, which differ with the split
    d["chunks"] = [{k: v for k, v in c.items() if k != "t"} for c in d["chunks"]]
    if d["last_chunk"]:
        d["last_chunk"] = {k: v for k, v in d["last_chunk"].items() if k != "t"}
    if d["problem"]:
        d["problem"] = {k: v for k, v in d["problem"].items() if k not in ("t", "idle")}
    if d["head"]:
        d["head"] = {k: v for k, v in d["head"].items() if k != "t"}
    if d["sse"]:
        for key in ("last_event", "terminal_event"):
            if d["sse"][key]:
                d["sse"][key] = {k: v for k, v in d["sse"][key].items() if k != "t"}
    return d


def three_ways(data: bytes, close: str = "fin", method: str = "GET") -> dict[str, Any]:
    whole = feed_all([data], close, method)
    bytewise = feed_all([data[i : i + 1] for i in range(len(data))], close, method)
    assert bytewise == whole
    rng = random.Random(len(data))
    cuts = (
        sorted(rng.sample(range(1, len(data)), min(5, max(len(data) - 1, 0))))
        if len(data) > 1
        else []
    )
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=False)]
    assert feed_all(pieces, close, method) == whole
    return whole


def problem(d: dict[str, Any]) -> tuple[str, str, int, bytes | None]:
    p = d["problem"]
    missing = None if p["missing"] is None else p["missing"].encode("latin-1")
    return d["verdict"], p["state"], p["offset"], missing


# -- complete messages -----------------------------------------------------


@pytest.mark.parametrize(
    ("body", "sizes", "body_bytes"),
    [
        (b"5\r\nhello\r\n0\r\n\r\n", [5], 5),
        (b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", [5, 6], 11),
        (b"0\r\n\r\n", [], 0),
        (b"000\r\n\r\n", [], 0),
        (b"00005\r\nhello\r\n0\r\n\r\n", [5], 5),
        (b"A\r\n0123456789\r\n0\r\n\r\n", [10], 10),
        (b"a\r\n0123456789\r\n0\r\n\r\n", [10], 10),
        (b"5;name=value\r\nhello\r\n0\r\n\r\n", [5], 5),
        (b"5 ; name = value\r\nhello\r\n0\r\n\r\n", [5], 5),
        (b'5;a="q \\" s";b\r\nhello\r\n0;last\r\n\r\n', [5], 5),
        (b"5\r\nhello\r\n0\r\nExpires: never\r\nX-Sum: 1\r\n\r\n", [5], 5),
        (b"5\r\nhe\r\nl\r\n0\r\n\r\n", [5], 5),  # CRLF inside data is data
    ],
)
def test_complete_chunked(body: bytes, sizes: list[int], body_bytes: int) -> None:
    d = three_ways(CHUNKED + body)
    assert d["verdict"] == "complete"
    assert d["framing"] == "chunked"
    assert [c["size"] for c in d["chunks"]] == sizes
    assert d["chunk_count"] == len(sizes)
    assert d["body_bytes"] == body_bytes
    assert d["problem"] is None
    assert d["last_chunk"]["size"] == 0


def test_chunk_records_locate_every_byte() -> None:
    body = b"5;x=1\r\nhello\r\n10\r\n" + b"y" * 16 + b"\r\n0\r\nT: v\r\n\r\n"
    d = three_ways(CHUNKED + body)
    c0, c1 = d["chunks"]
    assert (c0["index"], c0["offset"], c0["size"], c0["ext"], c0["data_offset"]) == (
        0,
        H,
        5,
        ";x=1",
        H + 7,
    )
    assert (c1["index"], c1["offset"], c1["size"], c1["ext"], c1["data_offset"]) == (
        1,
        H + 14,
        16,
        "",
        H + 18,
    )
    assert d["last_chunk"]["offset"] == H + 36
    assert d["head"]["trailers"] == [["T", "v"]]


def test_trailing_bytes_after_complete_message_are_counted_not_parsed() -> None:
    d = three_ways(CHUNKED + b"5\r\nhello\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n")
    assert d["verdict"] == "complete"
    assert d["extra_bytes"] == 17
    assert any("after the end" in n["message"] for n in d["notes"])


def test_content_length_complete_and_extra() -> None:
    d = three_ways(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloXYZ")
    assert (d["verdict"], d["framing"], d["body_bytes"], d["extra_bytes"]) == (
        "complete",
        "content-length",
        5,
        3,
    )


def test_content_length_zero_and_no_body_statuses() -> None:
    assert three_ways(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")["verdict"] == "complete"
    for status in (b"204 No Content", b"304 Not Modified"):
        d = three_ways(b"HTTP/1.1 " + status + b"\r\nTransfer-Encoding: chunked\r\n\r\n")
        assert (d["verdict"], d["framing"]) == ("complete", "no-body")
    d = three_ways(CHUNKED, method="HEAD")
    assert (d["verdict"], d["framing"]) == ("complete", "no-body")


def test_interim_responses_are_skipped() -> None:
    data = (
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        + CHUNKED
        + b"0\r\n\r\n"
    )
    d = three_ways(data)
    assert d["verdict"] == "complete"
    assert [i["status"] for i in d["head"]["interim"]] == [100, 103]
    assert d["head"]["offset"] == data.index(CHUNKED)


@pytest.mark.parametrize(
    ("close", "verdict"),
    [
        ("fin", "complete"),
        ("tls-close-notify", "complete"),
        ("unknown", "truncated"),  # no close observed: the end of the body is unknown
        ("tls-no-close-notify", "truncated"),
        ("reset", "truncated"),
        ("timeout", "truncated"),
        ("interrupted", "truncated"),
    ],
)
def test_close_delimited_body_depends_on_how_it_closed(close: str, verdict: str) -> None:
    d = three_ways(b"HTTP/1.1 200 OK\r\n\r\nhello", close=close)
    assert (d["verdict"], d["framing"], d["body_bytes"]) == (verdict, "close-delimited", 5)
    if verdict == "truncated":
        assert problem(d) == ("truncated", "body", 24, None)
    if close == "unknown":
        assert "end of the body is unknown" in d["problem"]["message"]


def test_a_complete_framed_response_closed_by_chunkscope_stays_complete() -> None:
    d = three_ways(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", close="unknown")
    assert d["verdict"] == "complete"


# -- truncation --------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "state", "missing", "chunk"),
    [
        (b"", "chunk-boundary", b"0\r\n\r\n", 0),
        (b"5\r\nhello\r\n", "chunk-boundary", b"0\r\n\r\n", 1),  # the field case
        (b"5", "chunk-size", None, 0),
        (b"5\r", "chunk-size", None, 0),
        (b"5;ext", "chunk-size", None, 0),
        (b"5\r\n", "chunk-data", None, 0),
        (b"5\r\nhel", "chunk-data", None, 0),
        (b"5\r\nhello", "chunk-data-end", b"\r\n0\r\n\r\n", 0),
        (b"5\r\nhello\r", "chunk-data-end", b"\n0\r\n\r\n", 0),
        (b"5\r\nhello\r\n0", "chunk-size", b"\r\n\r\n", 1),
        (b"5\r\nhello\r\n0\r", "chunk-size", b"\n\r\n", 1),
        (b"5\r\nhello\r\n0\r\n", "trailers", b"\r\n", 1),
        (b"5\r\nhello\r\n0\r\n\r", "trailers", b"\n", 1),
        (b"5\r\nhello\r\n0\r\nX-T: 1\r\n", "trailers", b"\r\n", 1),
        (b"5\r\nhello\r\n0\r\nX-T: 1", "trailers", None, 1),
    ],
)
def test_truncated_chunked(body: bytes, state: str, missing: bytes | None, chunk: int) -> None:
    data = CHUNKED + body
    d = three_ways(data)
    assert problem(d) == ("truncated", state, len(data), missing)
    assert d["problem"]["chunk"] == chunk


def test_truncated_chunk_data_counts_what_is_owed() -> None:
    d = three_ways(CHUNKED + b"a\r\n0123")
    assert d["problem"]["remaining"] == 6
    assert d["body_bytes"] == 4  # received, of the 10 declared


def test_truncated_head() -> None:
    assert problem(three_ways(b"HTTP/1.1 20")) == ("truncated", "status-line", 11, None)
    assert problem(three_ways(b"HTTP/1.1 200 OK\r\nA: b")) == ("truncated", "headers", 21, None)
    assert problem(three_ways(b"HTTP/1.1 200 OK\r\nA: b\r\n")) == (
        "truncated",
        "headers",
        23,
        b"\r\n",
    )
    assert problem(three_ways(b"HTTP/1.1 200 OK\r\nA: b\r\n\r")) == (
        "truncated",
        "headers",
        24,
        b"\n",
    )


def test_truncated_content_length() -> None:
    d = three_ways(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello")
    assert problem(d) == ("truncated", "body", 44, None)
    assert d["problem"]["remaining"] == 5
    assert "5 of 10" in d["problem"]["message"]


def test_no_response() -> None:
    d = feed_all([], close="reset")
    assert d["verdict"] == "no-response"
    assert d["problem"]["state"] == "status-line"
    assert d["close"]["kind"] == "reset"


# -- malformation ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "state", "bad_at", "found"),
    [
        (b"\r\n", "chunk-size", 0, b"\r"),  # empty size
        (b"x\r\n", "chunk-size", 0, b"x"),
        (b" 5\r\nhello\r\n0\r\n\r\n", "chunk-size", 0, b" "),
        (b"0x5\r\nhello\r\n0\r\n\r\n", "chunk-size", 1, b"x"),
        (b"+5\r\nhello\r\n", "chunk-size", 0, b"+"),
        (b"-5\r\nhello\r\n", "chunk-size", 0, b"-"),
        (b"5g\r\nhello\r\n", "chunk-size", 1, b"g"),
        (b"5 \r\nhello\r\n", "chunk-size", 1, b" "),
        (b"5\nhello\r\n", "chunk-size", 1, b"\n"),
        (b"5\rhello\r\n", "chunk-size", 2, b"h"),  # the byte after the CR shows it is bare
        (b"5;\r\nhello\r\n", "chunk-size", 2, b"\r"),
        (b"5;a=\r\nhello\r\n", "chunk-size", 4, b"\r"),
        (b'5;a="open\r\nhello\r\n', "chunk-size", 9, b"\r"),
        (b"5;a\x00\r\nhello\r\n", "chunk-size", 3, b"\x00"),
        (b"ffffffffffffffffffff\r\n", "chunk-size", 0, b"ffffffffffffffffffff"),
        (b"5\r\nhelloXX0\r\n\r\n", "chunk-data-end", 8, b"X"),
        (b"5\r\nhello\n0\r\n\r\n", "chunk-data-end", 8, b"\n"),
        (b"5\r\nhello\rX", "chunk-data-end", 9, b"X"),
        (b"0\r\nBad Trailer\r\n\r\n", "trailers", 6, b" "),
        (b"0\r\nX : 1\r\n\r\n", "trailers", 4, b" "),
        (b"0\r\n folded\r\n\r\n", "trailers", 3, b" "),
        (b"0\r\n\n", "trailers", 3, b"\n"),
    ],
)
def test_malformed_chunked(body: bytes, state: str, bad_at: int, found: bytes) -> None:
    d = three_ways(CHUNKED + body)
    assert d["verdict"] == "malformed"
    p = d["problem"]
    assert (p["state"], p["offset"]) == (state, H + bad_at)
    assert p["found"].encode("latin-1") == found
    assert p["expected"]
    assert f"byte {H + bad_at}" in p["message"]


def test_endless_size_line_is_bounded() -> None:
    analyzer = Analyzer(max_line=64)
    analyzer.feed(CHUNKED, 0.0)
    reads = 0
    while not analyzer.failed and reads < 1000:
        analyzer.feed(b"1" * 100, 0.0)
        reads += 1
    assert reads == 1
    report = analyzer.close("fin", 1.0)
    assert report.problem is not None
    assert report.problem.state.value == "chunk-size"
    assert report.problem.offset == H + 65
    assert "longer than 64" in report.problem.message


def test_header_flood_is_bounded() -> None:
    analyzer = Analyzer(max_head=1024)
    analyzer.feed(b"HTTP/1.1 200 OK\r\n", 0.0)
    for _ in range(100):
        analyzer.feed(b"X-Flood: " + b"a" * 90 + b"\r\n", 0.0)
        if analyzer.failed:
            break
    report = analyzer.close("fin", 1.0)
    assert report.verdict.value == "malformed"
    assert report.problem is not None
    assert report.problem.state.value == "headers"
    assert report.problem.offset == 1024


def test_chunk_size_limit_is_configurable() -> None:
    report = analyze_bytes(CHUNKED + b"1000\r\n", max_chunk_size=4095)
    assert report.verdict.value == "malformed"
    assert report.problem is not None
    assert report.problem.offset == H
    assert "exceeds the limit" in report.problem.message


@pytest.mark.parametrize(
    ("data", "state", "offset"),
    [
        (b"<html>", "status-line", 0),
        (b"HTTP/2 200\r\n\r\n", "status-line", 6),
        (b"HTTP/1.1 20 OK\r\n\r\n", "status-line", 11),
        (b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", "headers", 20),
        (b"HTTP/1.1 200 OK\r\nName : x\r\n\r\n", "headers", 21),
        (b"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", "headers", 24),
        (b"HTTP/1.1 200 OK\r\nA: b\x00c\r\n\r\n", "headers", 21),
        # Content-Length findings point at the first wrong byte of the value
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello", "headers", 36),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "headers", 33),
        # ...and Transfer-Encoding ones at the coding: the second chunked, or where one belongs
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", "headers", 45),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding:  chunked\r\n\r\n",
            "headers",
            65,
        ),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\nContent-Length: 5\r\n\r\nhello", "headers", 35),
        (b"HTP/1.1 200 OK\r\n\r\n", "status-line", 2),
        (b"HTTP/01.1 200 OK\r\n\r\n", "status-line", 6),
        (b"HTTP/1.1\t200 OK\r\n\r\n", "status-line", 8),
        (b"HTTP/1.1  200 OK\r\n\r\n", "status-line", 9),
        (b"HTTP/1.1 2 OK\r\n\r\n", "status-line", 10),
        (b"HTTP/1.1 200 OK\r\nFoo: 1\rBar: 2\r\n\r\n", "headers", 24),  # the byte after the CR
        (b"HTTP/1.1 200 OK\r\n Host: foo\r\n\r\n", "headers", 17),
    ],
)
def test_malformed_head(data: bytes, state: str, offset: int) -> None:
    d = three_ways(data)
    assert (d["verdict"], d["problem"]["state"], d["problem"]["offset"]) == (
        "malformed",
        state,
        offset,
    )


def test_lenient_head_forms_are_accepted_with_notes() -> None:
    d = three_ways(b"HTTP/1.1 200\r\nTransfer-Encoding: chunked\r\nX: a\r\n  b\r\n\r\n0\r\n\r\n")
    assert d["verdict"] == "complete"
    messages = " ".join(n["message"] for n in d["notes"])
    assert "obs-fold" in messages
    assert "reason phrase" in messages
    assert ["X", "a b"] in d["head"]["headers"]


def test_every_obs_fold_line_of_a_trailer_joins_its_value() -> None:
    d = three_ways(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"1\r\nx\r\n0\r\nA: 1\r\n 2\r\n\t3\r\nB: b\r\n\r\n"
    )
    assert d["verdict"] == "complete"
    assert d["head"]["trailers"] == [["A", "1 2 3"], ["B", "b"]]
    assert [n["message"] for n in d["notes"]].count(
        "obs-fold (line folding) in a trailer field (accepted, RFC 9112 §5.2)"
    ) == 2


def test_bare_lf_in_the_head_is_malformed_and_says_who_tolerates_it() -> None:
    d = three_ways(b"HTTP/1.1 200 OK\nContent-Length: 0\n\n")
    assert (d["verdict"], d["problem"]["state"], d["problem"]["offset"]) == (
        "malformed",
        "status-line",
        15,
    )
    assert "h11" in d["problem"]["tolerated_by"]
    d = three_ways(b"HTTP/1.1 200 OK\r\nA: b\nC: d\r\n\r\n")
    assert (d["verdict"], d["problem"]["state"], d["problem"]["offset"]) == (
        "malformed",
        "headers",
        21,
    )


def test_transfer_encoding_rules() -> None:
    d = three_ways(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n"
    )
    assert (d["verdict"], d["framing"]) == ("complete", "chunked")
    assert any("Transfer-Encoding wins" in n["message"] for n in d["notes"])
    d = three_ways(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc")
    assert (d["verdict"], d["framing"], d["body_bytes"]) == ("complete", "close-delimited", 3)


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked,\t foo \r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX: y\r\nTransfer-Encoding:foo,\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\xa0\r\n\r\n",  # NBSP is not OWS
    ],
)
def test_the_note_on_a_last_coding_that_is_not_chunked_points_at_it(head: bytes) -> None:
    d = three_ways(head + b"abc")
    assert (d["verdict"], d["framing"], d["body_bytes"]) == ("complete", "close-delimited", 3)
    note = next(n for n in d["notes"] if "without chunked last" in n["message"])
    last = head.rfind(b"foo") if b"foo" in head else head.rfind(b"chunked")
    assert note["offset"] == last


def test_tolerated_by_says_who_accepts_a_deviation() -> None:
    report = analyze_bytes(CHUNKED + b"5\nhello\r\n0\r\n\r\n")
    assert report.problem is not None
    assert report.problem.tolerated_by is not None
    assert "curl" in report.problem.tolerated_by


# -- SSE ---------------------------------------------------------------------


def sse_chunks(*events: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in events)


def test_field_case_every_event_arrived_only_framing_cut() -> None:
    data = SSE_HEAD + sse_chunks(b"event: delta\ndata: {}\n\n", b"event: done\ndata: [DONE]\n\n")
    d = three_ways(data, close="tls-no-close-notify")
    assert problem(d) == ("truncated", "chunk-boundary", len(data), b"0\r\n\r\n")
    assert d["sse"]["events"] == 2
    assert d["sse"]["terminal_seen"] is True
    assert d["sse"]["partial_event"] is None
    assert d["sse"]["complete"] is True
    assert d["sse"]["last_event"]["name"] == "done"


def test_cut_mid_event_is_told_apart() -> None:
    data = SSE_HEAD + sse_chunks(b"event: delta\ndata: {}\n\n", b'event: delta\ndata: {"a"')
    d = three_ways(data)
    assert problem(d) == ("truncated", "chunk-boundary", len(data), b"0\r\n\r\n")
    assert d["sse"]["terminal_seen"] is False
    assert d["sse"]["partial_event"] is not None
    assert d["sse"]["complete"] is False


def test_sse_over_content_length() -> None:
    body = b"data: a\n\ndata: [DONE]\n\n"
    data = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n\r\n%s" % (
        len(body),
        body,
    )
    d = three_ways(data)
    assert d["verdict"] == "complete"
    assert d["sse"]["events"] == 2
    assert d["sse"]["terminal_seen"] is True


def test_live_events_in_stream_order() -> None:
    analyzer = Analyzer(live_events=True)
    analyzer.feed(SSE_HEAD + sse_chunks(b"data: 1\n\n", b"data: 2\n\n") + b"0\r\n\r\n", 0.5)
    events = analyzer.pop_events()
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["ChunkHeader", "SseEvent", "ChunkHeader", "SseEvent", "ChunkHeader"]
    assert analyzer.pop_events() == []
    assert analyzer.message_complete


# -- misuse ------------------------------------------------------------------


def test_misuse_raises_usage_error() -> None:
    analyzer = Analyzer()
    analyzer.close("fin", 0.0)
    with pytest.raises(UsageError, match="after close"):
        analyzer.feed(b"x", 0.0)
    with pytest.raises(UsageError, match="twice"):
        analyzer.close("fin", 0.0)
    with pytest.raises(ValueError, match="not-a-kind"):
        Analyzer().close("not-a-kind", 0.0)


def test_times_and_idle_are_reported() -> None:
    analyzer = Analyzer()
    analyzer.feed(CHUNKED, 0.10)
    analyzer.feed(b"5\r\nhello\r\n", 0.25)
    report = analyzer.close(CloseKind.TLS_NO_CLOSE_NOTIFY, 2.25)
    assert report.problem is not None
    assert report.problem.t == 2.25
    assert report.problem.idle == pytest.approx(2.0)
    assert report.close.idle == pytest.approx(2.0)
    assert report.chunks[0].t == 0.25
    assert report.timing["largest_gap"]["offset"] == H


def test_chunk_records_beyond_the_limit_are_counted_not_kept() -> None:
    report = analyze_bytes(CHUNKED + b"1\r\nx\r\n" * 50 + b"0\r\n\r\n", max_chunks_kept=10)
    assert report.chunk_count == 50
    assert len(report.chunks) == 10
    assert report.chunks_elided == 40
    assert report.verdict.value == "complete"


# -- properties ----------------------------------------------------------------

ext_strategy = st.sampled_from([b"", b";a", b";a=b", b' ; n = "v\\"w"', b";x=1;y"])


@st.composite
def chunked_messages(draw: Any) -> tuple[bytes, bytes, list[tuple[str, int, int]]]:
    """A valid chunked response, its body, and the byte ranges of its parts."""
    body = draw(st.binary(max_size=300))
    cuts = sorted(draw(st.lists(st.integers(1, max(len(body) - 1, 1)), max_size=8, unique=True)))
    cuts = [c for c in cuts if 0 < c < len(body)]
    pieces = (
        [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=False)] if body else []
    )
    out = bytearray(CHUNKED)
    parts: list[tuple[str, int, int]] = [("head", 0, H)]
    for piece in pieces:
        line = b"%s%x%s\r\n" % (b"0" * draw(st.integers(0, 2)), len(piece), draw(ext_strategy))
        parts.append(("size", len(out), len(out) + len(line)))
        out += line
        parts.append(("data", len(out), len(out) + len(piece)))
        out += piece
        parts.append(("crlf", len(out), len(out) + 2))
        out += b"\r\n"
    last = b"0" + draw(ext_strategy) + b"\r\n"
    parts.append(("last", len(out), len(out) + len(last)))
    out += last
    trailers = b"".join(
        draw(st.lists(st.sampled_from([b"X-A: 1\r\n", b"Sum: abc \r\n"]), max_size=2))
    )
    parts.append(("trailers", len(out), len(out) + len(trailers) + 2))
    out += trailers + b"\r\n"
    return bytes(out), body, parts


def expected_state(parts: list[tuple[str, int, int]], cut: int) -> str:
    for kind, start, end in parts:
        if kind == "head" and cut < end:
            return "status-line" if cut < CHUNKED.index(b"\r\n") + 2 else "headers"
        if kind in ("size", "last") and cut == start:
            return "chunk-boundary"
        if kind in ("size", "last") and start < cut < end:
            return "chunk-size"
        if kind == "data" and start <= cut < end:
            return "chunk-data"
        if kind == "crlf" and start <= cut < end:
            return "chunk-data-end"
        if kind == "trailers" and start <= cut < end:
            return "trailers"
    raise AssertionError("cut beyond the message")


def dechunk(data: bytes, report_chunks: Any) -> bytes:
    return b"".join(data[c.data_offset : c.data_offset + c.size] for c in report_chunks)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(chunked_messages())
def test_valid_encoding_round_trips_complete(message: tuple[bytes, bytes, Any]) -> None:
    data, body, _ = message
    report = analyze_bytes(data, close="fin")
    assert report.verdict.value == "complete", report.problem
    assert report.body_bytes == len(body)
    assert dechunk(data, report.chunks) == body


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(chunked_messages())
def test_every_proper_prefix_is_truncated_where_it_stops(message: tuple[bytes, bytes, Any]) -> None:
    data, _, parts = message
    for cut in range(1, len(data)):
        report = analyze_bytes(data[:cut], close="fin")
        assert report.verdict.value == "truncated", (cut, report.problem)
        assert report.problem is not None
        assert report.problem.offset == cut
        assert report.problem.state.value == expected_state(parts, cut), cut


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(
    chunked_messages(),
    st.lists(st.integers(0, 400), max_size=12),
    st.binary(max_size=8),
    st.integers(0, 400),
)
def test_any_split_gives_the_same_report(
    message: tuple[bytes, bytes, Any], cuts: list[int], junk: bytes, where: int
) -> None:
    data, _, _ = message
    where = min(where, len(data))
    data = data[:where] + junk + data[where:]  # valid or not, the split must not matter
    points = sorted({c for c in cuts if 0 < c < len(data)})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=False)]
    assert feed_all(pieces) == feed_all([data])


@settings(max_examples=300)
@given(st.binary(max_size=200), st.sampled_from([b"", CHUNKED, SSE_HEAD, b"HTTP/1.1 200 OK\r\n"]))
def test_arbitrary_bytes_never_raise(data: bytes, prefix: bytes) -> None:
    report = analyze_bytes(prefix + data, close="reset")
    assert report.verdict.value in ("complete", "truncated", "malformed", "no-response")
    report.to_json()


# -- differential: h11 on the same bytes ---------------------------------------------


def h11_outcome(data: bytes) -> tuple[str, bytes]:
    """What h11 (and so httpx) concludes: ("complete", body) or ("error", partial body)."""
    conn = h11.Connection(our_role=h11.CLIENT)
    conn.send(h11.Request(method="GET", target="/", headers=[("Host", "example")]))
    conn.send(h11.EndOfMessage())
    body = bytearray()
    try:
        conn.receive_data(data)
        conn.receive_data(b"")
        while True:
            event = conn.next_event()
            if isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                return "complete", bytes(body)
            elif event is h11.NEED_DATA or isinstance(event, h11.ConnectionClosed):
                return "error", bytes(body)
    except h11.RemoteProtocolError:
        return "error", bytes(body)


def h11_differs_by_design(data: bytes) -> bool:
    """RFC 9112 §7.1.1 allows BWS before ';' in a chunk extension; h11 does not."""
    return re.search(rb"[0-9a-fA-F][ \t]+;", data) is not None


@settings(max_examples=120, suppress_health_check=[HealthCheck.too_slow])
@given(chunked_messages(), st.data())
def test_differential_against_h11(message: tuple[bytes, bytes, Any], data_strategy: Any) -> None:
    data, body, _ = message
    if h11_differs_by_design(data):
        assert h11_outcome(data)[0] == "error"
        return
    assert h11_outcome(data) == ("complete", body)
    cut = data_strategy.draw(st.integers(H, len(data) - 1))
    verdict, _ = h11_outcome(data[:cut])
    assert verdict == "error"
    assert analyze_bytes(data[:cut], close="fin").verdict.value == "truncated"


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(chunked_messages(), st.integers(0, 10_000), st.binary(min_size=1, max_size=3))
def test_differential_on_mutations_we_accept_h11_accepts(
    message: tuple[bytes, bytes, Any], where: int, junk: bytes
) -> None:
    data, _, _ = message
    where = H + where % (len(data) - H)
    mutated = data[:where] + junk + data[where + 1 :]
    report = analyze_bytes(mutated, close="fin")
    if (
        report.verdict.value == "complete"
        and report.extra_bytes == 0
        and not h11_differs_by_design(mutated)
    ):
        verdict, h11_body = h11_outcome(mutated)
        assert verdict == "complete"
        assert h11_body == dechunk(mutated, report.chunks)


# -- non-HTTP replies and heads: the split never matters ------------------------------

_HEAD_PIECES = [
    b"HTTP/1.1 200 OK\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\n",
    b"<!DOCTYPE html>\n",
    b"<html><body>502 Bad Gateway</body></html>\n",
    b"Content-Type: text/html\r\n",
    b"Content-Length: 3\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"X-Folded: a\r\n  b\r\n",
    b"Bad Name: v\r\n",
    b"Server: x\n",
    b"\r\n",
    b"\n",
    b"SSH-2.0-OpenSSH_9.6\r\n",
    b"\x16\x03\x01\x00\xa5\x01",  # a TLS ClientHello where HTTP was expected
]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(_HEAD_PIECES) | st.binary(max_size=6), min_size=1, max_size=8),
    st.lists(st.integers(1, 300), max_size=10),
)
def test_any_split_of_a_head_or_a_non_http_reply_gives_the_same_report(
    pieces: list[bytes], cuts: list[int]
) -> None:
    data = b"".join(pieces)
    points = sorted({c for c in cuts if 0 < c < len(data)})
    reads = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=False)]
    whole = feed_all([data])
    assert feed_all(reads) == whole
    assert feed_all([data[i : i + 1] for i in range(len(data))]) == whole


@pytest.mark.parametrize(
    "reply",
    [
        b"<!DOCTYPE html>\n<html><body>Bad gateway</body></html>\n",
        b"<html>\r\n<body>502</body>\r\n</html>\r\n",
        b"SSH-2.0-OpenSSH_9.6\r\n",
        b"hello\n",
    ],
)
def test_a_non_http_reply_is_malformed_at_its_first_byte(reply: bytes) -> None:
    d = three_ways(reply)
    assert d["verdict"] == "malformed"
    assert (d["problem"]["state"], d["problem"]["offset"]) == ("status-line", 0)
    assert d["problem"]["tolerated_by"] is None


@pytest.mark.parametrize(
    ("data", "offset", "found"),
    [
        # the first value that differs from the first, not a digit inside an earlier one
        (b"HTTP/1.1 200 OK\r\nContent-Length:  13, 3\r\n\r\nok", 38, b"3"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0x2\r\n\r\nok", 34, b"x2"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2,\r\n\r\nok", 34, b","),
        # obs-fold joined the value's lines: positions in it are not the wire's
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n 2\r\n\r\nok", 17, b"1 2"),
    ],
)
def test_content_length_findings_point_at_the_wrong_byte(
    data: bytes, offset: int, found: bytes
) -> None:
    analyzer = Analyzer()
    analyzer.feed(data, 0.0)
    report = analyzer.close("fin", 1.0)
    assert report.problem is not None
    assert (report.problem.offset, report.problem.found) == (offset, found)


@pytest.mark.parametrize(
    ("value", "offset"),
    [
        (b"9" * 4301, 33),  # more digits than CPython's int() takes
        (b"5, " + b"9" * 5000, 36),  # in a list, at the value that is too long
    ],
)
def test_a_content_length_too_long_to_read_is_malformed_at_its_value(
    value: bytes, offset: int
) -> None:
    d = three_ways(b"HTTP/1.1 200 OK\r\nContent-Length: " + value + b"\r\n\r\nok")
    assert (d["verdict"], d["problem"]["state"], d["problem"]["offset"]) == (
        "malformed",
        "headers",
        offset,
    )
    assert d["problem"]["expected"] == "Content-Length: at most 4300 digits"


@pytest.mark.parametrize(
    "value", [b"9" * 4300, b"0" * 5000 + b"7", b"0" * 5000 + b"7, 7", b"7, " + b"0" * 5000 + b"8"]
)
def test_every_content_length_int_can_read_is_kept_whole(value: bytes) -> None:
    d = three_ways(b"HTTP/1.1 200 OK\r\nContent-Length: " + value + b"\r\n\r\nok")
    if value.endswith(b"8"):  # 7 and 8 conflict, at the 8's first digit
        assert (d["verdict"], d["problem"]["state"]) == ("malformed", "headers")
        assert d["problem"]["offset"] == 36
    else:
        assert (d["verdict"], d["problem"]["state"]) == ("truncated", "body")
