"""Headless Chromium (Debian package) opening a local page: its DOM, a screenshot, its console.

Every run gets a fresh profile folder and no background networking; the page's own console
messages (errors, Content-Security-Policy violations, which is how a blocked network request
shows) come back from Chromium's log on stderr as ``INFO:CONSOLE`` lines. A test that needs
Chromium on a machine without it is skipped (``.ci/run`` installs it).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["PageRun", "open_page"]

_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")


def _binary() -> str:
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("chromium is not installed (the Debian package 'chromium')")


@dataclass
class PageRun:
    """What one headless run of a page gave."""

    dom: str  # --dump-dom output ("" with a screenshot)
    console: list[str]  # the page's console lines, as Chromium logged them
    seconds: float  # wall time of the whole browser run (printed, never asserted)


def open_page(
    page: Path, *, screenshot: Path | None = None, size: tuple[int, int] = (1200, 900)
) -> PageRun:
    """Open ``page`` in headless Chromium: dump its DOM, or write a PNG ``screenshot``."""
    binary = _binary()
    with tempfile.TemporaryDirectory(prefix="chunkscope-chromium-") as profile:
        args = [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            f"--window-size={size[0]},{size[1]}",
        ]
        args.append(f"--screenshot={screenshot}" if screenshot else "--dump-dom")
        args.append(page.resolve().as_uri())
        start = time.monotonic()
        done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
        seconds = time.monotonic() - start
    if done.returncode != 0:
        raise AssertionError(f"chromium exited {done.returncode}: {done.stderr[-2000:]}")
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return PageRun(dom=done.stdout, console=console, seconds=seconds)
