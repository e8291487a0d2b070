"""The SSE fast path against the line decoder: the same report, whatever the stream.

``SseDecoder(fast=False)`` decodes every piece line by line on arrival (the
decoder that tests/core/test_sse.py holds to WHATWG HTML §9.2.6);
``SseDecoder()`` holds pieces and counts runs of plain events with one regex
match. Every stream here -- random, adversarial, huge -- is fed to both with
the same pieces, offsets (with gaps, as a chunked body has) and times, and
every summary field, every terminal event and the event count must be equal.
"""

from __future__ import annotations

import itertools
import random
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chunkscope.core.sse as sse_module
from chunkscope.core.sse import SseDecoder

BOM = b"\xef\xbb\xbf"


@contextmanager
def batch(size: int) -> Iterator[None]:
    """Decode what is held every ``size`` bytes (64 KiB in use), to cross many flushes."""
    old = sse_module._BATCH
    sse_module._BATCH = size
    try:
        yield
    finally:
        sse_module._BATCH = old


def recorder(calls: list[tuple[int, int, bytes]]) -> Any:
    """An ``on_watched`` callback that appends ``(index, offset, data)`` to ``calls``."""
    return lambda event, data: calls.append((event.index, event.offset, data))


def both(
    pieces: list[bytes], gaps: list[int] | None = None, probe_every: int = 0, **kwargs: Any
) -> tuple[SseDecoder, SseDecoder]:
    """Feed the same pieces to the fast decoder and the line decoder; compare as they go.

    Watched events (``watch_data``, ``watch_names``) are compared too: each
    decoder's ``on_watched`` calls, in order.
    """
    watched: dict[bool, list[tuple[int, int, bytes]]] = {True: [], False: []}
    fast = SseDecoder(on_watched=recorder(watched[True]), **kwargs)
    line = SseDecoder(fast=False, on_watched=recorder(watched[False]), **kwargs)
    offset = 0
    offsets = []
    for k, piece in enumerate(pieces):
        if gaps:
            offset += gaps[k % len(gaps)]
        offsets.append(offset)
        fast.feed(piece, offset, 0.5 * k)
        line.feed(piece, offset, 0.5 * k)
        offset += len(piece)
        if probe_every and k % probe_every == 0:  # a live status line asks mid-stream
            assert fast.event_count == line.event_count
    assert same(fast, line)
    assert watched[True] == watched[False]
    joined_against_line(pieces, offsets, **kwargs)
    return fast, line


def joined_against_line(pieces: list[bytes], offsets: list[int], **kwargs: Any) -> None:
    """The same pieces through ``feed_joined`` (as framing's C scan hands them over), in groups.

    Groups of 1 to 40 consecutive pieces, one time each, and the line
    decoder given the same pieces one by one with their group's time.
    """
    watched: dict[bool, list[tuple[int, int, bytes]]] = {True: [], False: []}
    joined = SseDecoder(on_watched=recorder(watched[True]), **kwargs)
    line = SseDecoder(fast=False, on_watched=recorder(watched[False]), **kwargs)
    k = 0
    for size in itertools.cycle((3, 1, 40, 2, 7)):
        if k >= len(pieces):
            break
        group, at = pieces[k : k + size], offsets[k : k + size]
        for piece, offset in zip(group, at, strict=True):
            line.feed(piece, offset, 0.5 * k)
        joined.feed_joined(
            b"".join(group), list(itertools.accumulate(map(len, group))), at, 0.5 * k
        )
        k += size
    assert same(joined, line)
    assert watched[True] == watched[False]


def same(fast: SseDecoder, line: SseDecoder) -> bool:
    a, b = fast.summary().to_dict(), line.summary().to_dict()
    assert a == b
    assert fast.terminal_events == line.terminal_events
    assert fast.event_count == line.event_count
    return True


def cut(body: bytes, points: list[int]) -> list[bytes]:
    bounds = [0, *sorted(set(points)), len(body)]
    return [body[bounds[i] : bounds[i + 1]] for i in range(len(bounds) - 1)]


