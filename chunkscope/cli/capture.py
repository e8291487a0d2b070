"""``chunkscope capture URL``: one live request, every byte recorded and diagnosed."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import Any, TextIO

import trio

from ..core.errors import UsageError
from ..core.report import ChunkHeader
from ..net.client import CaptureOptions, run_capture
from .main import add_report_options, report_exit_code
from .options import http_token, path, seconds, url
from .render import render_text

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "capture",
        help="send a request and diagnose the response live",
        description=(
            "Send one HTTP/1.1 request over TCP or TLS, record every received byte with its time "
            "(-o FILE saves a capture), and report where the framing ended, how the connection "
            "ended and whether the SSE stream was complete. Options follow curl where they can. "
            "Exit 0 complete, 1 truncated/malformed, 2 usage, 3 connect/DNS/TLS/proxy failure."
        ),
    )
    add_request_options(p)
    _add_capture_options(p)


def add_request_options(p: argparse.ArgumentParser) -> None:
    """URL and the request options ``capture`` shares with ``probe`` (read by :func:`build_options`)."""
    p.add_argument("url", metavar="URL", type=url, help="http:// or https:// URL")
    p.add_argument(
        "-X",
        "--request",
        dest="method",
        type=http_token,
        metavar="METHOD",
        help="request method (default GET, POST with a body)",
    )
    p.add_argument(
        "-H",
        "--header",
        action="append",
        default=[],
        metavar="'Name: value'",
        help="add a request header (repeatable)",
    )
    body = p.add_mutually_exclusive_group()
    body.add_argument(
        "-d", "--data", metavar="DATA", help="request body: text, @file, or @- for stdin"
    )
    body.add_argument(
        "--json-body", metavar="JSON", help="JSON request body; sets Content-Type: application/json"
    )
    p.add_argument(
        "--cacert", type=path, metavar="PEM", help="trust this CA bundle instead of the system's"
    )
    p.add_argument(
        "-k", "--insecure", action="store_true", help="skip TLS certificate verification (warns)"
    )
    p.add_argument(
        "--connect-to",
        metavar="HOST:PORT",
        help="dial HOST:PORT instead, keeping the URL's Host and SNI",
    )
    p.add_argument(
        "-x",
        "--proxy",
        metavar="http://HOST:PORT",
        help="through this HTTP proxy (CONNECT for https://, absolute-form for http://); "
        "default: $https_proxy / $http_proxy / $all_proxy unless $no_proxy lists the host; "
        "'' connects directly",
    )
    p.add_argument(
        "--noproxy",
        metavar="HOSTS",
        help="comma-separated hosts, domains or CIDRs that bypass the environment's proxy "
        "('*' all); replaces $no_proxy",
    )
    p.add_argument(
        "--connect-timeout",
        type=seconds,
        default=30.0,
        metavar="S",
        help="limit for DNS+connect+TLS (default 30; 0 = none)",
    )
    p.add_argument(
        "--idle-timeout",
        type=seconds,
        default=60.0,
        metavar="S",
        help="stop and report 'timeout' after S seconds without a byte (default 60; 0 = never)",
    )
    p.add_argument(
        "--head-timeout",
        type=seconds,
        default=60.0,
        metavar="S",
        help="stop and report 'timeout' if the response head is not complete after S seconds, "
        "however slowly bytes drip in (default 60; 0 = never)",
    )


def _add_capture_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-m",
        "--max-time",
        type=seconds,
        default=None,
        metavar="S",
        help="limit for the whole transfer (default: none, the idle and head timeouts still "
        "apply; 0 = none)",
    )
    p.add_argument(
        "-o",
        "--output",
        type=path,
        metavar="FILE",
        help="save the capture (format v1) to FILE; '-' writes it to stdout (the report goes "
        "to stderr)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="let -o overwrite an existing file (refused by default)",
    )
    p.add_argument(
        "--no-redact",
        action="store_true",
        help="keep credentials (Authorization, cookies, API keys) in the saved capture",
    )
    p.add_argument(
        "--events", action="store_true", help="print each chunk header and SSE event as it arrives"
    )
    p.add_argument(
        "--cross-check",
        action="store_true",
        help="also parse the bytes with h11 and show what h11/httpx conclude",
    )
    p.add_argument(
        "--html",
        type=path,
        metavar="OUT.html",
        help="also write a self-contained HTML report with a timeline",
    )
    add_report_options(p)
    p.set_defaults(func=run)


def _read_data(value: str) -> bytes:
    if value == "@-":
        return sys.stdin.buffer.read()
    if value.startswith("@"):
        try:
            with open(value[1:], "rb") as f:
                return f.read()
        except OSError as exc:
            raise UsageError(
                f"cannot read --data file {value[1:]}: {exc.strerror or exc}"
            ) from None
    return value.encode("utf-8")


def _headers(values: list[str]) -> list[tuple[str, str]]:
    out = []
    for value in values:
        name, sep, rest = value.partition(":")
        if not sep or not name.strip():
            raise UsageError(f"-H wants 'Name: value', got {value!r}")
        if not value.isascii():
            # the request head is sent as ASCII (RFC 9110 §5.5: other octets are obs-text)
            raise UsageError(f"-H {value!r}: header names and values must be ASCII")
        out.append((name.strip(), rest.strip()))
    return out


_HOST = r"(?:\[[0-9A-Fa-f:.%\w]+\]|[^\s:\[\]]+)"
_HOST_PORT = re.compile(rf"({_HOST}):([0-9]+)")
_CURL_CONNECT_TO = re.compile(rf"(?:{_HOST})?:[0-9]*:({_HOST}:[0-9]+)")


def _connect_to(value: str | None) -> str | None:
    if value is None:
        return None
    # curl's HOST1:PORT1:HOST2:PORT2 form, or HOST:PORT; an IPv6 host is bracketed ([::1]:8443)
    match = _CURL_CONNECT_TO.fullmatch(value)
    given = value
    if match:
        value = match.group(1)
    match = _HOST_PORT.fullmatch(value)
    if not match or not 0 < int(match.group(2)) <= 65535:
        raise UsageError(f"--connect-to wants HOST:PORT with a port 1-65535, got {given!r}")
    return value


def _no_constant(name: str) -> Any:
    # json.loads takes NaN, Infinity and -Infinity, which RFC 8259 JSON does not have
    raise ValueError(f"{name} is not JSON (RFC 8259 has no NaN or Infinity)")


def build_options(args: argparse.Namespace) -> dict[str, Any]:
    headers = _headers(args.header)
    body: bytes | None = None
    if args.data is not None:
        body = _read_data(args.data)
        if not any(n.lower() == "content-type" for n, _ in headers):
            headers.append(("Content-Type", "application/x-www-form-urlencoded"))
    elif args.json_body is not None:
        try:
            json.loads(args.json_body, parse_constant=_no_constant)
        except ValueError as exc:
            raise UsageError(f"--json-body is not valid JSON: {exc}") from None
        body = args.json_body.encode("utf-8")
        if not any(n.lower() == "content-type" for n, _ in headers):
            headers.append(("Content-Type", "application/json"))
    method = args.method or ("POST" if body is not None else "GET")
    return {
        "method": method,
        "headers": headers,
        "body": body,
        "cacert": args.cacert,
        "insecure": args.insecure,
        "connect_to": _connect_to(args.connect_to),
        "proxy": args.proxy,
        "no_proxy": getattr(args, "noproxy", None),
        "connect_timeout": args.connect_timeout or None,
        "idle_timeout": args.idle_timeout or None,
        "head_timeout": args.head_timeout or None,
        "max_time": args.max_time,
        "output": args.output,
        "overwrite": getattr(args, "force", False),
        "redact": not args.no_redact,
        "terminal_events": args.terminal_event,
        "profile": getattr(args, "profile", None),
        "cross_check": args.cross_check,
        "live_events": args.events,
    }


def _print_events(out: TextIO) -> Any:
    said_elided = False

    def on_read(analyzer: Any, recorder: Any) -> None:
        nonlocal said_elided
        for event in analyzer.pop_events():
            if isinstance(event, ChunkHeader):
                kind = "last-chunk" if event.size == 0 else f"chunk #{event.index}"
                ext = f" ext={event.ext!r}" if event.ext else ""
                print(
                    f"[{event.t:9.3f}s] @{event.offset:<9} {kind:<12} size {event.size}{ext}",
                    file=out,
                )
            else:
                data = event.data if len(event.data) <= 60 else event.data[:57] + "..."
                print(
                    f"[{event.t:9.3f}s] @{event.offset:<9} event #{event.index:<5} {event.name}: {data!r}"
                    # a content-coded body: SSE offsets count in the decoded stream
                    + (
                        ""
                        if event.received_end is None
                        else f" (decoded; received ..{event.received_end})"
                    ),
                    file=out,
                )
        chunked = analyzer.chunked
        if not said_elided and chunked is not None and analyzer.chunk_count > chunked.kept:
            said_elided = True  # said once, where the listing stops
            print(
                f"[chunkscope] chunk headers after #{chunked.kept - 1} are not listed: "
                f"{chunked.kept} chunk records are kept; later chunks are still checked and "
                "counted (SSE events are still listed)",
                file=out,
            )
        out.flush()

    return on_read


async def _status_line(state: dict[str, Any], stop: Any) -> None:
    start = trio.current_time()
    while not stop.is_set():
        analyzer = state.get("analyzer")
        recorder = state.get("recorder")
        if analyzer is not None and recorder is not None:
            now = trio.current_time() - start
            idle = 0.0 if recorder.last_t is None else max(0.0, recorder.clock() - recorder.last_t)
            sys.stderr.write(
                f"\r\x1b[K{analyzer.received_bytes} B  {analyzer.chunk_count} chunks  "
                f"{analyzer.sse_event_count} events  {now:.1f} s  idle {idle:.1f} s"
            )
            sys.stderr.flush()
        with trio.move_on_after(0.2):
            await stop.wait()
    sys.stderr.write("\r\x1b[K")
    sys.stderr.flush()


def _html_capture(args: argparse.Namespace, kwargs: dict[str, Any]) -> str | None:
    """For --html: the capture file the report's timeline is read from (temporary without -o)."""
    if not getattr(args, "html", None):
        return None
    from .export import check_html_target

    check_html_target(args.html, None)
    if args.output == "-":
        raise UsageError("--html reads the capture back: give -o a file name, not '-'")
    if args.output:
        return str(args.output)
    import tempfile

    folder = tempfile.mkdtemp(prefix="chunkscope-html-")
    kwargs["output"] = os.path.join(folder, "live.capture")
    return folder


