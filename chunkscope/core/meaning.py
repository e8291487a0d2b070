"""What a report means, in plain words: one explanation per (verdict, close kind, SSE outcome).

The explanation is built from four sentences, each chosen by exactly one fact, so no two can
contradict each other:

1. the HTTP axis, by verdict and where the bytes stopped (framing, problem state);
2. the close, by close kind, and for a reset by whether anything was still owed;
3. the application axis, by SSE outcome (completed, failed, incomplete, cut, unknown);
4. the consequence, by (verdict, SSE outcome).

Timing (timeouts, active cuts) is the hints' job (core/hints.py), so nothing here guesses it.
A timeout is chunkscope's own limit: it never says the peer closed. A close-delimited body is
never explained as chunked.
"""

from __future__ import annotations

from typing import Any

from .hints import sse_outcome
from .report import CloseKind, Framing, ProblemState, Report, Verdict

__all__ = [
    "OUTCOMES",
    "describe_close",
    "describe_response",
    "describe_state",
    "explain",
    "flat_fields",
    "response_header",
]

_CLOSE_MEANING = {
    CloseKind.FIN: "the nearest hop closed the TCP connection (FIN)",
    CloseKind.RESET: (
        "the connection was reset (RST) by the peer or a middlebox; bytes still in flight "
        "may have been dropped by the kernel"
    ),
    CloseKind.TLS_CLOSE_NOTIFY: "the nearest hop ended TLS with a close_notify, then closed",
    CloseKind.TLS_NO_CLOSE_NOTIFY: (
        "the nearest hop closed TCP without a TLS close_notify: an abrupt close at the TCP level "
        "(a TCP-level hop, or a process that exited)"
    ),
    CloseKind.TIMEOUT: "chunkscope's own time limit ended the capture; the peer had not closed",
    CloseKind.INTERRUPTED: "the capture was interrupted (Ctrl-C or SIGTERM, or the tap's client left) before the connection ended",
    CloseKind.UNKNOWN: "how the connection ended was not recorded",
}

_STATE_MEANING = {
    ProblemState.STATUS_LINE: "inside the status line",
    ProblemState.HEADERS: "inside the response head",
    ProblemState.CHUNK_SIZE: "inside a chunk-size line",
    ProblemState.CHUNK_BOUNDARY: "at a chunk boundary, where a chunk-size line or the last-chunk should start",
    ProblemState.CHUNK_DATA: "inside chunk data",
    ProblemState.CHUNK_DATA_END: "between chunk data and its CRLF",
    ProblemState.TRAILERS: "after the last-chunk, before the final CRLF",
    ProblemState.BODY: "inside the body",
}


def describe_close(kind: CloseKind) -> str:
    """One phrase saying what a close kind means (the text and HTML reports share it)."""
    return _CLOSE_MEANING[kind]


def describe_state(state: ProblemState) -> str:
    """Where in the response a problem state is, as a phrase: ``"inside chunk data"``."""
    return _STATE_MEANING[state]