def delta(i: int) -> bytes:
    return (
        b'{"id":"msg_1","object":"thread.message.delta","delta":{"content":[{"index":0,'
        b'"type":"text","text":{"value":" tok%d"}}]}}' % i
    )


# -- building blocks of streams --------------------------------------------------------------

PLAIN = [
    b"event: thread.message.delta\ndata: %s\n\n",
    b"data: %s\n\n",
    b"event: content_block_delta\ndata: %s\n\n",
    b"id: %d\nevent: x\ndata: %s\n\n",
    b"event: x\nid: 7\ndata: %s\n\n",
    b"event:y\ndata:%s\n\n",
    b"data:\n\n",
    b"event:\ndata: %s\n\n",
    b"event: message\ndata: %s\n\n",
]
ODD = [
    b": keep-alive\n\n",
    b": comment\ndata: after a comment\n\n",
    b"data: one\ndata: two\n\n",
    b"retry: 1500\n",
    b"retry: 12x\ndata: r\n\n",
    b"foo: bar\ndata: unknown field\n\n",
    b"data\n\n",
    b"event: done\ndata: bye\n\n",
    b"event: message_stop\ndata: {}\n\n",
    b"data: [DONE]\n\n",
    b"data:[DONE]\n\n",
    b"event:  done\ndata: two spaces, not terminal\n\n",
    b"data: \xc3\xa9t\xc3\xa9\n\n",
    b"data: \xff bad utf-8\n\n",
    b"id: a\x00b\ndata: nul\n\n",
    b"event: only a name\n\n",
    b"\n\n\n",
    b"data: cr only\r\r",
    b"data: mixed\r\n\n",
    b"data: crlf\r\n\r\n",
    b"id\ndata: empty id\n\n",
    b"data: " + b"L" * 300 + b"\n\n",
    b"event: " + b"N" * 300 + b"\ndata: long name\n\n",
]


def render(kind: int, i: int, line_end: bytes) -> bytes:
    pool = PLAIN + ODD
    template = pool[kind % len(pool)]
    body = template % (i, delta(i)) if template.count(b"%") == 2 else template
    if b"%s" in body:
        body = body % delta(i)
    if line_end != b"\n" and kind % len(pool) < len(PLAIN):
        body = body.replace(b"\n", line_end)
    return body


blocks = st.lists(
    st.tuples(
        st.integers(0, len(PLAIN) + len(ODD) - 1),
        st.sampled_from([b"\n", b"\n", b"\r\n", b"\r"]),
        st.booleans(),  # plain blocks are the common case: bias towards them
    ),
    max_size=80,
)


def stream_of(spec: list[tuple[int, bytes, bool]], bom: bool, tail: bytes) -> bytes:
    out = [BOM] if bom else []
    for i, (kind, line_end, plain) in enumerate(spec):
        out.append(render(kind % len(PLAIN) if plain else kind, i, line_end))
    out.append(tail)
    return b"".join(out)


