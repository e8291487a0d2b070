"""Provider profiles and sse.outcome: every profile and outcome, over every ending of the stream."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest

from chunkscope.core.analyzer import Analyzer
from chunkscope.core.profiles import PROFILES, profile_from_path
from chunkscope.testing import sse_event


def j(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


CHAT = j({"object": "chat.completion.chunk", "choices": [{"delta": {"content": "hi"}}]})
RESP_DELTA = sse_event("response.output_text.delta", j({"type": "response.output_text.delta"}))
RUN_DELTA = sse_event("thread.message.delta", j({"object": "thread.message.delta"}))
A_START = sse_event("message_start", j({"type": "message_start"}))
A_DELTA = sse_event("content_block_delta", j({"type": "content_block_delta"}))

# (profile, outcome, request path, events, what the outcome detail must say)
CASES: list[tuple[str, str, str, list[bytes], str | None]] = [
    ("openai-chat", "completed", "/v1/chat/completions",
     [sse_event(None, CHAT)] * 3 + [sse_event(None, "[DONE]")], None),
    ("openai-chat", "failed", "/v1/chat/completions",
     [sse_event(None, CHAT), sse_event(None, j({"error": {"message": "The server had an error", "type": "server_error"}}))],
     "The server had an error"),
    ("openai-chat", "failed", "/v1/chat/completions",
     [sse_event(None, CHAT), sse_event(None, j({"error": {"message": "upstream timed out"}})), sse_event(None, "[DONE]")],
     "upstream timed out"),
    ("openai-chat", "cut", "/v1/chat/completions", [sse_event(None, CHAT)] * 3, None),
    ("openai-responses", "completed", "/v1/responses",
     [sse_event("response.created", "{}"), RESP_DELTA, sse_event("response.completed", j({"response": {"status": "completed"}}))], None),
    ("openai-responses", "incomplete", "/v1/responses",
     [sse_event("response.created", "{}"), RESP_DELTA,
      sse_event("response.incomplete", j({"type": "response.incomplete", "response": {"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}}}))],
     "max_output_tokens"),
    ("openai-responses", "failed", "/v1/responses",
     [sse_event("response.created", "{}"), sse_event("response.failed", j({"response": {"status": "failed", "error": {"code": "server_error", "message": "boom"}}}))],
     "boom"),
    ("openai-responses", "failed", "/v1/responses",
     [sse_event("response.created", "{}"), sse_event("error", j({"type": "error", "code": "rate_limit_exceeded", "message": "slow down"}))],
     "slow down"),
    ("openai-responses", "cut", "/v1/responses", [sse_event("response.created", "{}"), RESP_DELTA], None),
    ("openai-assistants", "completed", "/v1/threads/runs",
     [sse_event("thread.run.created", "{}"), RUN_DELTA, sse_event("thread.run.completed", j({"status": "completed"})), sse_event("done", "[DONE]")],
     None),
    ("openai-assistants", "completed", "/v1/threads/thread_1/runs",
     [sse_event("thread.run.created", "{}"), sse_event("thread.run.requires_action", j({"required_action": {"type": "submit_tool_outputs"}})), sse_event("done", "[DONE]")],
     "submit_tool_outputs"),
    ("openai-assistants", "incomplete", "/v1/threads/runs",
     [sse_event("thread.run.created", "{}"), RUN_DELTA, sse_event("thread.run.incomplete", j({"status": "incomplete", "incomplete_details": {"reason": "max_completion_tokens"}})), sse_event("done", "[DONE]")],
     "max_completion_tokens"),
    ("openai-assistants", "failed", "/v1/threads/runs",
     [sse_event("thread.run.created", "{}"), sse_event("thread.run.failed", j({"status": "failed", "last_error": {"code": "server_error", "message": "Sorry, something went wrong."}})), sse_event("done", "[DONE]")],
     "Sorry, something went wrong."),
    ("openai-assistants", "failed", "/v1/threads/runs",
     [sse_event("thread.run.created", "{}"), sse_event("thread.run.cancelled", j({"status": "cancelled"})), sse_event("done", "[DONE]")],
     "cancelled"),
    ("openai-assistants", "failed", "/v1/threads/runs",
     [sse_event("thread.run.created", "{}"), sse_event("thread.run.expired", j({"status": "expired"})), sse_event("done", "[DONE]")],
     "expired"),
    ("openai-assistants", "cut", "/v1/threads/runs", [sse_event("thread.run.created", "{}"), RUN_DELTA], None),
    ("anthropic-messages", "completed", "/v1/messages",
     [A_START, A_DELTA, sse_event("message_delta", j({"type": "message_delta", "delta": {"stop_reason": "end_turn"}})), sse_event("message_stop", j({"type": "message_stop"}))],
     "stop_reason end_turn"),
    ("anthropic-messages", "failed", "/v1/messages",
     [A_START, A_DELTA, sse_event("error", j({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}))],
     "Overloaded"),
    ("anthropic-messages", "cut", "/v1/messages", [A_START, A_DELTA], None),
    ("generic", "completed", "/stream", [sse_event("tick", "1"), sse_event("done", "bye")], None),
    ("generic", "unknown", "/stream", [sse_event("tick", "1"), sse_event("tick", "2")], None),
]  # fmt: skip

ENDINGS = [
    "chunked",
    "chunked-cut",
    "close-delimited",
    "content-length",
    "gzip-chunked",
    "gzip-cut",
    "deflate-close",
    "close-delimited-reset",
    "content-length-cut",
]
PROBLEMS = ("cut", "failed", "incomplete")


def response(body: bytes, ending: str) -> bytes:
    """The server bytes for an SSE ``body`` ending one way."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
    if ending.startswith("gzip"):
        head += b"Content-Encoding: gzip\r\n"
        body = gzip.compress(body, mtime=0)
        if ending == "gzip-cut":
            body = body[:-8]  # and the gzip trailer never came either
    if ending == "deflate-close":
        import zlib

        return head + b"Content-Encoding: deflate\r\n\r\n" + zlib.compress(body)
    if ending.startswith("close-delimited"):
        return head + b"\r\n" + body
    if ending == "content-length-cut":  # one byte more announced than sent
        return head + b"Content-Length: %d\r\n\r\n" % (len(body) + 1) + body
    if ending == "content-length":
        return head + b"Content-Length: %d\r\n\r\n" % len(body) + body
    chunks = [body[i : i + 50] for i in range(0, len(body), 50)]
    out = head + b"Transfer-Encoding: chunked\r\n\r\n"
    out += b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks)
    return out if ending.endswith("cut") else out + b"0\r\n\r\n"


