"""Process-wide settings of the ``chunkscope`` command; the library never applies them.

Theory of operation
-------------------
At full speed a capture moves reads of up to 1 MiB through a few
short-lived buffers of that size: the read's plaintext, its JSON-escaped
pieces, the decrypted records joined into one read. glibc's malloc gives
the top of its heap back to the kernel whenever more than twice its largest
recently freed ``mmap`` block lies free there, which with this pattern is
after nearly every read; the next read faults every page back in, zeroed by
the kernel. Measured on a 256 MiB loopback TLS capture with ``-o``:
26-33 thousand page faults and about 40 ms of a 0.46 s run; with the
thresholds below, 6.5 thousand faults (as many as start-up and the
interpreter need) and 0.42 s.

Fixed thresholds keep blocks up to ``MMAP_THRESHOLD`` in the heap and let
``TRIM_THRESHOLD`` of it stay free between reads, so memory stays bounded
(peak RSS of a whole-process 1 GiB capture: 50-59 MiB).

Start-up leaves some 25 thousand long-lived container objects (trio, h11, the
standard library) that every collection of the oldest generation walks
again; frozen once the command's modules are imported, they are left out
of all collections (measured: about 10 ms of a 0.4 s whole-process capture).
Making them is not collected either: the command starts with collection off
(cli/__init__.py), saving 40-odd young collections, 13-18 ms, and turns it
back on here.

A command owns its process; a library call (``chunkscope.capture`` in a
test, ``main(argv)`` called in-process) does not, and must leave its host's
allocator and garbage collector alone. So only :func:`chunkscope.cli.main.main`
run as the command line calls :func:`tune_for_streams`.
"""

from __future__ import annotations

import gc
import os

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "tune_for_streams"]

MMAP_THRESHOLD = 4 << 20  # above every per-read buffer (reads are at most 1 MiB)
TRIM_THRESHOLD = 16 << 20  # free heap kept for the next reads

# mallopt() parameters, from glibc's <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def _glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") is not None
    except (AttributeError, ValueError, OSError):  # not Unix, or not glibc
        return False


def tune_for_streams() -> bool:
    """Tune this process for long streams; returns whether malloc took the thresholds.

    Freezes start-up's objects out of garbage collection and, with glibc,
    keeps per-read buffers in the heap. Call it once the command's modules
    are imported, before its long-running part.
    """
    gc.freeze()
    gc.enable()  # off since start-up (cli/__init__.py): nothing collected while importing
    if not _glibc():
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success; setting either also stops glibc's dynamic thresholds.
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
