"""Content codings (RFC 9110 §8.4): the body as the application reads it, decoded incrementally.

Theory of operation
-------------------
``ContentDecoder`` sits between the body framing and the SSE decoder: it takes
body bytes as they were received (``feed(data, offset, t)``, the same shape as
a framing sink) and hands the decoded bytes, with their offset in the *decoded*
stream, to its own sink. Framing offsets therefore stay offsets in the received
stream; what the sink sees counts from the first decoded byte.

``gzip`` (RFC 1952), ``x-gzip`` (RFC 9110 §8.4.1.3) and ``deflate`` (RFC 9110
§8.4.1.2: the zlib format of RFC 1950; servers that send raw RFC 1951 deflate
instead are recognised by the first two bytes) are decoded with
``zlib.decompressobj`` on raw deflate data, the gzip or zlib header and trailer
being read here, so that a stream cut off says exactly where::

    HEADER --header read--> DATA --final block--> TRAILER --checked--> END
                                                              gzip: --> HEADER (next member)

Memory is constant: at most ``max_piece`` decoded bytes exist at a time
(``decompress(data, max_length)`` and ``unconsumed_tail``), a header's optional
fields are capped, and the check values (CRC-32, Adler-32) are running sums.
Work is bounded too: once more than ``max_ratio`` decoded bytes per received
byte come out (after the first ``min_bomb`` bytes), decoding stops with a
``bomb`` finding instead of feeding gigabytes of zeros downstream.

``br`` (RFC 7932) needs the optional ``brotli`` package and ``zstd`` (RFC 8878)
the optional ``zstandard`` package (``pip install 'chunkscope[codings]'``);
without them, and for any coding this module does not know, the finding says
the body could not be decoded rather than guessing.
"""

from __future__ import annotations

import functools
import importlib
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["CodingProblem", "ContentDecoder", "parse_content_coding"]

Sink = Callable[[bytes, int, float], None]
Emit = Callable[[bytes], None]  # takes each decoded piece (at most max_piece bytes)

_GZIP_MAGIC = b"\x1f\x8b"
_MAX_HEADER = 65536  # a gzip header's FEXTRA/FNAME/FCOMMENT beyond this is refused
_IDENTITY = frozenset({"identity", ""})


def parse_content_coding(values: Sequence[str]) -> list[str]:
    """The codings a Content-Encoding field lists, in the order they were applied.

    ``identity`` is dropped (RFC 9110 §8.4.1); names are case-insensitive.
    """
    codings = []
    for value in values:
        for item in value.split(","):
            name = item.strip().lower()
            if name not in _IDENTITY:
                codings.append(name)
    return codings


@dataclass(frozen=True, slots=True)
class CodingProblem:
    """Why the decoded body is not the whole body.

    ``kind``: ``cut`` (the coded stream ended before its end), ``corrupt``
    (bytes that do not decode), ``bomb`` (decoding stopped at the size bound),
    ``undecodable`` (a coding chunkscope cannot decode here). ``offset`` is in
    the received stream: where the stream ended, or the first byte of the
    piece that did not decode.
    """

    kind: str
    offset: int
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "offset": self.offset, "message": self.message}


class _Broken(Exception):
    """Bytes that do not decode (a message for :class:`CodingProblem`)."""


class _Stop(Exception):
    """Raised by an emit callback to stop decoding (the bomb bound was reached)."""


class _Stage:
    """One coding, decoded: bounded pieces out of each input, and where it stopped."""

    label = ""

    def decode(self, data: bytes, emit: Emit) -> None:
        """Decode ``data``, handing each decoded piece to ``emit`` as it comes out."""
        raise NotImplementedError

    def end(self) -> str | None:
        """None if the coded stream ended at its proper end, else where it stopped."""
        raise NotImplementedError


