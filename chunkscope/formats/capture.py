"""Capture files, format v1: one connection, byte-exact, append-only JSON Lines.

Theory of operation
-------------------
Every record is one line of JSON, written and flushed as soon as it is
known, so a capture cut off at any point (Ctrl-C, a crash, a full disk) is a
valid file up to its last complete line. Bytes travel as JSON strings decoded
as latin-1: each byte 0-255 is one code point, so the text is byte-exact and
still readable for a text protocol. See docs/capture-format.md.

Reading is strict and bounded: every line is read with a length limit, every
field is type-checked, and any problem is a CaptureFileError naming the line.
"""

from __future__ import annotations

import errno
import json
import json.encoder
import math
import os
import re
import stat
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import IO, Any

from ..core.errors import CaptureFileError, CaptureWriteError
from ..core.report import CloseKind
from ..core.speedups import json_escape as _c_json_escape
from .page_cache import PageCacheReleaser, can_release

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "Capture",
    "CaptureWriter",
    "Ended",
    "HeadMasker",
    "Received",
    "Sent",
    "iter_capture",
    "load_capture",
    "redact_request",
    "redact_url",
]

FORMAT_NAME = "chunkscope-capture"
FORMAT_VERSION = 1
MAX_LINE = 64 << 20  # one record line; a read is at most a few MiB in practice
# The most data bytes one send/recv record carries: escaped (up to 6 bytes a
# byte, \u00XX) it stays under MAX_LINE, so whatever is written can be read.
MAX_RECORD_DATA = 8 << 20
MAX_LOAD_BYTES = 1 << 30  # received bytes load_capture holds in memory
RELEASE_WINDOW = 4 << 20  # bytes written between hand-backs of page cache (see _page_cache)
ESCAPE_PIECE = 64 << 10  # a large read is escaped this many bytes at a time (see received)
ESCAPE_SAMPLE = 4096  # bytes of a piece that choose its escaper (see json_string_body)
ESCAPE_DENSITY = 10  # more than one quote or backslash in this many bytes: CPython's escaper

# Header names whose values are credentials, compared lower-case with '_'
# as '-' (``Api_Key`` and ``X-API_KEY`` are ``api-key`` and ``x-api-key``).
_CREDENTIAL_NAMES = frozenset(
    {
        b"authorization",
        b"authentication",
        b"proxy-authorization",
        b"cookie",
        b"set-cookie",
        b"set-cookie2",
        b"x-api-key",
        b"api-key",
        b"apikey",
        b"openai-api-key",
        b"x-goog-api-key",
        b"x-auth-token",
        b"x-csrf-token",
    }
)
_CREDENTIAL_PARTS = (b"token", b"secret", b"api-key", b"apikey", b"password", b"session")
_CREDENTIAL_SUFFIXES = (b"-key", b"-token", b"-secret", b"-signature", b"-credential")
NAME_WINDOW = 256  # header-name bytes a HeadMasker keeps; a longer name is masked whatever it is

# URL query (and fragment) parameters whose values are credentials, compared
# lower-case with '-' as '_'; also any name ending in one of the suffixes.
SECRET_PARAMS = frozenset(
    {
        "key",
        "api_key",
        "apikey",
        "access_token",
        "refresh_token",
        "id_token",
        "token",
        "auth",
        "sig",
        "signature",
        "password",
        "passwd",
        "pwd",
        "secret",
        "client_secret",
        "code",
        "session",
        "sessionid",
        "credential",
    }
)
_SECRET_PARAM_SUFFIXES = ("_key", "_token", "_secret", "_signature", "_password", "_credential")


def is_credential_header(name: bytes) -> bool:
    """Whether a header's value is masked in saved files and reports.

    Case- and ``-``/``_``-insensitive: the names in ``_CREDENTIAL_NAMES``, any
    name containing ``token``, ``secret``, ``api-key``, ``apikey``,
    ``password`` or ``session``, and any name ending in ``-key``, ``-token``,
    ``-secret``, ``-signature`` or ``-credential``.
    """
    lname = name.strip().lower().replace(b"_", b"-")
    return (
        lname in _CREDENTIAL_NAMES
        or lname.endswith(_CREDENTIAL_SUFFIXES)
        or any(part in lname for part in _CREDENTIAL_PARTS)
    )