TAILS = [b"", b"data: cut", b"event: x\n", b"event: x\ndata: y\n", b"data: z\r", b":", b"\r"]


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    spec=blocks,
    bom=st.booleans(),
    tail=st.sampled_from(TAILS),
    data=st.data(),
    size=st.sampled_from([1, 7, 64, 300, 1 << 16]),
    cap=st.sampled_from([1 << 20, 1 << 20, 100, 9]),
)
def test_fast_path_gives_the_line_decoders_report(
    spec: list[tuple[int, bytes, bool]],
    bom: bool,
    tail: bytes,
    data: st.DataObject,
    size: int,
    cap: int,
) -> None:
    body = stream_of(spec, bom, tail)
    n = len(body)
    points = data.draw(st.lists(st.integers(1, max(1, n - 1)), max_size=40)) if n > 1 else []
    gaps = data.draw(st.lists(st.integers(0, 9), min_size=1, max_size=3))
    probe = data.draw(st.sampled_from([0, 1, 3]))
    with batch(size):
        both(cut(body, points), gaps, probe, max_event_bytes=cap, preview_chars=min(cap, 200))
        both([body], max_event_bytes=cap)


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=400), data=st.data(), size=st.sampled_from([1, 16, 1 << 16]))
def test_fast_path_on_arbitrary_bytes(body: bytes, data: st.DataObject, size: int) -> None:
    n = len(body)
    points = data.draw(st.lists(st.integers(1, max(1, n - 1)), max_size=20)) if n > 1 else []
    with batch(size):
        both(cut(body, points), [3])


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n"])
@pytest.mark.parametrize("size", [50, 1 << 16])
def test_events_spanning_pieces(line_end: bytes, size: int) -> None:
    body = b"".join(
        (b"event: thread.message.delta\ndata: %s\n\n" % delta(i)).replace(b"\n", line_end)
        for i in range(1000)
    )
    body += b"event: done\ndata: [DONE]\n\n".replace(b"\n", line_end)
    rng = random.Random(11)
    with batch(size):
        for piece_size in (1, 13, 1000, 40_000):
            pieces = [body[i : i + piece_size] for i in range(0, len(body), piece_size)]
            both(pieces, [5], probe_every=97)
        both(cut(body, rng.sample(range(1, len(body)), 500)), [0, 7])
        # a CRLF split between two pieces at every event
        both(body.split(b"\r") if line_end == b"\r\n" else [body])


def test_one_in_a_thousand_events_is_odd() -> None:
    rng = random.Random(5)
    parts = []
    for i in range(10_000):
        if rng.random() < 0.001:
            parts.append(rng.choice(ODD))
        parts.append(b"event: thread.message.delta\ndata: %s\n\n" % delta(i))
    body = b"".join(parts)
    for piece_size in (170, 16384):
        both([body[i : i + piece_size] for i in range(0, len(body), piece_size)], [9])


def test_odd_blocks_after_the_window_grew() -> None:
    # feed_many hands over a whole read (here about 1.5 MiB); after each run it
    # held whole, the fast path's window doubles: odd blocks far apart, at
    # many distances, must still reach the line decoder.
    rng = random.Random(11)
    odd = [b for b in ODD if not any(t in b for t in (b"done", b"DONE", b"message_stop"))]
    parts = []
    for i in range(40_000):
        if i % 4999 == 4998 or rng.random() < 0.0002:
            parts.append(rng.choice(odd))
        parts.append(b"event: thread.message.delta\ndata: %s\n\n" % delta(i))
    fast = SseDecoder()
    line = SseDecoder(fast=False)
    offset = 0
    for start in range(0, len(parts), 9000):
        group = parts[start : start + 9000]
        offsets = []
        for piece in group:
            offsets.append(offset)
            line.feed(piece, offset, 1.0)
            offset += len(piece) + 7
        fast.feed_many(group, offsets, 1.0)
    assert same(fast, line)


def test_names_capped_the_same() -> None:
    body = b"".join(b"event: n%d\ndata: x\n\n" % (i % 1500) for i in range(6000))
    fast, _ = both([body[i : i + 4096] for i in range(0, len(body), 4096)])
    assert fast.summary().names["(other)"] == 6000 - 4 * 1000


def test_terminal_events_kept_with_bounded_data() -> None:
    body = (
        b"data: a\n\nevent: done\ndata: " + b"d" * 10_000 + b"\n\n"
        b"data: [DONE]\n\ndata: b\n\nevent: message_stop\ndata: {}\n\n"
    )
    fast, _ = both(cut(body, [3, 40, 5000]))
    terminals = fast.terminal_events
    assert [(e.name, e.data_length, len(e.data)) for e in terminals] == [
        ("done", 10_000, 4096),
        ("message", 6, 6),
        ("message_stop", 2, 2),
    ]
    first = fast.summary().terminal_event
    assert first is not None
    assert (first.index, first.data) == (terminals[0].index, "d" * 200)
    assert terminals[0].offset == body.index(b"event: done")


