"""Running chunkscope's Python code where its optional C extension would run, to compare the two."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import chunkscope.core.framing as framing_module
import chunkscope.core.report as report_module
import chunkscope.core.sse as sse_module
from chunkscope.core import speedups
from chunkscope.formats import capture as capture_module

__all__ = ["BUILT", "pure_python"]

BUILT = speedups.scan_chunks is not None  # the extension is built and not switched off


@contextmanager
def pure_python() -> Iterator[None]:
    """Run the Python code where the C extension would run (in this process, until the end)."""
    saved = (
        framing_module._scan_plain,
        sse_module._count_byte,
        sse_module._count_marker,
        capture_module._c_json_escape,
        report_module._c_chunk_records,
    )
    framing_module._scan_plain = None
    report_module._c_chunk_records = None
    sse_module._count_byte = sse_module._py_count_byte
    sse_module._count_marker = sse_module._py_count_marker
    capture_module._c_json_escape = None
    try:
        yield
    finally:
        (
            framing_module._scan_plain,
            sse_module._count_byte,
            sse_module._count_marker,
            capture_module._c_json_escape,
            report_module._c_chunk_records,
        ) = saved
