"""The HTML report: one self-contained page that shows where and how a stream ended.

One file, no script, no font, no request of any kind (its Content-Security-
Policy forbids them all but inline styles and data: images), so it opens
offline in any browser, can be mailed or attached to a ticket, and prints.

From top to bottom: the verdict on both axes (HTTP framing and the
application stream) and the hints; an inline SVG timeline (reads as ticks,
chunk boundaries, SSE events by name, the long silences labelled, the last
byte, the cut and the close with its kind and idle time); the bytes around
the problem as annotated hex with the position marked; the chunk and event
lists (first and last records, more in a <details>); the response head, the
request, the connection and TLS facts; how common clients report it.

Nothing is told by colour alone: every event name has its own row, label and
shape, byte roles in the hex view have their own underline, markers carry
text. A stream of any length draws a bounded number of elements (see
:mod:`chunkscope.formats.timeline`: bins beyond 2000 items of a kind).
"""

from __future__ import annotations

import bisect
import html
import math
import os
from collections.abc import Iterable, Sequence
from typing import Any

from .._version import __version__
from ..core.meaning import describe_close, describe_response, describe_state, flat_fields
from ..core.report import ChunkHeader, CloseKind, Framing, Report, Verdict
from .output_file import output_file
from .timeline import EventMark, Timeline, collect_timeline

__all__ = ["render_html", "write_html_report"]

SHOWN_EDGE = 10  # chunk and event rows shown at each end; more are behind <details>
DETAILS_EDGE = 200  # rows at each end behind <details>
GAP_THRESHOLD = 0.1  # seconds: silences at least this long are labelled

# Okabe-Ito, a palette told apart with every common colour vision deficiency;
# the shapes and row labels carry the same information for print and no colour.
_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#8C7A00", "#000000")
_OTHER_COLOUR = "#777777"
_SHAPES = ("circle", "square", "triangle", "diamond", "down", "plus", "cross", "hexagon")
_OTHER_SHAPE = "bar"

