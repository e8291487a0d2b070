"""The report contract: what every command prints with ``--json``.

The top-level keys and their meaning are stable (see README "JSON report").
Bytes are carried in JSON as strings decoded as latin-1, so every byte value
0-255 maps to exactly one code point and the text round-trips byte-exactly:
``b"0\\r\\n\\r\\n"`` becomes ``"0\\r\\n\\r\\n"``, ``b"\\xff"`` becomes ``"\\u00ff"``.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .speedups import chunk_records as _c_chunk_records

__all__ = [
    "ChunkHeader",
    "Close",
    "CloseKind",
    "Framing",
    "Note",
    "Problem",
    "ProblemState",
    "Report",
    "SseEvent",
    "SseSummary",
    "Verdict",
    "bytes_to_json",
    "json_to_bytes",
]


class Verdict(str, enum.Enum):
    """What became of the response as a whole."""

    COMPLETE = "complete"
    TRUNCATED = "truncated"
    MALFORMED = "malformed"
    NO_RESPONSE = "no-response"

    def __str__(self) -> str:
        return self.value


class Framing(str, enum.Enum):
    """How the response body is delimited (RFC 9112 §6.3)."""

    CHUNKED = "chunked"
    CONTENT_LENGTH = "content-length"
    CLOSE_DELIMITED = "close-delimited"
    NO_BODY = "no-body"

    def __str__(self) -> str:
        return self.value


class CloseKind(str, enum.Enum):
    """How the connection ended, as observed by the receiving side."""

    FIN = "fin"  # plain TCP: orderly end of stream
    RESET = "reset"  # ECONNRESET: the peer (or a middlebox) sent RST
    TLS_CLOSE_NOTIFY = "tls-close-notify"  # TLS: clean shutdown alert, then EOF
    TLS_NO_CLOSE_NOTIFY = "tls-no-close-notify"  # TLS: TCP EOF without close_notify
    TIMEOUT = "timeout"  # no byte for the idle timeout, or --max-time hit
    INTERRUPTED = "interrupted"  # the user stopped the capture (Ctrl-C)
    UNKNOWN = "unknown"  # e.g. a raw byte file: end of file, nothing known

    def __str__(self) -> str:
        return self.value


class ProblemState(str, enum.Enum):
    """Where in the message the stream ended or went wrong."""

    STATUS_LINE = "status-line"
    HEADERS = "headers"
    CHUNK_SIZE = "chunk-size"  # inside a chunk-size line (or last-chunk line)
    CHUNK_BOUNDARY = "chunk-boundary"  # where a size line or the last-chunk should start
    CHUNK_DATA = "chunk-data"
    CHUNK_DATA_END = "chunk-data-end"  # the CRLF after chunk data
    TRAILERS = "trailers"  # after the last-chunk line, before the final CRLF
    BODY = "body"  # Content-Length or close-delimited body

    def __str__(self) -> str:
        return self.value


_EMPTY = '""'


def _json_float(value: float) -> str:
    """A float as ``json.dumps`` writes it; a non-finite one as null (RFC 8259 has no NaN)."""
    return float.__repr__(value) if value - value == 0 else "null"


def bytes_to_json(data: bytes | None) -> str | None:
    """Bytes as a JSON-safe string, byte-exact (latin-1)."""
    return None if data is None else data.decode("latin-1")


def json_to_bytes(text: str | None) -> bytes | None:
    """The inverse of :func:`bytes_to_json`."""
    return None if text is None else text.encode("latin-1")


@dataclass(frozen=True, slots=True)
class ChunkHeader:
    """A chunk-size line, e.g. ``b"1a;name=value\\r\\n"`` (RFC 9112 §7.1)."""

    index: int  # 0-based chunk number; the last-chunk has the next index
    offset: int  # first byte of the size line in the received stream
    size: int
    ext: bytes | None  # chunk extensions as received, from the first ';' or BWS, without CRLF;
    # None: the chunk had extensions, not kept (past the first MiB of them)
    data_offset: int  # first byte of the chunk data (== end of the size line)
    t: float  # arrival time of the read that completed the size line

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "offset": self.offset,
            "size": self.size,
            "ext": bytes_to_json(self.ext),
            "data_offset": self.data_offset,
            "t": self.t,
        }


@dataclass(frozen=True, slots=True)
class Problem:
    """Why the response is not complete: one finding, with its location.

    ``offset`` is, for a truncation, where the stream ended (== received
    bytes); for a malformation, the first offending byte. ``chunk`` is the
    index of the chunk being read (None before the body). ``expected`` says in
    words, with the exact bytes where they are fixed, what should have come;
    ``found`` holds the offending bytes (malformed only); ``missing`` the exact
    termination bytes never received, when they are determinable.
    ``remaining`` counts data bytes still owed (chunk data or Content-Length).
    ``t`` is the time since the request of the read (or close) concerned,
    ``idle`` the time since the previous byte arrived.
    """

    verdict: Verdict  # TRUNCATED or MALFORMED
    state: ProblemState
    offset: int
    chunk: int | None
    expected: str
    message: str
    missing: bytes | None = None
    found: bytes | None = None
    remaining: int | None = None
    t: float | None = None
    idle: float | None = None
    tolerated_by: str | None = None  # which common clients accept this deviation

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "offset": self.offset,
            "chunk": self.chunk,
            "expected": self.expected,
            "missing": bytes_to_json(self.missing),
            "found": bytes_to_json(self.found),
            "remaining": self.remaining,
            "t": self.t,
            "idle": self.idle,
            "message": self.message,
            "tolerated_by": self.tolerated_by,
        }


@dataclass(frozen=True, slots=True)
class Note:
    """A deviation or fact worth telling that does not change the verdict."""

    offset: int
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"offset": self.offset, "message": self.message}


@dataclass(frozen=True, slots=True)
class Close:
    """How the connection ended: ``t`` since the request, ``idle`` since the last byte."""

    kind: CloseKind
    t: float | None
    idle: float | None
    detail: str | None = None  # e.g. the OS or TLS error text

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "t": self.t, "idle": self.idle, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One dispatched Server-Sent Event (WHATWG HTML §9.2.6).

    ``offset``/``end`` locate the event's first line and the end of the blank
    line that dispatched it in the received stream; ``data`` may be cut to a
    preview (``data_length`` is the full length in characters).
    """

    index: int
    name: str  # "message" when no event: field was given
    data: str
    data_length: int
    id: str | None
    offset: int
    end: int
    t: float
    # For a body with a content coding (gzip...), offset/end count in the decoded
    # stream and this is the received offset just past the bytes whose decoding
    # completed the event; None means the same stream (``end``).
    received_end: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "id": self.id,
            "data": self.data,
            "data_length": self.data_length,
            "offset": self.offset,
            "end": self.end,
            "t": self.t,
            "received_end": self.end if self.received_end is None else self.received_end,
        }


