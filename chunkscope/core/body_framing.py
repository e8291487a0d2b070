"""Which framing delimits a response body (RFC 9112 §6.3), decided from its head alone."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field

from .head import Head
from .report import Framing, ProblemState

__all__ = ["FramingChoice", "FramingFailure", "choose_framing"]

_DIGITS = re.compile(r"[0-9]+")
# The longest start of a Content-Length value that is still a valid list (RFC 9110 §8.6:
# 1*DIGIT, repeated with commas); where it stops is the first wrong byte.
_VALID_LENGTHS = re.compile(r"[0-9]+(?:[ \t]*,[ \t]*[0-9]+)*")


@dataclass(frozen=True, slots=True)
class FramingFailure:
    """A head whose framing headers are malformed: where, what was found and what was expected."""

    state: ProblemState
    offset: int
    found: bytes
    expected: str
    reason: str


@dataclass(frozen=True, slots=True)
class FramingChoice:
    """The body's framing and declared length, with notes on tolerated deviations."""

    framing: Framing
    length: int | None
    notes: list[tuple[int, str]] = field(default_factory=list)
    failure: FramingFailure | None = None


def choose_framing(head: Head, request_method: str) -> FramingChoice:
    """RFC 9112 §6.3: how the body of ``head``, the response to ``request_method``, is delimited."""
    notes: list[tuple[int, str]] = []
    status = head.status
    method = request_method
    if (
        method == "HEAD"
        or status in (101, 204, 304)
        or (method == "CONNECT" and 200 <= status < 300)
    ):
        if status == 101:
            notes.append((head.offset, "101 Switching Protocols: the connection leaves HTTP/1.1"))
        return FramingChoice(Framing.NO_BODY, None, notes)
    te_index = [i for i, (n, _) in enumerate(head.headers) if n.lower() == "transfer-encoding"]
    cl_index = [i for i, (n, _) in enumerate(head.headers) if n.lower() == "content-length"]
    if te_index:
        # Each coding listed, lower-case, with where it is: (header index, character in its value).
        listed = [
            (coding.lower(), (i, at))
            for i in te_index
            for coding, at in _list_items(head.headers[i][1])
            if coding
        ]
        codings = [coding for coding, _ in listed]
        te_offset = head.header_offsets[te_index[0]]
        if not codings and not cl_index:
            # RFC 9110 §5.6.1: a recipient ignores empty list elements, so the
            # field lists no coding: chunked is not final and the body ends at
            # the close (RFC 9112 §6.3 item 4) -- the one delimiter left.
            notes.append(
                (
                    te_offset,
                    "Transfer-Encoding with no transfer coding (an empty list): "
                    "the body ends at the close (RFC 9112 §6.3)",
                )
            )
            return FramingChoice(Framing.CLOSE_DELIMITED, None, notes)
        if not codings:
            # With a Content-Length too, one recipient reads to the close and
            # another reads Content-Length bytes: the framing is ambiguous.
            offset, found = _value_at(head, te_index[0], 0)
            return FramingChoice(
                Framing.CLOSE_DELIMITED,
                None,
                notes,
                FramingFailure(
                    ProblemState.HEADERS,
                    offset,
                    found,
                    "a transfer coding, e.g. chunked",
                    "empty Transfer-Encoding with a Content-Length: the body's framing is ambiguous",
                ),
            )
        if codings.count("chunked") > 1:
            again = [where for coding, where in listed if coding == "chunked"][1]
            offset, found = _value_at(head, *again)
            return FramingChoice(
                Framing.CHUNKED,
                None,
                notes,
                FramingFailure(
                    ProblemState.HEADERS,
                    offset,
                    found,
                    "chunked applied at most once (RFC 9112 §6.1)",
                    "Transfer-Encoding applies chunked more than once",
                ),
            )
        if cl_index:
            notes.append(
                (
                    head.header_offsets[cl_index[0]],
                    "both Transfer-Encoding and Content-Length: Transfer-Encoding wins (RFC 9112 §6.3)",
                )
            )
        if head.version == "1.0":
            notes.append(
                (
                    te_offset,
                    "Transfer-Encoding in an HTTP/1.0 response: framing is faulty (RFC 9112 §6.1)",
                )
            )
        if codings and codings[-1] == "chunked":
            return FramingChoice(Framing.CHUNKED, None, notes)
        notes.append(
            (
                _value_at(head, *listed[-1][1])[0],
                "Transfer-Encoding without chunked last: the body ends at the close",
            )
        )
        return FramingChoice(Framing.CLOSE_DELIMITED, None, notes)
    if cl_index:
        values: list[str] = []
        for i in cl_index:
            value = head.headers[i][1]
            parts = [p.strip() for p in value.split(",")]
            for part in parts:
                if not _DIGITS.fullmatch(part):
                    valid = _VALID_LENGTHS.match(value)
                    bad = 0 if valid is None else valid.end()
                    return _bad_length(
                        head,
                        notes,
                        (i, bad),
                        "Content-Length: 1*DIGIT",
                        "invalid Content-Length value",
                    )
            values.extend(parts)
        # RFC 9110 §8.6: a recipient anticipates large numbers; every value int()
        # can read is kept whole, leading zeros apart. CPython refuses more digits
        # than sys.get_int_max_str_digits() (3.11, 3.10.7 on; 0: no limit).
        max_digits: int = getattr(sys, "get_int_max_str_digits", lambda: 0)()
        for i in cl_index:
            for number in _DIGITS.finditer(head.headers[i][1]):
                if max_digits and len(number.group().lstrip("0")) > max_digits:
                    return _bad_length(
                        head,
                        notes,
                        (i, number.start()),
                        f"Content-Length: at most {max_digits} digits",
                        "Content-Length value too long to read as a number",
                    )
        lengths = {_length(v) for v in values}
        if len(lengths) > 1:
            # The first value that differs from the first one is the conflict.
            first = _length(values[0])
            conflict = next(
                (i, number.start())
                for i in cl_index
                for number in _DIGITS.finditer(head.headers[i][1])
                if _length(number.group()) != first
            )
            return _bad_length(
                head,
                notes,
                conflict,
                f"one Content-Length value ({first}, as before)",
                f"conflicting Content-Length values ({', '.join(values)[:64]})",
            )
        if len(values) > 1:
            notes.append(
                (
                    head.header_offsets[cl_index[0]],
                    "repeated identical Content-Length values (accepted, RFC 9110 §8.6)",
                )
            )
        return FramingChoice(Framing.CONTENT_LENGTH, lengths.pop(), notes)
    return FramingChoice(Framing.CLOSE_DELIMITED, None, notes)


