"""The human report: a protocol engineer's diagnosis of one response.

Verdict first, then where (offset, chunk, time, the last bytes with the
position marked), how the connection ended, whether the application stream
(SSE) was complete, what it means, and how common clients report it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..core.meaning import describe_close, describe_response, describe_state, flat_fields
from ..core.report import CloseKind, Framing, Problem, Report, Verdict

__all__ = ["describe_close", "escape_bytes", "hexdump", "render_text"]


def escape_bytes(data: bytes) -> str:
    """Bytes as a readable escaped string: printable ASCII kept, \\r \\n \\t and \\xNN otherwise."""
    return repr(data)[2:-1]


def hexdump(
    data: bytes, offset: int, mark: int | None = None, label: str = "byte", width: int = 16
) -> list[str]:
    """Hex + ASCII lines with absolute offsets; ``mark`` puts carets under that offset."""
    lines = []
    start = offset - offset % width
    for row in range(start, offset + len(data), width):
        cells = []
        text = []
        for col in range(row, row + width):
            if offset <= col < offset + len(data):
                b = data[col - offset]
                cells.append(f"{b:02x}")
                text.append(chr(b) if 0x20 <= b < 0x7F else ".")
            else:
                cells.append("  ")
                text.append(" ")
        lines.append(f"  {row:>10}  {' '.join(cells)}  {''.join(text)}")
        if mark is not None and row <= mark < row + width:
            col = mark - row
            lines.append(" " * (14 + col * 3) + f"^^ {label} {mark}")
        elif mark is not None and mark == row + width and mark >= offset + len(data):
            lines.append(" " * (14 + width * 3 - 1) + f"^ {label} {mark}")
    return lines


def _secs(t: float | None) -> str:
    return "?" if t is None else f"{t:.3f} s"


def _headline(report: Report) -> str:
    v = report.verdict
    p = report.problem
    if v is Verdict.COMPLETE:
        return "COMPLETE: the response arrived whole and correctly framed"
    if v is Verdict.NO_RESPONSE:
        return "NO RESPONSE: the connection ended before any response byte arrived"
    assert p is not None
    where = describe_state(p.state)
    if v is Verdict.TRUNCATED:
        return f"TRUNCATED: the stream ended {where}"
    return f"MALFORMED: {p.message.split(' at byte ')[0].split(': ', 1)[-1]}"


def _axes(report: Report) -> str | None:
    """Both axes of the verdict on one line: the HTTP framing, and the application stream."""
    s, coding = report.sse, report.content_coding
    if s is None and coding is None:
        return None
    v, p = report.verdict, report.problem
    transport = v.value
    if p is not None and v is Verdict.TRUNCATED:
        transport += (
            f" (missing b'{escape_bytes(p.missing)}')" if p.missing else f" ({p.state.value})"
        )
    elif p is not None:
        transport += f" ({p.state.value} at byte {p.offset})"
    elif report.framing is Framing.CLOSE_DELIMITED:
        transport += " (close-delimited: cannot show truncation)"
    coding_problem = (coding or {}).get("problem")
    if s is not None and s.outcome is not None:
        detail = s.outcome_detail or {}
        app = f"{s.outcome} ({s.profile}, {detail.get('summary', '')})"
    elif coding_problem:
        app = f"{coding['coding']} body: {coding_problem['message']}" if coding else ""
    else:
        app = f"{coding['coding']} body decoded whole" if coding else "?"
    return f"  TRANSPORT: {transport} · APPLICATION: {app}"


def _where(report: Report, p: Problem) -> list[str]:
    lines = ["", "Where"]
    lines.append(
        f"  state      {p.state.value}" + ("" if p.chunk is None else f" (chunk #{p.chunk})")
    )
    kind = "end of stream" if report.verdict is Verdict.TRUNCATED else "first offending byte"
    lines.append(f"  offset     {p.offset} ({kind})")
    if p.t is not None:
        idle = "" if p.idle is None else f", {_secs(p.idle)} after the previous byte"
        lines.append(f"  time       {_secs(p.t)} after the request{idle}")
    lines.append(f"  expected   {p.expected}")
    if p.found is not None:
        lines.append(f"  found      b'{escape_bytes(p.found)}'")
    if p.missing is not None:
        lines.append(f"  missing    b'{escape_bytes(p.missing)}'")
    if p.remaining is not None:
        lines.append(f"  remaining  {p.remaining} bytes")
    if p.tolerated_by:
        lines.append(f"  tolerated  by {p.tolerated_by}")
    lines.append(f"  detail     {p.message}")
    ctx = report.context
    if ctx and ctx.get("data"):
        data = str(ctx["data"]).encode("latin-1")
        start = int(ctx["offset"])
        truncated = report.verdict is Verdict.TRUNCATED
        title = "Last bytes received" if truncated else "Bytes around it"
        lines.append("")
        lines.append(f"{title} (offsets {start}-{start + len(data)}):")
        label = "stream ended here, before byte" if truncated else "first offending byte,"
        lines.extend(hexdump(data, start, mark=p.offset, label=label))
        lines.append(f"  b'{escape_bytes(data)}'")
    return lines


def _chunks(report: Report, limit: int) -> list[str]:
    if report.framing is not Framing.CHUNKED or limit == 0:
        return []
    lines = ["", f"Chunks ({report.chunk_count} data chunks)"]
    chunks = report.chunks
    shown: Iterable[int]
    if len(chunks) <= limit:
        shown = range(len(chunks))
    else:
        half = limit // 2
        shown = [*range(half), *range(len(chunks) - (limit - half), len(chunks))]
    previous = -1
    for i in shown:
        if i != previous + 1:
            lines.append(f"  ... {i - previous - 1} more ...")
        c = chunks[i]
        ext = f" ext={escape_bytes(c.ext)!r}" if c.ext else ""
        lines.append(f"  #{c.index:<6} offset {c.offset:>10}  size {c.size:>8}  t={c.t:.3f}{ext}")
        previous = i
    if report.chunks_elided:
        lines.append(f"  ({report.chunks_elided} later chunks were checked but not kept)")
    if report.last_chunk is not None:
        lc = report.last_chunk
        lines.append(f"  last-chunk   offset {lc.offset:>10}  t={lc.t:.3f}")
    return lines


def _close(report: Report) -> list[str]:
    c = report.close
    when = ""
    if c.t is not None:
        when = f" at {_secs(c.t)}" + (
            "" if c.idle is None else f", {_secs(c.idle)} after the last byte"
        )
    if c.kind is CloseKind.UNKNOWN and c.detail:
        # The detail says what happened (chunkscope closed a kept-alive
        # connection, stopped at a malformation, the file was cut off).
        return ["", "How the connection ended", f"  {c.kind.value}{when}: {c.detail}"]
    lines = ["", "How the connection ended", f"  {c.kind.value}{when}: {describe_close(c.kind)}"]
    if c.detail:
        lines.append(f"  detail: {c.detail}")
    return lines


def _sse(report: Report) -> list[str]:
    s = report.sse
    if s is None:
        return []
    lines = ["", "Application stream (text/event-stream)"]
    lines.extend(_outcome(report))
    names = ", ".join(f"{n} x{c}" for n, c in list(s.names.items())[:12])
    if len(s.names) > 12:
        names += ", ..."
    lines.append(f"  {s.events} events" + (f": {names}" if names else ""))
    if s.last_event is not None:
        e = s.last_event
        lines.append(
            f"  last complete event: {e.name!r} data={e.data[:80]!r} at offsets {e.offset}-{e.end}, t={e.t:.3f}"
        )
    if s.terminal_seen and s.terminal_event is not None:
        lines.append(
            f"  terminal event seen: {s.terminal_event.name!r} data={s.terminal_event.data[:40]!r}"
        )
    else:
        lines.append(
            f"  no terminal event seen (looked for: {', '.join(s.terminal_names)}, data [DONE])"
        )
    if s.partial_event is not None:
        pe = s.partial_event
        preview = pe.get("preview") or pe.get("line_preview") or ""
        lines.append(
            f"  PARTIAL EVENT at end of stream: {pe.get('bytes')} bytes from offset {pe.get('offset')}"
            f" (fields {pe.get('fields')}), cut at {str(preview)[:60]!r}"
        )
    for note in s.notes:
        lines.append(f"  note: {note}")
    if report.framing is Framing.CLOSE_DELIMITED:
        lines.append(
            "  close-delimited body (no Content-Length, no chunked): its end cannot be told from a "
            "cut at the HTTP level, so only the application stream can show truncation. HTTP "
            "clients (httpx, requests, aiohttp, curl) end such a body without an error, browsers' "
            "EventSource reconnects; only a client that checks the terminal event notices a cut."
        )
    return lines


def _coding(report: Report) -> list[str]:
    """The content coding line(s): sizes, and why the decoded body is not whole."""
    c = report.content_coding
    if not c:
        return []
    ratio = ""
    if c.get("compressed_bytes"):
        ratio = f" ({c['decoded_bytes'] / c['compressed_bytes']:.1f}x)"
    lines = [
        f"  content coding {c.get('decoded_as') or c['coding']}: {c['compressed_bytes']} body bytes "
        f"received, {c['decoded_bytes']} decoded{ratio}"
        + ("; event offsets count in the decoded stream" if report.sse is not None else "")
    ]
    problem = c.get("problem")
    if problem:
        lines.append(
            f"  CODING {problem['kind'].upper()} at byte {problem['offset']}: {problem['message']}"
        )
    return lines


def _outcome(report: Report) -> list[str]:
    """The application axis: the profile, the outcome and what the provider said."""
    s = report.sse
    lines = _coding(report)
    if s is None or s.outcome is None:
        return lines
    detail = s.outcome_detail or {}
    source = detail.get("detected_from")
    lines.append(
        f"  outcome {s.outcome.upper()} under profile {s.profile}"
        + (f" (from {source})" if source and source != "default" else "")
        + f": {detail.get('summary', '')}"
    )
    if detail.get("reason"):
        lines.append(f"  reason: {detail['reason']}")
    if s.outcome == "cut" and not detail.get("terminal_events") and detail.get("expected"):
        lines.append(f"  terminal events of {s.profile}: {', '.join(detail['expected'])}")
    event = detail.get("event")
    if s.outcome in ("failed", "incomplete") and isinstance(event, dict):
        lines.append(
            f"  {event.get('name')!r} at offsets {event.get('offset')}-{event.get('end')}: "
            f"data={str(event.get('data'))[:200]!r}"
        )
    return lines


def _meaning(report: Report) -> list[str]:
    from ..core.meaning import explain

    out = explain(report)
    if not out:
        return []
    return ["", "What it means", *(f"  {line}" for line in out)]


def _why(report: Report) -> list[str]:
    """Attribution hints (core/hints.py), one paragraph each, code first."""
    hints = report.hints
    if not hints:
        return []
    lines = ["", "Why it likely ended"]
    for hint in hints:
        lines.append(f"  {hint.code}: {hint.message}")
    return lines


def _path(report: Report) -> list[str]:
    """Request ids and UTC times a vendor asks for, and the hops the headers name."""
    ids = report.identifiers
    rows: list[tuple[str, str]] = []
    conn = report.connection or {}
    if conn.get("connect_to"):
        rows.append(("dialled", f"{conn['connect_to']} (--connect-to)"))
    if conn.get("proxy"):
        rows.append(("proxy", str(conn["proxy"])))
    if conn.get("peer"):
        rows.append(("nearest hop", str(conn["peer"])))
    for hint in report.hints:
        if hint.code == "hop-identified":
            rows.append(("hops named", ", ".join(map(str, hint.evidence.get("hops", [])))))
    for name, value in ids.get("request_ids", {}).items():
        rows.append((name, str(value)))
    if ids.get("start_utc"):
        rows.append(("start (UTC)", str(ids["start_utc"])))
    if ids.get("end_utc"):
        rows.append(("end (UTC)", f"{ids['end_utc']} ({_secs(ids.get('duration'))} later)"))
    if not rows:
        return []
    width = max(len(k) for k, _ in rows)
    return ["", "Path and identifiers", *(f"  {k:<{width}}  {v}" for k, v in rows)]


def _ms(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)):
        return "?"
    if seconds >= 1:
        return f"{seconds:.3f} s"
    return f"{seconds * 1000:.2f} ms" if seconds < 0.01 else f"{seconds * 1000:.1f} ms"


def _join(*parts: object) -> str:
    """The truthy parts, as text, joined by commas (a falsy part is a fact not known)."""
    return ", ".join(str(p) for p in parts if p)


def _tls_rows(tls: dict[str, Any], timings: dict[str, Any]) -> list[tuple[str, str]]:
    handshake = "tls" in timings and f"handshake {_ms(timings['tls'])}"
    alpn, sni = tls.get("alpn"), tls.get("sni")
    rows = [
        (
            "tls",
            _join(
                tls.get("version"),
                tls.get("cipher"),
                alpn and f"ALPN {alpn}",
                sni and f"SNI {sni}",
                handshake,
            ),
        )
    ]
    cert = tls.get("peer_cert")
    if isinstance(cert, dict):
        subject, issuer, expiry = cert.get("subject"), cert.get("issuer"), cert.get("not_after")
        rows.append(
            (
                "certificate",
                _join(
                    subject and f"subject {subject}",
                    issuer and f"issuer {issuer}",
                    expiry and f"expires {expiry}",
                ),
            )
        )
    if tls.get("verified") is False:
        rows.append(("verification", "OFF (--insecure): the peer was not authenticated"))
    return rows


def _capture_file_row(conn: dict[str, Any]) -> list[tuple[str, str]]:
    """What a capture file's own metadata says (pops the keys it uses)."""
    created, tool = conn.pop("created", None), conn.pop("tool", None)
    masking = None
    if "redacted" in conn:  # written by CaptureWriter: null means --no-redact
        masked = conn.pop("redacted")
        if masked is None:
            masking = "credentials kept (--no-redact)"
        else:
            masking = f"masked {', '.join(map(str, masked))}" if masked else "nothing to mask"
    synthetic = conn.pop("synthetic", None) and "synthetic fixture"
    if not (created or tool or masking or synthetic):
        return []
    label = "capture file" if created or tool or synthetic else "redaction"  # live: no file
    return [(label, _join(created and f"created {created}", tool, masking, synthetic))]


