"""Content codings: gzip, x-gzip, deflate (zlib and raw), br, zstd; cut at every structural point."""

from __future__ import annotations

import gzip
import sys
import zlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chunkscope.core.analyzer import Analyzer
from chunkscope.core.codings import ContentDecoder, parse_content_coding
from chunkscope.testing import sse_event

BODY = b"".join(b'event: delta\ndata: {"i": %d}\n\n' % i for i in range(300)) + b"data: [DONE]\n\n"


def gzip_member(data: bytes, name: bytes | None = None) -> bytes:
    """A gzip member, optionally with FNAME (the header's zero-terminated optional field)."""
    if name is None:
        return gzip.compress(data, mtime=0)
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    deflated = c.compress(data) + c.flush()
    header = b"\x1f\x8b\x08\x08" + b"\0\0\0\0\x00\x03" + name + b"\0"
    trailer = zlib.crc32(data).to_bytes(4, "little") + (len(data) & 0xFFFFFFFF).to_bytes(
        4, "little"
    )
    return header + deflated + trailer


def raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def decode(
    coding: str, encoded: bytes, step: int | None = None, base: int = 0
) -> tuple[bytes, ContentDecoder]:
    out: list[tuple[bytes, int]] = []
    d = ContentDecoder(
        parse_content_coding([coding]), lambda data, offset, t: out.append((data, offset))
    )
    step = step or max(len(encoded), 1)
    for i in range(0, len(encoded), step):
        d.feed(encoded[i : i + step], base + i, 0.0)
    d.finish(base + len(encoded))
    decoded = b""
    for data, offset in out:
        assert offset == len(decoded)  # sink offsets count in the decoded stream
        decoded += data
    return decoded, d


ENCODINGS = {
    "gzip": gzip_member(BODY),
    "x-gzip": gzip_member(BODY, b"events.txt"),
    "deflate": zlib.compress(BODY),
    "deflate-raw": raw_deflate(BODY),
}


@pytest.mark.parametrize("step", [None, 1, 7, 4096])
@pytest.mark.parametrize("name", list(ENCODINGS))
def test_every_coding_decodes_whole_at_any_split(name: str, step: int | None) -> None:
    decoded, d = decode(name.removesuffix("-raw"), ENCODINGS[name], step)
    assert decoded == BODY
    assert d.problem is None
    assert d.compressed_bytes == len(ENCODINGS[name])
    assert d.decoded_bytes == len(BODY)


def test_deflate_says_whether_it_was_zlib_or_raw() -> None:
    assert decode("deflate", ENCODINGS["deflate"])[1].to_dict()["decoded_as"] == "deflate (zlib)"
    assert decode("deflate", ENCODINGS["deflate-raw"])[1].to_dict()["decoded_as"] == "deflate (raw)"


def test_concatenated_gzip_members_are_one_body() -> None:
    decoded, d = decode("gzip", gzip_member(b"data: a\n\n") + gzip_member(b"data: b\n\n"), 3)
    assert decoded == b"data: a\n\ndata: b\n\n"
    assert d.problem is None


