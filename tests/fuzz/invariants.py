"""The invariants every fuzz target checks, shared by the atheris targets and the hypothesis runs.

- only documented exceptions: the analyzer raises nothing on any bytes; the capture loader
  raises only :class:`chunkscope.CaptureFileError`;
- the same report for any split of the same bytes;
- ``problem.offset <= received_bytes``;
- with the C extension built, the same report from the Python code alone;
- no input over 1 s (libFuzzer's ``-timeout=1``; hypothesis's ``deadline``).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Sequence

from chunkscope import Analyzer, CaptureFileError, analyze_capture, load_capture
from chunkscope.core.report import Report

try:
    from support.speedups import BUILT, pure_python
except ImportError:  # run as a script (atheris): tests/ is not on the path
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from support.speedups import BUILT, pure_python

__all__ = ["check_analyzer", "check_capture_file", "seeds"]

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures")


def _report(data: bytes, cuts: Sequence[int], close: str) -> Report:
    analyzer = Analyzer(max_chunks_kept=1000)
    start = 0
    for cut in sorted({c for c in cuts if 0 < c < len(data)}):
        analyzer.feed(data[start:cut], 0.0)
        start = cut
    analyzer.feed(data[start:], 0.0)
    return analyzer.close(close, 1.0)


def _check_report(report: Report) -> None:
    if report.problem is not None:
        assert report.problem.offset <= report.received_bytes, (
            report.problem.offset,
            report.received_bytes,
        )
    report.to_json()


def findings(report: Report) -> dict[str, object]:
    """The report without what describes the reads themselves.

    ``timing`` counts reads, and ``problem.idle`` is the time since the read before the
    offending one (None when there was none): both depend on the split by definition, and
    so do the ``hints`` read from those times.
    ``context`` (the bytes shown around a problem) is cut to what the analyzer still held
    when it found the problem, which depends on the reads too (a known limitation: the
    fuzzer found it; the offsets and findings themselves do not move).
    """
    data = report.to_dict()
    data.pop("timing")
    data.pop("context")
    data.pop("hints")  # read from the times of the reads (idle before the close, gaps)
    if data["problem"] is not None:
        data["problem"] = {k: v for k, v in data["problem"].items() if k != "idle"}
    return data


def check_analyzer(data: bytes, cuts: Sequence[int], close: str = "reset") -> None:
    """Feed ``data`` whole and split at ``cuts``: same findings, offsets within what arrived."""
    whole = _report(data, (), close)
    _check_report(whole)
    expected = findings(whole)
    split = _report(data, cuts, close)
    _check_report(split)
    assert findings(split) == expected, f"split at {sorted(set(cuts))} changed the report"
    single = _report(data, range(1, min(len(data), 64)), close)  # the first bytes one at a time
    assert findings(single) == expected, "byte-at-a-time feeding changed the report"
    if BUILT:  # the C extension's loops against the Python code they stand in for
        with pure_python():
            python_only = _report(data, cuts, close)
        assert python_only.to_dict() == split.to_dict(), "the C extension changed the report"


def check_capture_file(content: bytes) -> None:
    """Load ``content`` as a capture file: a report or a CaptureFileError, nothing else."""
    fd, path = tempfile.mkstemp(prefix="chunkscope-fuzz-", suffix=".capture")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        try:
            report = analyze_capture(path)
        except CaptureFileError:
            report = None
        if report is not None:
            _check_report(report)
        with contextlib.suppress(CaptureFileError):
            load_capture(path)
    finally:
        os.unlink(path)


def seeds(kind: str) -> list[bytes]:
    """Seed inputs from the fixtures: server bytes (``"stream"``) or whole files (``"capture"``)."""
    out = []
    for name in sorted(os.listdir(FIXTURES)):
        path = os.path.join(FIXTURES, name)
        if kind == "capture" and name.endswith(".capture"):
            with open(path, "rb") as f:
                out.append(f.read())
        elif kind == "stream" and name.endswith(".capture"):
            out.append(load_capture(path).server_bytes)
        elif kind == "stream" and name.endswith(".raw"):
            with open(path, "rb") as f:
                out.append(f.read())
    return out
