""" "What it means" has one explanation per (verdict, close kind, SSE outcome), never self-contradicting.

Every combination the analyzer can produce is built here from bytes (where the stream stops,
how the connection ends, with and without SSE), plus the outcomes only provider profiles set
(failed, unknown); each explanation is checked against the facts and against itself.
"""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest

import chunkscope
from chunkscope import Analyzer, CloseKind
from chunkscope.core.hints import HINT_CODES, sse_outcome
from chunkscope.core.meaning import OUTCOMES, explain
from chunkscope.testing import Response, sse_event

EVENTS = [sse_event("delta", '{"a":1}'), sse_event("delta", '{"a":2}'), sse_event("done", "[DONE]")]
SSE = Response(events=EVENTS).to_bytes()
NO_TERMINAL = Response(events=EVENTS[:2]).to_bytes()
HEAD_END = SSE.index(b"\r\n\r\n") + 4
LAST_CHUNK = SSE.rindex(b"0\r\n\r\n")
PLAIN = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789"
CLOSE_DELIMITED = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n" + b"".join(EVENTS)

# where the bytes stop: name -> the bytes the server sent
STREAMS = {
    "sse-complete": SSE,
    "sse-no-terminal": NO_TERMINAL,
    "after-terminal": SSE[:LAST_CHUNK],
    "trailers": SSE[: LAST_CHUNK + 3],
    "between-events": SSE[: SSE.index(b"\r\n", HEAD_END + 5) + 2 + len(EVENTS[0]) + 2],
    "mid-event": SSE[: HEAD_END + 12],
    "chunk-size": SSE[: SSE.index(b"\r\n", HEAD_END) + 2 + len(EVENTS[0]) + 2 + 1],
    "chunk-data-end": SSE[: SSE.index(b"\r\n", HEAD_END) + 2 + len(EVENTS[0])],
    "content-length": PLAIN[:-4],
    "content-length-complete": PLAIN,
    "close-delimited": CLOSE_DELIMITED,
    "close-delimited-mid-event": CLOSE_DELIMITED[:-10],
    "malformed": SSE[:HEAD_END] + b"zz\r\n",
    "head": SSE[:20],
    "nothing": b"",
}
DETAILS = {
    CloseKind.TIMEOUT: ["no byte for --idle-timeout 60 s", "--max-time 5 s reached"],
}


def reports() -> list[tuple[str, chunkscope.Report]]:
    out = []
    for (name, data), kind in itertools.product(STREAMS.items(), CloseKind):
        for detail in DETAILS.get(kind, [None]):
            a = Analyzer()
            if data:
                a.feed(data, 0.5)
            out.append((f"{name}/{kind.value}/{detail}", a.close(kind, 0.6, detail)))
    return out


ALL = reports()

CONTRADICTIONS = [
    ("no application data was lost", "may have dropped bytes still in flight"),
    ("Every application event arrived", "No terminal event arrived"),
    ("Every application event arrived", "that event is lost"),
    ("nothing is missing", "never arrived"),
]


def check(text: str, report: chunkscope.Report) -> None:
    for a, b in CONTRADICTIONS:
        assert not (a in text and b in text), (a, b, text)
    kind = report.close.kind
    if kind in (CloseKind.TIMEOUT, CloseKind.INTERRUPTED):
        for claim in ("hop closed", "ended TLS", "An RST", "reset (RST)"):
            assert claim not in text, text
    if kind is CloseKind.TIMEOUT and report.verdict.value != "complete":
        assert "had not closed" in text
    if report.framing is chunkscope.Framing.CLOSE_DELIMITED:
        for chunked_word in ("chunked body", "last-chunk", "chunk boundary", "chunk-size"):
            assert chunked_word not in text, text
    if report.received_bytes:
        assert "No response byte arrived" not in text
        assert "no byte arrived" not in text.lower()
    if report.verdict.value == "truncated" and sse_outcome(report) == "completed":
        assert "no application data was lost" in text


@pytest.mark.parametrize(("name", "report"), ALL, ids=[n for n, _ in ALL])
def test_every_analyzer_combination_explains_itself_consistently(
    name: str, report: chunkscope.Report
) -> None:
    sentences = explain(report)
    assert sentences
    text = " ".join(sentences)
    check(text, report)
    assert explain(report) == sentences  # one explanation per combination: deterministic
    rendered = chunkscope.render_text(report)
    assert "What it means" in rendered
    for hint in report.hints:
        assert hint.code in HINT_CODES
    if report.close.kind is CloseKind.TIMEOUT and "max-time" in (report.close.detail or ""):
        assert "no byte arrived" not in rendered  # a drip cut by --max-time had bytes arriving


def test_the_analyzer_produces_every_derived_outcome() -> None:
    seen = {(r.verdict.value, r.close.kind.value, sse_outcome(r)) for _, r in ALL}
    # failed and incomplete need a provider's own terminal events: the test below covers them
    assert {o for _, _, o in seen} >= {"completed", "cut", "unknown", None}
    assert len(seen) >= 60


@pytest.mark.parametrize("outcome", OUTCOMES)
@pytest.mark.parametrize("kind", list(CloseKind))
@pytest.mark.parametrize("stream", ["after-terminal", "between-events", "sse-complete"])
def test_profile_outcomes_explain_consistently(outcome: str, kind: CloseKind, stream: str) -> None:
    # report.sse.outcome, as provider profiles (#12) set it, wins over the derived one
    a = Analyzer()
    a.feed(STREAMS[stream], 0.5)
    report = a.close(kind, 0.6)
    sse = report.sse
    assert sse is not None
    report.sse = SimpleNamespace(  # type: ignore[assignment]
        outcome=outcome,
        complete=outcome == "completed",
        events=sse.events,
        last_event=sse.last_event,
        terminal_event=sse.terminal_event,
        partial_event=sse.partial_event,
    )
    assert sse_outcome(report) == outcome
    check(" ".join(explain(report)), report)


def test_reset_after_terminal_says_nothing_was_lost_once() -> None:
    a = Analyzer()
    a.feed(STREAMS["after-terminal"], 0.5)
    text = " ".join(explain(a.close(CloseKind.RESET, 0.6)))
    assert "no application data was lost" in text
    assert "in flight, so the server may have sent more" not in text


def test_timeout_never_says_the_peer_closed() -> None:
    a = Analyzer()
    a.feed(STREAMS["between-events"], 0.5)
    text = " ".join(explain(a.close(CloseKind.TIMEOUT, 60.5, "no byte for --idle-timeout 60 s")))
    assert "The peer had not closed" in text
    assert "closed the" not in text


def test_bytes_after_a_101_are_the_switched_to_protocol_not_stray_bytes() -> None:
    analyzer = Analyzer()
    analyzer.feed(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        b"\x81\x05hello",
        0.0,
    )
    report = analyzer.close(CloseKind.FIN, 1.0)
    assert report.status == 101
    assert report.extra_bytes == 7
    text = " ".join(explain(report))
    assert "7 bytes of the switched-to protocol followed the 101" in text
    assert "not part of it" not in text
