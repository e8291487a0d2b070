"""A hostile user at the command line, as real `python -m chunkscope` processes.

Bad option values, bad files and output paths, a reader that leaves, signals at start-up and
mid-stream, a terminal or not: each ends with one line on stderr and the documented exit
code, never a traceback, and a capture file left behind still loads.
"""

from __future__ import annotations

import os
import pty
import select
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chunkscope.formats.capture import iter_capture

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
OK = str(FIXTURES / "assistants-complete.capture")
CUT = str(FIXTURES / "assistants-cut-after-done.capture")
TIMEOUT = 30


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.pop("CHUNKSCOPE_DEBUG", None)
    return {**env, **extra}


def _run(args: list[str | bytes], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "chunkscope", *args],
        capture_output=True,
        timeout=TIMEOUT,
        env=_env(),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


def _one_line(proc: subprocess.CompletedProcess[bytes], code: int, fragment: str) -> None:
    err = proc.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err
    assert proc.returncode == code, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert fragment.lower() in lines[0].lower()


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("hostile")
    (d / "empty").write_bytes(b"")
    (d / "garbage").write_bytes(bytes(range(256)) * 40)
    (d / "adir").mkdir()
    (d / "exists.capture").write_bytes(Path(OK).read_bytes())
    text = Path(CUT).read_bytes()
    (d / "truncated.capture").write_bytes(text[: len(text) - 40])
    lines = Path(OK).read_bytes().split(b"\n")
    (d / "hugeline.capture").write_bytes(
        b"\n".join([*lines[:2], b"{" + b"a" * (8 << 20), *lines[2:]])
    )
    (d / os.fsdecode(b"cut\xff.capture")).write_bytes(text)
    if os.geteuid() == 0:
        # root renames over anything: a private /dev/full, so a regression cannot replace the real one
        os.mknod(d / "full", 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    return d


def _full(work: Path) -> str:
    return str(work / "full") if os.geteuid() == 0 else "/dev/full"


@pytest.fixture(scope="module")
def closed_port() -> Iterator[int]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    yield s.getsockname()[1]
    s.close()


# (args, exit code, a fragment of the one stderr line); {url} is a refused URL, {full} a full device
CASES: dict[str, tuple[list[str], int, str]] = {
    "unknown option": (["capture", "{url}", "--frobnicate"], 2, "unrecognized"),
    "missing URL": (["capture"], 2, "required"),
    "missing -n": (["probe", "{url}"], 2, "required"),
    "unknown --profile": (["analyze", OK, "--profile", "nope"], 2, "invalid choice"),
    "unknown --close": (["serve", OK, "--close", "nope"], 2, "invalid choice"),
    "unknown --keep": (["probe", "{url}", "-n", "1", "--keep", "x"], 2, "invalid choice"),
    "--chunks 1e3": (["analyze", OK, "--chunks", "1e3"], 2, "not an integer"),
    "-m inf": (["capture", "{url}", "-m", "inf"], 2, "finite"),
    "-m 1e400": (["capture", "{url}", "-m", "1e400"], 2, "finite"),
    "--rate nan": (["probe", "{url}", "-n", "1", "--rate", "nan"], 2, "--rate"),
    "--port 80.5": (["serve", OK, "--port", "80.5"], 2, "not an integer"),
    "--host a..b": (["serve", OK, "--host", "a..b"], 2, "not a host name"),
    "--host 64-byte label": (["serve", OK, "--host", "a" * 64], 2, "not a host name"),
    "unclosed IPv6 URL": (["capture", "http://[::1"], 2, "not a valid URL"),
    "tap unclosed IPv6 URL": (["tap", "http://[::1"], 2, "not a valid URL"),
    "probe unclosed IPv6 URL": (["probe", "http://[::1", "-n", "1"], 2, "not a valid URL"),
    "bad --proxy port": (["capture", "{url}", "--proxy", "http://h:99999"], 2, "invalid port"),
    "--connect-to no port": (["capture", "{url}", "--connect-to", "[::1]"], 2, "HOST:PORT"),
    "--listen 256.0.0.1:0": (["tap", "{url}", "--listen", "256.0.0.1:0"], 2, "not an IP"),
    "non-ASCII -H": (["capture", "{url}", "-H", "X: é"], 2, "ASCII"),
    "probe non-ASCII -H": (["probe", "{url}", "-n", "1", "-H", "X: é"], 2, "ASCII"),
    "--json-body NaN": (["capture", "{url}", "--json-body", "NaN"], 2, "not valid JSON"),
    "empty -o": (["capture", "{url}", "-o", ""], 2, "cannot be empty"),
    "empty --html": (["analyze", OK, "--html", ""], 2, "cannot be empty"),
    "empty --har": (["export", OK, "--har", ""], 2, "cannot be empty"),
    "empty evidence -o": (["evidence", OK, "-o", ""], 2, "cannot be empty"),
    "empty --ca-out": (["serve", OK, "--tls", "--ca-out", ""], 2, "cannot be empty"),
    "empty --dir": (["tap", "{url}", "--dir", ""], 2, "cannot be empty"),
    "connection refused": (["capture", "{url}"], 3, "connection refused"),
    "analyze a directory of nothing": (["analyze", "adir"], 2, "no capture files"),
    "analyze garbage": (["analyze", "garbage"], 2, "not a chunkscope capture"),
    "analyze a huge bad line": (["analyze", "hugeline.capture"], 2, "invalid JSON"),
    "analyze --raw unreadable": (["analyze", "--raw", "/proc/self/mem"], 2, "/proc/self/mem"),
    "serve truncated": (["serve", "truncated.capture"], 2, "--allow-truncated"),
    "serve a directory": (["serve", "adir"], 2, "is a directory"),
    "export garbage": (["export", "garbage", "--har", "x.har"], 2, "not a chunkscope"),
    "evidence empty file": (["evidence", "empty", "-o", "ev"], 2, "the file is empty"),
    "-o exists": (["capture", "{url}", "-o", "exists.capture"], 2, "--force"),
    "-o in a missing folder": (["capture", "{url}", "-o", "nope/x.capture"], 2, "no such"),
    "--html in a missing folder": (["analyze", OK, "--html", "nope/x.html"], 2, "no such dir"),
    "--html a directory": (["analyze", OK, "--html", "adir"], 2, "is a directory"),
    "--html on a full disk": (["analyze", OK, "--html", "{full}"], 2, "no space left"),
    "--har on a full disk": (["export", OK, "--har", "{full}"], 2, "no space left"),
    "--pcapng on a full disk": (["export", OK, "--pcapng", "{full}"], 2, "no space left"),
    "--ca-out on a full disk": (["serve", OK, "--tls", "--ca-out", "{full}"], 2, "no space left"),
    "evidence zip in a missing folder": (["evidence", OK, "-o", "nope/e.zip"], 2, "no such"),
    "tap --dir is a file": (["tap", "{url}", "--dir", "exists.capture"], 2, "cannot create"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_line_and_its_exit_code(name: str, work: Path, closed_port: int) -> None:
    args, code, fragment = CASES[name]
    url = f"http://127.0.0.1:{closed_port}/"
    argv = [a.replace("{url}", url).replace("{full}", _full(work)) for a in args]
    _one_line(_run(list(argv), work), code, fragment)
    if "{full}" in args and os.geteuid() == 0:
        assert stat.S_ISCHR(os.lstat(work / "full").st_mode), "the device was replaced"


def test_non_utf8_file_names_are_not_internal_errors(work: Path) -> None:
    name = b"cut\xff.capture"
    proc = _run([name], work)  # no command: usage
    assert proc.returncode == 2
    for args in ([b"analyze", name], [b"analyze", name, b"--html", b"r\xff.html"]):
        proc = _run(list(args), work)
        assert proc.returncode == 1, proc.stderr
        assert b"Traceback" not in proc.stderr
        assert b"internal error" not in proc.stderr
    proc = _run([b"evidence", name, b"-o", b"ev\xff"], work)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.strip() == b"ev\xff"  # the name printed back as its bytes
    assert (work / os.fsdecode(b"ev\xff") / "cut\ufffd.capture").exists()


def test_a_reader_that_leaves_keeps_the_verdict(work: Path) -> None:
    body = b"".join(b"5\r\nhello\r\n" for _ in range(30_000))  # ~3 MB of --json chunk records
    raw = work / "big.raw"
    raw.write_bytes(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    )  # no last-chunk
    for reader in ("head -c 10", "true"):
        proc = subprocess.run(
            f"{sys.executable} -m chunkscope analyze --raw {raw} --json | {reader}; "
            'echo "rc=${PIPESTATUS[0]}" >&2',
            shell=True,
            executable="/bin/bash",
            capture_output=True,
            timeout=TIMEOUT,
            env=_env(),
        )
        assert proc.stderr.decode().strip() == "rc=1", proc.stderr  # truncated, and nothing else


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_while_starting_is_one_line(sig: signal.Signals, code: int, work: Path) -> None:
    # once the package is imported (the first line of its output is its URL, much later),
    # a signal during the imports of trio and the command's modules is one line
    proc = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", "chunkscope", "serve", OK],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
        cwd=work,
    )
    assert proc.stderr is not None
    seen = b""
    deadline = time.monotonic() + TIMEOUT
    while b"chunkscope.cli.render" not in seen and time.monotonic() < deadline:
        seen += proc.stderr.readline()
    proc.send_signal(sig)
    _, rest = proc.communicate(timeout=TIMEOUT)
    err = [line for line in (seen + rest).decode().splitlines() if not line.startswith("import")]
    assert proc.returncode == code, err
    assert len(err) == 1, err
    assert err[0].startswith("chunkscope: ")
    assert "interrupted" in err[0] or "stopped" in err[0]


def _slow_server(work: Path) -> subprocess.Popen[str]:
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chunkscope",
            "serve",
            OK,
            "--speed",
            "0",
            "--slice",
            "200",
            "--delay-per-write",
            "0.05",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=work,
    )
    return server


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_capture_of_a_slow_stream_stopped_leaves_a_loadable_file(
    sig: signal.Signals, work: Path, tmp_path: Path
) -> None:
    server = _slow_server(work)
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        out = tmp_path / "stopped.capture"
        cap = subprocess.Popen(
            [sys.executable, "-m", "chunkscope", "capture", url, "-o", str(out)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_env(),
        )
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline and (not out.exists() or out.stat().st_size < 2000):
            time.sleep(0.05)
        cap.send_signal(sig)
        stdout, stderr = cap.communicate(timeout=TIMEOUT)
        assert cap.returncode == 1, stderr  # the verdict: interrupted
        assert b"Traceback" not in stderr
        assert b"interrupted" in stdout
        records = list(iter_capture(out))  # loads, whole
        assert type(records[-1]).__name__ == "Ended"
        again = _run(["analyze", str(out), "--json"], tmp_path)
        assert again.returncode == 1
        assert b'"interrupted"' in again.stdout
        server.send_signal(sig)
        _, serr = server.communicate(timeout=TIMEOUT)
        assert server.returncode == 128 + sig
        assert "stopped" in serr
        assert "Traceback" not in serr
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate(timeout=10)


def _capture_stderr(url: str, tty: bool, **env: str) -> bytes:
    if not tty:
        proc = subprocess.run(
            [sys.executable, "-m", "chunkscope", "capture", url],
            capture_output=True,
            timeout=TIMEOUT,
            env=_env(**env),
        )
        return proc.stderr
    main, child = pty.openpty()
    proc2 = subprocess.Popen(
        [sys.executable, "-m", "chunkscope", "capture", url],
        stdout=subprocess.DEVNULL,
        stderr=child,
        env=_env(**env),
    )
    os.close(child)
    seen = b""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # EIO: the child closed the pty
                break
            if not chunk:
                break
            seen += chunk
        elif proc2.poll() is not None:
            break
    proc2.wait(timeout=TIMEOUT)
    os.close(main)
    return seen


@pytest.mark.slow
def test_status_line_only_on_a_terminal(work: Path) -> None:
    server = _slow_server(work)
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        piped = _capture_stderr(url, tty=False, NO_COLOR="1")
        assert b"\r" not in piped, piped  # nothing for a log file
        assert b"\x1b" not in piped, piped
        on_tty = _capture_stderr(url, tty=True, NO_COLOR="1")
        assert b"\x1b[K" in on_tty, on_tty  # the live status line
        assert b" chunks " in on_tty, on_tty
        assert not any(f"\x1b[{n}m".encode() in on_tty for n in range(30, 48))  # no colour
    finally:
        server.kill()
        server.communicate(timeout=10)
