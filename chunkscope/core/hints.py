"""Attribution: which hop likely ended the stream, and why, read from facts the report already holds.

Every hint is ``{code, message, evidence}``: ``code`` comes from a stable vocabulary (below, and
README "Why it likely ended"), ``message`` says it for a person, ``evidence`` holds the facts it
rests on (times, header values), so a hint can always be checked against the report.

====================== ==========================================================================
code                   when
====================== ==========================================================================
idle-timeout           the peer was silent >= 1 s, then closed, within a tolerance of a round
                       figure (an idle/read timeout of some hop; the figure and the defaults it
                       matches are named)
closed-after-last-byte the close came within 50 ms of the last byte: an active close, not a timeout
last-hop-only          the close kind describes the nearest hop only; suggests ``--connect-to``
tls-terminating-hop    close_notify on a cut stream: a TLS endpoint closed on purpose
tcp-level-cut          no close_notify (or an RST) on a cut stream: a TCP-level hop or a dead process
client-timeout         chunkscope's own --idle-timeout / --max-time ended it; the peer had not closed
hop-identified         response headers that name hops (Server, Via, X-Cache, cf-ray, ...)
retry-safety           whether a plain retry would duplicate what was already delivered
====================== ==========================================================================

Sans-IO: a pure function of the report (``report.connection`` adds the URL and how it was dialled).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from .report import CloseKind, Framing, Verdict

if TYPE_CHECKING:
    from .report import Report

__all__ = [
    "ACTIVE_CLOSE_WINDOW",
    "HINT_CODES",
    "IDENTIFIER_HEADERS",
    "MIN_IDLE_FOR_TIMEOUT",
    "Hint",
    "hints_for",
    "identifiers_for",
    "sse_outcome",
]

HINT_CODES = (
    "idle-timeout",
    "closed-after-last-byte",
    "last-hop-only",
    "tls-terminating-hop",
    "tcp-level-cut",
    "client-timeout",
    "hop-identified",
    "retry-safety",
)

MIN_IDLE_FOR_TIMEOUT = 1.0  # seconds of silence before a close that can be a timeout
ACTIVE_CLOSE_WINDOW = 0.05  # a close this soon after the last byte was no timeout

# Closes the peer (or a hop) made; timeout/interrupted/unknown are chunkscope's own doing.
_PEER_CLOSES = frozenset(
    {CloseKind.FIN, CloseKind.RESET, CloseKind.TLS_CLOSE_NOTIFY, CloseKind.TLS_NO_CLOSE_NOTIFY}
)

# Round figures an operator or a vendor picks for a timeout, in seconds.
_ROUND_FIGURES = (*range(1, 11), 15, 20, 25, 30, 40, 45, 50, 60, 75, 90, 100, 120, 180, 240, 300,
                  350, 600, 900, 1800, 3600)  # fmt: skip

# Well-known defaults that a silence of this many seconds matches.
_DEFAULTS: dict[int, tuple[str, ...]] = {
    5: ("httpx's default timeout (5 s)",),
    30: ("Google Cloud load balancer backend service timeout (default 30 s)",),
    50: ("HAProxy `timeout server 50000` in Debian's and Ubuntu's default haproxy.cfg",),
    60: (
        "nginx `proxy_read_timeout` (default 60 s)",
        "AWS ALB idle timeout (default 60 s)",
    ),
    100: ("Cloudflare's origin response timeout (100 s, error 524)",),
    350: ("AWS NLB idle timeout (350 s)",),
    600: ("openai-python's and anthropic-sdk-python's default timeout (600 s)",),
}

_LOG_LINES = (
    "nginx error log: `upstream timed out (110: Connection timed out) while reading upstream`",
    "HAProxy log: termination state `sD` (server-side timeout during data)",
)

# Response headers that name a hop, and who they name.
_HOP_HEADERS = {
    "server": None,
    "via": None,
    "x-cache": "a caching proxy or CDN",
    "x-cache-hits": "a caching proxy or CDN",
    "x-served-by": "Fastly (or a Varnish cache)",
    "cf-ray": "Cloudflare",
    "cf-cache-status": "Cloudflare",
    "x-amz-cf-id": "Amazon CloudFront",
    "x-amz-cf-pop": "Amazon CloudFront",
    "x-azure-ref": "Azure Front Door",
    "fly-request-id": "Fly.io",
    "x-vercel-id": "Vercel",
}

IDENTIFIER_HEADERS = (
    "x-request-id",
    "request-id",
    "openai-processing-ms",
    "openai-version",
    "cf-ray",
    "x-amz-cf-id",
    "x-amzn-requestid",
    "x-amzn-trace-id",
    "x-cloud-trace-context",
    "traceparent",
)


@dataclass(frozen=True, slots=True)
class Hint:
    """One attribution finding: a ``code`` from HINT_CODES, a sentence, and the facts behind it."""

    code: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "evidence": dict(self.evidence)}


def _headers(report: Report) -> list[tuple[str, str]]:
    return [(str(n), str(v)) for n, v in (report.head or {}).get("headers", [])]


def sse_outcome(report: Report) -> str | None:
    """The application outcome: completed, failed, incomplete, cut or unknown (None: not SSE).

    The analyzer's provider profile (core/profiles.py) sets ``report.sse.outcome``; a summary
    made without one (a bare :class:`~chunkscope.core.sse.SseDecoder`) counts as ``unknown``.
    """
    sse = report.sse
    if sse is None:
        return None
    return sse.outcome or "unknown"


def _figure(idle: float) -> tuple[int, float] | None:
    """The round figure ``idle`` sits on, with the tolerance used, or None."""
    best = min(_ROUND_FIGURES, key=lambda f: abs(f - idle))
    # nginx and HAProxy close within 0.2 s of their timeout; allow 3 % on long ones
    tolerance = max(0.25, 0.03 * best)
    if abs(best - idle) <= tolerance:
        return best, tolerance
    return None


def _secs(t: float) -> str:
    return f"{t:.3f} s"


def _bypass_command(report: Report) -> str | None:
    conn = report.connection or {}
    target = conn.get("target") or (report.request or {}).get("url")
    if not target:
        return None
    method = str(conn.get("method") or (report.request or {}).get("method") or "GET")
    words = ["chunkscope", "capture", str(target)]
    if method != "GET":
        words[2:2] = ["-X", method]
    words += ["--connect-to", "UPSTREAM_HOST:PORT"]
    return " ".join(shlex.quote(w) if w != "UPSTREAM_HOST:PORT" else w for w in words)


def _idle_timeout(report: Report) -> Hint | None:
    c = report.close
    if c.kind not in _PEER_CLOSES or c.idle is None or c.idle < MIN_IDLE_FOR_TIMEOUT:
        return None
    if report.verdict is Verdict.COMPLETE and report.framing is not Framing.CLOSE_DELIMITED:
        return None  # a server closing an idle kept-alive connection after a whole response
    found = _figure(c.idle)
    if found is None:
        return None
    figure, tolerance = found
    defaults = _DEFAULTS.get(figure, ())
    matches = [
        *defaults,
        f"a configured {figure} s idle/read timeout: nginx `proxy_read_timeout`, HAProxy "
        "`timeout server` / `timeout tunnel`, a load balancer's idle timeout, or a client "
        "or SDK read timeout upstream",
    ]
    message = (
        f"the peer was silent for {_secs(c.idle)} and then closed ({c.kind.value}): within "
        f"{tolerance:g} s of {figure} s, the mark of an idle (read) timeout of some hop. "
        f"{figure} s matches: {'; '.join(matches)}. Look for the timeout in that hop's log, e.g. "
        + "; ".join(_LOG_LINES)
    )
    return Hint(
        "idle-timeout",
        message,
        {
            "idle": c.idle,
            "figure": figure,
            "tolerance": tolerance,
            "close": c.kind.value,
            "matches": matches,
        },
    )


def _closed_after_last_byte(report: Report) -> Hint | None:
    c = report.close
    if (
        report.verdict is not Verdict.TRUNCATED
        or c.kind not in _PEER_CLOSES
        or c.idle is None
        or c.idle > ACTIVE_CLOSE_WINDOW
    ):
        return None
    return Hint(
        "closed-after-last-byte",
        f"the close ({c.kind.value}) came {c.idle * 1000:.1f} ms after the last byte: a process "
        "ended the stream actively (the server finishing or crashing, a deliberate cut, or a "
        "proxy relaying its upstream's cut), not an idle timeout",
        {"idle": c.idle, "window": ACTIVE_CLOSE_WINDOW, "close": c.kind.value},
    )


def _last_hop_only(report: Report) -> Hint | None:
    c = report.close
    if report.verdict not in (Verdict.TRUNCATED, Verdict.NO_RESPONSE) or c.kind not in _PEER_CLOSES:
        return None
    conn = report.connection or {}
    command = _bypass_command(report)
    dialled = conn.get("connect_to") or conn.get("peer")
    message = (
        f"{c.kind.value} is what the nearest hop did"
        + (f" ({dialled})" if dialled else "")
        + ": a reverse proxy or load balancer (nginx, HAProxy, a CDN) turns an upstream RST or "
        "cut into a FIN or a TLS close_notify of its own, so the hop that cut first may be "
        "further upstream. Capture again with that hop bypassed"
        + (f": {command}" if command else " (chunkscope capture URL --connect-to HOST:PORT)")
        + "; if the bypassed request is complete, the bypassed hop cut it"
    )
    evidence: dict[str, Any] = {"close": c.kind.value}
    if command:
        evidence["command"] = command
    if dialled:
        evidence["nearest_hop"] = dialled
    return Hint("last-hop-only", message, evidence)


def _tls_close(report: Report) -> Hint | None:
    c = report.close
    if report.verdict not in (Verdict.TRUNCATED, Verdict.NO_RESPONSE):
        return None
    if c.kind is CloseKind.TLS_CLOSE_NOTIFY:
        return Hint(
            "tls-terminating-hop",
            "the stream was cut, yet TLS ended with a close_notify: whatever held the TLS "
            "session closed it on purpose. That is what a TLS-terminating hop (reverse proxy, "
            "load balancer, CDN) does when it gives up on a timeout or relays an upstream cut; "
            "an application server rarely ends a stream it has not finished that way",
            {"close": c.kind.value},
        )
    if c.kind is CloseKind.TLS_NO_CLOSE_NOTIFY:
        return Hint(
            "tcp-level-cut",
            "the stream was cut and TCP ended without a TLS close_notify: whatever closed did "
            "not (or could no longer) speak TLS on this connection: a TCP-level hop (a CONNECT "
            "tunnel, an L4 load balancer, a NAT or firewall), or a process that exited abruptly. "
            "A TLS-terminating proxy would normally have sent close_notify",
            {"close": c.kind.value},
        )
    if c.kind is CloseKind.RESET:
        return Hint(
            "tcp-level-cut",
            "the connection was reset (RST): a process aborted it (killed, crashed, or closed "
            "with unread data) or a middlebox (firewall, NAT, L4 balancer) reset it; the kernel "
            "may drop bytes that were still in flight",
            {"close": c.kind.value},
        )
    return None


def _client_timeout(report: Report) -> Hint | None:
    c = report.close
    if c.kind is not CloseKind.TIMEOUT:
        return None
    detail = c.detail or "a time limit"
    if "max-time" in detail:
        message = (
            f"chunkscope's own limit ended the capture ({detail}) while the connection was still "
            "open: the peer had not closed. Raise --max-time to see how the stream really ends"
        )
    else:
        idle = "" if c.idle is None else f" after {_secs(c.idle)} of silence"
        message = (
            f"chunkscope stopped waiting{idle} ({detail}): the peer had neither sent a byte nor "
            "closed. A hop with a shorter idle timeout (or a client with a shorter read timeout) "
            "would have ended the stream here; raise --idle-timeout to see who closes"
        )
    return Hint("client-timeout", message, {"detail": c.detail, "idle": c.idle})


def _hop_identified(report: Report) -> Hint | None:
    named: list[list[str]] = []
    hops: list[str] = []
    for name, value in _headers(report):
        lname = name.lower()
        if lname in _HOP_HEADERS or lname.startswith("x-envoy-"):
            named.append([name, value])
            who = _HOP_HEADERS.get(lname) or ("Envoy" if lname.startswith("x-envoy-") else value)
            if lname == "via":
                who = f"via {value}"
            if who not in hops:
                hops.append(who)
    if not named:
        return None
    shown = "; ".join(f"{n}: {v}" for n, v in named[:8])
    return Hint(
        "hop-identified",
        f"response headers name the hops on the path: {', '.join(hops)} ({shown}); any of them "
        "can have ended the stream, and the headers only list hops that added one",
        {"headers": named, "hops": hops},
    )


def _retry_safety(report: Report) -> Hint | None:
    if report.verdict is Verdict.COMPLETE and sse_outcome(report) in (None, "completed"):
        return None
    outcome = sse_outcome(report)
    sse = report.sse
    if outcome == "completed":
        return Hint(
            "retry-safety",
            "every application event arrived, the terminal one included: do not retry (a retry "
            "would run the request again and repeat its output); treat the stream as finished",
            {"events": sse.events if sse else 0, "outcome": outcome},
        )
    if sse is not None:
        last_id = None
        if sse.last_event is not None:
            last_id = sse.last_event.id
        if sse.events:
            resume = (
                f"; resume with Last-Event-ID: {last_id} if the server supports it"
                if last_id
                else ""
            )
            return Hint(
                "retry-safety",
                f"{sse.events} events were delivered before the stream ended: a plain retry runs "
                "the request again and repeats them (duplicate output, tokens billed twice); keep "
                f"or discard what arrived on purpose{resume}",
                {"events": sse.events, "outcome": outcome, "last_event_id": last_id},
            )
        return Hint(
            "retry-safety",
            "no application event was delivered: a plain retry duplicates nothing the client saw "
            "(the server may still have done the work)",
            {"events": 0, "outcome": outcome},
        )
    if report.body_bytes:
        return Hint(
            "retry-safety",
            f"{report.body_bytes} body bytes arrived before the stream ended: a retry starts the "
            "response over; it is safe when the request is idempotent",
            {"body_bytes": report.body_bytes},
        )
    return Hint(
        "retry-safety",
        "no body byte arrived: a retry duplicates nothing the client saw (the server may still "
        "have acted on the request)",
        {"body_bytes": 0},
    )


def hints_for(report: Report) -> list[Hint]:
    """The attribution hints for ``report``, most telling first."""
    hints = []
    for make in (
        _idle_timeout,
        _closed_after_last_byte,
        _client_timeout,
        _tls_close,
        _last_hop_only,
        _hop_identified,
        _retry_safety,
    ):
        hint = make(report)
        if hint is not None:
            hints.append(hint)
    return hints


def _parse_utc(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def identifiers_for(report: Report) -> dict[str, Any]:
    """What a vendor asks for: request ids from the response head, and UTC start and end.

    ``{"request_ids": {header: value}, "start_utc", "end_utc", "duration"}``; start is when the
    request was sent (the capture's ``t0_wall``), end when the connection ended.
    """
    ids: dict[str, str] = {}
    for name, value in _headers(report):
        lname = name.lower()
        if lname in IDENTIFIER_HEADERS and lname not in ids:
            ids[lname] = value
    conn = report.connection or {}
    # t0_wall is when the request went out; a capture file's "created" is within ms of it
    start = _parse_utc(conn.get("t0_wall")) or _parse_utc(conn.get("created"))
    end_t = report.close.t
    if end_t is None:
        end_t = (report.timing or {}).get("last_byte")
    end = None
    if start is not None and isinstance(end_t, (int, float)):
        end = start + timedelta(seconds=float(end_t))
    return {
        "request_ids": ids,
        "start_utc": None if start is None else _utc(start),
        "end_utc": None if end is None else _utc(end),
        "duration": None if end_t is None or start is None else float(end_t),
    }
