"""Process-wide tuning belongs to the chunkscope command, never to a host that calls it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chunkscope.cli import main as _cli

FIXTURE = str(Path(__file__).resolve().parents[2] / "fixtures" / "assistants-complete.capture")


def glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") is not None
    except (AttributeError, ValueError, OSError):
        return False


def test_tuning_takes_effect_where_the_c_library_is_glibc() -> None:
    code = "from chunkscope.cli.process import tune_for_streams; print(tune_for_streams())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(glibc())


def test_only_the_command_line_itself_tunes_its_process(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[None] = []
    monkeypatch.setattr(_cli, "tune_for_streams", lambda: calls.append(None))
    assert _cli.main(["analyze", FIXTURE]) == 0  # a host calling main(argv): left alone
    assert calls == []
    monkeypatch.setattr(sys, "argv", ["chunkscope", "analyze", FIXTURE])
    assert _cli.main() == 0  # the console script and python -m chunkscope
    assert calls == [None]
    capsys.readouterr()


def test_the_command_collects_nothing_while_starting_and_everything_after(tmp_path: Path) -> None:
    # A script named chunkscope is the command as far as start-up can tell (cli/__init__.py).
    script = tmp_path / "chunkscope"
    script.write_text(
        "import gc, sys\n"
        "from chunkscope.cli import main as m\n"
        "print('starting, collecting:', gc.isenabled())\n"
        "run = m._run_command\n"
        "def running(args):\n"
        "    print('running, collecting:', gc.isenabled(), 'frozen:', gc.get_freeze_count() > 0)\n"
        "    return run(args)\n"
        "m._run_command = running\n"
        "sys.exit(m.main())\n"
    )
    out = subprocess.run(
        [sys.executable, str(script), "analyze", FIXTURE], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[:2] == ["starting, collecting: False", "running, collecting: True frozen: True"]
    library = "import gc, chunkscope, chunkscope.cli.main; print(gc.isenabled())"
    out = subprocess.run([sys.executable, "-c", library], capture_output=True, text=True)
    assert out.stdout.strip() == "True"  # importing the library leaves its host's collector alone
