"""The one error boundary of every command (cli/main.py), in-process."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable

import pytest
import trio

from chunkscope import CaptureFileError, TransportError, UsageError
from chunkscope.cli import main as cli_main
from chunkscope.cli.main import main, single_error

if sys.version_info < (3, 11):
    from exceptiongroup import BaseExceptionGroup, ExceptionGroup


def _raising(exc: BaseException) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        raise exc

    return run


async def _nursery_raising(exc: BaseException) -> None:
    async def fail() -> None:
        raise exc

    async with trio.open_nursery() as nursery:
        nursery.start_soon(fail)
        nursery.start_soon(trio.sleep_forever)


@pytest.mark.parametrize(
    ("exc", "code", "line"),
    [
        (UsageError("bad option"), 2, "chunkscope: error: bad option"),
        (CaptureFileError("x.capture", 3, "invalid JSON"), 2, "x.capture:3: invalid JSON"),
        (TransportError("connect", "h:1", "refused"), 3, "connect error for h:1: refused"),
        (KeyboardInterrupt(), 130, "chunkscope: error: interrupted (Ctrl-C)"),
        (FileNotFoundError(2, "No such file or directory", "/x/y"), 2, "/x/y: No such file"),
        (RuntimeError("boom"), 4, "internal error: RuntimeError: boom"),
    ],
)
def test_errors_inside_trio_nurseries_are_unwrapped(
    exc: BaseException, code: int, line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    def run(args: argparse.Namespace) -> int:
        trio.run(_nursery_raising, exc)
        return 0

    assert cli_main._run_command(argparse.Namespace(func=run)) == code
    err = capsys.readouterr().err
    assert line in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_single_error_rules() -> None:
    usage = UsageError("x")
    assert single_error(ExceptionGroup("g", [usage])) is usage
    assert single_error(ExceptionGroup("g", [ExceptionGroup("h", [usage])])) is usage
    ki = KeyboardInterrupt()
    assert single_error(BaseExceptionGroup("g", [ValueError("fallout"), ki])) is ki
    two = ExceptionGroup("g", [ValueError("a"), TypeError("b")])
    assert single_error(two) is two  # several real errors: not one line's worth


def test_a_broken_pipe_is_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main._run_command(argparse.Namespace(func=_raising(BrokenPipeError()))) == 0
    assert capsys.readouterr().err == ""


def test_sigterm_handler_is_restored_after_an_in_process_run(tmp_path: object) -> None:
    before = signal.getsignal(signal.SIGTERM)
    assert main(["analyze", "--chunks", "-1", "x"]) == 2
    assert main(["analyze", "/no/such/file"]) == 2
    assert signal.getsignal(signal.SIGTERM) == before
