"""How common clients and SDKs report a diagnosis: the error text a user will search for.

Every row was measured by running the real client against chunkscope's replay server, over
TLS and plain TCP, for every close kind (FIN, RST, TLS with and without close_notify, a stall
past a short read timeout), and is re-checked by tests/net/test_client_matrix.py: httpx 0.28
(h11 0.16) sync and async, httpx2 2.x, requests 2.3x (urllib3 2.x), aiohttp 3.x, curl 7.88
(``-m`` as its timeout), openai-python 2.6 / 2.7+ / 3.x, anthropic-sdk-python 0.x / 2.x.

What decides a client's message: the verdict and where the bytes stopped, the close kind, and
TLS. Python's ssl module reads an RST under TLS as an end of file, so sync httpx and requests
then report a plain early close, while async httpx (anyio) reports ``ReadError`` with an empty
message. A row that starts with ``no error`` means the client raised nothing; it says whether
the client then kept a short body. Counts in messages are filled in from the report where the
client's count follows from it; ``...`` stands for detail that varies (ports, milliseconds).
"""

from __future__ import annotations

from .report import CloseKind, Framing, ProblemState, Report, Verdict

__all__ = ["EMPTY_MESSAGE", "client_messages"]

EMPTY_MESSAGE = "(empty message)"  # appended where a client's exception has no text at all

_CLOSED = "closed"
_RESET = "reset"
_TIMEOUT = "timeout"

_INCOMPLETE_CHUNKED = (
    "RemoteProtocolError: peer closed connection without sending complete message body "
    "(incomplete chunked read)"
)
_AIOHTTP_CHUNKED = (
    "aiohttp.ClientPayloadError: Response payload is not completed: <TransferEncodingError: 400, "
    "message='Not enough data to satisfy transfer length header.'>"
)
_CHUNKED_STATES = (
    ProblemState.CHUNK_BOUNDARY,
    ProblemState.CHUNK_SIZE,
    ProblemState.CHUNK_DATA,
    ProblemState.CHUNK_DATA_END,
    ProblemState.TRAILERS,
)


def _is_tls(report: Report) -> bool:
    conn = report.connection or {}
    if conn.get("tls") or conn.get("scheme") == "https":
        return True
    target = str(conn.get("target") or (report.request or {}).get("url") or "")
    return target.startswith("https://") or report.close.kind in (
        CloseKind.TLS_CLOSE_NOTIFY,
        CloseKind.TLS_NO_CLOSE_NOTIFY,
    )


def _ending(report: Report) -> str | None:
    kind = report.close.kind
    if kind is CloseKind.TIMEOUT:
        return _TIMEOUT
    if kind is CloseKind.RESET:
        return _RESET
    if kind is CloseKind.INTERRUPTED:
        return None  # the user stopped reading: no client would have seen an ending
    return _CLOSED


def _where(report: Report) -> str | None:
    """What the bytes were when they stopped: no-response, a kind of body, or None (unmeasured)."""
    p = report.problem
    if report.verdict is Verdict.NO_RESPONSE:
        return "no-response"
    if p is None or p.state in (ProblemState.STATUS_LINE, ProblemState.HEADERS):
        return None
    if report.framing is Framing.CHUNKED and p.state in _CHUNKED_STATES:
        return str(p.state.value)
    if report.framing is Framing.CONTENT_LENGTH:
        return "content-length"
    if report.framing is Framing.CLOSE_DELIMITED:
        return "close-delimited"
    return None


def _kept(report: Report) -> str:
    return f"no error: keeps the {report.body_bytes} body bytes as if the body were whole"


def _httpx(report: Report, module: str, sync: bool, ending: str, where: str, tls: bool) -> str:
    p = report.problem
    if ending == _TIMEOUT:
        if not sync:
            return f"{module}.ReadTimeout: {EMPTY_MESSAGE}"
        return f"{module}.ReadTimeout: " + ("The read operation timed out" if tls else "timed out")
    if ending == _RESET and (not tls or not sync):
        if not sync:
            return f"{module}.ReadError: {EMPTY_MESSAGE}"
        return f"{module}.ReadError: [Errno 104] Connection reset by peer"
    # a close, or an RST that the ssl module reads as an end of file (sync, TLS)
    if where == "no-response":
        return f"{module}.RemoteProtocolError: Server disconnected without sending a response."
    if where == "close-delimited":
        return _kept(report)
    if where == "content-length":
        assert p is not None
        assert p.remaining is not None
        return (
            f"{module}.RemoteProtocolError: peer closed connection without sending complete "
            f"message body (received {report.body_bytes} bytes, expected "
            f"{report.body_bytes + p.remaining})"
        )
    if where == ProblemState.CHUNK_SIZE.value:
        return f"{module}.RemoteProtocolError: peer unexpectedly closed connection"
    return f"{module}.{_INCOMPLETE_CHUNKED}"


