"""The replay server and its faults, proved by capturing what it puts on the wire."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

import chunkscope
from chunkscope import UsageError, load_capture
from chunkscope.net.faults import resolve_point
from chunkscope.testing import Response, assert_report, make_script, serving, sse_event

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
COMPLETE = FIXTURES / "assistants-complete.capture"
ORIGINAL = load_capture(COMPLETE).server_bytes


def test_serve_prints_its_url_first(serve_process: object) -> None:
    server = serve_process("--speed", "0", str(COMPLETE))  # type: ignore[operator]
    assert server.url.startswith("http://127.0.0.1:")
    assert server.url.endswith("/")


@pytest.mark.parametrize(
    ("point", "state", "missing"),
    [
        ("before-last-chunk", "chunk-boundary", b"0\r\n\r\n"),
        ("after-last-chunk", "trailers", b"\r\n"),
        ("mid-chunk:3", "chunk-data", None),
        ("mid-size-line:5", "chunk-size", None),
        ("after-event:thread.run.completed", "chunk-boundary", b"0\r\n\r\n"),
        ("1000", None, None),
    ],
)
async def test_truncate_points_cut_exactly_where_documented(
    point: str, state: str | None, missing: bytes | None
) -> None:
    cut = resolve_point(ORIGINAL, point)
    async with serving(COMPLETE, speed=0, truncate_at=point, close="fin") as server:
        report = await chunkscope.capture(server.url)
    assert report.received_bytes == cut
    assert_report(report, verdict="truncated", offset=cut, close="fin")
    if state is not None:
        assert_report(report, state=state, missing=missing)
    if point.startswith("after-event"):
        assert report.sse is not None
        assert report.sse.last_event is not None
        assert report.sse.last_event.name == "thread.run.completed"


def test_named_points_locate_framing() -> None:
    report = chunkscope.analyze_bytes(ORIGINAL)
    chunks = report.chunks
    assert resolve_point(ORIGINAL, "before-last-chunk") == len(ORIGINAL) - 5
    assert resolve_point(ORIGINAL, "after-last-chunk") == len(ORIGINAL) - 2
    assert resolve_point(ORIGINAL, "mid-size-line:2") == chunks[2].offset + 1
    assert resolve_point(ORIGINAL, "mid-chunk:2") == chunks[2].data_offset + chunks[2].size // 2
    for bad, match in [
        ("mid-chunk:99", "has 23 data chunks"),
        ("after-event:nope", "no SSE event named 'nope'"),
        ("sideways", "unknown cut point"),
        (str(len(ORIGINAL) + 1), "beyond"),
    ]:
        with pytest.raises(UsageError, match=match):
            resolve_point(ORIGINAL, bad)


@pytest.mark.parametrize(
    ("close", "tls", "observed"),
    [
        ("fin", False, "fin"),
        ("reset", False, "reset"),
        ("tls-close-notify", True, "tls-close-notify"),
        ("tls-no-close-notify", True, "tls-no-close-notify"),
    ],
)
async def test_close_option_changes_the_ending(close: str, tls: bool, observed: str) -> None:
    async with serving(
        COMPLETE, tls=tls, speed=0, truncate_at="before-last-chunk", close=close
    ) as server:
        report = await chunkscope.capture(server.url, ssl_context=server.ssl_context)
    assert_report(report, verdict="truncated", state="chunk-boundary", close=observed)


async def test_stall_delays_the_close() -> None:
    async with serving(
        COMPLETE, speed=0, truncate_at="before-last-chunk", close="fin", stall=0.4
    ) as server:
        report = await chunkscope.capture(server.url)
    assert report.close.kind.value == "fin"
    assert report.close.idle is not None
    assert report.close.idle >= 0.4


async def test_slice_and_delay_per_write_shape_the_reads(tmp_path: Path) -> None:
    out = tmp_path / "s.capture"
    script = Response(events=[sse_event("delta", "x" * 40), sse_event("done", "[DONE]")]).script()
    async with serving(script, slice=7, delay_per_write=0.01) as server:
        report = await chunkscope.capture(server.url, output=str(out))
    reads = load_capture(out).reads
    assert report.verdict.value == "complete"
    assert max(len(r.data) for r in reads) <= 7
    assert b"".join(r.data for r in reads) == script.server_bytes
    assert reads[-1].t - reads[0].t >= 0.01 * (len(reads) - 1) * 0.9


async def test_speed_keeps_or_scales_the_original_timing(tmp_path: Path) -> None:
    capture = load_capture(COMPLETE)
    span = capture.reads[-1].t - capture.reads[0].t
    out = tmp_path / "t.capture"
    async with serving(COMPLETE, speed=4) as server:
        await chunkscope.capture(server.url, output=str(out))
    live = load_capture(out).reads
    assert live[-1].t - live[0].t >= span / 4 * 0.8


async def test_two_hundred_concurrent_clients_get_the_exact_stream() -> None:
    results: list[bytes] = []

    async def client(url_port: int) -> None:
        stream = await trio.open_tcp_stream("127.0.0.1", url_port)
        async with stream:
            await stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            data = bytearray()
            while chunk := await stream.receive_some(65536):
                data += chunk
        results.append(bytes(data))

    with trio.fail_after(60):
        async with serving(COMPLETE, speed=0) as server, trio.open_nursery() as nursery:
            for _ in range(200):
                nursery.start_soon(client, server.info.port)
    assert len(results) == 200
    assert all(r == ORIGINAL for r in results)


async def test_misbehaving_clients_do_not_stop_the_server() -> None:
    big = Response(
        body=b"z" * (8 << 20)
    ).script()  # 8 MiB: a client that never reads blocks a write
    async with serving(big, speed=0) as server:
        port = server.info.port
        garbage = await trio.open_tcp_stream("127.0.0.1", port)
        await garbage.send_all(b"\x16\x03\x01 not http at all\r\n\r\n")
        early = await trio.open_tcp_stream("127.0.0.1", port)
        await early.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        await early.aclose()  # disconnects before finishing its request
        stuck = await trio.open_tcp_stream("127.0.0.1", port)
        await stuck.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # and never reads
        report = await chunkscope.capture(server.url, idle_timeout=10)
        assert report.verdict.value == "complete"
        assert report.body_bytes == 8 << 20
        await garbage.aclose()
        await stuck.aclose()


def test_bad_fixture_files_are_refused_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.capture"
    bad.write_text(
        '{"format":"chunkscope-capture","version":1}\n{"r":"recv","t":1,"data":"\\u0400"}\n{"r":"end","t":2,"close":"fin"}\n'
    )
    for path, reason in [
        (bad, "above U+00FF"),
        (tmp_path / "missing.capture", "no such file"),
    ]:
        proc = subprocess.run(
            [sys.executable, "-m", "chunkscope", "serve", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 2
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1
        assert reason in lines[0]


def test_hostile_sizes_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from chunkscope.formats import capture as _capture_file

    huge = tmp_path / "huge.capture"
    huge.write_text(
        '{"format":"chunkscope-capture","version":1}\n{"r":"recv","t":1,"data":"'
        + "x" * 5000
        + '"}\n'
    )
    monkeypatch.setattr(_capture_file, "MAX_LINE", 1024)
    with pytest.raises(chunkscope.CaptureFileError, match="longer than 1024 bytes"):
        make_script(huge)
    small = tmp_path / "small.capture"
    small.write_text(
        '{"format":"chunkscope-capture","version":1}\n{"r":"recv","t":1,"data":"'
        + "y" * 100
        + '"}\n'
    )
    with pytest.raises(chunkscope.CaptureFileError, match="refusing to load"):
        load_capture(small, max_bytes=10)


@contextlib.contextmanager
def serve_once(*args: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`chunkscope serve --once ARGS` in the background: its URL and process."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "chunkscope", "serve", "--once", "--speed", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip(), proc
    finally:
        proc.kill()
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def capture_json(url: str, *args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "chunkscope", "capture", url, "--json", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return dict(json.loads(out.stdout))


def test_once_serves_one_connection_then_exits() -> None:
    with serve_once(str(COMPLETE)) as (url, proc):
        assert capture_json(url)["verdict"] == "complete"
        assert proc.wait(timeout=20) == 0


def test_demo_diagnoses_the_field_failure() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "chunkscope", "demo", "--json", "--speed", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    d = json.loads(proc.stdout)
    assert (d["verdict"], d["problem"]["state"], d["problem"]["missing"]) == (
        "truncated",
        "chunk-boundary",
        "0\r\n\r\n",
    )
    assert d["close"]["kind"] == "tls-no-close-notify"
    assert d["sse"]["complete"] is True


def test_builder_encodes_chunks_events_and_bodies() -> None:
    raw = Response(chunks=[b"ab", b"c"], chunk_ext={1: ";x=1"}, trailers=[("T", "v")]).to_bytes()
    assert raw.endswith(b"\r\n\r\n2\r\nab\r\n1;x=1\r\nc\r\n0\r\nT: v\r\n\r\n")
    assert chunkscope.analyze_bytes(raw).verdict.value == "complete"
    cut = Response(events=[sse_event("a", "1\n2", id="7")], last_chunk=False).to_bytes()
    assert b"event: a\nid: 7\ndata: 1\ndata: 2\n\n" in cut
    report = chunkscope.analyze_bytes(cut)
    assert_report(report, verdict="truncated", state="chunk-boundary", missing=b"0\r\n\r\n")
    plain = Response(body=b"hello").to_bytes()
    assert b"Content-Length: 5\r\n" in plain
    close_delimited = Response(body=b"hello", content_length=False).to_bytes()
    assert chunkscope.analyze_bytes(close_delimited, close="fin").framing.value == "close-delimited"  # type: ignore[union-attr]


def test_truncated_capture_file_is_refused_unless_allowed(
    tmp_path: Path, serve_process: object
) -> None:
    data = COMPLETE.read_bytes()
    cut = tmp_path / "cut.capture"
    cut.write_bytes(data[: len(data) - 40])  # ends inside the last record
    proc = subprocess.run(
        [sys.executable, "-m", "chunkscope", "serve", str(cut)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "truncated" in lines[0]
    server = serve_process("--speed", "0", "--allow-truncated", str(cut))  # type: ignore[operator]
    assert server.url.startswith("http://")


def test_serve_with_own_certificate(tmp_path: Path) -> None:
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "cert.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    own = ("--cert", str(tmp_path / "cert.pem"), "--key", str(tmp_path / "key.pem"))
    with serve_once(*own, str(COMPLETE)) as (url, _):
        assert url.startswith("https://127.0.0.1:")
        report = capture_json(url, "--cacert", str(tmp_path / "ca.pem"))
    assert report["verdict"] == "complete"
    assert report["close"]["kind"] == "tls-close-notify"


@pytest.mark.parametrize("seed", range(20))
def test_after_event_is_the_next_chunk_boundary_however_events_are_chunked(seed: int) -> None:
    import random

    rng = random.Random(seed)
    events = b"".join(
        b"event: e%d\ndata: %s\n\n" % (i, b"x" * rng.randint(0, 30)) for i in range(8)
    )
    cuts = sorted({rng.randint(1, len(events) - 1) for _ in range(rng.randint(1, 12))})
    pieces = [events[a:b] for a, b in zip([0, *cuts], [*cuts, len(events)], strict=False)]
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    data = head + b"".join(b"%x\r\n%b\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    analyzer = chunkscope.Analyzer(live_events=True)
    analyzer.feed(data, 0.0)
    found = {e.name: e.end for e in analyzer.pop_events() if isinstance(e, chunkscope.SseEvent)}
    report = analyzer.close("fin", None)
    for name in ("e0", "e3", "e7"):
        expected = next(
            c.data_offset + c.size + 2
            for c in report.chunks
            if c.data_offset + c.size + 2 >= found[name]
        )
        assert resolve_point(data, f"after-event:{name}") == expected
