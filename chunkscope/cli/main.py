"""The ``chunkscope`` command: ``main(argv) -> exit code``, callable in-process.

Each subcommand lives in its own module exposing ``add_parser(subparsers)``;
the parser it adds sets ``func`` to a ``run(args) -> int``. Only the module of
the command being run is imported, so ``chunkscope analyze`` never pays for
importing trio.

Exit codes (every command): 0 complete, 1 truncated / malformed / no
response, or an SSE stream whose outcome is cut / failed / incomplete (unless
--transport-only), 2 usage error or unreadable input, 3 could not connect (DNS,
connect, TLS, proxy), 4 internal error (a bug: please report it).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

from ..core.errors import CaptureFileError, ChunkscopeError, TransportError, UsageError
from .process import tune_for_streams

__all__ = [
    "EXIT_COMPLETE",
    "EXIT_CONNECT",
    "EXIT_INTERNAL",
    "EXIT_PROBLEM",
    "EXIT_USAGE",
    "add_report_options",
    "main",
    "report_exit_code",
]

EXIT_COMPLETE = 0
EXIT_PROBLEM = 1
EXIT_USAGE = 2
EXIT_CONNECT = 3
EXIT_INTERNAL = 4

# command name -> module that defines it
_COMMANDS = {
    "analyze": "chunkscope.cli.analyze",
    "capture": "chunkscope.cli.capture",
    "serve": "chunkscope.cli.serve",
    "demo": "chunkscope.cli.serve",
    "probe": "chunkscope.cli.probe",
    "export": "chunkscope.cli.export",
    "tap": "chunkscope.cli.tap",
}


def add_report_options(parser: argparse.ArgumentParser) -> None:
    """The options every command that prints a report shares."""
    parser.add_argument(
        "--json", action="store_true", help="print the JSON report (the stable contract)"
    )
    parser.add_argument(
        "--terminal-event",
        action="append",
        default=[],
        metavar="NAME",
        help="SSE event name that ends the application stream (repeatable; "
        "'done', 'message_stop' and data [DONE] are always recognised)",
    )
    parser.add_argument(
        "--chunks",
        type=int,
        default=0,
        metavar="N",
        help="list up to N chunk records in the text report",
    )
    from ..core.profiles import PROFILES

    parser.add_argument(
        "--profile",
        choices=list(PROFILES),
        default=None,
        help="provider profile whose terminal events judge the SSE stream (default: detected "
        "from the events and the request path)",
    )
    parser.add_argument(
        "--transport-only",
        action="store_true",
        help="exit codes from the HTTP framing alone: a framing-complete response exits 0 even "
        "when the application stream was cut, failed or incomplete",
    )


def report_exit_code(report: Any, args: argparse.Namespace) -> int:
    """The exit code for ``report``: framing and application stream, or with
    ``--transport-only`` the framing alone."""
    if getattr(args, "transport_only", False):
        return int(report.transport_exit_code)
    return int(report.exit_code)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    from .._version import __version__

    parser = _Parser(
        prog="chunkscope",
        description=(
            "Byte-exact HTTP/1.1 stream analyzer: where a chunked or SSE response stopped, "
            "how the connection ended, and whether the application stream was complete."
        ),
        epilog="exit codes: 0 complete, 1 truncated/malformed/no response or an SSE stream cut, "
        "failed or incomplete (see --transport-only), 2 usage or unreadable "
        "input, 3 connect/DNS/TLS/proxy failure, 4 internal error",
    )
    parser.add_argument("--version", action="version", version=f"chunkscope {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    modules = [_COMMANDS[only]] if only else list(dict.fromkeys(_COMMANDS.values()))
    for name in modules:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (never raises for expected failures).

    Without ``argv`` this is the ``chunkscope`` command itself (the console
    script, ``python -m chunkscope``), which owns its process and tunes it for
    long streams once the command's modules are imported (see ``_process``);
    with ``argv``, called in-process, it leaves its host process as it found it.
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    first = next((a for a in args_list if not a.startswith("-")), None)
    only = first if first in _COMMANDS else None
    try:
        parser = build_parser(only)
        args = parser.parse_args(args_list)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    if argv is None:
        tune_for_streams()
    try:
        return int(args.func(args))
    except (CaptureFileError, UsageError) as exc:
        return _fail(str(exc), EXIT_USAGE)
    except TransportError as exc:
        return _fail(str(exc), EXIT_CONNECT)
    except ChunkscopeError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except BrokenPipeError:
        # stdout closed early (e.g. piped into head): not an error worth a message
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_COMPLETE
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except OSError as exc:
        return _fail(
            f"{exc.filename or ''}{': ' if exc.filename else ''}{exc.strerror or exc}", EXIT_USAGE
        )
    except Exception as exc:  # a bug: one line by default, the traceback on request
        if os.environ.get("CHUNKSCOPE_DEBUG"):
            raise
        return _fail(
            f"internal error: {type(exc).__name__}: {exc} (set CHUNKSCOPE_DEBUG=1 for a traceback)",
            EXIT_INTERNAL,
        )


def _fail(message: str, code: int) -> int:
    print(f"chunkscope: error: {message}", file=sys.stderr)
    return code