def _requests(report: Report, ending: str, where: str, tls: bool) -> str:
    p = report.problem
    pool = "HTTPSConnectionPool" if tls else "HTTPConnectionPool"
    if ending == _TIMEOUT:
        if where == "no-response":
            return (
                f"requests.exceptions.ReadTimeout: {pool}(host=..., port=...): Read timed out. "
                "(read timeout=...)"
            )
        return f"requests.exceptions.ConnectionError: {pool}(host=..., port=...): Read timed out."
    if ending == _RESET and not tls:
        if where == "no-response":
            return (
                "requests.exceptions.ConnectionError: ('Connection aborted.', "
                "ConnectionResetError(104, 'Connection reset by peer'))"
            )
        return (
            'requests.exceptions.ChunkedEncodingError: ("Connection broken: '
            "ConnectionResetError(104, 'Connection reset by peer')\", ...)"
        )
    if where == "no-response":
        return (
            "requests.exceptions.ConnectionError: ('Connection aborted.', "
            "RemoteDisconnected('Remote end closed connection without response'))"
        )
    if where == "close-delimited":
        return _kept(report)
    if where == ProblemState.TRAILERS.value:
        return "no error: urllib3 stops reading at the last-chunk and keeps the whole body"
    if where == ProblemState.CHUNK_BOUNDARY.value:
        return "requests.exceptions.ChunkedEncodingError: Response ended prematurely"
    assert p is not None
    if where == "content-length" or (
        where == ProblemState.CHUNK_DATA.value and p.remaining is not None and p.chunk is not None
    ):
        assert p.remaining is not None
        if where == "content-length":
            got = str(report.body_bytes)
        else:
            assert p.chunk is not None
            size = report.chunks[p.chunk].size if p.chunk < len(report.chunks) else None
            got = "..." if size is None else str(size - p.remaining)
        return (
            "requests.exceptions.ChunkedEncodingError: ('Connection broken: "
            f"IncompleteRead({got} bytes read, {p.remaining} more expected)', ...)"
        )
    if where == ProblemState.CHUNK_SIZE.value:
        # urllib3 takes the partial size line as the size: 0 bytes of it were read
        return (
            "requests.exceptions.ChunkedEncodingError: ('Connection broken: "
            "IncompleteRead(0 bytes read, ... more expected)', ...)"
        )
    return (
        "requests.exceptions.ChunkedEncodingError: ('Connection broken: IncompleteRead(...)', ...)"
    )


def _aiohttp(report: Report, ending: str, where: str) -> str:
    p = report.problem
    # aiohttp names the reset after its payload error
    reset = ". ConnectionResetError(104, 'Connection reset by peer')" if ending == _RESET else ""
    if ending == _TIMEOUT:
        return "aiohttp.SocketTimeoutError: Timeout on reading data from socket"
    if where == "no-response":
        if ending == _RESET:
            return "aiohttp.ClientOSError: [Errno 104] Connection reset by peer"
        return "aiohttp.ServerDisconnectedError: Server disconnected"
    if where == "close-delimited":
        return _kept(report)
    if where == "content-length":
        assert p is not None
        assert p.remaining is not None
        total = report.body_bytes + p.remaining
        return (
            "aiohttp.ClientPayloadError: Response payload is not completed: <ContentLengthError: "
            "400, message='Not enough data to satisfy content length header (received "
            f"{report.body_bytes} of {total} bytes).'>{reset}"
        )
    return _AIOHTTP_CHUNKED + reset


def _curl(report: Report, ending: str, where: str) -> str:
    p = report.problem
    if ending == _TIMEOUT:
        return "curl: (28) Operation timed out after ... milliseconds with ... bytes received"
    if ending == _RESET:
        return "curl: (56) Recv failure: Connection reset by peer"
    if where == "no-response":
        return "curl: (52) Empty reply from server"
    if where == "close-delimited":
        return _kept(report)
    if where == "content-length":
        assert p is not None
        return f"curl: (18) transfer closed with {p.remaining} bytes remaining to read"
    return "curl: (18) transfer closed with outstanding read data remaining"