class _Deflate(_Stage):
    """gzip members, a zlib stream or raw deflate data, read with one raw inflater.

    ``container`` is ``gzip``, ``zlib``, ``raw`` or ``deflate`` (zlib or raw,
    decided by the first two bytes: RFC 1950 §2.2, CM 8 and FCHECK).
    """

    def __init__(self, container: str, name: str, max_piece: int) -> None:
        self.name = name
        self.container = container
        self.label = name
        self._max = max_piece
        self._state = "header" if container != "raw" else "data"
        self._held = bytearray()  # header or trailer bytes so far
        self._members = 0
        self._data_in = 0  # compressed bytes of the current member
        self._check = 0
        self._size = 0
        self._inflater: Any = None if container != "raw" else zlib.decompressobj(-15)
        if container == "raw":
            self.label = f"{name} (raw deflate)"

    # -- header and trailer --------------------------------------------------

    def _header_length(self, buf: bytes | bytearray) -> int | None:
        """Bytes of the header at the start of ``buf``, or None if more are needed."""
        if self.container == "gzip":
            return _gzip_header_length(buf, self.name)
        if len(buf) < 2:
            return None
        cmf, flg = buf[0], buf[1]
        if cmf & 0x0F != 8 or cmf >> 4 > 7 or (cmf * 256 + flg) % 31:
            raise _Broken(f"{self.name}: not a zlib stream (first bytes {bytes(buf[:2])!r})")
        if flg & 0x20:
            raise _Broken(f"{self.name}: the zlib stream needs a preset dictionary (FDICT)")
        return 2

    def _trailer_length(self) -> int:
        return 8 if self.container == "gzip" else 4

    def decode(self, data: bytes, emit: Emit) -> None:
        while data:
            state = self._state
            if state == "header":
                if self.container == "deflate":
                    joined = bytes(self._held) + data
                    if len(joined) < 2:
                        self._held += data
                        return
                    cmf, flg = joined[0], joined[1]
                    zlib_header = cmf & 0x0F == 8 and cmf >> 4 <= 7 and (cmf * 256 + flg) % 31 == 0
                    self.container = "zlib" if zlib_header else "raw"
                    self.label = f"{self.name} ({self.container})"
                    if not zlib_header:
                        self._held.clear()
                        self._state = "data"
                        self._inflater = zlib.decompressobj(-15)
                        data = joined
                        continue
                joined = bytes(self._held) + data if self._held else data
                length = self._header_length(joined)
                if length is None:
                    if len(joined) > _MAX_HEADER:
                        raise _Broken(f"{self.name}: header longer than {_MAX_HEADER} bytes")
                    self._held = bytearray(joined)
                    return
                self._held.clear()
                self._state = "data"
                self._inflater = zlib.decompressobj(-15)
                self._data_in = 0
                self._check = 0 if self.container == "gzip" else 1
                self._size = 0
                data = joined[length:]
            elif state == "data":
                self._inflate(data, emit)
                if self._state != "trailer" and self._state != "end":
                    return
                data = self._inflater.unused_data
                if self.container == "raw":
                    if data:
                        raise _Broken(f"{len(data)} bytes after the end of the deflate data")
                    return
            elif state == "trailer":
                need = self._trailer_length() - len(self._held)
                self._held += data[:need]
                data = data[need:]
                if len(self._held) < self._trailer_length():
                    return
                self._verify_trailer()
            else:  # "end": a zlib stream is over; gzip may start another member
                if self.container == "gzip" and data[:1] == _GZIP_MAGIC[:1]:
                    self._state = "header"
                    continue
                raise _Broken(f"{len(data)} bytes after the end of the {self.name} stream")

    def _inflate(self, data: bytes, emit: Emit) -> None:
        inflater = self._inflater
        self._data_in += len(data)
        try:
            while True:
                out = inflater.decompress(data, self._max)
                if out:
                    if self.container == "gzip":
                        self._check = zlib.crc32(out, self._check)
                    elif self.container == "zlib":
                        self._check = zlib.adler32(out, self._check)
                    self._size += len(out)
                    emit(out)
                if inflater.eof:
                    self._data_in -= len(inflater.unused_data)
                    self._state = "end" if self.container == "raw" else "trailer"
                    return
                data = inflater.unconsumed_tail
                if not data:
                    return
        except zlib.error as exc:
            raise _Broken(f"{self.name}: compressed data is corrupt ({exc})") from None

    def _verify_trailer(self) -> None:
        held = bytes(self._held)
        self._held.clear()
        self._members += 1
        if self.container == "gzip":
            crc = int.from_bytes(held[:4], "little")
            isize = int.from_bytes(held[4:8], "little")
            if crc != self._check:
                raise _Broken(
                    f"gzip trailer CRC-32 {crc:#010x} does not match the data ({self._check:#010x})"
                )
            if isize != self._size & 0xFFFFFFFF:
                raise _Broken(f"gzip trailer says {isize} bytes, the data holds {self._size}")
        else:
            adler = int.from_bytes(held, "big")
            if adler != self._check:
                raise _Broken(
                    f"zlib trailer Adler-32 {adler:#010x} does not match the data ({self._check:#010x})"
                )
        self._state = "end"

    def end(self) -> str | None:
        state = self._state
        name = self.name
        if state == "end":
            return None
        if self.container == "raw":
            return f"{name} stream ended before its final block (raw deflate, no trailer to check)"
        if state == "header":
            if self._members and not self._held:
                return None  # between gzip members: a whole stream
            if self.container == "deflate" or self.container == "zlib":
                return (
                    f"{name} stream ended before its trailer: inside its 2-byte zlib header "
                    f"({len(self._held)} bytes of it arrived)"
                )
            if not self._held:
                return f"{name} stream ended before its trailer: no byte of it arrived"
            have = len(self._held)
            where = (
                f"inside its 10-byte header ({have} bytes of it arrived)"
                if have < 10
                else f"inside its header's optional fields ({have} bytes of header arrived)"
            )
            return f"{name} stream ended before its trailer: {where}"
        trailer = (
            "8-byte trailer (CRC-32, length)"
            if self.container == "gzip"
            else ("4-byte trailer (Adler-32)")
        )
        if state == "data":
            member = f"member {self._members + 1}, " if self.container == "gzip" else ""
            return (
                f"{name} stream ended before its trailer: inside the compressed data "
                f"({member}{self._data_in} compressed bytes, {self._size} decoded)"
            )
        if not self._held:
            return (
                f"{name} stream ended before its trailer: the compressed data ended, "
                f"the {trailer} never came"
            )
        return (
            f"{name} stream ended before the end of its trailer: {len(self._held)} bytes of the "
            f"{trailer} arrived"
        )


