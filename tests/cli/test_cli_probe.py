"""`chunkscope probe`, in-process through main(argv) and as a real process, against real servers.

The server (tests/support/endings.py) is chunkscope's replay server in a thread
of its own, with a per-connection script chooser.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.endings import COMPLETE, CUT_AFTER_DONE, STALL, MixedEndings, ServerThread, mix_of_40

from chunkscope.cli.main import main


def _refused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/"


def test_probe_prints_the_summary_of_the_mix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chooser = MixedEndings(mix_of_40())
    with ServerThread(chooser) as url:
        code = main(
            ["probe", url, "-n", "40", "-c", "8", "--idle-timeout", "1", "--dir", str(tmp_path)]
        )
    out = capsys.readouterr().out
    assert code == 1
    assert out.startswith("chunkscope: 16 of 40 streams did not complete (40.0 %")
    assert f"probe of {url}: 40 of 40 requests sent" in out
    assert "    24  60.0%" in out
    assert "complete / - / fin / sse completed" in out
    assert "truncated / chunk-boundary / timeout / sse unknown" in out
    assert "[idle-timeout] 4 of 4 were silent for 1.0 ±" in out
    assert "chunkscope's own --idle-timeout" in out
    assert len(list(tmp_path.glob("*.capture"))) == 16  # --keep failed is the default


def test_probe_json_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    chooser = MixedEndings([COMPLETE])
    with ServerThread(chooser) as url:
        code = main(
            ["probe", url, "-n", "6", "-c", "2", "--json", "--dir", str(tmp_path), "--keep", "all"]
        )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    for key in (
        "summary_version",
        "streams",
        "complete",
        "failed",
        "not_connected",
        "failed_percent",
        "failed_wilson95",
        "rows",
        "identifiers",
        "hops",
        "probe",
    ):
        assert key in data, key
    assert (data["streams"], data["complete"], data["failed"]) == (6, 6, 0)
    (row,) = data["rows"]
    for key in (
        "verdict",
        "problem",
        "close",
        "sse",
        "complete",
        "count",
        "percent",
        "wilson95",
        "example",
        "stats",
        "clusters",
    ):
        assert key in row, key
    assert set(row["stats"]) == {"first_byte", "duration", "bytes", "events", "largest_gap", "idle"}
    assert set(row["stats"]["bytes"]) == {"n", "p50", "p90", "p99", "max"}
    assert row["example"].endswith("stream-0001.capture")
    assert data["failed_wilson95"][0] == 0.0
    assert data["probe"]["requested"] == 6
    assert data["probe"]["keep"] == "all"
    assert len(list(tmp_path.glob("*.capture"))) == 6
    # the saved captures are what `capture` saves: analysable one by one
    assert main(["analyze", row["example"]]) == 0


def test_every_request_refused_is_exit_3_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe", _refused_url(), "-n", "4", "-c", "2"]) == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("chunkscope: error: all 4 requests failed to connect:")
    assert "refused" in lines[0].lower()


@pytest.mark.parametrize(
    "argv",
    [
        ["probe", "http://127.0.0.1:1/"],  # -n is required
        ["probe", "http://127.0.0.1:1/", "-n", "0"],
        ["probe", "http://127.0.0.1:1/", "-n", "x"],
        ["probe", "http://127.0.0.1:1/", "-n", "3", "-c", "0"],
        ["probe", "http://127.0.0.1:1/", "-n", "3", "--rate", "-2"],
        ["probe", "http://127.0.0.1:1/", "-n", "3", "--keep", "all"],  # without --dir
        ["probe", "ftp://127.0.0.1:1/", "-n", "3"],
    ],
)
def test_usage_errors_are_exit_2_with_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("chunkscope")


def test_ctrl_c_stops_sending_and_prints_what_finished(tmp_path: Path) -> None:
    # every other stream stalls until --idle-timeout 2; Ctrl-C comes while some run
    chooser = MixedEndings([COMPLETE, STALL])
    with ServerThread(chooser) as url:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "chunkscope",
                "probe",
                url,
                "-n",
                "1000",
                "-c",
                "4",
                "--idle-timeout",
                "2",
                "--json",
                "--dir",
                str(tmp_path),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 30
            while chooser.requests < 6 and time.monotonic() < deadline:
                time.sleep(0.05)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        sent = chooser.requests
    assert proc.returncode == 1, err
    assert "interrupted: no more requests" in err
    assert "Traceback" not in err
    data = json.loads(out)
    assert data["probe"]["stopped"] == "interrupted"
    assert data["probe"]["started"] == sent < 1000
    # the stalled ones still running ended within the grace period, by their idle timeout
    assert data["probe"]["unfinished"] == 0
    assert data["streams"] == sent
    assert data["complete"] >= 1
    assert any(r["close"] == "timeout" for r in data["rows"])


def _probe_in_a_process(url: str, count: int, directory: Path) -> tuple[dict[str, object], int]:
    code = (
        "import json, resource, sys\n"
        "from chunkscope.cli.main import main\n"
        f"rc = main(['probe', {url!r}, '-n', '{count}', '-c', '16', '--json',"
        f" '--dir', {str(directory)!r}])\n"
        # VmHWM is this program's own peak; ru_maxrss keeps, across exec, what
        # the child of a large pytest process had after fork (bench/peak_rss.py).
        "try:\n"
        "    status = open('/proc/self/status').read()\n"
        "    peak = int(status.split('VmHWM:', 1)[1].split()[0])\n"
        "except (OSError, IndexError):\n"
        "    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print('peak_rss_kib', peak, file=sys.stderr)\n"
        "sys.exit(rc)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ},
    )
    assert proc.returncode == 0, proc.stderr
    peak = int(proc.stderr.split("peak_rss_kib", 1)[1].split()[0])
    return json.loads(proc.stdout), peak


def _many_streams(count: int, tmp_path: Path) -> None:
    chooser = MixedEndings([COMPLETE])
    with ServerThread(chooser) as url:
        start = time.monotonic()
        data, peak_kib = _probe_in_a_process(url, count, tmp_path)
        elapsed = time.monotonic() - start
    assert data["streams"] == data["complete"] == count == chooser.requests
    assert peak_kib < 200 * 1024
    print(
        f"{count} streams, -c 16: {elapsed:.1f} s wall, peak RSS {peak_kib / 1024:.1f} MiB "
        "(probe process; shared machine)"
    )


def test_1000_streams_in_bounded_time_and_memory(tmp_path: Path) -> None:
    _many_streams(1000, tmp_path)


@pytest.mark.slow
def test_5000_streams_memory_stays_flat(tmp_path: Path) -> None:
    _many_streams(5000, tmp_path)


def test_a_second_ctrl_c_stops_at_once_and_keeps_the_partial_captures(tmp_path: Path) -> None:
    chooser = MixedEndings([STALL])  # silent forever: only the grace period or abort ends them
    with ServerThread(chooser) as url:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "chunkscope",
                "probe",
                url,
                "-n",
                "10",
                "-c",
                "3",
                "--idle-timeout",
                "0",
                "--dir",
                str(tmp_path),
                "--json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 30
            while chooser.requests < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            proc.send_signal(signal.SIGINT)
            time.sleep(0.3)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 1, err
    data = json.loads(out)
    assert data["streams"] == 0
    assert data["probe"]["unfinished"] == 3
    assert data["probe"]["stopped"] == "interrupted"
    # the cancelled streams' files hold what arrived; analyze reads them (no end record)
    assert len(list(tmp_path.glob("*.capture"))) == 3
    assert main(["analyze", str(tmp_path), "--json"]) == 1


def test_keep_none_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    chooser = MixedEndings([CUT_AFTER_DONE])
    with ServerThread(chooser) as url:
        code = main(["probe", url, "-n", "3", "--dir", str(tmp_path), "--keep", "none", "--json"])
    assert code == 1
    data = json.loads(capsys.readouterr().out)
    assert data["rows"][0]["example"] is None
    assert list(tmp_path.iterdir()) == []


FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def test_analyze_several_files_is_the_summary(capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(str(p) for p in FIXTURES.glob("*.capture"))
    assert main(["analyze", *files, "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["streams"] == len(files) == 7
    assert data["complete"] == 1
    assert {r["example"] for r in data["rows"]} == set(files)
    assert main(["analyze", files[1], files[1]]) == 0  # the complete one, twice
    assert capsys.readouterr().out.startswith("chunkscope: all 2 streams complete")


def test_analyze_a_directory_skips_unreadable_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "junk.capture").write_text("not a capture\n")
    (tmp_path / "notes.txt").write_text("ignored: not *.capture\n")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "one.capture").write_bytes((FIXTURES / "assistants-reset.capture").read_bytes())
    assert main(["analyze", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert "skipped" in captured.err
    assert "junk.capture" in captured.err
    assert captured.out.startswith("chunkscope: 1 of 1 streams did not complete")


@pytest.mark.parametrize(
    ("setup", "message"),
    [("empty", "no capture files"), ("missing", "no such file"), ("raw", "--raw reads one file")],
)
def test_analyze_summary_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: str, message: str
) -> None:
    argv = ["analyze", str(tmp_path)]
    if setup == "missing":
        argv = ["analyze", str(FIXTURES / "assistants-reset.capture"), str(tmp_path / "nope")]
    elif setup == "raw":
        argv.append("--raw")
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert message in err[0]


@pytest.mark.parametrize("middlebox", ["nginx", "haproxy"])
def test_a_proxy_idle_timeout_is_named_as_a_cluster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], middlebox: str
) -> None:
    from support.middlebox import Haproxy, Nginx

    # half the upstream streams go silent; the proxy gives up after 1 s without a byte
    chooser = MixedEndings([COMPLETE, STALL])
    with ServerThread(chooser) as url:
        upstream = url.split("//", 1)[1].rstrip("/")
        proxy = (
            Nginx(
                tmp_path,
                upstream,
                location="proxy_read_timeout 1s; proxy_buffering off; proxy_http_version 1.1;",
            )
            if middlebox == "nginx"
            else Haproxy(
                tmp_path,
                upstream,
                timeouts="timeout connect 5s\n    timeout client 30s\n    timeout server 1s",
            )
        )
        with proxy:
            code = main(
                [
                    "probe",
                    f"http://127.0.0.1:{proxy.port}/",
                    "-n",
                    "8",
                    "-c",
                    "4",
                    "--idle-timeout",
                    "10",
                    "--json",
                ]
            )
    assert code == 1
    data = json.loads(capsys.readouterr().out)
    failed = [r for r in data["rows"] if not r["complete"]]
    assert sum(r["count"] for r in failed) == 4, data["rows"]
    (row,) = failed
    assert row["close"] != "timeout"  # the proxy closed them, not chunkscope
    (cluster,) = row["clusters"]
    assert cluster["hint"] == "idle-timeout", (cluster, row["stats"]["idle"])
    assert "idle (read) timeout on the path or the server" in cluster["message"]
    assert abs(cluster["centre"] - 1.0) <= 0.25
    print(
        f"{middlebox} 1 s timeout: {row['verdict']} / {row['problem']} / {row['close']}, "
        f"{cluster['message']}"
    )


def test_saved_captures_are_redacted_as_capture_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chooser = MixedEndings([CUT_AFTER_DONE])
    secret = "sk-probe-secret-0123456789"
    with ServerThread(chooser) as url:
        code = main(
            [
                "probe",
                url,
                "-n",
                "2",
                "-H",
                f"Authorization: Bearer {secret}",
                "--dir",
                str(tmp_path),
                "--json",
            ]
        )
    assert code == 1
    files = sorted(tmp_path.glob("*.capture"))
    assert len(files) == 2
    for path in files:
        text = path.read_text()
        assert secret not in text
        assert "Authorization" in text


def test_a_terminal_gets_a_live_progress_line(tmp_path: Path) -> None:
    import pty

    chooser = MixedEndings([COMPLETE, CUT_AFTER_DONE], gap=0.02)
    with ServerThread(chooser) as url:
        leader, follower = pty.openpty()
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "chunkscope", "probe", url, "-n", "20", "-c", "2"],
                stdout=subprocess.PIPE,
                stderr=follower,
                text=True,
                timeout=120,
            )
            os.close(follower)
            follower = -1
            seen = b""
            while True:
                try:
                    piece = os.read(leader, 65536)
                except OSError:  # EIO: the terminal's other side is closed
                    break
                if not piece:
                    break
                seen += piece
        finally:
            if follower >= 0:
                os.close(follower)
            os.close(leader)
    assert proc.returncode == 1
    status = seen.decode()
    assert "/20 done" in status
    assert " running " in status
    assert " failed " in status
    assert "/s  ETA" in status
    assert status.endswith("\r\x1b[K")  # the line is cleared before the summary
    assert proc.stdout.startswith("chunkscope: 10 of 20 streams did not complete")
