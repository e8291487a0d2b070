"""HAR 1.2 export: captures as HTTP Archive entries, with what HAR itself cannot say.

Theory of operation
-------------------
One pass over each capture file feeds the sans-IO analyzer (every chunk
record kept, events queued) and, alongside it, takes the body bytes out of
each read: the chunk data ranges the analyzer reports for a chunked body, the
bytes after the head otherwise. The body is decoded as HAR 1.2 asks for
``response.content.text`` ("decompressed & unchunked", then as text in the
declared charset, or base64 with ``encoding: "base64"`` when it is not text),
and the same de-chunked, decompressed bytes go through a second
:class:`~chunkscope.core.sse.SseDecoder` that keeps every event's whole data
(the analyzer keeps previews only).

HAR as browsers and mitmproxy write it stores only the de-chunked body, and a
response that started and then failed exports with no error. So each entry
also carries underscore fields (HAR 1.2 §"Custom Fields"):

- ``_chunks``: every chunk record ``{index, offset, size, ext, data_offset, t}``
  (stream offsets, seconds since the request) and ``_lastChunk``;
- ``_eventSourceMessages``: every SSE event as Chrome names them
  (``time`` in seconds since the epoch, ``type``, ``data``, ``id``), plus
  ``offset``/``end``/``t``;
- ``_ending``: how the exchange ended, always (verdict, close kind, idle,
  state, offset, chunk, expected, missing bytes, the application axis);
- ``response._error``: a one-line error whenever the response did not end
  cleanly, although a response (and a status) exists.

Credentials stay as the capture has them: masked unless it was made with
``--no-redact``.
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from typing import IO, Any
from urllib.parse import parse_qsl, urlsplit

from .._version import __version__
from ..core.analyzer import Analyzer
from ..core.report import ChunkHeader, CloseKind, Framing, Report, SseEvent, Verdict
from ..core.sse import SseDecoder
from .capture import Ended, Received, Sent, iter_capture

__all__ = ["HAR_VERSION", "capture_entry", "har_document", "write_har"]

HAR_VERSION = "1.2"
MAX_BODY_BYTES = 64 << 20  # body bytes kept for content.text; the rest is counted
_MAX_EVENT_BYTES = 1 << 20  # an SSE event's data kept whole up to this size
MAX_LISTED = 200_000  # chunk records and SSE events listed per entry; the rest are counted
_TEXT_TYPES = ("text/", "application/json", "application/javascript", "application/xml")
_TEXT_SUFFIXES = ("+json", "+xml")


def _iso(ts: float) -> str:
    """An ISO 8601 date with milliseconds and a time zone, as HAR 1.2 requires."""
    moment = datetime.fromtimestamp(ts, timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _wall(meta: dict[str, Any]) -> float | None:
    for key in ("t0_wall", "created"):
        value = meta.get(key)
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return None


def _ms(seconds: float | None) -> float:
    """Seconds as HAR milliseconds (-1: does not apply), rounded to microseconds."""
    return -1 if seconds is None else round(max(seconds, 0.0) * 1000, 3)


def _header(headers: Iterable[Sequence[str]], name: str) -> str | None:
    for n, v in headers:
        if n.lower() == name:
            return v
    return None


def _is_text(mime: str) -> bool:
    mime = mime.split(";", 1)[0].strip().lower()
    return mime.startswith(_TEXT_TYPES) or mime.endswith(_TEXT_SUFFIXES) or mime == ""


def _charset(mime: str) -> str | None:
    for param in mime.split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.lower() == "charset" and value:
            return value.strip('"').strip()
    return None


# -- content codings (RFC 9110 §8.4.1) -----------------------------------------


class _Decoder:
    """Incremental decoder of one content coding; ``None`` when it cannot be decoded here."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self.error: str | None = None
        self._fn: Callable[[bytes], bytes] | None = None
        self._inflate: Any = None
        if coding in ("gzip", "x-gzip"):
            self._inflate = zlib.decompressobj(wbits=31)
        elif coding == "deflate":
            # RFC 9110 §8.4.1.2 says zlib format; some servers send raw deflate.
            self._inflate = None
            self._deflate_first = True
        elif coding == "br":
            self._fn = self._module_decoder("brotli", "Decompressor", "process")
        elif coding == "zstd":
            self._fn = self._module_decoder("zstandard", "ZstdDecompressor", None)
        else:
            self.error = f"content coding {coding!r} is not known"

    def _module_decoder(
        self, module: str, cls: str, method: str | None
    ) -> Callable[[bytes], bytes] | None:
        try:
            mod = importlib.import_module(module)
        except ImportError:
            self.error = f"{self.coding} bodies need the {module!r} package to be decoded"
            return None
        obj = getattr(mod, cls)()
        if method is None:  # zstandard: a streaming decompressobj
            obj = obj.decompressobj()
            method = "decompress"
        fn: Callable[[bytes], bytes] = getattr(obj, method)
        return fn

    def feed(self, data: bytes) -> bytes:
        if self.error is not None:
            return b""
        try:
            if self.coding == "deflate" and self._inflate is None:
                wbits = 15 if data[:1] and (data[0] & 0x0F) == 8 else -15
                self._inflate = zlib.decompressobj(wbits=wbits)
            if self._inflate is not None:
                return bytes(self._inflate.decompress(data))
            assert self._fn is not None
            return bytes(self._fn(data))
        except Exception as exc:  # a corrupt stream: keep what was decoded so far
            self.error = f"{self.coding} stream does not decode: {exc}"
            return b""


