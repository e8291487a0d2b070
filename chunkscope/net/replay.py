"""Replay servers started from any source: a capture file, raw bytes, a Response or a Script."""

from __future__ import annotations

import os
import ssl
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import trio

from ..core.errors import CaptureFileError
from ..formats.capture import Capture
from .faults import apply_faults
from .reads import read_capture
from .responses import Response
from .server import Script, ServerInfo, close_for_capture, serve
from .throwaway_ca import TlsPair, tls_pair

__all__ = ["RunningServer", "Source", "make_script", "serving", "start_server"]

Source = str | os.PathLike[str] | Capture | bytes | Script | Response


def make_script(
    source: Source, *, tls: bool = False, allow_truncated: bool = True, **faults: Any
) -> Script:
    """Turn a capture file, Capture, raw bytes, Response or Script into a server script.

    ``faults`` are :func:`chunkscope.net.faults.apply_faults` options
    (``truncate_at``, ``close``, ``stall``, ``slice``, ``delay_per_write``,
    ``speed``). A capture keeps its read timing and its ending. With
    ``allow_truncated=False`` a capture file that ends mid-record is refused.
    """
    if isinstance(source, Script):
        script = source
    elif isinstance(source, Response):
        script = source.script()
    elif isinstance(source, bytes):
        script = Script.from_bytes(source, close="fin")
    else:
        if isinstance(source, Capture):
            path, partial = source.path, source.partial_last_line
            reads: Sequence[tuple[float, bytes]] = tuple((r.t, r.data) for r in source.reads)
            kind = source.end.kind if source.end is not None else None
        else:  # a file: streamed into compact storage, whatever its number of reads
            held = read_capture(source)
            path, partial, reads, kind = (
                held.path,
                held.partial_last_line,
                held.reads,
                held.end_kind,
            )
        if partial and not allow_truncated:
            raise CaptureFileError(
                path,
                None,
                "the file is truncated (its last record is incomplete); `chunkscope analyze` reads it, "
                "`serve --allow-truncated` replays what it holds",
            )
        script = Script(reads=reads, close=close_for_capture(kind, tls))
    return apply_faults(script, **{k: v for k, v in faults.items() if v is not None})


@dataclass
class RunningServer:
    """A server started by :func:`serving` or :func:`start_server`."""

    info: ServerInfo
    script: Script
    tls: TlsPair | None

    @property
    def url(self) -> str:
        return self.info.url

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        """A client context that trusts this server's throwaway CA."""
        return None if self.tls is None else self.tls.client_context

    @property
    def ca_pem(self) -> str | None:
        return None if self.tls is None else self.tls.ca_pem

    @property
    def ca(self) -> Any:
        return None if self.tls is None else self.tls.ca

    @property
    def server_bytes(self) -> bytes:
        """Exactly what each connection is sent."""
        return self.script.server_bytes


async def start_server(
    nursery: trio.Nursery,
    source: Source,
    *,
    tls: bool | TlsPair = False,
    host: str = "127.0.0.1",
    port: int = 0,
    once: bool = False,
    **faults: Any,
) -> RunningServer:
    """Start a replay server in ``nursery``; it runs until the nursery is cancelled.

    With ``tls=True`` the server makes its own throwaway CA, and removes the
    CA's PEM file (if anyone asked for ``ca_pem``) when it stops.
    """
    owned = tls_pair() if tls is True else None
    pair = tls if isinstance(tls, TlsPair) else owned
    try:
        script = make_script(source, tls=pair is not None, **faults)
    except BaseException:
        if owned is not None:
            owned.close()
        raise
    ctx = None if pair is None else pair.server_context

    async def run(task_status: trio.TaskStatus[ServerInfo] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            await serve(
                script, host=host, port=port, ssl_context=ctx, once=once, task_status=task_status
            )
        finally:
            if owned is not None:
                owned.close()

    info: ServerInfo = await nursery.start(run)
    return RunningServer(info, script, pair)


@asynccontextmanager
async def serving(
    source: Source, *, tls: bool | TlsPair = False, **options: Any
) -> AsyncIterator[RunningServer]:
    """Serve ``source`` on 127.0.0.1 for the duration of the ``async with`` block."""
    async with trio.open_nursery() as nursery:
        server = await start_server(nursery, source, tls=tls, **options)
        try:
            yield server
        finally:
            nursery.cancel_scope.cancel()
