"""Every bundled fixture gives the verdict its name promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chunkscope import analyze_capture, load_capture
from chunkscope.core.analyzer import analyze_bytes

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

# name: (verdict, state, missing, close, sse complete, partial event)
EXPECTED = {
    "assistants-complete.capture": ("complete", None, None, "tls-close-notify", True, False),
    "assistants-cut-after-done.capture": (
        "truncated",
        "chunk-boundary",
        b"0\r\n\r\n",
        "tls-no-close-notify",
        True,
        False,
    ),
    "assistants-cut-after-last-chunk.capture": (
        "truncated",
        "trailers",
        b"\r\n",
        "fin",
        True,
        False,
    ),
    "assistants-cut-mid-chunk.capture": (
        "truncated",
        "chunk-data",
        None,
        "tls-no-close-notify",
        False,
        True,
    ),
    "assistants-cut-mid-event.capture": (
        "truncated",
        "chunk-boundary",
        b"0\r\n\r\n",
        "fin",
        False,
        True,
    ),
    "assistants-reset.capture": (
        "truncated",
        "chunk-boundary",
        b"0\r\n\r\n",
        "reset",
        False,
        False,
    ),
    "assistants-bad-size-line.capture": (
        "malformed",
        "chunk-size",
        None,
        "tls-close-notify",
        False,
        False,
    ),
}


def test_every_fixture_is_listed() -> None:
    assert {p.name for p in FIXTURES.glob("*.capture")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_verdict(name: str) -> None:
    verdict, state, missing, close, sse_complete, partial = EXPECTED[name]
    report = analyze_capture(str(FIXTURES / name))
    capture = load_capture(FIXTURES / name)
    assert report.verdict.value == verdict
    assert report.framing is not None
    assert report.framing.value == "chunked"
    assert report.close.kind.value == close
    assert report.received_bytes == len(capture.server_bytes)
    assert report.sse is not None
    assert report.sse.complete is sse_complete
    assert (report.sse.partial_event is not None) is partial
    if state is None:
        assert report.problem is None
        return
    assert report.problem is not None
    assert report.problem.state.value == state
    assert report.problem.missing == missing
    if verdict == "truncated":
        assert report.problem.offset == report.received_bytes
    else:
        assert capture.server_bytes[report.problem.offset - 1 : report.problem.offset + 1] == b"0x"


def test_field_failure_every_event_arrived() -> None:
    report = analyze_capture(str(FIXTURES / "assistants-cut-after-done.capture"))
    assert report.sse is not None
    assert report.sse.terminal_event is not None
    assert report.sse.terminal_event.data == "[DONE]"
    assert report.sse.last_event is not None
    assert report.sse.last_event.name == "done"
    assert report.problem is not None
    assert report.problem.chunk == report.chunk_count


def test_raw_fixture_matches_the_capture() -> None:
    raw = (FIXTURES / "assistants-cut-after-done.raw").read_bytes()
    assert raw == load_capture(FIXTURES / "assistants-cut-after-done.capture").server_bytes
    report = analyze_bytes(raw)
    assert report.problem is not None
    assert report.problem.missing == b"0\r\n\r\n"


def test_fixtures_hold_no_credentials() -> None:
    for path in FIXTURES.iterdir():
        if path.suffix in (".capture", ".raw"):
            text = path.read_bytes()
            assert b"not.a.real.key" not in text, path.name
            assert b"COOKIE0VALUE" not in text, path.name


def test_regenerating_gives_identical_bytes(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(FIXTURES / "make_fixtures.py"), str(tmp_path)],
        check=True,
        capture_output=True,
    )
    for path in FIXTURES.iterdir():
        if path.suffix in (".capture", ".raw"):
            assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name


def test_packaged_demo_capture_is_the_field_fixture() -> None:
    from chunkscope.cli.serve import demo_capture_path

    packaged = Path(demo_capture_path()).read_bytes()
    assert packaged == (FIXTURES / "assistants-cut-after-done.capture").read_bytes()
