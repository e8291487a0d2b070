"""The application axis on the command line: two-axis verdict, --profile, --transport-only,
content codings, and `analyze --raw` of `curl -x` output (a CONNECT preamble)."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.middlebox import Squid

from chunkscope.cli.main import main
from chunkscope.testing import sse_event

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
FIELD = str(FIXTURES / "assistants-cut-after-done.capture")
PREAMBLE = b"HTTP/1.1 200 Connection established\r\n\r\n"
CHAT = b"".join(sse_event(None, '{"object":"chat.completion.chunk"}') for _ in range(3))


def sse_response(body: bytes, *, last_chunk: bool = True, headers: bytes = b"") -> bytes:
    out = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
    out += headers + b"\r\n" + b"%x\r\n%s\r\n" % (len(body), body)
    return out + (b"0\r\n\r\n" if last_chunk else b"")


def test_first_lines_give_both_axes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", FIELD]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("chunkscope: TRUNCATED")
    assert lines[1] == (
        "  TRANSPORT: truncated (missing b'0\\r\\n\\r\\n') · APPLICATION: completed "
        "(openai-assistants, thread.run.completed then done)"
    )


def test_json_has_the_application_axis(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", FIELD, "--json"]) == 1
    sse = json.loads(capsys.readouterr().out)["sse"]
    assert sse["profile"] == "openai-assistants"
    assert sse["outcome"] == "completed"
    assert sse["outcome_detail"]["detected_from"] == "events"
    assert sse["outcome_detail"]["event"]["name"] == "thread.run.completed"


def test_framing_complete_but_application_cut_exits_one_unless_transport_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = tmp_path / "cut.raw"
    raw.write_bytes(sse_response(CHAT))  # framing complete, no [DONE]
    assert main(["analyze", "--raw", str(raw)]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[1].startswith("  TRANSPORT: complete · APPLICATION: cut (openai-chat")
    assert main(["analyze", "--raw", str(raw), "--transport-only"]) == 0
    capsys.readouterr()
    # a generic stream expects no terminal event: the framing alone decides
    raw.write_bytes(sse_response(sse_event("tick", "1")))
    assert main(["analyze", "--raw", str(raw)]) == 0
    assert main(["analyze", "--raw", str(raw), "--terminal-event", "end"]) == 1
    assert main(["analyze", "--raw", str(raw), "--profile", "anthropic-messages"]) == 1


def test_profile_option_forces_a_profile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = tmp_path / "r.raw"
    raw.write_bytes(sse_response(sse_event("tick", "1") + sse_event("end", "bye")))
    assert main(["analyze", "--raw", str(raw), "--json", "--profile", "openai-responses"]) == 1
    sse = json.loads(capsys.readouterr().out)["sse"]
    assert (sse["profile"], sse["outcome"]) == ("openai-responses", "cut")
    assert sse["outcome_detail"]["detected_from"] == "--profile"
    assert main(["analyze", "--raw", str(raw), "--profile", "nope"]) == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err


def test_failed_and_incomplete_show_what_the_provider_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = tmp_path / "r.raw"
    data = (
        '{"response":{"status":"incomplete","incomplete_details":{"reason":"max_output_tokens"}}}'
    )
    raw.write_bytes(sse_response(sse_event("response.incomplete", data)))
    assert main(["analyze", "--raw", str(raw)]) == 1
    out = capsys.readouterr().out
    assert "APPLICATION: incomplete (openai-responses, response.incomplete)" in out
    assert "  reason: max_output_tokens" in out
    assert "'response.incomplete' at offsets" in out


def test_gzip_body_is_decoded_and_sized(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = CHAT + sse_event(None, "[DONE]")
    coded = gzip.compress(body, mtime=0)
    raw = tmp_path / "g.raw"
    raw.write_bytes(
        sse_response(coded[:-8], last_chunk=False, headers=b"Content-Encoding: gzip\r\n")
    )
    assert main(["analyze", "--raw", str(raw), "--json"]) == 1
    d = json.loads(capsys.readouterr().out)
    assert d["sse"]["events"] == 4
    assert d["sse"]["outcome"] == "completed"
    assert d["content_coding"]["compressed_bytes"] == len(coded) - 8
    assert d["content_coding"]["decoded_bytes"] == len(body)
    assert d["content_coding"]["problem"]["message"].startswith(
        "gzip stream ended before its trailer"
    )
    assert main(["analyze", "--raw", str(raw)]) == 1
    out = capsys.readouterr().out
    assert f"content coding gzip: {len(coded) - 8} body bytes received, {len(body)} decoded" in out
    assert "CODING CUT at byte" in out


def test_undecodable_body_says_so_and_does_not_guess(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = tmp_path / "u.raw"
    raw.write_bytes(sse_response(b"\x1f\x9d\x90junk", headers=b"Content-Encoding: compress\r\n"))
    assert main(["analyze", "--raw", str(raw), "--json"]) == 0  # framing complete, nothing known
    d = json.loads(capsys.readouterr().out)
    assert d["sse"]["outcome"] == "unknown"
    assert d["content_coding"]["problem"]["kind"] == "undecodable"
    assert "could not be decoded" in d["sse"]["outcome_detail"]["summary"]


def test_close_delimited_sse_says_only_the_application_can_show_truncation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = tmp_path / "c.raw"
    raw.write_bytes(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n" + CHAT)
    assert main(["analyze", "--raw", str(raw), "--close", "fin"]) == 1
    out = capsys.readouterr().out
    assert "TRANSPORT: complete (close-delimited: cannot show truncation)" in out
    assert "only the application stream can show truncation" in out
    assert "EventSource reconnects" in out


def test_connect_preamble_is_skipped_with_offsets_from_the_file_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    response = sse_response(CHAT + sse_event(None, "[DONE]"), last_chunk=False)
    raw = tmp_path / "x.raw"
    raw.write_bytes(PREAMBLE + PREAMBLE.replace(b"1.1", b"1.0") + response)
    assert main(["analyze", "--raw", str(raw), "--json"]) == 1
    captured = capsys.readouterr()
    d = json.loads(captured.out)
    assert "skipped 2 proxy CONNECT answer(s)" in captured.err
    assert d["verdict"] == "truncated"
    assert d["head"]["offset"] == 2 * len(PREAMBLE)
    assert d["problem"]["offset"] == d["received_bytes"] == 2 * len(PREAMBLE) + len(response)
    assert d["notes"][0]["offset"] == 0
    assert "proxy's answer to CONNECT" in d["notes"][0]["message"]
    assert d["sse"]["outcome"] == "completed"


def test_real_curl_through_squid_proxytunnel(tmp_path: Path) -> None:
    """curl --raw -i -x squid --proxytunnel: its output starts with squid's CONNECT answer."""
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    upstream_raw = tmp_path / "upstream.raw"
    upstream_raw.write_bytes(sse_response(CHAT + sse_event(None, "[DONE]"), last_chunk=False))
    upstream = subprocess.Popen(
        [sys.executable, "-m", "chunkscope", "serve", "--raw", str(upstream_raw), "--once"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert upstream.stdout is not None
        url = upstream.stdout.readline().strip()
        with Squid(tmp_path, stock=False) as squid:
            out = tmp_path / "curl.raw"
            with out.open("wb") as f:
                done = subprocess.run(
                    [
                        curl,
                        "--raw",
                        "-s",
                        "-i",
                        "-x",
                        f"http://127.0.0.1:{squid.port}",
                        "--proxytunnel",
                        "--max-time",
                        "20",
                        url + "v1/chat/completions",
                    ],
                    stdout=f,
                    timeout=30,
                    check=False,
                )
    finally:
        upstream.kill()
        upstream.wait(10)
    assert done.returncode == 18  # curl: transfer closed with outstanding read data
    data = out.read_bytes()
    assert data.startswith(b"HTTP/1.1 200 Connection established")
    result = subprocess.run(
        [sys.executable, "-m", "chunkscope", "analyze", "--raw", str(out), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    d = json.loads(result.stdout)
    assert d["verdict"] == "truncated"
    assert d["problem"]["missing"] == "0\r\n\r\n"
    assert d["head"]["offset"] == data.index(b"HTTP/1.1 200 OK")
    assert d["sse"]["outcome"] == "completed"
    assert "CONNECT" in result.stderr


def test_a_gzip_bomb_is_a_finding_and_exits_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bomb = gzip.compress(b"data: " + b"\0" * (16 << 20) + b"\n\n", compresslevel=9)
    raw = tmp_path / "bomb.raw"
    raw.write_bytes(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: gzip\r\n"
        b"Content-Length: %d\r\n\r\n" % len(bomb) + bomb
    )
    assert main(["analyze", "--raw", str(raw), "--json"]) == 1
    d = json.loads(capsys.readouterr().out)
    assert d["verdict"] == "complete"
    assert d["content_coding"]["problem"]["kind"] == "bomb"
    assert d["content_coding"]["decoded_bytes"] < 16 << 20  # it stopped early
    assert d["sse"]["outcome"] == "unknown"
    assert main(["analyze", "--raw", str(raw), "--transport-only"]) == 0
    assert "CODING BOMB at byte" in capsys.readouterr().out


def test_capture_events_of_a_gzip_body_say_offsets_are_decoded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = CHAT + sse_event(None, "[DONE]")
    raw = tmp_path / "g.raw"
    raw.write_bytes(
        sse_response(gzip.compress(body, mtime=0), headers=b"Content-Encoding: gzip\r\n")
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "chunkscope", "serve", "--raw", str(raw), "--once"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        assert main(["capture", url + "v1/chat/completions", "--events", "--json"]) == 0
    finally:
        server.kill()
        server.wait(10)
    captured = capsys.readouterr()  # with --json the events go to stderr
    events = [line for line in captured.err.splitlines() if " event #" in line]
    assert len(events) == 4
    assert all("(decoded; received .." in line for line in events)
    d = json.loads(captured.out)
    assert d["sse"]["outcome"] == "completed"
    assert d["content_coding"]["decoded_bytes"] == len(body)
