"""The ``chunkscope`` command: ``main(argv) -> exit code``, callable in-process.

Each subcommand lives in its own module exposing ``add_parser(subparsers)``;
the parser it adds sets ``func`` to a ``run(args) -> int``. Only the module of
the command being run is imported, so ``chunkscope analyze`` never pays for
importing trio.

Exit codes (every command): 0 complete, 1 truncated / malformed / no
response, or an SSE stream whose outcome is cut / failed / incomplete (unless
--transport-only), 2 usage error or unreadable input, 3 could not connect (DNS,
connect, TLS, proxy), 4 internal error (a bug: please report it), 130 stopped
by Ctrl-C and 143 by SIGTERM where the command has no verdict to report.
"""

from __future__ import annotations

import argparse
import importlib
import io
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Any

from ..core.errors import CaptureFileError, ChunkscopeError, TransportError, UsageError
from . import STARTUP_HANDLER
from .process import tune_for_streams

if sys.version_info < (3, 11):  # pragma: no cover - trio depends on the backport there
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found, unused-ignore]

__all__ = [
    "EXIT_COMPLETE",
    "EXIT_CONNECT",
    "EXIT_INTERNAL",
    "EXIT_PROBLEM",
    "EXIT_USAGE",
    "add_report_options",
    "add_terminal_event_option",
    "interrupt_name",
    "interrupted_exit_code",
    "main",
    "quiet_stdout",
    "report_exit_code",
    "single_error",
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
    "evidence": "chunkscope.cli.evidence",
}


def add_terminal_event_option(parser: argparse.ArgumentParser) -> None:
    """``--terminal-event NAME``, as every command that judges an SSE stream takes it."""
    from .options import nonempty

    parser.add_argument(
        "--terminal-event",
        action="append",
        type=nonempty,
        default=[],
        metavar="NAME",
        help="SSE event name that ends the application stream (repeatable; "
        "'done', 'message_stop' and data [DONE] are always recognised)",
    )


def add_report_options(parser: argparse.ArgumentParser) -> None:
    """The options every command that prints a report shares."""
    from .options import count

    parser.add_argument(
        "--json", action="store_true", help="print the JSON report (the stable contract)"
    )
    add_terminal_event_option(parser)
    parser.add_argument(
        "--chunks",
        type=count,
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
        "input, 3 connect/DNS/TLS/proxy failure, 4 internal error, 130 Ctrl-C, 143 SIGTERM",
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
        for stream in (sys.stdout, sys.stderr):
            # A file name that is not UTF-8 (its bytes kept as surrogates) is printed back
            # as those bytes, as ls and curl do, rather than failing the command.
            if isinstance(stream, io.TextIOWrapper):
                stream.reconfigure(errors="surrogateescape")
    if argv is None or signal.getsignal(signal.SIGINT) is STARTUP_HANDLER:
        # Start-up's handler (cli/__init__.py) stops the process at once; from here the
        # command stops itself. A shell also starts `chunkscope serve ... &` with SIGINT
        # ignored; trio (and so Ctrl-C, `kill -INT` and SIGTERM, which follows SIGINT's
        # path) only takes over a default handler. The command owns its process: SIGINT
        # stops it, wherever it was started.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    with _signals_stop_the_command():
        return _run_command(args)


def _run_command(args: argparse.Namespace) -> int:
    """Run one command; every exception becomes one line and an exit code."""
    try:
        return int(args.func(args))
    except BaseException as exc:  # the one boundary: sorted out below
        error = single_error(exc)
        if isinstance(error, (SystemExit, GeneratorExit)):
            raise
        return _exit_for(error, exc)


def _exit_for(error: BaseException, original: BaseException) -> int:
    if isinstance(error, (CaptureFileError, UsageError)):
        return _fail(str(error), EXIT_USAGE)
    if isinstance(error, TransportError):
        return _fail(str(error), EXIT_CONNECT)
    if isinstance(error, ChunkscopeError):
        return _fail(str(error), EXIT_USAGE)
    if isinstance(error, BrokenPipeError):
        # stdout closed early (e.g. piped into head): not an error worth a message
        quiet_stdout()
        return EXIT_COMPLETE
    if isinstance(error, KeyboardInterrupt):
        return _fail(f"interrupted ({interrupt_name()})", interrupted_exit_code())
    if isinstance(error, OSError):
        where = f"{error.filename}: " if error.filename else ""
        return _fail(f"{where}{error.strerror or error}", EXIT_USAGE)
    # a bug: one line by default, the traceback on request
    if os.environ.get("CHUNKSCOPE_DEBUG"):
        raise original
    return _fail(
        f"internal error: {type(error).__name__}: {error} (set CHUNKSCOPE_DEBUG=1 for a traceback)",
        EXIT_INTERNAL,
    )


def single_error(exc: BaseException) -> BaseException:
    """The error that matters inside (possibly nested) exception groups.

    trio raises an ``ExceptionGroup`` from every nursery, even for one error:
    a lone error inside is that error. A ``KeyboardInterrupt`` anywhere in
    the group wins (the user asked to stop; the rest is its fallout), and
    trio's ``Cancelled`` leaves are fallout too. Anything else with several
    real errors stays a group (reported as an internal error).
    """
    if not isinstance(exc, BaseExceptionGroup):
        return exc
    leaves = list(_leaves(exc))
    for leaf in leaves:
        if isinstance(leaf, KeyboardInterrupt):
            return leaf
    real = [leaf for leaf in leaves if type(leaf).__name__ != "Cancelled"]
    if len(real) == 1:
        return real[0]
    distinct = {(type(e), str(e)) for e in real}
    return real[0] if len(distinct) == 1 else exc


def _leaves(group: BaseExceptionGroup[BaseException]) -> Iterator[BaseException]:
    for inner in group.exceptions:
        if isinstance(inner, BaseExceptionGroup):
            yield from _leaves(inner)
        else:
            yield inner


def quiet_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush to a closed pipe is silent."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


# -- signals ------------------------------------------------------------------
#
# SIGTERM (what `kill`, systemd, docker stop and CI runners send) stops a
# command exactly as Ctrl-C does: the handler hands the signal to whatever
# handles SIGINT at that moment -- trio's own handler inside trio.run, which
# delivers KeyboardInterrupt where it is safe, or Python's default, which
# raises it. So every command, including ones added later, gets one way to
# stop: a capture keeps every byte and reports `interrupted`, a server
# prints its summary, and the exit code says which signal it was.

_interrupted_by: list[int] = []


def interrupt_name() -> str:
    """``"SIGTERM"`` if SIGTERM stopped the command, else ``"Ctrl-C"``."""
    return "SIGTERM" if _interrupted_by and _interrupted_by[-1] == signal.SIGTERM else "Ctrl-C"


def interrupted_exit_code() -> int:
    """The exit code of a command stopped by a signal: 128 + its number (130 Ctrl-C, 143 SIGTERM)."""
    return 128 + (_interrupted_by[-1] if _interrupted_by else int(signal.SIGINT))


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    _interrupted_by.append(signum)
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)  # trio's handler inside trio.run: KI delivered safely
    else:  # SIGINT ignored by an in-process host: SIGTERM still stops the command
        raise KeyboardInterrupt


@contextmanager
def _signals_stop_the_command() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    _interrupted_by.clear()
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _fail(message: str, code: int) -> int:
    print(f"chunkscope: error: {message}", file=sys.stderr)
    return code
