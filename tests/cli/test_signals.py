"""SIGINT and SIGTERM sent to real `serve`, `demo` and `capture -o` processes.

Each stops cleanly: the exit code says which signal (130, 143) or, for a capture, the verdict;
a server prints its summary; a capture keeps every byte and reports `interrupted`; no traceback;
nothing is left in the process's TMPDIR (the throwaway CA's folder is removed).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chunkscope import CloseKind, load_capture
from chunkscope.formats.capture import iter_capture

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
COMPLETE = str(FIXTURES / "assistants-complete.capture")
FIELD = FIXTURES / "assistants-cut-after-done.capture"
FIELD_BYTES = load_capture(FIELD).server_bytes
CUT_BYTES = FIELD_BYTES  # assistants-complete cut before its last-chunk
SIGNALS = [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM")]
IDS = ["SIGINT", "SIGTERM"]


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    return {**env, "TMPDIR": str(tmp)}


def _start(args: list[str], tmp: Path, **kw: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "chunkscope", *args],
        stdout=kw.pop("stdout", subprocess.PIPE),  # type: ignore[arg-type]
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp),
        cwd=tmp,
    )


def _wait_for(predicate: object, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def private_tmp(tmp_path: Path) -> Iterator[Path]:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    yield tmp
    assert sorted(p.name for p in tmp.iterdir()) == [], "left behind in TMPDIR"


def _received(path: Path) -> bytes:
    return b"".join(r.data for r in iter_capture(path) if type(r).__name__ == "Received")


@pytest.mark.parametrize(("sig", "code", "name"), SIGNALS, ids=IDS)
@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
def test_serve_stops_with_its_summary(
    private_tmp: Path, sig: signal.Signals, code: int, name: str, tls: bool
) -> None:
    server = _start(["serve", COMPLETE, "--speed", "0", *(["--tls"] if tls else [])], private_tmp)
    assert server.stdout is not None
    url = server.stdout.readline().strip()
    assert url.startswith("http"), server.communicate(timeout=10)
    ca_dirs = [p for p in private_tmp.iterdir() if p.name.startswith("chunkscope-ca-")]
    assert len(ca_dirs) == (1 if tls else 0)  # the CA file curl would use, while serving
    client = subprocess.run(
        [
            sys.executable,
            "-m",
            "chunkscope",
            "capture",
            url,
            "--json",
            *(["--cacert", str(ca_dirs[0] / "chunkscope-ca.pem")] if tls else []),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(private_tmp),
    )
    assert json.loads(client.stdout)["verdict"] == "complete", client.stderr
    server.send_signal(sig)
    _, stderr = server.communicate(timeout=20)
    assert server.returncode == code, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == (
        f"chunkscope: stopped ({name}): 1 connection, 1 served whole"
    )


@pytest.mark.parametrize(("sig", "code", "name"), SIGNALS, ids=IDS)
def test_capture_keeps_every_byte(
    private_tmp: Path, tmp_path: Path, sig: signal.Signals, code: int, name: str
) -> None:
    server = _start(
        [
            "serve",
            COMPLETE,
            "--speed",
            "0",
            "--truncate-at",
            "before-last-chunk",
            "--close",
            "stall",
            "--stall",
            "60",
        ],
        private_tmp,
    )
    assert server.stdout is not None
    url = server.stdout.readline().strip()
    try:
        out = tmp_path / "run.capture"
        capture = _start(["capture", url, "-o", str(out), "--json"], private_tmp)
        _wait_for(lambda: out.exists() and _received(out) == CUT_BYTES, "every byte on disk")
        capture.send_signal(sig)
        stdout, stderr = capture.communicate(timeout=20)
        assert capture.returncode == 1, stderr  # the verdict (truncated), not the signal
        assert "Traceback" not in stderr
        report = json.loads(stdout)
        assert report["close"]["kind"] == "interrupted"
        assert report["received_bytes"] == len(CUT_BYTES)
        saved = load_capture(out)
        assert saved.end is not None
        assert saved.end.kind is CloseKind.INTERRUPTED
        assert saved.server_bytes == CUT_BYTES
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=20)


def test_capture_to_stdout_keeps_every_byte_on_sigterm(private_tmp: Path, tmp_path: Path) -> None:
    server = _start(
        [
            "serve",
            COMPLETE,
            "--speed",
            "0",
            "--truncate-at",
            "before-last-chunk",
            "--close",
            "stall",
            "--stall",
            "60",
        ],
        private_tmp,
    )
    assert server.stdout is not None
    url = server.stdout.readline().strip()
    try:
        out = tmp_path / "stdout.capture"
        with open(out, "w") as sink:
            capture = _start(["capture", url, "-o", "-", "--json"], private_tmp, stdout=sink)
            _wait_for(lambda: _received(out) == CUT_BYTES, "every byte on stdout")
            capture.send_signal(signal.SIGTERM)
            _, stderr = capture.communicate(timeout=20)
        assert capture.returncode == 1, stderr
        report = json.loads(stderr[: stderr.rindex("}") + 1])  # the report went to stderr
        assert report["close"]["kind"] == "interrupted"
        saved = load_capture(out)
        assert saved.end is not None
        assert saved.end.kind is CloseKind.INTERRUPTED
        assert saved.server_bytes == CUT_BYTES
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=20)


@pytest.mark.parametrize(("sig", "code", "name"), SIGNALS, ids=IDS)
def test_demo_interrupted_mid_stream(
    private_tmp: Path, tmp_path: Path, sig: signal.Signals, code: int, name: str
) -> None:
    out = tmp_path / "demo.capture"
    # at 0.05x the field failure's 1.36 s take 27 s: the signal lands mid-stream
    demo = _start(["demo", "--speed", "0.05", "-o", str(out), "--json"], private_tmp)
    _wait_for(lambda: out.exists() and len(_received(out)) > 0, "the first bytes")
    demo.send_signal(sig)
    stdout, stderr = demo.communicate(timeout=30)
    assert demo.returncode == 1, stderr  # the verdict: truncated by the interruption
    assert "Traceback" not in stderr
    report = json.loads(stdout)
    assert report["close"]["kind"] == "interrupted"
    saved = load_capture(out)
    assert saved.end is not None
    assert saved.end.kind is CloseKind.INTERRUPTED
    assert FIELD_BYTES.startswith(saved.server_bytes)
    assert report["received_bytes"] == len(saved.server_bytes)


def test_capture_stopped_while_connecting_still_ends_its_file(
    private_tmp: Path, tmp_path: Path
) -> None:
    import socket

    silent = socket.socket()  # a proxy that accepts and never answers CONNECT
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    try:
        out = tmp_path / "early.capture"
        proxy = f"http://127.0.0.1:{silent.getsockname()[1]}"
        capture = _start(
            ["capture", "https://example.test/", "--proxy", proxy, "-o", str(out)], private_tmp
        )
        _wait_for(lambda: out.exists() and out.stat().st_size > 0, "the capture file")
        time.sleep(0.3)  # inside the CONNECT exchange
        capture.send_signal(signal.SIGTERM)
        _, stderr = capture.communicate(timeout=20)
    finally:
        silent.close()
    assert capture.returncode == 143, stderr
    assert stderr.strip() == "chunkscope: error: interrupted (SIGTERM)"
    saved = load_capture(out)
    assert saved.end is not None
    assert saved.end.kind is CloseKind.INTERRUPTED
