"""Slow soak and fuzz runs: `python -m pytest -m slow` (excluded from the default run)."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chunkscope import analyze_bytes

pytestmark = pytest.mark.slow

CH = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


@settings(max_examples=20_000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=600), st.sampled_from([b"", CH, b"HTTP/1.1 200 OK\r\n"]))
def test_fuzz_arbitrary_bytes_never_raise(data: bytes, prefix: bytes) -> None:
    report = analyze_bytes(prefix + data, close="reset")
    report.to_json()


@settings(max_examples=5_000, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(
        st.tuples(st.integers(1, 300), st.sampled_from([b"", b";a=1", b' ; q="x"'])), max_size=30
    ),
    st.integers(0, 10_000),
)
def test_fuzz_every_cut_of_a_valid_stream_is_truncated(
    chunks: list[tuple[int, bytes]], cut: int
) -> None:
    body = b"".join(b"%x%s\r\n%s\r\n" % (n, ext, b"z" * n) for n, ext in chunks) + b"0\r\n\r\n"
    data = CH + body
    cut = len(CH) + cut % len(body)
    report = analyze_bytes(data[:cut], close="fin")
    assert report.verdict.value == "truncated"
    assert report.problem is not None
    assert report.problem.offset == cut


def test_soak_capture_of_a_long_stream_keeps_memory_flat(tmp_path: Path) -> None:
    """A 1 GiB chunked stream over loopback TLS, captured to a file by a whole process."""
    bench = Path(__file__).resolve().parent.parent / "bench" / "capture.py"
    proc = subprocess.run(
        [sys.executable, str(bench), "--quick", "--rss-gib", "1"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("whole-process capture of"))
    rss_mib = float(line.rsplit("peak RSS", 1)[1].split()[0])
    assert rss_mib < 100, line
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss > 0
