"""Response head reader: status line and header fields (RFC 9112 §4, §5).

Theory of operation
-------------------
The head is small and bounded (``max_head``), so it is collected in one
buffer and validated line by line as each line completes; a line that can
never become valid (a status line that does not start like ``HTTP/``) is
reported as soon as its first wrong byte arrives, so a server that answers
with garbage is diagnosed without waiting for a line end that may never come.

Every finding carries the absolute offset of its first offending byte.
obs-fold in a response and a status line without a reason phrase are
accepted and noted (RFC 9112 §5.2 tells a user agent to unfold; clients
ignore the reason). A bare LF line end is a finding, with who tolerates it:
the grammar requires CRLF, strict parsers (llhttp) reject it, and RFC 9112
§2.2 only *lets* a recipient accept it.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

__all__ = ["Head", "HeadFinding", "HeadReader"]

# RFC 9110 §5.6.2: token = 1*tchar
_TCHAR = frozenset(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_STATUS_LINE = re.compile(rb"HTTP/([0-9])\.([0-9]) ([0-9]{3})(?: ([^\x00-\x08\x0a-\x1f\x7f]*))?")
_FIELD_VALUE_BAD = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_PREFIX = b"HTTP/"
_BARE_CR = re.compile(rb"\r[^\n]")


_TOLERATED_EMPTY_LINE = "llhttp (it skips CR and LF before a status line); h11 rejects it"


def _ctl_tolerance(byte: int) -> str | None:
    """Who accepts a control byte in a field value (RFC 9110 §5.5)."""
    if byte in b"\x00\r\n\x0b\x0c":
        return None  # NUL, CR and LF are dangerous; h11 also rejects VT and FF
    return (
        "h11 and aiohttp's lax mode (they keep CTLs other than NUL and CR/LF; "
        "RFC 9110 §5.5 lets a recipient retain them); llhttp rejects them"
    )


class _Phase(enum.Enum):
    STATUS_LINE = "status-line"
    HEADERS = "headers"
    DONE = "done"
    FAILED = "failed"


@dataclass
class Head:
    """One parsed response head (interim or final)."""

    offset: int  # first byte of the status line
    end: int  # first byte after the blank line that ends the head
    version: str
    status: int
    reason: str
    headers: list[tuple[str, str]]  # names as received, values with OWS trimmed
    header_offsets: list[int]  # stream offset of each header's field line
    notes: list[tuple[int, str]] = field(default_factory=list)
    # Stream offset of each header's value (its first byte after OWS), or -1
    # where obs-fold joined lines into it, so positions in it are not the wire's.
    value_offsets: list[int] = field(default_factory=list)

    def get_all(self, name: str) -> list[str]:
        lname = name.lower()
        return [v for n, v in self.headers if n.lower() == lname]


@dataclass(frozen=True)
class HeadFinding:
    """A malformation in the head: where, what was found, what was expected."""

    offset: int
    found: bytes
    expected: str
    reason: str
    in_status_line: bool
    tolerated_by: str | None = None


class HeadReader:
    """Incremental reader of one response head starting at ``base`` in the stream."""

    def __init__(self, base: int, max_head: int) -> None:
        self.base = base
        self.max_head = max_head
        self._buf = bytearray()
        self._line_start = 0  # index in _buf of the line being read
        self._phase = _Phase.STATUS_LINE
        self._version = ""
        self._status = 0
        self._reason = ""
        self._headers: list[tuple[str, str]] = []
        self._header_offsets: list[int] = []
        self._value_offsets: list[int] = []
        self._notes: list[tuple[int, str]] = []
        self.head: Head | None = None
        self.finding: HeadFinding | None = None

    @property
    def in_status_line(self) -> bool:
        return self._phase is _Phase.STATUS_LINE

    @property
    def buffered(self) -> int:
        return len(self._buf)

    @property
    def partial_line(self) -> bytes:
        return bytes(self._buf[self._line_start :])

    def feed(self, data: bytes) -> int:
        """Take bytes; return how many belong to this head (all, unless it ended or failed)."""
        if self._phase in (_Phase.DONE, _Phase.FAILED):
            return 0
        old_len = len(self._buf)
        self._buf += data
        search_from = old_len
        while True:
            nl = self._buf.find(b"\n", search_from)
            if nl < 0 or nl >= self.max_head:
                break
            if not self._complete_line(nl):
                break
            search_from = self._line_start
        if self.head is not None:
            used = self.head.end - self.base - old_len
            del self._buf[self.head.end - self.base :]
            return used
        if self.finding is None:
            self._check_partial_line()
        if self.finding is None and self._buf.find(b"\r", max(old_len - 1, self._line_start)) >= 0:
            self._check_bare_cr(self._line_start, len(self._buf))
        if self.finding is None and len(self._buf) > self.max_head:
            self._fail(
                self.max_head,
                bytes(self._buf[self.max_head : self.max_head + 1]),
                f"a response head of at most {self.max_head} bytes",
                f"response head exceeds {self.max_head} bytes without ending",
            )
        return len(data)

    # -- line handling ------------------------------------------------------

    def _fail(
        self, index: int, found: bytes, expected: str, reason: str, tolerated_by: str | None = None
    ) -> None:
        in_status_line = self._phase is _Phase.STATUS_LINE
        self._phase = _Phase.FAILED
        self.finding = HeadFinding(
            self.base + index, found, expected, reason, in_status_line, tolerated_by
        )

    def _check_partial_line(self, start: int | None = None) -> None:
        """Catch a status line that can never be valid before its line end arrives."""
        if self._phase is not _Phase.STATUS_LINE:
            return
        if start is None:
            start = self._line_start
        partial = self._buf[start : start + len(_PREFIX)]
        for i, byte in enumerate(partial):
            if byte != _PREFIX[i]:
                if i == 0 and byte in b"\r\n":
                    # RFC 9112 §2.2 lets a server skip empty lines before a
                    # request-line; nothing lets a client skip them before a
                    # status line (they follow e.g. a 1xx head sent with an
                    # extra CRLF).
                    reason = "CR or LF before the status line"
                    tolerated: str | None = _TOLERATED_EMPTY_LINE
                else:
                    reason = "response does not start with an HTTP/1.x status line"
                    tolerated = None
                self._fail(
                    start + i,
                    bytes(self._buf[start + i : start + i + 1]),
                    'a status line starting with b"HTTP/"',
                    reason,
                    tolerated,
                )
                return

    def _check_bare_cr(self, start: int, end: int) -> None:
        """A CR followed by a byte other than LF in the head bytes ``start:end``.

        RFC 9112 §2.1: CRLF ends a line; the byte after such a CR shows at
        once that none is coming, so it is the finding, whether or not the LF
        that ends the line has arrived yet (the same finding for any split).
        """
        bare = _BARE_CR.search(self._buf, start, end)
        if bare is None:
            return
        cr = bare.start()
        if self._phase is _Phase.STATUS_LINE:
            self._check_partial_line(start)
            if self.finding is not None:
                return
        self._fail(
            cr + 1,
            bytes(self._buf[cr + 1 : cr + 2]),
            'CRLF (b"\\r\\n") ending each line of the head',
            "CR not followed by LF in the response head",
        )

    def _complete_line(self, nl: int) -> bool:
        """Handle the line ending at index ``nl`` (the LF); False stops the loop."""
        start = self._line_start
        self._check_bare_cr(start, nl)
        if self.finding is not None:
            return False
        end = nl
        if end > start and self._buf[end - 1] == 0x0D:
            end -= 1
        else:
            if nl == start and self._phase is _Phase.STATUS_LINE:
                self._check_partial_line(start)  # an empty line, not a bare LF line end
                return False
            if nl > start and self._earlier_fault(start, nl):
                return False  # the line went wrong before its bare LF: that byte is the finding
            self._fail(
                nl,
                b"\n",
                'CRLF (b"\\r\\n") ending each line of the head',
                "bare LF line end in the response head",
                "h11, curl, requests and browsers (RFC 9112 §2.2 lets a recipient accept it); llhttp rejects it",
            )
            return False
        line = bytes(self._buf[start:end])
        self._line_start = nl + 1
        if self._phase is _Phase.STATUS_LINE:
            return self._status_line(line, start)
        if not line:
            self._phase = _Phase.DONE
            self.head = Head(
                offset=self.base,
                end=self.base + nl + 1,
                version=self._version,
                status=self._status,
                reason=self._reason,
                headers=self._headers,
                header_offsets=self._header_offsets,
                notes=self._notes,
                value_offsets=self._value_offsets,
            )
            return False
        return self._field_line(line, start)

    def _earlier_fault(self, start: int, nl: int) -> bool:
        """Whether the line ending in a bare LF at ``nl`` has an offending byte before it.

        The finding is the first offending byte in stream order, whatever the
        read boundaries: a reply that is not HTTP at all (an HTML page) is
        malformed at its first byte, not at its first line end.
        """
        phase = self._phase
        line = bytes(self._buf[start:nl])
        ok = (
            self._status_line(line, start)
            if phase is _Phase.STATUS_LINE
            else self._field_line(line, start)
        )
        if not ok:
            return True
        self._phase = phase  # the line was fine but for its end: fail as the line it was
        if phase is _Phase.HEADERS and line[0] not in b" \t":
            self._headers.pop()
            self._header_offsets.pop()
            self._value_offsets.pop()
        return False

    def _status_line(self, line: bytes, start: int) -> bool:
        self._check_partial_line(start)
        if self.finding is not None:
            return False
        m = _STATUS_LINE.fullmatch(line)
        if m is None:
            bad = _first_mismatch_status(line)
            self._fail(
                start + bad,
                (line + b"\r")[bad : bad + 1],
                'a status line: HTTP-version SP 3DIGIT SP reason-phrase CRLF, e.g. b"HTTP/1.1 200 OK\\r\\n"',
                "malformed status line",
                # RFC 9112 §4: exactly one SP after the version
                "picohttpparser (it accepts runs of spaces between the tokens); "
                "h11, llhttp and Go reject it"
                if bad == 9 and line[8:10] == b"  "
                else None,
            )
            return False
        major, minor, status, reason = m.groups()
        if major != b"1":
            self._fail(
                start + 5,
                line[5:6],
                "HTTP/1.x",
                f"unsupported HTTP version {line[:8].decode('latin-1')!r}",
            )
            return False
        self._version = f"{major.decode()}.{minor.decode()}"
        self._status = int(status)
        self._reason = (reason or b"").decode("latin-1")
        if reason is None:
            self._notes.append(
                (self.base + start, "status line without a reason phrase (accepted)")
            )
        if not 100 <= self._status <= 599:
            # RFC 9110 §15: valid codes are 100..599; a client that receives
            # another SHOULD process the response as a 5xx, so the framing holds.
            self._notes.append(
                (
                    self.base + start + 9,
                    f"status code {self._status:03d} is outside 100-599 (invalid, RFC 9110 §15): "
                    "a client treats it as a 5xx; h11, llhttp and Go take any three digits",
                )
            )
        self._phase = _Phase.HEADERS
        return True

    def _field_line(self, line: bytes, start: int) -> bool:
        if line[0] in b" \t":
            # RFC 9112 §5.2: a user agent that receives obs-fold in a response
            # replaces it with SP.
            if not self._headers:
                self._fail(
                    start,
                    line[:1],
                    "a field name",
                    "whitespace at the start of the first header line",
                )
                return False
            bad = _FIELD_VALUE_BAD.search(line)
            if bad is not None:
                self._fail(
                    start + bad.start(),
                    line[bad.start() : bad.start() + 1],
                    "a field-value byte",
                    "control byte in a header value",
                    _ctl_tolerance(line[bad.start()]),
                )
                return False
            name, value = self._headers[-1]
            self._headers[-1] = (name, (value + " " + line.strip(b" \t").decode("latin-1")).strip())
            self._value_offsets[-1] = -1
            self._notes.append(
                (
                    self.base + start,
                    "obs-fold (line folding) in a response header (accepted, RFC 9112 §5.2)",
                )
            )
            return True
        colon = line.find(b":")
        i = 0
        limit = len(line) if colon < 0 else colon
        while i < limit and line[i] in _TCHAR:
            i += 1
        if colon < 0 or i < colon or colon == 0:
            if (
                colon >= 0
                and i < colon
                and line[i] in b" \t"
                and line[i:colon].strip(b" \t") == b""
            ):
                reason = "whitespace between a header field name and the colon (RFC 9112 §5.1)"
            elif colon == 0:
                reason = "header line with an empty field name"
            elif colon < 0 and i == len(line):
                reason = "header line without a colon"
            else:
                reason = "invalid byte in a header field name"
            self._fail(
                start + i,
                line[i : i + 16] or b"\r\n",
                'a header field: field-name ":" OWS field-value OWS',
                reason,
            )
            return False
        raw_value = line[colon + 1 :]
        bad = _FIELD_VALUE_BAD.search(raw_value)
        if bad is not None:
            at = colon + 1 + bad.start()
            self._fail(
                start + at,
                line[at : at + 1],
                "a field-value byte (VCHAR, SP, HTAB or obs-text)",
                "control byte in a header value",
                _ctl_tolerance(line[at]),
            )
            return False
        self._headers.append(
            (line[:colon].decode("latin-1"), raw_value.strip(b" \t").decode("latin-1"))
        )
        self._header_offsets.append(self.base + start)
        ows = len(raw_value) - len(raw_value.lstrip(b" \t"))
        self._value_offsets.append(self.base + start + colon + 1 + ows)
        return True


def _first_mismatch_status(line: bytes) -> int:
    """Index of the first byte that makes ``line`` an invalid status line."""
    for i, byte in enumerate(_PREFIX):
        if i >= len(line) or line[i] != byte:
            return i
    pattern = b"D.D DDD"
    for j, want in enumerate(pattern):
        i = 5 + j
        if i >= len(line):
            return i
        got = line[i]
        ok = (0x30 <= got <= 0x39) if want == 0x44 else got == want
        if not ok:
            return i
    if len(line) == 12:
        return 12
    bad = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]").search(line, 13)
    return bad.start() if bad is not None else 12
