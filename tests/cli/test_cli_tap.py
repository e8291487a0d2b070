"""``chunkscope tap``: the URL first, a line per exchange, a summary, and the command's exit code."""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chunkscope import load_capture
from chunkscope.cli.main import main

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
CUT = FIXTURES / "assistants-cut-after-done.capture"

CHILD = """
import http.client, os, sys
from urllib.parse import urlsplit
base = urlsplit(os.environ["OPENAI_BASE_URL"])
conn = http.client.HTTPConnection(base.hostname, base.port, timeout=10)
conn.request("POST", base.path + "/threads/runs", body=b"{}", headers={"Authorization": "Bearer sk-secret"})
response = conn.getresponse()
try:
    response.read()
except http.client.IncompleteRead:
    print("child: incomplete read", flush=True)
names = ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "CHUNKSCOPE_TAP_URL")
sys.stdout.write("child: " + " ".join(os.environ[name] for name in names) + chr(10))  # one write
sys.stdout.flush()
sys.exit(3)
"""


def _tap(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "chunkscope", "tap", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_tap_runs_a_command_through_itself_and_exits_with_its_code(
    serve_process: Any, tmp_path: Path
) -> None:
    server = serve_process("--speed", "0", str(CUT))
    captures = tmp_path / "caps"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "chunkscope",
            "tap",
            server.url + "v1",
            "--dir",
            str(captures),
            "--",
            sys.executable,
            "-c",
            CHILD,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 3, done.stderr
    lines = done.stdout.splitlines()
    tap_url = lines[0]
    assert tap_url.startswith("http://127.0.0.1:")
    assert tap_url.endswith("/v1")
    root = tap_url[: -len("/v1")]
    # the child's lines and the tap's share one pipe: they may interleave
    assert f"child: {tap_url} {root} {tap_url}" in done.stdout
    assert "child: incomplete read" in done.stdout
    found = re.search(r"#1 .*?\.capture", done.stdout)
    assert found is not None, done.stdout
    exchange = found.group(0)
    assert exchange.startswith("#1 POST /v1/threads/runs 200 | truncated at chunk-boundary, byte")
    assert "missing b'0\\r\\n\\r\\n'" in exchange
    assert "| fin, " in exchange
    assert "| sse completed, 23 events |" in exchange
    files = sorted(os.listdir(captures))
    assert len(files) == 1
    assert exchange.endswith(files[0])
    assert files[0].endswith("-0001-POST-v1_threads_runs.capture")
    assert "chunkscope tap: 1 exchange, captures in" in done.stdout
    assert "      1  truncated, fin\n" in done.stdout
    capture = load_capture(captures / files[0])
    assert b"sk-secret" not in capture.request_bytes  # redacted by default
    assert capture.server_bytes == load_capture(CUT).server_bytes


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_stops_the_tap_with_its_summary(
    signum: int, serve_process: Any, tmp_path: Path
) -> None:
    server = serve_process("--speed", "0", str(CUT))
    tap = _tap(server.url, "--dir", str(tmp_path))
    try:
        assert tap.stdout is not None
        url = tap.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        host, port = url.split("//")[1].rstrip("/").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("GET", "/v1/models")
        with pytest.raises(http.client.IncompleteRead):
            conn.getresponse().read()
        conn.close()
        assert tap.stdout.readline().startswith("#1 GET /v1/models 200 | truncated")
        tap.send_signal(signum)
        out, err = tap.communicate(timeout=20)
    finally:
        if tap.poll() is None:
            tap.kill()
            tap.communicate(timeout=10)
    assert tap.returncode == 0, err
    assert "chunkscope tap: 1 exchange" in out
    assert "Traceback" not in err


def test_listening_beyond_loopback_warns(serve_process: Any, tmp_path: Path) -> None:
    tap = _tap("http://127.0.0.1:9/", "--listen", "0.0.0.0:0", "--dir", str(tmp_path))
    try:
        assert tap.stdout is not None
        assert tap.stdout.readline().startswith("http://0.0.0.0:")
        tap.send_signal(signal.SIGTERM)
        _, err = tap.communicate(timeout=20)
    finally:
        if tap.poll() is None:
            tap.kill()
            tap.communicate(timeout=10)
    assert "warning: listening on 0.0.0.0, not loopback" in err
    assert "may hold their secrets" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ftp://example.test/"], "unsupported URL scheme 'ftp'"),
        (["http://127.0.0.1:9/", "--listen", "nope:x"], "--listen wants HOST:PORT"),
        (
            ["http://127.0.0.1:9/", "--", "/nonexistent/command"],
            "cannot run '/nonexistent/command': no such command",
        ),
        (["https://127.0.0.1:9/", "--cacert", "/nonexistent.pem"], "cannot load --cacert"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            ["tap", *args, "--dir", str(tmp_path)]
            if "--" not in args
            else ["tap", *args[:1], "--dir", str(tmp_path), *args[1:]]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_stopping_the_tap_mid_stream_leaves_a_loadable_capture(
    serve_process: Any, tmp_path: Path
) -> None:
    server = serve_process(
        "--speed",
        "0",
        "--truncate-at",
        "mid-chunk:4",
        "--close",
        "stall",
        "--stall",
        "60",
        str(CUT),
    )
    tap = _tap(server.url, "--dir", str(tmp_path))
    try:
        assert tap.stdout is not None
        host, port = tap.stdout.readline().strip().split("//")[1].rstrip("/").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("GET", "/v1/models")
        response = conn.getresponse()
        assert response.status == 200
        response.read1(100)  # part of the body arrived; the upstream now stalls
        tap.send_signal(signal.SIGTERM)
        out, err = tap.communicate(timeout=20)
        conn.close()
    finally:
        if tap.poll() is None:
            tap.kill()
            tap.communicate(timeout=10)
    assert tap.returncode == 0, err
    assert "      1  truncated, interrupted\n" in out
    (name,) = os.listdir(tmp_path)
    capture = load_capture(tmp_path / name)
    assert capture.end is not None
    assert capture.end.kind.value == "interrupted"
    assert capture.end.detail == "the tap was stopped before the connection ended"
    assert capture.server_bytes == load_capture(CUT).server_bytes[: len(capture.server_bytes)]


def test_a_tls_tap_writes_its_ca_for_clients(serve_process: Any, tmp_path: Path) -> None:
    import ssl

    server = serve_process("--speed", "0", str(CUT))
    ca = tmp_path / "tap-ca.pem"
    tap = _tap(server.url, "--tls", "--ca-out", str(ca), "--dir", str(tmp_path / "caps"))
    try:
        assert tap.stdout is not None
        url = tap.stdout.readline().strip()
        assert url.startswith("https://127.0.0.1:")
        host, port = url.split("//")[1].rstrip("/").split(":")
        context = ssl.create_default_context(cafile=str(ca))
        conn = http.client.HTTPSConnection(host, int(port), timeout=10, context=context)
        conn.request("GET", "/")
        with pytest.raises(http.client.IncompleteRead):
            conn.getresponse().read()
        conn.close()
        assert "| truncated at chunk-boundary" in tap.stdout.readline()
        tap.send_signal(signal.SIGTERM)
        tap.communicate(timeout=20)
    finally:
        if tap.poll() is None:
            tap.kill()
            tap.communicate(timeout=10)
    assert tap.returncode == 0