def _remove_tree(path: str) -> None:
    import shutil

    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)


def run(args: argparse.Namespace) -> int:
    kwargs = build_options(args)
    html_capture = _html_capture(args, kwargs)
    if args.insecure:
        print(
            "chunkscope: warning: --insecure: the server's TLS certificate is NOT verified",
            file=sys.stderr,
        )
    state: dict[str, Any] = {}
    # With `-o -` stdout carries the capture file and nothing else (as curl -o -).
    out = sys.stderr if args.output == "-" else sys.stdout
    event_out = sys.stderr if args.json else out
    printer = _print_events(event_out) if args.events else None

    def on_read(analyzer: Any, recorder: Any) -> None:
        state["analyzer"] = analyzer
        state["recorder"] = recorder
        if printer is not None:
            printer(analyzer, recorder)

    options = CaptureOptions(url=args.url, on_read=on_read, **kwargs)

    async def main() -> Any:
        stop = trio.Event()
        async with trio.open_nursery() as nursery:
            if sys.stderr.isatty() and not args.events:
                nursery.start_soon(_status_line, state, stop)
            try:
                return await run_capture(options)
            finally:
                stop.set()

    try:
        report = trio.run(main)
    except BaseException:
        if html_capture is not None and not args.output:
            _remove_tree(html_capture)
        raise
    if html_capture is not None:
        from .export import write_html

        try:
            write_html(report, kwargs["output"], args.html, raw=False, args=args)
        finally:
            if not args.output:
                _remove_tree(html_capture)
    if args.json:
        out.write(report.to_json() + "\n")
    else:
        out.write(render_text(report, chunks=args.chunks))
    if args.output == "-":
        print("chunkscope: capture written to stdout", file=sys.stderr)
    elif args.output:
        print(f"chunkscope: capture saved to {args.output}", file=sys.stderr)
    out.flush()
    return report_exit_code(report, args)
