"""One exception tree for everything chunkscope raises on purpose.

Each fact in a message is also an attribute, so callers and tests never have
to parse message text.
"""

from __future__ import annotations


class ChunkscopeError(Exception):
    """Base class of every error chunkscope raises on purpose."""


class UsageError(ChunkscopeError):
    """The caller asked for something that cannot work (bad option, misuse of an API)."""


class CaptureFileError(ChunkscopeError):
    """A capture file (or raw byte file) could not be read.

    ``path`` is the file, ``line`` the 1-based line number of the offending
    record (``None`` when the problem is the file as a whole), ``reason`` the
    one-line explanation.
    """

    def __init__(self, path: str, line: int | None, reason: str) -> None:
        self.path = path
        self.line = line
        self.reason = reason
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {reason}")


class CaptureWriteError(CaptureFileError):
    """A capture file could not be opened or written (disk full, a pipe whose reader left).

    Like :class:`CaptureFileError`: ``path``, ``line`` (always ``None``) and
    ``reason``. Records written before the failure stay loadable.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, None, reason)


class TransportError(ChunkscopeError):
    """A connection could not be made or kept (DNS, connect, TLS, proxy).

    ``kind`` is one of ``"dns"``, ``"connect"``, ``"tls"``, ``"proxy"``,
    ``"timeout"``; ``target`` is what was dialled (``host:port``).
    """

    def __init__(self, kind: str, target: str, reason: str) -> None:
        self.kind = kind
        self.target = target
        self.reason = reason
        super().__init__(f"{kind} error for {target}: {reason}")
