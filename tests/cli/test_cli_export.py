"""`chunkscope export`, `analyze --html` and `capture --html`, in-process and as a process.

The live tests capture from a real `chunkscope serve` process over TLS on 127.0.0.1 and hand
the result to real readers: headless Chromium for the page, tshark for the pcapng.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from support.chromium import open_page

from chunkscope.cli.main import main

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
FIELD = FIXTURES / "assistants-cut-after-done.capture"


def _one_error_line(err: str, *words: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("chunkscope: error: ")
    for word in words:
        assert word in lines[0]


def test_export_a_directory_to_har_and_pcapng(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    har, pcap = tmp_path / "all.har", tmp_path / "all.pcapng"
    assert main(["export", str(FIXTURES), "--har", str(har), "--pcapng", str(pcap)]) == 0
    err = capsys.readouterr().err
    assert f"7 entries written to {har}" in err
    assert "(7 connections)" in err
    assert len(json.loads(har.read_text(encoding="utf-8"))["log"]["entries"]) == 7
    assert pcap.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
    assert not [p for p in os.listdir(tmp_path) if ".tmp" in p]


def test_export_to_stdout(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    assert main(["export", str(FIELD), "--har", "-"]) == 0
    document = json.loads(capsysbinary.readouterr().out)
    assert document["log"]["entries"][0]["response"]["_error"].startswith("truncated")


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["export", "no-such.capture", "--har", "x.har"], ["no-such.capture", "no such file"]),
        (["export", str(FIELD)], ["--har OUT.har and/or --pcapng"]),
        (["export", str(FIELD), "--har", "/no/such/dir/x.har"], ["no such directory"]),
        (["export", str(FIXTURES / "assistants-cut-after-done.raw"), "--har", "x.har"], ["raw"]),
        (["export", str(FIELD), "--har", "-", "--pcapng", "-"], ["both write to stdout"]),
        (["analyze", str(FIELD), "--html", "/no/such/dir/r.html"], ["no such directory"]),
        (["analyze", "--raw", "-", "--html", "r.html"], ["stdin cannot be read twice"]),
        # refused before connecting: nothing listens on port 9
        (
            ["capture", "http://127.0.0.1:9/", "--html", "/no/such/dir/r.html"],
            ["no such directory"],
        ),
        (["capture", "http://127.0.0.1:9/", "-o", "-", "--html", "r.html"], ["not '-'"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str],
    words: list[str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    _one_error_line(captured.err, *words)
    assert os.listdir(tmp_path) == []


def test_export_refuses_an_empty_directory_and_a_broken_capture(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", str(tmp_path), "--har", str(tmp_path / "x.har")]) == 2
    _one_error_line(capsys.readouterr().err, "no *.capture files")
    (tmp_path / "bad.capture").write_text(
        '{"format":"chunkscope-capture","version":1}\n{oops\n{}\n'
    )
    assert main(["export", str(tmp_path), "--pcapng", str(tmp_path / "x.pcapng")]) == 2
    _one_error_line(capsys.readouterr().err, "bad.capture:2", "invalid JSON")
    assert not (tmp_path / "x.pcapng").exists()


def test_analyze_html_keeps_the_exit_code_and_the_text_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.html"
    assert main(["analyze", str(FIELD), "--html", str(out)]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("chunkscope: TRUNCATED")
    assert f"HTML report written to {out}" in captured.err
    assert 'id="cut-marker"' in out.read_text(encoding="utf-8")


def _html_temp_dirs() -> set[str]:
    return {p for p in os.listdir(tempfile.gettempdir()) if p.startswith("chunkscope-html-")}


def test_capture_html_from_a_live_tls_server(
    serve_process: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ca = tmp_path / "ca.pem"
    server = serve_process("--speed", "0", "--tls", "--ca-out", str(ca), str(FIELD))  # type: ignore[operator]
    out = tmp_path / "live.html"
    before = _html_temp_dirs()
    assert main(["capture", server.url, "--cacert", str(ca), "--html", str(out)]) == 1
    assert _html_temp_dirs() == before  # the temporary capture is gone
    captured = capsys.readouterr()
    assert "capture saved" not in captured.err
    page = out.read_text(encoding="utf-8")
    assert 'id="cut-marker"' in page
    assert "close: tls-no-close-notify at " in page
    assert "127.0.0.1:" in page  # the live connection's own addresses
    run = open_page(out)
    assert run.console == []
    assert 'id="close-label"' in run.dom


def test_a_live_capture_exports_for_tshark_and_devtools(
    serve_process: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = serve_process("--speed", "0", str(FIXTURES / "assistants-complete.capture"))  # type: ignore[operator]
    capture = tmp_path / "live.capture"
    assert (
        main(["capture", server.url, "-o", str(capture), "--html", str(tmp_path / "r.html")]) == 0
    )
    assert capture.exists()  # -o is the user's: kept
    har, pcap = tmp_path / "live.har", tmp_path / "live.pcapng"
    assert main(["export", str(capture), "--har", str(har), "--pcapng", str(pcap)]) == 0
    entry = json.loads(har.read_text(encoding="utf-8"))["log"]["entries"][0]
    assert entry["serverIPAddress"] == "127.0.0.1"
    assert entry["timings"]["connect"] >= 0
    assert entry["timings"]["dns"] >= 0
    assert entry["timings"]["wait"] >= 0
    assert "_error" not in entry["response"]
    assert entry["_ending"]["verdict"] == "complete"
    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    fields = subprocess.run(
        ["tshark", "-r", str(pcap), "-Y", "http.response", "-T", "fields", "-e", "http.chunk_size"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.split()
    assert len(fields) == 1
    assert len(fields[0].split(",")) == len(entry["_chunks"]) + 1  # data chunks + last-chunk


def test_python_m_chunkscope_export(tmp_path: Path) -> None:
    out = tmp_path / "f.pcapng"
    done = subprocess.run(
        [sys.executable, "-m", "chunkscope", "export", str(FIELD), "--pcapng", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "packets (1 connection) written to" in done.stderr
    assert out.stat().st_size > 5188
