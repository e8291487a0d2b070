"""The ways a streamed response can end, as server scripts: every (where, how) a test serves.

``STOPS`` names where the bytes stop (a chunked SSE stream cut at a framing point, a short
Content-Length body, a close-delimited body, a malformed size line, nothing at all);
``closes(tls)`` lists how the connection then ends over TLS or plain TCP. ``script(stop, close,
family)`` builds the server script; ``family`` picks SSE events an SDK can parse (OpenAI chat
chunks or Anthropic message events), so the same cut reaches every client and SDK alike.
"""

from __future__ import annotations

import json
from pathlib import Path

from chunkscope.net.server import Script
from chunkscope.testing import Response, make_script, sse_event

__all__ = ["STALL", "STOPS", "closes", "script"]

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
STALL = 30.0  # seconds a stalled server holds the connection: far beyond every client's timeout


def _openai_chunk(text: str) -> str:
    return json.dumps(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "m",
            "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
        }
    )


def _anthropic_events() -> list[bytes]:
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "m",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }

    def ev(name: str, data: dict[str, object]) -> bytes:
        return sse_event(name, json.dumps({"type": name, **data}))

    return [
        ev("message_start", {"message": message}),
        ev("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
        ev("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "hi"}}),
        ev("content_block_stop", {"index": 0}),
        ev(
            "message_delta",
            {
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 1},
            },
        ),
        ev("message_stop", {}),
    ]


def _events(family: str) -> list[bytes]:
    if family == "anthropic":
        return _anthropic_events()
    return [
        sse_event(None, _openai_chunk("hel")),
        sse_event(None, _openai_chunk("lo")),
        sse_event(None, "[DONE]"),
    ]


def _first_event_name(family: str) -> str:
    return "message_start" if family == "anthropic" else "message"


# where the bytes stop -> a short description (tests show it in ids and failures)
STOPS = {
    "complete": "the whole chunked SSE stream",
    "after-terminal": "every event, then cut where the last-chunk should start (the field failure)",
    "between-events": "cut at a chunk boundary after the first event, before the terminal one",
    "chunk-data": "cut inside chunk 1's data",
    "chunk-size": "cut inside chunk 1's size line",
    "trailers": "cut after the last-chunk line, before the final CRLF",
    "content-length": "a Content-Length body cut short",
    "close-delimited": "a close-delimited body (no Content-Length, not chunked)",
    "malformed-size": "an invalid chunk-size line (0x5)",
    "bad-size-line": "the assistants-bad-size-line fixture",
    "no-response": "no byte at all",
}


def closes(tls: bool) -> tuple[str, ...]:
    """How a connection can end: over TLS with or without close_notify, over TCP with a FIN."""
    if tls:
        return ("tls-close-notify", "tls-no-close-notify", "reset", "stall")
    return ("fin", "reset", "stall")


def script(stop: str, close: str, family: str = "openai") -> Script:
    """The server script for ``stop`` (a key of STOPS) ended by ``close``."""
    events = _events(family)
    stall = STALL if close == "stall" else None
    sse = Response(events=events)
    if stop == "complete":
        base = sse.script()
    elif stop == "after-terminal":
        base = sse.script(truncate_at="before-last-chunk")
    elif stop == "between-events":
        base = sse.script(truncate_at=f"after-event:{_first_event_name(family)}")
    elif stop == "chunk-data":
        base = sse.script(truncate_at="mid-chunk:1")
    elif stop == "chunk-size":
        base = sse.script(truncate_at="mid-size-line:1")
    elif stop == "trailers":
        base = sse.script(truncate_at="after-last-chunk")
    elif stop == "content-length":
        data = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
        base = Script.from_bytes(data + b'{"partial": ')
    elif stop == "close-delimited":
        body = b"".join(events)
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
        base = Script.from_bytes(head + body)
    elif stop == "malformed-size":
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        event = events[0]
        base = Script.from_bytes(
            head + b"%x\r\n%s\r\n" % (len(event), event) + b"0x5\r\nhello\r\n0\r\n\r\n"
        )
    elif stop == "bad-size-line":
        base = make_script(FIXTURES / "assistants-bad-size-line.capture", speed=0)
    elif stop == "no-response":
        base = Script(reads=())
    else:
        raise KeyError(stop)
    return make_script(base, close=close, stall=stall, speed=0)
