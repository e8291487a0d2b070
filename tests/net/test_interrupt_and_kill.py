"""Ctrl-C and SIGKILL against a real `chunkscope capture` process: no byte lost, no cut called complete.

The peer is a plain socket server on 127.0.0.1 that streams as fast as the
kernel takes it. The client logs the size of every read its stream returned
(``CHUNKSCOPE_READ_LOG``) before the recorder sees it, so a read that an
interrupt kept out of the capture file shows up as a difference.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from support.streaming import streaming_server

from chunkscope import analyze_capture, load_capture
from chunkscope.core.report import CloseKind
from chunkscope.testing import tls_pair

ONE_BYTE_CHUNKS = b"1\r\nx\r\n" * 2000


def start_capture(
    url: str, out: Path, read_log: Path | None = None, *extra: str
) -> subprocess.Popen[str]:
    env = dict(os.environ)
    if read_log is not None:
        env["CHUNKSCOPE_READ_LOG"] = str(read_log)
    return subprocess.Popen(
        [sys.executable, "-m", "chunkscope", "capture", url, "-o", str(out), "--json", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def wait_for(path: Path, proc: subprocess.Popen[str], min_size: int = 1) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size >= min_size:
            return
        if proc.poll() is not None:
            raise AssertionError(
                f"capture ended early: {proc.stderr.read() if proc.stderr else ''}"
            )
        time.sleep(0.01)
    raise AssertionError(f"{path} never reached {min_size} bytes")


def comparable(report: dict[str, Any]) -> dict[str, Any]:
    """The report minus what a live capture knows and a file does not (or holds differently)."""
    return {k: v for k, v in report.items() if k not in ("connection", "request")}


def ctrl_c_rounds(tmp_path: Path, rounds: int, *, tls: bool = False) -> None:
    rng = random.Random(rounds)
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    extra: list[str] = []
    server_context = None
    if tls:
        pair = tls_pair()
        server_context = pair.server_context
        extra = ["--cacert", pair.ca_pem]
    with streaming_server(head, ONE_BYTE_CHUNKS, tls=server_context) as url:
        for n in range(rounds):
            out, log = tmp_path / f"{n}.capture", tmp_path / f"{n}.reads"
            proc = start_capture(url, out, log, *extra)
            try:
                wait_for(log, proc)  # reading has started
                time.sleep(rng.uniform(0.0, 0.4))
                proc.send_signal(signal.SIGINT)
                stdout, stderr = proc.communicate(timeout=60)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate()
            assert proc.returncode == 1, stderr
            read_sizes = [int(line) for line in log.read_text().split()]
            capture = load_capture(out)
            assert sum(read_sizes) == len(capture.server_bytes), f"round {n}"
            assert len(read_sizes) == len(capture.reads), f"round {n}"
            assert capture.end is not None
            assert capture.end.kind is CloseKind.INTERRUPTED
            printed = json.loads(stdout)
            offline = json.loads(analyze_capture(str(out)).to_json())
            assert comparable(printed) == comparable(offline), f"round {n}"


def test_ctrl_c_at_random_moments_loses_no_read(tmp_path: Path) -> None:
    ctrl_c_rounds(tmp_path, 1)


@pytest.mark.slow
def test_ctrl_c_at_random_moments_loses_no_read_soak(tmp_path: Path) -> None:
    ctrl_c_rounds(tmp_path, 25)


@pytest.mark.slow
def test_ctrl_c_at_random_moments_loses_no_read_over_tls(tmp_path: Path) -> None:
    ctrl_c_rounds(tmp_path, 20, tls=True)


@pytest.mark.parametrize(
    ("head", "block"),
    [
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"5\r\nhello\r\n" * 100),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n", b"x" * 1000),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", b"x" * 1000),
    ],
    ids=["chunked", "content-length", "close-delimited"],
)
def test_sigkill_mid_capture_leaves_a_loadable_file_that_is_not_complete(
    tmp_path: Path, head: bytes, block: bytes
) -> None:
    out = tmp_path / "killed.capture"
    with streaming_server(head, block, pace=0.001) as url:
        proc = start_capture(url, out)
        try:
            wait_for(out, proc, min_size=20_000)  # the head and some body are on disk
            proc.kill()
            proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    capture = load_capture(out)
    assert capture.end is None
    assert capture.server_bytes.startswith(head)
    report = analyze_capture(str(out))
    assert report.verdict.value == "truncated"
    assert report.exit_code == 1
    assert report.close.kind is CloseKind.UNKNOWN