def _gzip_header_length(buf: bytes | bytearray, name: str) -> int | None:
    """RFC 1952 §2.3: ID1 ID2 CM FLG MTIME(4) XFL OS, then FEXTRA, FNAME, FCOMMENT, FHCRC."""
    if not _GZIP_MAGIC.startswith(bytes(buf[:2])):
        raise _Broken(f"{name}: not a gzip stream (first bytes {bytes(buf[:2])!r})")
    if len(buf) < 10:
        return None
    if buf[2] != 8:
        raise _Broken(f"{name}: compression method {buf[2]} is not deflate")
    flags = buf[3]
    pos = 10
    if flags & 0x04:  # FEXTRA
        if len(buf) < pos + 2:
            return None
        pos += 2 + int.from_bytes(buf[pos : pos + 2], "little")
    for flag in (0x08, 0x10):  # FNAME, FCOMMENT: zero-terminated
        if flags & flag:
            if len(buf) < pos:
                return None
            zero = buf.find(b"\x00", pos)
            if zero < 0:
                return None
            pos = zero + 1
    if flags & 0x02:  # FHCRC
        pos += 2
    return pos if len(buf) >= pos else None


class _Brotli(_Stage):
    def __init__(self, module: Any, max_piece: int) -> None:
        self.label = "br"
        self._module = module
        self._d = module.Decompressor()
        self._max = max_piece
        self._limited = True

    def decode(self, data: bytes, emit: Emit) -> None:
        d = self._d
        try:
            if self._limited:
                try:
                    out = d.process(data, output_buffer_limit=self._max)
                except TypeError:  # brotli < 1.2: no output limit
                    self._limited = False
                    out = d.process(data)
            else:
                out = d.process(data)
            if out:
                emit(out)
            while self._limited and not d.can_accept_more_data():
                out = d.process(b"", output_buffer_limit=self._max)
                if not out:
                    break
                emit(out)
        except self._module.error as exc:
            raise _Broken(f"br: compressed data is corrupt ({exc})") from None

    def end(self) -> str | None:
        if self._d.is_finished():
            return None
        return "br stream ended before its last meta-block"


