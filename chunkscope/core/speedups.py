"""The C versions of chunkscope's hottest loops, when the optional extension was built.

``scan_chunks`` (framing's hot path), ``json_escape`` (the capture writer's
escaping), ``count_byte`` and ``count_marker`` (the SSE fast path's counts)
and ``chunk_records`` (the JSON report's chunk records) each give exactly
what the Python code beside its caller gives; the tests run every
caller both ways (``tests/core/test_speedups.py``). ``None`` when the extension
is missing, or when ``CHUNKSCOPE_PURE_PYTHON=1`` is set in the environment
(to compare, or to rule the C code out of a bug).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

__all__ = ["chunk_records", "count_byte", "count_marker", "json_escape", "scan_chunks"]

scan_chunks: Callable[..., tuple[Any, ...]] | None = None
json_escape: Callable[[bytes | memoryview], bytes] | None = None
count_byte: Callable[[bytes, int, int, int], int] | None = None
count_marker: Callable[[bytes, bytes, int, int], int] | None = None
chunk_records: Callable[[int, Any, Any, bytes], bytes] | None = None

if os.environ.get("CHUNKSCOPE_PURE_PYTHON", "") in ("", "0"):
    try:
        from . import _speedups  # type: ignore[attr-defined]
    except ImportError:  # not built: the Python code runs
        pass
    else:
        scan_chunks = _speedups.scan_chunks
        json_escape = _speedups.json_escape
        count_byte = _speedups.count_byte
        count_marker = _speedups.count_marker
        chunk_records = _speedups.chunk_records