def _connection(report: Report) -> list[str]:
    """Curated lines for the keys chunkscope writes; any other key is listed as it is."""
    conn = dict(report.connection or {})
    if not conn:
        return []
    timings = conn.pop("timings", None) or {}
    rows: list[tuple[str, str]] = []
    target, method = conn.pop("target", None), conn.pop("method", None)
    for key in ("scheme", "host", "port"):  # all said by the target URL
        conn.pop(key, None)
    if target:
        rows.append(("request", f"{method} {target}" if method else str(target)))
    dns = conn.pop("dns", None)
    if dns:
        took = f" in {_ms(timings['dns'])}" if "dns" in timings else ""
        rows.append(("dns", f"{', '.join(map(str, dns))}{took}"))
    connect_to = conn.pop("connect_to", None)
    if connect_to:
        rows.append(("dialled", f"{connect_to} (--connect-to; Host and SNI from the URL)"))
    proxy, proxy_status = conn.pop("proxy", None), conn.pop("proxy_status", None)
    proxy_mode, proxy_from = conn.pop("proxy_mode", None), conn.pop("proxy_from", None)
    if proxy:
        how = "absolute-form request via" if proxy_mode == "forward" else "CONNECT via"
        origin = f"(from {proxy_from})" if proxy_from and proxy_from != "--proxy" else None
        rows.append(("proxy", _join(f"{how} {proxy}", origin, proxy_status and repr(proxy_status))))
    local, peer = conn.pop("local", None), conn.pop("peer", None)
    if local or peer:
        took = f", connected in {_ms(timings['connect'])}" if "connect" in timings else ""
        rows.append(("tcp", f"{local or '?'} -> {peer or '?'}{took}"))
    tls = conn.pop("tls", None)
    if isinstance(tls, dict):
        rows.extend(_tls_rows(tls, timings))
    # Time to first byte and the largest gap: the Timing section says them.
    if "first_byte" in timings and (report.timing or {}).get("first_byte") is None:
        rows.append(("first byte", f"{_ms(timings['first_byte'])} after the request was sent"))
    conn.pop("largest_gap", None)
    check = conn.pop("h11", None)
    if isinstance(check, dict):
        status, said = check.get("status"), check.get("httpx") or check.get("error")
        rows.append(
            ("h11 (httpx)", _join(check.get("outcome"), status and f"status {status}", said))
        )
    error = conn.pop("error", None)
    if isinstance(error, dict):
        rows.append(("failed", _join(error.get("kind"), error.get("reason"))))
    rows.extend(_capture_file_row(conn))
    started = conn.pop("t0_wall", None)
    if started:
        rows.append(("started", str(started)))

    rows.extend(flat_fields(conn))
    for key, value in timings.items():
        if key not in ("dns", "connect", "tls", "first_byte"):
            rows.append((f"timings.{key}", _ms(value)))
    width = max(len(k) for k, _ in rows) if rows else 0
    return ["", "Connection", *(f"  {k:<{width}}  {v}" for k, v in rows)]