# The counting pass trusts how the run's first value starts (its "lead") to rule
# out [DONE] and watched prefixes without searching for them: every odd value
# below sits among values that all start alike, at the start, middle and end of
# a run, so that a lead taken on faith would miss it.
LEAD_ODD = [
    b"[DONE]",  # terminal
    b"[DON",  # a prefix of [DONE]: not terminal
    b'{"error":{"message":"overloaded"}}',  # watched (OpenAI-style errors, as profiles watch them)
    b'{"x":1}',  # differs from the lead ('{"i' against {"error") at its third byte
    b'{"id":"msg_1"}',  # starts as the others do, ends otherwise
    b"{",  # no longer than the lead
    b"",  # empty data: not dispatched
    b"x\ny",  # a value with a line end of its own
]


@pytest.mark.parametrize("odd", LEAD_ODD)
@pytest.mark.parametrize("space", [b" ", b""])
@pytest.mark.parametrize("named", [True, False])
def test_values_that_start_otherwise_than_the_runs_lead(
    odd: bytes, space: bytes, named: bool
) -> None:
    head = b"event: thread.message.delta\n" if named else b""
    for at in (0, 1, 300, 598, 599):
        values = [delta(i) for i in range(600)]
        values[at] = odd
        body = b"".join(head + b"data:" + space + v + b"\n\n" for v in values)
        for piece_size in (172, 16384, 1 << 16):
            pieces = [body[i : i + piece_size] for i in range(0, len(body), piece_size)]
            both(pieces, [7], watch_data=(b'{"error"',))
            both(pieces, [7])


@pytest.mark.parametrize("lead", [b" [D", b"[DONE", b' {"err', b" ", b""])
def test_runs_whose_lead_could_be_watched(lead: bytes) -> None:
    body = b"".join(b"data:" + lead + b"%d\n\n" % i for i in range(2000))
    body += b"data: [DONE]\n\ndata:" + lead + b"after\n\n"
    both([body[i : i + 4096] for i in range(0, len(body), 4096)], watch_data=(b'{"error"',))


@pytest.mark.parametrize("value", [b'{"error":{"code":%d}}', b'{"error"', b"[DONE]", b"[DO%d"])
def test_runs_of_values_each_terminal_or_watched(value: bytes) -> None:
    body = b"".join(b"data: " + (value.replace(b"%d", b"%d" % i)) + b"\n\n" for i in range(2000))
    pieces = [body[i : i + 4096] for i in range(0, len(body), 4096)]
    seen: dict[bool, list[tuple[int, bytes]]] = {True: [], False: []}
    decoders = {}
    for fast in (True, False):
        decoder = SseDecoder(
            fast=fast,
            watch_data=(b'{"error"',),
            on_watched=lambda event, data, f=fast: seen[f].append((event.index, data)),
        )
        for k, piece in enumerate(pieces):
            decoder.feed(piece, 9 * k + sum(map(len, pieces[:k])), 0.5 * k)
        decoders[fast] = decoder
    assert same(decoders[True], decoders[False])
    assert seen[True] == seen[False]
    assert len(seen[True]) == (2000 if value.startswith((b"{", b"[DONE]")) else 0)


def test_retry_with_more_digits_than_int_takes() -> None:
    body = b"retry: " + b"7" * 5000 + b"\ndata: x\n\n"
    fast, _ = both(cut(body, [10, 4000]))
    (note,) = fast.summary().notes
    assert (
        note == "retry field at byte 0: reconnection time 77777777777777777777... (5000 digits) ms"
    )
    fast, _ = both([b"retry: 000000000001500\ndata: x\n\n"])
    assert fast.summary().notes == ("retry field at byte 0: reconnection time 1500 ms",)


# -- huge streams: constant memory, no re-joining ------------------------------------------