class _Zstd(_Stage):
    # zstandard's decompressobj has no output bound, so input goes in small
    # slices: one slice can decode to at most a few MiB (RLE blocks).
    _SLICE = 256

    def __init__(self, module: Any) -> None:
        self.label = "zstd"
        self._module = module
        self._d = module.ZstdDecompressor().decompressobj()
        self._frames = 0
        self._fed = False

    def decode(self, data: bytes, emit: Emit) -> None:
        step = self._SLICE
        try:
            for start in range(0, len(data), step):
                piece = data[start : start + step]
                while piece:
                    self._fed = True
                    out = self._d.decompress(piece)
                    if out:
                        emit(out)
                    if not self._d.eof:
                        break
                    self._frames += 1
                    piece = self._d.unused_data
                    self._d = self._module.ZstdDecompressor().decompressobj()
                    self._fed = False
        except self._module.ZstdError as exc:
            raise _Broken(f"zstd: compressed data is corrupt ({exc})") from None

    def end(self) -> str | None:
        if self._frames and not self._fed:
            return None
        return "zstd stream ended before the end of its frame"


def _stage(coding: str, max_piece: int) -> _Stage | str:
    """The stage for one coding, or why it cannot be decoded here."""
    if coding in ("gzip", "x-gzip"):
        return _Deflate("gzip", coding, max_piece)
    if coding == "deflate":
        return _Deflate("deflate", coding, max_piece)
    if coding == "br":
        try:  # optional: the extra "codings"
            brotli = importlib.import_module("brotli")
        except ImportError:
            return "content coding 'br' needs the optional package brotli (pip install 'chunkscope[codings]')"
        return _Brotli(brotli, max_piece)
    if coding == "zstd":
        try:  # optional: the extra "codings"
            zstandard = importlib.import_module("zstandard")
        except ImportError:
            return "content coding 'zstd' needs the optional package zstandard (pip install 'chunkscope[codings]')"
        return _Zstd(zstandard)
    return f"unknown content coding {coding!r}"


