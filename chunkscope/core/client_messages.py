"""How common clients report a diagnosis: the error text a user will search for.

Every message here was observed by running the real client against
chunkscope's replay server (tests/test_clients_say.py re-runs each one):
httpx 0.28 (h11 0.16), requests 2.3x (urllib3 2.x), aiohttp 3.x, curl 7.88+.
Counts in messages (bytes read, bytes expected) are filled in from the report
where the client's count follows from it.
"""

from __future__ import annotations

from .report import CloseKind, ProblemState, Report, Verdict

__all__ = ["client_messages"]

_HTTPX_CHUNKED = (
    "httpx.RemoteProtocolError: peer closed connection without sending complete message body "
    "(incomplete chunked read)"
)
_AIOHTTP_CHUNKED = (
    "aiohttp.ClientPayloadError: Response payload is not completed: <TransferEncodingError: 400, "
    "message='Not enough data to satisfy transfer length header.'>"
)
_CURL_CHUNKED = "curl: (18) transfer closed with outstanding read data remaining"


def _truncated_chunked(report: Report) -> list[tuple[str, str]]:
    p = report.problem
    assert p is not None
    state = p.state
    if state is ProblemState.CHUNK_SIZE:
        httpx = "httpx.RemoteProtocolError: peer unexpectedly closed connection"
    else:
        httpx = _HTTPX_CHUNKED
    if state is ProblemState.CHUNK_BOUNDARY:
        requests = "requests.exceptions.ChunkedEncodingError: Response ended prematurely"
    elif state is ProblemState.CHUNK_DATA and p.remaining is not None and p.chunk is not None:
        size = report.chunks[p.chunk].size if p.chunk < len(report.chunks) else None
        got = "?" if size is None else str(size - p.remaining)
        requests = (
            "requests.exceptions.ChunkedEncodingError: ('Connection broken: "
            f"IncompleteRead({got} bytes read, {p.remaining} more expected)', ...)"
        )
    elif state is ProblemState.TRAILERS:
        requests = "no error: requests/urllib3 stop reading at the last-chunk and accept the body"
    else:
        requests = "requests.exceptions.ChunkedEncodingError: ('Connection broken: IncompleteRead(...)', ...)"
    return [
        ("httpx / h11", httpx),
        ("requests / urllib3", requests),
        ("aiohttp", _AIOHTTP_CHUNKED),
        ("curl", _CURL_CHUNKED),
    ]


def _truncated_length(report: Report) -> list[tuple[str, str]]:
    p = report.problem
    assert p is not None
    assert p.remaining is not None
    got = report.body_bytes
    total = got + p.remaining
    return [
        (
            "httpx / h11",
            "httpx.RemoteProtocolError: peer closed connection without sending complete message "
            f"body (received {got} bytes, expected {total})",
        ),
        (
            "requests / urllib3",
            "requests.exceptions.ChunkedEncodingError: ('Connection broken: "
            f"IncompleteRead({got} bytes read, {p.remaining} more expected)', ...)",
        ),
        (
            "aiohttp",
            "aiohttp.ClientPayloadError: Response payload is not completed: <ContentLengthError: 400, "
            f"message='Not enough data to satisfy content length header (received {got} of {total} bytes).'>",
        ),
        ("curl", f"curl: (18) transfer closed with {p.remaining} bytes remaining to read"),
    ]


def _reset() -> list[tuple[str, str]]:
    return [
        ("httpx / h11", "httpx.ReadError: ... [Errno 104] Connection reset by peer"),
        (
            "requests / urllib3",
            'requests.exceptions.ChunkedEncodingError: ("Connection broken: '
            "ConnectionResetError(104, 'Connection reset by peer')\", ...)",
        ),
        (
            "aiohttp",
            "aiohttp.ClientPayloadError: Response payload is not completed: ... ConnectionResetError(104, ...)",
        ),
        ("curl", "curl: (56) Recv failure: Connection reset by peer"),
    ]


def _malformed_size_line(report: Report) -> list[tuple[str, str]]:
    p = report.problem
    assert p is not None
    rows = [
        ("httpx / h11", "httpx.RemoteProtocolError: illegal chunk header: bytearray(b'...')"),
        (
            "aiohttp",
            'aiohttp.ClientResponseError: 400, message="Invalid character in chunk size: ..."',
        ),
        ("curl", "curl: (43) Failed reading the chunked-encoded stream"),
    ]
    if p.found == b"x":
        rows.insert(
            1,
            (
                "requests / urllib3",
                "no error: urllib3 parses the size with int(..., 16), which accepts 0x",
            ),
        )
    return rows


def client_messages(report: Report) -> list[tuple[str, str]]:
    """(client, what it raises or prints) for this report's verdict; empty if unknown."""
    p = report.problem
    if report.verdict is Verdict.COMPLETE or p is None:
        return []
    if report.verdict is Verdict.TRUNCATED and report.close.kind is CloseKind.RESET:
        return _reset()
    if report.verdict is Verdict.TRUNCATED:
        if p.state in (
            ProblemState.CHUNK_BOUNDARY,
            ProblemState.CHUNK_SIZE,
            ProblemState.CHUNK_DATA,
            ProblemState.CHUNK_DATA_END,
            ProblemState.TRAILERS,
        ):
            return _truncated_chunked(report)
        if p.state is ProblemState.BODY and p.remaining is not None:
            return _truncated_length(report)
        return []
    if (
        report.verdict is Verdict.MALFORMED
        and p.state is ProblemState.CHUNK_SIZE
        and p.found is not None
        and p.found not in (b" ", b"\t", b"\r", b"\n", b";")
    ):
        # verified for an invalid character in the size (e.g. b"0x5"); other
        # size-line deviations get different, version-dependent messages
        return _malformed_size_line(report)
    return []