# -- one pass over a capture ----------------------------------------------------


class _Exchange:
    """What one capture holds, gathered in one pass: report, request, body, chunks, events."""

    def __init__(self, path: str, terminal_events: Iterable[str], max_body_bytes: int) -> None:
        self.path = path
        self.meta: dict[str, Any] = {}
        self.sent = bytearray()
        self.last_sent_t = 0.0
        self.first_sent_t: float | None = None
        self.body = bytearray()
        self.body_total = 0  # decoded body bytes, including those beyond max_body_bytes
        self.wire_body = 0  # body bytes as received (after de-chunking, before decoding)
        self.max_body = max_body_bytes
        self.chunks: list[ChunkHeader] = []
        self.last_chunk: ChunkHeader | None = None
        self.events: list[SseEvent] = []
        self.chunks_omitted = 0
        self.events_omitted = 0
        self.decoder: _Decoder | None = None
        self.coding_error: str | None = None
        self.end: Ended | None = None
        self.last_t: float | None = None
        self._terminal = tuple(terminal_events)
        self._sse: SseDecoder | None = None
        self._ranges: deque[tuple[int, int]] = deque()  # chunk data [start, end) still to come
        self._plain_from: int | None = None  # non-chunked body: first body offset
        self._plain_left: int | None = None  # Content-Length bytes still owed
        self._started = False
        self.report = self._run()

    def _run(self) -> Report:
        analyzer: Analyzer | None = None
        offset = 0
        for record in iter_capture(self.path):
            if isinstance(record, dict):
                self.meta.update(record)
            elif isinstance(record, Sent):
                if self.first_sent_t is None:
                    self.first_sent_t = record.t
                self.last_sent_t = record.t
                if len(self.sent) < self.max_body:
                    self.sent.extend(record.data[: self.max_body - len(self.sent)])
            elif isinstance(record, Received):
                if analyzer is None:
                    analyzer = self._analyzer()
                analyzer.feed(record.data, record.t)
                self._take(analyzer, record.data, offset, record.t)
                offset += len(record.data)
                self.last_t = record.t
            elif isinstance(record, Ended):
                self.end = record
        if analyzer is None:
            analyzer = self._analyzer()
        if self.end is not None:
            report = analyzer.close(self.end.kind, self.end.t, self.end.detail)
        else:
            report = analyzer.close(
                CloseKind.UNKNOWN,
                self.last_t,
                "the capture file has no end record: the capture was cut off",
            )
        if self._sse is not None:
            self._keep_events()
        report.connection = {
            k: v for k, v in self.meta.items() if k not in ("r", "format", "version")
        } or None
        return report

    def _analyzer(self) -> Analyzer:
        method = self.meta.get("method")
        if not isinstance(method, str) or not method:
            method = bytes(self.sent).split(b" ", 1)[0].decode("latin-1") or "GET"
        return Analyzer(
            request_method=method,
            terminal_events=self._terminal,
            live_events=True,
            max_chunks_kept=None,
        )

    def _start_body(self, analyzer: Analyzer) -> None:
        self._started = True
        head = analyzer.head or {}
        headers = head.get("headers") or []
        assert isinstance(headers, list)
        coding = (_header(headers, "content-encoding") or "").strip().lower()
        codings = [c.strip() for c in coding.split(",") if c.strip() and c.strip() != "identity"]
        if len(codings) == 1:
            decoder = _Decoder(codings[0])
            # One this module cannot decode: the body is kept as received (base64).
            self.decoder, self.coding_error = (
                (None, decoder.error) if decoder.error else (decoder, None)
            )
        elif codings:
            self.coding_error = f"stacked content codings {coding!r} are not decoded"
        ctype = (_header(headers, "content-type") or "").lower()
        if ctype.startswith("text/event-stream") and self.coding_error is None:
            self._sse = SseDecoder(
                terminal_names=self._terminal,
                max_event_bytes=_MAX_EVENT_BYTES,
                preview_chars=_MAX_EVENT_BYTES,
                live_events=True,
            )
        if analyzer.framing is not Framing.CHUNKED:
            self._plain_from = analyzer.body_offset
            if analyzer.framing is Framing.CONTENT_LENGTH:
                length = _header(headers, "content-length") or "0"
                self._plain_left = int(length.split(",")[0].strip() or 0)

    def _take(self, analyzer: Analyzer, data: bytes, base: int, t: float) -> None:
        """The body bytes of this read (``data`` at stream offset ``base``)."""
        for event in analyzer.pop_events():
            if isinstance(event, ChunkHeader):
                if event.size == 0:
                    self.last_chunk = event
                else:
                    if len(self.chunks) < MAX_LISTED:
                        self.chunks.append(event)
                    else:
                        self.chunks_omitted += 1
                    self._ranges.append((event.data_offset, event.data_offset + event.size))
        if not self._started:
            if analyzer.framing is None:
                return
            self._start_body(analyzer)
        end = base + len(data)
        if analyzer.framing is Framing.CHUNKED:
            ranges = self._ranges
            while ranges:
                start, stop = ranges[0]
                if start >= end:
                    break
                lo, hi = max(start, base), min(stop, end)
                if hi > lo:
                    self._body(data[lo - base : hi - base], lo, t)
                if stop <= end:
                    ranges.popleft()
                else:
                    break
        elif self._plain_from is not None and end > self._plain_from:
            lo = max(self._plain_from, base)
            hi = end
            if self._plain_left is not None:
                hi = min(end, lo + self._plain_left)
                self._plain_left -= hi - lo
            if hi > lo:
                self._body(data[lo - base : hi - base], lo, t)
            self._plain_from = hi if self._plain_left != 0 else None

    def _keep_events(self) -> None:
        assert self._sse is not None
        events = self._sse.pop_events()
        room = MAX_LISTED - len(self.events)
        self.events.extend(events[:room] if room < len(events) else events)
        self.events_omitted += max(0, len(events) - max(room, 0))

    def _body(self, piece: bytes, offset: int, t: float) -> None:
        self.wire_body += len(piece)
        if self.decoder is not None:
            piece = self.decoder.feed(piece)
            self.coding_error = self.decoder.error
        self.body_total += len(piece)
        room = self.max_body - len(self.body)
        if room > 0:
            self.body.extend(piece[:room])
        if self._sse is not None and piece:
            self._sse.feed(piece, offset, t)
            self._keep_events()


