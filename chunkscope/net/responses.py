"""Build responses for tests: status, headers, a body as chunks or SSE events, plus a fault.

Example::

    from chunkscope.testing import Response, sse_event

    response = Response(events=[sse_event("delta", '{"text": "hi"}'), sse_event("done", "[DONE]")])
    script = response.script(truncate_at="before-last-chunk", close="tls-no-close-notify")
    # serve it: async with chunkscope.testing.serving(script, tls=True) as server: ...
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .faults import apply_faults
from .server import Script

__all__ = ["Response", "sse_event"]


def sse_event(
    event: str | None = None, data: str = "", *, id: str | None = None, retry: int | None = None
) -> bytes:
    """One Server-Sent Event, encoded: ``event:``, ``id:``, one ``data:`` line per line, blank line."""
    lines = []
    if event is not None:
        lines.append(f"event: {event}")
    if id is not None:
        lines.append(f"id: {id}")
    if retry is not None:
        lines.append(f"retry: {retry}")
    lines.extend(f"data: {line}" for line in data.split("\n"))
    return ("\n".join(lines) + "\n\n").encode("utf-8")


@dataclass
class Response:
    """A response to serve: explicit chunks, SSE events (one per chunk), or a plain body.

    With ``chunks`` or ``events`` the body is chunked (``Transfer-Encoding:
    chunked`` is added); with ``body`` it gets a ``Content-Length`` unless
    ``content_length=False`` (then it is close-delimited). ``last_chunk=False``
    leaves out ``0\\r\\n\\r\\n`` (the field failure, without using a fault).
    """

    status: int = 200
    reason: str = "OK"
    headers: Sequence[tuple[str, str]] = ()
    chunks: Sequence[bytes] | None = None
    events: Sequence[bytes] | None = None
    body: bytes | None = None
    trailers: Sequence[tuple[str, str]] = ()
    last_chunk: bool = True
    content_length: bool = True
    chunk_ext: dict[int, str] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        """The exact bytes a server sends."""
        head = [f"HTTP/1.1 {self.status} {self.reason}".rstrip()]
        names = {n.lower() for n, _ in self.headers}
        pieces: list[bytes] | None = None
        if self.events is not None:
            pieces = list(self.events)
            if "content-type" not in names:
                head.append("Content-Type: text/event-stream; charset=utf-8")
            if "cache-control" not in names:
                head.append("Cache-Control: no-cache")
        elif self.chunks is not None:
            pieces = list(self.chunks)
        head.extend(f"{n}: {v}" for n, v in self.headers)
        if pieces is not None:
            if "transfer-encoding" not in names:
                head.append("Transfer-Encoding: chunked")
            body = bytearray()
            for i, piece in enumerate(pieces):
                ext = self.chunk_ext.get(i, "")
                body += b"%x%s\r\n%s\r\n" % (len(piece), ext.encode("latin-1"), piece)
            if self.last_chunk:
                body += (
                    b"0\r\n"
                    + b"".join(f"{n}: {v}\r\n".encode("latin-1") for n, v in self.trailers)
                    + b"\r\n"
                )
            payload = bytes(body)
        else:
            payload = self.body or b""
            if self.content_length and "content-length" not in names:
                head.append(f"Content-Length: {len(payload)}")
        return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload

    def script(
        self,
        *,
        close: str = "fin",
        truncate_at: str | int | None = None,
        stall: float | None = None,
        slice: int | None = None,
        delay_per_write: float | None = None,
        gap: float = 0.0,
    ) -> Script:
        """A server script for this response: head and each chunk as its own write, ``gap`` s apart."""
        data = self.to_bytes()
        reads: list[tuple[float, bytes]] = []
        if self.chunks is not None or self.events is not None:
            # one write per chunk, like a streaming server
            marks = _chunk_ends(data)
            start = 0
            for i, end in enumerate(marks):
                reads.append((round(i * gap, 6), data[start:end]))
                start = end
            if start < len(data):
                reads.append((round(len(marks) * gap, 6), data[start:]))
        else:
            reads.append((0.0, data))
        script = Script(reads=tuple(reads), close=close)
        return apply_faults(
            script,
            truncate_at=truncate_at,
            stall=stall,
            slice=slice,
            delay_per_write=delay_per_write,
        )


def _chunk_ends(data: bytes) -> list[int]:
    """Offsets where the head and each chunk end, found by the analyzer itself."""
    from ..core.analyzer import Analyzer

    analyzer = Analyzer(max_chunks_kept=None)
    analyzer.feed(data, 0.0)
    report = analyzer.close("unknown", None)
    ends = []
    if report.head is not None:
        ends.append(int(report.head["body_offset"]))
    ends.extend(c.data_offset + c.size + 2 for c in report.chunks)
    return [e for e in ends if e <= len(data)]
