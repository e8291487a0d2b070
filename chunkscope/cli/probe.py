"""``chunkscope probe URL -n N``: how often, and how, a stream ends, over many requests."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from typing import Any

import trio

from ..core.errors import UsageError
from ..net.client import CaptureOptions
from ..net.probe import KEEP_CHOICES, STOP_GRACE, Probe, ProbeOptions, ProbeProgress
from .capture import add_request_options, build_options
from .main import EXIT_CONNECT, add_terminal_event_option
from .options import path, seconds
from .summarize import render_summary

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "probe",
        help="send a request N times and summarise how the streams ended",
        description=(
            "Send N copies of one request (at most C at a time, at most R a second), capture "
            "each exactly as `capture` does, and summarise: outcome rows with counts, 95 % "
            "intervals and an example capture, distributions, clusters (idle timeouts), and the "
            "request ids of the failed streams. Exit 0 every stream complete on both axes, 1 any "
            "not, 2 usage, 3 every request failed to connect."
        ),
    )
    add_request_options(p)
    p.add_argument(
        "-n",
        "--requests",
        dest="count",
        type=int,
        required=True,
        metavar="N",
        help="how many requests to send (required)",
    )
    p.add_argument(
        "-c",
        "--concurrency",
        type=int,
        default=1,
        metavar="C",
        help="at most C streams at a time (default 1)",
    )
    p.add_argument(
        "--rate",
        type=float,
        default=None,
        metavar="R",
        help="at most R request starts per second (default: no limit)",
    )
    p.add_argument(
        "-m",
        "--max-time",
        dest="probe_max_time",
        type=float,
        default=None,
        metavar="S",
        help="limit for the whole probe: stop sending and end running streams after S seconds",
    )
    p.add_argument(
        "--stream-max-time",
        type=seconds,
        default=None,
        metavar="S",
        help="limit for each stream (capture's --max-time)",
    )
    p.add_argument(
        "--dir",
        dest="directory",
        type=path,
        metavar="DIR",
        help="save each stream's capture in DIR (stream-0001.capture ...)",
    )
    p.add_argument(
        "--keep",
        choices=KEEP_CHOICES,
        default="failed",
        help="with --dir: which captures to keep (default: failed)",
    )
    p.add_argument(
        "--no-redact",
        action="store_true",
        help="keep credentials (Authorization, cookies, API keys) in the saved captures",
    )
    p.add_argument(
        "--json", action="store_true", help="print the summary as JSON (the stable contract)"
    )
    add_terminal_event_option(p)
    p.set_defaults(func=run)


def _status(progress: ProbeProgress) -> str:
    eta = progress.eta()
    tail = "ETA -" if eta is None else f"ETA {eta:.0f} s"
    if progress.stopped is not None:
        tail = f"stopping ({progress.stopped})"
    return (
        f"\r\x1b[K{progress.done}/{progress.count} done  {progress.running} running  "
        f"{progress.failed} failed  {progress.rate():.1f}/s  {tail}"
    )


async def _status_line(probe: Probe, stop: trio.Event) -> None:
    while not stop.is_set():
        sys.stderr.write(_status(probe.progress))
        sys.stderr.flush()
        with trio.move_on_after(0.2):
            await stop.wait()
    sys.stderr.write("\r\x1b[K")
    sys.stderr.flush()


async def _on_sigint(probe: Probe) -> None:
    with trio.open_signal_receiver(signal.SIGINT) as signals:
        async for _ in signals:
            if probe.progress.stopped is None:
                print(
                    f"\r\x1b[Kchunkscope: interrupted: no more requests; waiting up to "
                    f"{probe.options.grace:g} s for {probe.progress.running} running "
                    "(Ctrl-C again: stop now)",
                    file=sys.stderr,
                )
                probe.stop("interrupted")
            else:
                probe.abort()


def run(args: argparse.Namespace) -> int:
    # capture's option builder reads these; a probe never uses them
    args.output, args.events, args.cross_check = None, False, False
    per_stream_limit = args.stream_max_time
    args.max_time = None
    kwargs = build_options(args)
    kwargs["max_time"] = per_stream_limit
    if args.insecure:
        print(
            "chunkscope: warning: --insecure: the server's TLS certificate is NOT verified",
            file=sys.stderr,
        )
    options = ProbeOptions(
        capture=CaptureOptions(url=args.url, **kwargs),
        count=args.count,
        concurrency=args.concurrency,
        rate=args.rate,
        max_time=args.probe_max_time,
        directory=args.directory,
        keep=args.keep,
        grace=STOP_GRACE,
    )
    if args.directory is None and args.keep != "failed":
        raise UsageError("--keep needs --dir DIR")
    probe = Probe(options)

    async def main() -> None:
        stop = trio.Event()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_on_sigint, probe)
            if sys.stderr.isatty():
                nursery.start_soon(_status_line, probe, stop)
            try:
                await probe.run()
            finally:
                stop.set()
                nursery.cancel_scope.cancel()

    trio.run(main)  # the command boundary (cli/main.py) unwraps trio's exception groups
    progress = probe.progress
    data = probe.summary.to_dict()
    data["probe"] = {
        "url": args.url,
        "requested": args.count,
        "started": progress.started,
        "unfinished": progress.unfinished,
        "concurrency": args.concurrency,
        "rate": args.rate,
        "max_time": args.probe_max_time,
        "elapsed": round(progress.elapsed, 6),
        "stopped": progress.stopped,
        "directory": args.directory,
        "keep": args.keep if args.directory else None,
    }
    summary = probe.summary
    if args.json:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    elif summary.exit_code != EXIT_CONNECT:
        sys.stdout.write(render_summary(data, heading=_heading(data["probe"])))
    sys.stdout.flush()
    if summary.streams and summary.exit_code == EXIT_CONNECT:
        reasons = {e["reason"] for r in data["rows"] for e in r.get("errors") or ()}
        print(
            f"chunkscope: error: all {summary.streams} requests failed to connect: "
            f"{'; '.join(sorted(reasons)) or 'no connection'}",
            file=sys.stderr,
        )
    return summary.exit_code


def _heading(probe: dict[str, Any]) -> str:
    parts = [
        f"probe of {probe['url']}: {probe['started']} of {probe['requested']} requests sent "
        f"in {probe['elapsed']:.1f} s, -c {probe['concurrency']}"
    ]
    if probe["rate"]:
        parts.append(f"--rate {probe['rate']:g}")
    if probe["stopped"]:
        parts.append(f"stopped: {probe['stopped']}")
    if probe["unfinished"]:
        parts.append(f"{probe['unfinished']} still running at the stop (not counted)")
    return ", ".join(parts)
