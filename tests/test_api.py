"""The public API surface and the sans-IO promise."""

from __future__ import annotations

import subprocess
import sys

import chunkscope

PUBLIC = {
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
}


def test_public_api_is_exactly_what_init_lists() -> None:
    assert set(chunkscope.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(chunkscope, name) is not None


def test_sans_io_core_imports_no_io_modules() -> None:
    code = (
        "import sys\n"
        "import chunkscope, chunkscope.core.analyzer, chunkscope.core.framing, chunkscope.core.head, "
        "chunkscope.core.sse, chunkscope.core.report, chunkscope.cli.render, chunkscope.formats.capture\n"
        "chunkscope.analyze_bytes(b'HTTP/1.1 200 OK\\r\\nContent-Type: text/event-stream\\r\\n"
        "Content-Length: 0\\r\\n\\r\\n')\n"
        "bad = [m for m in ('trio', 'ssl', 'socket', 'h11') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_capture_is_imported_lazily() -> None:
    from chunkscope.net.client import capture

    assert chunkscope.capture is capture


def test_errors_keep_their_facts_as_attributes() -> None:
    err = chunkscope.CaptureFileError("x.capture", 7, "invalid JSON")
    assert (err.path, err.line, err.reason) == ("x.capture", 7, "invalid JSON")
    assert str(err) == "x.capture:7: invalid JSON"
    terr = chunkscope.TransportError("tls", "example.com:443", "certificate verify failed")
    assert (terr.kind, terr.target) == ("tls", "example.com:443")
    assert isinstance(terr, chunkscope.ChunkscopeError)