def flat_fields(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """``(dotted.key, text)`` rows of a nested dict, leaving out empty values (the connection table)."""
    if isinstance(value, dict):
        return [row for k, v in value.items() for row in flat_fields(v, f"{prefix}{k}.")]
    if value is None or value == [] or value == "":
        return []
    return [(prefix.rstrip("."), str(value))]


def response_header(report: Report, name: str) -> str | None:
    """The first value of response header ``name`` (lower case), or None."""
    for n, v in (report.head or {}).get("headers", []):
        if str(n).lower() == name:
            return str(v)
    return None


def describe_response(report: Report) -> str:
    """The response in one line: ``HTTP/1.1 200 OK, chunked, text/event-stream, 23 data chunks, ...``."""
    parts = []
    head = report.head or {}
    if report.status is not None:
        parts.append(
            f"HTTP/{head.get('version', '1.1')} {report.status} {head.get('reason', '')}".rstrip()
        )
    if report.framing is not None:
        parts.append(str(report.framing))
    ctype = response_header(report, "content-type")
    if ctype:
        parts.append(ctype)
    if report.framing is Framing.CHUNKED:
        parts.append(f"{report.chunk_count} data chunks")
    parts.append(f"{report.body_bytes} body bytes")
    parts.append(f"{report.received_bytes} bytes received")
    return ", ".join(parts)


OUTCOMES = ("completed", "failed", "incomplete", "cut", "unknown")

_HEAD_STATES = (ProblemState.STATUS_LINE, ProblemState.HEADERS)


def _http(report: Report) -> str:
    v, p, kind = report.verdict, report.problem, report.close.kind
    if v is Verdict.COMPLETE:
        if report.framing is Framing.CLOSE_DELIMITED:
            text = (
                "The body was close-delimited (no Content-Length, not chunked) and ended with a "
                f"clean close ({kind.value}), which is how such a body ends: nothing is missing at "
                "the HTTP level."
            )
        else:
            text = "The response is complete: nothing is missing at the HTTP level."
        if report.extra_bytes and report.status == 101:
            text += (
                f" {report.extra_bytes} bytes of the switched-to protocol followed the 101 "
                "(not HTTP: not analysed)."
            )
        elif report.extra_bytes:
            text += f" {report.extra_bytes} bytes followed the end of the response and are not part of it."
        return text
    if v is Verdict.NO_RESPONSE:
        return "No response byte arrived: the server sent nothing before the connection ended."
    assert p is not None
    if v is Verdict.MALFORMED:
        text = (
            f"The server sent bytes that break HTTP/1.1 framing at byte {p.offset}; a strict "
            "client must fail here."
        )
        if p.tolerated_by:
            text += f" Lenient clients differ: {p.tolerated_by}."
        return text
    if p.state in _HEAD_STATES:
        return f"The response head never completed: the stream stopped at byte {p.offset}."
    if report.framing is Framing.CLOSE_DELIMITED:
        if kind is CloseKind.TIMEOUT or kind is CloseKind.INTERRUPTED:
            how = "chunkscope stopped before the connection ended, so the body's end was never seen"
        else:
            how = (
                f"it ended with {kind.value}, which is not a clean close (RFC 9112 §9.8 for TLS "
                "without close_notify), so the body may be cut short"
            )
        return (
            f"The body was close-delimited (no Content-Length, not chunked): it ends when the "
            f"connection ends, and {how}; {report.body_bytes} body bytes arrived."
        )
    if report.framing is Framing.CONTENT_LENGTH:
        total = report.body_bytes + (p.remaining or 0)
        return (
            f"The body stopped after {report.body_bytes} of the {total} bytes announced by "
            f"Content-Length: {p.remaining} bytes never arrived."
        )
    state = p.state
    if state is ProblemState.CHUNK_BOUNDARY:
        return (
            "The chunked body stopped at a chunk boundary: the next chunk or the last-chunk "
            f"{p.missing!r} never arrived."
        )
    if state is ProblemState.CHUNK_DATA:
        return f"The chunked body stopped inside a chunk's data: {p.remaining} announced bytes never arrived."
    if state is ProblemState.CHUNK_SIZE:
        return "The chunked body stopped inside a chunk-size line."
    if state is ProblemState.CHUNK_DATA_END:
        return "The chunked body stopped right after a chunk's data, before its CRLF."
    if state is ProblemState.TRAILERS:
        return (
            "The chunked body stopped after the last-chunk, before the final CRLF: every data "
            "byte arrived, only the end of the (empty) trailer section is missing."
        )
    return f"The body stopped at byte {p.offset}."


def _close(report: Report, outcome: str | None) -> str | None:
    c = report.close
    kind = c.kind
    owed = report.verdict is not Verdict.COMPLETE and outcome != "completed"
    if report.verdict is Verdict.COMPLETE and kind is not CloseKind.RESET:
        return None  # a complete response: how the connection then ended changes nothing
    if kind is CloseKind.FIN:
        return "The nearest hop closed the TCP connection (FIN)."
    if kind is CloseKind.TLS_CLOSE_NOTIFY:
        return "The nearest hop ended TLS with a close_notify, then closed the connection."
    if kind is CloseKind.TLS_NO_CLOSE_NOTIFY:
        return "The nearest hop closed TCP without a TLS close_notify."
    if kind is CloseKind.RESET:
        if owed:
            return (
                "The connection was reset (RST): the kernel may have dropped bytes still in "
                "flight, so the server may have sent more than arrived."
            )
        return (
            "An RST ended the connection after everything the application needed had arrived; "
            "the kernel could only have dropped bytes of the HTTP framing's end."
        )
    if kind is CloseKind.TIMEOUT:
        if c.detail and "max-time" in c.detail:
            return (
                "The peer had not closed: chunkscope's --max-time ended the capture while the "
                "connection was still open."
            )
        return (
            "The peer had not closed: chunkscope stopped waiting after its idle timeout "
            f"({c.detail or 'no byte within the time limit'})."
        )
    if kind is CloseKind.INTERRUPTED:
        return "The capture was interrupted (Ctrl-C) while the connection was open; the stream may have gone on."
    if report.verdict is Verdict.MALFORMED:
        return "chunkscope stopped reading at the malformation and closed the connection itself."
    return c.detail or "How the connection ended was not recorded (raw bytes carry no close)."


def _application(report: Report, outcome: str | None) -> str | None:
    if outcome is None:
        return None
    complete = report.verdict is Verdict.COMPLETE
    if outcome == "completed":
        return "Every application event arrived, including the terminal one."
    if outcome == "failed":
        return "The application stream ended with an error event: the server reported a failure in-band."
    if outcome == "cut":
        return (
            "The stream stopped in the middle of an application event: that event is lost; the "
            "events before it are intact."
        )
    if outcome == "incomplete":
        if complete:
            return (
                "But the event stream carried no terminal event: the application may have ended "
                "it early."
            )
        return (
            "No terminal event arrived: the application stream is incomplete (events were lost "
            "or never sent)."
        )
    return (
        "Whether the application stream finished cannot be told: no terminal event is known for it."
    )


def _consequence(report: Report, outcome: str | None) -> str | None:
    v = report.verdict
    if v is not Verdict.TRUNCATED:
        return None
    if outcome == "completed" and report.framing is Framing.CLOSE_DELIMITED:
        return (
            "Every event arrived before the connection ended, so no application data was lost; "
            "most clients accept a close-delimited body at any close (see How clients report this)."
        )
    if outcome == "completed":
        return (
            "Only the HTTP framing's end is missing: no application data was lost, and a client "
            "may treat the stream as finished. Most HTTP clients still raise an error (see How "
            "clients report this); openai-python 2.7 and later stop at [DONE] and raise nothing."
        )
    if outcome == "failed":
        return "The error event is the server's own account of what went wrong; the cut after it lost nothing more."
    if outcome in ("cut", "incomplete"):
        return "Data was lost or never sent; see retry-safety under Why it likely ended before retrying."
    if outcome is None:
        return "The body is incomplete: bytes the server announced, or the end of the body, never arrived."
    return None


def explain(report: Report) -> list[str]:
    """The "What it means" sentences for ``report``, in order; never contradicting each other."""
    outcome = sse_outcome(report)
    sentences = [
        _http(report),
        _close(report, outcome),
        _application(report, outcome),
        _consequence(report, outcome),
    ]
    return [s for s in sentences if s]
