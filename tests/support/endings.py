"""A replay server whose connections end in a known mix, measured from the server side.

``MixedEndings`` is a per-connection script chooser for
:func:`chunkscope.net.server.serve`: connection ``i`` (in the order requests
arrive) gets ``scripts[i % len(scripts)]``. It records, server-side, when
each request arrived and how many connections were open at that moment, so
tests can check a client's concurrency and rate limits without trusting it.
``ServerThread`` runs such a server in a thread of its own (its own trio
loop) for tests that call ``main(argv)`` or run a subprocess.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import h11
import trio

from chunkscope.net.server import Script, ServerInfo, serve
from chunkscope.testing import Response, sse_event

COMPLETE = "complete"
CUT_AFTER_DONE = "cut-after-done"
RESET_MID_CHUNK = "reset-mid-chunk"
STALL = "stall"


def sse_response(request_id: str, gap: float = 0.0) -> Response:
    events = [sse_event("delta", f'{{"text": "{i}"}}') for i in range(5)]
    events.append(sse_event(None, "[DONE]"))
    return Response(
        headers=[("x-request-id", request_id), ("Server", "endings/1"), ("Via", "1.1 edge-a")],
        events=events,
    )


def script_for(kind: str, request_id: str, *, gap: float = 0.0) -> Script:
    """One connection's script: a complete SSE stream, or one of three ways of ending early."""
    response = sse_response(request_id)
    if kind == COMPLETE:
        script = response.script(gap=gap)
    elif kind == CUT_AFTER_DONE:  # every event, then FIN before the last-chunk
        script = response.script(truncate_at="before-last-chunk", close="fin", gap=gap)
    elif kind == RESET_MID_CHUNK:
        script = response.script(truncate_at="mid-chunk:2", close="reset", gap=gap)
    elif kind == STALL:  # a few events, then silence with the connection held open
        script = response.script(truncate_at="after-event:delta", close="stall", stall=60.0)
    else:
        raise ValueError(kind)
    return script.with_options(speed=1.0) if gap else script


def mix_of_40() -> list[str]:
    """24 complete, 8 cut after [DONE] before the last-chunk, 4 reset mid-chunk, 4 stalled."""
    ten = [COMPLETE] * 6 + [CUT_AFTER_DONE] * 2 + [RESET_MID_CHUNK, STALL]
    return ten * 4


class MixedEndings:
    """Per-connection chooser with server-side measurements (see module docstring)."""

    def __init__(self, kinds: Sequence[str], *, gap: float = 0.0) -> None:
        self.kinds = list(kinds)
        self.scripts = [
            script_for(kind, f"req_{i:04d}", gap=gap) for i, kind in enumerate(self.kinds)
        ]
        self.info: ServerInfo | None = None
        self.requests = 0
        self.arrivals: list[float] = []
        self.max_open = 0
        self.served: list[str] = []

    def __call__(self, request: h11.Request) -> Script:
        index = self.requests
        self.requests += 1
        self.arrivals.append(trio.current_time())
        if self.info is not None:
            # accepted and not yet finished, this one included
            open_now = self.info.connections - self.info.completed - len(self.info.errors)
            self.max_open = max(self.max_open, open_now)
        self.served.append(self.kinds[index % len(self.kinds)])
        return self.scripts[index % len(self.scripts)]

    async def start(self, nursery: trio.Nursery) -> ServerInfo:
        info: ServerInfo = await nursery.start(serve, self)
        self.info = info
        return info


class ServerThread:
    """``with ServerThread(chooser) as url:`` -- the chooser served from a thread of its own."""

    def __init__(self, chooser: MixedEndings) -> None:
        self.chooser = chooser
        self.url = ""
        self._ready = threading.Event()
        self._token: Any = None
        self._stop: trio.Event | None = None
        self._thread = threading.Thread(target=trio.run, args=(self._main,), daemon=True)

    async def _main(self) -> None:
        self._stop = trio.Event()
        self._token = trio.lowlevel.current_trio_token()
        async with trio.open_nursery() as nursery:
            info = await self.chooser.start(nursery)
            self.url = info.url
            self._ready.set()
            await self._stop.wait()
            nursery.cancel_scope.cancel()

    def __enter__(self) -> str:
        self._thread.start()
        if not self._ready.wait(30):
            raise AssertionError("the test server did not start")
        return self.url

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
        self._thread.join(30)
