"""The SSE decoder against WHATWG HTML §9.2.6, three ways each.

Every stream is decoded whole, one byte at a time and split at random points
(with gaps between the pieces, as a chunked body has); the summaries must be
identical and the offsets must map through the gaps. A literal, independent
reference implementation of the spec checks what was dispatched.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chunkscope.core.errors import UsageError
from chunkscope.core.sse import DEFAULT_TERMINAL_NAMES, SseDecoder

BOM = b"\xef\xbb\xbf"

# -- a literal reference of §9.2.6 ---------------------------------------------


@dataclass
class Ref:
    events: list[dict[str, Any]] = field(default_factory=list)  # offsets as body indexes
    partial: dict[str, Any] | None = None


def reference(body: bytes, terminal: tuple[str, ...] = DEFAULT_TERMINAL_NAMES) -> Ref:
    """Spec-literal: decode each line as UTF-8, parse on characters, index into the body."""
    ref = Ref()
    i = 3 if body.startswith(BOM) else 0
    data, etype, last_id, start, fields = "", "", None, None, set()
    pos = i
    for m in re.finditer(rb"([^\r\n]*)(\r\n|\r|\n)", body[i:]):
        pos = i + m.end()
        line = m.group(1).decode("utf-8", "replace")
        if line == "":
            if data:
                text = data[:-1]
                name = etype or "message"
                ref.events.append(
                    {
                        "index": len(ref.events),
                        "name": name,
                        "data": text,
                        "id": last_id,
                        "start": start,
                        "last": pos - 1,  # index of the last byte of the blank line
                        "terminal": text == "[DONE]" or name in terminal,
                    }
                )
            data, etype, start, fields = "", "", None, set()
            continue
        if line.startswith(":"):
            continue
        if start is None:
            start = i + m.start()
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        fields.add(m.group(1).partition(b":")[0][:64].decode("utf-8", "replace"))  # names are cut
        if name == "data":
            data += value + "\n"
        elif name == "event":
            etype = value
        elif name == "id" and "\0" not in value:
            last_id = value
    tail = body[pos:]
    if start is not None or (tail and not tail.startswith(b":")):
        first = start if start is not None else pos
        ref.partial = {
            "start": first,
            "bytes": len(body) - first,
            "fields": sorted(fields),
            "preview": data[:-1][:200],
            "unterminated_line": bool(tail),
        }
    return ref


# -- feeding -----------------------------------------------------------------


def split_points(n: int, rng: random.Random, count: int) -> list[int]:
    return sorted(rng.sample(range(1, n), min(count, n - 1))) if n > 1 else []


def feed(
    body: bytes,
    cuts: list[int],
    *,
    gaps: list[int] | None = None,
    base: int = 0,
    **kwargs: Any,
) -> tuple[SseDecoder, list[int]]:
    """Feed ``body`` cut at ``cuts``; ``gaps[k]`` bytes skipped before piece k.

    Returns the decoder and the map body index -> stream offset.
    """
    decoder = SseDecoder(**kwargs)
    offsets: list[int] = []
    offset = base
    bounds = [0, *cuts, len(body)]
    for k in range(len(bounds) - 1):
        if gaps:
            offset += gaps[k % len(gaps)]
        piece = body[bounds[k] : bounds[k + 1]]
        decoder.feed(piece, offset, 0.001 * k)
        offsets.extend(range(offset, offset + len(piece)))
        offset += len(piece)
    return decoder, offsets


def comparable(decoder: SseDecoder) -> dict[str, Any]:
    """The summary minus the read times, which depend on the split."""
    d = decoder.summary().to_dict()
    for key in ("last_event", "terminal_event"):
        if d[key]:
            d[key].pop("t")
    return d


def three_ways(body: bytes, seed: int = 0, **kwargs: Any) -> dict[str, Any]:
    """Whole, byte by byte, random splits: the same summary (offsets from 0)."""
    whole = comparable(feed(body, [], **kwargs)[0])
    assert comparable(feed(body, list(range(1, len(body))), **kwargs)[0]) == whole
    rng = random.Random(seed)
    for _ in range(5):
        cuts = split_points(len(body), rng, rng.randint(1, 8))
        assert comparable(feed(body, cuts, **kwargs)[0]) == whole, cuts
    return whole


def events(body: bytes, **kwargs: Any) -> list[tuple[str, str, str | None]]:
    """(name, data, id) of every dispatched event, checked byte by byte too."""
    out = []
    for cuts in ([], list(range(1, len(body)))):
        decoder, _ = feed(body, cuts, live_events=True, **kwargs)
        out.append([(e.name, e.data, e.id) for e in decoder.pop_events()])
    assert out[0] == out[1]
    return out[0]


# -- the rules one by one ------------------------------------------------------


def test_basic_event_offsets_and_time() -> None:
    body = b"event: a\ndata: x\n\ndata: y\n\n"
    decoder = SseDecoder(live_events=True)
    decoder.feed(body[:10], 100, 1.0)
    decoder.feed(body[10:], 110, 2.0)
    first, second = decoder.pop_events()
    assert (first.index, first.name, first.data, first.offset, first.end, first.t) == (
        0,
        "a",
        "x",
        100,
        118,
        2.0,
    )
    assert (second.name, second.data, second.offset, second.end) == ("message", "y", 118, 127)
    assert decoder.event_count == 2
    assert decoder.pop_events() == []
    s = decoder.summary()
    assert (s.events, s.names, s.last_event) == (2, {"a": 1, "message": 1}, second)
    assert s.partial_event is None
    assert s.notes == ()


def test_pop_events_empty_without_live() -> None:
    decoder = SseDecoder()
    decoder.feed(b"data: x\n\n", 0, 0.0)
    assert decoder.pop_events() == []
    assert decoder.event_count == 1


def test_every_split_same_summary() -> None:
    body = (
        BOM + b": hello\r\nretry: 10\r\nevent: a\r\nid: 7\r\ndata: 1\r\ndata:2\r\n\r\n"
        b"data: \xc3\xa9\r\rdata: [DONE]\n\n:tail\ndata: cut"
    )
    d = three_ways(body)
    assert d["events"] == 3
    assert d["terminal_event"]["data"] == "[DONE]"
    assert d["partial_event"]["unterminated_line"] is True


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"data: x\n\n", [("message", "x", None)]),
        (b"data:x\n\n", [("message", "x", None)]),
        (b"data:  x\n\n", [("message", " x", None)]),  # only one space removed
        (b"data\n\n", [("message", "", None)]),  # no colon: empty value
        (b"data:\n\n", [("message", "", None)]),  # empty data still dispatches
        (b"data\ndata\n\n", [("message", "\n", None)]),
        (b"data: a\ndata: b\n\n", [("message", "a\nb", None)]),  # multi-line data
        (b"event: e\n\n", []),  # no data: reset without dispatch
        (b"event: e\n\ndata: x\n\n", [("message", "x", None)]),  # type was reset too
        (b"event:\ndata: x\n\n", [("message", "x", None)]),
        (b"id: 1\ndata: x\n\ndata: y\n\n", [("message", "x", "1"), ("message", "y", "1")]),
        (b"id: 1\ndata: x\n\nid\ndata: y\n\n", [("message", "x", "1"), ("message", "y", "")]),
        (
            b"id: 1\ndata: x\n\nid: 2\x003\ndata: y\n\n",
            [("message", "x", "1"), ("message", "y", "1")],
        ),
        (b"id: 5\n\ndata: y\n\n", [("message", "y", "5")]),  # id set by an event without data
        (b": comment\ndata: x\n: more\n\n", [("message", "x", None)]),
        (b"Data: x\n\n", []),  # field names are case-sensitive
        (b" data: x\n\n", []),
        (b"foo: bar\ndata: x\n\n", [("message", "x", None)]),
        (b"retry: 100\ndata: x\n\n", [("message", "x", None)]),
        (b"data: x\r\n\r\n", [("message", "x", None)]),
        (b"data: x\r\rdata: y\n\n", [("message", "x", None), ("message", "y", None)]),
        (b"data: a\rdata: b\r\n\n", [("message", "a\nb", None)]),
        (b"data: \xff\n\n", [("message", "\ufffd", None)]),
        (b"data: x\n\ndata: y", [("message", "x", None)]),
    ],
)
def test_rules(body: bytes, expected: list[tuple[str, str, str | None]]) -> None:
    assert events(body) == expected
    three_ways(body)


# -- conformance cases (web-platform-tests eventsource/format-*.any.js) --------
# The WPT server (resources/message.py) writes `message` then "\n\n" (unless
# newline=none) then "\n"; one stream is taken here, without the reconnection.

X = "x" * 2048
WPT: list[tuple[str, bytes, list[tuple[str, str, str | None]]]] = [
    (
        "format-bom",
        BOM + b"data:1\n\n" + BOM + b"data:2\n\ndata:3\n\n\n",
        [("message", "1", None), ("message", "3", None)],
    ),
    (
        "format-bom-2",
        BOM + BOM + b"data:1\n\ndata:2\n\ndata:3\n\n\n",
        [("message", "2", None), ("message", "3", None)],
    ),
    (
        "format-comments",
        f"data:1\r:\0\n:\r\ndata:2\n:{X}\rdata:3\n:data:fail\r:{X}\ndata:4\n\n".encode(),
        [("message", "1\n2\n3\n4", None)],
    ),
    (
        "format-data-before-final-empty-line",
        b"retry:1000\ndata:test1\n\nid:test\ndata:test2\n",
        [("message", "test1", None)],
    ),
    (
        "format-field-data",
        b"data:\n\ndata\ndata\n\ndata:test\n\n\n",
        [("message", "", None), ("message", "\n", None), ("message", "test", None)],
    ),
    ("format-field-event-empty", b"event: \ndata:data\n\n\n", [("message", "data", None)]),
    (
        "format-field-event",
        b"event:test\ndata:x\n\ndata:x\n\n\n",
        [("test", "x", None), ("message", "x", None)],
    ),
    ("format-field-id", "id: …\ndata: hello\n\n".encode(), [("message", "hello", "…")]),
    *[
        (
            f"format-field-id-null-{k}",
            b"id: " + v + b"\ndata: hello\n\n",
            [("message", "hello", None)],
        )
        for k, v in enumerate([b"\0\0", b"x\0", b"\0x", b"x\0x", b" \0"])
    ],
    (
        "format-field-parsing",
        b"data:\0\ndata:  2\rData:1\ndata\0:2\ndata:1\r\0data:4\nda-ta:3\rdata_5\ndata:3\rdata:\r\n data:32\ndata:4\n\n",
        [("message", "\0\n 2\n1\n3\n\n4", None)],
    ),
    (
        "format-field-retry-bogus",
        b"retry:3000\nretry:1000x\ndata:x\n\n\n",
        [("message", "x", None)],
    ),
    ("format-field-retry-empty", b"retry\ndata:test\n\n\n", [("message", "test", None)]),
    ("format-field-retry", b"retry:03000\ndata:x\n\n\n", [("message", "x", None)]),
    (
        "format-field-unknown",
        b"data:test\n data\ndata\nfoobar:xxx\njustsometext\n:thisisacommentyay\ndata:test\n\n\n",
        [("message", "test\n\ntest", None)],
    ),
    (
        "format-leading-space",
        b"data:\ttest\rdata: \ndata:test\n\n\n",
        [("message", "\ttest\n\ntest", None)],
    ),
    (
        "format-newlines",
        b"data:test\r\ndata\ndata:test\r\n\r\n",
        [("message", "test\n\ntest", None)],
    ),
    ("format-null-character", b"data:\0\n\n\n", [("message", "\0", None)]),
    ("format-utf-8", b"data:ok\xe2\x80\xa6\n\n\n", [("message", "ok…", None)]),
    (
        "event-data",
        b"data:msg\ndata: msg\n\n:\nfalsefield:msg\n\nfalsefield:msg\nData:data\n\ndata\n\ndata:end\n\n",
        [("message", "msg\nmsg", None), ("message", "", None), ("message", "end", None)],
    ),
]


@pytest.mark.parametrize(("body", "expected"), [c[1:] for c in WPT], ids=[c[0] for c in WPT])
def test_wpt_conformance(body: bytes, expected: list[tuple[str, str, str | None]]) -> None:
    assert events(body) == expected
    three_ways(body)
    assert [(e["name"], e["data"], e["id"]) for e in reference(body).events] == expected


def test_wpt_retry_notes() -> None:
    notes = three_ways(b"retry:3000\nretry:1000x\ndata:x\n\n\n")["notes"]
    assert any("reconnection time 3000 ms" in n for n in notes)
    assert any("not all ASCII digits" in n and "1000x" in n for n in notes)
    assert any("3000 ms" in n for n in three_ways(b"retry:03000\ndata:x\n\n")["notes"])


def test_wpt_final_event_without_blank_line_is_partial() -> None:
    body = b"retry:1000\ndata:test1\n\nid:test\ndata:test2\n"
    d = three_ways(body)
    assert d["events"] == 1
    assert d["last_event"]["id"] is None  # the id line belongs to the discarded event
    start = body.index(b"id:test")
    assert d["partial_event"] == {
        "offset": start,
        "bytes": len(body) - start,
        "fields": ["data", "id"],
        "preview": "test2",
        "unterminated_line": False,
    }


# -- BOM and line ends -----------------------------------------------------------


@pytest.mark.parametrize("cuts", [[], [1], [2], [1, 2], [1, 2, 3], [3]])
def test_bom_split_anywhere(cuts: list[int]) -> None:
    body = BOM + b"data: x\n\n"
    decoder, offsets = feed(body, cuts, gaps=[0, 4], live_events=True)
    (event,) = decoder.pop_events()
    assert event.data == "x"
    assert (event.offset, event.end) == (offsets[3], offsets[-1] + 1)
    assert decoder.summary().notes[0].startswith("UTF-8 byte order mark")


def test_bom_only_at_the_very_start() -> None:
    d = three_ways(b"data: a\n\n" + BOM + b"data: b\n\n")
    assert d["events"] == 1
    assert not any("byte order mark" in n for n in d["notes"])
    assert any("unknown field" in n for n in d["notes"])


@pytest.mark.parametrize("body", [b"\xef", b"\xef\xbb", BOM, b"\xef\xbbx", b"\xefdata: x\n\n"])
def test_bom_prefix_alone(body: bytes) -> None:
    d = three_ways(body)
    ref = reference(body)
    assert d["events"] == len(ref.events)
    if ref.partial is None:
        assert d["partial_event"] is None
    else:
        assert d["partial_event"]["offset"] == ref.partial["start"]
        assert d["partial_event"]["unterminated_line"] == ref.partial["unterminated_line"]


def test_cr_lf_split_across_feeds_is_one_line_end() -> None:
    body = b"data: x\r\n\r\ndata: y\r\n\r\n"
    whole = comparable(feed(body, [])[0])
    for cut in range(1, len(body)):
        decoder, offsets = feed(body, [cut], gaps=[0, 5], live_events=True)
        evs = decoder.pop_events()
        assert [e.data for e in evs] == ["x", "y"]
        s = decoder.summary()
        assert s.last_event is not None
        assert s.last_event.end == offsets[-1] + 1
        assert s.partial_event is None
        assert s.notes == ()  # no bare CR seen
    assert whole["last_event"]["end"] == len(body)


def test_cr_split_dispatch_end_moved_past_lf() -> None:
    decoder = SseDecoder(live_events=True)
    decoder.feed(b"data: [DONE]\r\n\r", 0, 1.0)
    decoder.feed(b"\n", 20, 2.0)  # a gap: the LF arrives at offset 20
    (event,) = decoder.pop_events()
    s = decoder.summary()
    assert event.end == 21
    assert s.last_event == event
    assert s.terminal_event == event
    assert event.t == 1.0  # the blank line's line end began in the first read


def test_bare_cr_noted() -> None:
    d = three_ways(b"data: a\rdata: b\r\r")
    assert d["events"] == 1
    assert any("bare CR" in n and "(3 times)" in n for n in d["notes"]), d["notes"]
    d = three_ways(b"data: a\r\n\r\n")
    assert d["notes"] == []


# -- partial events at the end -----------------------------------------------------


@pytest.mark.parametrize(
    ("body", "partial"),
    [
        (
            b"data: x\n\ndata: y",
            {"offset": 9, "bytes": 7, "fields": [], "preview": "", "unterminated_line": True},
        ),
        (
            b"data: x\n\nevent: e\ndata: y\n",
            {
                "offset": 9,
                "bytes": 17,
                "fields": ["data", "event"],
                "preview": "y",
                "unterminated_line": False,
            },
        ),
        (
            b"data: x\n\n: c\nid: 1\n: d",
            {"offset": 13, "bytes": 9, "fields": ["id"], "preview": "", "unterminated_line": True},
        ),
        (b"data: x\n\n: comment only", None),
        (b"data: x\n\n: comment\n\n", None),
        (b"data: x\n\nevent: e\n\n", None),  # reset by the blank line, not pending
        (b"data: x\n\n\n\n", None),
        (b"", None),
    ],
)
def test_partial_event(body: bytes, partial: dict[str, Any] | None) -> None:
    d = three_ways(body)
    got = d["partial_event"]
    if got is not None:
        got = {k: v for k, v in got.items() if k != "line_preview"}
    assert got == partial


def test_partial_event_line_preview() -> None:
    d = three_ways(b'data: {"a": 1}\n\ndata: {"choices": [')
    assert d["partial_event"]["line_preview"] == 'data: {"choices": ['
    assert d["complete"] is False


def test_partial_bytes_exclude_gaps() -> None:
    body = b"data: x\n\nevent: e\ndata: y\n"
    decoder, offsets = feed(body, [12, 20], gaps=[3, 100])
    p = decoder.summary().partial_event
    assert p is not None
    assert p["offset"] == offsets[9]
    assert p["bytes"] == len(body) - 9


# -- terminal events -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "names", "index"),
    [
        (b"data: a\n\ndata: [DONE]\n\n", (), 1),
        (b"data: a\n\nevent: done\ndata: {}\n\n", (), 1),
        (b"event: message_stop\ndata: {}\n\ndata: a\n\n", (), 0),
        (b"event: response.completed\ndata: {}\n\n", ("response.completed",), 0),
        (b"event: response.completed\ndata: {}\n\n", (), None),
        (b"data: [DONE] \n\n", (), None),
        (b"data: [DONE]\ndata:\n\n", (), None),
        (b"event: done\n\n", (), None),  # no data: never dispatched
    ],
)
def test_terminal(body: bytes, names: tuple[str, ...], index: int | None) -> None:
    d = three_ways(body, terminal_names=names)
    assert d["terminal_names"] == sorted({"done", "message_stop", *names})
    if index is None:
        assert (d["terminal_seen"], d["terminal_event"], d["complete"]) == (False, None, False)
    else:
        assert d["terminal_seen"] is True
        assert d["terminal_event"]["index"] == index
        assert d["complete"] is True


def test_first_terminal_kept_and_later_events_noted() -> None:
    d = three_ways(b"data: [DONE]\n\ndata: [DONE]\n\nevent: done\ndata: x\n\n")
    assert d["terminal_event"]["index"] == 0
    assert any(n.startswith("2 event(s) after the terminal event") for n in d["notes"])


def test_terminal_then_partial_is_not_complete() -> None:
    d = three_ways(b"data: [DONE]\n\ndata: more")
    assert (d["terminal_seen"], d["complete"]) == (True, False)


# -- offsets through gaps ----------------------------------------------------------------


def test_offsets_through_chunked_gaps() -> None:
    body = b"event: a\ndata: 1\n\n: ping\n\ndata: 2\r\ndata: 3\r\n\r\nid: 9\ndata: [DONE]\n\n"
    ref = reference(body)
    for cuts in ([5, 18, 30], list(range(1, len(body)))):
        decoder, offsets = feed(body, cuts, gaps=[7, 3, 12], base=40, live_events=True)
        got = [(e.offset, e.end, e.name, e.data, e.id) for e in decoder.pop_events()]
        want = [
            (offsets[e["start"]], offsets[e["last"]] + 1, e["name"], e["data"], e["id"])
            for e in ref.events
        ]
        assert got == want


# -- limits -------------------------------------------------------------------------------


def test_event_larger_than_max_event_bytes() -> None:
    big = b"x" * 100
    body = b"data: " + big + b"\ndata: " + big + b"\n\ndata: small\n\n"
    d = three_ways(body, max_event_bytes=64, preview_chars=10)
    assert d["events"] == 2
    # The over-long event is still dispatched, with its full length counted.
    decoder, _ = feed(body, [], max_event_bytes=64, preview_chars=10, live_events=True)
    first, second = decoder.pop_events()
    assert (first.data, first.data_length) == ("x" * 10, 201)
    assert (second.data, second.data_length) == ("small", 5)
    assert any("max_event_bytes" in n for n in d["notes"])


def test_long_line_multibyte_cut_is_clean() -> None:
    body = b"data: " + "é".encode() * 50 + b"\n\n"
    d = three_ways(body, max_event_bytes=31, preview_chars=100)
    assert d["last_event"]["data_length"] == 50
    assert "\ufffd" not in d["last_event"]["data"]
    assert not any("UTF-8" in n for n in d["notes"])


def test_long_unterminated_line_bounded() -> None:
    decoder = SseDecoder(max_event_bytes=1000)
    for k in range(1000):
        decoder.feed(b"data: " + b"y" * 994, k * 1000, 0.0)
    assert len(decoder._pending) <= 1000  # constant memory
    p = decoder.summary().partial_event
    assert p is not None
    assert (p["offset"], p["bytes"], p["unterminated_line"]) == (0, 1_000_000, True)


def test_names_capped() -> None:
    body = b"".join(b"event: e%d\ndata: x\n\n" % k for k in range(1100))
    decoder, _ = feed(body, [])
    s = decoder.summary()
    assert s.events == 1100
    assert len(s.names) == 1001
    assert s.names["(other)"] == 100


def test_long_names_and_odd_events_noted() -> None:
    name = b"n" * 300
    d = three_ways(b"event: " + name + b"\ndata: x\n\nevent: ping\n\n")
    assert d["names"] == {"n" * 256 + "…": 1}
    assert d["last_event"]["name"] == "n" * 300
    assert any("no data: not dispatched" in n for n in d["notes"])


def test_notes_bounded() -> None:
    body = b"".join(b"f%d: x\ndata: \xff\r" % k for k in range(100)) + b"retry: x\nid: \0\n\n"
    d = three_ways(body)
    assert len(d["notes"]) <= 20
    assert any("invalid UTF-8" in n for n in d["notes"])


def test_preview_chars() -> None:
    decoder, _ = feed(b"data: " + b"a" * 500 + b"\n\n", [], preview_chars=5)
    last = decoder.summary().last_event
    assert last is not None
    assert (last.data, last.data_length) == ("aaaaa", 500)


def test_usage_errors() -> None:
    with pytest.raises(UsageError, match="max_event_bytes"):
        SseDecoder(max_event_bytes=0)
    with pytest.raises(UsageError, match="preview_chars"):
        SseDecoder(preview_chars=-1)
    with pytest.raises(UsageError, match="terminal_names"):
        SseDecoder(terminal_names="done")


def test_summary_mid_stream_does_not_disturb() -> None:
    body = b"data: a\r\n\r\ndata: b\n\n"
    decoder = SseDecoder()
    for k in range(len(body)):
        decoder.feed(body[k : k + 1], k, 0.0)
        decoder.summary()
    assert comparable(decoder) == comparable(feed(body, [])[0])


def test_sans_io_imports() -> None:
    """The decoder loads without trio, ssl or socket (the package itself is bypassed)."""
    import chunkscope.core.sse as mod

    code = (
        "import sys, types; "
        "pkg = types.ModuleType('chunkscope'); pkg.__path__ = [sys.argv[1]]; "
        "sys.modules['chunkscope'] = pkg; "
        "import chunkscope.core.sse; "
        "bad = {'trio', 'ssl', 'socket'} & set(sys.modules); "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code, str(Path(mod.__file__).parent)], check=True)


# -- hypothesis ------------------------------------------------------------------------------

TOKENS = [
    b"data",
    b"data:",
    b"data: ",
    b"event:",
    b"event: ",
    b"id:",
    b"id: ",
    b"retry:",
    b"retry: 12",
    b"foo:",
    b":",
    b" ",
    b"x",
    b"[DONE]",
    b"done",
    b"message_stop",
    b"\xc3\xa9",
    b"\xff",
    b"\xe2\x80",
    b"\x00",
    b"\r",
    b"\n",
    b"\r\n",
    b"\n\n",
    BOM,
]
streams = st.lists(st.sampled_from(TOKENS), max_size=60).map(b"".join)


def cuts_of(data: st.DataObject, n: int) -> list[int]:
    if n < 2:
        return []
    return sorted(set(data.draw(st.lists(st.integers(1, n - 1), max_size=12))))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=streams, data=st.data())
def test_any_split_same_summary_and_matches_reference(body: bytes, data: st.DataObject) -> None:
    whole, _ = feed(body, [], live_events=True)
    cuts = cuts_of(data, len(body))
    gaps = data.draw(st.lists(st.integers(0, 9), min_size=1, max_size=4))
    split, offsets = feed(body, cuts, gaps=gaps, live_events=True)
    # Same summary as whole, once offsets are mapped back to body indexes.
    ref = reference(body)
    got = [
        (e.index, e.name, e.data, e.data_length, e.id, e.offset, e.end) for e in split.pop_events()
    ]
    want = [
        (
            e["index"],
            e["name"],
            e["data"][:200],
            len(e["data"]),
            e["id"],
            offsets[e["start"]],
            offsets[e["last"]] + 1,
        )
        for e in ref.events
    ]
    assert got == want
    assert [(e.index, e.offset, e.end) for e in whole.pop_events()] == [
        (e["index"], e["start"], e["last"] + 1) for e in ref.events
    ]
    s = split.summary()
    w = whole.summary()
    assert s.events == w.events == len(ref.events)
    assert s.names == w.names
    # Without gaps, the whole summary (notes and their offsets too) is the same.
    assert comparable(feed(body, cuts)[0]) == comparable(whole)
    terminals = [e for e in ref.events if e["terminal"]]
    assert s.terminal_seen == bool(terminals)
    if terminals:
        assert s.terminal_event is not None
        assert s.terminal_event.index == terminals[0]["index"]
    if ref.partial is None:
        assert s.partial_event is None
        assert w.partial_event is None
    else:
        assert w.partial_event is not None
        assert s.partial_event is not None
        p = dict(ref.partial)
        start = p.pop("start")
        assert {k: w.partial_event[k] for k in p} == p
        assert w.partial_event["offset"] == start
        assert s.partial_event["offset"] == offsets[start]
        assert {k: v for k, v in s.partial_event.items() if k != "offset"} == {
            k: v for k, v in w.partial_event.items() if k != "offset"
        }


@settings(max_examples=200, deadline=None)
@given(body=st.one_of(st.binary(max_size=300), streams), data=st.data(), cap=st.integers(1, 40))
def test_arbitrary_bytes_never_raise(body: bytes, data: st.DataObject, cap: int) -> None:
    cuts = cuts_of(data, len(body))
    a, _ = feed(body, cuts, max_event_bytes=cap, preview_chars=cap, live_events=True)
    b, _ = feed(body, [], max_event_bytes=cap, preview_chars=cap, live_events=True)
    a.pop_events()
    assert comparable(a) == comparable(b)
    a.summary().to_dict()
