"""pytest plugin (entry point ``pytest11``): replay and scripted servers as fixtures.

Fixtures, for trio tests (pytest-trio)::

    async def test_client(chunkscope_server):
        server = await chunkscope_server("fixtures/assistants-cut-after-done.capture", tls=True)
        ...  # point the client under test at server.url, trusting server.ca_pem

``chunkscope_server(source, *, tls=False, **faults)`` starts a server that
lives until the test ends; ``source`` is a capture file, raw bytes, a
:class:`chunkscope.testing.Response` or a Script; faults are ``truncate_at``,
``close``, ``stall``, ``slice``, ``delay_per_write``, ``speed``.
``chunkscope_tls`` is a throwaway CA with server and client SSL contexts.
``chunkscope_tap(upstream, **options)`` starts a recording tap in front of
a server (or any URL) for the test, its captures in ``tmp_path``; point a
real SDK at it with ``tap.env`` (``OPENAI_BASE_URL``, ``ANTHROPIC_BASE_URL``)
and read ``tap.exchanges`` after ``await tap.wait_idle()``.
Assertions: :func:`chunkscope.testing.assert_report`.

The module imports nothing heavy at load time so that registering the plugin
costs every pytest run nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .testing import RunningServer, RunningTap, TlsPair


@pytest.fixture
def chunkscope_tls(tmp_path: Any) -> TlsPair:
    """A throwaway CA (trustme) and matching server/client SSL contexts; CA PEM in tmp_path."""
    from .testing import tls_pair

    return tls_pair(str(tmp_path))


@pytest.fixture
async def chunkscope_server() -> AsyncIterator[Callable[..., Awaitable[RunningServer]]]:
    """A factory that starts replay/scripted servers for the duration of the test."""
    import trio

    from .testing import start_server

    async with trio.open_nursery() as nursery:

        async def start(source: Any, **options: Any) -> RunningServer:
            return await start_server(nursery, source, **options)

        yield start
        nursery.cancel_scope.cancel()


@pytest.fixture
async def chunkscope_tap(tmp_path: Any) -> AsyncIterator[Callable[..., Awaitable[RunningTap]]]:
    """A factory that starts recording taps (captures in ``tmp_path``) for the duration of the test."""
    import trio

    from .testing import start_tap

    async with trio.open_nursery() as nursery:
        count = 0

        async def start(upstream: Any, **options: Any) -> RunningTap:
            nonlocal count
            count += 1
            options.setdefault("directory", tmp_path / f"tap-{count}")
            return await start_tap(nursery, upstream, **options)

        yield start
        nursery.cancel_scope.cancel()
