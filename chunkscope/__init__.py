"""chunkscope: byte-exact diagnosis of HTTP/1.1 streamed responses.

The sans-IO core (``Analyzer``, ``analyze_bytes``, ``analyze_capture``, the
report types) imports neither trio nor sockets; ``capture`` (the live trio
client) is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._analyzer import Analyzer, analyze_bytes, analyze_capture
from ._capture_file import Capture, CaptureWriter, load_capture
from ._errors import CaptureFileError, ChunkscopeError, TransportError, UsageError
from ._render import render_text
from ._report import (
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

if TYPE_CHECKING:
    from ._client import capture

__version__ = "0.1.0"

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
        from ._client import capture

        return capture
    raise AttributeError(f"module 'chunkscope' has no attribute {name!r}")
