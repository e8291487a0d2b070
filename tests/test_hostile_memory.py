"""Memory bounded by what the user asked for, not by what a hostile peer sends.

Each case runs a real `chunkscope` process on generated input and prints its
peak RSS, measured by a wrapper process whose only child is that command
(``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``). The full-size cases
(the sizes of the audit that found the problems) are slow-marked; the
default variants are smaller and check the bounded report shapes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chunkscope import analyze_bytes

LIMIT_MIB = 150
CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"

_WRAPPER = r"""
import resource, subprocess, sys
cmd = [sys.executable, "-m", "chunkscope", *sys.argv[1:]]
if sys.argv[1] == "serve":  # runs until stopped: stop it once it listens
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    proc.terminate()
    proc.wait(timeout=30)
    code = 0 if line.startswith("http") else 99
else:
    code = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def peak_rss_mib(*args: str) -> tuple[int, float]:
    """Exit code and peak RSS (MiB) of `chunkscope ARGS...` in a process of its own."""
    out = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *args],
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    ).stdout.split()
    code, kib = int(out[0]), int(out[1])
    mib = kib / 1024
    print(f"\npeak RSS of chunkscope {' '.join(a for a in args if '/' not in a)}: {mib:.1f} MiB")
    return code, mib


def capture_file(path: Path, data: bytes, per_read: int) -> None:
    with open(path, "w") as f:
        f.write('{"format":"chunkscope-capture","version":1,"created":"x","tool":"t"}\n')
        f.write('{"r":"meta","method":"GET"}\n')
        f.write('{"r":"send","t":0,"data":"GET / HTTP/1.1\\r\\n\\r\\n"}\n')
        for i in range(0, len(data), per_read):
            piece = json.dumps(data[i : i + per_read].decode("latin-1"))
            f.write(f'{{"r":"recv","t":{i * 1e-7!r},"data":{piece}}}\n')
        f.write('{"r":"end","t":1,"close":"fin"}\n')


def interim_heads(n: int) -> bytes:
    return b"HTTP/1.1 100 Continue\r\n\r\n" * n + b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def extensions(n: int) -> bytes:
    return CHUNKED + (b"1;" + b"e" * 8000 + b"\r\nx\r\n") * n + b"0\r\n\r\n"


def one_byte_chunks(n: int) -> bytes:
    return CHUNKED + b"1\r\nx\r\n" * n + b"0\r\n\r\n"


# -- the report's shape: counts plus the first few ------------------------------------


def test_interim_heads_are_counted_and_the_first_few_listed() -> None:
    report = analyze_bytes(interim_heads(5000), close="fin")
    assert report.verdict.value == "complete"
    assert report.head is not None
    assert report.head["interim_count"] == 5000
    assert len(report.head["interim"]) == 10
    assert report.head["interim"][9] == {"status": 100, "offset": 9 * 25}


def test_chunk_extensions_are_counted_and_the_first_mib_kept() -> None:
    report = analyze_bytes(extensions(500), close="fin")
    assert report.verdict.value == "complete"
    assert report.head is not None
    stats = report.head["chunk_extensions"]
    assert stats["count"] == 500
    assert stats["bytes"] == 500 * 8001
    assert stats["kept"] == (1 << 20) // 8001
    assert report.chunks[0].ext == b";" + b"e" * 8000
    assert report.chunks[499].ext is None  # it had one, not kept
    assert report.to_dict()["chunks"][499]["ext"] is None


# -- peak RSS, small variants (default) and the audit's sizes (slow) ----------------------


@pytest.mark.parametrize("json_report", [False, True], ids=["text", "json"])
def test_interim_heads_memory(tmp_path: Path, json_report: bool) -> None:
    path = tmp_path / "interim.raw"
    path.write_bytes(interim_heads(20_000))
    code, mib = peak_rss_mib("analyze", "--raw", str(path), *(["--json"] if json_report else []))
    assert code == 0
    assert mib < LIMIT_MIB


@pytest.mark.slow
@pytest.mark.parametrize("json_report", [False, True], ids=["text", "json"])
def test_a_million_interim_heads_memory(tmp_path: Path, json_report: bool) -> None:
    path = tmp_path / "interim.raw"
    path.write_bytes(interim_heads(1_000_000))
    code, mib = peak_rss_mib("analyze", "--raw", str(path), *(["--json"] if json_report else []))
    assert code == 0
    assert mib < LIMIT_MIB


@pytest.mark.parametrize("json_report", [False, True], ids=["text", "json"])
def test_chunk_extensions_memory(tmp_path: Path, json_report: bool) -> None:
    path = tmp_path / "ext.raw"
    path.write_bytes(extensions(400))
    code, mib = peak_rss_mib("analyze", "--raw", str(path), *(["--json"] if json_report else []))
    assert code == 0
    assert mib < LIMIT_MIB


@pytest.mark.slow
@pytest.mark.parametrize("json_report", [False, True], ids=["text", "json"])
def test_fifty_thousand_8_kib_extensions_memory(tmp_path: Path, json_report: bool) -> None:
    path = tmp_path / "ext.raw"
    path.write_bytes(extensions(50_000))
    code, mib = peak_rss_mib("analyze", "--raw", str(path), *(["--json"] if json_report else []))
    assert code == 0
    assert mib < LIMIT_MIB


@pytest.mark.parametrize(
    "point", ["before-last-chunk", "mid-chunk:49990", "after-last-chunk", "after-event:message"]
)
def test_serve_with_a_named_cut_point_memory(tmp_path: Path, point: str) -> None:
    path = tmp_path / "chunks.capture"
    if point.startswith("after-event"):
        body = b"".join(b"%x\r\n%b\r\n" % (len(e), e) for e in [b"data: x\n\n"] * 50_000)
        capture_file(
            path,
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + body + b"0\r\n\r\n",
            1 << 20,
        )
    else:
        capture_file(path, one_byte_chunks(50_000), 1 << 20)
    code, mib = peak_rss_mib("serve", str(path), "--truncate-at", point)
    assert code == 0
    assert mib < LIMIT_MIB


@pytest.mark.slow
@pytest.mark.parametrize("point", ["before-last-chunk", "mid-chunk:2999990"])
def test_serve_with_a_named_cut_point_on_3m_chunks_memory(tmp_path: Path, point: str) -> None:
    path = tmp_path / "chunks.capture"
    capture_file(path, one_byte_chunks(3_000_000), 1 << 20)
    code, mib = peak_rss_mib("serve", str(path), "--truncate-at", point)
    assert code == 0
    assert mib < LIMIT_MIB


@pytest.mark.parametrize("records", [30_000, pytest.param(2_000_000, marks=pytest.mark.slow)])
def test_serve_of_one_byte_records_memory(tmp_path: Path, records: int) -> None:
    path = tmp_path / "onebyte.capture"
    capture_file(path, one_byte_chunks(records // 6 + 1)[:records], 1)
    code, mib = peak_rss_mib("serve", str(path), "--allow-truncated")
    assert code == 0
    assert mib < LIMIT_MIB
    code, mib = peak_rss_mib("analyze", str(path))
    assert code == 1  # cut inside the body
    assert mib < LIMIT_MIB
