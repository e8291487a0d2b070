"""The tap between real clients and real servers on 127.0.0.1: every byte and every ending passes through."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import h11
import httpx
import pytest
import trio

import chunkscope
from chunkscope import load_capture
from chunkscope.net.server import Script, serve
from chunkscope.net.tap import capture_name, mirror_close, rewrite_host
from chunkscope.testing import Response, serving, sse_event, tapping, tls_pair

pytest_plugins = ["pytester"]

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
ALL_FIXTURES = sorted(FIXTURES.glob("*.capture"))
COMPLETE = FIXTURES / "assistants-complete.capture"
REQUEST = (
    b"POST /v1/threads/runs HTTP/1.1\r\nHost: tap.invalid\r\nAccept: text/event-stream\r\n"
    b"Authorization: Bearer sk-not-a-real-key\r\nContent-Type: application/json\r\n"
    b"Content-Length: 18\r\nConnection: close\r\n\r\n"
    b'{"stream":   true}'
)


async def raw_exchange(
    port: int, request: bytes = REQUEST, limit: float = 20.0
) -> tuple[bytes, str]:
    """What a raw-socket client receives, and how its connection ended (fin, reset, silent)."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    received = bytearray()
    how = "silent"
    try:
        await stream.send_all(request)
        with trio.move_on_after(limit):
            while True:
                try:
                    data = await stream.receive_some(65536)
                except trio.BrokenResourceError:
                    how = "reset"
                    break
                if not data:
                    how = "fin"
                    break
                received += data
    finally:
        await trio.aclose_forcefully(stream)
    return bytes(received), how


# -- pure pieces ---------------------------------------------------------------


def test_host_is_the_only_line_rewritten() -> None:
    head = b"GET /x HTTP/1.1\r\nhOsT:  a.example\r\nX-Keep:  as   sent \r\n\r\n"
    assert rewrite_host(head, "up:8443") == (
        b"GET /x HTTP/1.1\r\nhOsT: up:8443\r\nX-Keep:  as   sent \r\n\r\n"
    )
    assert rewrite_host(b"GET / HTTP/1.0\r\n\r\n", "up") == b"GET / HTTP/1.0\r\nHost: up\r\n\r\n"


def test_capture_names_sort_in_time_order_and_show_method_and_path() -> None:
    from datetime import datetime, timezone

    early = datetime(2026, 12, 1, 8, 0, 0, 5000, tzinfo=timezone.utc)
    late = datetime(2026, 12, 1, 8, 0, 1, 0, tzinfo=timezone.utc)
    a = capture_name(9, "POST", "/v1/threads/runs?x=1", early)
    b = capture_name(10, "GET", "/v1/models", late)
    assert a == "20261201T080000.005Z-0009-POST-v1_threads_runs.capture"
    assert sorted([b, a]) == [a, b]
    assert capture_name(1, "GET", "/", late).endswith("-GET-root.capture")
    assert "/" not in capture_name(1, "GET", "/../../etc/passwd", late)


@pytest.mark.parametrize(
    ("kind", "tls", "ending"),
    [
        ("fin", False, "fin"),
        ("reset", False, "reset"),
        ("reset", True, "reset"),
        ("tls-close-notify", True, "tls-close-notify"),
        ("tls-no-close-notify", True, "tls-no-close-notify"),
        ("tls-no-close-notify", False, "fin"),
        ("fin", True, "tls-close-notify"),
    ],
)
def test_endings_are_mirrored(kind: str, tls: bool, ending: str) -> None:
    assert mirror_close(chunkscope.CloseKind(kind), tls) == ending


# -- byte-exact relay, every fixture and fault -------------------------------------

FAULTS: list[dict[str, Any]] = [
    {},
    {"truncate_at": "before-last-chunk", "close": "fin"},
    {"truncate_at": "after-last-chunk", "close": "fin"},
    {"truncate_at": "mid-chunk:3", "close": "reset"},
    {"truncate_at": "mid-size-line:5", "close": "fin"},
    {"truncate_at": "1000", "close": "reset"},
]