def _gzip_points() -> list[tuple[str, int, str]]:
    """(point, cut offset, message the cut must give) for a gzip member with FNAME."""
    member = ENCODINGS["x-gzip"]
    header = 10 + len(b"events.txt") + 1
    trailer = len(member) - 8
    return [
        ("nothing", 0, "ended before its trailer: no byte of it arrived"),
        ("fixed header", 4, "ended before its trailer: inside its 10-byte header (4 bytes of it arrived)"),
        ("FNAME", 13, "ended before its trailer: inside its header's optional fields"),
        ("deflate start", header, "ended before its trailer: inside the compressed data"),
        ("mid-deflate", (header + trailer) // 2, "ended before its trailer: inside the compressed data"),
        ("before trailer", trailer, "ended before its trailer: the compressed data ended, the 8-byte trailer (CRC-32, length) never came"),
        ("mid-trailer", trailer + 3, "ended before the end of its trailer: 3 bytes of the 8-byte trailer (CRC-32, length) arrived"),
        ("last byte", len(member) - 1, "ended before the end of its trailer: 7 bytes"),
    ]  # fmt: skip


@pytest.mark.parametrize(("point", "cut", "message"), _gzip_points(), ids=lambda v: str(v))
def test_gzip_cut_at_every_structural_point(point: str, cut: int, message: str) -> None:
    member = ENCODINGS["x-gzip"]
    for step in (None, 1):
        decoded, d = decode("x-gzip", member[:cut], step, base=100)
        assert d.problem is not None, point
        assert d.problem.kind == "cut"
        assert d.problem.offset == 100 + cut  # where the received stream ended
        assert d.problem.message.startswith("x-gzip stream " + message), d.problem.message
        assert BODY.startswith(decoded)  # everything decodable before the cut was decoded


def _zlib_points() -> list[tuple[str, int, str]]:
    stream = ENCODINGS["deflate"]
    return [
        ("header", 1, "ended before its trailer: inside its 2-byte zlib header (1 bytes of it arrived)"),
        ("mid-deflate", len(stream) // 2, "ended before its trailer: inside the compressed data"),
        ("before trailer", len(stream) - 4, "ended before its trailer: the compressed data ended, the 4-byte trailer (Adler-32) never came"),
        ("mid-trailer", len(stream) - 2, "ended before the end of its trailer: 2 bytes of the 4-byte trailer (Adler-32) arrived"),
    ]  # fmt: skip


@pytest.mark.parametrize(("point", "cut", "message"), _zlib_points(), ids=lambda v: str(v))
def test_deflate_cut_at_every_structural_point(point: str, cut: int, message: str) -> None:
    for step in (None, 1):
        _, d = decode("deflate", ENCODINGS["deflate"][:cut], step)
        assert d.problem is not None
        assert d.problem.kind == "cut"
        assert d.problem.message.startswith("deflate stream " + message), d.problem.message


def test_raw_deflate_cut_mid_stream_says_there_is_no_trailer_to_check() -> None:
    _, d = decode("deflate", ENCODINGS["deflate-raw"][:-5])
    assert d.problem is not None
    assert d.problem.message == (
        "deflate stream ended before its final block (raw deflate, no trailer to check)"
    )


@pytest.mark.parametrize("name", ["gzip", "deflate"])
def test_every_proper_prefix_is_a_cut(name: str) -> None:
    encoded = ENCODINGS[name]
    for cut in range(len(encoded)):
        _, d = decode(name, encoded[:cut])
        assert d.problem is not None, cut
        assert d.problem.kind == "cut", (cut, d.problem)
        assert d.problem.offset == cut


def test_a_wrong_crc_is_corrupt_with_its_location() -> None:
    member = bytearray(ENCODINGS["gzip"])
    member[-8] ^= 0xFF
    _, d = decode("gzip", bytes(member), 4096, base=50)
    assert d.problem is not None
    assert d.problem.kind == "corrupt"
    assert "CRC-32" in d.problem.message
    assert d.problem.offset >= 50


def test_bytes_that_are_not_gzip_are_corrupt() -> None:
    decoded, d = decode("gzip", BODY)
    assert decoded == b""
    assert d.problem is not None
    assert d.problem.kind == "corrupt"
    assert "not a gzip stream" in d.problem.message


def test_a_gzip_bomb_is_a_finding_in_bounded_memory() -> None:
    bomb = gzip.compress(b"\0" * (64 << 20), compresslevel=9)  # 64 MiB of zeros in ~64 KiB
    largest = 0

    def sink(data: bytes, offset: int, t: float) -> None:
        nonlocal largest
        largest = max(largest, len(data))

    d = ContentDecoder(["gzip"], sink, max_ratio=100)
    for i in range(0, len(bomb), 4096):
        d.feed(bomb[i : i + 4096], i, 0.0)
    assert d.problem is not None
    assert d.problem.kind == "bomb"
    assert "more than 100 per received byte" in d.problem.message
    assert d.decoded_bytes <= 100 * d.compressed_bytes + (1 << 16)  # stopped at the bound
    assert largest <= 1 << 16  # never more than one 64 KiB piece at a time
    assert d.finish(len(bomb)) is d.problem  # the finding stays


def test_unknown_coding_is_reported_not_guessed() -> None:
    decoded, d = decode("compress", b"\x1f\x9dabc", base=120)
    assert decoded == b""
    assert d.problem is not None
    assert d.problem.kind == "undecodable"
    assert d.problem.offset == 120
    assert d.problem.message == "the body could not be decoded: unknown content coding 'compress'"


@pytest.mark.parametrize(("coding", "module"), [("br", "brotli"), ("zstd", "zstandard")])
def test_br_and_zstd_without_their_package_say_so(
    coding: str, module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    _, d = decode(coding, b"\x00\x01\x02")
    assert d.problem is not None
    assert d.problem.kind == "undecodable"
    assert f"needs the optional package {module}" in d.problem.message
    assert "chunkscope[codings]" in d.problem.message


def test_br_decodes_and_a_cut_says_so() -> None:
    brotli = pytest.importorskip("brotli")
    encoded = brotli.compress(BODY)
    for step in (None, 1, 100):
        decoded, d = decode("br", encoded, step)
        assert decoded == BODY
        assert d.problem is None
    _, d = decode("br", encoded[: len(encoded) // 2])
    assert d.problem is not None
    assert d.problem.kind == "cut"
    assert d.problem.message == "br stream ended before its last meta-block"


def test_zstd_decodes_and_a_cut_says_so() -> None:
    zstandard = pytest.importorskip("zstandard")
    encoded = zstandard.ZstdCompressor().compress(BODY)
    for step in (None, 1, 100):
        decoded, d = decode("zstd", encoded, step)
        assert decoded == BODY
        assert d.problem is None
    _, d = decode("zstd", encoded[:-3])
    assert d.problem is not None
    assert d.problem.kind == "cut"


def test_content_encoding_values_parse_in_applied_order() -> None:
    assert parse_content_coding(["gzip"]) == ["gzip"]
    assert parse_content_coding(["Identity, GZIP", " br "]) == ["gzip", "br"]
    assert parse_content_coding(["identity"]) == []


def test_stacked_codings_are_undone_in_reverse() -> None:
    decoded, d = decode("deflate, gzip", gzip_member(zlib.compress(BODY)), 11)
    assert decoded == BODY
    assert d.problem is None


# -- the analyzer's any-split property, over gzip'd and deflated event streams ------------


def _comparable(report: Any) -> dict[str, Any]:
    """The report minus what depends on how bytes were split into reads: times, and for a
    coded body the received offset that completed each event (like a time, read-dependent)."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in ("t", "idle", "received_end")}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    d = report.to_dict()
    d.pop("timing")
    d.pop("context")
    d.pop("hints")  # read from the times, which differ with the split
    return strip(d)  # type: ignore[no-any-return]


@st.composite
def coded_event_streams(draw: Any) -> bytes:
    """A chunked, gzip'd or deflated event stream, flushed per event like nginx, maybe cut."""
    names = st.sampled_from([None, "delta", "done", "thread.run.completed", "error"])
    data = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=40)
    events = draw(st.lists(st.tuples(names, data), max_size=12))
    coding = draw(st.sampled_from(["gzip", "deflate", "deflate-raw"]))
    wbits = {"gzip": 31, "deflate": 15, "deflate-raw": -15}[coding]
    c = zlib.compressobj(draw(st.integers(1, 9)), zlib.DEFLATED, wbits)
    pieces = [c.compress(sse_event(n, d)) + c.flush(zlib.Z_SYNC_FLUSH) for n, d in events]
    pieces.append(c.flush())
    body = b"".join(pieces)
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
    head += (
        b"Content-Encoding: %s\r\nTransfer-Encoding: chunked\r\n\r\n"
        % coding.split("-")[0].encode()
    )
    size = draw(st.integers(1, 64))
    chunks = [body[i : i + size] for i in range(0, len(body), size)]
    out = head + b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in chunks) + b"0\r\n\r\n"
    if draw(st.booleans()):
        out = out[: draw(st.integers(len(head), len(out)))]
    return out


@settings(max_examples=120, suppress_health_check=[HealthCheck.too_slow])
@given(coded_event_streams(), st.lists(st.integers(0, 2000), max_size=12))
def test_any_split_of_a_coded_body_gives_the_same_report(data: bytes, cuts: list[int]) -> None:
    points = sorted({c for c in cuts if 0 < c < len(data)})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=False)]
    whole = Analyzer()
    whole.feed(data, 0.0)
    split = Analyzer()
    for i, piece in enumerate(pieces):
        split.feed(piece, 0.001 * i)
    bytewise = Analyzer()
    for i in range(len(data)):
        bytewise.feed(data[i : i + 1], 0.0)
    expected = _comparable(whole.close("fin", 1.0))
    assert _comparable(split.close("fin", 1.0)) == expected
    assert _comparable(bytewise.close("fin", 1.0)) == expected


def _coded_report(data: bytes, cuts: list[int], live: bool, batched: bool) -> dict[str, Any]:
    """The whole report of ``data`` fed in reads split at ``cuts``; with ``batched=False``
    every chunk goes to the content decoder by itself, as before chunks came in batches."""
    head_end = data.find(b"\r\n\r\n") + 4
    points = sorted({c for c in cuts if head_end < c < len(data)})
    reads = [data[a:b] for a, b in zip([head_end, *points], [*points, len(data)], strict=False)]
    analyzer = Analyzer(live_events=live)
    analyzer.feed(data[:head_end], 0.0)
    if not batched and analyzer.chunked is not None:
        analyzer.chunked.sink_many = None
    events = []
    for i, read in enumerate(reads):
        analyzer.feed(read, 0.001 * (i + 1))
        if live:
            events += [e.to_dict() for e in analyzer.pop_events()]
    report = analyzer.close("fin", 1.0).to_dict()
    report["live"] = events
    return report


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(coded_event_streams(), st.lists(st.integers(0, 2000), max_size=8), st.booleans())
def test_a_coded_body_in_batches_reports_what_it_does_chunk_by_chunk(
    data: bytes, cuts: list[int], live: bool
) -> None:
    # Received ends included: each event must still say which chunk completed it.
    assert _coded_report(data, cuts, live, True) == _coded_report(data, cuts, live, False)


def _gzip_peak(events: int) -> int:
    import tracemalloc

    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    event = b'event: delta\ndata: {"text": "' + b"x" * 40 + b'"}\n\n'
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: gzip\r\n"
    analyzer = Analyzer(max_chunks_kept=0)
    analyzer.feed(head + b"Transfer-Encoding: chunked\r\n\r\n", 0.0)
    tracemalloc.start()
    for i in range(events // 500):
        block = b"".join(c.compress(event) + c.flush(zlib.Z_SYNC_FLUSH) for _ in range(500))
        analyzer.feed(b"%x\r\n%s\r\n" % (len(block), block), i * 0.001)
    tail = c.flush()
    analyzer.feed(b"%x\r\n%s\r\n0\r\n\r\n" % (len(tail), tail), 1.0)
    report = analyzer.close("fin", 1.0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert report.sse is not None
    assert report.sse.events == events
    assert report.content_coding is not None
    assert report.content_coding["problem"] is None
    return peak


def test_one_read_that_decodes_to_many_times_its_size_is_decoded_in_bounded_memory() -> None:
    import tracemalloc

    event = b'event: delta\ndata: {"text": "' + b"x" * 4000 + b'"}\n\n'
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = (
        b"".join(c.compress(event) + c.flush(zlib.Z_SYNC_FLUSH) for _ in range(4096)) + c.flush()
    )
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(block[i : i + 512]), block[i : i + 512])
        for i in range(0, len(block), 512)
    )
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: gzip\r\n"
    read = chunks + b"0\r\n\r\n"  # 16.5 MB of events in one read of about 110 KiB
    analyzer = Analyzer(max_chunks_kept=0)
    analyzer.feed(head + b"Transfer-Encoding: chunked\r\n\r\n", 0.0)
    tracemalloc.start()
    analyzer.feed(read, 0.001)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    report = analyzer.close("fin", 1.0)
    assert report.sse is not None
    assert report.sse.events == 4096
    assert peak < 4 << 20, peak  # what one read decodes to is never held at once


def test_a_gzip_stream_decodes_in_constant_memory() -> None:
    small = _gzip_peak(5_000)
    large = _gzip_peak(30_000)  # six times the stream
    assert large < small * 1.5 + 256 * 1024


@settings(max_examples=300)
@given(
    st.sampled_from(["gzip", "x-gzip", "deflate", "br", "zstd", "gzip, br", "compress"]),
    st.binary(max_size=200),
    st.sampled_from([b"", b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", b"\x78\x9c", b"(\xb5/\xfd"]),
)
def test_arbitrary_coded_bytes_never_raise(coding: str, data: bytes, prefix: bytes) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: %s\r\n\r\n"
    analyzer = Analyzer()
    analyzer.feed(head % coding.encode() + prefix + data, 0.0)
    report = analyzer.close("fin", 1.0)
    assert report.content_coding is not None
    assert report.sse is not None
    assert report.sse.outcome in ("completed", "failed", "incomplete", "cut", "unknown")
    report.to_json()


def _flushed_gzip_chunks(events: list[bytes]) -> list[bytes]:
    """One gzip member, sync-flushed after each event, one chunk per event (as servers stream it)."""
    z = zlib.compressobj(6, zlib.DEFLATED, 31)
    pieces = [z.compress(e) + z.flush(zlib.Z_SYNC_FLUSH) for e in events]
    pieces.append(z.flush())
    return [b"%x\r\n%b\r\n" % (len(p), p) for p in pieces]


@pytest.mark.parametrize("events", [5, 5000])  # 5000: more pieces than the analyzer notes at once
@pytest.mark.parametrize("per_chunk_reads", [False, True])
def test_received_end_of_a_gzip_stream_is_the_chunk_that_completed_the_event(
    events: int, per_chunk_reads: bool
) -> None:
    bodies = [b'event: delta\ndata: {"i": %d}\n\n' % i for i in range(events)]
    bodies[-1] = b'event: error\ndata: {"error": {"message": "overloaded"}}\n\n'
    chunks = _flushed_gzip_chunks(bodies)
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: gzip\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    # Where each event's chunk data ends in the received stream.
    data_ends = []
    offset = len(head)
    for whole in chunks:
        data_ends.append(offset + len(whole) - 2)
        offset += len(whole)
    analyzer = Analyzer(request_path="/v1/chat/completions")
    reads = [head, *chunks] if per_chunk_reads else [head + b"".join(chunks)]
    for i, read in enumerate([*reads, b"0\r\n\r\n"]):
        analyzer.feed(read, 0.001 * i)
    report = analyzer.close("fin", 1.0)
    assert report.verdict.value == "complete"
    assert report.sse is not None
    assert report.sse.events == events
    last = report.sse.last_event
    assert last is not None
    assert last.index == events - 1
    assert last.received_end == data_ends[events - 1]
    error = report.sse.outcome_detail
    assert report.sse.outcome == "failed", error
    assert error is not None
    assert error["event"]["received_end"] == data_ends[events - 1]
