"""Real SDK releases through the tap, configured only by environment variables: nothing changes for them.

Each case runs the same SDK code twice, at the same time, against the same faulted server:
once directly and once through the tap (``OPENAI_BASE_URL`` / ``ANTHROPIC_BASE_URL``
pointing at it). The SDK must raise the same exception with the same message and see
the same events; the tap's capture must hold exactly the served bytes and reach the
diagnosis a direct ``chunkscope capture`` reaches.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio
from support.sdks import SdkRun, run_sdk

import chunkscope
from chunkscope import load_capture
from chunkscope.testing import Response, sse_event, start_server, start_tap, tls_pair

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
ASSISTANTS = FIXTURES / "assistants-complete.capture"

# One process runs every case in turn (an SDK import costs seconds on a loaded machine).
# For each case it sets the base-URL variable, then builds a fresh client that reads it:
# the SDK is configured by the environment alone, as a user would configure it.
CASE_LOOP = """
import json, os
results = []
for case in json.loads(os.environ["SDK_CASES"]):
    os.environ[BASE_URL_VARIABLE] = case["base"]
    events, error = [], None
    try:
        for name in stream_events(case["timeout"]):
            events.append(name)
    except Exception as exc:
        error = {"class": type(exc).__module__ + "." + type(exc).__qualname__, "message": str(exc)}
    results.append({"events": events, "error": error})
print(json.dumps({"cases": results}))
"""

OPENAI_CODE = (
    """
import openai
BASE_URL_VARIABLE = "OPENAI_BASE_URL"
def stream_events(timeout):
    client = openai.OpenAI(api_key="sk-test-not-real", max_retries=0, timeout=timeout)
    for event in client.beta.threads.create_and_run(assistant_id="asst_test", stream=True):
        yield event.event
"""
    + CASE_LOOP
)

ANTHROPIC_CODE = (
    """
import anthropic
BASE_URL_VARIABLE = "ANTHROPIC_BASE_URL"
def stream_events(timeout):
    client = anthropic.Anthropic(api_key="sk-ant-test-not-real", max_retries=0, timeout=timeout)
    stream = client.messages.create(
        model="claude-test", max_tokens=64, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    for event in stream:
        yield event.type
"""
    + CASE_LOOP
)


def _anthropic_stream() -> Response:
    """An Anthropic Messages stream, message_start ... message_stop."""

    def event(name: str, **data: Any) -> bytes:
        return sse_event(name, json.dumps({"type": name, **data}))

    message = {
        "id": "msg_test",
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": "claude-test",
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 3, "output_tokens": 1},
    }
    deltas = [
        event("content_block_delta", index=0, delta={"type": "text_delta", "text": word})
        for word in ("Hello", ",", " world", "!", " Bye", ".")
    ]
    return Response(
        headers=[("request-id", "req_test")],
        events=[
            event("message_start", message=message),
            event("content_block_start", index=0, content_block={"type": "text", "text": ""}),
            event("ping"),
            *deltas,
            event("content_block_stop", index=0),
            event(
                "message_delta",
                delta={"stop_reason": "end_turn", "stop_sequence": None},
                usage={"output_tokens": 6},
            ),
            event("message_stop"),
        ],
    )


FAULTS = {
    "cut-before-last-chunk-tls": (
        {"truncate_at": "before-last-chunk", "close": "tls-no-close-notify"},
        True,
    ),
    "mid-chunk-reset": ({"truncate_at": "mid-chunk:3", "close": "reset"}, False),
    "stall": ({"truncate_at": "mid-chunk:5", "close": "stall", "stall": 30.0}, False),
}
SDK_TIMEOUT = 10.0
STALL_SDK_TIMEOUT = 2.0  # the SDK gives up on the stall...
TAP_IDLE_TIMEOUT = 1.0  # ...after the tap has ended its recording (and kept the client waiting)

SDKS = ("openai-3.57.0", "openai-2.6.1", "anthropic-2.14.0", "anthropic-0.125.0")


@pytest.mark.parametrize("sdk", SDKS)
async def test_an_unmodified_sdk_raises_the_same_through_the_tap(sdk: str, tmp_path: Path) -> None:
    anthropic = sdk.startswith("anthropic")
    source: Any = _anthropic_stream() if anthropic else ASSISTANTS
    path = "/messages" if anthropic else "/threads/runs"
    variable = "ANTHROPIC_BASE_URL" if anthropic else "OPENAI_BASE_URL"
    pair = tls_pair(str(tmp_path))  # one CA signs both the TLS server and the TLS tap
    env = {"SSL_CERT_FILE": pair.ca_pem}
    direct_cases: list[dict[str, Any]] = []
    tap_cases: list[dict[str, Any]] = []
    servers: list[Any] = []
    taps: list[Any] = []
    references: list[chunkscope.Report] = []
    runs: dict[str, SdkRun] = {}
    async with trio.open_nursery() as nursery:
        for fault, (faults, tls) in FAULTS.items():
            timeout = STALL_SDK_TIMEOUT if fault == "stall" else SDK_TIMEOUT
            server = await start_server(
                nursery, source, tls=pair if tls else False, speed=0, **faults
            )
            tap = await start_tap(
                nursery,
                server,
                tmp_path / fault,
                prefix="v1",
                tls=pair if tls else False,
                idle_timeout=TAP_IDLE_TIMEOUT,
            )
            servers.append(server)
            taps.append(tap)
            direct = server.url + "v1"
            direct_cases.append(
                {"base": direct if not anthropic else server.url, "timeout": timeout}
            )
            tap_cases.append({"base": tap.env[variable], "timeout": timeout})
            references.append(
                await chunkscope.capture(
                    direct + path,
                    method="POST",
                    ssl_context=server.ssl_context,
                    idle_timeout=TAP_IDLE_TIMEOUT,
                )
            )

        async def run(name: str, cases: list[dict[str, Any]]) -> None:
            code = ANTHROPIC_CODE if anthropic else OPENAI_CODE
            runs[name] = await trio.to_thread.run_sync(
                run_sdk, sdk, code, {**env, "SDK_CASES": json.dumps(cases)}
            )

        async with trio.open_nursery() as clients:
            clients.start_soon(run, "direct", direct_cases)
            clients.start_soon(run, "tap", tap_cases)
        with trio.fail_after(15):
            for tap in taps:
                await tap.wait_idle()
        nursery.cancel_scope.cancel()

    assert "cases" in runs["direct"].result, runs["direct"].stderr[-2000:]
    assert "cases" in runs["tap"].result, runs["tap"].stderr[-2000:]
    for i, fault in enumerate(FAULTS):
        direct, through = runs["direct"].result["cases"][i], runs["tap"].result["cases"][i]
        assert through["error"] == direct["error"], fault
        assert through["events"] == direct["events"], fault
        assert direct["events"], f"{fault}: the SDK saw no event at all: {direct}"
        if fault == "cut-before-last-chunk-tls":
            assert direct["events"][-1] in ("thread.run.completed", "message_stop")
        if fault == "stall":
            assert direct["error"] is not None
            assert "timed out" in direct["error"]["message"].lower()

        exchanges = taps[i].exchanges
        assert len(exchanges) == 1, fault
        assert load_capture(exchanges[0].capture).server_bytes == servers[i].server_bytes, fault
        report, reference = exchanges[0].report, references[i]
        assert report is not None
        assert report.verdict == reference.verdict, fault
        assert report.problem is not None
        assert reference.problem is not None
        assert report.problem.state == reference.problem.state, fault
        assert report.problem.offset == reference.problem.offset, fault
        assert report.close.kind == reference.close.kind, fault
