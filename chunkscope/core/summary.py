"""Many streams at once: how often, and how, they ended (sans-IO).

Theory of operation
-------------------
One stream's diagnosis cannot tell a 2 % problem from a 100 % one. A
:class:`Summary` takes finished streams one at a time -- a live probe's
reports, or the reports of capture files read back -- and reduces each at
once to a :class:`StreamRecord`: four labels (transport verdict, problem
state, close kind, SSE outcome), six numbers (time to first byte, total
duration, bytes, events, largest gap, idle before the close), the capture
file's path and, for a stream that did not complete, its request ids and hop
headers. The report itself is dropped, so memory grows by one small record
per stream, never with the streams' sizes.

:meth:`Summary.to_dict` groups the records into outcome rows (one per
combination of the four labels) with counts, percentages, a 95 % Wilson
score interval and one example capture file; per row it gives the
distributions (p50, p90, p99, max, nearest-rank) of the six numbers, and for
rows that did not complete it looks for clusters: idle times or durations
that bunch near one figure. A bunch of streams silent for a round number of
seconds before the close is named ``idle-timeout`` (a proxy's or server's
read timeout: nginx and HAProxy close within 0.2 s of theirs, squid in 1 s
ticks; a figure counts within 0.25 s, or 2 % for long timeouts); a bunch
closed within 50 ms of their last byte is named
``closed-after-last-byte`` (an active cut, not a timeout). The codes and
thresholds are those of the single-stream hints (``core/hints.py``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .report import Report

__all__ = [
    "AFTER_LAST_BYTE_MAX",
    "HOP_HEADERS",
    "IDLE_TIMEOUT_MIN",
    "SUMMARY_VERSION",
    "Cluster",
    "StreamRecord",
    "Summary",
    "find_clusters",
    "percentiles",
    "record_from_error",
    "record_from_report",
    "wilson_interval",
]

SUMMARY_VERSION = 1

# The hint thresholds (the same as core/hints.py's single-stream hints):
IDLE_TIMEOUT_MIN = 1.0  # silent about this long or longer before the close: an idle timeout...
# ...when the close comes this near a round figure: nginx and HAProxy close within 0.2 s
# of their timeout, and HAProxy may hold the bytes before it 0.2 s more (it writes them
# with MSG_MORE), so that its 1 s timeout is seen as 0.8 s of silence.
ROUND_TOLERANCE = 0.25
ROUND_TOLERANCE_SHARE = 0.02  # or within 2 % of it for long timeouts (squid's 1 s ticks)
AFTER_LAST_BYTE_MAX = 0.05  # a close this soon after the last byte is an active cut
CLUSTER_MIN_STREAMS = 2  # a bunch is at least two streams...
CLUSTER_MIN_SHARE = 0.5  # ...and at least half of the row

# Headers that identify a request or a hop, for a vendor ticket. Request ids
# differ per request; the hop headers' values are also counted per outcome.
ID_HEADERS = ("x-request-id", "request-id", "openai-processing-ms", "cf-ray", "x-amz-cf-id")
HOP_COUNTED = ("server", "via", "x-cache", "x-served-by")
HOP_HEADERS = (*ID_HEADERS, *HOP_COUNTED)
HOP_PREFIXES = ("x-envoy-",)
_MAX_IDENTIFIER_HEADERS = 16  # per stream
_MAX_VALUE = 200  # characters of one header value kept
_MAX_HOP_VALUES = 20  # distinct values counted per hop header
_MAX_ERRORS = 10  # distinct connect-failure reasons counted per row

METRICS = ("first_byte", "duration", "bytes", "events", "largest_gap", "idle")
NOT_CONNECTED = "not-connected"


@dataclass(frozen=True, slots=True)
class StreamRecord:
    """What the summary keeps of one stream.

    ``verdict`` is the transport verdict (``complete``, ``truncated``,
    ``malformed``, ``no-response``) or ``not-connected`` when no connection
    was made (then ``error`` is the :class:`~chunkscope.TransportError` kind,
    e.g. ``connect``, and ``reason`` its message). ``sse`` is the SSE outcome
    (``complete``/``incomplete`` or the provider-aware outcome), None when the
    body is not an event stream. ``complete`` is True when the stream
    completed on both axes. ``identifiers`` holds the request-id and hop
    headers, for streams that did not complete.
    """

    verdict: str
    problem: str | None
    close: str | None
    sse: str | None
    complete: bool
    path: str | None = None
    first_byte: float | None = None
    duration: float | None = None
    bytes: int | None = None
    events: int | None = None
    largest_gap: float | None = None
    idle: float | None = None
    identifiers: tuple[tuple[str, str], ...] = ()
    hops: tuple[tuple[str, str], ...] = ()
    error: str | None = None
    reason: str | None = None

    @property
    def key(self) -> tuple[str, str | None, str | None, str | None, str | None]:
        return (self.verdict, self.problem, self.close, self.sse, self.error)


def _enum_value(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


def sse_outcome(sse: Any) -> str | None:
    """The provider-aware SSE outcome (``completed``, ``cut``, ...), or None for a non-SSE body."""
    if sse is None:
        return None
    return str(sse.outcome)


def _wanted(name: str) -> bool:
    lname = name.lower()
    return lname in HOP_HEADERS or lname.startswith(HOP_PREFIXES)


def record_from_report(report: Report, path: str | None = None) -> StreamRecord:
    """Reduce one report to the few labels and numbers a summary needs."""
    sse = report.sse
    outcome = sse_outcome(sse)
    # complete on both axes, exactly as the report's own exit code judges it: the framing,
    # and the application stream (a cut, failed or incomplete SSE outcome, or a cut coding)
    complete = report.exit_code == 0
    timing = report.timing or {}
    gap = timing.get("largest_gap")
    identifiers: list[tuple[str, str]] = []
    hops: list[tuple[str, str]] = []
    headers = (report.head or {}).get("headers") or ()
    for item in headers:
        name, value = str(item[0]), str(item[1])
        if not _wanted(name):
            continue
        if name.lower() in HOP_COUNTED:
            hops.append((name.lower(), value[:_MAX_VALUE]))
        if not complete and len(identifiers) < _MAX_IDENTIFIER_HEADERS:
            identifiers.append((name, value[:_MAX_VALUE]))
    return StreamRecord(
        verdict=report.verdict.value,
        problem=None if report.problem is None else report.problem.state.value,
        close=report.close.kind.value,
        sse=outcome,
        complete=complete,
        path=path,
        first_byte=timing.get("first_byte"),
        duration=report.close.t,
        bytes=report.received_bytes,
        events=None if sse is None else sse.events,
        largest_gap=gap.get("duration") if isinstance(gap, dict) else None,
        idle=report.close.idle,
        identifiers=tuple(identifiers),
        hops=tuple(hops),
    )


def record_from_error(kind: str, reason: str, path: str | None = None) -> StreamRecord:
    """A request that never got a connection (DNS, connect, TLS, proxy, timeout)."""
    return StreamRecord(
        verdict=NOT_CONNECTED,
        problem=None,
        close=None,
        sse=None,
        complete=False,
        path=path,
        error=kind,
        reason=reason,
    )


def wilson_interval(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval for ``k`` successes in ``n`` trials (95 % by default).

    Unlike ``p ± z·sqrt(p(1-p)/n)`` it stays inside [0, 1] and does not
    collapse to a point at 0 of n or n of n: 0 failures in 40 streams is
    still compatible with a failure rate up to 8.8 %.
    """
    if n <= 0:
        return (0.0, 1.0)
    p = k / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def percentiles(values: Iterable[float | int]) -> dict[str, float | int] | None:
    """``{n, p50, p90, p99, max}`` by nearest rank (a value that occurred), or None if empty."""
    data = sorted(values)
    if not data:
        return None
    n = len(data)

    def rank(p: float) -> float | int:
        value = data[max(0, math.ceil(p * n) - 1)]
        return round(value, 6) if isinstance(value, float) else value

    return {"n": n, "p50": rank(0.50), "p90": rank(0.90), "p99": rank(0.99), "max": rank(1.0)}