# -- the entry ----------------------------------------------------------------


def _parse_request(data: bytes) -> tuple[str, str, str, list[list[str]], bytes, int]:
    """method, target, version, headers, body and head size of the request as sent."""
    head, sep, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ") if lines and lines[0] else []
    method = parts[0] if parts else ""
    target = parts[1] if len(parts) > 1 else ""
    version = parts[2] if len(parts) > 2 else "HTTP/1.1"
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon:
            headers.append([name.strip(), value.strip()])
    return method, target, version, headers, body, len(head) + len(sep) if data else -1


def _pairs(headers: Iterable[Sequence[str]]) -> list[dict[str, str]]:
    return [{"name": str(n), "value": str(v)} for n, v in headers]


def _content(ex: _Exchange, mime: str) -> dict[str, Any]:
    body = bytes(ex.body)
    content: dict[str, Any] = {"size": ex.body_total, "mimeType": mime}
    if ex.decoder is not None:
        content["compression"] = ex.wire_body - ex.body_total
    if ex.coding_error is not None:
        # Not (wholly) decoded here: what could be, or the bytes as received, as base64.
        content["_contentEncodingError"] = ex.coding_error
    text: str | None = None
    if _is_text(mime) and ex.coding_error is None:
        charset = _charset(mime) or "utf-8"
        try:
            text = body.decode(charset)
        except (LookupError, UnicodeDecodeError):
            text = None
    if text is not None:
        content["text"] = text
    elif body:
        content["text"] = base64.b64encode(body).decode("ascii")
        content["encoding"] = "base64"
    if ex.body_total > len(body):
        content["comment"] = (
            f"content.text holds the first {len(body)} of {ex.body_total} body bytes"
        )
    return content