def is_secret_param(name: str) -> bool:
    """Whether a URL query parameter's value is masked (see ``SECRET_PARAMS``)."""
    from urllib.parse import unquote_plus

    lname = unquote_plus(name).strip().lower().replace("-", "_")
    return lname in SECRET_PARAMS or lname.endswith(_SECRET_PARAM_SUFFIXES)


def _mask_pairs(text: str, names: list[str]) -> str:
    """``a=1&key=s3`` -> ``a=1&key=**``: secret parameter values masked one for one."""
    out = []
    for pair in text.split("&"):
        name, sep, value = pair.partition("=")
        if sep and value and is_secret_param(name):
            pair = f"{name}={'*' * len(value)}"
            if f"?{name}" not in names:
                names.append(f"?{name}")
        out.append(pair)
    return "&".join(out)


def redact_url(url: str) -> tuple[str, list[str]]:
    """Mask credentials in a URL or request target, same length; returns what was masked.

    Userinfo (``https://user:pass@host/``) becomes ``https://****:****@host/``
    (reported as ``userinfo``); the values of secret query or fragment
    parameters (``?key=``, ``api_key=``, ``access_token=``, ``sig=`` ... see
    ``SECRET_PARAMS``) become ``*`` one for one (reported as ``?key``).

    Example::

        >>> redact_url("https://u:p@h/x?alt=sse&key=AIza")
        ('https://*:*@h/x?alt=sse&key=****', ['userinfo', '?key'])
    """
    names: list[str] = []
    rest = url
    prefix = ""
    scheme_end = url.find("://")
    if scheme_end >= 0 and "/" not in url[:scheme_end] and "?" not in url[:scheme_end]:
        prefix, rest = url[: scheme_end + 3], url[scheme_end + 3 :]
        stop = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
        authority = rest[:stop]
        at = authority.rfind("@")
        if at >= 0:
            userinfo = "".join(c if c == ":" else "*" for c in authority[:at])
            prefix += userinfo + authority[at:]
            rest = rest[stop:]
            names.append("userinfo")
        else:
            prefix += authority
            rest = rest[stop:]
    path, hash_, fragment = rest.partition("#")
    path, qmark, query = path.partition("?")
    masked = (
        prefix + path + qmark + _mask_pairs(query, names) + hash_ + _mask_pairs(fragment, names)
    )
    return masked, names


@dataclass(frozen=True, slots=True)
class Sent:
    """Bytes chunkscope sent (the request), at ``t`` seconds since the start."""

    t: float
    data: bytes


@dataclass(frozen=True, slots=True)
class Received:
    """One read from the peer, exactly as read, at ``t`` seconds since the start."""

    t: float
    data: bytes


@dataclass(frozen=True, slots=True)
class Ended:
    """How the connection ended."""

    t: float | None
    kind: CloseKind
    detail: str | None = None


@dataclass
class Capture:
    """A whole capture file in memory (see :func:`load_capture`)."""

    path: str
    meta: dict[str, Any]
    sent: list[Sent] = field(default_factory=list)
    reads: list[Received] = field(default_factory=list)
    end: Ended | None = None
    cut_off: bool = False  # the last line was partial, or no end record
    partial_last_line: bool = False  # the file ends mid-record: it was truncated while written

    @property
    def server_bytes(self) -> bytes:
        """Everything received, concatenated."""
        return b"".join(r.data for r in self.reads)

    @property
    def request_bytes(self) -> bytes:
        return b"".join(s.data for s in self.sent)


# -- redaction ---------------------------------------------------------------