def run(
    data: bytes, path: str | None = None, step: int = 0, close: str = "fin", **options: Any
) -> Any:
    analyzer = Analyzer(request_path=path, **options)
    step = step or len(data)
    for i in range(0, len(data), step):
        analyzer.feed(data[i : i + step], 0.0)
    return analyzer.close(close, 1.0)


def case_id(case: tuple[str, str, str, list[bytes], str | None]) -> str:
    return f"{case[0]}-{case[1]}-{case[3][-1][:24]!r}"


@pytest.mark.parametrize("ending", ENDINGS)
@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_every_profile_and_outcome_over_every_ending(
    case: tuple[str, str, str, list[bytes], str | None], ending: str
) -> None:
    profile, outcome, path, events, reason = case
    close = "reset" if ending.endswith("reset") else "fin"
    report = run(response(b"".join(events), ending), path, close=close)
    sse = report.sse
    assert sse is not None
    assert (sse.profile, sse.outcome) == (profile, outcome), sse.outcome_detail
    assert sse.events == len(events)
    if reason is not None:
        assert reason in (sse.outcome_detail["reason"] or ""), sse.outcome_detail
    transport_complete = not ending.endswith(("cut", "reset"))
    assert (report.verdict.value == "complete") is transport_complete
    assert report.transport_exit_code == (0 if transport_complete else 1)
    expected_exit = 0 if transport_complete and outcome not in PROBLEMS else 1
    if ending == "gzip-cut":
        assert report.content_coding["problem"]["kind"] == "cut"
    assert report.exit_code == expected_exit
    if outcome in ("completed", "failed", "incomplete"):
        # the deciding event is the stream's own terminal event, shown with its data
        assert sse.terminal_seen
        assert sse.outcome_detail["event"]["name"] in {
            "message",
            *PROFILES[profile].terminal,
            *PROFILES[profile].closing,
        }
    json.dumps(report.to_dict())


