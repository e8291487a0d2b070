"""The page-cache releaser: a thread that never touches the data and never outlives close()."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from chunkscope.formats.page_cache import PageCacheReleaser, can_release

THREAD_NAME = "chunkscope-page-cache"
WINDOW = 64 << 10


def release_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD_NAME]


def test_a_regular_file_can_be_released_a_pipe_and_a_fifo_cannot(tmp_path: Path) -> None:
    with open(tmp_path / "file", "wb") as f:
        assert can_release(f.fileno())
    read_end, write_end = os.pipe()
    try:
        assert not can_release(write_end)
    finally:
        os.close(read_end)
        os.close(write_end)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    fd = os.open(fifo, os.O_RDWR)  # O_RDWR: opening a FIFO this way does not wait for a reader
    try:
        assert not can_release(fd)
    finally:
        os.close(fd)


def test_no_thread_until_a_window_is_full_and_none_after_close(tmp_path: Path) -> None:
    before = len(release_threads())
    with open(tmp_path / "small", "wb", buffering=0) as f:
        releaser = PageCacheReleaser(f.fileno(), WINDOW)
        f.write(b"x" * (WINDOW - 1))
        releaser.written(WINDOW - 1)
        assert len(release_threads()) == before
        releaser.close()
    with open(tmp_path / "large", "wb", buffering=0) as f:
        releaser = PageCacheReleaser(f.fileno(), WINDOW)
        total = 0
        for i in range(20):
            total += f.write(bytes([i]) * (WINDOW // 2 + 1))
            releaser.written(total)
        assert len(release_threads()) == before + 1
        releaser.close()
        assert len(release_threads()) == before
    expected = b"".join(bytes([i]) * (WINDOW // 2 + 1) for i in range(20))
    assert (tmp_path / "large").read_bytes() == expected


def test_a_descriptor_that_goes_away_early_only_ends_the_thread(tmp_path: Path) -> None:
    # Misuse (the descriptor closed before close()) must not raise anywhere:
    # the data is written already, only its page cache stays.
    path = tmp_path / "early"
    path.write_bytes(b"y" * 4 * WINDOW)
    before = len(release_threads())
    fd = os.open(path, os.O_RDONLY)
    releaser = PageCacheReleaser(fd, WINDOW)
    os.close(fd)
    releaser.written(4 * WINDOW)
    releaser.close()
    assert len(release_threads()) == before
    assert path.read_bytes() == b"y" * 4 * WINDOW
