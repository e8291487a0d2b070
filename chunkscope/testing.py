"""Helpers for testing HTTP clients against real misbehaving servers.

Start a replay or scripted server on 127.0.0.1 (plain or TLS with a
throwaway CA), point the client under test at ``server.url``, and check what
it did; or capture the served stream with :func:`chunkscope.capture` and
assert where it stopped. Example (pytest-trio)::

    from chunkscope.testing import Response, assert_report, serving, sse_event

    async def test_my_client_survives_a_cut_stream():
        response = Response(events=[sse_event("delta", "hi"), sse_event("done", "[DONE]")])
        script = response.script(truncate_at="before-last-chunk", close="tls-no-close-notify")
        async with serving(script, tls=True) as server:
            report = await chunkscope.capture(server.url, ssl_context=server.ssl_context)
        assert_report(report, verdict="truncated", state="chunk-boundary", missing=b"0\\r\\n\\r\\n")

To drive a real client or SDK unchanged, put a recording tap in front of the
server (:func:`tapping`, or the ``chunkscope_tap`` fixture): the client gets
exactly the server's bytes and endings, and each exchange is recorded::

    async with serving(script) as server, tapping(server, tmp_path, prefix="v1") as tap:
        ...  # run the SDK with env={**os.environ, **tap.env}
        await tap.wait_idle()
        assert tap.exchanges[0].report.close.kind.value == "fin"
"""

from __future__ import annotations

from pathlib import Path

from .core.report import Report
from .net.replay import RunningServer, Source, make_script, serving, start_server
from .net.responses import Response, sse_event
from .net.server import Script
from .net.tap import Exchange, RunningTap, start_tap, tapping
from .net.throwaway_ca import TlsPair, tls_pair

__all__ = [
    "Exchange",
    "Response",
    "RunningServer",
    "RunningTap",
    "Script",
    "Source",
    "TlsPair",
    "assert_report",
    "make_script",
    "serving",
    "sse_event",
    "start_server",
    "start_tap",
    "tapping",
    "tls_pair",
]


class _Unset:
    """Marks an assert_report argument that was not given (None is a real value for ``missing``)."""


_UNSET = _Unset()


def assert_report(
    report: Report,
    *,
    verdict: str | None = None,
    state: str | None = None,
    offset: int | None = None,
    missing: bytes | _Unset | None = _UNSET,
    close: str | None = None,
    chunk: int | None = None,
    sse_complete: bool | None = None,
) -> None:
    """Assert a report's verdict and problem location, with a message that shows the diagnosis."""
    problems = []
    p = report.problem
    if verdict is not None and report.verdict.value != verdict:
        problems.append(f"verdict {report.verdict.value!r} != {verdict!r}")
    if state is not None and (p is None or p.state.value != state):
        problems.append(f"state {None if p is None else p.state.value!r} != {state!r}")
    if offset is not None and (p is None or p.offset != offset):
        problems.append(f"offset {None if p is None else p.offset!r} != {offset!r}")
    if not isinstance(missing, _Unset) and (p.missing if p is not None else None) != missing:
        problems.append(f"missing {None if p is None else p.missing!r} != {missing!r}")
    if chunk is not None and (p is None or p.chunk != chunk):
        problems.append(f"chunk {None if p is None else p.chunk!r} != {chunk!r}")
    if close is not None and report.close.kind.value != close:
        problems.append(f"close {report.close.kind.value!r} != {close!r}")
    if sse_complete is not None and (report.sse is None or report.sse.complete is not sse_complete):
        problems.append(
            f"sse complete {None if report.sse is None else report.sse.complete!r} != {sse_complete!r}"
        )
    if problems:
        detail = p.message if p is not None else "no problem found"
        raise AssertionError("; ".join(problems) + f" -- chunkscope says: {detail}")


def fixture_path(name: str) -> Path:
    """A bundled fixture file (from a source checkout), e.g. ``assistants-cut-after-done.capture``."""
    return Path(__file__).resolve().parent.parent / "fixtures" / name
