"""Proxy preambles: the ``HTTP/1.x 2xx`` answers to CONNECT that precede a tunnelled response.

``curl -i -x PROXY`` (and ``--proxytunnel``) prints the proxy's answer to its
CONNECT request (RFC 9110 §9.3.6: any 2xx means the tunnel is open, and such a
response has no body) before the response that came through the tunnel, so a
saved file starts with, e.g., ``HTTP/1.1 200 Connection established\\r\\n\\r\\n``.
Taken for the response, it would make every stream behind it look complete.
"""

from __future__ import annotations

import re

__all__ = ["find_connect_preamble"]

_STATUS = re.compile(rb"HTTP/1\.[01] 2[0-9][0-9](?: [^\r\n]*)?\r?\n")
_MAX_HEAD = 8192  # a CONNECT answer is a status line and a few headers
_MAX_PREAMBLES = 8


def find_connect_preamble(data: bytes) -> list[tuple[int, int, str]]:
    """The leading CONNECT answers in ``data``: ``(offset, end, status line)`` for each.

    A head counts as one only when it is a 2xx with an empty body -- no
    Content-Length other than 0, no Transfer-Encoding -- and another
    ``HTTP/`` head starts right after it. ``data`` needs only the file's first
    few KiB.
    """
    found: list[tuple[int, int, str]] = []
    pos = 0
    while len(found) < _MAX_PREAMBLES:
        status = _STATUS.match(data, pos)
        if status is None:
            break
        end = _head_end(data, pos)
        if end is None or not data.startswith(b"HTTP/", end):
            break
        head = data[pos:end].lower()
        if b"\ntransfer-encoding:" in head or (
            b"\ncontent-length:" in head
            and not re.search(rb"\ncontent-length:[ \t]*0+[ \t]*\r?\n", head)
        ):
            break
        line = status.group().rstrip(b"\r\n").decode("latin-1")
        found.append((pos, end, line))
        pos = end
    return found


def _head_end(data: bytes, start: int) -> int | None:
    """The end of the head starting at ``start`` (CRLF CRLF, or bare LFs), if in ``data``."""
    window = data[start : start + _MAX_HEAD]
    match = re.search(rb"\r?\n\r?\n", window)
    return None if match is None else start + match.end()