def _round(seconds: float | None) -> float | None:
    """Seconds to the microsecond: float noise (0.0040000000000000036) is not a fact."""
    return None if seconds is None else round(seconds, 6)


def _to_dict(value: Any) -> Any:
    """A report attribute as JSON data, whatever shape it has (dataclass, dict, list)."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [_to_dict(v) for v in value]
    return value


def _ending(report: Report) -> dict[str, Any]:
    p = report.problem
    close = report.close
    ending: dict[str, Any] = {
        "verdict": report.verdict.value,
        "close": close.kind.value,
        "closeT": _round(close.t),
        "idle": _round(close.idle),
        "detail": close.detail,
        "state": None if p is None else p.state.value,
        "offset": None if p is None else p.offset,
        "chunk": None if p is None else p.chunk,
        "expected": None if p is None else p.expected,
        "missing": None if p is None or p.missing is None else p.missing.decode("latin-1"),
        "remaining": None if p is None else p.remaining,
        "message": None if p is None else p.message,
        "receivedBytes": report.received_bytes,
        "bodyBytes": report.body_bytes,
        "chunkCount": report.chunk_count,
    }
    sse = report.sse
    if sse is not None:
        ending["application"] = {
            "events": sse.events,
            "terminalSeen": sse.terminal_seen,
            "complete": sse.complete,
            "partialEvent": sse.partial_event,
            # set by provider profiles (apptruth) when present
            "outcome": _to_dict(getattr(sse, "outcome", None)),
            "profile": _to_dict(getattr(sse, "profile", None)),
            "outcomeDetail": _to_dict(getattr(sse, "outcome_detail", None)),
        }
    hints = getattr(report, "hints", None)
    if hints:
        ending["hints"] = _to_dict(list(hints))
    return ending


def _error(report: Report) -> str | None:
    """The one-line error a strict client raised, or None when the response ended cleanly."""
    if report.verdict is Verdict.COMPLETE:
        return None
    p = report.problem
    text = f"{report.verdict.value}: {p.message if p is not None else 'no response'}"
    if p is not None and p.missing is not None and "missing" not in p.message:
        text += f"; missing {p.missing!r}"
    return f"{text} (connection: {report.close.kind.value})"


def capture_entry(
    path: str | os.PathLike[str],
    *,
    terminal_events: Iterable[str] = (),
    max_body_bytes: int = MAX_BODY_BYTES,
) -> dict[str, Any]:
    """One HAR 1.2 ``entry`` for a capture file (see the module docstring for the extras).

    Raises :class:`~chunkscope.CaptureFileError` for a file that is not a valid capture.
    """
    ex = _Exchange(os.fspath(path), terminal_events, max_body_bytes)
    report, meta = ex.report, ex.meta
    timings_meta = meta.get("timings") if isinstance(meta.get("timings"), dict) else {}
    assert isinstance(timings_meta, dict)

    def secs(key: str) -> float | None:
        value = timings_meta.get(key)
        return float(value) if isinstance(value, (int, float)) and value >= 0 else None

    dns, connect, tls = secs("dns"), secs("connect"), secs("tls")
    before = (dns or 0.0) + (connect or 0.0) + (tls or 0.0)
    wall = _wall(meta)
    started = wall if wall is not None else 0.0
    request_t0 = started + before  # wall-clock time of t = 0 in the capture

    method, target, version, req_headers, req_body, req_head_size = _parse_request(bytes(ex.sent))
    url = meta.get("target") if isinstance(meta.get("target"), str) else None
    if not url:
        host = _header(req_headers, "host") or "unknown.invalid"
        scheme = "https" if isinstance(meta.get("tls"), dict) else "http"
        url = f"{scheme}://{host}{target or '/'}"
    request: dict[str, Any] = {
        "method": method or (report.request or {}).get("method") or "GET",
        "url": url,
        "httpVersion": version,
        "cookies": [],
        "headers": _pairs(req_headers),
        "queryString": [
            {"name": k, "value": v}
            for k, v in parse_qsl(urlsplit(url).query, keep_blank_values=True)
        ],
        "headersSize": req_head_size,
        "bodySize": len(req_body),
    }
    if req_body:
        request["postData"] = {
            "mimeType": _header(req_headers, "content-type") or "",
            "params": [],
            "text": req_body.decode("utf-8", "replace"),
        }

    head = report.head or {}
    res_headers = head.get("headers") or []
    mime = _header(res_headers, "content-type") or ""
    if report.status is None:
        response: dict[str, Any] = {
            "status": 0,
            "statusText": "",
            "httpVersion": "",
            "cookies": [],
            "headers": [],
            "content": {"size": 0, "mimeType": ""},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": -1,
        }
    else:
        body_offset = int(head.get("body_offset", 0))
        end_of_message = report.received_bytes - report.extra_bytes
        response = {
            "status": report.status,
            "statusText": str(head.get("reason") or ""),
            "httpVersion": f"HTTP/{head.get('version', '1.1')}",
            "cookies": [],
            "headers": _pairs(res_headers),
            "content": _content(ex, mime),
            "redirectURL": _header(res_headers, "location") or "",
            "headersSize": body_offset,
            "bodySize": max(end_of_message - body_offset, 0),
        }
        trailers = head.get("trailers") or []
        if trailers:
            response["_trailers"] = _pairs(trailers)
    response["_transferSize"] = report.received_bytes
    error = _error(report)
    if error is not None:
        response["_error"] = error

    first_byte = report.timing.get("first_byte")
    end_t = report.close.t if report.close.t is not None else ex.last_t
    send_end = ex.last_sent_t if ex.first_sent_t is not None else 0.0
    wait = None if first_byte is None else first_byte - send_end
    receive = None if first_byte is None or end_t is None else end_t - first_byte
    if first_byte is None and end_t is not None:
        wait = end_t - send_end  # waited for a response that never came
    timings = {
        "blocked": -1,
        "dns": _ms(dns),
        "connect": _ms(None if connect is None else connect + (tls or 0.0)),
        "send": _ms(send_end - (ex.first_sent_t or 0.0)),
        "wait": _ms(wait or 0.0),
        "receive": _ms(receive or 0.0),
        "ssl": _ms(tls),
    }
    total = sum(v for k, v in timings.items() if k != "ssl" and v > 0)
    entry: dict[str, Any] = {
        "startedDateTime": _iso(started),
        "time": round(total, 3),
        "request": request,
        "response": response,
        "cache": {},
        "timings": timings,
    }
    peer = meta.get("peer")
    if isinstance(peer, str) and ":" in peer:
        entry["serverIPAddress"] = peer.rpartition(":")[0].strip("[]")
    local = meta.get("local")
    if isinstance(local, str) and ":" in local:
        entry["connection"] = local.rpartition(":")[2]
    entry["comment"] = f"chunkscope capture {os.path.basename(ex.path)}"
    entry["_chunks"] = [c.to_dict() for c in ex.chunks]
    entry["_lastChunk"] = None if ex.last_chunk is None else ex.last_chunk.to_dict()
    if ex.chunks_omitted:
        entry["_chunksOmitted"] = ex.chunks_omitted
    if report.sse is not None or ex.events:
        entry["_eventSourceMessages"] = [
            {
                "time": round(request_t0 + e.t, 6),
                "type": e.name,
                "data": e.data,
                "id": e.id or "",
                "offset": e.offset,
                "end": e.end,
                "t": e.t,
            }
            for e in ex.events
        ]
    if ex.events_omitted:
        entry["_eventSourceMessagesOmitted"] = ex.events_omitted
    entry["_ending"] = _ending(report)
    return entry


def har_document(entries: list[dict[str, Any]], *, comment: str | None = None) -> dict[str, Any]:
    """The HAR 1.2 ``{"log": ...}`` object for ``entries``, in start order."""
    log: dict[str, Any] = {
        "version": HAR_VERSION,
        "creator": {"name": "chunkscope", "version": __version__},
        "entries": sorted(entries, key=lambda e: str(e["startedDateTime"])),
    }
    if comment:
        log["comment"] = comment
    return {"log": log}


def write_har(
    captures: Sequence[str | os.PathLike[str]],
    out: IO[str],
    *,
    terminal_events: Iterable[str] = (),
    max_body_bytes: int = MAX_BODY_BYTES,
) -> int:
    """Write one HAR 1.2 document with an entry per capture file to ``out``; return the count.

    Example::

        with open("runs.har", "w", encoding="utf-8") as f:
            write_har(["a.capture", "b.capture"], f)
    """
    entries = [
        capture_entry(p, terminal_events=terminal_events, max_body_bytes=max_body_bytes)
        for p in captures
    ]
    document = har_document(
        entries,
        comment="exported by chunkscope from socket-level captures; underscore fields "
        "(_chunks, _eventSourceMessages, _ending, response._error) are chunkscope's",
    )
    json.dump(document, out, indent=1, ensure_ascii=False)
    out.write("\n")
    return len(entries)
