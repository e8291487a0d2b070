"""No credential in any saved file or printed report: every secret form, byte by byte.

A real `chunkscope capture` process sends a request with credentials in the
URL (userinfo, query parameters) and in headers of every naming style to a
socket server on 127.0.0.1 that answers with cookies (one of them obs-folded)
and an SSE stream. The server must receive every secret as sent; the capture
file, the text report, the --json report, the --events lines and the live
status line must hold none of them.
"""

from __future__ import annotations

import base64
import json
import os
import pty
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from chunkscope import load_capture

URL_SECRETS = {
    "userinfo": ("alice", "s3cr3t-pw"),
    "key": "AIzaSECRETKEY1",
    "api_key": "SECRETAPIKEY2",
    "access_token": "SECRETTOKEN3",
    "SIG": "SECRETSIG4",
}
HEADER_SECRETS = {
    "Api_Key": "SECRETHDR01",
    "X-API_KEY": "SECRETHDR02",
    "Ocp-Apim-Subscription-Key": "SECRETHDR03",
    "X-Auth-Key": "SECRETHDR04",
    "X-Functions-Key": "SECRETHDR05",
    "X-Access-Key": "SECRETHDR06",
    "Authentication": "SECRETHDR07",
    "Proxy-Authorization": "Basic SECRETHDR08",
    "x-custom-secret": "SECRETHDR09",
    "X-Refresh_Token": "SECRETHDR10",
    "X-" + "a" * 300 + "-Whatever": "SECRETHDR12",  # longer than the masker's window
}
RESPONSE_SECRETS = ["SECRETCOOKIE1", "SECRETFOLDED2", "SECRETLONGRESP3"]
RESPONSE_HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/event-stream\r\n"
    b"Set-Cookie: sid=SECRETCOOKIE1; Path=/\r\n"
    b"Set-Cookie: pref=1;\r\n"
    b"  SECRETFOLDED2=2\r\n"  # obs-fold continuation of a Set-Cookie (RFC 9112 §5.2)
    b"X-" + b"b" * 300 + b"-Note: SECRETLONGRESP3\r\n"
    b"Transfer-Encoding: chunked\r\n"
    b"\r\n"
)


def secrets() -> list[str]:
    user, password = URL_SECRETS["userinfo"]
    basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    values = [password, basic, *(v for k, v in URL_SECRETS.items() if k != "userinfo")]
    values += [v.split()[-1] for v in HEADER_SECRETS.values()]
    return values + RESPONSE_SECRETS


@contextmanager
def secret_server() -> Iterator[tuple[int, list[bytes]]]:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    received: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        end = time.monotonic() + 120
        while not stop.is_set() and time.monotonic() < end:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(10)
                request = b""
                while b"\r\n\r\n" not in request:
                    data = conn.recv(65536)
                    if not data:
                        break
                    request += data
                received.append(request)
                conn.sendall(RESPONSE_HEAD)
                for i in range(4):
                    event = f"data: event {i}\n\n".encode()
                    conn.sendall(b"%x\r\n%b\r\n" % (len(event), event))
                    time.sleep(0.15)
                conn.sendall(b"0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], received
    finally:
        stop.set()
        thread.join(timeout=10)
        listener.close()


def run(args: list[str], *, tty_stderr: bool = False) -> tuple[int, bytes, bytes]:
    """Run chunkscope; with ``tty_stderr`` its stderr is a terminal, so it draws its status line."""
    cmd = [sys.executable, "-m", "chunkscope", *args]
    if not tty_stderr:
        proc = subprocess.run(cmd, capture_output=True, timeout=60, check=False)
        return proc.returncode, proc.stdout, proc.stderr
    master, slave = pty.openpty()
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=slave) as proc:
        os.close(slave)
        stdout, _ = proc.communicate(timeout=60)
    reader.join(timeout=10)
    os.close(master)
    return proc.returncode, stdout, b"".join(chunks)


def test_no_secret_reaches_the_file_or_any_report(tmp_path: Path) -> None:
    with secret_server() as (port, received):
        user, password = URL_SECRETS["userinfo"]
        query = "&".join(f"{k}={v}" for k, v in URL_SECRETS.items() if k != "userinfo")
        url = (
            f"http://{user}:{password}@127.0.0.1:{port}/v1/m:streamGenerateContent?alt=sse&{query}"
        )
        headers = [a for n, v in HEADER_SECRETS.items() for a in ("-H", f"{n}: {v}")]
        capture = tmp_path / "s.capture"
        outputs: dict[str, bytes] = {}
        code, out, err = run(["capture", url, *headers, "-o", str(capture)], tty_stderr=True)
        assert code == 0, err
        outputs["text report"], outputs["status line"] = out, err
        assert b"\x1b[K" in err  # the status line was drawn
        assert b" chunks " in err
        code, out, err = run(["capture", url, *headers, "--json", "--events"])
        assert code == 0, err
        outputs["--json report"], outputs["--events (stderr)"] = out, err
        code, out, err = run(["capture", url, *headers, "--events"])
        outputs["--events"] = out + err
        assert b"event #3" in out
    for code_, out, err in (
        run(["analyze", str(capture)]),
        run(["analyze", str(capture), "--json"]),
    ):
        assert code_ == 0
        outputs[f"analyze {len(outputs)}"] = out + err
    outputs["capture file"] = capture.read_bytes()

    # The server got every secret, as sent: masking is only in what chunkscope keeps and shows.
    assert len(received) == 3
    request = received[0]
    for value in secrets()[1:-3]:  # the password travels inside the Basic credentials
        assert value.encode() in request, value
    for name, text in outputs.items():
        for value in secrets():
            assert value.encode() not in text, f"{value!r} in the {name}"
    # Same length, so every offset still holds.
    saved = load_capture(capture)
    assert len(saved.request_bytes) == len(request)
    assert len(saved.server_bytes) > len(RESPONSE_HEAD)
    assert saved.server_bytes[len(RESPONSE_HEAD) :].startswith(b"f\r\ndata: event 0")
    report = json.loads(outputs["--json report"])
    masked = report["connection"]["redacted"]
    for name in ("userinfo", "?key", "?api_key", "?access_token", "?SIG", "Api_Key", "Set-Cookie"):
        assert name in masked, name
    assert report["request"]["url"].startswith("http://*****:*********@127.0.0.1")
    assert b"masked " in outputs["text report"]


def test_no_redact_is_said_in_the_report(tmp_path: Path) -> None:
    with secret_server() as (port, _):
        url = f"http://127.0.0.1:{port}/?key=KEEPME"
        code, out, _ = run(["capture", url, "--no-redact", "--json"])
        assert code == 0
        report = json.loads(out)
        assert report["connection"]["redacted"] is None
        assert report["request"]["url"].endswith("key=KEEPME")
        code, out, _ = run(["capture", url, "--no-redact"])
        assert b"--no-redact" in out