@dataclass(frozen=True, slots=True)
class Cluster:
    """Values of one metric that bunch near one figure: ``centre ± spread`` for ``count`` of ``of``."""

    metric: str  # "idle" or "duration"
    centre: float
    spread: float
    count: int
    of: int
    hint: str | None  # "idle-timeout", "closed-after-last-byte" or None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "centre": round(self.centre, 6),
            "spread": round(self.spread, 6),
            "count": self.count,
            "of": self.of,
            "hint": self.hint,
            "message": self.message,
        }


def _round_figure(value: float) -> float:
    """The nearest round figure: whole seconds below 10 s, multiples of 5 s above."""
    return float(round(value)) if value < 10 else float(5 * round(value / 5))


def _tolerance(value: float) -> float:
    """How far from a bunch's figure a value may be: 0.2 s (or 2 %) for timeouts, finer below 1 s."""
    if value >= IDLE_TIMEOUT_MIN:
        return max(ROUND_TOLERANCE, ROUND_TOLERANCE_SHARE * value)
    return max(0.01, 0.1 * value)


def _bunch(values: Sequence[float]) -> tuple[int, int] | None:
    """The widest-populated window ``[i, j)`` of sorted values within ± tolerance of its start."""
    best: tuple[int, int] | None = None
    j = 0
    for i, low in enumerate(values):
        j = max(j, i)
        limit = low + 2 * _tolerance(low)
        while j < len(values) and values[j] <= limit:
            j += 1
        if best is None or j - i > best[1] - best[0]:
            best = (i, j)
    return best


