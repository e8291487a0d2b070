"""What h11 (and so httpx) concludes from the same bytes, for comparison.

h11 hides chunk boundaries and costs about 11 µs per chunk, so it never sits
on chunkscope's own hot path: by default it sees only the response head (to
validate it the way httpx would); with ``full=True`` it reads the whole
response, as ``chunkscope capture --cross-check`` asks.
"""

from __future__ import annotations

from typing import Any

import h11

__all__ = ["H11CrossCheck"]


class H11CrossCheck:
    """Feeds received bytes to an h11 client connection and records its verdict."""

    def __init__(self, method: str = "GET", *, full: bool = False, head_limit: int = 65536) -> None:
        self.full = full
        self.head_limit = head_limit
        self._conn = h11.Connection(our_role=h11.CLIENT, max_incomplete_event_size=head_limit)
        self._conn.send(h11.Request(method=method, target="/", headers=[("Host", "chunkscope")]))
        self._conn.send(h11.EndOfMessage())
        self.fed = 0
        self.status: int | None = None
        self.body_bytes = 0
        self.data_events = 0
        self.error: str | None = None
        self.complete = False
        self._stopped = False

    def feed(self, data: bytes) -> None:
        if self._stopped:
            return
        self.fed += len(data)
        try:
            self._conn.receive_data(data)
            self._drain()
        except h11.RemoteProtocolError as exc:
            self.error = str(exc)
            self._stopped = True

    def _drain(self) -> None:
        while True:
            event = self._conn.next_event()
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Response):
                self.status = event.status_code
                if not self.full:
                    self._stopped = True  # the head is validated; the body is ours
                    return
            elif isinstance(event, h11.Data):
                self.body_bytes += len(event.data)
                self.data_events += 1
            elif isinstance(event, h11.EndOfMessage):
                self.complete = True
                self._stopped = True
                return
            elif isinstance(event, h11.ConnectionClosed):
                return

    def close(self) -> dict[str, Any]:
        """Tell h11 the peer closed; return its conclusion."""
        if not self._stopped:
            try:
                self._conn.receive_data(b"")
                self._drain()
            except h11.RemoteProtocolError as exc:
                self.error = str(exc)
            self._stopped = True
        if self.full:
            outcome = "complete" if self.complete else "error"
        else:
            outcome = "head-ok" if self.status is not None else "error"
        result: dict[str, Any] = {"outcome": outcome, "status": self.status, "error": self.error}
        if self.full:
            result.update(body_bytes=self.body_bytes, data_events=self.data_events)
            if outcome == "error" and self.error is not None:
                result["httpx"] = _httpx_message(self.error)
        return result


def _httpx_message(h11_error: str) -> str:
    # httpcore re-raises h11's RemoteProtocolError as httpx.RemoteProtocolError;
    # for an EOF inside a body it rewords "...body: incomplete chunked read" as
    # "...body (incomplete chunked read)".
    if ": incomplete chunked read" in h11_error:
        h11_error = h11_error.replace(": incomplete chunked read", " (incomplete chunked read)")
    return f"httpx.RemoteProtocolError: {h11_error}"
