"""Every bad input, as a real `python -m chunkscope` process: exit code, one line, no traceback.

Each case runs with a private TMPDIR, which must be empty afterwards (no throwaway CA folder,
no stray file). The cases run in parallel threads: each is a whole interpreter start-up.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
COMPLETE = str(FIXTURES / "assistants-complete.capture")
CUT = str(FIXTURES / "assistants-cut-after-done.capture")


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    code: int
    stderr: str = ""  # a fragment the one stderr line must hold
    stdout: str = ""  # a fragment stdout must hold
    lines: int = 1  # stderr lines expected (0 for a plain report)


def _cases(files: dict[str, str], busy_port: int, closed_port: int) -> dict[str, Case]:
    url = f"http://127.0.0.1:{closed_port}/"
    return {
        # analyze
        "analyze empty file": Case(("analyze", files["empty"]), 2, "the file is empty"),
        "analyze --raw empty file": Case(
            ("analyze", "--raw", files["empty"]), 1, stdout="NO RESPONSE", lines=0
        ),
        "analyze --raw binary": Case(
            ("analyze", "--raw", files["binary"]),
            1,
            "does not start like an HTTP response",
            stdout="MALFORMED",
        ),
        "analyze cut capture file": Case(
            ("analyze", files["cut"]), 1, stdout="the capture file itself is cut", lines=0
        ),
        "analyze missing file": Case(("analyze", files["missing"]), 2, "no such file"),
        "analyze an empty directory": Case(("analyze", files["dir"]), 2, "no capture files"),
        "analyze JSON not a capture": Case(("analyze", files["json"]), 2, "not a chunkscope"),
        "analyze stdin without --raw": Case(("analyze", "-"), 2, "use --raw for stdin"),
        "analyze --chunks -1": Case(("analyze", COMPLETE, "--chunks", "-1"), 2, "--chunks"),
        "analyze --chunks nan": Case(("analyze", COMPLETE, "--chunks", "nan"), 2, "not an integer"),
        "analyze --max-chunks-kept -5": Case(
            ("analyze", COMPLETE, "--max-chunks-kept", "-5"), 2, "cannot be negative"
        ),
        "analyze --max-chunk-size 0": Case(
            ("analyze", COMPLETE, "--max-chunk-size", "0"), 2, "at least 1"
        ),
        "analyze empty --terminal-event": Case(
            ("analyze", COMPLETE, "--terminal-event", ""), 2, "cannot be empty"
        ),
        "analyze --close on a capture": Case(
            ("analyze", COMPLETE, "--close", "reset"), 2, "applies to --raw input only"
        ),
        "analyze --method on a capture": Case(
            ("analyze", COMPLETE, "--method", "HEAD"), 2, "applies to --raw input only"
        ),
        "analyze --raw --method ''": Case(
            ("analyze", "--raw", files["raw"], "--method", ""), 2, "cannot be empty"
        ),
        # capture
        "capture -m nan": Case(("capture", url, "-m", "nan"), 2, "not a finite number"),
        "capture -m -1": Case(("capture", url, "-m", "-1"), 2, "cannot be negative"),
        "capture --idle-timeout nan": Case(("capture", url, "--idle-timeout", "nan"), 2, "finite"),
        "capture --idle-timeout -5": Case(("capture", url, "--idle-timeout", "-5"), 2, "negative"),
        "capture --connect-timeout -1": Case(
            ("capture", url, "--connect-timeout", "-1"), 2, "negative"
        ),
        "capture --head-timeout inf": Case(("capture", url, "--head-timeout", "inf"), 2, "finite"),
        "capture empty -X": Case(("capture", url, "-X", ""), 2, "cannot be empty"),
        "capture -X with a space": Case(("capture", url, "-X", "G T"), 2, "not an HTTP token"),
        "capture empty --terminal-event": Case(
            ("capture", url, "--terminal-event", ""), 2, "cannot be empty"
        ),
        "capture --chunks -1": Case(("capture", url, "--chunks", "-1"), 2, "negative"),
        "capture --connect-to port 99999": Case(
            ("capture", url, "--connect-to", "127.0.0.1:99999"), 2, "port 1-65535"
        ),
        "capture URL port 99999": Case(("capture", "http://127.0.0.1:99999/"), 2, "invalid port"),
        "capture ftp URL": Case(("capture", "ftp://127.0.0.1/"), 2, "unsupported URL scheme"),
        "capture bad -H": Case(("capture", url, "-H", "no colon"), 2, "-H wants"),
        "capture bad --json-body": Case(("capture", url, "--json-body", "{"), 2, "not valid JSON"),
        "capture socks proxy": Case(
            ("capture", url, "--proxy", "socks5://127.0.0.1:1080"), 2, "only http:// proxies"
        ),
        "capture -o into a missing folder": Case(
            ("capture", url, "-o", files["missing_dir_out"]), 2, "No such file"
        ),
        "capture connection refused": Case(("capture", url), 3, "connection refused"),
        # serve
        "serve --port -1": Case(("serve", COMPLETE, "--port", "-1"), 2, "0-65535"),
        "serve --port 99999": Case(("serve", COMPLETE, "--port", "99999"), 2, "0-65535"),
        "serve --port in use": Case(
            ("serve", COMPLETE, "--port", str(busy_port)), 2, "address already in use"
        ),
        "serve --host 256.1.1.1": Case(
            ("serve", COMPLETE, "--host", "256.1.1.1"), 2, "not an IP address"
        ),
        "serve empty --host": Case(("serve", COMPLETE, "--host", ""), 2, "cannot be empty"),
        "serve unknown --host": Case(
            ("serve", COMPLETE, "--host", "no-such-host.invalid"), 2, "cannot listen on"
        ),
        "serve --speed nan": Case(("serve", COMPLETE, "--speed", "nan"), 2, "finite"),
        "serve --speed -1": Case(("serve", COMPLETE, "--speed", "-1"), 2, "negative"),
        "serve --stall nan": Case(("serve", COMPLETE, "--stall", "nan"), 2, "finite"),
        "serve --stall 1e9": Case(("serve", COMPLETE, "--stall", "1e9"), 2, "at most 600"),
        "serve --delay-per-write -1": Case(
            ("serve", COMPLETE, "--delay-per-write", "-1"), 2, "negative"
        ),
        "serve --slice 0": Case(("serve", COMPLETE, "--slice", "0"), 2, "at least 1"),
        "serve TLS close without TLS": Case(
            ("serve", COMPLETE, "--close", "tls-no-close-notify"), 2, "needs TLS"
        ),
        "serve --tls and --cert": Case(
            ("serve", COMPLETE, "--tls", "--cert", "c.pem", "--key", "k.pem"), 2, "choose one"
        ),
        "serve --ca-out without --tls": Case(
            ("serve", COMPLETE, "--ca-out", "ca.pem"), 2, "--ca-out needs --tls"
        ),
        "serve --raw --allow-truncated": Case(
            ("serve", "--raw", files["raw"], "--allow-truncated"), 2, "--allow-truncated is for"
        ),
        "serve empty --truncate-at": Case(
            ("serve", COMPLETE, "--truncate-at", ""), 2, "cannot be empty"
        ),
        "serve --truncate-at beyond": Case(
            ("serve", COMPLETE, "--truncate-at", "999999"), 2, "beyond the 5193 bytes"
        ),
        "serve --truncate-at unknown": Case(
            ("serve", COMPLETE, "--truncate-at", "middle"), 2, "unknown cut point"
        ),
        "serve missing file": Case(("serve", files["missing"]), 2, "no such file"),
        "serve empty file": Case(("serve", files["empty"]), 2, "the file is empty"),
        "serve cut capture": Case(("serve", files["cut"]), 2, "--allow-truncated"),
        # demo
        "demo --speed -1": Case(("demo", "--speed", "-1"), 2, "negative"),
        "demo --speed nan": Case(("demo", "--speed", "nan"), 2, "finite"),
        # tap and probe use the same validated option types
        "tap --idle-timeout nan": Case(
            ("tap", "http://127.0.0.1:9/", "--idle-timeout", "nan"), 2, "finite"
        ),
        "tap --connect-timeout -1": Case(
            ("tap", "http://127.0.0.1:9/", "--connect-timeout", "-1"), 2, "negative"
        ),
        "tap empty --terminal-event": Case(
            ("tap", "http://127.0.0.1:9/", "--terminal-event", ""), 2, "cannot be empty"
        ),
        "probe empty --terminal-event": Case(
            ("probe", "http://127.0.0.1:9/", "-n", "1", "--terminal-event", ""),
            2,
            "cannot be empty",
        ),
        "export empty --terminal-event": Case(
            ("export", COMPLETE, "--har", "-", "--terminal-event", ""), 2, "cannot be empty"
        ),
        "probe --stream-max-time -1": Case(
            ("probe", "http://127.0.0.1:9/", "-n", "1", "--stream-max-time", "-1"), 2, "negative"
        ),
        "demo -o into a missing folder": Case(
            ("demo", "-o", files["missing_dir_out"]), 2, "no such directory"
        ),
        # the command itself
        "unknown command": Case(("frobnicate",), 2, "invalid choice"),
        "unknown option": Case(("analyze", COMPLETE, "--frobnicate"), 2, "unrecognized"),
    }


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("bad-inputs")
    (d / "empty").write_bytes(b"")
    (d / "binary").write_bytes(bytes(range(256)) * 20)
    (d / "json").write_text('{"a": 1}\n')
    (d / "raw").write_bytes(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
    (d / "dir").mkdir()
    cut = Path(CUT).read_bytes()
    (d / "cut").write_bytes(cut[: len(cut) - 40])  # the last record loses its end
    return {
        "empty": str(d / "empty"),
        "binary": str(d / "binary"),
        "json": str(d / "json"),
        "raw": str(d / "raw"),
        "dir": str(d / "dir"),
        "cut": str(d / "cut"),
        "missing": str(d / "missing.capture"),
        "missing_dir_out": str(d / "no-such-folder" / "out.capture"),
    }


@pytest.fixture(scope="module")
def ports() -> Iterator[tuple[int, int]]:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    try:
        yield busy.getsockname()[1], closed.getsockname()[1]
    finally:
        busy.close()
        closed.close()


def _run(args: tuple[str, ...], tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TMPDIR": str(tmp)}
    env = {k: v for k, v in env.items() if "proxy" not in k.lower() and k != "CHUNKSCOPE_DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "chunkscope", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp,
        stdin=subprocess.DEVNULL,
    )


def test_every_bad_input_is_one_line_and_an_exit_code(
    files: dict[str, str], ports: tuple[int, int], tmp_path: Path
) -> None:
    cases = _cases(files, *ports)
    dirs = {name: tmp_path / f"case{i}" for i, name in enumerate(cases)}
    for d in dirs.values():
        d.mkdir()
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(
            zip(cases, pool.map(lambda n: _run(cases[n].args, dirs[n]), cases), strict=True)
        )
    failures = []
    for name, case in cases.items():
        proc = results[name]
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        left = sorted(p.name for p in dirs[name].iterdir())
        problems = []
        if proc.returncode != case.code:
            problems.append(f"exit {proc.returncode} != {case.code}")
        if "Traceback" in proc.stderr + proc.stdout:
            problems.append("a traceback")
        if len(lines) != case.lines:
            problems.append(f"{len(lines)} stderr lines, not {case.lines}")
        if case.stderr and case.stderr.lower() not in proc.stderr.lower():
            problems.append(f"stderr lacks {case.stderr!r}")
        if case.stdout and case.stdout not in proc.stdout:
            problems.append(f"stdout lacks {case.stdout!r}")
        if left:
            problems.append(f"left behind in TMPDIR: {left}")
        if problems:
            failures.append(f"{name}: {'; '.join(problems)}\n    stderr: {proc.stderr.strip()!r}")
    assert not failures, "\n".join(failures)


def test_a_closed_stdout_pipe_is_quiet(tmp_path: Path) -> None:
    # `chunkscope analyze ... | head -1`: the reader goes away after one line
    body = b"".join(b"1\r\nx\r\n" for _ in range(50_000))
    raw = tmp_path / "many.raw"
    raw.write_bytes(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body + b"0\r\n\r\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "chunkscope", "analyze", "--raw", str(raw), "--chunks", "50000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith(b"chunkscope: COMPLETE")
    proc.stdout.close()
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert stderr == b""


def test_events_say_when_chunk_headers_stop_being_listed(
    serve_process: object, tmp_path: Path
) -> None:
    raw = tmp_path / "many.raw"
    raw.write_bytes(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"1\r\nx\r\n" * 100_005
        + b"0\r\n\r\n"
    )
    server = serve_process("--raw", str(raw), "--speed", "0")  # type: ignore[operator]
    proc = subprocess.run(
        [sys.executable, "-m", "chunkscope", "capture", server.url, "--events"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    notices = [line for line in lines if "are not listed" in line]
    assert len(notices) == 1
    assert "after #99999" in notices[0]
    assert sum("size 1" in line for line in lines) == 100_000
