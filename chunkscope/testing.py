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
"""

from __future__ import annotations

import os
import ssl
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from ._builder import Response, sse_event
from ._capture_file import Capture, load_capture
from ._errors import CaptureFileError
from ._faults import apply_faults
from ._report import Report
from ._server import Script, ServerInfo, close_for_capture, serve

__all__ = [
    "Response",
    "RunningServer",
    "Script",
    "assert_report",
    "make_script",
    "serving",
    "sse_event",
    "start_server",
    "tls_pair",
]

Source = str | os.PathLike[str] | Capture | bytes | Script | Response


@dataclass
class TlsPair:
    """A throwaway CA and the matching server and client SSL contexts."""

    ca: Any  # trustme.CA
    server_context: ssl.SSLContext
    client_context: ssl.SSLContext
    ca_pem: str  # path of the CA certificate, for clients that want a file (curl --cacert)


def tls_pair(
    directory: str | None = None, hostnames: tuple[str, ...] = ("127.0.0.1", "localhost")
) -> TlsPair:
    """Make a throwaway CA (trustme) with a server certificate for ``hostnames``."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert(*hostnames)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server)
    server.set_alpn_protocols(["http/1.1"])
    client = ssl.create_default_context()
    ca.configure_trust(client)
    client.set_alpn_protocols(["http/1.1"])
    directory = directory or tempfile.mkdtemp(prefix="chunkscope-ca-")
    ca_pem = os.path.join(directory, "chunkscope-ca.pem")
    ca.cert_pem.write_to_path(ca_pem)
    return TlsPair(ca, server, client, ca_pem)


def make_script(
    source: Source, *, tls: bool = False, allow_truncated: bool = True, **faults: Any
) -> Script:
    """Turn a capture file, Capture, raw bytes, Response or Script into a server script.

    ``faults`` are :func:`chunkscope._faults.apply_faults` options
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
        capture = source if isinstance(source, Capture) else load_capture(source)
        if capture.partial_last_line and not allow_truncated:
            raise CaptureFileError(
                capture.path,
                None,
                "the file is truncated (its last record is incomplete); `chunkscope analyze` reads it, "
                "`serve --allow-truncated` replays what it holds",
            )
        reads = tuple((r.t, r.data) for r in capture.reads)
        kind = capture.end.kind if capture.end is not None else None
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
    """Start a replay server in ``nursery``; it runs until the nursery is cancelled."""
    pair = tls if isinstance(tls, TlsPair) else (tls_pair() if tls else None)
    script = make_script(source, tls=pair is not None, **faults)
    ctx = None if pair is None else pair.server_context

    async def run(task_status: trio.TaskStatus[ServerInfo] = trio.TASK_STATUS_IGNORED) -> None:
        await serve(
            script, host=host, port=port, ssl_context=ctx, once=once, task_status=task_status
        )

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