def _enough(count: int, of: int) -> bool:
    return count >= CLUSTER_MIN_STREAMS and count >= CLUSTER_MIN_SHARE * of


def _describe(values: Sequence[float]) -> tuple[float, float]:
    centre = values[len(values) // 2]
    return centre, max(abs(v - centre) for v in values)


def find_clusters(
    idle: Iterable[float], duration: Iterable[float], close: str | None
) -> list[Cluster]:
    """Clusters among one outcome row's idle times before the close, and its durations.

    ``close`` is the row's close kind: a ``timeout`` is chunkscope's own
    limit, anything else the peer's (or a hop's) doing.
    """
    clusters: list[Cluster] = []
    idles = sorted(idle)
    n = len(idles)
    quick = [v for v in idles if v <= AFTER_LAST_BYTE_MAX]
    if _enough(len(quick), n):
        centre, spread = _describe(quick)
        clusters.append(
            Cluster(
                "idle",
                centre,
                spread,
                len(quick),
                n,
                "closed-after-last-byte",
                f"{len(quick)} of {n} closed within {AFTER_LAST_BYTE_MAX * 1000:.0f} ms of their "
                "last byte: an active close right after sending, not a timeout",
            )
        )
    elif n:
        window = _bunch(idles)
        if window is not None and _enough(window[1] - window[0], n):
            members = idles[window[0] : window[1]]
            centre, spread = _describe(members)
            count = len(members)
            # A proxy's timer may start before its last byte reaches us: nginx's 1 s timeout
            # is seen here as 0.98-1.00 s of silence; what counts is the figure it is near.
            figure = _round_figure(centre)
            if figure >= IDLE_TIMEOUT_MIN and abs(centre - figure) <= _tolerance(figure):
                who = (
                    "chunkscope's own --idle-timeout ended them: the peer sent nothing more "
                    "and closed nothing"
                    if close == "timeout"
                    else "an idle (read) timeout on the path or the server closed them"
                )
                clusters.append(
                    Cluster(
                        "idle",
                        centre,
                        spread,
                        count,
                        n,
                        "idle-timeout",
                        f"{count} of {n} were silent for {centre:.1f} ± {spread:.1f} s before "
                        f"the close: {who}",
                    )
                )
            elif centre > AFTER_LAST_BYTE_MAX:
                clusters.append(
                    Cluster(
                        "idle",
                        centre,
                        spread,
                        count,
                        n,
                        None,
                        f"{count} of {n} were silent for {centre:.3f} ± {spread:.3f} s before "
                        "the close",
                    )
                )
    if not clusters:
        durations = sorted(duration)
        window = _bunch(durations)
        if window is not None and _enough(window[1] - window[0], len(durations)):
            members = durations[window[0] : window[1]]
            centre, spread = _describe(members)
            figure = _round_figure(centre)
            if figure >= IDLE_TIMEOUT_MIN and abs(centre - figure) <= _tolerance(figure):
                clusters.append(
                    Cluster(
                        "duration",
                        centre,
                        spread,
                        len(members),
                        len(durations),
                        None,
                        f"{len(members)} of {len(durations)} ended {centre:.1f} ± {spread:.1f} s "
                        "after the request: a limit on the whole response's time on the path?",
                    )
                )
    return clusters


@dataclass
class _Row:
    key: tuple[str, str | None, str | None, str | None, str | None]
    complete: bool
    count: int = 0
    example: str | None = None
    values: dict[str, list[float | int]] = field(default_factory=lambda: {m: [] for m in METRICS})
    errors: Counter[str] = field(default_factory=Counter)


def _identifier_order(item: dict[str, Any]) -> tuple[Any, ...]:
    return (item["path"] is None, item["path"] or "", repr(sorted(item.items())))


class Summary:
    """Aggregates finished streams; ``to_dict()`` is the summary contract (README).

    Example::

        summary = Summary()
        for path in paths:
            summary.add_report(analyze_capture(path), path)
        print(summary.to_dict()["rows"][0]["count"])
    """

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str | None, str | None, str | None, str | None], _Row] = {}
        self._identifiers: list[dict[str, Any]] = []
        self._hops: dict[str, dict[str, Counter[str]]] = {}
        self.streams = 0
        self.complete = 0
        self.not_connected = 0

    @property
    def failed(self) -> int:
        """Streams that did not complete on both axes (including those never connected)."""
        return self.streams - self.complete

    @property
    def exit_code(self) -> int:
        """0 all complete, 1 any not, 3 every request failed to connect (none: 1)."""
        if self.streams and self.not_connected == self.streams:
            return 3
        return 0 if self.streams and self.complete == self.streams else 1

    def add_report(self, report: Report, path: str | None = None) -> StreamRecord:
        """Add one finished stream's report (then the report may be dropped)."""
        record = record_from_report(report, path)
        self.add(record)
        return record

    def add(self, record: StreamRecord) -> None:
        """Add one stream's record."""
        self.streams += 1
        self.complete += record.complete
        self.not_connected += record.verdict == NOT_CONNECTED
        row = self._rows.get(record.key)
        if row is None:
            row = self._rows[record.key] = _Row(record.key, record.complete)
        row.count += 1
        if record.path is not None and (row.example is None or record.path < row.example):
            row.example = record.path  # the first by name: the same whatever the finishing order
        for metric in METRICS:
            value = getattr(record, metric)
            if value is not None:
                row.values[metric].append(value)
        if record.reason is not None and (
            record.reason in row.errors or len(row.errors) < _MAX_ERRORS
        ):
            row.errors[record.reason] += 1
        outcome = "complete" if record.complete else "failed"
        for name, value in record.hops:
            counts = self._hops.setdefault(name, {}).setdefault(outcome, Counter())
            if value in counts or len(counts) < _MAX_HOP_VALUES:
                counts[value] += 1
        if not record.complete and record.verdict != NOT_CONNECTED:
            self._identifiers.append(
                {
                    "path": record.path,
                    "verdict": record.verdict,
                    "problem": record.problem,
                    "close": record.close,
                    "sse": record.sse,
                    "headers": [list(pair) for pair in record.identifiers],
                }
            )

    def forget_path(self, path: str) -> None:
        """A capture file was removed (``--keep failed``): stop naming it as an example."""
        for row in self._rows.values():
            if row.example == path:
                row.example = None

    def rows(self) -> list[dict[str, Any]]:
        """The outcome rows, most frequent first."""
        out = []
        ordered = sorted(
            self._rows.values(), key=lambda r: (-r.count, [str(part) for part in r.key])
        )
        for row in ordered:
            verdict, problem, close, sse, error = row.key
            low, high = wilson_interval(row.count, self.streams)
            clusters = (
                []
                if row.complete or verdict == NOT_CONNECTED
                else find_clusters(row.values["idle"], row.values["duration"], close)
            )
            entry: dict[str, Any] = {
                "verdict": verdict,
                "problem": problem,
                "close": close,
                "sse": sse,
                "complete": row.complete,
                "count": row.count,
                "percent": round(100.0 * row.count / self.streams, 2),
                "wilson95": [round(100.0 * low, 2), round(100.0 * high, 2)],
                "example": row.example,
                "stats": {m: percentiles(row.values[m]) for m in METRICS},
                "clusters": [c.to_dict() for c in clusters],
            }
            if verdict == NOT_CONNECTED:
                entry["error"] = error
                entry["errors"] = [{"reason": r, "count": c} for r, c in row.errors.most_common()]
            out.append(entry)
        return out

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready data (stable keys, documented in README)."""
        low, high = wilson_interval(self.failed, self.streams)
        return {
            "summary_version": SUMMARY_VERSION,
            "streams": self.streams,
            "complete": self.complete,
            "failed": self.failed,
            "not_connected": self.not_connected,
            "failed_percent": round(100.0 * self.failed / self.streams, 2) if self.streams else 0.0,
            "failed_wilson95": [round(100.0 * low, 2), round(100.0 * high, 2)],
            "rows": self.rows(),
            "identifiers": sorted(self._identifiers, key=_identifier_order),
            "hops": {
                name: {outcome: dict(c.most_common()) for outcome, c in sorted(by.items())}
                for name, by in sorted(self._hops.items())
            },
        }
