"""Where a stream that ended early stopped, what was expected there, and what is missing.

The analyzer calls this once, at the close, for a stream whose message was not complete: the
state of the head or body reader says which byte the peer owed next.
"""

from __future__ import annotations

from .framing import ChunkedReader
from .head import HeadReader
from .report import Close, CloseKind, Problem, ProblemState, Verdict

__all__ = ["explain_truncation"]


def explain_truncation(
    close: Close,
    *,
    received_bytes: int,
    head_reader: HeadReader | None,
    chunked: ChunkedReader | None,
    content_length: int | None,
    body_bytes: int,
) -> Problem:
    """Where a stream that ended early stopped, what was expected there, and what is missing.

    ``head_reader`` is the reader of the unfinished head, or None once the head was read;
    ``chunked`` the reader of a chunked body, if the body is chunked.
    """
    end = received_bytes
    missing: bytes | None = None
    remaining: int | None = None
    chunk: int | None = None
    how = f"the connection ended ({close.kind.value})"
    if head_reader is not None:
        reader = head_reader
        if end == 0:
            state = ProblemState.STATUS_LINE
            expected = 'a status line, e.g. b"HTTP/1.1 200 OK\\r\\n"'
            message = f"{how} before any response byte arrived"
            return _problem(state, end, chunk, expected, message, close)
        if reader.in_status_line:
            state = ProblemState.STATUS_LINE
            expected = "the rest of the status line and the response head"
        else:
            state = ProblemState.HEADERS
            partial = reader.partial_line
            if partial == b"":
                missing = b"\r\n"
                expected = 'more header fields or the blank line b"\\r\\n" ending the head'
            elif partial == b"\r":
                missing = b"\n"
                expected = 'b"\\n" completing the blank line that ends the head'
            else:
                expected = "the rest of a header line and the blank line ending the head"
        message = f"stream ended at byte {end} inside the response head; expected {expected}"
        return _problem(state, end, chunk, expected, message, close, missing)
    if chunked is not None:
        cstate = chunked.state
        if cstate == "chunk-size":
            partial = chunked.partial_line
            chunk = chunked.count
            if not partial:
                state = ProblemState.CHUNK_BOUNDARY
                missing = b"0\r\n\r\n"
                expected = "a chunk-size line or the last-chunk"
                message = (
                    f"chunk #{chunk}: stream ended at byte {end} where a chunk-size line or "
                    f"the last-chunk was expected; missing {missing!r}"
                )
                return _problem(state, end, chunk, expected, message, close, missing)
            state = ProblemState.CHUNK_SIZE
            digits = partial.rstrip(b"\r")
            if digits and digits.strip(b"0") == b"":
                missing = (b"\n" if partial.endswith(b"\r") else b"\r\n") + b"\r\n"
            expected = f"the rest of the chunk-size line {partial!r}"
            message = (
                f"chunk #{chunk}: stream ended at byte {end} inside a chunk-size line "
                f"(got {partial[:32]!r}"
                + (f"; missing {missing!r} if it is the last-chunk)" if missing else ")")
            )
            return _problem(state, end, chunk, expected, message, close, missing)
        if cstate == "chunk-data":
            chunk = chunked.count - 1
            remaining = chunked.remaining
            size = chunked.sizes[chunk] if chunk < chunked.kept else None
            state = ProblemState.CHUNK_DATA
            expected = f"{remaining} more bytes of chunk data, then CRLF"
            got = f"{size - remaining} of {size}" if size is not None else "part"
            message = (
                f"chunk #{chunk}: stream ended at byte {end} inside chunk data "
                f"({got} bytes received; {remaining} missing)"
            )
            return _problem(state, end, chunk, expected, message, close, None, remaining)
        if cstate == "chunk-data-end":
            chunk = chunked.count - 1
            state = ProblemState.CHUNK_DATA_END
            missing = b"\r\n"[chunked.crlf_got :] + b"0\r\n\r\n"
            expected = 'CRLF (b"\\r\\n") after the chunk data'
            message = (
                f"chunk #{chunk}: stream ended at byte {end} after the chunk data, before its "
                f"CRLF was complete; missing at least {missing!r}"
            )
            return _problem(state, end, chunk, expected, message, close, missing)
        # trailers
        chunk = chunked.count
        state = ProblemState.TRAILERS
        partial = chunked.partial_line
        if partial == b"":
            missing = b"\r\n"
        elif partial == b"\r":
            missing = b"\n"
        expected = 'trailer fields or the final CRLF (b"\\r\\n")'
        message = (
            f"chunk #{chunk}: stream ended at byte {end} after the last-chunk, before the "
            f"final CRLF" + (f"; missing {missing!r}" if missing else f" (inside {partial[:32]!r})")
        )
        return _problem(state, end, chunk, expected, message, close, missing)
    state = ProblemState.BODY
    if content_length is not None:
        remaining = content_length - body_bytes
        expected = f"{remaining} more body bytes (Content-Length: {content_length})"
        message = (
            f"stream ended at byte {end} after {body_bytes} of {content_length} "
            f"body bytes; {remaining} missing"
        )
    elif close.kind is CloseKind.UNKNOWN:
        # No close was observed (no end record, raw bytes, an unclassified
        # error): for a body delimited by the close, its end is unknown.
        expected = (
            "an observed clean close (TCP FIN, or TLS close_notify) ending the close-delimited body"
        )
        message = (
            f"close-delimited body: the stream ends at byte {end} but how the connection ended "
            "is unknown, so the end of the body is unknown (it may have been cut)"
        )
    else:
        expected = "a clean close (TCP FIN, or TLS close_notify) ending the close-delimited body"
        message = (
            f"close-delimited body ended by {close.kind.value} at byte {end}: "
            "the end of the body cannot be trusted"
        )
    return _problem(state, end, None, expected, message, close, None, remaining)


def _problem(
    state: ProblemState,
    offset: int,
    chunk: int | None,
    expected: str,
    message: str,
    close: Close,
    missing: bytes | None = None,
    remaining: int | None = None,
) -> Problem:
    return Problem(
        verdict=Verdict.TRUNCATED,
        state=state,
        offset=offset,
        chunk=chunk,
        expected=expected,
        message=message,
        missing=missing,
        remaining=remaining,
        t=close.t,
        idle=close.idle,
    )