@dataclass(frozen=True, slots=True)
class SseSummary:
    """What the ``text/event-stream`` body held, as far as it arrived.

    ``partial_event`` is set when the stream stopped inside an event (some
    lines of it arrived, but not the blank line that dispatches it): a dict
    with ``offset`` (stream offset of its first byte), ``bytes``, ``fields``
    (field names seen), ``preview`` (its data so far), ``unterminated_line``
    and, when the last line had no line end, ``line_preview`` (that line).
    """

    events: int
    names: dict[str, int]
    last_event: SseEvent | None
    terminal_seen: bool
    terminal_event: SseEvent | None
    partial_event: dict[str, Any] | None
    terminal_names: tuple[str, ...]
    notes: tuple[str, ...] = ()
    # The application axis (core/profiles.py), filled in by the analyzer.
    profile: str | None = None
    outcome: str | None = None  # completed, failed, incomplete, cut, unknown
    outcome_detail: dict[str, Any] | None = None

    @property
    def complete(self) -> bool:
        """Every application event arrived: the terminal one, and nothing cut after it."""
        return self.terminal_seen and self.partial_event is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "names": dict(self.names),
            "last_event": None if self.last_event is None else self.last_event.to_dict(),
            "terminal_seen": self.terminal_seen,
            "terminal_event": None
            if self.terminal_event is None
            else self.terminal_event.to_dict(),
            "partial_event": self.partial_event,
            "complete": self.complete,
            "terminal_names": list(self.terminal_names),
            "notes": list(self.notes),
            "profile": self.profile,
            "outcome": self.outcome,
            "outcome_detail": self.outcome_detail,
        }


