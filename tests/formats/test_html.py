"""The HTML report: self-contained, marks the cut and the close, bounded for huge streams.

The page of every fixture is opened in real headless Chromium: it must load with no console
message at all (a blocked request would show as a Content-Security-Policy violation there),
and its DOM must hold the timeline with the markers the verdict calls for.
"""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path

import pytest
from support.chromium import open_page
from support.streams import write_long_sse_capture

from chunkscope import analyze_capture
from chunkscope.core.analyzer import analyze_bytes
from chunkscope.formats.html import render_html, write_html_report
from chunkscope.formats.timeline import EXACT_LIMIT, collect_timeline

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
CAPTURES = sorted(p.name for p in FIXTURES.glob("*.capture"))
FIELD = FIXTURES / "assistants-cut-after-done.capture"
README_SHOT = Path(__file__).resolve().parents[2] / "docs" / "report.png"

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _report_page(tmp_path: Path, name: str) -> tuple[Path, str]:
    source = FIXTURES / name
    out = tmp_path / f"{name}.html"
    write_html_report(analyze_capture(str(source)), source, out)
    return out, out.read_text(encoding="utf-8")


def _element(page: str, ident: str) -> str:
    """The text of the element with id ``ident`` (tags stripped)."""
    match = re.search(rf'id="{ident}"[^>]*>(.*?)</(text|g|div|table)>', page, re.S)
    assert match, f"no element with id {ident!r}"
    return re.sub(r"<[^>]+>", "", match.group(1))


@pytest.mark.parametrize("name", CAPTURES)
def test_the_page_fetches_nothing(tmp_path: Path, name: str) -> None:
    _, page = _report_page(tmp_path, name)
    assert f'content="{CSP}"' in page
    assert not re.search(r"<script|<link|@import|url\(", page, re.I)
    # no attribute may point off the page (the capture's own URL may appear as text)
    assert not re.search(r'(src|href|xlink:href|action)\s*=\s*"(?!#|data:)', page, re.I)


@pytest.mark.parametrize("name", CAPTURES)
def test_the_timeline_marks_the_end_as_the_verdict_says(tmp_path: Path, name: str) -> None:
    _, page = _report_page(tmp_path, name)
    report = analyze_capture(str(FIXTURES / name))
    close = _element(page, "close-label")
    assert close.startswith(f"close: {report.close.kind.value} at ")
    assert "idle" in close
    assert "last byte" in _element(page, "last-byte-label")
    if report.verdict.value == "truncated":
        assert 'id="cut-marker"' in page
        assert f"cut at byte {report.received_bytes}" in _element(page, "cut-label")
    else:
        assert 'id="cut-marker"' not in page
    if report.verdict.value == "malformed":
        assert report.problem is not None
        assert f"malformed at byte {report.problem.offset}" in _element(page, "malformed-label")
    if report.verdict.value == "complete":
        assert 'id="last-chunk-marker"' in page


def test_the_field_case_shows_both_axes_and_the_bytes(tmp_path: Path) -> None:
    _, page = _report_page(tmp_path, FIELD.name)
    assert "✂ TRUNCATED" in page[page.index('id="axis-transport"') :][:300]
    assert "✓ COMPLETE" in page[page.index('id="axis-application"') :][:300]
    assert "tls-no-close-notify" in _element(page, "axis-close")
    hexview = page[page.index('id="hex"') :]
    assert "stream ended here, before byte 5188" in hexview
    assert "⟦END⟧" in page  # the escaped view marks the position too
    # events are told apart by row label and shape, not colour alone
    assert "thread.run.step.delta ×2" in page
    assert "done ×1 (terminal)" in page
    assert page.count("<details>") >= 1
    assert "How clients report this" in page
    assert "httpx.RemoteProtocolError" in page
    assert "TLSv1.3" in page
    assert "192.0.2.10:443" in page
    assert "gap 127.0 ms" in page
    assert "first byte after 412.0 ms" in page


class _With:
    """A report (or SSE summary) with extra attributes, as later modules will set them."""

    def __init__(self, inner: object, **extra: object) -> None:
        self._inner = inner
        self.__dict__.update(extra)

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)