def _timing(report: Report) -> list[str]:
    tm = report.timing or {}
    if tm.get("first_byte") is None or tm.get("last_byte") is None:
        return []
    parts = [
        f"first byte {_secs(tm['first_byte'])}",
        f"last byte {_secs(tm['last_byte'])}",
        f"{tm.get('reads')} reads",
    ]
    gap = tm.get("largest_gap")
    if gap:
        parts.append(f"largest gap {_secs(gap['duration'])} before byte {gap['offset']}")
    if tm["first_byte"] == tm["last_byte"] == 0.0:
        return []
    return ["", "Timing", "  " + ", ".join(parts)]


def _clients(report: Report) -> list[str]:
    try:
        from ..core.client_messages import client_messages
    except ImportError:  # pragma: no cover - the module ships with the package
        return []
    rows = client_messages(report)
    if not rows:
        return []
    width = max(len(c) for c, _ in rows)
    return ["", "How clients report this", *(f"  {c:<{width}}  {m}" for c, m in rows)]


def render_text(report: Report, *, chunks: int = 0) -> str:
    """The human report for ``report``; ``chunks`` > 0 also lists up to that many chunk records."""
    lines = [f"chunkscope: {_headline(report)}"]
    axes = _axes(report)
    if axes is not None:
        lines.append(axes)
    lines.append(f"  {describe_response(report)}")
    if report.problem is not None:
        lines.extend(_where(report, report.problem))
    lines.extend(_chunks(report, chunks))
    lines.extend(_close(report))
    lines.extend(
        _sse(report)
        or (["", "Body content coding", *_coding(report)] if report.content_coding else [])
    )
    lines.extend(_meaning(report))
    lines.extend(_why(report))
    lines.extend(_timing(report))
    lines.extend(_connection(report))
    lines.extend(_path(report))
    if report.notes:
        lines.append("")
        lines.append("Notes")
        lines.extend(f"  byte {n.offset}: {n.message}" for n in report.notes)
    lines.extend(_clients(report))
    return "\n".join(lines) + "\n"
