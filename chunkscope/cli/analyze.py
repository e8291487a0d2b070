"""``chunkscope analyze``: diagnose a capture file or a file of raw server bytes."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ..core.analyzer import Analyzer
from ..core.errors import CaptureFileError, UsageError
from ..core.preamble import find_connect_preamble
from ..core.report import CloseKind, Report
from ..formats.analysis import analyze_capture
from .main import add_report_options, quiet_stdout, report_exit_code
from .options import count, http_token, path, size
from .render import render_text

__all__ = ["add_parser", "run"]

_READ_SIZE = 1 << 20


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "analyze",
        help="diagnose a capture file or raw server bytes",
        description=(
            "Diagnose one HTTP/1.1 response from a chunkscope capture file, or with --raw from a "
            "file of the exact bytes the server sent (e.g. `curl --raw -s -i URL > out.raw`, or "
            "a netcat dump). Exit 0 complete, 1 truncated/malformed, 2 unreadable input."
        ),
    )
    p.add_argument(
        "file", metavar="FILE", help="capture file, or raw server bytes with --raw ('-' for stdin)"
    )
    p.add_argument(
        "more",
        nargs="*",
        metavar="PATH",
        help="more capture files or directories: print the summary over all of them",
    )
    p.add_argument("--raw", action="store_true", help="FILE holds raw server bytes (no timestamps)")
    p.add_argument(
        "--method",
        type=http_token,
        help="request method for --raw input (default GET; HEAD responses have no body)",
    )
    p.add_argument(
        "--close",
        choices=[k.value for k in CloseKind],
        help="how the connection ended, for --raw input (default: unknown; a capture file "
        "records its own ending)",
    )
    p.add_argument(
        "--max-chunks-kept",
        type=count,
        default=100_000,
        metavar="N",
        help="chunk records kept for the report (later chunks are checked and counted only)",
    )
    p.add_argument(
        "--max-chunk-size",
        type=size,
        default=2**62,
        metavar="BYTES",
        help="largest chunk size accepted",
    )
    p.add_argument(
        "--html",
        type=path,
        metavar="OUT.html",
        help="also write a self-contained HTML report with a timeline (no network needed to view it)",
    )
    add_report_options(p)
    p.set_defaults(func=run)


def analyze_raw_file(path: str, args: argparse.Namespace) -> Report:
    try:
        return _analyze_raw_file(path, args)
    except OSError as exc:  # a read error says which file (an EIO names none)
        raise CaptureFileError(path, None, exc.strerror or str(exc)) from None


def _analyze_raw_file(path: str, args: argparse.Namespace) -> Report:
    stream = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
    with stream:
        data = stream.read(_READ_SIZE)
        # curl -i -x PROXY prints the proxy's answer to CONNECT before the response
        preamble = find_connect_preamble(data)
        if preamble:
            print(
                f"chunkscope: note: skipped {len(preamble)} proxy CONNECT answer(s) "
                f"({preamble[0][2]!r}) before the response at byte {preamble[-1][1]}",
                file=sys.stderr,
            )
        analyzer = Analyzer(
            request_method=args.method or "GET",
            terminal_events=args.terminal_event,
            max_chunks_kept=args.max_chunks_kept,
            max_chunk_size=args.max_chunk_size,
            profile=args.profile,
            preamble=preamble,
        )
        while data:
            analyzer.feed(data, 0.0)
            data = stream.read(_READ_SIZE)
    return analyzer.close(args.close or "unknown", None, None)


def _looks_raw(path: str) -> bool:
    if path == "-":
        return False
    try:
        with open(path, "rb") as f:
            return f.read(5) == b"HTTP/"
    except OSError:
        return False  # the capture reader says what is wrong with it


def _first_bytes(path: str) -> bytes:
    if path == "-":
        return b""
    try:
        with open(path, "rb") as f:
            return f.read(8)
    except OSError:
        return b""  # the reader says what is wrong with it


def _is_empty(path: str) -> bool:
    try:
        return os.path.getsize(path) == 0 and os.path.isfile(path)
    except OSError:
        return False  # the reader says what is wrong with it


def run(args: argparse.Namespace) -> int:
    if getattr(args, "more", None) or os.path.isdir(args.file):
        if getattr(args, "html", None):
            raise UsageError(
                "--html reports one stream: give one capture file, not several or a directory"
            )
        from .summarize import run_paths  # more than one path or a directory: the summary

        return run_paths(args, [args.file, *args.more])
    if getattr(args, "html", None):
        from .export import check_html_target

        check_html_target(args.html, args.file)
    raw = args.raw or _looks_raw(args.file)
    if not args.raw and args.file != "-" and _is_empty(args.file):
        raise CaptureFileError(
            args.file,
            None,
            "the file is empty (not a capture file); if the server sent nothing, say --raw",
        )
    if not raw:
        # A capture file records its request and its ending: options for raw
        # bytes would contradict what was observed.
        for option, value in (("--close", args.close), ("--method", args.method)):
            if value is not None:
                raise UsageError(
                    f"{option} applies to --raw input only: {args.file} is a capture file, "
                    "which records its own request and how its connection ended"
                )
    if raw:
        first = _first_bytes(args.file)
        if first and not (first.startswith(b"HTTP/") or b"HTTP/".startswith(first)):
            print(
                f"chunkscope: note: {args.file} does not start like an HTTP response "
                f"(its first bytes are {first!r}, not b'HTTP/')",
                file=sys.stderr,
            )
        report = analyze_raw_file(args.file, args)
        if not args.raw:
            print(
                "chunkscope: note: FILE holds raw server bytes; analyzing as --raw", file=sys.stderr
            )
    else:
        if args.file == "-":
            raise CaptureFileError(
                "-", None, "capture files are read from a path; use --raw for stdin"
            )
        report = analyze_capture(
            args.file,
            terminal_events=args.terminal_event,
            max_chunks_kept=args.max_chunks_kept,
            max_chunk_size=args.max_chunk_size,
            profile=args.profile,
        )
    if getattr(args, "html", None):
        from .export import write_html

        write_html(report, args.file, args.html, raw=raw, args=args)
    code = report_exit_code(report, args)
    try:
        if args.json:
            sys.stdout.write(report.to_json() + "\n")
        else:
            sys.stdout.write(render_text(report, chunks=args.chunks))
        sys.stdout.flush()
    except BrokenPipeError:
        # `analyze F | head -1`: the reader left; the verdict is known, so is the exit code
        quiet_stdout()
    return code
