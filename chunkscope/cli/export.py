"""``chunkscope export``: captures as HAR 1.2 (browser devtools) and pcapng (Wireshark)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import IO, Any

from ..core.errors import CaptureFileError, UsageError
from ..formats.output_file import output_file
from .main import add_terminal_event_option
from .options import path

__all__ = ["add_parser", "captures_in", "display_name", "run"]


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "export",
        help="export captures as HAR 1.2 and/or pcapng",
        description=(
            "Export a capture file, or every *.capture file in a directory, as a HAR 1.2 archive "
            "(one entry per capture, with chunkscope's _chunks, _eventSourceMessages, _ending and "
            "response._error fields) and/or a pcapng file of synthetic TCP packets carrying the "
            "plaintext exchange at the recorded times (tshark -r OUT.pcapng -Y http). "
            "Exit 0 exported, 2 usage or unreadable input."
        ),
    )
    p.add_argument("source", metavar="FILE|DIR", help="a capture file, or a directory of *.capture")
    p.add_argument(
        "--har", type=path, metavar="OUT.har", help="write a HAR 1.2 archive ('-' for stdout)"
    )
    p.add_argument(
        "--pcapng", type=path, metavar="OUT.pcapng", help="write a pcapng file ('-' for stdout)"
    )
    add_terminal_event_option(p)
    p.set_defaults(func=run)


def captures_in(source: str) -> list[str]:
    """``source`` itself, or the ``*.capture`` files of a directory in name order."""
    if os.path.isdir(source):
        found = sorted(
            os.path.join(source, name)
            for name in os.listdir(source)
            if name.endswith(".capture") and os.path.isfile(os.path.join(source, name))
        )
        if not found:
            raise CaptureFileError(source, None, "the directory holds no *.capture files")
        return found
    if not os.path.exists(source):
        raise CaptureFileError(source, None, "no such file or directory")
    try:
        with open(source, "rb") as f:
            raw = f.read(5) == b"HTTP/"
    except OSError as exc:
        raise CaptureFileError(source, None, exc.strerror or str(exc)) from None
    if raw:
        raise CaptureFileError(
            source,
            None,
            "raw server bytes carry no request, times or addresses; export reads capture files "
            "(chunkscope capture URL -o FILE)",
        )
    return [source]


def _writable(path: str) -> None:
    if path == "-":
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"cannot write {path}: no such directory {folder}")
    if os.path.isdir(path):
        raise UsageError(f"cannot write {path}: it is a directory")


def _write(path: str, binary: bool, fill: Any) -> None:
    """Write to ``path`` through a temporary file renamed at the end (or to stdout).

    Only a regular file (or a new name) is replaced that way: renaming over a device, a FIFO
    or a symlink such as ``/dev/stdout`` would replace the node itself (as root, even
    ``/dev/full``) and say the output was written. Those are written in place, so a full
    device is an error. Any failure is one line naming ``path`` (exit 2).
    """
    if path == "-":
        stream: IO[Any] = sys.stdout.buffer if binary else sys.stdout
        fill(stream)
        stream.flush()
        return
    try:
        with output_file(path, binary=binary) as f:
            fill(f)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def run(args: argparse.Namespace) -> int:
    if not args.har and not args.pcapng:
        raise UsageError("export needs --har OUT.har and/or --pcapng OUT.pcapng")
    if args.har == "-" and args.pcapng == "-":
        raise UsageError("--har and --pcapng cannot both write to stdout")
    for out in (args.har, args.pcapng):
        if out:
            _writable(out)
    paths = captures_in(args.source)
    if args.har:
        from ..formats.har import write_har

        _write(
            args.har,
            False,
            lambda f: write_har(paths, f, terminal_events=args.terminal_event),
        )
        if args.har != "-":
            print(f"chunkscope: {len(paths)} entries written to {args.har}", file=sys.stderr)
    if args.pcapng:
        from ..formats.pcapng import write_pcapng

        frames: list[int] = []
        _write(args.pcapng, True, lambda f: frames.append(write_pcapng(paths, f)))
        if args.pcapng != "-":
            print(
                f"chunkscope: {frames[0]} packets ({len(paths)} "
                f"connection{'' if len(paths) == 1 else 's'}) written to {args.pcapng}",
                file=sys.stderr,
            )
    return 0


def display_name(name: str) -> str:
    """``name`` as text that encodes: a non-UTF-8 file name's bytes become U+FFFD."""
    return os.fsencode(name).decode("utf-8", "replace")


def check_html_target(output: str, source: str | None) -> None:
    """Refuse, before any work, an HTML output that cannot be written or re-read input."""
    if output == "-":
        raise UsageError("--html needs a file name (the report is a whole page, not a stream)")
    if source == "-":
        raise UsageError("--html needs the input as a file: stdin cannot be read twice")
    _writable(output)


def write_html(
    report: Any, source: str, output: str, *, raw: bool, args: argparse.Namespace
) -> None:
    """The HTML report of ``report`` (from ``source``) to ``output``, with a note on stderr."""
    # formats.html.write_html_report renames a temporary file over ``output``; the CLI
    # renders the page itself and writes it with _write, which never replaces a device
    # or symlink, and says so when the disk is full.
    from ..formats.html import render_html
    from ..formats.timeline import collect_timeline

    timeline = collect_timeline(
        source,
        raw=raw,
        method=getattr(args, "method", None) or "GET",
        terminal_events=getattr(args, "terminal_event", ()),
        max_chunks_kept=getattr(args, "max_chunks_kept", 100_000),
    )
    page = render_html(report, timeline, source=display_name(source))
    _write(output, False, lambda f: f.write(page))
    print(f"chunkscope: HTML report written to {output}", file=sys.stderr)
