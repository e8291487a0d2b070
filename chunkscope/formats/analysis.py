"""Analysis of a capture file: its records fed to the sans-IO analyzer, in constant memory."""

from __future__ import annotations

import os
from collections.abc import Iterable

from ..core.analyzer import Analyzer
from ..core.report import CloseKind, Note, Report
from .capture import Ended, Received, Sent, iter_capture

__all__ = ["analyze_capture"]


def analyze_capture(
    path: str,
    *,
    terminal_events: Iterable[str] = (),
    profile: str | None = None,
    **limits: int | None,
) -> Report:
    """Analyze a capture file (format v1) record by record, in constant memory.

    The request method recorded in the capture decides whether a body is
    expected (HEAD); its path helps detect the provider profile (``profile``
    forces one). A capture with no end record (the capturing process died)
    closes as ``unknown`` at the time of its last read.

    Raises :class:`~chunkscope.CaptureFileError` for a file that is not a
    valid capture.
    """
    meta: dict[str, object] = {}
    analyzer: Analyzer | None = None
    sent_head = bytearray()
    last_t: float | None = None
    end: Ended | None = None

    def start() -> Analyzer:
        method = meta.get("method")
        if not isinstance(method, str):
            method = sent_head.split(b" ", 1)[0].decode("latin-1") if sent_head else "GET"
        target = meta.get("target")
        path = None
        if isinstance(target, str) and "://" in target:
            path = "/" + target.split("://", 1)[1].partition("/")[2]
        elif sent_head.count(b" ") >= 2:  # the request line: METHOD path HTTP/1.1
            path = sent_head.split(b" ", 2)[1].decode("latin-1")
        return Analyzer(
            request_method=method or "GET",
            terminal_events=terminal_events,
            profile=profile,
            request_path=path,
            **limits,  # type: ignore[arg-type]
        )

    for record in iter_capture(path):
        if isinstance(record, dict):
            meta.update(record)
        elif isinstance(record, Sent):
            if len(sent_head) < 8192:
                sent_head.extend(record.data[: 8192 - len(sent_head)])
        elif isinstance(record, Received):
            if analyzer is None:
                analyzer = start()
            analyzer.feed(record.data, record.t)
            last_t = record.t
        elif isinstance(record, Ended):
            end = record
    if analyzer is None:
        analyzer = start()
    if end is not None:
        report = analyzer.close(end.kind, end.t, end.detail)
    else:
        report = analyzer.close(
            CloseKind.UNKNOWN, last_t, "the capture file has no end record: the capture was cut off"
        )
    cut = file_cut_at(path)
    if cut is not None:
        report.notes.append(
            Note(
                report.received_bytes,
                f"the capture file itself is cut: it ends mid-record at file offset {cut[1]} "
                f"(an incomplete record of {cut[1] - cut[0]} bytes from file offset {cut[0]} was "
                f"skipped); the stream analysed is the {report.received_bytes} bytes before it",
            )
        )
    report.connection = {
        k: v for k, v in meta.items() if k not in ("r", "format", "version")
    } or None
    request_line = bytes(sent_head).split(b"\r\n", 1)[0].decode("latin-1")
    report.request = {"method": analyzer.request_method, "line": request_line or None}
    return report


def file_cut_at(path: str) -> tuple[int, int] | None:
    """Where a capture file was cut mid-record: ``(start of the partial record, file size)``.

    None when the file ends with a complete line (every record is whole). Reads
    only the file's tail, so it costs nothing on a long capture.
    """
    try:
        with open(path, "rb") as f:
            end = f.seek(0, os.SEEK_END)
            if end == 0:
                return None
            f.seek(end - 1)
            if f.read(1) == b"\n":
                return None
            pos = end
            while pos > 0:
                step = min(pos, 1 << 16)
                pos -= step
                f.seek(pos)
                newline = f.read(step).rfind(b"\n")
                if newline >= 0:
                    return pos + newline + 1, end
            return 0, end
    except OSError:
        return None
