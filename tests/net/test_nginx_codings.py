"""Real nginx with ``gzip on`` for event streams, in front of chunkscope's own replay server.

The two field cases of issue #12: a gzip'd stream whose upstream ends without the terminator
(every event arrived, only the framing was cut), and nginx's default ``proxy_http_version
1.0`` turning an upstream that dies mid-stream into a clean ``0\\r\\n\\r\\n`` (transport
complete, application cut, exit 1).
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from support.middlebox import Nginx

from chunkscope.cli.main import main

GZIP = "gzip on; gzip_types text/event-stream; gzip_min_length 0; proxy_buffering off;"
EVENTS = [
    b'data: {"object":"chat.completion.chunk","choices":[{"delta":{"content":"tok%d"}}]}\n\n' % i
    for i in range(20)
] + [b"data: [DONE]\n\n"]


def chunked(events: list[bytes]) -> bytes:
    """An HTTP/1.1 chunked event stream, one event per chunk, without the last-chunk."""
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    return head + b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in events)


def through_nginx(tmp_path: Path, upstream_bytes: bytes, location: str) -> tuple[int, Any, str]:
    """Serve ``upstream_bytes`` once (then FIN) behind nginx; capture through it with gzip asked.

    Returns the exit code, the JSON report and the text report.
    """
    raw = tmp_path / "upstream.raw"
    raw.write_bytes(upstream_bytes)
    upstream = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chunkscope",
            "serve",
            "--raw",
            str(raw),
            "--once",
            "--close",
            "fin",
            "--slice",
            "120",
            "--delay-per-write",
            "0.005",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert upstream.stdout is not None
        port = upstream.stdout.readline().strip().rstrip("/").rsplit(":", 1)[1]
        with Nginx(tmp_path, f"127.0.0.1:{port}", location=location) as nginx:
            capture = tmp_path / "run.capture"
            url = f"http://127.0.0.1:{nginx.port}/v1/chat/completions"
            options = ["-H", "Accept-Encoding: gzip", "--idle-timeout", "10", "-o", str(capture)]
            out = io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
                code = main(["capture", url, *options, "--json"])
            report = json.loads(out.getvalue())
            text = io.StringIO()
            with contextlib.redirect_stdout(text):
                assert main(["analyze", str(capture)]) == code  # the saved file says the same
    finally:
        upstream.kill()
        upstream.wait(10)
    return code, report, text.getvalue()


def test_gzip_stream_cut_before_the_last_chunk_lost_no_event(tmp_path: Path) -> None:
    code, report, text = through_nginx(tmp_path, chunked(EVENTS), GZIP + " proxy_http_version 1.1;")
    assert report["head"]["headers"].count(["Content-Encoding", "gzip"]) == 1, report["head"]
    sse = report["sse"]
    assert sse["events"] == len(EVENTS)  # every event counted through gzip
    assert sse["terminal_seen"]
    assert sse["complete"]
    assert sse["terminal_event"]["data"] == "[DONE]"
    assert (sse["profile"], sse["outcome"]) == ("openai-chat", "completed")
    # only the framing (and with it the gzip member) was cut
    assert report["verdict"] == "truncated"
    assert report["problem"]["missing"] == "0\r\n\r\n"
    coding = report["content_coding"]
    assert coding["coding"] == "gzip"
    assert coding["compressed_bytes"] == report["body_bytes"]
    assert coding["decoded_bytes"] == len(b"".join(EVENTS)) > coding["compressed_bytes"]
    assert coding["problem"]["kind"] == "cut"
    assert coding["problem"]["message"].startswith("gzip stream ended before its trailer")
    assert code == 1
    lines = text.splitlines()
    assert lines[1] == (
        "  TRANSPORT: truncated (missing b'0\\r\\n\\r\\n') · APPLICATION: completed "
        "(openai-chat, data [DONE])"
    )
    assert "Only the HTTP framing's end is missing: no application data was lost" in text


def test_http_1_0_upstream_dying_mid_stream_is_complete_transport_cut_application(
    tmp_path: Path,
) -> None:
    # an HTTP/1.0 upstream answer is close-delimited: nginx (proxy_http_version 1.0, its
    # default) takes the upstream's close for the end and sends a clean 0\r\n\r\n
    died = b"HTTP/1.0 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"
    died += b"".join(EVENTS[:12]) + EVENTS[12][:30]
    code, report, text = through_nginx(tmp_path, died, GZIP)
    assert report["verdict"] == "complete"
    assert report["last_chunk"] is not None
    assert report["content_coding"]["problem"] is None  # nginx ended the gzip member too
    sse = report["sse"]
    assert sse["events"] == 12
    assert sse["outcome"] == "cut"
    assert sse["partial_event"]["offset"] == len(b"".join(EVENTS[:12]))  # decoded offset
    assert code == 1
    assert text.splitlines()[1].startswith("  TRANSPORT: complete · APPLICATION: cut (openai-chat")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["analyze", str(tmp_path / "run.capture"), "--transport-only"]) == 0
