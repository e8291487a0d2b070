"""Attribution against real middleboxes: nginx and HAProxy in front of a streaming upstream.

The upstream is chunkscope's replay server. With a 2 s read/server timeout on the proxy and an
upstream that pauses longer, the proxy gives up and the report must say ``idle-timeout`` with
2 s and ``last-hop-only``; with an upstream that cuts right after its last event, the proxy
relays the cut at once: ``closed-after-last-byte``. Dialling the upstream itself with
``--connect-to`` gets the same request complete, and the report says it bypassed the hop.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.middlebox import Haproxy, Middlebox, Nginx

import chunkscope
from chunkscope.net.server import Script
from chunkscope.testing import Response, serving, sse_event

EVENTS = [
    sse_event("delta", '{"text": "hel"}'),
    sse_event("delta", '{"text": "lo"}'),
    sse_event("done", "[DONE]"),
]
PAUSE = 3.5  # seconds the upstream goes silent: longer than the proxies' 2 s timeout


def paused_upstream() -> Script:
    """The head and first event at once, then a pause, then the rest of the stream."""
    script = Response(events=EVENTS).script()
    reads = [(0.0, script.reads[0][1] + script.reads[1][1])]
    reads += [(PAUSE, data) for _, data in script.reads[2:]]
    return Script(reads=tuple(reads), close="fin", speed=1.0)


def cut_upstream() -> Script:
    """Every event, then the upstream process closes where the last-chunk belongs."""
    return Response(events=EVENTS).script(truncate_at="before-last-chunk", close="fin")


def proxy(kind: str, tmp_path: Path, upstream: str) -> Middlebox:
    if kind == "nginx":
        return Nginx(
            tmp_path,
            upstream,
            location="proxy_read_timeout 2s; proxy_buffering off; proxy_http_version 1.1;",
        )
    return Haproxy(
        tmp_path,
        upstream,
        timeouts="timeout connect 5s\n    timeout client 30s\n    timeout server 2s",
    )


def codes(report: chunkscope.Report) -> dict[str, dict[str, object]]:
    return {h.code: h.evidence for h in report.hints}


@pytest.mark.parametrize("kind", ["nginx", "haproxy"])
async def test_proxy_idle_timeout_is_named_with_its_figure(kind: str, tmp_path: Path) -> None:
    async with serving(paused_upstream()) as upstream:
        upstream_address = f"127.0.0.1:{upstream.info.port}"
        with proxy(kind, tmp_path, upstream_address) as box:
            url = f"http://127.0.0.1:{box.port}/v1/stream"
            report = await chunkscope.capture(url, idle_timeout=10)
            bypassed = await chunkscope.capture(url, idle_timeout=10, connect_to=upstream_address)
            log = box.log()
    hints = codes(report)
    assert report.verdict.value == "truncated", (report.problem, log)
    assert "idle-timeout" in hints, (report.close, log)
    assert hints["idle-timeout"]["figure"] == 2
    assert "last-hop-only" in hints
    assert "--connect-to" in str(hints["last-hop-only"]["command"])
    assert "closed-after-last-byte" not in hints
    text = chunkscope.render_text(report)
    assert "Why it likely ended" in text
    assert "idle-timeout" in text
    assert "2 s" in text
    # the same request with the proxy bypassed: complete, and the report says where it dialled
    assert bypassed.verdict.value == "complete", bypassed.problem
    assert bypassed.sse is not None
    assert bypassed.sse.complete
    bypassed_text = chunkscope.render_text(bypassed)
    assert f"dialled      {upstream_address} (--connect-to)" in bypassed_text
    assert "COMPLETE" in bypassed_text.splitlines()[0]


@pytest.mark.parametrize("kind", ["nginx", "haproxy"])
async def test_upstream_cut_relayed_at_once_is_an_active_close(kind: str, tmp_path: Path) -> None:
    async with serving(cut_upstream()) as upstream:
        with proxy(kind, tmp_path, f"127.0.0.1:{upstream.info.port}") as box:
            report = await chunkscope.capture(f"http://127.0.0.1:{box.port}/", idle_timeout=10)
            log = box.log()
    hints = codes(report)
    assert report.verdict.value == "truncated", (report.problem, log)
    assert "closed-after-last-byte" in hints, (report.close, log)
    assert "idle-timeout" not in hints
    assert "last-hop-only" in hints
