"""Live captures against real servers on 127.0.0.1: every close kind, every truncation state.

Peers: chunkscope's own replay server (real sockets, real TLS via trustme),
uvicorn serving a streaming ASGI app, and curl as a second client.
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio
import trustme

import chunkscope
from chunkscope import CloseKind, TransportError, analyze_capture, load_capture
from chunkscope.net.server import Script
from chunkscope.testing import assert_report, serving

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
FIELD = FIXTURES / "assistants-cut-after-done.capture"
FIELD_BYTES = load_capture(FIELD).server_bytes


@pytest.mark.parametrize(
    ("close", "tls", "observed"),
    [
        ("fin", False, "fin"),
        ("reset", False, "reset"),
        ("tls-close-notify", True, "tls-close-notify"),
        ("tls-no-close-notify", True, "tls-no-close-notify"),
        ("reset", True, "reset"),
    ],
)
async def test_each_close_kind_is_observed(close: str, tls: bool, observed: str) -> None:
    async with serving(FIELD, tls=tls, close=close, speed=0) as server:
        report = await chunkscope.capture(
            server.url, ssl_context=server.ssl_context, idle_timeout=10
        )
    assert_report(
        report,
        verdict="truncated",
        state="chunk-boundary",
        offset=len(FIELD_BYTES),
        missing=b"0\r\n\r\n",
        close=observed,
        sse_complete=True,
    )
    if observed == "reset":
        assert "dropped by the kernel" in (report.close.detail or "")


async def test_stall_ends_in_idle_timeout() -> None:
    async with serving(FIELD, close="stall", stall=30, speed=0) as server:
        report = await chunkscope.capture(server.url, idle_timeout=0.3)
    assert_report(report, verdict="truncated", state="chunk-boundary", close="timeout")
    assert report.close.idle is not None
    assert report.close.idle >= 0.3


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.capture")))
async def test_served_fixture_is_diagnosed_like_the_file(name: str, tmp_path: Path) -> None:
    expected = analyze_capture(str(FIXTURES / name))
    out = tmp_path / "live.capture"
    tls = load_capture(FIXTURES / name).meta["scheme"] == "https"
    async with serving(FIXTURES / name, tls=tls, speed=0) as server:
        report = await chunkscope.capture(
            server.url, ssl_context=server.ssl_context, output=str(out), idle_timeout=10
        )
    assert report.verdict == expected.verdict
    malformed = expected.verdict.value == "malformed"  # chunkscope stops reading at a malformation
    if not malformed:
        assert report.received_bytes == expected.received_bytes
    if expected.problem is not None:
        assert report.problem is not None
        assert (report.problem.state, report.problem.offset, report.problem.missing) == (
            expected.problem.state,
            expected.problem.offset,
            expected.problem.missing,
        )
    if not malformed:
        assert report.close.kind == expected.close.kind
    # byte-exact round trip through a live socket and a capture file
    live = load_capture(out)
    original = load_capture(FIXTURES / name).server_bytes
    if malformed:
        assert original.startswith(live.server_bytes)
    else:
        assert live.server_bytes == original
    assert live.end is not None
    assert analyze_capture(str(out)).verdict == expected.verdict


async def test_request_and_connection_details(tmp_path: Path) -> None:
    out = tmp_path / "c.capture"
    async with serving(FIXTURES / "assistants-complete.capture", tls=True, speed=0) as server:
        report = await chunkscope.capture(
            server.url + "v1/runs?x=1",
            method="POST",
            headers=[("Authorization", "Bearer sk-live-secret"), ("X-Trace", "abc")],
            body=b'{"stream":true}',
            ssl_context=server.ssl_context,
            output=str(out),
        )
    assert report.verdict.value == "complete"
    conn = report.connection
    assert conn is not None
    assert conn["tls"]["version"].startswith("TLS")
    assert conn["tls"]["peer_cert"]["issuer"]
    assert conn["peer"].startswith("127.0.0.1:")
    assert conn["h11"]["outcome"] == "head-ok"
    assert {"dns", "connect", "tls", "first_byte"} <= set(conn["timings"])
    sent = load_capture(out).request_bytes
    assert sent.startswith(b"POST /v1/runs?x=1 HTTP/1.1\r\n")
    assert b"sk-live-secret" not in sent  # redacted by default, same length
    assert b"Authorization: ****** **************\r\n" in sent
    assert sent.endswith(b'{"stream":true}')


async def test_text_report_says_what_the_connection_was(tmp_path: Path) -> None:
    out = tmp_path / "c.capture"
    async with serving(FIXTURES / "assistants-complete.capture", tls=True, speed=0) as server:
        report = await chunkscope.capture(
            server.url, ssl_context=server.ssl_context, output=str(out), redact=False
        )
    lines = chunkscope.render_text(report).split("\nConnection\n", 1)[1].splitlines()
    rows = {line.split()[0]: line for line in lines if line.startswith("  ") and line.strip()}
    assert f"GET {server.url}" in rows["request"]
    assert "127.0.0.1" in rows["dns"]
    assert " -> 127.0.0.1:" in rows["tcp"]
    assert "connected in" in rows["tcp"]
    assert "ALPN http/1.1" in rows["tls"]
    assert "SNI 127.0.0.1" in rows["tls"]
    assert "handshake" in rows["tls"]
    assert "issuer" in rows["certificate"]
    assert "expires" in rows["certificate"]
    assert "first byte" in chunkscope.render_text(report).split("\nTiming\n", 1)[1]
    assert "head-ok, status 200" in rows["h11"]
    saved = chunkscope.render_text(analyze_capture(str(out)))
    assert "credentials kept (--no-redact)" in saved


async def test_a_kept_alive_connection_is_said_to_be_closed_by_chunkscope() -> None:
    async with serving(
        FIXTURES / "assistants-complete.capture", close="stall", stall=30, speed=0
    ) as server:
        report = await chunkscope.capture(server.url, idle_timeout=10)
    assert_report(report, verdict="complete", close="unknown")
    text = chunkscope.render_text(report)
    assert "unknown at " in text
    assert "server kept the connection open after a complete response; chunkscope closed it" in text
    assert "was not recorded" not in text


async def test_no_redact_keeps_credentials(tmp_path: Path) -> None:
    out = tmp_path / "c.capture"
    async with serving(FIXTURES / "assistants-complete.capture", speed=0) as server:
        await chunkscope.capture(
            server.url, headers=[("Authorization", "Bearer keep-me")], output=str(out), redact=False
        )
    assert b"Bearer keep-me" in load_capture(out).request_bytes


async def test_cross_check_says_what_h11_concludes() -> None:
    async with serving(FIELD, speed=0) as server:
        report = await chunkscope.capture(server.url, cross_check=True)
    h11_view = report.connection["h11"] if report.connection else {}
    assert h11_view["outcome"] == "error"
    assert "incomplete chunked read" in h11_view["error"]
    assert h11_view["httpx"] == (
        "httpx.RemoteProtocolError: peer closed connection without sending complete message body "
        "(incomplete chunked read)"
    )


# -- bad input: clear errors, bounded time and memory ---------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_unreachable_port() -> None:
    with pytest.raises(TransportError, match="cannot connect") as info:
        await chunkscope.capture(f"http://127.0.0.1:{free_port()}/")
    assert info.value.kind == "connect"


async def test_tls_name_mismatch(tmp_path: Path) -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("other.example").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    from chunkscope.testing import TlsPair

    pair = TlsPair(ca, server_ctx, client_ctx, str(tmp_path / "ca.pem"))
    async with serving(FIELD, tls=pair, speed=0) as server:
        with pytest.raises(
            TransportError, match=r"certificate verify failed.*(mismatch|match)"
        ) as info:
            await chunkscope.capture(server.url, ssl_context=server.ssl_context)
    assert info.value.kind == "tls"


async def test_untrusted_certificate() -> None:
    async with serving(FIELD, tls=True, speed=0) as server:
        with pytest.raises(TransportError, match="certificate verify failed") as info:
            await chunkscope.capture(server.url)  # the system trust store does not know the CA
        report = await chunkscope.capture(server.url, insecure=True)  # explicit opt-out works
    assert info.value.kind == "tls"
    assert report.verdict.value == "truncated"
    assert report.connection is not None
    assert report.connection["tls"]["verified"] is False


async def raw_peer(answer: bytes | None) -> tuple[trio.socket.SocketType, Callable[[], Any]]:
    """A one-connection TCP peer: reads once, sends ``answer`` (if any), closes."""
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    listener.listen()

    async def serve_once() -> None:
        conn, _ = await listener.accept()
        with conn:
            if answer is not None:
                await conn.recv(65536)
                await conn.send(answer)

    return listener, serve_once


@pytest.mark.parametrize(
    ("answer", "match"),
    [
        (
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
            "does not speak TLS on this port",
        ),
        (None, "closed the connection during the TLS handshake"),
    ],
    ids=["plain-http-port", "closed-at-once"],
)
async def test_tls_handshake_failures_are_one_clear_line(answer: bytes | None, match: str) -> None:
    listener, serve_once = await raw_peer(answer)
    port = listener.getsockname()[1]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve_once)
        with pytest.raises(TransportError, match=match) as info:
            await chunkscope.capture(f"https://127.0.0.1:{port}/", connect_timeout=10)
    listener.close()
    assert info.value.kind == "tls"


HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


async def test_endless_chunk_size_line_is_cut_short(tmp_path: Path) -> None:
    out = tmp_path / "h.capture"
    script = Script(
        reads=((0.0, HEAD), *tuple((0.0, b"1" * 65536) for _ in range(64))),
        close="stall",
        stall=30,
    )
    start = time.monotonic()
    async with serving(script) as server:
        report = await chunkscope.capture(server.url, output=str(out), idle_timeout=10)
    assert time.monotonic() - start < 10
    assert_report(report, verdict="malformed", state="chunk-size")
    assert report.problem is not None
    assert "longer than 8192" in report.problem.message
    assert report.received_bytes < 4 << 20  # stopped reading, did not swallow 4 MiB
    assert load_capture(out).server_bytes[: len(HEAD)] == HEAD  # the partial capture is saved


async def test_endless_headers_are_cut_short(tmp_path: Path) -> None:
    out = tmp_path / "h.capture"
    flood = b"HTTP/1.1 200 OK\r\n" + b"X-Flood: " + b"a" * 100 + b"\r\n"
    script = Script(
        reads=(
            (0.0, flood),
            *tuple((0.0, b"X-More: " + b"b" * 1000 + b"\r\n") for _ in range(2000)),
        ),
        close="stall",
        stall=30,
    )
    async with serving(script) as server:
        report = await chunkscope.capture(server.url, output=str(out), idle_timeout=10)
    assert_report(report, verdict="malformed", state="headers", offset=65536)
    assert len(load_capture(out).server_bytes) >= 65536


async def test_one_byte_a_second_drip_is_bounded_by_max_time(tmp_path: Path) -> None:
    out = tmp_path / "drip.capture"
    script = Script(reads=((0.0, HEAD + b"5\r\nhello\r\n"),), slice=1, delay_per_write=1.0)
    start = time.monotonic()
    async with serving(script) as server:
        report = await chunkscope.capture(
            server.url, output=str(out), max_time=1.5, idle_timeout=10
        )
    assert time.monotonic() - start < 6
    assert report.close.kind is CloseKind.TIMEOUT
    assert "max-time" in (report.close.detail or "")
    assert report.verdict.value == "truncated"
    capture = load_capture(out)
    assert capture.end is not None
    assert 1 <= len(capture.server_bytes) <= 3


# -- third-party peers ---------------------------------------------------------------


async def sse_app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
    assert scope["type"] == "http"
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/event-stream")],
        }
    )  # type: ignore[operator]
    for i in range(5):
        await send(
            {
                "type": "http.response.body",
                "body": f"event: delta\ndata: {i}\n\n".encode(),
                "more_body": True,
            }
        )  # type: ignore[operator]
    await send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False})  # type: ignore[operator]


@dataclass
class Uvicorn:
    url: str
    cacert: str | None


@pytest.fixture(params=["http", "https"])
def uvicorn_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Uvicorn]:
    uvicorn = pytest.importorskip("uvicorn")
    port = free_port()
    tls: dict[str, str] = {}
    cacert = None
    if request.param == "https":  # uvicorn's own TLS: asyncio's ssl transport, not trio's
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1")
        cacert, certfile, keyfile = (str(tmp_path / n) for n in ("ca.pem", "cert.pem", "key.pem"))
        ca.cert_pem.write_to_path(cacert)
        cert.cert_chain_pems[0].write_to_path(certfile)
        cert.private_key_pem.write_to_path(keyfile)
        tls = {"ssl_certfile": certfile, "ssl_keyfile": keyfile}
    config = uvicorn.Config(
        sse_app, host="127.0.0.1", port=port, log_level="error", lifespan="off", **tls
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    yield Uvicorn(f"{request.param}://127.0.0.1:{port}/stream", cacert)
    server.should_exit = True
    thread.join(timeout=10)


async def test_uvicorn_streaming_sse_is_complete(uvicorn_server: Uvicorn, tmp_path: Path) -> None:
    out = tmp_path / "u.capture"
    report = await chunkscope.capture(
        uvicorn_server.url, cacert=uvicorn_server.cacert, output=str(out), idle_timeout=10
    )
    # uvicorn closes after the response (chunkscope asks for Connection: close);
    # over TLS asyncio's transport says close_notify first.
    closed = "tls-close-notify" if uvicorn_server.cacert else "fin"
    assert_report(report, verdict="complete", close=closed)
    assert report.framing is not None
    assert report.framing.value == "chunked"
    assert report.sse is not None
    assert report.sse.events == 6
    assert report.sse.terminal_seen
    data = load_capture(out).server_bytes
    for chunk in report.chunks:  # the chunk list matches the bytes
        assert data[chunk.offset : chunk.data_offset] == b"%x\r\n" % chunk.size
        assert data[chunk.data_offset + chunk.size : chunk.data_offset + chunk.size + 2] == b"\r\n"
    assert report.last_chunk is not None
    assert data[report.last_chunk.offset :] == b"0\r\n\r\n"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_server_bytes_equal_curl_raw_output(tmp_path: Path) -> None:
    out = tmp_path / "c.capture"
    async with serving(FIXTURES / "assistants-complete.capture", speed=0) as server:
        report = await chunkscope.capture(server.url, output=str(out))
        proc = await trio.run_process(
            ["curl", "--raw", "-s", "-i", server.url], capture_stdout=True, check=False
        )
    assert report.verdict.value == "complete"
    assert proc.stdout == load_capture(out).server_bytes


def test_cli_capture_saves_and_reports(
    serve_process: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from chunkscope.cli.main import main

    server = serve_process("--speed", "0", str(FIELD))  # type: ignore[operator]
    out = tmp_path / "cli.capture"
    code = main(
        [
            "capture",
            server.url,
            "-o",
            str(out),
            "--json",
            "--terminal-event",
            "thread.run.completed",
        ]
    )
    assert code == 1
    import json

    d = json.loads(capsys.readouterr().out)
    assert d["problem"]["state"] == "chunk-boundary"
    assert d["close"]["kind"] == "fin"
    assert "thread.run.completed" in d["sse"]["terminal_names"]
    assert load_capture(out).server_bytes == FIELD_BYTES


def test_cli_capture_events_and_exit_3(
    serve_process: object, capsys: pytest.CaptureFixture[str]
) -> None:
    from chunkscope.cli.main import main

    server = serve_process("--speed", "0", str(FIELD))  # type: ignore[operator]
    assert main(["capture", server.url, "--events"]) == 1
    out = capsys.readouterr().out
    assert "chunk #0" in out
    assert "event #22" in out
    assert "done" in out
    assert main(["capture", f"http://127.0.0.1:{free_port()}/"]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("chunkscope: error: connect error")


def test_cli_capture_as_a_process(serve_process: object, tmp_path: Path) -> None:
    server = serve_process(
        "--speed", "0", "--tls", "--ca-out", str(tmp_path / "ca.pem"), str(FIELD)
    )  # type: ignore[operator]
    proc = subprocess.run(
        ["python", "-m", "chunkscope", "capture", server.url, "--cacert", str(tmp_path / "ca.pem")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert "tls-no-close-notify" in proc.stdout
    assert "How clients report this" in proc.stdout


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
def test_ctrl_c_saves_everything_and_reports_interrupted(
    serve_process: object, tmp_path: Path, tls: bool
) -> None:
    import signal

    complete = str(FIXTURES / "assistants-complete.capture")
    ca_pem = tmp_path / "ca.pem"
    tls_args = ["--tls", "--ca-out", str(ca_pem)] if tls else []
    server = serve_process(
        *tls_args,
        "--speed",
        "0",
        "--truncate-at",
        "before-last-chunk",
        "--close",
        "stall",
        "--stall",
        "60",
        complete,
    )  # type: ignore[operator]
    out = tmp_path / "int.capture"
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "chunkscope", "capture", server.url, "-o", str(out), "--json"),
            *(["--cacert", str(ca_pem)] if tls else []),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # wait until every byte is on disk
        if out.exists() and load_capture(out).server_bytes == FIELD_BYTES:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 1, stderr
    report = json.loads(stdout)
    assert report["close"]["kind"] == "interrupted"
    assert report["problem"]["state"] == "chunk-boundary"
    capture = load_capture(out)
    assert capture.end is not None
    assert capture.end.kind is CloseKind.INTERRUPTED
    assert capture.server_bytes == FIELD_BYTES


async def test_a_dripped_head_is_bounded_by_the_head_timeout() -> None:
    script = Script(
        reads=((0.0, b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 200),), slice=1, delay_per_write=0.05
    )
    start = time.monotonic()
    async with serving(script) as server:
        report = await chunkscope.capture(server.url, head_timeout=0.5, idle_timeout=10)
    assert time.monotonic() - start < 5
    assert report.close.kind is CloseKind.TIMEOUT
    assert "--head-timeout" in (report.close.detail or "")
    assert_report(report, verdict="truncated", state="status-line")


def test_an_unclassified_read_error_leaves_a_close_delimited_body_unknown() -> None:
    import errno

    from chunkscope import Analyzer
    from chunkscope.net.client import classify_receive_error

    kind, detail = classify_receive_error(OSError(errno.EIO, "Input/output error"))
    assert kind is CloseKind.UNKNOWN
    analyzer = Analyzer()
    analyzer.feed(b"HTTP/1.1 200 OK\r\n\r\nhello", 0.0)
    report = analyzer.close(kind, 0.1, detail)
    assert report.verdict.value == "truncated"
    assert report.exit_code == 1