class HeadMasker:
    """Masks credentials in message heads as bytes stream through.

    Works read by read without buffering: the value bytes of a credential
    header (see :func:`is_credential_header`) are replaced by ``*`` one for
    one, so offsets stay valid; so are the obs-fold continuation lines of
    such a header (RFC 9112 §5.2), any header whose name is longer than
    ``NAME_WINDOW`` bytes, and, in a request line that arrives in one feed,
    URL userinfo and secret query parameters (see :func:`redact_url`). It
    stops at the blank line that ends the head, or the final head after 1xx
    interim responses; the body is never touched. Masking masked bytes again
    changes nothing.
    """

    _NAME, _VALUE_MASKED, _VALUE_PLAIN, _DONE = range(4)

    def __init__(self) -> None:
        self._state = self._NAME
        self._line = bytearray()  # the first bytes of the current line
        self._line_length = 0  # every byte of the current line, kept or not
        self._lines = 0  # non-empty lines in the current head
        self._first_line = b""
        self._last_masked = False  # the header a continuation line belongs to was masked
        self.masked: list[str] = []

    @property
    def done(self) -> bool:
        return self._state == self._DONE

    def _note(self, name: str) -> None:
        if name.lower() not in (m.lower() for m in self.masked):
            self.masked.append(name)

    def feed(self, data: bytes) -> bytes:
        if self._state == self._DONE or not data:
            return data
        out = bytearray(data)
        line_start = 0 if self._line_length == 0 else -1  # where the current line began in data
        for i, byte in enumerate(data):
            state = self._state
            if byte == 0x0A:  # LF ends every line, whatever the state
                blank = len(self._line) == 0 or self._line == b"\r"
                if blank and self._lines:
                    if not self._interim():
                        self._state = self._DONE
                        return bytes(out)
                    self._lines = 0
                elif not blank:
                    self._lines += 1
                    if self._lines == 1:
                        self._first_line = bytes(self._line)
                        if line_start >= 0:
                            self._mask_request_line(out, line_start, i)
                self._state = self._NAME
                self._line.clear()
                self._line_length = 0
                line_start = i + 1
                continue
            if self._line_length == 0 and byte in (0x20, 0x09) and self._lines > 1:
                # obs-fold: the line continues the previous header's value
                self._state = state = self._VALUE_MASKED if self._last_masked else self._VALUE_PLAIN
            self._line_length += 1
            if len(self._line) < NAME_WINDOW:
                self._line.append(byte)
            if state == self._NAME and byte == 0x3A and self._lines:  # ':' after a field name
                if self._line_length > NAME_WINDOW:
                    masked, text = True, bytes(self._line[:64]).decode("latin-1") + "..."
                else:
                    name = bytes(self._line[:-1])
                    masked, text = is_credential_header(name), name.strip().decode("latin-1")
                self._last_masked = masked
                if masked:
                    self._state = self._VALUE_MASKED
                    self._note(text)
                else:
                    self._state = self._VALUE_PLAIN
            elif state == self._VALUE_MASKED and byte not in (0x0D, 0x20, 0x09):
                out[i] = 0x2A  # '*'
        return bytes(out)

    def _mask_request_line(self, out: bytearray, start: int, end: int) -> None:
        line = bytes(out[start:end])
        if line.startswith(b"HTTP/"):
            return  # a status line: no URL in it
        first, last = line.find(b" "), line.rfind(b" ")
        if first < 0 or last <= first:
            return
        target = line[first + 1 : last].decode("latin-1")
        masked, names = redact_url(target)
        if names:
            out[start + first + 1 : start + last] = masked.encode("latin-1")
            for name in names:
                self._note(name)

    def _interim(self) -> bool:
        """The head just ended was a 1xx interim response: another head follows."""
        first = self._first_line
        return first.startswith(b"HTTP/1.") and first[9:10] == b"1" and first[9:12] != b"101"


def redact_request(data: bytes) -> tuple[bytes, list[str]]:
    """Mask credential header values in a request head, same length; returns the names masked."""
    masker = HeadMasker()
    return masker.feed(data), masker.masked


# -- writing -----------------------------------------------------------------


