"""Writing a whole output file (a report, a HAR, a pcapng) so that no reader sees half of it.

A regular file, or a new name, is written to a temporary file beside it and
renamed over it at the end. A device, a FIFO or a symlink (``/dev/stdout``,
``/dev/full``, a named pipe) is written in place instead: renaming over it
would replace the node itself (as root, even ``/dev/full``) and report
success, and a full device must be an error.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

__all__ = ["output_file"]


@contextmanager
def output_file(path: str | os.PathLike[str], *, binary: bool) -> Iterator[IO[Any]]:
    """Open ``path`` to write a whole output; it takes its place when the block ends without error.

    Text is UTF-8, with ``surrogateescape`` (bytes carried as surrogates come
    back as they were). An exception leaves ``path`` as it was and no
    temporary file behind.
    """
    out = os.fspath(path)
    in_place = os.path.lexists(out) and (os.path.islink(out) or not os.path.isfile(out))
    target = out if in_place else f"{out}.tmp{os.getpid()}"
    try:
        with open(target, "wb") as f:
            if binary:
                yield f
            else:
                with io.TextIOWrapper(f, encoding="utf-8", errors="surrogateescape") as text:
                    yield text
        if not in_place:
            os.replace(target, out)
    finally:
        if not in_place and os.path.lexists(target):
            os.unlink(target)
