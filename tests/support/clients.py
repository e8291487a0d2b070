"""Real HTTP clients and SDKs run against a URL, each reporting what it raised or what it kept.

Every runner takes the URL, the CA file for ``https://`` URLs (None for plain TCP) and a read
timeout, reads the whole response body the way a streaming user does, and returns an
:class:`Outcome`: ``text`` is ``"ok"`` when the client raised nothing, else the exception as a
user sees it (``module.Class: message``); ``body`` is the number of body bytes the client handed
over before it stopped. The in-process clients (httpx, httpx2, requests, aiohttp) are plain
functions, safe to run in threads; curl and the SDKs run as processes. SDK processes are
configured only by environment variables (base URL, ``SSL_CERT_FILE``), as a user would.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from .sdks import run_sdk

__all__ = ["CLIENTS", "SDK_CLIENTS", "Outcome", "exc_text", "run_sdk_client"]


@dataclass(frozen=True)
class Outcome:
    """What one client did: ``text`` is "ok" or its exception; ``body`` bytes it handed over."""

    text: str
    body: int
    cause: str | None = None  # the exception's __cause__, where an SDK wraps the searchable text


_PUBLIC_MODULE = {"requests": "requests.exceptions"}


def exc_text(exc: BaseException) -> str:
    """An exception as a user sees it: ``httpx.ReadTimeout: timed out``."""
    top = type(exc).__module__.split(".")[0]
    return f"{_PUBLIC_MODULE.get(top, top)}.{type(exc).__name__}: {exc}"


def _context(ca_pem: str | None) -> ssl.SSLContext | None:
    return None if ca_pem is None else ssl.create_default_context(cafile=ca_pem)


def _httpx_sync(module_name: str) -> Callable[[str, str | None, float], Outcome]:
    def run(url: str, ca_pem: str | None, timeout: float) -> Outcome:
        module = pytest.importorskip(module_name)
        body = 0
        try:
            with (
                module.Client(
                    verify=_context(ca_pem) or True, timeout=module.Timeout(10, read=timeout)
                ) as client,
                client.stream("GET", url) as response,
            ):
                for data in response.iter_bytes():
                    body += len(data)
        except Exception as exc:
            return Outcome(exc_text(exc), body)
        return Outcome("ok", body)

    return run


def _httpx_async(module_name: str) -> Callable[[str, str | None, float], Outcome]:
    def run(url: str, ca_pem: str | None, timeout: float) -> Outcome:
        module = pytest.importorskip(module_name)
        body = 0

        async def fetch() -> None:
            nonlocal body
            async with (
                module.AsyncClient(
                    verify=_context(ca_pem) or True, timeout=module.Timeout(10, read=timeout)
                ) as client,
                client.stream("GET", url) as response,
            ):
                async for data in response.aiter_bytes():
                    body += len(data)

        try:
            asyncio.run(fetch())
        except Exception as exc:
            return Outcome(exc_text(exc), body)
        return Outcome("ok", body)

    return run


def run_requests(url: str, ca_pem: str | None, timeout: float) -> Outcome:
    requests = pytest.importorskip("requests")
    body = 0
    try:
        with requests.get(
            url, timeout=(10, timeout), stream=True, verify=ca_pem or True
        ) as response:
            for data in response.iter_content(65536):
                body += len(data)
    except Exception as exc:
        return Outcome(exc_text(exc), body)
    return Outcome("ok", body)


def run_aiohttp(url: str, ca_pem: str | None, timeout: float) -> Outcome:
    aiohttp = pytest.importorskip("aiohttp")
    body = 0

    async def fetch() -> None:
        nonlocal body
        # total bounds the whole exchange: a client must never hang a test
        limits = aiohttp.ClientTimeout(sock_read=timeout, total=min(timeout, 5) + 5)
        async with (
            aiohttp.ClientSession(timeout=limits) as session,
            session.get(url, ssl=_context(ca_pem) or True) as response,
        ):
            async for data in response.content.iter_any():
                body += len(data)

    try:
        asyncio.run(fetch())
    except Exception as exc:
        return Outcome(exc_text(exc), body)
    return Outcome("ok", body)


def run_curl(url: str, ca_pem: str | None, timeout: float) -> Outcome:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    # curl has no read timeout of its own: -m (--max-time) is what users set on a stream
    # (at least 3 s, so that a TLS handshake on a loaded machine is not what times out)
    command = [
        "curl",
        "-sS",
        "-o",
        "-",
        "--connect-timeout",
        "10",
        "-m",
        str(max(3, round(timeout))),
        url,
    ]
    if ca_pem:
        command[1:1] = ["--cacert", ca_pem]
    proc = subprocess.run(command, capture_output=True, timeout=60, check=False)
    text = "ok" if proc.returncode == 0 else proc.stderr.decode("utf-8", "replace").strip()
    return Outcome(text, len(proc.stdout))


CLIENTS: dict[str, Callable[[str, str | None, float], Outcome]] = {
    "httpx": _httpx_sync("httpx"),
    "httpx async": _httpx_async("httpx"),
    "httpx2": _httpx_sync("httpx2"),
    "httpx2 async": _httpx_async("httpx2"),
    "requests": run_requests,
    "aiohttp": run_aiohttp,
    "curl": run_curl,
}

# -- SDKs --------------------------------------------------------------------------------------

_OPENAI = """
import json, openai
client = openai.OpenAI(timeout=openai.Timeout(10, read=float({timeout!r})), max_retries=0)
n = 0
try:
    for chunk in client.chat.completions.create(model="m", messages=[], stream=True):
        n += 1