_CSS = """
:root { --fg:#1b1b1b; --muted:#5b5b5b; --line:#c8c8c8; --bad:#b00020; --good:#0a6b2e; --warn:#8a5a00; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
  color: var(--fg); margin: 0 auto; padding: 16px 24px 48px; max-width: 1200px; background: #fff; }
h1 { font-size: 20px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 2px; }
code, pre, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12.5px; }
.summary { color: var(--muted); margin: 0 0 12px; }
.axes { display: grid; grid-template-columns: repeat(auto-fit, minmax(260px, 1fr)); gap: 10px; }
.axis { border: 2px solid var(--line); border-radius: 6px; padding: 8px 12px; }
.axis h3 { margin: 0; font-size: 12px; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); }
.axis .word { font-size: 18px; font-weight: 700; }
.axis.bad { border-color: var(--bad); border-style: dashed; } .axis.bad .word { color: var(--bad); }
.axis.good { border-color: var(--good); } .axis.good .word { color: var(--good); }
.axis.warn { border-color: var(--warn); border-style: dotted; } .axis.warn .word { color: var(--warn); }
.hints { margin: 12px 0 0; padding-left: 20px; } .hints li { margin: 4px 0; }
.hints .code { font-weight: 600; } .hints .evidence { color: var(--muted); }
table { border-collapse: collapse; margin: 4px 0; }
td, th { text-align: left; vertical-align: top; padding: 2px 10px 2px 0; }
th { font-weight: 600; color: var(--muted); white-space: nowrap; }
table.list td, table.list th { border-bottom: 1px solid #eee; padding: 2px 12px 2px 2px; }
table.list td.data { max-width: 560px; overflow-wrap: anywhere; }
table.list td.num { text-align: right; font-variant-numeric: tabular-nums; }
.timeline svg { width: 100%; height: auto; border: 1px solid var(--line); background: #fff; }
.timeline .note { color: var(--muted); font-size: 12px; }
.hex { border-collapse: collapse; }
.hex td { padding: 0 2px; font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12.5px; }
.hex td.off { color: var(--muted); padding-right: 10px; text-align: right; }
.hex td.ascii { padding-left: 12px; white-space: pre; }
.hex .r-head { background: #eef3fb; font-style: italic; }
.hex .r-size { background: #fff3d6; text-decoration: underline double; }
.hex .r-data { background: #edf7ef; }
.hex .r-crlf { background: #f4e6f0; text-decoration: underline dotted; }
.hex .r-last { background: #ffe1cc; text-decoration: underline double; font-weight: 700; }
.hex .r-trailer { background: #e8e8e8; text-decoration: underline dashed; }
.hex .r-body { background: #f3f3f3; }
.hex .r-extra { background: #ddd; text-decoration: line-through; }
.hex .mark { outline: 2px solid var(--bad); outline-offset: -1px; font-weight: 700; }
.hex .caret td { color: var(--bad); font-weight: 700; }
.legend span { display: inline-block; margin-right: 12px; padding: 0 4px; }
pre.escaped { white-space: pre-wrap; word-break: break-all; background: #fafafa; border: 1px solid #eee; padding: 6px; }
pre.escaped mark { background: none; color: var(--bad); font-weight: 700; }
details { margin: 6px 0; } summary { cursor: pointer; color: #0b4f8a; }
.muted { color: var(--muted); }
footer { margin-top: 32px; color: var(--muted); font-size: 12px; }
@media print {
  body { padding: 0; max-width: none; font-size: 11px; }
  h2 { break-after: avoid; } section, table, svg { break-inside: avoid; }
  details > summary { color: var(--fg); }
  .axis { border-width: 1px; }
}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _secs(t: float | None) -> str:
    if t is None:
        return "?"
    if abs(t) < 1:
        return f"{t * 1000:.1f} ms" if abs(t) >= 0.001 else f"{t * 1000:.3f} ms"
    return f"{t:.3f} s"


def _esc_bytes(data: bytes) -> str:
    return repr(data)[2:-1]


def _to_data(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "value") and not isinstance(value, (dict, list, str)):
        return value.value
    return value


# -- the top: verdict on both axes, hints --------------------------------------


def _transport_axis(report: Report) -> tuple[str, str, str]:
    """(css class, word, sentence) for the HTTP framing axis."""
    v, p = report.verdict, report.problem
    if v is Verdict.COMPLETE:
        return "good", "✓ COMPLETE", "the response arrived whole and correctly framed"
    if v is Verdict.NO_RESPONSE:
        return "bad", "∅ NO RESPONSE", "the connection ended before any response byte arrived"
    assert p is not None
    if v is Verdict.TRUNCATED:
        missing = f"; missing <code>b'{_e(_esc_bytes(p.missing))}'</code>" if p.missing else ""
        return (
            "bad",
            "✂ TRUNCATED",
            f"the stream ended {_e(describe_state(p.state))}, at byte {p.offset}{missing}",
        )
    return "bad", "✕ MALFORMED", _e(p.message)


def _application_axis(report: Report) -> tuple[str, str, str] | None:
    """(css class, word, sentence) for the application axis, from the SSE summary."""
    sse = report.sse
    if sse is None:
        return None
    outcome = _to_data(getattr(sse, "outcome", None))
    profile = _to_data(getattr(sse, "profile", None))
    prof = f" (profile {_e(profile)})" if isinstance(profile, str) and profile else ""
    if outcome and str(outcome).lower() != "unknown":  # unknown: say what the events show
        detail = _to_data(getattr(sse, "outcome_detail", None))
        if isinstance(outcome, dict):
            detail, outcome = outcome, outcome.get("outcome") or outcome.get("value") or ""
        said = ""
        if isinstance(detail, dict):
            said = str(detail.get("summary") or detail.get("message") or "")
            if detail.get("reason"):
                said += f" (reason: {detail['reason']})"
        word = str(outcome)
        good = word.lower() in ("complete", "completed")
        return (
            "good" if good else "bad",
            ("✓ " if good else "✕ ") + _e(word.upper()),
            (_e(said) or "application outcome") + prof,
        )
    if sse.complete:
        term = sse.terminal_event
        what = f"'{_e(term.name)}' data={_e(term.data[:40])!s}" if term else "seen"
        return (
            "good",
            "✓ COMPLETE",
            f"every event arrived, including the terminal one ({what}){prof}",
        )
    if sse.partial_event is not None:
        pe = sse.partial_event
        return (
            "bad",
            "✂ CUT MID-EVENT",
            f"the stream stopped inside an event ({_e(pe.get('bytes'))} bytes from offset "
            f"{_e(pe.get('offset'))}): data was lost{prof}",
        )
    return (
        "warn",
        "? NO TERMINAL EVENT",
        f"{sse.events} events arrived, but none of the terminal ones "
        f"({_e(', '.join(sse.terminal_names))}, data [DONE]){prof}",
    )


def _hints(report: Report) -> str:
    hints = getattr(report, "hints", None)
    if not hints:
        return ""
    items = []
    for hint in hints:
        data = _to_data(hint)
        if isinstance(data, dict):
            code, message, evidence = data.get("code"), data.get("message"), data.get("evidence")
        else:
            code, message, evidence = None, data, None
        ev = ""
        if evidence:
            if isinstance(evidence, (list, tuple)):
                evidence = "; ".join(map(str, evidence))
            elif isinstance(evidence, dict):
                evidence = "; ".join(f"{k}: {v}" for k, v in evidence.items())
            ev = f' <span class="evidence">— {_e(evidence)}</span>'
        code_html = f'<span class="code">{_e(code)}</span>: ' if code else ""
        items.append(f"<li>{code_html}{_e(message)}{ev}</li>")
    return f'<h2 id="hints-title">Why it likely ended</h2><ul class="hints" id="hints">{"".join(items)}</ul>'


def _top(report: Report, source: str | None) -> str:
    cls, word, sentence = _transport_axis(report)
    close = report.close
    idle = "" if close.idle is None else f", {_secs(close.idle)} after the last byte"
    parts = [
        f'<div class="axis {cls}" id="axis-transport"><h3>HTTP framing</h3>'
        f'<div class="word">{word}</div><div>{sentence}</div></div>'
    ]
    app = _application_axis(report)
    if app is not None:
        acls, aword, asentence = app
        parts.append(
            f'<div class="axis {acls}" id="axis-application"><h3>Application stream (SSE)</h3>'
            f'<div class="word">{aword}</div><div>{asentence}</div></div>'
        )
    clean = close.kind in (CloseKind.FIN, CloseKind.TLS_CLOSE_NOTIFY)
    parts.append(
        f'<div class="axis {"good" if clean else "warn"}" id="axis-close"><h3>Connection</h3>'
        f'<div class="word">{"▮" if clean else "⚡"} {_e(close.kind.value)}</div>'
        f"<div>{_e(describe_close(close.kind))}{_e(idle)}</div></div>"
    )
    title = (source and f" — {os.path.basename(source)}") or ""
    return (
        f"<header><h1>chunkscope: {_e(report.verdict.value.upper())}{_e(title)}</h1>"
        f'<p class="summary">{_e(describe_response(report))}</p>'
        f'<div class="axes">{"".join(parts)}</div>{_hints(report)}</header>'
    )


# -- the timeline --------------------------------------------------------------


_W = 1000
_LEFT = 190
_RIGHT = 24
_PLOT = _W - _LEFT - _RIGHT


def _shape(kind: str, x: float, y: float, r: float, colour: str, extra: str = "") -> str:
    """One marker shape; the shape (not only the colour) names the event row."""
    x, y = round(x, 1), round(y, 1)
    a = f'fill="{colour}" stroke="#000" stroke-width="0.6"{extra}'
    if kind == "circle":
        return f'<circle cx="{x}" cy="{y}" r="{r}" {a}/>'
    if kind == "square":
        return f'<rect x="{x - r}" y="{y - r}" width="{2 * r}" height="{2 * r}" {a}/>'
    if kind == "triangle":
        return f'<path d="M{x} {y - r}L{x + r} {y + r}L{x - r} {y + r}Z" {a}/>'
    if kind == "down":
        return f'<path d="M{x - r} {y - r}L{x + r} {y - r}L{x} {y + r}Z" {a}/>'
    if kind == "diamond":
        return f'<path d="M{x} {y - r}L{x + r} {y}L{x} {y + r}L{x - r} {y}Z" {a}/>'
    if kind == "plus":
        w = r / 2.5
        return (
            f'<path d="M{x - w} {y - r}h{2 * w}v{r - w}h{r - w}v{2 * w}h{w - r}v{r - w}'
            f'h{-2 * w}v{w - r}h{w - r}v{-2 * w}h{r - w}Z" {a}/>'
        )
    if kind == "cross":
        return (
            f'<path d="M{x - r} {y - r}L{x + r} {y + r}M{x + r} {y - r}L{x - r} {y + r}" '
            f'stroke="{colour}" stroke-width="2.4" fill="none"{extra}/>'
        )
    if kind == "hexagon":
        pts = " ".join(
            f"{x + r * math.cos(math.pi / 3 * k):.1f},{y + r * math.sin(math.pi / 3 * k):.1f}"
            for k in range(6)
        )
        return f'<polygon points="{pts}" {a}/>'
    return f'<rect x="{x - r / 3}" y="{y - r}" width="{2 * r / 3}" height="{2 * r}" {a}/>'


def _nice_step(span: float, target: int = 8) -> float:
    raw = span / target
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for m in (1, 2, 5, 10):
        if m * mag >= raw:
            return float(m * mag)
    return float(10 * mag)


def _axis_label(x: float, step: float, axis: str) -> str:
    if axis == "offset":
        for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
            if step >= size / 4 and x:
                return f"{x / size:g} {unit}"
        return f"{int(x)}"
    if step < 0.01:
        return f"{x * 1000:.0f} ms"
    digits = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    return f"{x:.{digits}f} s"


class _Svg:
    def __init__(self, span: float) -> None:
        self.span = span if span > 0 else 1.0
        self.parts: list[str] = []

    def x(self, value: float) -> float:
        return round(_LEFT + max(0.0, min(value, self.span)) / self.span * _PLOT, 2)

    def add(self, text: str) -> None:
        self.parts.append(text)

    def label(self, x: float, y: float, text: str, cls: str = "", ident: str = "") -> None:
        anchor = "end" if x > _LEFT + _PLOT * 0.6 else "start"
        dx = -4 if anchor == "end" else 4
        idattr = f' id="{ident}"' if ident else ""
        self.add(
            f'<text{idattr} class="{cls}" x="{round(x + dx, 1)}" y="{y}" text-anchor="{anchor}">'
            f"{_e(text)}</text>"
        )


def _log_height(value: int, top: int, full: float) -> float:
    if value <= 0 or top <= 0:
        return 0.0
    return max(2.0, full * math.log1p(value) / math.log1p(top))


def _timeline_svg(report: Report, tl: Timeline, gap_threshold: float) -> tuple[str, list[str]]:
    """The SVG and notes on how it was drawn."""
    notes: list[str] = []
    time_axis = tl.axis == "time"
    close = report.close
    last_byte = report.timing.get("last_byte") if time_axis else float(report.received_bytes)
    span = max(tl.x_max, (close.t or 0.0) if time_axis else 0.0, last_byte or 0.0)
    span = span * 1.02 if span > 0 else 1.0
    svg = _Svg(span)
    rows = tl.names
    y_reads, reads_h = 44, 42
    y_chunks, chunks_h = y_reads + reads_h + 10, 18
    y_events = y_chunks + chunks_h + 12
    row_h = 20
    y_axis = y_events + max(len(rows), 1) * row_h + 6
    height = y_axis + 46
    bw = tl.bin_width

    # lanes and their labels
    svg.add('<g class="lanes" font-size="11" fill="#333">')
    svg.add(f'<text x="8" y="{y_reads + reads_h - 14}">reads</text>')
    svg.add(
        f'<text x="8" y="{y_reads + reads_h - 2}" fill="#666">{tl.total_reads} (height: bytes)</text>'
    )
    svg.add(f'<text x="8" y="{y_chunks + chunks_h - 4}">chunks ({tl.total_chunks})</text>')
    for i, name in enumerate(rows):
        y = y_events + i * row_h
        colour, shape = _row_style(i, name)
        svg.add(_shape(shape, 14, y + row_h / 2, 5, colour))
        term = " (terminal)" if name in tl.terminal_names else ""
        # the end of a dotted name tells rows apart: thread.run.step.delta -> …run.step.delta
        shown = name
        if len(name) > 22:
            tail = name[-21:]
            shown = "…" + (tail[tail.index(".") + 1 :] if "." in tail[:-1] else tail)
        svg.add(
            f'<text x="24" y="{y + row_h / 2 + 4}"><title>{_e(name)}: {tl.name_totals.get(name, 0)} events'
            f"{' (terminal)' if term else ''}</title>{_e(shown)} ×{tl.name_totals.get(name, 0)}{term}</text>"
        )
        svg.add(
            f'<line x1="{_LEFT}" x2="{_LEFT + _PLOT}" y1="{y + row_h}" y2="{y + row_h}" stroke="#eee"/>'
        )
    if not rows:
        svg.add(f'<text x="8" y="{y_events + 14}" fill="#666">no SSE events</text>')
    svg.add("</g>")
    svg.add(
        f'<rect x="{_LEFT}" y="{y_reads - 4}" width="{_PLOT}" height="{y_axis - y_reads + 4}" '
        'fill="none" stroke="#ddd"/>'
    )

    # reads
    base = y_reads + reads_h
    svg.add('<g class="reads" stroke="#333" stroke-width="1">')
    if tl.reads is not None:
        top = max((s for _, _, s in tl.reads), default=1)
        for i, (x, off, size) in enumerate(tl.reads):
            h = _log_height(size, top, reads_h - 6)
            svg.add(
                f'<line x1="{svg.x(x)}" x2="{svg.x(x)}" y1="{base}" y2="{round(base - h, 1)}">'
                f"<title>read #{i}: {size} bytes at offset {off}, {_where(x, time_axis)}</title></line>"
            )
    else:
        notes.append(f"{tl.total_reads} reads drawn in bins of {_span_text(bw, time_axis)}")
        top = max(tl.read_bytes, default=1)
        for i, count in enumerate(tl.read_count):
            if count:
                x0, x1 = svg.x(i * bw), svg.x((i + 1) * bw)
                h = _log_height(tl.read_bytes[i], top, reads_h - 6)
                svg.add(
                    f'<rect x="{x0}" y="{round(base - h, 1)}" width="{max(round(x1 - x0, 2), 0.8)}" '
                    f'height="{round(h, 1)}" fill="#555" stroke="none"><title>{count} reads, '
                    f"{tl.read_bytes[i]} bytes, {_where(i * bw, time_axis)}–{_where((i + 1) * bw, time_axis)}"
                    "</title></rect>"
                )
    svg.add("</g>")

    # chunk boundaries
    cbase = y_chunks + chunks_h
    svg.add('<g class="chunks" stroke="#0b4f8a" stroke-width="1">')
    if tl.chunks is not None:
        for x, off, size in tl.chunks:
            svg.add(
                f'<line x1="{svg.x(x)}" x2="{svg.x(x)}" y1="{cbase}" y2="{y_chunks}">'
                f"<title>chunk at offset {off}, size {size}, {_where(x, time_axis)}</title></line>"
            )
    else:
        notes.append(
            f"{tl.total_chunks} chunk boundaries drawn in bins of {_span_text(bw, time_axis)}"
        )
        top = max(tl.chunk_count, default=1)
        for i, count in enumerate(tl.chunk_count):
            if count:
                x0, x1 = svg.x(i * bw), svg.x((i + 1) * bw)
                h = _log_height(count, top, chunks_h)
                svg.add(
                    f'<rect x="{x0}" y="{round(cbase - h, 1)}" width="{max(round(x1 - x0, 2), 0.8)}" '
                    f'height="{round(h, 1)}" fill="#0b4f8a" stroke="none"><title>{count} chunks, '
                    f"{_where(i * bw, time_axis)}–{_where((i + 1) * bw, time_axis)}</title></rect>"
                )
    if report.last_chunk is not None:
        lc = report.last_chunk
        lx = svg.x(lc.t if time_axis else float(lc.offset))
        svg.add(
            f'<g id="last-chunk-marker"><path d="M{lx} {y_chunks - 2}l5 -6h-10z" fill="#0a6b2e"/>'
            f"<title>last-chunk at offset {lc.offset}</title></g>"
        )
    svg.add("</g>")

    # SSE events
    row_of = {name: i for i, name in enumerate(rows)}
    svg.add('<g class="events">')
    if tl.events is not None:
        for ev in tl.events:
            i = row_of.get(ev.name, len(rows) - 1)
            colour, shape = _row_style(i, ev.name)
            ey = y_events + i * row_h + row_h / 2
            r = 6.5 if ev.terminal else 4.5
            stroke = ' stroke-width="1.6"' if ev.terminal else ""
            svg.add(
                f"<g>{_shape(shape, svg.x(ev.x), ey, r, colour, stroke)}<title>event #{ev.index} "
                f"{_e(ev.name)} at offset {ev.offset}, {_where(ev.x, time_axis)}</title></g>"
            )
            if ev.terminal:
                svg.label(svg.x(ev.x), ey - 7, f"terminal: {ev.name}", "small")
    else:
        notes.append(f"{tl.total_events} SSE events drawn in bins of {_span_text(bw, time_axis)}")
        for name, counts in tl.event_count.items():
            i = row_of[name]
            colour, _ = _row_style(i, name)
            top = max(counts, default=1)
            y = y_events + i * row_h
            for b, count in enumerate(counts):
                if count:
                    x0, x1 = svg.x(b * bw), svg.x((b + 1) * bw)
                    h = _log_height(count, top, row_h - 4)
                    svg.add(
                        f'<rect x="{x0}" y="{round(y + row_h - 2 - h, 1)}" width="{max(round(x1 - x0, 2), 0.8)}" '
                        f'height="{round(h, 1)}" fill="{colour}"><title>{count} × {_e(name)}, '
                        f"{_where(b * bw, time_axis)}–{_where((b + 1) * bw, time_axis)}</title></rect>"
                    )
    svg.add("</g>")

    # long silences
    if time_axis:
        svg.add('<g class="gaps" font-size="10" fill="#8a5a00">')
        for gap in tl.gaps:
            if gap.duration < gap_threshold:
                continue
            x0, x1 = svg.x(gap.start), svg.x(gap.end)
            y = y_reads + 2
            svg.add(
                f'<path d="M{x0} {y + 4}v-4H{x1}v4" fill="none" stroke="#8a5a00" stroke-width="1.2"/>'
            )
            text = ("first byte after " if gap.first_byte else "gap ") + _secs(gap.duration)
            svg.add(
                f'<text class="gap-label" x="{round((x0 + x1) / 2, 1)}" y="{y + 14}" text-anchor="middle">'
                f"{_e(text)}<title>no byte from {_secs(gap.start)} to {_secs(gap.end)} "
                f"(then byte {gap.offset})</title></text>"
            )
        svg.add("</g>")

    # markers: head, last byte, the problem, the close
    svg.add('<g class="markers" font-size="11">')
    if tl.head_x is not None:
        hx = svg.x(tl.head_x)
        svg.add(
            f'<line x1="{hx}" x2="{hx}" y1="{y_reads - 4}" y2="{y_axis}" stroke="#999" stroke-dasharray="1 3"/>'
        )
    if last_byte is not None and report.received_bytes:
        lx = svg.x(last_byte)
        svg.add(
            f'<g id="last-byte-marker"><line x1="{lx}" x2="{lx}" y1="22" y2="{y_axis}" stroke="#333" '
            'stroke-dasharray="4 3"/></g>'
        )
        where = f" {_secs(last_byte)}" if time_axis else ""
        svg.label(
            lx, 32, f"last byte{where} (byte {report.received_bytes - 1})", "", "last-byte-label"
        )
    p = report.problem
    if report.verdict is Verdict.TRUNCATED and p is not None:
        cx = svg.x(last_byte if last_byte is not None else span)
        cy = y_chunks + chunks_h / 2
        missing = f", missing b'{_esc_bytes(p.missing)}'" if p.missing else ""
        svg.add(
            f'<g id="cut-marker" class="cut"><path d="M{cx - 7} {cy - 7}L{cx + 7} {cy + 7}M{cx + 7} {cy - 7}'
            f'L{cx - 7} {cy + 7}" stroke="#b00020" stroke-width="3"/>'
            f'<circle cx="{cx}" cy="{cy}" r="10" fill="none" stroke="#b00020" stroke-width="1.5"/>'
            f"<title>cut: {_e(p.message)}</title></g>"
        )
        svg.label(
            cx, 16, f"✂ cut at byte {p.offset}: {p.state.value}{missing}", "cut-label", "cut-label"
        )
    elif report.verdict is Verdict.MALFORMED and p is not None:
        mt = p.t if time_axis and p.t is not None else float(p.offset)
        mx = svg.x(mt)
        cy = y_chunks + chunks_h / 2
        svg.add(
            f'<g id="malformed-marker" class="malformed"><rect x="{mx - 7}" y="{cy - 7}" width="14" height="14" '
            f'fill="#fff" stroke="#b00020" stroke-width="2.5"/><path d="M{mx - 4} {cy - 4}L{mx + 4} {cy + 4}'
            f'M{mx + 4} {cy - 4}L{mx - 4} {cy + 4}" stroke="#b00020" stroke-width="2"/>'
            f"<title>{_e(p.message)}</title></g>"
        )
        svg.label(
            mx,
            16,
            f"✕ malformed at byte {p.offset}: found {p.found!r}",
            "cut-label",
            "malformed-label",
        )
    elif report.verdict is Verdict.COMPLETE:
        svg.label(svg.x(last_byte or 0.0), 16, "✓ message complete", "", "complete-label")
    if time_axis and close.t is not None:
        kx = svg.x(close.t)
        svg.add(
            f'<g id="close-marker"><line x1="{kx}" x2="{kx}" y1="{y_reads - 4}" y2="{y_axis + 8}" '
            'stroke="#b00020" stroke-width="2"/></g>'
        )
        idle = "" if close.idle is None else f", idle {_secs(close.idle)} after the last byte"
        svg.label(
            kx,
            y_axis + 40,
            f"close: {close.kind.value} at {_secs(close.t)}{idle}",
            "close-label",
            "close-label",
        )
    else:
        svg.label(
            _LEFT + _PLOT,
            y_axis + 40,
            f"close: {close.kind.value} (no time recorded)",
            "close-label",
            "close-label",
        )
    svg.add("</g>")

    # the axis
    step = _nice_step(span)
    svg.add(
        f'<g class="axis" font-size="10" fill="#444"><line x1="{_LEFT}" x2="{_LEFT + _PLOT}" y1="{y_axis}" y2="{y_axis}" stroke="#444"/>'
    )
    k = 0
    while k * step <= span and k < 50:
        tx = svg.x(k * step)
        svg.add(f'<line x1="{tx}" x2="{tx}" y1="{y_axis}" y2="{y_axis + 4}" stroke="#444"/>')
        svg.add(
            f'<text x="{tx}" y="{y_axis + 16}" text-anchor="middle">{_e(_axis_label(k * step, step, tl.axis))}</text>'
        )
        k += 1
    unit = (
        "seconds since the request was sent"
        if time_axis
        else "stream offset (bytes; raw input has no times)"
    )
    svg.add(f'<text x="8" y="{y_axis + 30}" fill="#666">{_e(unit)}</text></g>')
    body = "".join(svg.parts)
    title = "Timeline: reads, chunk boundaries and SSE events; the cut and the close marked"
    out = (
        f'<svg id="timeline" viewBox="0 0 {_W} {height}" '
        f'role="img" aria-labelledby="timeline-title" font-family="system-ui, sans-serif">'
        f'<title id="timeline-title">{_e(title)}</title>'
        "<style>.small{font-size:10px}.cut-label{fill:#b00020;font-weight:700}"
        ".close-label{fill:#b00020;font-weight:700}</style>"
        f"{body}</svg>"
    )
    if not time_axis:
        notes.append("raw input carries no times: the x axis is the stream offset")
    return out, notes


def _row_style(i: int, name: str) -> tuple[str, str]:
    if name == "(other)":
        return _OTHER_COLOUR, _OTHER_SHAPE
    # shapes cycle fastest and colours shift once per cycle: 64 distinct pairs
    return _COLOURS[(i + i // len(_SHAPES)) % len(_COLOURS)], _SHAPES[i % len(_SHAPES)]


def _where(x: float, time_axis: bool) -> str:
    return f"t={x:.3f} s" if time_axis else f"byte {int(x)}"


def _span_text(width: float, time_axis: bool) -> str:
    return _secs(width) if time_axis else f"{int(width)} bytes"


# -- the bytes around the problem ---------------------------------------------


def _roles(report: Report, start: int, stop: int) -> list[tuple[str, str]]:
    """(css role, description) for each byte offset in [start, stop)."""
    out: list[tuple[str, str]] = []
    head = report.head or {}
    body_offset = head.get("body_offset")
    chunks: Sequence[ChunkHeader] = report.chunks
    last = report.last_chunk
    body_end = report.received_bytes - report.extra_bytes
    for off in range(start, stop):
        if body_offset is None or off < int(body_offset):
            out.append(("head", "response head"))
            continue
        if report.extra_bytes and off >= body_end:
            out.append(("extra", "after the end of the response"))
            continue
        if report.framing is not Framing.CHUNKED:
            out.append(("data", "body"))
            continue
        if last is not None and off >= last.offset:
            if off < last.data_offset:
                out.append(("last", "the last-chunk line"))
            else:
                out.append(("trailer", "trailer section / final CRLF"))
            continue
        i = bisect.bisect_right(chunks, off, key=lambda c: c.offset) - 1
        if i < 0:
            out.append(("head", "response head"))
            continue
        c = chunks[i]
        if i == len(chunks) - 1 and report.chunks_elided and off >= c.data_offset + c.size + 2:
            out.append(("body", "chunked body (beyond the chunk records kept)"))
            continue
        if off < c.data_offset:
            out.append(("size", f"chunk #{c.index} size line"))
        elif off < c.data_offset + c.size:
            out.append(("data", f"chunk #{c.index} data"))
        elif off < c.data_offset + c.size + 2:
            out.append(("crlf", f"CRLF after chunk #{c.index}"))
        else:
            out.append(("size", "a chunk-size line"))
    return out


def _hex_view(report: Report) -> str:
    ctx = report.context
    if not ctx or not ctx.get("data"):
        return ""
    data = str(ctx["data"]).encode("latin-1")
    start = int(ctx["offset"])
    p = report.problem
    mark = p.offset if p is not None else None
    truncated = report.verdict is Verdict.TRUNCATED
    roles = _roles(report, start, start + len(data))
    width = 16
    rows = []
    first_row = start - start % width
    end = start + len(data)
    caret_done = False
    for row in range(first_row, end + (1 if truncated and end % width == 0 else 0), width):
        cells, text = [], []
        for col in range(row, row + width):
            if start <= col < end:
                b = data[col - start]
                role, what = roles[col - start]
                cls = f"r-{role}" + (" mark" if col == mark else "")
                title = f"byte {col}: {what}"
                cells.append(f'<td class="{cls}" title="{_e(title)}">{b:02x}</td>')
                ch = chr(b) if 0x20 <= b < 0x7F else "·"
                text.append(f'<span class="{cls}">{_e(ch)}</span>')
            elif truncated and col == mark:
                cells.append('<td class="mark" title="the stream ended before this byte">▮</td>')
                text.append(" ")
            else:
                cells.append("<td></td>")
                text.append(" ")
        rows.append(
            f'<tr><td class="off">{row}</td>{"".join(cells)}<td class="ascii">{"".join(text)}</td></tr>'
        )
        if mark is not None and row <= mark < row + width and not caret_done:
            caret_done = True
            col = mark - row
            label = (
                f"▲ stream ended here, before byte {mark}"
                if truncated
                else f"▲ first offending byte, {mark}"
            )
            rows.append(
                f'<tr class="caret"><td></td>{"<td></td>" * col}<td colspan="{width - col + 1}">{_e(label)}</td></tr>'
            )
    legend = (
        '<p class="legend">'
        '<span class="r-head">head (italic)</span><span class="r-size">size line (double underline)</span>'
        '<span class="r-data">data (plain)</span><span class="r-crlf">CRLF after data (dotted)</span>'
        '<span class="r-last">last-chunk (bold)</span><span class="r-trailer">trailers (dashed)</span>'
        '<span class="mark">the position (outlined)</span></p>'
    )
    if mark is not None and start <= mark <= end:
        cut = mark - start
        escaped = (
            _e(_esc_bytes(data[:cut]))
            + f'<mark title="position {mark}">⟦{"END" if truncated else "HERE"}⟧</mark>'
            + _e(_esc_bytes(data[cut:]))
        )
    else:
        escaped = _e(_esc_bytes(data))
    title = "Last bytes received" if truncated else "Bytes around the problem"
    if p is None:
        title = "Last bytes received"
    return (
        f'<h2 id="bytes">{title} (offsets {start}–{end})</h2>'
        f'<table class="hex" id="hex">{"".join(rows)}</table>{legend}'
        f'<pre class="escaped" id="escaped">b\'{escaped}\'</pre>'
    )


def _where_table(report: Report) -> str:
    p = report.problem
    if p is None:
        return ""
    rows = [("state", p.state.value + ("" if p.chunk is None else f" (chunk #{p.chunk})"))]
    kind = "end of stream" if report.verdict is Verdict.TRUNCATED else "first offending byte"
    rows.append(("offset", f"{p.offset} ({kind})"))
    if p.t is not None:
        idle = "" if p.idle is None else f", {_secs(p.idle)} after the previous byte"
        rows.append(("time", f"{_secs(p.t)} after the request{idle}"))
    rows.append(("expected", p.expected))
    if p.found is not None:
        rows.append(("found", f"b'{_esc_bytes(p.found)}'"))
    if p.missing is not None:
        rows.append(("missing", f"b'{_esc_bytes(p.missing)}'"))
    if p.remaining is not None:
        rows.append(("remaining", f"{p.remaining} bytes"))
    if p.tolerated_by:
        rows.append(("tolerated by", p.tolerated_by))
    rows.append(("detail", p.message))
    return '<h2 id="where">Where</h2>' + _kv(rows)


def _kv(rows: Iterable[tuple[str, str]], ident: str = "") -> str:
    idattr = f' id="{ident}"' if ident else ""
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f"<table{idattr}>{body}</table>"


# -- lists --------------------------------------------------------------------


def _chunk_rows(chunks: Sequence[ChunkHeader], indices: Iterable[int]) -> str:
    out = []
    for i in indices:
        c = chunks[i]
        ext = f"<code>{_e(_esc_bytes(c.ext))}</code>" if c.ext else ""
        out.append(
            f'<tr><td class="num">#{c.index}</td><td class="num">{c.offset}</td>'
            f'<td class="num">{c.size}</td><td class="num">{c.t:.3f}</td><td>{ext}</td></tr>'
        )
    return "".join(out)


def _chunk_list(report: Report) -> str:
    if report.framing is not Framing.CHUNKED:
        return ""
    chunks = report.chunks
    n = len(chunks)
    head = "<tr><th>chunk</th><th>offset</th><th>size</th><th>t (s)</th><th>ext</th></tr>"
    parts = [f'<h2 id="chunks">Chunks ({report.chunk_count} data chunks)</h2>']
    if n <= 2 * SHOWN_EDGE:
        parts.append(f'<table class="list">{head}{_chunk_rows(chunks, range(n))}</table>')
    else:
        parts.append(
            f'<table class="list">{head}{_chunk_rows(chunks, range(SHOWN_EDGE))}'
            f'<tr><td colspan="5" class="muted">… {n - 2 * SHOWN_EDGE} more below …</td></tr>'
            f"{_chunk_rows(chunks, range(n - SHOWN_EDGE, n))}</table>"
        )
        middle_first = range(SHOWN_EDGE, min(n - SHOWN_EDGE, SHOWN_EDGE + DETAILS_EDGE))
        middle_last = range(max(middle_first.stop, n - SHOWN_EDGE - DETAILS_EDGE), n - SHOWN_EDGE)
        skipped = middle_last.start - middle_first.stop
        gap = (
            f'<tr><td colspan="5" class="muted">… {skipped} chunks not listed (see --json) …</td></tr>'
            if skipped
            else ""
        )
        parts.append(
            f"<details><summary>{len(middle_first) + len(middle_last)} more chunk records</summary>"
            f'<table class="list">{head}{_chunk_rows(chunks, middle_first)}{gap}'
            f"{_chunk_rows(chunks, middle_last)}</table></details>"
        )
    if report.chunks_elided:
        parts.append(
            f'<p class="muted">{report.chunks_elided} later chunks were checked but not kept.</p>'
        )
    if report.last_chunk is not None:
        lc = report.last_chunk
        parts.append(f"<p>last-chunk at offset {lc.offset}, t={lc.t:.3f} s</p>")
    else:
        parts.append("<p><strong>no last-chunk</strong> (<code>0\\r\\n</code>) arrived.</p>")
    return "".join(parts)


def _event_rows(events: Iterable[EventMark], row_of: dict[str, int]) -> str:
    out = []
    for ev in events:
        colour, shape = _row_style(row_of.get(ev.name, 0), ev.name)
        icon = (
            f'<svg width="12" height="12" viewBox="0 0 12 12" aria-hidden="true">'
            f"{_shape(shape, 6, 6, 4.5, colour)}</svg>"
        )
        more = "" if ev.data_length <= len(ev.preview) else f" … ({ev.data_length} chars)"
        out.append(
            f'<tr><td class="num">#{ev.index}</td><td>{icon} {_e(ev.name)}'
            f"{' <strong>(terminal)</strong>' if ev.terminal else ''}</td>"
            f'<td class="num">{ev.offset}–{ev.end}</td><td class="num">{ev.t:.3f}</td>'
            f'<td class="data"><code>{_e(ev.preview)}</code>{_e(more)}</td></tr>'
        )
    return "".join(out)


def _sse_section(report: Report, tl: Timeline) -> str:
    s = report.sse
    if s is None:
        return ""
    parts = ['<h2 id="sse">Application stream (text/event-stream)</h2>']
    names = ", ".join(f"{n} ×{c}" for n, c in list(s.names.items())[:20])
    parts.append(f"<p>{s.events} events{': ' + _e(names) if names else ''}</p>")
    rows = []
    if s.last_event is not None:
        e = s.last_event
        rows.append(
            (
                "last complete event",
                f"{e.name!r} data={e.data[:80]!r} at offsets {e.offset}–{e.end}, t={e.t:.3f} s",
            )
        )
    if s.terminal_seen and s.terminal_event is not None:
        rows.append(
            ("terminal event", f"{s.terminal_event.name!r} data={s.terminal_event.data[:40]!r}")
        )
    else:
        rows.append(
            (
                "terminal event",
                f"none seen (looked for: {', '.join(s.terminal_names)}, data [DONE])",
            )
        )
    if s.partial_event is not None:
        pe = s.partial_event
        preview = pe.get("preview") or pe.get("line_preview") or ""
        rows.append(
            (
                "PARTIAL EVENT",
                f"{pe.get('bytes')} bytes from offset {pe.get('offset')} (fields {pe.get('fields')}), "
                f"cut at {str(preview)[:80]!r}",
            )
        )
    for key in ("outcome", "profile"):
        value = _to_data(getattr(s, key, None))
        if value:
            rows.append((key, str(value)))
    rows.extend(("note", n) for n in s.notes)
    parts.append(_kv(rows))
    row_of = {name: i for i, name in enumerate(tl.names)}
    head = "<tr><th>event</th><th>name</th><th>offsets</th><th>t (s)</th><th>data</th></tr>"
    listed = tl.first_events + tl.last_events
    if listed:
        first, last = listed[:SHOWN_EDGE], listed[-SHOWN_EDGE:] if len(listed) > SHOWN_EDGE else []
        if len(listed) <= 2 * SHOWN_EDGE:
            first, last = listed, []
        skipped = tl.total_events - len(first) - len(last)
        gap = (
            f'<tr><td colspan="5" class="muted">… {skipped} more below …</td></tr>'
            if skipped > 0
            else ""
        )
        parts.append(
            f'<table class="list" id="events">{head}{_event_rows(first, row_of)}{gap}'
            f"{_event_rows(last, row_of)}</table>"
        )
        middle = listed[len(first) : len(listed) - len(last)]
        if middle:
            unlisted = tl.total_events - len(listed)
            note = (
                f'<p class="muted">… {unlisted} events in the middle are counted, not listed …</p>'
                if unlisted
                else ""
            )
            parts.append(
                f"<details><summary>{len(middle)} more events</summary>"
                f'<table class="list">{head}{_event_rows(middle, row_of)}</table>{note}</details>'
            )
    return "".join(parts)


# -- head, request, connection, clients ----------------------------------------


def _head_section(report: Report, tl: Timeline | None) -> str:
    parts = []
    head = report.head
    if head is not None:
        status = f"HTTP/{head.get('version', '1.1')} {head.get('status')} {head.get('reason', '')}"
        rows = [(str(n), str(v)) for n, v in head.get("headers", [])]
        parts.append(
            f'<h2 id="head">Response head</h2><p><code>{_e(status)}</code> '
            f'<span class="muted">(offsets {head.get("offset")}–{head.get("body_offset")}, '
            f"complete at {_secs(head.get('t'))})</span></p>{_kv(rows, 'response-headers')}"
        )
        interim = head.get("interim") or []
        if interim:
            parts.append(
                "<p>interim responses: "
                + _e(", ".join(f"{i.get('status')} at byte {i.get('offset')}" for i in interim))
                + "</p>"
            )
        trailers = head.get("trailers") or []
        if trailers:
            parts.append("<h3>Trailers</h3>" + _kv((str(n), str(v)) for n, v in trailers))
    request_head = tl.request_head if tl is not None else b""
    if request_head:
        lines = request_head.decode("latin-1").split("\r\n")
        rows = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            rows.append((name.strip(), value.strip()))
        parts.append(
            f'<h2 id="request">Request (as sent; credentials as saved)</h2><p><code>{_e(lines[0])}</code></p>'
            + _kv(rows)
        )
    elif report.request:
        line = (
            report.request.get("line")
            or f"{report.request.get('method')} {report.request.get('url', '')}"
        )
        parts.append(f'<h2 id="request">Request</h2><p><code>{_e(line)}</code></p>')
    return "".join(parts)


def _connection_section(report: Report) -> str:
    conn = dict(report.connection or {})
    if not conn:
        return ""
    timings = conn.pop("timings", None) or {}
    rows: list[tuple[str, str]] = []
    target, method = conn.pop("target", None), conn.pop("method", None)
    for key in ("scheme", "host", "port", "largest_gap"):
        conn.pop(key, None)
    if target:
        rows.append(("request", f"{method} {target}" if method else str(target)))
    dns = conn.pop("dns", None)
    if dns:
        took = f" in {_secs(timings.get('dns'))}" if "dns" in timings else ""
        rows.append(("dns", f"{', '.join(map(str, dns))}{took}"))
    local, peer = conn.pop("local", None), conn.pop("peer", None)
    if local or peer:
        took = f", connected in {_secs(timings.get('connect'))}" if "connect" in timings else ""
        rows.append(("tcp", f"{local or '?'} → {peer or '?'}{took}"))
    tls = conn.pop("tls", None)
    if isinstance(tls, dict):
        facts = [str(tls.get(k)) for k in ("version", "cipher") if tls.get(k)]
        if tls.get("alpn"):
            facts.append(f"ALPN {tls['alpn']}")
        if tls.get("sni"):
            facts.append(f"SNI {tls['sni']}")
        if "tls" in timings:
            facts.append(f"handshake {_secs(timings['tls'])}")
        rows.append(("tls", ", ".join(facts)))
        cert = tls.get("peer_cert")
        if isinstance(cert, dict):
            rows.append(
                (
                    "certificate",
                    ", ".join(
                        f"{k} {cert[k]}" for k in ("subject", "issuer", "not_after") if cert.get(k)
                    ),
                )
            )
        if tls.get("verified") is False:
            rows.append(("verification", "OFF (--insecure): the peer was not authenticated"))
    if "first_byte" in timings:
        rows.append(("first byte", f"{_secs(timings['first_byte'])} after the request was sent"))
    check = conn.pop("h11", None)
    if isinstance(check, dict):
        rows.append(
            (
                "h11 (httpx)",
                ", ".join(
                    str(v)
                    for v in (
                        check.get("outcome"),
                        check.get("status") and f"status {check.get('status')}",
                        check.get("httpx") or check.get("error"),
                    )
                    if v
                ),
            )
        )
    redacted = conn.pop("redacted", "absent")
    if redacted != "absent":
        rows.append(
            (
                "credentials",
                "kept (--no-redact)"
                if redacted is None
                else f"masked: {', '.join(map(str, redacted))}"
                if redacted
                else "nothing to mask",
            )
        )

    rows.extend(flat_fields(conn))
    return '<h2 id="connection">Connection</h2>' + _kv(rows, "connection-table")


def _timing_section(report: Report) -> str:
    tm = report.timing or {}
    if tm.get("first_byte") is None or tm.get("last_byte") is None:
        return ""
    if tm["first_byte"] == tm["last_byte"] == 0.0:
        return ""
    rows = [
        ("first byte", _secs(tm["first_byte"])),
        ("head complete", _secs(tm.get("head_complete"))),
        ("last byte", _secs(tm["last_byte"])),
        ("reads", str(tm.get("reads"))),
    ]
    gap = tm.get("largest_gap")
    if gap:
        rows.append(("largest gap", f"{_secs(gap['duration'])} before byte {gap['offset']}"))
    return '<h2 id="timing">Timing</h2>' + _kv(rows)


def _clients_section(report: Report) -> str:
    try:
        from ..core.client_messages import client_messages
    except ImportError:  # pragma: no cover - the module ships with the package
        return ""
    rows: list[tuple[str, str]] = []
    for item in client_messages(report):
        data = _to_data(item)
        if isinstance(data, dict):
            rows.append((str(data.get("client", "")), str(data.get("message", ""))))
        else:
            client, message = tuple(data)[:2]
            rows.append((str(client), str(message)))
    if not rows:
        return ""
    body = "".join(f"<tr><th>{_e(c)}</th><td><code>{_e(m)}</code></td></tr>" for c, m in rows)
    return f'<h2 id="clients">How clients report this</h2><table class="list" id="client-table">{body}</table>'


def _notes_section(report: Report) -> str:
    if not report.notes:
        return ""
    items = "".join(f"<li>byte {n.offset}: {_e(n.message)}</li>" for n in report.notes)
    return f'<h2 id="notes">Notes</h2><ul>{items}</ul>'


# -- the page -------------------------------------------------------------------


def render_html(
    report: Report,
    timeline: Timeline,
    *,
    source: str | None = None,
    gap_threshold: float = GAP_THRESHOLD,
) -> str:
    """The self-contained HTML report for ``report``, with ``timeline`` drawn.

    ``source`` names the analysed file in the title; ``gap_threshold`` is the
    shortest silence (seconds) labelled on the timeline.
    """
    svg, notes = _timeline_svg(report, timeline, gap_threshold)
    note = f'<p class="note">{_e("; ".join(notes))}.</p>' if notes else ""
    title = f"chunkscope: {report.verdict.value}" + (
        f" — {os.path.basename(source)}" if source else ""
    )
    sections = [
        _top(report, source),
        f'<section class="timeline"><h2 id="timeline-h">Timeline</h2>{svg}{note}</section>',
        f"<section>{_where_table(report)}{_hex_view(report)}</section>",
        f"<section>{_sse_section(report, timeline)}</section>",
        f"<section>{_chunk_list(report)}</section>",
        f"<section>{_timing_section(report)}{_head_section(report, timeline)}</section>",
        f"<section>{_connection_section(report)}</section>",
        f"<section>{_clients_section(report)}{_notes_section(report)}</section>",
    ]
    footer = (
        f"<footer>chunkscope {_e(__version__)}"
        + (f" · {_e(os.path.basename(source))}" if source else "")
        + " · offsets count from the first byte of the status line; times from the request.</footer>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        # Nothing may be fetched: no script, no font, no image but data: URLs.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        + "".join(sections)
        + footer
        + "</body></html>\n"
    )


def write_html_report(
    report: Report,
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    raw: bool = False,
    method: str = "GET",
    terminal_events: Iterable[str] = (),
    max_chunks_kept: int | None = 100_000,
    gap_threshold: float = GAP_THRESHOLD,
) -> None:
    """Write the HTML report of ``report`` to ``output``, its timeline read from ``source``.

    ``source`` is the capture file the report came from (or, with ``raw``,
    the file of raw server bytes); it is read once more, in constant memory,
    for the timeline. The page is written to a temporary file beside
    ``output`` and renamed, so a reader never sees half a report; a device,
    FIFO or symlink (``/dev/stdout``) is written in place instead, since a
    rename would replace the node itself.
    """
    timeline = collect_timeline(
        source,
        raw=raw,
        method=method,
        terminal_events=terminal_events,
        max_chunks_kept=max_chunks_kept,
    )
    page = render_html(report, timeline, source=os.fspath(source), gap_threshold=gap_threshold)
    with output_file(output, binary=False) as f:
        f.write(page)