@pytest.mark.parametrize("fixture", ALL_FIXTURES, ids=lambda p: p.stem)
async def test_a_raw_client_receives_exactly_the_upstreams_bytes(
    fixture: Path, tmp_path: Path
) -> None:
    for faults in FAULTS:
        if faults and "bad-size-line" in fixture.name:
            continue  # named cut points need a well-framed stream
        if faults.get("truncate_at") in ("before-last-chunk", "after-last-chunk") and (
            "cut" in fixture.name or "reset" in fixture.name
        ):
            continue  # no last-chunk to cut at
        async with (
            serving(fixture, speed=0, **faults) as server,
            tapping(server, tmp_path / "caps", prefix="v1") as tap,
        ):
            direct, direct_end = await raw_exchange(server.info.port)
            through, through_end = await raw_exchange(tap.info.port)
            await tap.wait_idle()
            assert through == direct == server.server_bytes, faults
            assert through_end == direct_end, faults
            exchange = tap.exchanges[-1]
            assert load_capture(exchange.capture).server_bytes == server.server_bytes


@pytest.mark.parametrize(
    ("faults", "ending"),
    [
        (
            {"truncate_at": "before-last-chunk", "close": "tls-no-close-notify"},
            "tls-no-close-notify",
        ),
        ({"close": "tls-close-notify"}, "tls-close-notify"),
        ({"truncate_at": "mid-chunk:2", "close": "reset"}, "reset"),
    ],
)
async def test_tls_endings_reach_a_tls_client_as_the_upstream_made_them(
    faults: dict[str, Any], ending: str, tmp_path: Path
) -> None:
    pair = tls_pair(str(tmp_path))
    async with (
        serving(COMPLETE, tls=pair, speed=0, **faults) as server,
        tapping(server, tmp_path / "caps", prefix="v1", tls=pair) as tap,
    ):
        direct = await chunkscope.capture(server.url, ssl_context=pair.client_context)
        out = str(tmp_path / "through.capture")
        through = await chunkscope.capture(
            tap.url + "/threads/runs", ssl_context=pair.client_context, output=out
        )
        await tap.wait_idle()
    assert through.close.kind.value == direct.close.kind.value == ending
    assert load_capture(out).server_bytes == server.server_bytes
    recorded = tap.exchanges[-1].report
    assert recorded is not None
    assert recorded.close.kind.value == ending
    assert (recorded.verdict, recorded.problem and recorded.problem.offset) == (
        direct.verdict,
        direct.problem and direct.problem.offset,
    )


async def test_a_stalled_upstream_stays_stalled_for_the_client(tmp_path: Path) -> None:
    async with (
        serving(COMPLETE, speed=0, truncate_at="mid-chunk:4", close="stall", stall=30) as server,
        tapping(server, tmp_path, idle_timeout=0.5) as tap,
    ):
        received, how = await raw_exchange(tap.info.port, limit=1.5)
        await tap.wait_idle()
    # the tap's idle timeout ended the recording, not the client's connection
    assert how == "silent"
    assert received == server.server_bytes
    report = tap.exchanges[0].report
    assert report is not None
    assert report.close.kind.value == "timeout"
    assert report.problem is not None
    assert report.problem.state.value == "chunk-data"


# -- many clients, real client libraries ----------------------------------------------


def _numbered_stream(number: int) -> Response:
    return Response(
        events=[sse_event("delta", json.dumps({"stream": number, "i": i})) for i in range(20)]
        + [sse_event("done", "[DONE]")]
    )