@pytest.mark.parametrize("ending", ["chunked-cut", "close-delimited", "gzip-chunked"])
@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_a_stream_cut_inside_its_last_event_is_cut(
    case: tuple[str, str, str, list[bytes], str | None], ending: str
) -> None:
    profile, _, path, events, _ = case
    body = b"".join(events)[:-3]  # the last event's blank line never came
    report = run(response(body, ending), path)
    sse = report.sse
    assert sse is not None
    assert sse.profile == profile
    assert sse.outcome == "cut"
    assert sse.partial_event is not None
    assert report.exit_code == 1
    assert report.transport_exit_code == (1 if ending == "chunked-cut" else 0)


@pytest.mark.parametrize(
    "case", [c for c in CASES if c[0] != "openai-chat" or c[1] != "failed"], ids=case_id
)
def test_profiles_are_detected_from_the_events_alone(
    case: tuple[str, str, str, list[bytes], str | None],
) -> None:
    profile, outcome, _, events, _ = case
    sse = run(response(b"".join(events), "chunked")).sse
    assert (sse.profile, sse.outcome) == (profile, outcome)
    assert sse.outcome_detail["detected_from"] in ("events", "default")


def test_the_request_path_names_the_profile_when_no_event_arrived() -> None:
    report = run(response(b"", "close-delimited"), "/v1/chat/completions")
    assert report.sse.profile == "openai-chat"
    assert report.sse.outcome == "cut"
    assert report.sse.outcome_detail["detected_from"] == "request path"
    assert report.exit_code == 1
    assert profile_from_path("/v1/threads/thread_abc/runs/run_1/submit_tool_outputs?x=1") == (
        "openai-assistants"
    )
    assert profile_from_path("/anthropic/v1/messages") == "anthropic-messages"
    assert profile_from_path("/v1/models") is None


def test_assistants_summary_says_terminal_then_done() -> None:
    events = CASES[9][3]
    sse = run(response(b"".join(events), "chunked")).sse
    assert sse.outcome_detail["summary"] == "thread.run.completed then done"
    assert sse.outcome_detail["terminal_events"] == ["thread.run.completed", "done"]
    without_done = run(response(b"".join(events[:-1]), "chunked")).sse
    assert without_done.outcome == "completed"
    assert without_done.outcome_detail["summary"] == "thread.run.completed, no done event after it"


def test_a_forced_profile_judges_by_its_own_terminal_events() -> None:
    generic = b"".join([sse_event("tick", "1"), sse_event("end", "bye")])
    report = run(response(generic, "chunked"), profile="anthropic-messages")
    assert report.sse.profile == "anthropic-messages"
    assert report.sse.outcome == "cut"
    assert report.sse.outcome_detail["detected_from"] == "--profile"
    assert report.exit_code == 1


def test_the_default_terminal_events_end_a_stream_under_every_profile() -> None:
    """sse.complete (the default list) and sse.outcome never contradict each other."""
    stream = response(b"".join([sse_event("tick", "1"), sse_event("done", "bye")]), "chunked")
    for profile in PROFILES:
        sse = run(stream, profile=profile).sse
        assert sse.complete
        assert sse.outcome == "completed", profile
    sse = run(stream, profile="openai-responses").sse
    assert sse.outcome_detail["summary"] == "done (not a terminal event of openai-responses)"


