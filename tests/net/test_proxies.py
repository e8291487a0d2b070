"""Proxies from the environment (as curl and httpx read them), and a real squid as the proxy."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import trio
from support.middlebox import Squid

import chunkscope
from chunkscope import UsageError
from chunkscope.net.proxies import bypasses, select_proxy
from chunkscope.testing import serving

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
COMPLETE = FIXTURES / "assistants-complete.capture"


@pytest.mark.parametrize(
    ("environ", "scheme", "expected"),
    [
        ({"HTTPS_PROXY": "http://p:3128"}, "https", ("p", 3128, "HTTPS_PROXY")),
        (
            {"https_proxy": "http://a:1", "HTTPS_PROXY": "http://b:2"},
            "https",
            ("a", 1, "https_proxy"),
        ),
        ({"HTTP_PROXY": "p:8080"}, "http", ("p", 8080, "HTTP_PROXY")),
        ({"HTTPS_PROXY": "http://p:3128"}, "http", None),  # the scheme's own variable only
        ({"ALL_PROXY": "http://all:9"}, "http", ("all", 9, "ALL_PROXY")),
        ({"all_proxy": "http://all:9", "http_proxy": "http://h:1"}, "http", ("h", 1, "http_proxy")),
        ({"http_proxy": "http://h"}, "http", ("h", 1080, "http_proxy")),  # curl's default port
        ({"http_proxy": "   "}, "http", None),
        ({}, "https", None),
    ],
)
def test_proxy_from_the_environment(
    environ: dict[str, str], scheme: str, expected: tuple[str, int, str] | None
) -> None:
    proxy = select_proxy(scheme, "api.example.com", 443, environ=environ)
    assert (None if proxy is None else (proxy.host, proxy.port, proxy.source)) == expected


@pytest.mark.parametrize(
    ("no_proxy", "host", "port", "bypass"),
    [
        ("*", "anything", 443, True),
        ("example.com", "example.com", 443, True),
        ("example.com", "api.example.com", 443, True),
        (".example.com", "api.example.com", 443, True),
        ("example.com", "badexample.com", 443, False),
        ("localhost, 127.0.0.1", "127.0.0.1", 80, True),
        ("10.0.0.0/8", "10.1.2.3", 80, True),
        ("10.0.0.0/8", "11.1.2.3", 80, False),
        ("::1", "::1", 80, True),
        ("example.com:8443", "example.com", 443, False),
        ("example.com:8443", "example.com", 8443, True),
        ("", "example.com", 443, False),
    ],
)
def test_no_proxy_rules(no_proxy: str, host: str, port: int, bypass: bool) -> None:
    assert bypasses(no_proxy, host, port) is bypass


def test_explicit_proxy_and_noproxy_override_the_environment() -> None:
    env = {"HTTPS_PROXY": "http://p:3128", "NO_PROXY": "internal"}
    assert select_proxy("https", "h", 443, explicit="", environ=env) is None
    proxy = select_proxy("https", "internal", 443, explicit="http://x:1", environ=env)
    assert proxy is not None
    assert proxy.source == "--proxy"
    assert select_proxy("https", "internal", 443, environ=env) is None
    assert select_proxy("https", "internal", 443, no_proxy="other", environ=env) is not None
    assert select_proxy("https", "h", 443, no_proxy="*", environ=env) is None


@pytest.mark.parametrize("value", ["socks5://127.0.0.1:1080", "https://p:3128", "http://:3128"])
def test_unsupported_proxies_are_refused_not_bypassed(value: str) -> None:
    with pytest.raises(UsageError, match="ALL_PROXY"):
        select_proxy("https", "h", 443, environ={"ALL_PROXY": value})


def _cli(url: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    return subprocess.run(
        [sys.executable, "-m", "chunkscope", "capture", url, "--json", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_http_proxy_through_stock_squid_uses_absolute_form(tmp_path: Path) -> None:
    # squid's stock rules refuse CONNECT to this port; a forward request is allowed
    async with serving(COMPLETE, speed=0) as server:
        with Squid(tmp_path) as squid:
            env = {"HTTP_PROXY": f"http://127.0.0.1:{squid.port}"}
            proc = await trio.to_thread.run_sync(_cli, server.url, env)
            report = json.loads(proc.stdout)
            assert proc.returncode == 0, (proc.stderr, squid.log())
            assert report["verdict"] == "complete"
            assert report["connection"]["proxy"] == f"127.0.0.1:{squid.port}"
            assert report["connection"]["proxy_mode"] == "forward"
            assert report["connection"]["proxy_from"] == "HTTP_PROXY"
            assert "via" in {k.lower() for k in dict(report["head"]["headers"])}, report["head"]
            # --noproxy and --proxy '' go direct: no Via header from squid
            for extra in (["--noproxy", "127.0.0.1"], ["--proxy", ""]):
                direct = await trio.to_thread.run_sync(_cli, server.url, env, *extra)
                assert direct.returncode == 0, direct.stderr
                assert "proxy" not in json.loads(direct.stdout)["connection"]
            text = await trio.to_thread.run_sync(
                lambda: subprocess.run(
                    [sys.executable, "-m", "chunkscope", "capture", server.url],
                    env={**os.environ, **env},
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
            )
            assert "absolute-form request via" in text.stdout
            assert "(from HTTP_PROXY)" in text.stdout


def _port_443_free() -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", 443))
        except OSError:
            return False
    return True


async def test_https_proxy_through_stock_squid_uses_connect(tmp_path: Path) -> None:
    # squid's stock rules allow CONNECT only to port 443: the TLS server needs that port
    if not _port_443_free():
        pytest.skip("127.0.0.1:443 is taken or needs root; stock squid CONNECTs only to 443")
    async with serving(COMPLETE, tls=True, speed=0, port=443) as server:
        with Squid(tmp_path) as squid:
            env = {"HTTPS_PROXY": f"http://127.0.0.1:{squid.port}"}
            proc = await trio.to_thread.run_sync(
                _cli, server.url, env, "--cacert", str(server.ca_pem)
            )
            assert proc.returncode == 0, (proc.stderr, squid.log())
            report = json.loads(proc.stdout)
            assert report["verdict"] == "complete"
            assert report["connection"]["proxy_mode"] == "connect"
            assert report["connection"]["proxy_from"] == "HTTPS_PROXY"
            assert report["connection"]["proxy_status"].startswith("HTTP/1.1 200")
            # the same through the library, reading the environment as httpx does
            os.environ["HTTPS_PROXY"] = env["HTTPS_PROXY"]
            try:
                lib = await chunkscope.capture(server.url, ssl_context=server.ssl_context)
            finally:
                del os.environ["HTTPS_PROXY"]
            assert lib.connection is not None
            assert lib.connection["proxy_mode"] == "connect"


@pytest.mark.parametrize("name", ["connect_timeout", "idle_timeout", "head_timeout", "max_time"])
@pytest.mark.parametrize("value", [math.nan, math.inf, -1.0])
async def test_the_library_refuses_non_finite_timeouts(name: str, value: float) -> None:
    with pytest.raises(UsageError, match=name):
        await chunkscope.capture("http://127.0.0.1:9/", **{name: value})
