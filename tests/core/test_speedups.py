"""The C extension against the Python code it stands in for: the same bytes, the same reports.

``chunkscope.core._speedups`` is optional (see chunkscope/core/speedups.py);
each of its functions must give exactly what its caller's Python code gives.
Compared directly (``json_escape`` with json.dumps, the counts with
``bytes.count``), and through whole analyses: every report field of an
analysis with the C scan must equal the one of the same bytes without it,
for random chunked bodies (plain, with extensions, leading zeros, bad
bytes, huge sizes), SSE bodies and any split into reads.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.speedups import BUILT, pure_python

import chunkscope.core.framing as framing_module
from chunkscope.core import speedups
from chunkscope.core.analyzer import Analyzer
from chunkscope.formats import capture as capture_module

built = pytest.mark.skipif(not BUILT, reason="the optional C extension is not built here")


def report(data: bytes, cuts: list[int], **kwargs: Any) -> dict[str, Any]:
    analyzer = Analyzer(**kwargs)
    bounds = [0, *sorted({c % (len(data) + 1) for c in cuts}), len(data)]
    for k in range(len(bounds) - 1):
        analyzer.feed(data[bounds[k] : bounds[k + 1]], 0.25 * k)
    result = analyzer.close("fin", 9.0).to_dict()
    reader = analyzer.chunked
    result["chunk_rows"] = [] if reader is None else list(framing_module.ChunkTable(reader).rows())
    return result


def both_ways(data: bytes, cuts: list[int], **kwargs: Any) -> dict[str, Any]:
    fast = report(data, cuts, **kwargs)
    with pure_python():
        slow = report(data, cuts, **kwargs)
    assert fast == slow
    return fast


def head(content_type: bytes = b"text/event-stream") -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: "
        + content_type
        + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
    )


SIZE_LINES = [
    b"%x\r\n",
    b"%X\r\n",
    b"0%x\r\n",  # a leading zero: the slow path
    b"%x;ext=1\r\n",
    b"%x \r\n",
    b"%x\n",  # a bare LF
    b"%x\r\r\n",
]


@st.composite
def chunked_bodies(draw: st.DrawFn) -> bytes:
    rng = random.Random(draw(st.integers(0, 2**32)))
    sse = draw(st.booleans())
    parts = [head() if sse else head(b"application/octet-stream")]
    for i in range(draw(st.integers(0, 40))):
        if sse:
            data = rng.choice(
                [
                    b'event: thread.message.delta\ndata: {"id":"m","v":%d}\n\n' % i,
                    b"data: %d\n\n" % i,
                    b"data: [DONE]\n\n",
                    b': ping\n\ndata: {"error":"x"}\n\n',
                    b"data: split across chunks",
                    b"\r\n\r\n",
                    bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9))),
                ]
            )
        else:
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
        line = rng.choice(SIZE_LINES) if rng.random() < 0.2 else b"%x\r\n"
        ending = b"\r\n" if rng.random() < 0.95 else rng.choice([b"\n", b"\rX", b"XY", b""])
        parts.append(line % len(data) + data + ending)
    tail = rng.choice(
        [b"0\r\n\r\n", b"0\r\nX-T: 1\r\n\r\n", b"", b"0\r\n", b"fffffffffffffffff\r\n"]
    )
    parts.append(tail)
    return b"".join(parts)


@built
@settings(max_examples=300, deadline=None)
@given(chunked_bodies(), st.lists(st.integers(0, 20_000), max_size=8))
def test_any_chunked_body_gives_the_same_report_with_and_without_c(
    data: bytes, cuts: list[int]
) -> None:
    both_ways(data, cuts)


@built
@settings(max_examples=100, deadline=None)
@given(chunked_bodies(), st.lists(st.integers(0, 20_000), max_size=8))
def test_the_same_with_a_few_chunks_kept_and_a_profile(data: bytes, cuts: list[int]) -> None:
    both_ways(data, cuts, max_chunks_kept=3, profile="openai-chat")


@built
def test_a_long_sse_stream_the_same_in_any_read_size() -> None:
    events = [
        b'event: thread.message.delta\ndata: {"id":"msg","delta":{"value":" tok%d"}}\n\n' % i
        for i in range(20_000)
    ]
    events[7_777] = b": keep-alive\n\n"
    events[12_345] = b"data: [DONE]\n\n"
    body = b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in events) + b"0\r\n\r\n"
    data = head() + body
    for read in (1, 7, 4096, 65536, 1 << 20):
        if read == 1:
            sample = data[: 40 * 120]  # byte by byte: a prefix is enough
            both_ways(sample, list(range(len(sample))))
            continue
        result = both_ways(data, list(range(read, len(data), read)))
        assert result["verdict"] == "complete"
        assert result["sse"]["events"] == 19_999  # the keep-alive is a comment


@built
def test_chunks_far_too_big_and_every_size_width() -> None:
    for digits in range(1, 17):
        size = int("7" * digits, 16)
        data = head(b"application/octet-stream") + b"%x\r\nabc\r\n" % size
        both_ways(data, [])
    for size in (1, 15, 16, 255, 4096, 65535):
        piece = b"%x\r\n%s\r\n" % (size, b"z" * size)
        data = head(b"application/octet-stream") + piece * 5 + b"0\r\n\r\n"
        both_ways(data, [len(data) // 2])
    # Bigger than max_chunk_size: the slow path reports it, with or without C.
    data = head(b"application/octet-stream") + b"100\r\n" + b"x" * 256 + b"\r\n0\r\n\r\n"
    assert both_ways(data, [], max_chunk_size=16)["verdict"] == "malformed"


@built
@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=400))
def test_json_escape_is_json_dumps(data: bytes) -> None:
    assert speedups.json_escape is not None
    expected = json.dumps(data.decode("latin-1"))[1:-1].encode("ascii")
    assert speedups.json_escape(data) == expected
    with pure_python():
        assert capture_module.json_string_body(data) == expected


@built
def test_json_escape_of_every_byte_at_every_alignment() -> None:
    assert speedups.json_escape is not None
    every = bytes(range(256))
    for shift in range(40):
        data = b"a" * shift + every + b'"\\' * shift + b"z" * 33
        assert speedups.json_escape(data) == json.dumps(data.decode("latin-1"))[1:-1].encode()


@built
def test_json_escape_grows_its_result_where_long_escapes_start() -> None:
    # The result starts with room for short escapes only (two bytes a byte, as
    # a run of quotes needs) and grows at the first \u00XX: here every run of
    # the worst short case is followed, at every block alignment, by the worst
    # long case (six bytes a byte), and the other way round.
    assert speedups.json_escape is not None
    for quotes in (0, 1, 15, 16, 17, 31, 32, 33, 48, 4095, 4096, 65536):
        for controls in (1, 15, 16, 17, 32, 33, 1000):
            for data in (
                b'"' * quotes + b"\x00" * controls + b"\n" * 40,
                b"\x01" * controls + b"\\" * quotes,
            ):
                expected = json.dumps(data.decode("latin-1"))[1:-1].encode()
                assert speedups.json_escape(data) == expected
                assert (
                    speedups.json_escape(memoryview(data)[1:])
                    == expected[len(speedups.json_escape(data[:1])) :]
                )


@built
@settings(max_examples=500, deadline=None)
@given(
    st.binary(max_size=200).map(lambda b: b.replace(b"\x00", b"\n")),
    st.sampled_from([b"\n\n", b"\r\n\r\ndata:", b"\n\nevent: x\ndata: {", b"ab", b"\n\n\n"]),
    st.integers(-10, 210),
    st.integers(-10, 210),
)
def test_counts_are_bytes_count(data: bytes, marker: bytes, start: int, end: int) -> None:
    assert speedups.count_byte is not None
    assert speedups.count_marker is not None
    assert speedups.count_byte(data, 10, start, end) == data.count(b"\n", start, end)
    assert speedups.count_marker(data, marker, start, end) == data.count(marker, start, end)


@built
def test_scan_chunks_refuses_what_the_python_loop_takes_apart() -> None:
    assert speedups.scan_chunks is not None
    for data in (
        b"0\r\n\r\n",
        b"05\r\nhello\r\n",
        b"5;x\r\nhello\r\n",
        b"5\r\nhello\n",
        b"5\r\nhel",
    ):
        assert speedups.scan_chunks(data, 0, 0, 10, 1 << 62, 2)[:3] == (0, 0, 0)
    pos, count, body, offsets, sizes, (data, ends), data_offsets = speedups.scan_chunks(
        b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", 0, 100, 1, 1 << 62, 2
    )
    assert (pos, count, body, data) == (15, 2, 5, b"abcde")
    assert list(memoryview(ends).cast("q")) == [3, 5]
    assert list(memoryview(data_offsets).cast("q")) == [103, 111]
    pieces, piece_offsets = speedups.scan_chunks(b"3\r\nabc\r\n2\r\nde\r\n", 0, 100, 0, 1 << 62, 1)[
        5:
    ]
    assert (pieces, piece_offsets) == ([b"abc", b"de"], [103, 111])
    assert len(offsets) == len(sizes) == 8  # room for one chunk's record


def test_pure_python_can_be_forced_from_the_environment() -> None:
    code = "from chunkscope.core import speedups; print(speedups.scan_chunks is None)"
    env = {**os.environ, "CHUNKSCOPE_PURE_PYTHON": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "True"


@built
def test_a_capture_file_is_the_same_written_with_and_without_c(tmp_path: Any) -> None:
    rng = random.Random(5)
    reads = [
        bytes(rng.randrange(256) for _ in range(200_000)),  # escaped in 64 KiB views
        b'data: {"v":"\\u00e9\\n"}\n\n' * 9000,
        b"x" * 70_000,
        b"",
    ]

    def write(path: Any) -> bytes:
        with capture_module.CaptureWriter(
            path, redact=False, created="2026-12-01T00:00:00.000Z"
        ) as w:
            for k, data in enumerate(reads):
                w.received(0.5 * k, data)
        return bytes(path.read_bytes())

    fast = write(tmp_path / "c.capture")
    with pure_python():
        slow = write(tmp_path / "py.capture")
    assert fast == slow
    lines = fast.splitlines()[2:]
    assert [json.loads(line)["data"].encode("latin-1") for line in lines] == reads


@built
def test_the_json_report_is_the_same_with_and_without_c() -> None:
    # Runs of plain chunks (written in C) between extensions, leading zeros and
    # extensions too many to keep (written one by one), over reads of any size.
    parts = []
    for i in range(3000):
        size = 1 + i % 300
        line = b"%x" % size
        if i % 7 == 0 or 1200 <= i < 1210:
            line += b";x=e"
        elif i >= 2000 and i % 2 == 0:
            line += b";y=" + b"e" * 4000  # past 1 MiB in all: not kept
        if i % 11 == 0:
            line = b"00" + line
        parts.append(line + b"\r\n" + b"d" * size + b"\r\n")
    data = head(b"application/octet-stream") + b"".join(parts) + b"0\r\n\r\n"
    for read in (777, 1 << 16):
        for kept in (100_000, 1500):
            texts = []
            for c in (True, False):
                analyzer = Analyzer(max_chunks_kept=kept)
                for k, i in enumerate(range(0, len(data), read)):
                    analyzer.feed(data[i : i + read], 0.1 * k + 1 / 3)
                if c:
                    texts.append(analyzer.close("fin", 9.0).to_json())
                else:
                    with pure_python():
                        texts.append(analyzer.close("fin", 9.0).to_json())
            assert texts[0] == texts[1]
            assert ('"ext": null' in texts[0]) == (kept > 3000)  # extensions not kept
            assert json.loads(texts[0])["chunk_count"] == 3000
