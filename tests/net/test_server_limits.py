"""The replay server under hostile clients: slowloris, non-readers, too many connections,
descriptors running out, absurd capture times; and throwaway CAs that leave nothing behind."""

from __future__ import annotations

import math
import os
import resource
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import trio

import chunkscope
from chunkscope.core.report import Report
from chunkscope.net import server as server_module
from chunkscope.net.server import Script, ServerInfo, serve_listeners
from chunkscope.testing import Response, assert_report, serving, start_server

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
COMPLETE = FIXTURES / "assistants-complete.capture"
BIG = Response(body=b"x" * (8 << 20))  # larger than the socket buffers: a non-reader blocks


async def _slowloris(port: int, n: int) -> list[trio.SocketStream]:
    """``n`` connections that send half a request head and then nothing."""
    streams = []
    for _ in range(n):
        s = await trio.open_tcp_stream("127.0.0.1", port)
        await s.send_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        streams.append(s)
    return streams


async def _non_readers(port: int, n: int) -> list[trio.SocketStream]:
    """``n`` connections that send a whole request and never read the response."""
    streams = []
    for _ in range(n):
        s = await trio.open_tcp_stream("127.0.0.1", port)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        await s.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        streams.append(s)
    return streams


async def _still_open(stream: trio.SocketStream) -> bool:
    """True if the server has not closed this connection (nothing to read, no EOF)."""
    with trio.move_on_after(0.05):
        try:
            data = await stream.receive_some(1)
        except trio.BrokenResourceError:
            return False
        return bool(data)  # b"" is the server's close
    return True


async def test_slow_and_non_reading_clients_do_not_delay_a_good_one() -> None:
    async with serving(BIG, speed=0) as server:
        port = server.info.port
        slow = await _slowloris(port, 30)
        stuck = await _non_readers(port, 10)
        report = await chunkscope.capture(server.url)
        assert_report(report, verdict="complete")
        # served while every slow client still held its connection: nobody waited for them
        assert all([await _still_open(s) for s in slow])
        for s in slow + stuck:
            await s.aclose()


async def test_at_the_connection_limit_the_slowest_head_is_shed() -> None:
    script = Response(body=b"hello").script()
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    info = ServerInfo("127.0.0.1", port, tls=False)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: serve_listeners(listeners, script, info, max_connections=10))
        slow = await _slowloris(port, 10)
        report = await chunkscope.capture(f"http://127.0.0.1:{port}/", idle_timeout=30)
        assert_report(report, verdict="complete")
        assert info.shed >= 1
        assert not await _still_open(slow[0])  # the oldest slow head made room
        nursery.cancel_scope.cancel()
    for s in slow:
        await s.aclose()


def _low_fd_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))


def _start_serve_with_few_descriptors() -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "chunkscope", "serve", str(COMPLETE), "--speed", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_low_fd_limit,
    )


async def test_serve_keeps_serving_when_descriptors_run_out() -> None:
    proc = await trio.to_thread.run_sync(_start_serve_with_few_descriptors)
    try:
        assert proc.stdout is not None
        url = (await trio.to_thread.run_sync(proc.stdout.readline)).strip()
        port = int(url.rsplit(":", 1)[1].strip("/"))
        idle = []
        for _ in range(100):  # more idle connections than the server has descriptors
            idle.append(await trio.open_tcp_stream("127.0.0.1", port))
        report = await chunkscope.capture(url, idle_timeout=30)
        assert_report(report, verdict="complete")
        second = await chunkscope.capture(url, idle_timeout=30)
        assert_report(second, verdict="complete")
        assert proc.poll() is None  # still serving
        for s in idle:
            await s.aclose()
    finally:
        proc.terminate()
        _, stderr = await trio.to_thread.run_sync(lambda: proc.communicate(timeout=20))
    assert stderr.count("out of file descriptors") == 1, stderr  # said once
    assert "Traceback" not in stderr


async def test_absurd_capture_times_are_clamped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "MAX_DELAY", 0.2)
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n"
    script = Script(reads=((0.0, head), (1e300, b"data")), speed=1.0)
    async with serving(script) as server:
        report = await chunkscope.capture(server.url, idle_timeout=30)
    assert_report(report, verdict="complete")


@pytest.mark.parametrize("field", ["stall", "speed", "delay_per_write"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -1.0])
def test_scripts_refuse_non_finite_or_negative_waits(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        Script(reads=((0.0, b""),), **{field: value})  # type: ignore[arg-type]


def test_the_json_report_never_holds_nan_or_infinity() -> None:
    report: Report = chunkscope.analyze_bytes(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    report.timing["largest_gap"] = math.inf
    report.timing["odd"] = [math.nan, 1.5]
    text = report.to_json()
    assert "NaN" not in text
    assert "Infinity" not in text
    assert '"largest_gap": null' in text


async def test_throwaway_cas_leave_no_folder_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    before = os.listdir(tmp_path)
    async with serving(COMPLETE, tls=True, speed=0) as server:
        assert os.path.dirname(os.path.dirname(server.ca_pem or "")) == str(tmp_path)
        report = await chunkscope.capture(server.url, cacert=server.ca_pem)
        assert_report(report, verdict="complete")
    async with trio.open_nursery() as nursery:  # what the pytest plugin's fixture does
        running = await start_server(nursery, COMPLETE, tls=True, speed=0)
        assert await trio.Path(running.ca_pem or "").is_file()  # a file while serving
        nursery.cancel_scope.cancel()
    async with serving(COMPLETE, tls=True, speed=0) as server:  # nobody asks for the file
        await chunkscope.capture(server.url, ssl_context=server.ssl_context)
    assert os.listdir(tmp_path) == before