class ContentDecoder:
    """Decode a body's content codings incrementally, in constant memory.

    ``codings`` are the Content-Encoding values in the order they were
    applied (see :func:`parse_content_coding`); they are undone in reverse.
    :meth:`feed` has the framing sink's shape; decoded bytes go to ``sink``
    with their offset in the decoded stream. :meth:`finish` at the end of the
    body says whether the coded stream ended where it should.

    Example::

        >>> import gzip
        >>> out = []
        >>> d = ContentDecoder(["gzip"], lambda data, offset, t: out.append(data))
        >>> body = gzip.compress(b"data: [DONE]\\n\\n")
        >>> d.feed(body[:-3], 100, 0.0)
        >>> d.finish(100 + len(body) - 3).message
        'gzip stream ended before the end of its trailer: 5 bytes of the 8-byte trailer (CRC-32, length) arrived'
        >>> b"".join(out)
        b'data: [DONE]\\n\\n'
    """

    def __init__(
        self,
        codings: Sequence[str],
        sink: Sink | None = None,
        *,
        max_ratio: int = 512,
        min_bomb: int = 1 << 20,
        max_piece: int = 1 << 16,
    ) -> None:
        self.codings = list(codings)
        self.coding = ", ".join(self.codings)
        self.sink = sink
        self.max_ratio = max_ratio
        self.min_bomb = min_bomb
        self.compressed_bytes = 0
        self.decoded_bytes = 0
        self.problem: CodingProblem | None = None
        self._stopped = False
        self._end_offset: int | None = None
        stages: list[_Stage] = []
        for coding in reversed(self.codings):
            stage = _stage(coding, max_piece)
            if isinstance(stage, str):
                self.problem = CodingProblem(
                    "undecodable", 0, f"the body could not be decoded: {stage}"
                )
                self._stopped = True
                break
            stages.append(stage)
        self._stages = stages
        self._t = 0.0
        # Each stage hands its pieces straight to the next one (callbacks, not generators:
        # a per-event flushed stream is many tiny pieces); the innermost to _emit.
        emit: Emit = self._emit
        for stage in reversed(stages[1:]):
            emit = functools.partial(stage.decode, emit=emit)
        self._first: _Stage | None = stages[0] if stages else None
        self._first_emit = emit

    @property
    def decoding(self) -> bool:
        """The decoder still turns received bytes into decoded ones."""
        return not self._stopped

    def feed(self, data: bytes, offset: int, t: float) -> None:
        """Take body bytes whose first byte is at received ``offset``, read at ``t``."""
        if self.compressed_bytes == 0 and self.problem is not None:
            # undecodable from the start: the finding points at the body's first byte
            self.problem = CodingProblem(self.problem.kind, offset, self.problem.message)
        self.compressed_bytes += len(data)
        if self._stopped:
            return
        self._t = t
        try:
            if self._first is None:
                self._emit(data)
            else:
                self._first.decode(data, self._first_emit)
        except _Stop:
            self._stop(
                "bomb",
                offset,
                f"decoding stopped: {self.compressed_bytes} received bytes had decoded "
                f"to {self.decoded_bytes}, more than {self.max_ratio} per received byte "
                f"(a decompression bomb, or a runaway stream)",
            )
        except _Broken as exc:
            self._stop("corrupt", offset, f"{exc}, in the received bytes from {offset}")

    def _emit(self, piece: bytes) -> None:
        """One decoded piece out of the innermost coding: counted, handed on, bounded."""
        start = self.decoded_bytes
        decoded = self.decoded_bytes = start + len(piece)
        if self.sink is not None:
            self.sink(piece, start, self._t)
        if decoded > self.min_bomb and decoded > self.max_ratio * self.compressed_bytes:
            raise _Stop

    def _stop(self, kind: str, offset: int, message: str) -> None:
        self._stopped = True
        self.problem = CodingProblem(kind, offset, message)

    def finish(self, end_offset: int) -> CodingProblem | None:
        """The body ended at received ``end_offset``: the problem, if the coding is not whole."""
        if self._stopped:
            return self.problem
        self._stopped = True
        for stage in self._stages:  # the outermost coding first
            where = stage.end()
            if where is not None:
                self.problem = CodingProblem("cut", end_offset, where)
                break
        return self.problem

    def label(self) -> str:
        """The codings as decoded, e.g. ``deflate (raw)``."""
        if not self._stages:
            return self.coding
        return ", ".join(s.label for s in reversed(self._stages))

    def to_dict(self) -> dict[str, Any]:
        return {
            "coding": self.coding,
            "decoded_as": self.label(),
            "compressed_bytes": self.compressed_bytes,
            "decoded_bytes": self.decoded_bytes,
            "problem": None if self.problem is None else self.problem.to_dict(),
        }
