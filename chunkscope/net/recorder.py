"""The recorder: timestamps each read, saves it, then hands it to the analyzer.

Order matters: a read reaches the capture file before anything parses it, so
no parsing problem, crash or interrupt can lose a byte the peer sent.

With ``redact=True`` credentials in the response head are masked (same
length) before the read goes anywhere, so the live report shows exactly
what the capture file holds, at the same offsets.
"""

from __future__ import annotations

from collections.abc import Callable

from ..core.analyzer import Analyzer
from ..core.report import CloseKind, Report
from ..formats.capture import CaptureWriter, HeadMasker

__all__ = ["Recorder"]


class Recorder:
    """Moves received bytes to the capture file and the analyzer, in that order.

    ``clock`` returns seconds since the request was sent; ``largest_gap``
    and ``first_byte`` are kept for the live status line.
    """

    def __init__(
        self,
        analyzer: Analyzer,
        writer: CaptureWriter | None,
        clock: Callable[[], float],
        tap: Callable[[bytes], None] | None = None,
        *,
        redact: bool = False,
    ) -> None:
        self.analyzer = analyzer
        self.writer = writer
        self.clock = clock
        self.tap = tap  # e.g. the h11 cross-check, fed the same bytes
        self.last_t: float | None = None
        self.first_t: float | None = None
        self.reads = 0
        self.ended: Report | None = None
        self.request_masker = HeadMasker() if redact else None
        self.response_masker = HeadMasker() if redact else None

    @property
    def masked(self) -> list[str] | None:
        """What was masked so far (header names, ``?param``, ``userinfo``), or None without redaction."""
        if self.request_masker is None or self.response_masker is None:
            return None
        names = list(self.request_masker.masked)
        names += [n for n in self.response_masker.masked if n not in names]
        return names

    def sent(self, data: bytes) -> None:
        if self.request_masker is not None:
            self.request_masker.feed(data)  # only to learn what the writer masks
        if self.writer is not None:
            self.writer.sent(self.clock(), data)

    def received(self, data: bytes) -> float:
        t = self.clock()
        masker = self.response_masker
        if masker is not None and not masker.done:
            data = masker.feed(data)
        if self.writer is not None:
            self.writer.received(t, data)
        self.analyzer.feed(data, t)
        if self.tap is not None:
            self.tap(data)
        if self.first_t is None:
            self.first_t = t
        self.last_t = t
        self.reads += 1
        return t

    def end(self, kind: CloseKind, detail: str | None = None) -> Report:
        """Record how the connection ended and return the analyzer's report (once)."""
        if self.ended is not None:
            return self.ended
        t = self.clock()
        if self.writer is not None:
            self.writer.ended(kind, t, detail)
        self.ended = self.analyzer.close(kind, t, detail)
        return self.ended
