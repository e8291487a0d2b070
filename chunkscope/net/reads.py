"""Recorded reads held compactly: one buffer, one array of ends, one of times.

A replay of two million one-byte reads as a tuple of ``(t, bytes)`` pairs
costs over 200 bytes a read in Python objects; here it costs 16, and a pair
is made only when the server reaches it.
"""

from __future__ import annotations

import os
from array import array
from collections.abc import Iterator, Sequence
from typing import overload

from ..core.errors import CaptureFileError
from ..core.report import CloseKind
from ..formats.capture import MAX_LOAD_BYTES, Ended, Received, iter_capture

__all__ = ["CaptureReads", "ReadTable", "read_capture"]


class ReadTable(Sequence[tuple[float, bytes]]):
    """A read-only sequence of ``(t, data)`` reads over one buffer."""

    def __init__(self, data: bytes, ends: array[int], times: array[float]) -> None:
        if len(ends) != len(times) or (ends and ends[-1] != len(data)):
            raise ValueError("ends and times must match the data")
        self.data = data
        self._ends = ends
        self._times = times

    def __len__(self) -> int:
        return len(self._ends)

    def _start(self, index: int) -> int:
        return self._ends[index - 1] if index else 0

    @overload
    def __getitem__(self, index: int) -> tuple[float, bytes]: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[tuple[float, bytes]]: ...
    def __getitem__(
        self, index: int | slice
    ) -> tuple[float, bytes] | Sequence[tuple[float, bytes]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("read index out of range")
        return self._times[index], self.data[self._start(index) : self._ends[index]]

    def __iter__(self) -> Iterator[tuple[float, bytes]]:
        data, times, start = self.data, self._times, 0
        for i, end in enumerate(self._ends):
            yield times[i], data[start:end]
            start = end

    def truncated(self, offset: int) -> ReadTable:
        """The reads cut to their first ``offset`` bytes, boundaries and times kept."""
        import bisect

        if offset >= len(self.data):
            return self
        n = bisect.bisect_left(
            self._ends, offset
        )  # the read holding byte offset-1 ends at >= offset
        if offset == 0:
            return ReadTable(b"", array("q"), array("d"))
        ends = self._ends[: n + 1]
        ends[-1] = offset
        return ReadTable(self.data[:offset], ends, self._times[: n + 1])


class CaptureReads:
    """What a replay needs from a capture file, read in one streaming pass."""

    def __init__(self, path: str, reads: ReadTable, end: Ended | None, partial: bool) -> None:
        self.path = path
        self.reads = reads
        self.end = end
        self.partial_last_line = partial

    @property
    def end_kind(self) -> CloseKind | None:
        return None if self.end is None else self.end.kind


def read_capture(path: str | os.PathLike[str], *, max_bytes: int = MAX_LOAD_BYTES) -> CaptureReads:
    """Read a capture file's received bytes into a :class:`ReadTable`, in one pass."""
    name = os.fspath(path)
    buf = bytearray()
    ends = array("q")
    times = array("d")
    end: Ended | None = None
    for record in iter_capture(name):
        if isinstance(record, Received):
            buf += record.data
            if len(buf) > max_bytes:
                raise CaptureFileError(
                    name, None, f"more than {max_bytes} received bytes: refusing to load it whole"
                )
            ends.append(len(buf))
            times.append(record.t)
        elif isinstance(record, Ended):
            end = record
    with open(name, "rb") as f:
        f.seek(0, os.SEEK_END)
        partial = False
        if f.tell():
            f.seek(-1, os.SEEK_END)
            partial = f.read(1) != b"\n"
    return CaptureReads(name, ReadTable(bytes(buf), ends, times), end, partial)
