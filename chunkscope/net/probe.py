"""The probe: N copies of one request, at most C at a time and R a second, each one a capture.

Theory of operation
-------------------
``run_probe`` starts request ``i`` (of exactly ``count``) when three things
allow it: a concurrency slot is free (at most ``concurrency`` streams run),
the rate allows it (starts are at least ``1 / rate`` seconds apart), and the
probe has neither been stopped nor passed its ``max_time``. Each request is
:func:`~chunkscope.net.client.run_capture` with the same options as
``chunkscope capture`` (same client, recorder, analyzer and redaction); its
``max_time`` is cut to what is left of the probe's, so a stream still running
at the deadline ends by itself, as a ``timeout`` with an end record, rather
than being cancelled. Each finished report goes into a
:class:`~chunkscope.core.summary.Summary` at once and is dropped: memory is
one small record per stream.

Capture files go to ``directory`` as ``stream-0001.capture`` ...; they are
written while the stream runs (a byte is on disk before it is parsed) and,
with ``keep="failed"``, removed afterwards if the stream completed on both
axes. :meth:`Probe.stop` (Ctrl-C in the CLI) stops sending; streams still
running get ``grace`` seconds, then are cancelled and counted as
``unfinished`` (their capture files are kept, without an end record);
:meth:`Probe.abort` (a second Ctrl-C) cancels them at once.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, replace

import trio

from ..core.errors import TransportError, UsageError
from ..core.summary import Summary, record_from_error
from .client import CaptureOptions, run_capture

__all__ = ["KEEP_CHOICES", "Probe", "ProbeOptions", "ProbeProgress"]

KEEP_CHOICES = ("all", "failed", "none")
STOP_GRACE = 5.0  # seconds running streams get after a stop (Ctrl-C)
_DEADLINE_GRACE = 2.0  # beyond max_time, for a stream's own timeout to report


@dataclass
class ProbeOptions:
    """What to send, how often, and what to keep.

    ``capture`` is the request (its ``output`` is ignored: each stream's file
    is named in ``directory``); ``count`` requests (required, >= 1), at most
    ``concurrency`` at once and ``rate`` starts per second (None: no limit);
    ``max_time`` seconds for the whole probe (None: no limit).
    """

    capture: CaptureOptions
    count: int
    concurrency: int = 1
    rate: float | None = None
    max_time: float | None = None
    directory: str | None = None
    keep: str = "failed"
    grace: float = STOP_GRACE

    def __post_init__(self) -> None:
        if self.count < 1:
            raise UsageError(f"-n wants at least 1 request, got {self.count}")
        if self.concurrency < 1:
            raise UsageError(f"-c wants at least 1, got {self.concurrency}")
        if self.rate is not None and not (self.rate > 0 and math.isfinite(self.rate)):
            raise UsageError(
                f"--rate wants a positive number of requests per second, got {self.rate}"
            )
        if self.max_time is not None and not self.max_time > 0:
            raise UsageError(f"--max-time wants a positive number of seconds, got {self.max_time}")
        if self.keep not in KEEP_CHOICES:
            raise UsageError(f"--keep wants one of {', '.join(KEEP_CHOICES)}, got {self.keep!r}")


@dataclass
class ProbeProgress:
    """Counts so far, for a live status line."""

    count: int
    started: int = 0
    done: int = 0
    failed: int = 0
    running: int = 0
    unfinished: int = 0
    elapsed: float = 0.0
    stopped: str | None = None  # None, "interrupted" or "max-time"

    def rate(self) -> float:
        """Finished streams per second so far."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    def eta(self) -> float | None:
        """Seconds until the last stream finishes at the current rate, if known."""
        rate = self.rate()
        return None if rate <= 0 else (self.count - self.done) / rate


