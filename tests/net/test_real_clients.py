"""Real clients against the served fixtures: the field failure reproduces in each of them."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest
import trio

from chunkscope import load_capture
from chunkscope.testing import serving

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
FIELD = FIXTURES / "assistants-cut-after-done.capture"
COMPLETE = FIXTURES / "assistants-complete.capture"


def body_of(path: Path) -> bytes:
    from chunkscope import analyze_bytes

    data = load_capture(path).server_bytes
    report = analyze_bytes(data)
    return b"".join(data[c.data_offset : c.data_offset + c.size] for c in report.chunks)


def httpx_sync(url: str, ca_pem: str | None) -> bytes:
    verify = ssl.create_default_context(cafile=ca_pem)
    with httpx.Client(verify=verify) as client, client.stream("POST", url) as response:
        return b"".join(response.iter_bytes())


async def httpx_async(url: str, verify: ssl.SSLContext | None) -> bytes:
    body = bytearray()
    async with (
        httpx.AsyncClient(verify=verify or True) as client,
        client.stream("POST", url) as response,
    ):
        async for data in response.aiter_bytes():
            body += data
    return bytes(body)


async def test_httpx_async_and_sync_fail_on_the_field_failure() -> None:
    async with serving(FIELD, tls=True, speed=0) as server:
        with pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"):
            await httpx_async(server.url, server.ssl_context)
        with pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"):
            await trio.to_thread.run_sync(httpx_sync, server.url, server.ca_pem)


async def test_httpx_gets_the_complete_fixture_whole() -> None:
    async with serving(COMPLETE, tls=True, speed=0) as server:
        async with httpx.AsyncClient(verify=server.ssl_context) as client:
            response = await client.post(server.url)
        sync_body = await trio.to_thread.run_sync(httpx_sync, server.url, server.ca_pem)
    assert response.content == body_of(COMPLETE)
    assert sync_body == body_of(COMPLETE)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_curl_fails_on_the_field_failure_and_succeeds_on_complete() -> None:
    async with serving(FIELD, tls=True, speed=0) as server:
        bad = await trio.run_process(
            ["curl", "-sS", "--cacert", str(server.ca_pem), server.url],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    async with serving(COMPLETE, tls=True, speed=0) as server:
        good = await trio.run_process(
            ["curl", "-sS", "--cacert", str(server.ca_pem), server.url],
            capture_stdout=True,
            check=False,
        )
    assert bad.returncode == 18
    assert b"transfer closed with outstanding read data remaining" in bad.stderr
    assert good.returncode == 0
    assert good.stdout == body_of(COMPLETE)


def test_curl_through_serve_process(serve_process: object, tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    ca = tmp_path / "ca.pem"
    server = serve_process("--speed", "0", "--tls", "--ca-out", str(ca), str(FIELD))  # type: ignore[operator]
    proc = subprocess.run(
        ["curl", "-sS", "--cacert", str(ca), server.url],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 18