def test_hints_and_the_application_outcome_appear_when_the_report_has_them() -> None:
    """Hints (#13) and sse.outcome/profile (#12) come from other modules: shown when present."""
    report = analyze_capture(str(FIELD))
    timeline = collect_timeline(FIELD)
    plain = render_html(report, timeline)
    assert "closed-after-last-byte" in _element(plain, "hints")  # the analyzer's own (#13)
    assert 'id="hints"' not in render_html(_With(report, hints=[]), timeline)  # type: ignore[arg-type]
    hint = {"code": "proxy-idle-timeout", "message": "a proxy gave up", "evidence": ["idle 60 s"]}
    sse = _With(
        report.sse,
        outcome="incomplete",
        outcome_detail={"summary": "no message_stop", "reason": "max_tokens"},
        profile="anthropic",
    )
    page = render_html(_With(report, hints=[hint], sse=sse), timeline)  # type: ignore[arg-type]
    assert "proxy-idle-timeout" in _element(page, "hints")
    assert "idle 60 s" in page
    app = page[page.index('id="axis-application"') : page.index('id="axis-close"')]
    assert "INCOMPLETE" in app
    assert "no message_stop" in app
    assert "max_tokens" in app
    assert "anthropic" in app


def test_raw_bytes_draw_on_an_offset_axis(tmp_path: Path) -> None:
    raw = FIXTURES / "assistants-cut-after-done.raw"
    report = analyze_bytes(raw.read_bytes())
    out = tmp_path / "raw.html"
    write_html_report(report, raw, out, raw=True)
    page = out.read_text(encoding="utf-8")
    assert "stream offset" in page
    assert 'id="cut-marker"' in page
    assert "close: unknown (no time recorded)" in _element(page, "close-label")


@pytest.fixture(scope="module")
def long_page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 300 000-event stream cut off with an RST (a 21 MB capture) and its report."""
    folder = tmp_path_factory.mktemp("long")
    source = write_long_sse_capture(folder / "long.capture", 300_000, cut=True)
    out = folder / "long.html"
    write_html_report(analyze_capture(str(source)), source, out)
    return source, out


def test_a_300000_event_stream_draws_bins_and_stays_small(long_page: tuple[Path, Path]) -> None:
    source, out = long_page
    size = out.stat().st_size
    page = out.read_text(encoding="utf-8")
    print(
        f"\n300 000-event report: {size / 1e6:.2f} MB from a {source.stat().st_size / 1e6:.1f} MB capture"
    )
    assert size < 3_000_000
    svg = page[page.index("<svg") : page.index("</svg>")]
    shapes = len(re.findall(r"<(rect|line|circle|path|polygon)\b", svg))
    assert shapes < 6 * EXACT_LIMIT  # bounded: bins, never one element per event or chunk
    assert "300000 SSE events drawn in bins" in page
    assert "300000 chunk boundaries drawn in bins" in page
    assert 'id="cut-marker"' in page
    assert "close: reset" in page


# -- in a real browser ------------------------------------------------------------


def test_the_console_check_sees_a_blocked_request(tmp_path: Path) -> None:
    """The control: a page that tries to load an image from the network shows up."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        f'<!DOCTYPE html><meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<img src="http://127.0.0.1:9/x.png"><p>x</p>',
        encoding="utf-8",
    )
    run = open_page(bad)
    assert any("Content Security Policy" in line for line in run.console), run.console


@pytest.mark.parametrize("name", CAPTURES)
def test_chromium_loads_the_report_silently(tmp_path: Path, name: str) -> None:
    out, _ = _report_page(tmp_path, name)
    run = open_page(out)
    assert run.console == []
    assert 'id="timeline"' in run.dom
    assert 'id="close-label"' in run.dom
    report = analyze_capture(str(FIXTURES / name))
    assert ('id="cut-marker"' in run.dom) == (report.verdict.value == "truncated")


def test_chromium_renders_the_300000_event_report(long_page: tuple[Path, Path]) -> None:
    run = open_page(long_page[1])
    print(f"\nchromium: 300 000-event report loaded and dumped in {run.seconds:.2f} s (whole run)")
    assert run.console == []
    assert 'id="cut-marker"' in run.dom


def test_screenshot_of_the_field_case(tmp_path: Path) -> None:
    """The picture in the README; written to docs/report.png with CHUNKSCOPE_WRITE_SCREENSHOT=1."""
    out, _ = _report_page(tmp_path, FIELD.name)
    shot = tmp_path / "report.png"
    run = open_page(out, screenshot=shot, size=(1100, 760))
    assert run.console == []
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1100, 760)
    if os.environ.get("CHUNKSCOPE_WRITE_SCREENSHOT"):
        README_SHOT.parent.mkdir(exist_ok=True)
        README_SHOT.write_bytes(data)
    assert README_SHOT.exists()
    assert README_SHOT.stat().st_size < 150_000


def test_a_symlinked_output_is_written_through_not_replaced(tmp_path: Path) -> None:
    target = tmp_path / "real.html"
    target.write_text("old")
    link = tmp_path / "link.html"
    link.symlink_to(target)
    write_html_report(analyze_capture(str(FIELD)), FIELD, link)
    assert link.is_symlink()
    assert "<html" in target.read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.html", "real.html"]