def single_event(data_bytes: int, piece: int) -> Iterator[bytes]:
    yield b"data: "
    block = b"x" * piece
    for _ in range(data_bytes // piece):
        yield block
    yield b"\n\n"


def peak_while(fn: Any) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def huge_single_event(data_bytes: int, piece: int) -> None:
    decoder = SseDecoder()

    def run() -> None:
        offset = 0
        for p in single_event(data_bytes, piece):
            decoder.feed(p, offset, 0.0)
            offset += len(p) + 5

    peak = peak_while(run)
    s = decoder.summary()
    assert s.events == 1
    assert s.last_event is not None
    assert s.last_event.data_length == data_bytes // piece * piece
    assert any("longer than max_event_bytes" in n for n in s.notes) == (data_bytes > 1 << 20)
    assert peak < 8 << 20, peak  # the first max_event_bytes (1 MiB) kept, plus one batch


def test_big_single_event_constant_memory() -> None:
    huge_single_event(4 << 20, 65536)
    huge_single_event(1 << 18, 1)  # byte by byte: nothing re-joined per byte


@pytest.mark.slow
def test_100_mb_single_event_constant_memory() -> None:
    huge_single_event(100_000_000, 65536)


@pytest.mark.slow
def test_64_mib_event_in_one_byte_reads() -> None:
    huge_single_event(64 << 20, 1)


def tiny_events(count: int, piece: int) -> Iterator[bytes]:
    event = b"data: 0123456789abcde\n\n"
    per = piece // len(event)
    block = event * per
    for _ in range(count // per):
        yield block
    yield event * (count % per)
    yield b"data: [DONE]\n\n"


def many_tiny_events(count: int) -> None:
    fast = SseDecoder()
    line = SseDecoder(fast=False)
    offset = 0
    for p in tiny_events(count, 16384):
        fast.feed(p, offset, 1.0)
        line.feed(p, offset, 1.0)
        offset += len(p) + 6
    assert same(fast, line)
    assert fast.event_count == count + 1
    assert fast.summary().complete


def test_many_tiny_events() -> None:
    many_tiny_events(100_000)


@pytest.mark.slow
def test_ten_million_tiny_events() -> None:
    many_tiny_events(10_000_000)


# -- through the analyzer: chunked framing hands whole reads of chunks over -------------------


def test_analyzer_sse_report_matches_the_line_decoder() -> None:
    from chunkscope.core.analyzer import Analyzer

    rng = random.Random(3)
    events = []
    for i in range(4000):
        if rng.random() < 0.01:
            events.append(rng.choice(ODD))
        events.append(b"event: thread.message.delta\ndata: %s\n\n" % delta(i))
    body = b"".join(events) + b"data: cut at the end"
    chunks, line = [], SseDecoder(fast=False)
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    offset = len(head)
    pos = 0
    while pos < len(body):
        size = rng.choice([1, 7, 172, 1000, 5000])
        piece = body[pos : pos + size]
        framed = b"%x\r\n" % len(piece)
        line.feed(piece, offset + len(framed), 0.0)
        chunks.append(framed + piece + b"\r\n")
        offset += len(framed) + len(piece) + 2
        pos += size
    wire = head + b"".join(chunks)
    # the analyzer's summary also carries the provider profile's verdict (core/profiles.py)
    profile_keys = ("profile", "outcome", "outcome_detail")
    want = {k: v for k, v in line.summary().to_dict().items() if k not in profile_keys}
    for read in (1 << 20, 65536, 999, 7):
        analyzer = Analyzer()
        for i in range(0, len(wire), read):
            analyzer.feed(wire[i : i + read], 0.0)
        report = analyzer.close("fin", 1.0)
        assert report.sse is not None
        got = {k: v for k, v in report.sse.to_dict().items() if k not in profile_keys}
        assert got == want, read


def test_retry_digits_do_not_break_any_report(tmp_path: Any, capsys: Any) -> None:
    # int() of more than 4300 digits raised, and every command exited 4
    from chunkscope.cli.main import main

    retry = b"retry: " + b"9" * 10_000 + b"\n"
    body = retry + b"event: done\ndata: [DONE]\n\n"
    raw = tmp_path / "retry.raw"
    raw.write_bytes(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    )
    assert main(["analyze", "--raw", str(raw)]) == 0
    assert "(10000 digits) ms" in capsys.readouterr().out
    assert main(["analyze", "--raw", str(raw), "--json"]) == 0
    assert "(10000 digits) ms" in capsys.readouterr().out