async def test_fifty_concurrent_sse_streams_each_byte_exact(tmp_path: Path) -> None:
    def script(request: h11.Request) -> Script:
        number = int(request.target.rsplit(b"/", 1)[1])
        return _numbered_stream(number).script(gap=0.01).with_options(speed=1.0)

    async with trio.open_nursery() as nursery:
        info = await nursery.start(serve, script)
        async with tapping(f"http://127.0.0.1:{info.port}", tmp_path) as tap:
            results: dict[int, bytes] = {}

            async def one(number: int) -> None:
                request = REQUEST.replace(b"/v1/threads/runs", b"/streams/%d" % number)
                results[number], _ = await raw_exchange(tap.info.port, request)

            async with trio.open_nursery() as clients:
                for number in range(50):
                    clients.start_soon(one, number)
            await tap.wait_idle()
        nursery.cancel_scope.cancel()
    for number in range(50):
        assert results[number] == _numbered_stream(number).to_bytes(), number
    assert len(tap.exchanges) == 50
    assert {e.outcome for e in tap.exchanges} == {"complete, fin"}
    by_path = {e.target: load_capture(e.capture).server_bytes for e in tap.exchanges}
    assert all(by_path[f"/streams/{n}"] == _numbered_stream(n).to_bytes() for n in range(50))


async def test_json_get_passes_and_the_client_connection_is_reused(tmp_path: Path) -> None:
    models = Response(
        headers=[("Content-Type", "application/json")],
        body=json.dumps({"object": "list", "data": [{"id": "gpt-test"}]}).encode(),
    )
    async with (
        serving(models, speed=0) as server,
        tapping(server, tmp_path, prefix="v1") as tap,
        httpx.AsyncClient(base_url=tap.url) as client,
    ):
        first = await client.get(tap.url + "/models")
        second = await client.get(tap.url + "/models")
        await tap.wait_idle()
    assert first.json() == second.json() == {"object": "list", "data": [{"id": "gpt-test"}]}
    assert tap.info.connections == 1  # httpx's pool kept the connection to the tap
    assert len(tap.exchanges) == 2
    for exchange in tap.exchanges:
        assert exchange.report is not None
        assert exchange.report.verdict.value == "complete"
        assert exchange.report.status == 200
        assert load_capture(exchange.capture).server_bytes == server.server_bytes
    # the replay server closes after each response: the background watch saw it
    assert {e.report.close.kind.value for e in tap.exchanges if e.report} == {"fin"}


async def _body_echo(task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
    """A real upstream that answers with the size and SHA-256 of the body it received, and its head."""

    async def handle(stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=65536)
        head = b""
        body = hashlib.sha256()
        size = 0
        raw = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await stream.receive_some(1 << 16)
                if len(raw) < 4096:
                    raw += data[:4096]
                conn.receive_data(data)
            elif isinstance(event, h11.Request):
                head = bytes(raw[: raw.find(b"\r\n\r\n") + 4])
            elif isinstance(event, h11.Data):
                body.update(event.data)
                size += len(event.data)
            elif isinstance(event, h11.EndOfMessage):
                break
        answer = json.dumps(
            {"size": size, "sha256": body.hexdigest(), "head": head.decode("latin-1")}
        ).encode()
        await stream.send_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n%s" % (len(answer), answer)
        )
        await stream.aclose()

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    task_status.started(listeners[0].socket.getsockname()[1])
    await trio.serve_listeners(handle, listeners)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_request_body_of_several_megabytes_goes_upstream_as_sent(
    chunked: bool, tmp_path: Path
) -> None:
    body = os.urandom(5 << 20)
    async with trio.open_nursery() as nursery:
        port = await nursery.start(_body_echo)
        async with (
            tapping(f"http://127.0.0.1:{port}", tmp_path) as tap,
            httpx.AsyncClient(timeout=30) as client,
        ):

            async def pieces() -> Any:
                for start in range(0, len(body), 1 << 20):
                    yield body[start : start + (1 << 20)]

            response = await client.post(
                tap.url + "upload",
                content=pieces() if chunked else body,
                headers={"X-Custom": "Kept  As  Sent", "Authorization": "Bearer sk-secret"},
            )
            await tap.wait_idle()
        nursery.cancel_scope.cancel()
    echoed = response.json()
    assert echoed["size"] == len(body)
    assert echoed["sha256"] == hashlib.sha256(body).hexdigest()
    upstream_head = echoed["head"]
    assert f"Host: 127.0.0.1:{port}\r\n" in upstream_head
    assert "X-Custom: Kept  As  Sent\r\n" in upstream_head
    assert "Authorization: Bearer sk-secret\r\n" in upstream_head  # forwarded, not redacted
    assert ("Transfer-Encoding: chunked" in upstream_head) is chunked
    capture = load_capture(tap.exchanges[0].capture)
    sent = capture.request_bytes
    assert b"sk-secret" not in sent  # redacted in the saved capture, same length
    assert sent.find(b"\r\n\r\n") + 4 == len(upstream_head)  # masked same-length
    parser = h11.Connection(h11.SERVER, max_incomplete_event_size=65536)
    parser.receive_data(sent)
    recorded = bytearray()
    while not isinstance(event := parser.next_event(), h11.EndOfMessage):
        if isinstance(event, h11.Data):
            recorded += event.data
    assert recorded == body