def _length(digits: str) -> int:
    """A Content-Length value (all digits) as a number; leading zeros do not count toward int()'s limit."""
    return int(digits.lstrip("0") or "0")


def _bad_length(
    head: Head, notes: list[tuple[int, str]], where: tuple[int, int], expected: str, reason: str
) -> FramingChoice:
    """A malformed Content-Length: found at header ``where[0]``'s value from character ``where[1]``."""
    offset, found = _value_at(head, *where)
    return FramingChoice(
        Framing.CONTENT_LENGTH,
        None,
        notes,
        FramingFailure(ProblemState.HEADERS, offset, found, expected, reason),
    )


def _list_items(value: str) -> list[tuple[str, int]]:
    """A comma-separated field value's items, without OWS, each with the character it starts at."""
    items = []
    at = 0
    for item in value.split(","):
        items.append((item.strip(" \t"), at + len(item) - len(item.lstrip(" \t"))))
        at += len(item) + 1
    return items


def _value_at(head: Head, index: int, at: int) -> tuple[int, bytes]:
    """Stream offset and bytes of header ``index``'s value from character ``at`` on.

    Where obs-fold joined lines into the value, positions in it are not the
    wire's: the field line's start and its whole value, then.
    """
    value = head.headers[index][1].encode("latin-1")
    start = head.value_offsets[index] if index < len(head.value_offsets) else -1
    if start < 0:
        return head.header_offsets[index], value[:32]
    return start + at, value[at : at + 16]
