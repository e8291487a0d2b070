"""Validated option types for every command: a bad value is a usage error at parse time.

Each function here is an argparse ``type=``: it turns the text into a value
or raises :class:`argparse.ArgumentTypeError`, which the parser reports as
one line (``chunkscope serve: error: argument --port: ...``) and exit 2.
``float("nan")``, ``float("inf")`` and negative numbers are accepted by
Python's own ``float``/``int``; none of them is a sensible timeout, speed or
count, so every numeric option says its range here, once.
"""

from __future__ import annotations

import argparse
import ipaddress
import math
import re
from collections.abc import Callable
from urllib.parse import urlsplit

__all__ = [
    "MAX_DELAY",
    "count",
    "delay",
    "factor",
    "host",
    "http_token",
    "nonempty",
    "path",
    "port",
    "positive_count",
    "seconds",
    "size",
    "url",
]

# The longest a replay server waits at one point (a recorded gap, --stall,
# --delay-per-write); net/server.py clamps recorded gaps to the same value.
MAX_DELAY = 600.0

# RFC 9110 §5.6.2: token = 1*tchar (the request method is a token)
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def _number(text: str, kind: Callable[[str], float]) -> float:
    try:
        value = kind(text)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def seconds(text: str) -> float:
    """A time in seconds: finite and >= 0 (where 0 means "no limit", the option says so)."""
    value = _number(text, float)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a time cannot be negative")
    return value


def delay(text: str) -> float:
    """A replay delay in seconds: 0 to :data:`MAX_DELAY`."""
    value = seconds(text)
    if value > MAX_DELAY:
        raise argparse.ArgumentTypeError(f"{text!r}: at most {MAX_DELAY:g} seconds")
    return value


def factor(text: str) -> float:
    """A timing factor (``--speed``): finite and >= 0 (0: no waiting)."""
    value = _number(text, float)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the speed cannot be negative")
    return value


def count(text: str) -> int:
    """A count: an integer >= 0."""
    value = int(_number(text, int))
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a count cannot be negative")
    return value


def positive_count(text: str) -> int:
    """A count of at least 1."""
    value = int(_number(text, int))
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be at least 1")
    return value


def size(text: str) -> int:
    """A size in bytes >= 1, decimal or with a 0x prefix."""
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be at least 1")
    return value


def port(text: str) -> int:
    """A TCP port, 0-65535 (0: pick a free one)."""
    value = int(_number(text, int))
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r}: a port is 0-65535")
    return value


def nonempty(text: str) -> str:
    """A string that must not be empty (nor only blanks), and holds no CR or LF."""
    if not text.strip():
        raise argparse.ArgumentTypeError("cannot be empty")
    if "\r" in text or "\n" in text:
        raise argparse.ArgumentTypeError(f"{text!r}: no line breaks")
    return text


def http_token(text: str) -> str:
    """An HTTP token such as a request method (RFC 9110 §5.6.2): letters, digits, ``!#$%&'*+-.^_`|~``."""
    if not text:
        raise argparse.ArgumentTypeError("cannot be empty")
    if not _TOKEN.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an HTTP token (RFC 9110 §5.6.2)")
    return text


# RFC 1123 §2.1: a label is 1-63 letters, digits and hyphens, not starting or ending with one
_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def host(text: str) -> str:
    """An address to listen on: an IP address or a host name (dotted digits must be an IPv4 address)."""
    nonempty(text)
    bare = text.strip("[]")
    if re.fullmatch(r"[0-9.]+", bare) or ":" in bare:
        try:
            ipaddress.ip_address(bare)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an IP address") from None
    elif len(bare) > 253 or not all(_LABEL.fullmatch(label) for label in bare.split(".")):
        # (the resolver's IDNA codec raises UnicodeError on an empty or 64-byte label)
        raise argparse.ArgumentTypeError(f"{text!r} is not a host name or IP address")
    return bare


def path(text: str) -> str:
    """A file or folder name: not empty (an empty name would silently mean "none")."""
    if not text:
        raise argparse.ArgumentTypeError("cannot be empty (a file or folder name)")
    return text


def url(text: str) -> str:
    """A URL that :func:`urllib.parse.urlsplit` can take apart (scheme, host and port are
    checked later, by the client, which masks any password in what it says).

    ``urlsplit`` raises ``ValueError`` on an unclosed IPv6 bracket (``http://[::1``); that is a
    usage error, said without echoing the URL (it may hold credentials).
    """
    try:
        urlsplit(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a valid URL: {exc}") from None
    return text