@dataclass(slots=True)
class Report:
    """Everything chunkscope concluded about one response.

    ``to_dict()`` gives the JSON contract; ``exit_code`` the CLI's exit code
    (0 complete, 1 truncated or malformed or no response).
    """

    verdict: Verdict
    framing: Framing | None
    status: int | None
    received_bytes: int
    body_bytes: int
    chunk_count: int
    chunks: Sequence[ChunkHeader]  # may be a lazy view; index i is chunk i
    chunks_elided: int
    last_chunk: ChunkHeader | None
    problem: Problem | None
    close: Close
    sse: SseSummary | None
    head: dict[str, Any] | None = None
    notes: list[Note] = field(default_factory=list)
    timing: dict[str, Any] = field(default_factory=dict)
    extra_bytes: int = 0
    connection: dict[str, Any] | None = None  # filled by live captures and capture files
    request: dict[str, Any] | None = None
    # bytes around where the stream stopped or broke: {"offset", "data" (latin-1)}
    context: dict[str, Any] | None = None
    # {coding, decoded_as, compressed_bytes, decoded_bytes, problem} when the body
    # had a Content-Encoding (core/codings.py)
    content_coding: dict[str, Any] | None = None

    @property
    def transport_exit_code(self) -> int:
        """The exit code from the HTTP framing alone (``--transport-only``)."""
        return 0 if self.verdict is Verdict.COMPLETE else 1

    @property
    def application_problem(self) -> str | None:
        """Why the application stream is not whole although the framing may be: the SSE
        outcome (``cut``, ``failed``, ``incomplete``) or the content coding's problem."""
        if self.sse is not None and self.sse.outcome in ("cut", "failed", "incomplete"):
            return f"sse.outcome {self.sse.outcome}"
        problem = (self.content_coding or {}).get("problem")
        if problem and problem.get("kind") in ("cut", "corrupt", "bomb"):
            return f"content coding {problem['kind']}"
        return None

    @property
    def exit_code(self) -> int:
        """0 complete; 1 when the framing is not, or the application stream is not (see
        :attr:`application_problem`)."""
        if self.verdict is not Verdict.COMPLETE:
            return 1
        return 0 if self.application_problem is None else 1

    @property
    def application_complete(self) -> bool | None:
        """For SSE streams: did every application event arrive (None if not SSE)."""
        return None if self.sse is None else self.sse.complete

    @property
    def hints(self) -> list[Any]:
        """Attribution hints (:class:`chunkscope.core.hints.Hint`): why the stream likely ended."""
        from .hints import hints_for  # hints reads reports: imported late, no cycle

        return list(hints_for(self))

    @property
    def identifiers(self) -> dict[str, Any]:
        """Request ids from the response head and the UTC start and end (see core/hints.py)."""
        from .hints import identifiers_for

        return identifiers_for(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "framing": None if self.framing is None else self.framing.value,
            "status": self.status,
            "received_bytes": self.received_bytes,
            "body_bytes": self.body_bytes,
            "chunk_count": self.chunk_count,
            "chunks": [c.to_dict() for c in self.chunks],
            "chunks_elided": self.chunks_elided,
            "last_chunk": None if self.last_chunk is None else self.last_chunk.to_dict(),
            "problem": None if self.problem is None else self.problem.to_dict(),
            "close": self.close.to_dict(),
            "sse": None if self.sse is None else self.sse.to_dict(),
            "head": self.head,
            "notes": [n.to_dict() for n in self.notes],
            "timing": self.timing,
            "extra_bytes": self.extra_bytes,
            "connection": self.connection,
            "request": self.request,
            "context": self.context,
            "content_coding": self.content_coding,
            "hints": [h.to_dict() for h in self.hints],
            "identifiers": self.identifiers,
        }

    def to_json(self, indent: int | None = 2) -> str:
        """The JSON report: ``json.dumps(self.to_dict(), indent=indent)``, the same text.

        Never NaN or Infinity (not JSON): such a number becomes null.

        With the default indent the chunk records are written from the chunk
        columns rather than through ``json``'s indenting encoder (pure
        Python, about 11x slower than a format string): runs of plain chunks
        in C when the extension is built (``speedups.chunk_records``: 100 000
        records in about 0.02 s), the rest by a format string (0.12 s).
        """
        rows = getattr(self.chunks, "rows", None)
        if indent != 2 or rows is None or len(self.chunks) < 64:
            return _dumps(self.to_dict(), indent)
        text = _dumps(self._dict_without_chunks(), 2)
        marker = '\n  "chunks": [],\n'
        at = text.index(marker)  # a top-level key: a string value cannot hold a raw newline
        out: list[str] = []
        add = out.append
        runs = getattr(self.chunks, "runs", None)
        if runs is None or _c_chunk_records is None:
            last_t: float | None = None
            t_text = ""
            for i, o, n, e, d, t in rows():
                if t is not last_t:  # one time object per read, shared by its chunks
                    last_t, t_text = t, _json_float(t)
                add(_chunk_record(i, o, n, e, d, t_text))
        else:
            # Runs of plain chunks of one read are written in C from the
            # columns; the rest (extensions, leading zeros) one by one.
            table: Any = self.chunks  # a framing.ChunkTable (report imports no framing)
            offsets, sizes = table.offsets, table.sizes
            for first, end, t, plain in runs():
                t_text = _json_float(t)
                if plain:
                    block = _c_chunk_records(
                        first, offsets[first:end], sizes[first:end], t_text.encode("ascii")
                    )
                    add(block.decode("ascii"))
                    continue
                for i, o, n, e, d, _ in table.rows_of(first, end, t):
                    add(_chunk_record(i, o, n, e, d, t_text))
        records = ",\n".join(out)
        return f'{text[:at]}\n  "chunks": [\n{records}\n  ],\n{text[at + len(marker) :]}'

    def _dict_without_chunks(self) -> dict[str, Any]:
        """:meth:`to_dict` with ``chunks`` left empty (``chunk_count`` and ``chunks_elided`` kept)."""
        chunks = self.chunks
        self.chunks = ()
        try:
            return self.to_dict()
        finally:
            self.chunks = chunks


def _chunk_record(i: int, o: int, n: int, e: bytes | None, d: int, t_text: str) -> str:
    return (
        f'    {{\n      "index": {i},\n      "offset": {o},\n      "size": {n},\n'
        f'      "ext": {_EMPTY if e == b"" else json.dumps(bytes_to_json(e))},\n'
        f'      "data_offset": {d},\n      "t": {t_text}\n    }}'
    )


def _dumps(data: dict[str, Any], indent: int | None) -> str:
    try:
        return json.dumps(data, indent=indent, allow_nan=False)
    except ValueError:  # a non-finite float somewhere (e.g. from absurd capture times)
        return json.dumps(_finite(data), indent=indent, allow_nan=False)


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None (RFC 8259 has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
