"""Handing a growing file's written pages back to the kernel, from a thread of its own.

Theory of operation
-------------------
A capture is written once and not read back while it grows. Left alone, a
long one fills the page cache with dirty pages, and where the machine is a
VM that returns free memory to its host every fresh page-cache page costs a
host fault (measured: plain writes 550-800 MB/s, writes that recycle their
pages 3.5-4 GB/s; a 2 GiB capture took 4.1-5.9 s without release, 2.5 s
with it).

Every ``window`` bytes, ``posix_fadvise(POSIX_FADV_DONTNEED)`` over what
was written since the last release but one starts writeback of the newest
window without waiting for it, and drops the window before, written back by
now; pages still dirty are left alone, so nothing blocks on the disk and
nothing is lost.

The call does the writeback's work (block allocation, building the I/O) in
the calling thread, about 40 ms per 256 MiB here. In a thread of its own it
runs beside the writer: ``posix_fadvise`` releases the GIL, and the writer
only publishes its byte count. Requests coalesce: however far the writer
has gone, the thread releases up to the latest count, so a slow disk costs
no memory. The writer's data never waits for this thread; :meth:`close`
does, once, so the file descriptor is not closed under it.
"""

from __future__ import annotations

import os
import stat
import threading

__all__ = ["PageCacheReleaser", "can_release"]


def can_release(fd: int) -> bool:
    """Whether ``fd`` is a regular file whose page cache can be handed back."""
    if not hasattr(os, "posix_fadvise"):
        return False
    try:
        return stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        return False


class PageCacheReleaser:
    """Releases the page cache of ``fd`` behind a writer, one ``window`` at a time.

    The writer calls :meth:`written` with its running byte count (cheap: it
    only wakes the thread once a window has filled) and :meth:`close` before
    it closes ``fd``. Use :func:`can_release` first: on a pipe or a FIFO
    there is nothing to release.
    """

    def __init__(self, fd: int, window: int) -> None:
        self._fd = fd
        self._window = window
        self._wake = threading.Condition()
        self._written = 0  # the writer's count, published under _wake
        self._signalled = 0  # the writer's side: count when it last woke the thread
        self._closing = False
        self._thread: threading.Thread | None = None

    def written(self, total: int) -> None:
        """The writer has written ``total`` bytes to the file so far."""
        if total - self._signalled < self._window:
            return
        self._signalled = total
        with self._wake:
            self._written = total
            if self._thread is None:  # started on the first full window: short captures never pay
                self._thread = threading.Thread(
                    target=self._run, name="chunkscope-page-cache", daemon=True
                )
                self._thread.start()
            self._wake.notify()

    def close(self) -> None:
        """Stop the thread, after the release in progress; ``fd`` may be closed after this."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        released_to = 0  # [0, released_to): handed back
        flushing_from = 0  # [released_to, flushing_from): writeback started
        while True:
            with self._wake:
                while not self._closing and self._written - flushing_from < self._window:
                    self._wake.wait()
                if self._closing:
                    return
                written = self._written
            try:
                os.posix_fadvise(
                    self._fd, released_to, written - released_to, os.POSIX_FADV_DONTNEED
                )
            except OSError:
                return  # not ours to report: the data is written, only the cache stays
            released_to, flushing_from = flushing_from, written