async def test_a_client_that_leaves_early_closes_the_upstream_and_the_capture_says_so(
    tmp_path: Path,
) -> None:
    slow = Response(events=[sse_event("delta", str(i)) for i in range(100)])
    async with (
        serving(slow.script(gap=0.05).with_options(speed=1.0)) as server,
        tapping(server, tmp_path) as tap,
    ):
        stream = await trio.open_tcp_stream("127.0.0.1", tap.info.port)
        await stream.send_all(REQUEST)
        received = b""
        with trio.fail_after(10):
            while b"delta" not in received:
                received += await stream.receive_some(65536)
        await stream.aclose()
        with trio.fail_after(10):
            await tap.wait_idle()
        # the replay server notices the tap closed its connection: its next write fails
        for _ in range(200):  # bounded: 10 s at most
            if server.info.errors:
                break
            await trio.sleep(0.05)
        assert server.info.errors
    exchange = tap.exchanges[0]
    assert exchange.client_left
    assert exchange.outcome == "truncated, client left"
    capture = load_capture(exchange.capture)
    assert capture.meta.get("client_left") is True
    assert capture.end is not None
    assert capture.end.kind.value == "interrupted"
    assert capture.end.detail is not None
    assert capture.end.detail.startswith("the client left: it closed its connection")
    assert capture.server_bytes.startswith(received)


async def test_an_unreachable_upstream_gets_the_client_a_502_with_one_line(tmp_path: Path) -> None:
    closed = trio.socket.socket()
    await closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    async with tapping(f"http://127.0.0.1:{port}/v1", tmp_path) as tap:
        received, how = await raw_exchange(tap.info.port)
        await tap.wait_idle()
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
    assert body.count(b"\n") == 1
    assert b"cannot connect" in body
    assert how == "fin"
    exchange = tap.exchanges[0]
    assert exchange.error is not None
    assert exchange.error.kind == "connect"
    assert exchange.outcome == "no upstream (connect), 502 sent"
    assert load_capture(exchange.capture).meta["error"]["kind"] == "connect"


async def test_an_upstream_tls_failure_gets_the_client_a_502(tmp_path: Path) -> None:
    async with (
        serving(COMPLETE, tls=True, speed=0) as server,  # its CA is not given to the tap
        tapping(server.url, tmp_path) as tap,
    ):
        received, _ = await raw_exchange(tap.info.port)
        await tap.wait_idle()
    assert received.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
    assert b"certificate verify failed" in received
    assert tap.exchanges[0].error is not None
    assert tap.exchanges[0].error.kind == "tls"