_escape = json.encoder.encode_basestring_ascii  # what json.dumps uses for a str
_PLAIN = bytes(range(0x20, 0x7F)) + b"\t\n\r"  # bytes JSON writes as themselves or \t \n \r


def _write_joined(fd: int, parts: Sequence[bytes]) -> int:
    return os.write(fd, b"".join(parts))


_writev: Callable[[int, Sequence[bytes]], int] = getattr(os, "writev", _write_joined)
_MAX_PARTS = 512  # buffers per writev(), well under IOV_MAX (1024 on Linux)


def json_string_body(data: bytes) -> bytes:
    """``data`` (as latin-1 text) escaped as json.dumps writes it between the quotes.

    With the C extension built (:mod:`chunkscope.core.speedups`), C escapes
    sixteen bytes at a time in one pass (SSE2, and SSSE3 shuffles for the
    short escapes where the CPU has them): 2-3 GB/s on SSE bodies, 6 to 11
    times either Python way, and 300-350 MB/s on gzip bodies. Without it,
    two ways, both byte-identical to json.dumps: printable ASCII (with CR,
    LF, tab) takes a chain of C-speed ``bytes.replace`` calls, from about
    2 GB/s on bulk data to 700-800 MB/s on SSE's line ends every 10 bytes;
    text where quotes or backslashes are denser than one in 10 bytes (SSE's
    JSON payloads: one every 5-7) costs ``replace`` a copy per match, so it
    and anything non-ASCII go through CPython's JSON escaper, a flat
    250-400 MB/s. A 4 KiB sample decides.
    """
    if _c_json_escape is not None:
        return _c_json_escape(data)
    sample = data[:ESCAPE_SAMPLE]
    if (sample.count(b'"') + sample.count(b"\\")) * ESCAPE_DENSITY <= len(sample) and not (
        data.translate(None, _PLAIN)
    ):
        return (
            data.replace(b"\\", b"\\\\")
            .replace(b'"', b'\\"')
            .replace(b"\n", b"\\n")
            .replace(b"\r", b"\\r")
            .replace(b"\t", b"\\t")
        )
    return _escape(data.decode("latin-1")).encode("ascii")[1:-1]


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class CaptureWriter:
    """Append-only writer of a capture file; every record reaches the OS at once.

    Example::

        with CaptureWriter("run.capture", meta={"target": url}) as w:
            w.sent(0.0, request_bytes)
            w.received(0.012, first_read)
            w.ended(CloseKind.FIN, 1.5)

    With ``redact=True`` (the default) credential header values are masked
    same-length in the request and in the response head. ``path="-"`` writes
    the capture to stdout (``chunkscope capture -o -``).

    ``overwrite=False`` refuses a regular file that exists already (the CLI's
    default; ``--force`` overwrites). A FIFO is opened without blocking: with
    no reader it is refused at once. Any failure to open or write raises
    :class:`~chunkscope.core.errors.CaptureWriteError` naming the file; what
    was written before a write error stays loadable, and nothing more is
    written after it.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        meta: dict[str, Any] | None = None,
        redact: bool = True,
        created: str | None = None,
        overwrite: bool = True,
    ) -> None:
        from .._version import __version__

        self.path = os.fspath(path)
        self.redact = redact
        # Unbuffered: each record is one write() system call, so it is in the
        # OS (and survives a crash of this process) as soon as it returns.
        self._file: IO[bytes] | None
        if self.path == "-":  # curl's `-o -`: the capture goes to stdout (a copy of fd 1)
            self._file = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)
        else:
            self._file = open(_open_output(self.path, overwrite), "wb", buffering=0)  # noqa: SIM115 - closed in close()
        self._broken: str | None = None  # why writing failed; nothing is written after it
        self._written = 0
        fd = self._file.fileno()
        self._releaser = PageCacheReleaser(fd, RELEASE_WINDOW) if can_release(fd) else None
        self._request_masker = HeadMasker() if redact else None
        self._response_masker = HeadMasker() if redact else None
        self._masked: list[str] = []
        self._ended = False
        meta = dict(meta or {})
        if redact and isinstance(meta.get("target"), str):
            meta["target"], self._masked = redact_url(meta["target"])
        self._write(
            {
                "format": FORMAT_NAME,
                "version": FORMAT_VERSION,
                "created": created or _utc_now(),
                "tool": f"chunkscope {__version__}",
            }
        )
        self.meta(redacted=list(self._masked) if redact else None, **meta)

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, record: dict[str, Any]) -> None:
        if self._file is None:
            raise ValueError("capture file is closed")
        line = json.dumps(record, ensure_ascii=True, separators=(",", ":")) + "\n"
        self._emit(line.encode("ascii"))

    def _emit(self, *parts: bytes) -> None:
        """Write one record, given as consecutive parts, with one system call (most often)."""
        assert self._file is not None
        if self._broken is not None:
            raise CaptureWriteError(self.path, self._broken)
        try:
            self._emit_parts(parts)
        except OSError as exc:
            self._broken = _write_failure(exc)
            raise CaptureWriteError(self.path, self._broken) from exc

    def _emit_parts(self, parts: Sequence[bytes]) -> None:
        assert self._file is not None
        fd = self._file.fileno()
        for first in range(0, len(parts), _MAX_PARTS):
            batch = parts[first : first + _MAX_PARTS]
            size = sum(map(len, batch))
            done = _writev(fd, batch)
            if done < size:  # a short write (a signal, a nearly full disk): finish it
                rest = memoryview(b"".join(batch))[done:]
                while rest:
                    rest = rest[os.write(fd, rest) :]
            self._written += size
        if self._releaser is not None:
            self._releaser.written(self._written)

    def meta(self, **fields: Any) -> None:
        """Record connection metadata (merged in order by readers)."""
        self._write({"r": "meta", **fields})

    def sent(self, t: float, data: bytes) -> None:
        if self._request_masker is not None:
            data = self._request_masker.feed(data)
            self._note_masked(self._request_masker.masked)
        for i in range(0, max(len(data), 1), MAX_RECORD_DATA):  # a huge body: several records
            piece = data[i : i + MAX_RECORD_DATA]
            self._write({"r": "send", "t": t, "data": piece.decode("latin-1")})

    def received(self, t: float, data: bytes) -> None:
        masker = self._response_masker
        if masker is not None and not masker.done:
            data = masker.feed(data)
            self._note_masked(masker.masked)
        if self._file is None:
            raise ValueError("capture file is closed")
        if len(data) > MAX_RECORD_DATA:  # more than any read the client makes: split it
            for i in range(0, len(data), MAX_RECORD_DATA):
                self._received(t, data[i : i + MAX_RECORD_DATA])
            return
        self._received(t, data)

    def _received(self, t: float, data: bytes) -> None:
        # The hot path: one writev() per read, the escaped bytes going out as
        # they are, never copied into a line. A large read is escaped in
        # pieces: buffers this small are recycled by the allocator, where
        # one escaped copy of a whole megabyte read is fresh pages each time.
        # (A slice of a whole bytes object is the object itself: no copy. The
        # C escaper reads any buffer, so it gets views of the read, not copies.)
        pieces: bytes | memoryview = data
        escape: Callable[[Any], bytes] = json_string_body
        if _c_json_escape is not None:
            pieces, escape = memoryview(data), _c_json_escape
        escaped = [escape(pieces[i : i + ESCAPE_PIECE]) for i in range(0, len(data), ESCAPE_PIECE)]
        self._emit(b'{"r":"recv","t":%b,"data":"' % repr(t).encode("ascii"), *escaped, b'"}\n')

    def _note_masked(self, names: list[str]) -> None:
        new = [n for n in names if n not in self._masked]
        if new:
            self._masked.extend(new)
            self.meta(redacted=list(self._masked))

    def ended(self, kind: CloseKind | str, t: float | None, detail: str | None = None) -> None:
        """Record how the connection ended (once)."""
        if self._ended:
            return
        self._ended = True
        self._write({"r": "end", "t": t, "close": CloseKind(kind).value, "detail": detail})

    def close(self) -> None:
        if self._file is not None:
            if self._releaser is not None:
                self._releaser.close()  # before the descriptor it works on goes away
            self._file.close()
            self._file = None


def _open_output(path: str, overwrite: bool) -> int:
    """Open a capture file for writing without ever blocking, or say why it cannot be."""
    try:
        st: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise CaptureWriteError(path, f"cannot open it: {exc.strerror or exc}") from None
    regular = st is None or stat.S_ISREG(st.st_mode)
    if st is not None and regular and not overwrite:
        raise CaptureWriteError(path, "the file exists already; use --force to overwrite it")
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
    if regular:
        flags |= os.O_TRUNC if overwrite else os.O_EXCL
    else:
        flags |= getattr(os, "O_NONBLOCK", 0)  # a FIFO with no reader: ENXIO, not a hang
    try:
        fd = _open_waiting_for_reader(path, flags)
    except FileExistsError:
        raise CaptureWriteError(
            path, "the file exists already; use --force to overwrite it"
        ) from None
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise CaptureWriteError(
                path, "is a FIFO with no reader: start the reader first (e.g. `cat FIFO`)"
            ) from None
        raise CaptureWriteError(path, f"cannot open it: {exc.strerror or exc}") from None
    if not regular:
        os.set_blocking(fd, True)
    return fd


FIFO_READER_WAIT = 1.0  # seconds a FIFO's reader may take to open its end


def _open_waiting_for_reader(path: str, flags: int) -> int:
    """``os.open``; a FIFO with no reader yet is tried again for ``FIFO_READER_WAIT`` seconds."""
    import time

    deadline = time.monotonic() + FIFO_READER_WAIT
    while True:
        try:
            return os.open(path, flags, 0o666)
        except OSError as exc:
            if exc.errno != errno.ENXIO or time.monotonic() >= deadline:
                raise
        time.sleep(0.02)


def _write_failure(exc: OSError) -> str:
    if exc.errno == errno.EPIPE:
        why = "the reader of the pipe went away"
    elif exc.errno in (errno.ENOSPC, errno.EDQUOT):
        why = f"{exc.strerror} (the disk is full)"
    else:
        why = exc.strerror or str(exc)
    return f"cannot write the capture file: {why}; the records written before stay loadable"


# -- reading -----------------------------------------------------------------

_RAW_PREFIX = re.compile(rb"\A(HTTP/|GET |POST |PUT |HEAD )")


def _fail(path: str, line: int | None, reason: str) -> CaptureFileError:
    return CaptureFileError(path, line, reason)


def _time(
    path: str, lineno: int, record: dict[str, Any], *, optional: bool = False
) -> float | None:
    t = record.get("t")
    if t is None and optional:
        return None
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t < 0:
        raise _fail(path, lineno, f"'t' must be a finite number >= 0, got {t!r}")
    return float(t)


def _data(path: str, lineno: int, record: dict[str, Any]) -> bytes:
    data = record.get("data")
    if not isinstance(data, str):
        raise _fail(path, lineno, f"'data' must be a string, got {type(data).__name__}")
    try:
        return data.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise _fail(
            path, lineno, f"'data' holds a code point above U+00FF at character {exc.start}"
        ) from None


MAX_META_DEPTH = 16  # nesting of a metadata value; chunkscope writes 3 at most

_Check = Callable[[Any], bool]


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_opt_str(v: Any) -> bool:
    return v is None or isinstance(v, str)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, (str, bool)) or _is_number(v)


def _list_of(check: _Check) -> _Check:
    return lambda v: isinstance(v, list) and all(check(x) for x in v)


def _dict_of(check: _Check) -> _Check:
    return lambda v: isinstance(v, dict) and all(check(x) for x in v.values())


def _fields(spec: dict[str, _Check], *, optional: bool = False) -> _Check:
    def check(v: Any) -> bool:
        if v is None and optional:
            return True
        return isinstance(v, dict) and all(k not in v or c(v[k]) for k, c in spec.items())

    return check


# The types of the metadata keys chunkscope writes and its renderers read
# (docs/capture-format.md); other keys may hold any JSON value, nested at
# most MAX_META_DEPTH deep.
_META_TYPES: dict[str, tuple[_Check, str]] = {
    **{
        key: (_is_opt_str, "a string")
        for key in (
            "target",
            "method",
            "scheme",
            "host",
            "peer",
            "local",
            "t0_wall",
            "connect_to",
            "proxy",
            "proxy_status",
            "created",
            "tool",
        )
    },
    "port": (lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool)), "an integer"),
    "dns": (_list_of(_is_str), "a list of strings"),
    "redacted": (lambda v: v is None or _list_of(_is_str)(v), "a list of strings or null"),
    "synthetic": (lambda v: isinstance(v, bool), "true or false"),
    "timings": (_dict_of(_is_number), "an object of numbers"),
    "largest_gap": (
        lambda v: v is None or _dict_of(lambda x: x is None or _is_number(x))(v),
        "an object of numbers",
    ),
    "h11": (lambda v: v is None or _dict_of(_is_scalar)(v), "an object of strings and numbers"),
    "error": (_fields({"kind": _is_opt_str, "reason": _is_opt_str}), "an object of strings"),
    "tls": (
        _fields(
            {
                "version": _is_opt_str,
                "cipher": _is_opt_str,
                "alpn": _is_opt_str,
                "sni": _is_opt_str,
                "verified": lambda v: v is None or isinstance(v, bool),
                "peer_cert": _fields(
                    {
                        "subject": _is_opt_str,
                        "issuer": _is_opt_str,
                        "not_after": _is_opt_str,
                        "san": _list_of(_is_str),
                    },
                    optional=True,
                ),
            }
        ),
        "an object (version, cipher, alpn, sni: strings; verified: true/false; peer_cert)",
    ),
}


def _depth(value: Any) -> int:
    """How deeply a JSON value nests (iteratively: a hostile file cannot exhaust the stack)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            v = list(v.values())
        if isinstance(v, list):
            deepest = max(deepest, d)
            if d > MAX_META_DEPTH:
                return d
            stack.extend((x, d + 1) for x in v)
    return deepest


