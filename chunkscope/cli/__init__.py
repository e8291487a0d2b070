"""The command line: one module per command, the text renderer and process tuning.

May import every layer below it (``core``, ``formats``, ``net``); nothing below imports it.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
from types import FrameType

# Start-up: a Ctrl-C or SIGTERM that arrives while the ``chunkscope`` command is still
# importing its modules (trio alone takes a few hundred milliseconds on a loaded machine)
# would be a KeyboardInterrupt traceback or a silent death by SIGTERM. Nothing has been
# opened or written yet, so the command stops at once with its one line and its code;
# ``main()`` hands both signals to the command's own handling once it runs. This package is
# imported by ``import chunkscope`` too: the handlers are set only when this process is the
# ``chunkscope`` command itself (the console script or ``python -m chunkscope``).
#
# The command also starts with garbage collection off: importing trio, h11 and chunkscope
# makes tens of thousands of objects, none of them garbage, and 40-odd young-generation
# collections over them cost 13-18 ms of a 0.3 s start-up here. ``tune_for_streams``
# (cli/process.py) freezes what start-up made and turns collection back on before the
# command does its work.


def _is_the_command() -> bool:
    argv: list[str] = list(getattr(sys, "orig_argv", ()))
    words = iter(argv[1:])
    for word in words:
        if word == "-m":
            return next(words, None) == "chunkscope"
        if word in ("-X", "-W"):
            next(words, None)  # the option's value
        elif word in ("-c", "-") or not word.startswith("-"):
            return os.path.basename(word) == "chunkscope"
    return False


def _stopped_while_starting(signum: int, frame: FrameType | None) -> None:
    name = "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C"
    os.write(2, f"chunkscope: error: interrupted ({name}) while starting\n".encode())
    os._exit(128 + signum)


STARTUP_HANDLER = _stopped_while_starting
if _is_the_command():
    gc.disable()
    signal.signal(signal.SIGINT, _stopped_while_starting)
    signal.signal(signal.SIGTERM, _stopped_while_starting)