def test_terminal_event_names_count_as_success_under_every_profile() -> None:
    stream = response(b"".join([sse_event("tick", "1"), sse_event("end", "")]), "chunked")
    assert run(stream).sse.outcome == "unknown"
    assert run(stream, terminal_events=["end"]).sse.outcome == "completed"
    cut = response(sse_event("tick", "1"), "chunked")
    report = run(cut, terminal_events=["end"])
    assert report.sse.outcome == "cut"  # a terminal event was expected and never came
    assert report.exit_code == 1


def test_responses_completed_without_done_is_complete_in_the_legacy_keys_too() -> None:
    sse = run(response(b"".join(CASES[4][3]), "chunked")).sse
    assert sse.terminal_seen
    assert sse.complete
    assert sse.terminal_event.name == "response.completed"


@pytest.mark.parametrize("step", [1, 7, 64])
def test_gzip_bodies_give_the_same_application_report_at_any_split(step: int) -> None:
    data = response(b"".join(CASES[9][3]), "gzip-cut")
    whole, split = run(data, "/v1/threads/runs"), run(data, "/v1/threads/runs", step)
    assert whole.sse.to_dict()["outcome"] == split.sse.to_dict()["outcome"] == "completed"
    assert whole.content_coding == split.content_coding


def test_unknown_profile_is_a_usage_error() -> None:
    from chunkscope.core.errors import UsageError

    with pytest.raises(UsageError, match="unknown profile 'openai'"):
        Analyzer(profile="openai")


def test_the_sse_decoder_hands_watched_events_over_with_their_whole_data() -> None:
    """The one hook core/profiles.py needs from core/sse.py (any fast path must keep it)."""
    from chunkscope.core.sse import SseDecoder

    seen: list[tuple[str, int, bytes]] = []
    decoder = SseDecoder(
        watch_names=["response.failed"],
        watch_data=(b'{"error"',),
        on_watched=lambda event, data: seen.append((event.name, event.offset, data)),
    )
    long = j({"response": {"error": {"message": "x" * 1000}}})
    stream = (
        sse_event("delta", "1")
        + sse_event("response.failed", long)
        + sse_event(None, '{"error": {}}')
        + sse_event(None, "[DONE]")
    )
    for i in range(0, len(stream), 7):
        decoder.feed(stream[i : i + 7], 100 + i, 0.0)
    decoder.summary()  # the fast path decodes what it holds by then: every watched event is out
    offset = 100 + len(sse_event("delta", "1"))
    assert seen == [
        ("response.failed", offset, long.encode()),  # whole data, beyond the 200-char preview
        ("message", offset + len(sse_event("response.failed", long)), b'{"error": {}}'),
        ("message", len(stream) + 100 - len(sse_event(None, "[DONE]")), b"[DONE]"),
    ]


@pytest.mark.parametrize("crlf", [False, True])
def test_the_fast_path_hands_over_the_same_watched_events_as_the_line_decoder(crlf: bool) -> None:
    """A watched event inside a run of same-shape events is not counted past by the fast path."""
    from chunkscope.core.sse import SseDecoder

    plain = [b'data: {"choices":[{"delta":{"content":"%d"}}]}\n\n' % i for i in range(3000)]
    plain[1500] = b'data: {"error": {"message": "overloaded"}}\n\n'
    plain[2500] = b"event: response.failed\ndata: {}\n\n"
    stream = b"".join(plain) + b"data: [DONE]\n\n"
    if crlf:
        stream = stream.replace(b"\n", b"\r\n")
    seen: dict[bool, list[tuple[str, int, bytes]]] = {}
    for fast in (True, False):
        got: list[tuple[str, int, bytes]] = []
        decoder = SseDecoder(
            fast=fast,
            watch_names=["response.failed"],
            watch_data=(b'{"error"',),
            on_watched=lambda event, data, got=got: got.append((event.name, event.offset, data)),
        )
        for i in range(0, len(stream), 65536):
            decoder.feed(stream[i : i + 65536], i, 0.0)
        decoder.summary()
        seen[fast] = got
    assert seen[True] == seen[False]
    assert [name for name, _, _ in seen[True]] == ["message", "response.failed", "message"]