async def test_the_pytest_fixture_runs_a_tap(chunkscope_server: Any, chunkscope_tap: Any) -> None:
    server = await chunkscope_server(
        Response(events=[sse_event("done", "[DONE]")]), truncate_at="before-last-chunk"
    )
    tap = await chunkscope_tap(server, prefix="v1")
    assert tap.env["OPENAI_BASE_URL"] == tap.info.root + "/v1"
    assert tap.env["ANTHROPIC_BASE_URL"] == tap.info.root
    report = await chunkscope.capture(tap.url + "/threads/runs")
    await tap.wait_idle()
    assert report.problem is not None
    assert report.problem.missing == b"0\r\n\r\n"
    assert [os.path.basename(p) for p in tap.captures()] == [
        os.path.basename(tap.exchanges[0].capture)
    ]


def test_the_readme_tap_example_passes(pytester: pytest.Pytester) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("A `chunkscope_tap(upstream, **options)` fixture", 1)[1]
    code = re.findall(r"```python\n(.*?)```", section, re.S)[0]
    pytester.makeini("[pytest]\ntrio_mode = true\n")
    pytester.makepyfile(test_from_readme=code)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


async def test_curl_uploads_through_the_tap_with_expect_100_continue(tmp_path: Path) -> None:
    curl = shutil_which("curl")
    body = os.urandom(3 << 20)  # curl asks for 100-continue above 1 MiB
    upload = tmp_path / "upload.bin"
    upload.write_bytes(body)
    async with trio.open_nursery() as nursery:
        port = await nursery.start(_body_echo)
        async with tapping(f"http://127.0.0.1:{port}", tmp_path / "caps") as tap:
            done = await trio.run_process(
                [curl, "-sS", "-v", "--data-binary", f"@{upload}", tap.url + "upload"],
                capture_stdout=True,
                capture_stderr=True,
            )
            await tap.wait_idle()
        nursery.cancel_scope.cancel()
    assert b"Expect: 100-continue" in done.stderr
    assert b"HTTP/1.1 100 Continue" in done.stderr
    echoed = json.loads(done.stdout)
    assert echoed["size"] == len(body)
    assert echoed["sha256"] == hashlib.sha256(body).hexdigest()
    assert tap.exchanges[0].outcome == "complete, fin"


def shutil_which(name: str) -> str:
    import shutil

    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


async def test_the_tap_reaches_its_upstream_through_squid_and_keeps_its_ending(
    tmp_path: Path,
) -> None:
    from support.middlebox import Squid

    pair = tls_pair(str(tmp_path))
    async with serving(
        COMPLETE, tls=pair, speed=0, truncate_at="before-last-chunk", close="tls-no-close-notify"
    ) as server:
        with Squid(tmp_path, stock=False) as squid:
            async with tapping(
                server, tmp_path / "caps", proxy=f"http://127.0.0.1:{squid.port}"
            ) as tap:
                received, how = await raw_exchange(tap.info.port)
                await tap.wait_idle()
    assert received == server.server_bytes
    assert how == "fin"
    exchange = tap.exchanges[0]
    assert exchange.report is not None
    assert exchange.report.close.kind.value == "tls-no-close-notify"  # a tunnel passes it through
    assert load_capture(exchange.capture).meta["proxy"] == f"127.0.0.1:{squid.port}"


async def test_an_upstream_that_keeps_a_closing_connection_open_is_closed_after_a_grace(
    tmp_path: Path,
) -> None:
    answer = Response(body=b"{}", headers=[("Content-Type", "application/json")])
    async with (
        serving(answer.script(close="stall"), stall=30) as server,
        tapping(server, tmp_path) as tap,
    ):
        received, how = await raw_exchange(tap.info.port, limit=10)  # sends Connection: close
        await tap.wait_idle()
    assert received == server.server_bytes
    assert how == "fin"
    report = tap.exchanges[0].report
    assert report is not None
    assert report.verdict.value == "complete"
    assert report.close.kind.value == "unknown"
    assert report.close.detail == (
        "the upstream kept its connection open after a complete response; the tap closed it"
    )
