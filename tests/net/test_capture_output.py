"""Where `capture -o` writes: what it writes loads, and every way writing fails is one clear line.

Real `chunkscope capture` processes against a socket server on 127.0.0.1;
FIFOs, an existing file, /dev/full and a real 1 MiB tmpfs as the output.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.streaming import streaming_server

from chunkscope import CaptureWriter, analyze_capture, load_capture
from chunkscope.core.errors import CaptureWriteError
from chunkscope.net.replay import make_script

CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
BLOCK = b"400\r\n" + b"x" * 1024 + b"\r\n"


def capture_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chunkscope", "capture", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def test_a_request_body_over_64_mib_is_written_so_that_it_loads(tmp_path: Path) -> None:
    body = b"0123456789abcdef" * ((65 << 20) // 16)  # 65 MiB
    request = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    path = tmp_path / "big.capture"
    with CaptureWriter(path) as w:
        w.sent(0.0, request)
        w.received(0.1, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        w.ended("fin", 0.2)
    capture = load_capture(path)
    assert capture.request_bytes == request
    assert analyze_capture(str(path)).verdict.value == "complete"
    assert make_script(str(path)) is not None  # what serve loads


def test_a_fifo_with_no_reader_is_refused_before_connecting(tmp_path: Path) -> None:
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    # Nothing listens on the port: had it tried to connect, the exit would be 3.
    proc = capture_cli("http://127.0.0.1:9/", "-o", str(fifo), timeout=30)
    assert proc.returncode == 2
    line = one_error_line(proc)
    assert str(fifo) in line
    assert "FIFO with no reader" in line


def test_a_fifo_whose_reader_leaves_is_one_line_and_non_zero(tmp_path: Path) -> None:
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []

    def short_reader() -> None:
        with open(fifo, "rb") as f:
            got.append(f.read(4096))  # then the reader goes away

    reader = threading.Thread(target=short_reader, daemon=True)
    reader.start()
    with streaming_server(CHUNKED, BLOCK * 64) as url:
        proc = capture_cli(url, "-o", str(fifo))
    reader.join(10)
    assert proc.returncode == 2
    line = one_error_line(proc)
    assert str(fifo) in line
    assert "reader of the pipe went away" in line
    assert got[0].startswith(b'{"format":"chunkscope-capture"')


def test_an_existing_file_is_kept_unless_force(tmp_path: Path) -> None:
    out = tmp_path / "run.capture"
    out.write_bytes(b"precious")
    with streaming_server(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", b"") as url:
        proc = capture_cli(url, "-o", str(out))
        assert proc.returncode == 2
        assert "use --force" in one_error_line(proc)
        assert out.read_bytes() == b"precious"
        proc = capture_cli(url, "-o", str(out), "--force")
    assert proc.returncode == 0, proc.stderr
    assert load_capture(out).server_bytes.startswith(b"HTTP/1.1 200 OK")


def test_a_write_error_names_the_file() -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    with pytest.raises(CaptureWriteError, match="/dev/full: cannot write the capture file") as info:
        CaptureWriter("/dev/full")
    assert info.value.path == "/dev/full"


@pytest.fixture
def tiny_disk() -> Iterator[Path]:
    """A real 1 MiB tmpfs (needs root and mount; skipped where either is missing)."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root")
    where = Path(tempfile.mkdtemp(prefix="chunkscope-full-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        where.rmdir()
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)
        where.rmdir()


def test_a_full_disk_names_the_file_and_keeps_what_was_written_loadable(tiny_disk: Path) -> None:
    out = tiny_disk / "run.capture"
    with streaming_server(CHUNKED, BLOCK * 64) as url:
        proc = capture_cli(url, "-o", str(out))
    assert proc.returncode == 2
    line = one_error_line(proc)
    assert str(out) in line
    assert "No space left on device" in line
    capture = load_capture(out)
    assert capture.cut_off
    assert capture.server_bytes.startswith(CHUNKED)
    assert analyze_capture(str(out)).verdict.value == "truncated"


def test_serve_raw_refuses_a_file_over_1_gib_with_a_reason(tmp_path: Path) -> None:
    big = tmp_path / "big.raw"
    with open(big, "wb") as f:  # sparse: no GiB written to disk
        f.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n")
        f.truncate((1 << 30) + 1)
    proc = subprocess.run(
        [sys.executable, "-m", "chunkscope", "serve", "--raw", str(big)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    line = one_error_line(proc)
    assert str(big) in line
    assert "more than serve --raw holds in memory" in line