def _check_meta(path: str, lineno: int, record: dict[str, Any]) -> None:
    for key, value in record.items():
        known = _META_TYPES.get(key)
        if known is not None and not known[0](value):
            raise _fail(path, lineno, f"metadata {key!r} must be {known[1]}, got {value!r:.80}")
        if _depth(value) > MAX_META_DEPTH:
            raise _fail(path, lineno, f"metadata {key!r} is nested more than {MAX_META_DEPTH} deep")


def iter_capture(
    path: str | os.PathLike[str],
) -> Iterator[dict[str, Any] | Sent | Received | Ended]:
    """Read a capture file record by record in constant memory.

    Yields the header as a dict (``format``, ``version``, ``created``,
    ``tool``), each ``meta`` record as a dict (without ``"r"``), then
    :class:`Sent`, :class:`Received` and :class:`Ended` records in file
    order. A partial last line (a capture cut off mid-write) is ignored.
    Raises :class:`CaptureFileError` with the line number for anything else.
    """
    name = os.fspath(path)
    try:
        f = open(name, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise _fail(name, None, "no such file") from None
    except IsADirectoryError:
        raise _fail(name, None, "is a directory, not a capture file") from None
    except OSError as exc:
        raise _fail(name, None, exc.strerror or str(exc)) from None
    with f:
        yield from _records(name, f)


def _records(path: str, f: IO[bytes]) -> Iterator[dict[str, Any] | Sent | Received | Ended]:
    lineno = 0
    last_recv_t = 0.0
    ended = False
    while True:
        raw = f.readline(MAX_LINE + 1)
        if not raw:
            return
        lineno += 1
        if len(raw) > MAX_LINE:
            raise _fail(path, lineno, f"line longer than {MAX_LINE} bytes: refusing to load it")
        complete = raw.endswith(b"\n")
        try:
            record = json.loads(raw)
        except RecursionError:
            raise _fail(path, lineno, "JSON nested too deeply: refusing to load it") from None
        except (ValueError, UnicodeDecodeError):
            if lineno == 1:
                if _RAW_PREFIX.match(raw):
                    raise _fail(
                        path, 1, "looks like raw server bytes, not a capture file; use --raw"
                    ) from None
                raise _fail(
                    path, 1, "not a chunkscope capture file (the first line is not JSON)"
                ) from None
            if not complete and not f.read(1):
                return  # a capture cut off mid-line: everything before it stands
            raise _fail(path, lineno, "invalid JSON") from None
        if not isinstance(record, dict):
            raise _fail(path, lineno, "a record must be a JSON object")
        if lineno == 1:
            if record.get("format") != FORMAT_NAME:
                raise _fail(path, 1, "not a chunkscope capture file (no 'format' header)")
            version = record.get("version")
            if not isinstance(version, int) or isinstance(version, bool):
                raise _fail(path, 1, "the header has no integer 'version'")
            if version > FORMAT_VERSION:
                raise _fail(
                    path,
                    1,
                    f"capture format version {version} is newer than this chunkscope reads ({FORMAT_VERSION})",
                )
            if version < 1:
                raise _fail(path, 1, f"unknown capture format version {version}")
            _check_meta(path, 1, {k: v for k, v in record.items() if k in ("created", "tool")})
            yield record
            continue
        kind = record.get("r")
        if ended and kind in ("send", "recv", "end"):
            raise _fail(path, lineno, f"a {kind!r} record after the end record")
        if kind == "recv":
            t = _time(path, lineno, record)
            assert t is not None
            if t < last_recv_t:
                raise _fail(path, lineno, f"time goes backwards ({t} after {last_recv_t})")
            last_recv_t = t
            yield Received(t, _data(path, lineno, record))
        elif kind == "send":
            t = _time(path, lineno, record)
            assert t is not None
            yield Sent(t, _data(path, lineno, record))
        elif kind == "meta":
            fields = {k: v for k, v in record.items() if k != "r"}
            _check_meta(path, lineno, fields)
            yield fields
        elif kind == "end":
            t = _time(path, lineno, record, optional=True)
            close = record.get("close")
            try:
                close_kind = CloseKind(close)
            except ValueError:
                raise _fail(path, lineno, f"unknown close kind {close!r}") from None
            detail = record.get("detail")
            if detail is not None and not isinstance(detail, str):
                raise _fail(path, lineno, "'detail' must be a string or null")
            ended = True
            yield Ended(t, close_kind, detail)
        elif not isinstance(kind, str):
            raise _fail(path, lineno, "a record without a string 'r' field")
        # other record types: written by a newer chunkscope; readers skip them


def load_capture(path: str | os.PathLike[str], *, max_bytes: int = MAX_LOAD_BYTES) -> Capture:
    """Read a whole capture file into memory (for replay and tests).

    Refuses, with :class:`CaptureFileError`, files whose received bytes exceed
    ``max_bytes``.
    """
    name = os.fspath(path)
    capture = Capture(path=name, meta={})
    total = 0
    saw_partial = False
    for record in iter_capture(name):
        if isinstance(record, dict):
            capture.meta.update(record)
        elif isinstance(record, Received):
            total += len(record.data)
            if total > max_bytes:
                raise _fail(
                    name, None, f"more than {max_bytes} received bytes: refusing to load it whole"
                )
            capture.reads.append(record)
        elif isinstance(record, Sent):
            capture.sent.append(record)
        else:
            capture.end = record
    with open(name, "rb") as f:
        f.seek(0, os.SEEK_END)
        if f.tell():
            f.seek(-1, os.SEEK_END)
            saw_partial = f.read(1) != b"\n"
    capture.partial_last_line = saw_partial
    capture.cut_off = saw_partial or capture.end is None
    return capture