except Exception as exc:
    top = type(exc).__module__.split(".")[0]
    cause = exc.__cause__
    print(json.dumps({{"text": f"{{top}}.{{type(exc).__name__}}: {{exc}}", "events": n,
        "cause": None if cause is None else f"{{type(cause).__module__.split('.')[0]}}.{{type(cause).__name__}}: {{cause}}"}}))
else:
    print(json.dumps({{"text": "ok", "events": n, "cause": None}}))
"""

_ANTHROPIC = """
import json, anthropic
client = anthropic.Anthropic(timeout=anthropic.Timeout(10, read=float({timeout!r})), max_retries=0)
n = 0
try:
    with client.messages.stream(model="m", max_tokens=1, messages=[]) as stream:
        for event in stream:
            n += 1
except Exception as exc:
    top = type(exc).__module__.split(".")[0]
    cause = exc.__cause__
    print(json.dumps({{"text": f"{{top}}.{{type(exc).__name__}}: {{exc}}", "events": n,
        "cause": None if cause is None else f"{{type(cause).__module__.split('.')[0]}}.{{type(cause).__name__}}: {{cause}}"}}))
else:
    print(json.dumps({{"text": "ok", "events": n, "cause": None}}))
"""

SDK_CLIENTS = {
    "openai-2.6.1": _OPENAI,
    "openai-2.54.0": _OPENAI,
    "openai-3.57.0": _OPENAI,
    "anthropic-0.125.0": _ANTHROPIC,
    "anthropic-2.14.0": _ANTHROPIC,
}


def run_sdk_client(name: str, url: str, ca_pem: str | None, timeout: float) -> Outcome:
    """Run SDK release ``name`` streaming from ``url``; ``body`` counts the events it yielded."""
    env = {
        "OPENAI_BASE_URL": url.rstrip("/") + "/v1",
        "OPENAI_API_KEY": "sk-test",
        "ANTHROPIC_BASE_URL": url.rstrip("/"),
        "ANTHROPIC_API_KEY": "sk-ant-test",
    }
    if ca_pem:
        env["SSL_CERT_FILE"] = ca_pem  # httpx and httpx2 honour it (trust_env)
    run = run_sdk(name, SDK_CLIENTS[name].format(timeout=timeout), env, timeout=60)
    result = run.result
    if "text" not in result:
        raise AssertionError(f"{name} printed no result: {run.stderr[-2000:]} {result}")
    return Outcome(str(result["text"]), int(result.get("events", 0)), result.get("cause"))
