"""Every line of "how clients report this" is what the real client says.

Each case serves a stream, captures it with chunkscope to get the report, and
runs httpx (sync and async), requests, aiohttp and curl against the same
server; each client's exception text must match the table's line for it.
A "..." in a table line stands for client-specific detail.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable

import pytest
import trio

import chunkscope
from chunkscope.core.client_messages import client_messages
from chunkscope.net.server import Script
from chunkscope.testing import Response, serving, sse_event

EVENTS = [sse_event("delta", '{"a":1}'), sse_event("done", "[DONE]")]

CASES: dict[str, Callable[[], Script]] = {
    "chunk-boundary": lambda: Response(events=EVENTS).script(truncate_at="before-last-chunk"),
    "chunk-data": lambda: Response(events=EVENTS).script(truncate_at="mid-chunk:1"),
    "chunk-size": lambda: Response(events=EVENTS).script(truncate_at="mid-size-line:1"),
    "trailers": lambda: Response(events=EVENTS).script(truncate_at="after-last-chunk"),
    "content-length": lambda: Script.from_bytes(
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello"
    ),
    "malformed": lambda: Script.from_bytes(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n"
    ),
    "reset": lambda: Response(events=EVENTS).script(truncate_at="before-last-chunk", close="reset"),
}


def matches(expected: str, observed: str) -> bool:
    if expected.startswith("no error"):
        return observed == "ok"
    position = 0
    for fragment in expected.split("..."):
        fragment = fragment.strip(" ,()'\"")
        if not fragment:
            continue
        found = observed.find(fragment, position)
        if found < 0:
            return False
        position = found + len(fragment)
    return True


def exc_text(exc: BaseException) -> str:
    module = type(exc).__module__.split(".")[0]
    return f"{module}.{type(exc).__name__}: {exc}"


def run_httpx(url: str) -> str:
    import httpx

    try:
        with httpx.stream("GET", url) as response:
            for _ in response.iter_bytes():
                pass
    except Exception as exc:
        return exc_text(exc)
    return "ok"


async def run_httpx_async(url: str) -> str:
    import httpx

    try:
        async with httpx.AsyncClient() as client, client.stream("GET", url) as response:
            async for _ in response.aiter_bytes():
                pass
    except Exception as exc:
        return exc_text(exc)
    return "ok"


def run_requests(url: str) -> str:
    requests = pytest.importorskip("requests")
    try:
        requests.get(url, timeout=10).content  # noqa: B018 - reading the body is the point
    except Exception as exc:
        return f"requests.exceptions.{type(exc).__name__}: {exc}"
    return "ok"


def run_aiohttp(url: str) -> str:
    aiohttp = pytest.importorskip("aiohttp")
    import asyncio

    async def fetch() -> None:
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            await response.read()

    try:
        asyncio.run(fetch())
    except Exception as exc:
        return f"aiohttp.{type(exc).__name__}: {exc}"
    return "ok"


def run_curl(url: str) -> str:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    proc = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", url],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return "ok" if proc.returncode == 0 else proc.stderr.strip()


@pytest.mark.parametrize("case", sorted(CASES))
async def test_table_matches_real_clients(case: str) -> None:
    async with serving(CASES[case]()) as server:
        report = await chunkscope.capture(server.url, idle_timeout=10)
        rows = dict(client_messages(report))
        assert rows, f"no client table for {case}"
        url = server.url
        observed = {
            "httpx / h11": await trio.to_thread.run_sync(run_httpx, url),
            "requests / urllib3": await trio.to_thread.run_sync(run_requests, url),
            "aiohttp": await trio.to_thread.run_sync(run_aiohttp, url),
            "curl": await trio.to_thread.run_sync(run_curl, url),
        }
        async_httpx = await run_httpx_async(url)
    assert matches(rows["httpx / h11"], async_httpx), (case, async_httpx)
    for client, expected in rows.items():
        assert matches(expected, observed[client]), (case, client, expected, observed[client])


def test_complete_has_no_client_errors() -> None:
    report = chunkscope.analyze_bytes(Response(events=EVENTS).to_bytes(), close="fin")
    assert client_messages(report) == []


def test_the_field_case_names_the_famous_messages() -> None:
    report = chunkscope.analyze_bytes(
        Response(events=EVENTS, last_chunk=False).to_bytes(), close="fin"
    )
    rows = dict(client_messages(report))
    assert "incomplete chunked read" in rows["httpx / h11"]
    assert rows["curl"] == "curl: (18) transfer closed with outstanding read data remaining"
    text = chunkscope.render_text(report)
    assert "How clients report this" in text
