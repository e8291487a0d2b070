"""Synthetic capture files of long streams, written with the real capture writer."""

from __future__ import annotations

from pathlib import Path

from chunkscope.formats.capture import CaptureWriter


def write_long_sse_capture(
    path: Path,
    events: int,
    *,
    per_read: int = 200,
    names: tuple[str, ...] = ("delta", "ping", "usage"),
    cut: bool = False,
) -> Path:
    """A chunked SSE stream of ``events`` events, one chunk each, ``per_read`` per read.

    Ends with ``data: [DONE]`` and the last-chunk, closed with FIN; with ``cut``
    the stream stops after the events (no [DONE], no last-chunk) with an RST.
    """
    with CaptureWriter(
        path,
        meta={
            "target": "http://127.0.0.1:8080/stream",
            "method": "GET",
            "peer": "127.0.0.1:8080",
            "local": "127.0.0.1:50000",
            "synthetic": True,
        },
    ) as w:
        w.sent(0.0, b"GET /stream HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n")
        w.received(
            0.05,
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n",
        )
        t = 0.05
        buf: list[bytes] = []
        for i in range(events):
            name = names[i % len(names)].encode()
            event = b'event: %s\ndata: {"i": %d, "text": "token"}\n\n' % (name, i)
            buf.append(b"%x\r\n%s\r\n" % (len(event), event))
            if len(buf) == per_read:
                t += 0.01
                w.received(t, b"".join(buf))
                buf = []
        if not cut:
            done = b"data: [DONE]\n\n"
            buf.append(b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done))
        if buf:
            w.received(t + 0.01, b"".join(buf))
        w.ended("reset" if cut else "fin", t + 0.02)
    return path
