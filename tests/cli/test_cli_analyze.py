"""`chunkscope analyze`, in-process through main(argv) and once as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chunkscope.cli.main import main

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
FIELD = str(FIXTURES / "assistants-cut-after-done.capture")


def test_human_report_of_the_field_case(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", FIELD]) == 1
    out = capsys.readouterr().out
    assert out.startswith("chunkscope: TRUNCATED")
    assert "chunk-boundary (chunk #23)" in out
    assert "missing    b'0\\r\\n\\r\\n'" in out
    assert "tls-no-close-notify" in out
    assert "Every application event arrived" in out
    assert "stream ended here" in out


def test_json_report_follows_the_contract(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", FIELD, "--json"]) == 1
    d = json.loads(capsys.readouterr().out)
    for key in (
        "verdict",
        "framing",
        "status",
        "received_bytes",
        "body_bytes",
        "chunk_count",
        "chunks",
        "problem",
        "close",
        "sse",
    ):
        assert key in d
    assert d["verdict"] == "truncated"
    assert d["problem"]["missing"] == "0\r\n\r\n"
    assert d["problem"]["offset"] == d["received_bytes"]
    assert set(d["chunks"][0]) >= {"index", "offset", "size", "ext", "data_offset", "t"}
    assert d["close"]["kind"] == "tls-no-close-notify"
    assert d["sse"]["terminal_seen"] is True


def test_complete_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(FIXTURES / "assistants-complete.capture")]) == 0
    assert capsys.readouterr().out.startswith("chunkscope: COMPLETE")


def test_raw_file_and_auto_detection(capsys: pytest.CaptureFixture[str]) -> None:
    raw = str(FIXTURES / "assistants-cut-after-done.raw")
    assert main(["analyze", "--raw", raw, "--json"]) == 1
    d = json.loads(capsys.readouterr().out)
    assert (d["problem"]["state"], d["close"]["kind"]) == ("chunk-boundary", "unknown")
    assert main(["analyze", raw, "--close", "fin"]) == 1
    captured = capsys.readouterr()
    assert "analyzing as --raw" in captured.err
    assert "fin" in captured.out


def test_raw_stdin(tmp_path: Path) -> None:
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    proc = subprocess.run(
        [sys.executable, "-m", "chunkscope", "analyze", "--raw", "-", "--json"],
        input=data,
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["verdict"] == "complete"


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["analyze", "/nonexistent/x.capture"], "no such file"),
        (["analyze"], "required"),
        (["analyze", FIELD, "--close", "sideways"], "invalid choice"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], match: str
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert match in err
    assert "Traceback" not in err


def test_malformed_capture_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.capture"
    bad.write_text(
        '{"format":"chunkscope-capture","version":1}\n{oops\n{"r":"end","t":1,"close":"fin"}\n'
    )
    assert main(["analyze", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"chunkscope: error: {bad}:2: invalid JSON"]


def test_python_dash_m_runs_the_same_command() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "chunkscope", "analyze", FIELD, "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["problem"]["state"] == "chunk-boundary"


def test_chunk_listing(capsys: pytest.CaptureFixture[str]) -> None:
    main(["analyze", FIELD, "--chunks", "4"])
    out = capsys.readouterr().out
    assert "#0 " in out
    assert "#22 " in out
    assert "more ..." in out


def test_close_delimited_capture_without_end_record_is_not_complete(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from chunkscope import CaptureWriter

    path = tmp_path / "killed.capture"
    with CaptureWriter(path, meta={"target": "http://127.0.0.1/"}) as w:
        w.sent(0.0, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        w.received(0.01, b"HTTP/1.1 200 OK\r\n\r\nhello")  # no end record: the process died
    assert main(["analyze", str(path), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["verdict"] == "truncated"
    assert report["close"]["kind"] == "unknown"
    assert report["problem"]["state"] == "body"
    assert "end of the body is unknown" in report["problem"]["message"]


def test_raw_close_delimited_bytes_need_an_observed_close(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cd.raw"
    path.write_bytes(b"HTTP/1.1 200 OK\r\n\r\nhello")
    assert main(["analyze", "--raw", str(path)]) == 1
    assert "end of the body is unknown" in capsys.readouterr().out
    assert main(["analyze", "--raw", "--close", "fin", str(path)]) == 0