def _sdk_rows(
    report: Report, sync_httpx: str | None, sync_httpx2: str | None
) -> list[tuple[str, str]]:
    """openai-python and anthropic-sdk-python: what their (sync) HTTP client says, wrapped or not."""
    rows: list[tuple[str, str]] = []
    sse = report.sse
    done = (
        sse is not None
        and sse.terminal_event is not None
        and sse.terminal_event.data.strip() == "[DONE]"
        and sse.partial_event is None
    )
    stops = "no error: stops reading at data: [DONE] and closes the connection; every event was delivered"
    if sync_httpx is not None:
        rows.append(("openai-python <= 2.6", sync_httpx))
        rows.append(("openai-python 2.7+", stops if done else sync_httpx))
    if sync_httpx2 is not None:
        if done:
            openai3 = stops
        elif report.close.kind is CloseKind.TIMEOUT:
            openai3 = f"openai.APITimeoutError: Request timed out. (from {sync_httpx2})"
        elif sync_httpx2.startswith("no error"):
            openai3 = sync_httpx2
        else:
            openai3 = f"openai.APIConnectionError: Connection error. (from {sync_httpx2})"
        rows.append(("openai-python 3.x", openai3))
    if sync_httpx is not None:
        rows.append(("anthropic 0.x (httpx)", sync_httpx))
    if sync_httpx2 is not None:
        rows.append(("anthropic 2.x (httpx2)", sync_httpx2))
    return rows


def _malformed(report: Report) -> list[tuple[str, str]]:
    p = report.problem
    assert p is not None
    if (
        p.state is not ProblemState.CHUNK_SIZE
        or p.found is None
        or p.found in (b" ", b"\t", b"\r", b"\n", b";")
    ):
        # verified for an invalid character in the size (e.g. b"0x5"); other size-line
        # deviations get different, version-dependent messages
        return []
    header = "RemoteProtocolError: illegal chunk header: bytearray(b'...')"
    rows = [
        ("httpx", f"httpx.{header}"),
        ("httpx async", f"httpx.{header}"),
        ("httpx2", f"httpx2.{header}"),
        ("httpx2 async", f"httpx2.{header}"),
    ]
    if p.found in (b"x", b"X"):
        rows.append(
            (
                "requests / urllib3",
                "no error: urllib3 parses the size with int(..., 16), which accepts 0x, and "
                "keeps reading",
            )
        )
    rows.append(
        (
            "aiohttp",
            'aiohttp.ClientResponseError: 400, message="Invalid character in chunk size: ..." '
            "(hands over no body byte); or, when the bad line arrives in a later read than the "
            f"head: no error, hands over the {report.body_bytes} body bytes before it and hangs "
            "(its read timeout does not fire) until its total timeout",
        )
    )
    rows.append(("curl", _curl_malformed(report)))
    rows.extend(_sdk_rows(report, f"httpx.{header}", f"httpx2.{header}"))
    return rows


def _curl_malformed(report: Report) -> str:
    """curl 7.88 reads a size line b"0x.." as the last-chunk (size 0) and what follows as trailers."""
    p = report.problem
    assert p is not None
    ctx = report.context or {}
    data = str(ctx.get("data") or "").encode("latin-1")
    start = int(ctx.get("offset") or 0)
    at = p.offset - start
    line_start = data.rfind(b"\n", 0, at) + 1
    digits = data[line_start:at]
    if digits == b"0" and 0 <= at <= len(data):
        following = data[at:]
        next_line = following.split(b"\n", 2)[1] if following.count(b"\n") >= 1 else b""
        if b":" in next_line:
            return (
                f"no error (exit 0): curl reads b'0{p.found.decode('latin-1') if p.found else ''}...' "
                f"as the last-chunk and keeps a short body of {report.body_bytes} bytes "
                "(verbose: Leftovers after chunking)"
            )
    return "curl: (43) Failed reading the chunked-encoded stream"


def client_messages(report: Report) -> list[tuple[str, str]]:
    """(client, what it raises or prints) for this report; empty when the response is complete.

    Rows: httpx and httpx2 (sync and async), requests, aiohttp, curl, openai-python (<= 2.6,
    2.7+, 3.x) and anthropic-sdk-python (0.x on httpx, 2.x on httpx2).
    """
    if report.verdict is Verdict.COMPLETE or report.problem is None:
        return []
    if report.verdict is Verdict.MALFORMED:
        return _malformed(report)
    ending = _ending(report)
    where = _where(report)
    if ending is None or where is None:
        return []
    tls = _is_tls(report)
    rows = [
        ("httpx", _httpx(report, "httpx", True, ending, where, tls)),
        ("httpx async", _httpx(report, "httpx", False, ending, where, tls)),
        ("httpx2", _httpx(report, "httpx2", True, ending, where, tls)),
        ("httpx2 async", _httpx(report, "httpx2", False, ending, where, tls)),
        ("requests / urllib3", _requests(report, ending, where, tls)),
        ("aiohttp", _aiohttp(report, ending, where)),
        ("curl", _curl(report, ending, where)),
    ]
    if report.sse is not None:
        rows.extend(_sdk_rows(report, rows[0][1], rows[2][1]))
    return rows