class Probe:
    """One probe run: ``await probe.run()`` fills ``probe.summary``; ``probe.stop()`` from any task."""

    def __init__(
        self,
        options: ProbeOptions,
        on_progress: Callable[[ProbeProgress], None] | None = None,
    ) -> None:
        self.options = options
        self.summary = Summary()
        self.progress = ProbeProgress(count=options.count)
        self.on_progress = on_progress
        self._stop = trio.Event()
        self._fatal: BaseException | None = None
        self._sending: trio.CancelScope | None = None
        self._everything: trio.CancelScope | None = None
        self._start = 0.0
        width = len(str(options.count))
        self._name = f"stream-{{:0{max(4, width)}d}}.capture"

    def stop(self, reason: str = "interrupted") -> None:
        """Stop sending; running streams get the grace period (call it from a trio task)."""
        if self.progress.stopped is None:
            self.progress.stopped = reason
        self._stop.set()
        if self._sending is not None:
            self._sending.cancel()

    def abort(self) -> None:
        """Stop now: running streams are cancelled (a second Ctrl-C); their files stay."""
        self.stop()
        if self._everything is not None:
            self._everything.cancel()

    def path_for(self, index: int) -> str | None:
        """The capture file of request ``index`` (1-based), or None when nothing is kept."""
        if self.options.directory is None or self.options.keep == "none":
            return None
        return os.path.join(self.options.directory, self._name.format(index))

    def _tick(self) -> None:
        self.progress.elapsed = trio.current_time() - self._start
        if self.on_progress is not None:
            self.on_progress(self.progress)

    async def run(self) -> Summary:
        """Send the requests, wait for them, return the summary (also ``self.summary``)."""
        options = self.options
        if options.directory is not None and options.keep != "none":
            try:
                os.makedirs(options.directory, exist_ok=True)
            except OSError as exc:
                raise UsageError(
                    f"cannot create --dir {options.directory}: {exc.strerror or exc}"
                ) from None
        self._start = trio.current_time()
        deadline = math.inf if options.max_time is None else self._start + options.max_time
        async with trio.open_nursery() as nursery:
            self._everything = nursery.cancel_scope
            nursery.start_soon(self._watch, nursery.cancel_scope, deadline)
            async with trio.open_nursery() as streams:
                await self._send(streams, deadline)
            nursery.cancel_scope.cancel()  # every stream ended: the watcher is done too
        self.progress.unfinished = self.progress.running
        self.progress.running = 0
        self._tick()
        if self._fatal is not None:
            raise self._fatal
        return self.summary

    async def _send(self, streams: trio.Nursery, deadline: float) -> None:
        options = self.options
        slots = trio.Semaphore(options.concurrency)
        spacing = 0.0 if options.rate is None else 1.0 / options.rate
        next_start = self._start
        with trio.CancelScope(deadline=deadline) as self._sending:
            if self._stop.is_set():
                self._sending.cancel()
            for index in range(1, options.count + 1):
                await slots.acquire()
                await trio.sleep_until(next_start)
                next_start = max(trio.current_time(), next_start) + spacing
                self.progress.started += 1
                self.progress.running += 1
                streams.start_soon(self._one, index, slots, deadline)
                self._tick()
        if self._sending.cancelled_caught and self.progress.stopped is None:
            self.progress.stopped = "max-time"

    async def _watch(self, everything: trio.CancelScope, deadline: float) -> None:
        """After a stop (or the deadline), give running streams their grace, then cancel them."""
        with trio.move_on_at(deadline):
            await self._stop.wait()
        # Streams end by themselves at the deadline (their max_time is cut to it), as a
        # timeout with an end record; the grace period is the backstop.
        await trio.sleep(self.options.grace if self._stop.is_set() else _DEADLINE_GRACE)
        everything.cancel()

    async def _one(self, index: int, slots: trio.Semaphore, deadline: float) -> None:
        path = self.path_for(index)
        capture = self.options.capture
        limit = capture.max_time
        if deadline < math.inf:
            left = max(0.001, deadline - trio.current_time())
            limit = left if limit is None else min(limit, left)
        try:
            report = await run_capture(
                replace(capture, output=path, max_time=limit, sigint_cancels=False)
            )
        except TransportError as exc:
            self.summary.add(record_from_error(exc.kind, str(exc), None))
            _remove(path)
            self._finished(complete=False, slots=slots)
            return
        except (UsageError, OSError) as exc:  # the same for every request (a bad option, a
            # capture file that cannot be written): the whole probe stops
            if self._fatal is None:
                self._fatal = exc
            _remove(path)
            self._finished(complete=False, slots=slots)
            self.stop("error")
            return
        record = self.summary.add_report(report, path)
        if record.complete and path is not None and self.options.keep == "failed":
            _remove(path)
            self.summary.forget_path(path)
        self._finished(complete=record.complete, slots=slots)

    def _finished(self, *, complete: bool, slots: trio.Semaphore) -> None:
        self.progress.done += 1
        self.progress.failed += not complete
        self.progress.running -= 1
        slots.release()
        self._tick()


def _remove(path: str | None) -> None:
    if path is None:
        return
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
