"""chunkscope: byte-exact diagnosis of HTTP/1.1 streamed responses.

The sans-IO core (``Analyzer``, ``analyze_bytes``, ``analyze_capture``, the
report types) imports neither trio nor sockets; ``capture`` (the live trio
client) is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__
from .cli.render import render_text
from .core.analyzer import Analyzer, analyze_bytes
from .core.errors import CaptureFileError, ChunkscopeError, TransportError, UsageError
from .core.report import (
    ChunkHeader,
    Close,
    CloseKind,
    Framing,
    Note,
    Problem,
    ProblemState,
    Report,
    SseEvent,
    SseSummary,
    Verdict,
)
from .formats.analysis import analyze_capture
from .formats.capture import Capture, CaptureWriter, load_capture

if TYPE_CHECKING:
    from .net.client import capture


__all__ = [
    "Analyzer",
    "Capture",
    "CaptureFileError",
    "CaptureWriter",
    "ChunkHeader",
    "ChunkscopeError",
    "Close",
    "CloseKind",
    "Framing",
    "Note",
    "Problem",
    "ProblemState",
    "Report",
    "SseEvent",
    "SseSummary",
    "TransportError",
    "UsageError",
    "Verdict",
    "__version__",
    "analyze_bytes",
    "analyze_capture",
    "capture",
    "load_capture",
    "render_text",
]


def __getattr__(name: str) -> Any:
    # The trio client is imported on first use so that the sans-IO core stays
    # importable (and fast to import) without trio.
    if name == "capture":
        from .net.client import capture

        return capture
    raise AttributeError(f"module 'chunkscope' has no attribute {name!r}")
