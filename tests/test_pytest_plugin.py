"""The pytest11 plugin, used the way another project would: a test file run by pytester."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

FIELD = Path(__file__).resolve().parent.parent / "fixtures" / "assistants-cut-after-done.capture"

USER_TEST = """
import httpx
import pytest

import chunkscope
from chunkscope.testing import Response, assert_report, sse_event

FIELD = {field!r}


async def test_httpx_fails_on_the_field_failure(chunkscope_server):
    server = await chunkscope_server(FIELD, tls=True, speed=0)
    async with httpx.AsyncClient(verify=server.ssl_context) as client:
        with pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"):
            async with client.stream("POST", server.url) as response:
                async for _ in response.aiter_bytes():
                    pass


async def test_capture_and_assert(chunkscope_server):
    response = Response(events=[sse_event("delta", "hi"), sse_event("done", "[DONE]")])
    server = await chunkscope_server(response, truncate_at="mid-chunk:0", close="reset")
    report = await chunkscope.capture(server.url)
    assert_report(report, verdict="truncated", state="chunk-data", close="reset", sse_complete=False)


async def test_complete_stream_succeeds(chunkscope_server):
    response = Response(events=[sse_event("delta", "hi"), sse_event("done", "[DONE]")])
    server = await chunkscope_server(response)
    async with httpx.AsyncClient() as client:
        r = await client.get(server.url)
    assert r.text.endswith("data: [DONE]\\n\\n")


def test_tls_fixture(chunkscope_tls):
    assert chunkscope_tls.ca_pem.endswith(".pem")


async def test_assert_report_explains_a_mismatch(chunkscope_server):
    server = await chunkscope_server(FIELD, speed=0)
    report = await chunkscope.capture(server.url)
    with pytest.raises(AssertionError, match="state 'chunk-boundary' != 'chunk-data'.*missing"):
        assert_report(report, state="chunk-data")
"""


def test_plugin_fixtures_work_in_a_user_suite(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ntrio_mode = true\n")
    pytester.makepyfile(test_user=USER_TEST.format(field=str(FIELD)))
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=5)


def test_plugin_is_registered_by_entry_point() -> None:
    from importlib.metadata import entry_points

    names = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert names.get("chunkscope") == "chunkscope._pytest_plugin"
