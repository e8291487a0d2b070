"""Capture options that need a peer in the middle: --proxy, --connect-to, -d, --json-body."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import trio

import chunkscope
from chunkscope import TransportError, UsageError
from chunkscope.cli.capture import build_options
from chunkscope.testing import serving, tls_pair

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
COMPLETE = FIXTURES / "assistants-complete.capture"


async def connect_proxy(
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED, *, refuse: bool = False
) -> None:
    """A minimal HTTP CONNECT proxy on 127.0.0.1 that relays bytes both ways."""
    seen: list[bytes] = []

    async def handle(client: trio.SocketStream) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            data = await client.receive_some(4096)
            if not data:
                return
            head += data
        seen.append(head)
        if refuse:
            await client.send_all(b"HTTP/1.1 403 Forbidden\r\n\r\n")
            await client.aclose()
            return
        host, port = head.split(b" ")[1].decode().rsplit(":", 1)
        upstream = await trio.open_tcp_stream(host, int(port))
        await client.send_all(b"HTTP/1.1 200 Connection established\r\n\r\n")

        async def pump(a: trio.SocketStream, b: trio.SocketStream) -> None:
            try:
                while data := await a.receive_some(65536):
                    await b.send_all(data)
                await b.send_eof()
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass

        async with trio.open_nursery() as nursery:
            nursery.start_soon(pump, client, upstream)
            nursery.start_soon(pump, upstream, client)

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    task_status.started(listeners[0].socket.getsockname()[1])
    await trio.serve_listeners(handle, listeners)


async def test_proxy_connect_tunnel_carries_tls() -> None:
    async with serving(COMPLETE, tls=True, speed=0) as server, trio.open_nursery() as nursery:
        port = await nursery.start(connect_proxy)
        report = await chunkscope.capture(
            server.url, ssl_context=server.ssl_context, proxy=f"http://127.0.0.1:{port}"
        )
        nursery.cancel_scope.cancel()
    assert report.verdict.value == "complete"
    assert report.connection is not None
    assert report.connection["proxy"] == f"127.0.0.1:{port}"
    assert report.connection["proxy_status"].startswith("HTTP/1.1 200")


async def test_proxy_refusal_is_a_transport_error() -> None:
    # https:// goes through CONNECT (an http:// URL would be sent to the proxy in absolute form)
    async with serving(COMPLETE, tls=True, speed=0) as server, trio.open_nursery() as nursery:
        port = await nursery.start(lambda task_status: connect_proxy(task_status, refuse=True))
        with pytest.raises(TransportError, match=r"refused.*403") as info:
            await chunkscope.capture(
                server.url, ssl_context=server.ssl_context, proxy=f"http://127.0.0.1:{port}"
            )
        nursery.cancel_scope.cancel()
    assert info.value.kind == "proxy"


async def test_connect_to_keeps_host_and_sni(tmp_path: Path) -> None:
    pair = tls_pair(str(tmp_path), hostnames=("api.example.test",))
    async with serving(COMPLETE, tls=pair, speed=0) as server:
        report = await chunkscope.capture(
            "https://api.example.test/v1/stream",
            connect_to=f"127.0.0.1:{server.info.port}",
            ssl_context=server.ssl_context,
        )
    assert report.verdict.value == "complete"
    assert report.connection is not None
    assert report.connection["tls"]["sni"] == "api.example.test"
    assert report.connection["peer"] == f"127.0.0.1:{server.info.port}"


def namespace(**kw: object) -> argparse.Namespace:
    defaults: dict[str, object] = dict(
        header=[],
        data=None,
        json_body=None,
        method=None,
        cacert=None,
        insecure=False,
        connect_to=None,
        proxy=None,
        connect_timeout=30.0,
        idle_timeout=60.0,
        head_timeout=60.0,
        max_time=None,
        output=None,
        no_redact=False,
        terminal_event=[],
        cross_check=False,
        events=False,
    )
    defaults.update(kw)
    return argparse.Namespace(**defaults)


def test_body_options(tmp_path: Path) -> None:
    body_file = tmp_path / "body.json"
    body_file.write_bytes(b'{"a": 1}')
    opts = build_options(namespace(data=f"@{body_file}"))
    assert (opts["method"], opts["body"]) == ("POST", b'{"a": 1}')
    opts = build_options(namespace(json_body='{"stream": true}', header=["X-A: 1"]))
    assert ("Content-Type", "application/json") in opts["headers"]
    assert ("X-A", "1") in opts["headers"]
    assert (
        build_options(namespace(connect_to="a:443:127.0.0.1:8443"))["connect_to"]
        == "127.0.0.1:8443"
    )
    with pytest.raises(UsageError, match="not valid JSON"):
        build_options(namespace(json_body="{nope"))
    with pytest.raises(UsageError, match="Name: value"):
        build_options(namespace(header=["no-colon"]))
    with pytest.raises(UsageError, match="cannot read --data file"):
        build_options(namespace(data="@/nonexistent/file"))


async def test_bad_urls_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="scheme"):
        await chunkscope.capture("ftp://127.0.0.1/")
    with pytest.raises(UsageError, match="no host"):
        await chunkscope.capture("http:///path")
