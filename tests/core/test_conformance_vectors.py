"""Response-parsing vectors adapted from other HTTP parsers' test suites.

Sources: llhttp test/response/*.md and test/request/transfer-encoding.md,
h11's test_io.py (ChunkedReader, content-length, close-delimited), nodejs
http-parser test.c responses, picohttpparser's chunked decoder tests; and in
``SUITE_VECTORS`` one case per name from llhttp (test/response/*.md, the
chunked and Content-Length cases of test/request/*.md with the request line
replaced by a status line), h11 (h11/tests/test_io.py), Go
(src/net/http/internal/chunked_test.go), picohttpparser (test.c) and aiohttp
(tests/test_http_parser.py). Each
vector is a whole response as a client receives it; the expectation follows
RFC 9112 strictly (chunkscope's policy). Where the source parser is more
lenient the comment says so, since chunkscope reports that as
``tolerated_by`` rather than accepting it.

``at`` names where a malformation is reported: the first occurrence of that
byte string after the head, whose first byte is the offending one; ``head_at``
the same from the first byte of the stream. ``tolerated`` is a client named in
the finding's ``tolerated_by`` (None: no one is named), ``note`` a phrase of
one of the report's notes, ``at_last`` the last occurrence of a byte string, ``extra`` the bytes after the end of the response,
``header`` a ``[name, value]`` of the final head.
"""

from __future__ import annotations

from typing import Any

import pytest

from chunkscope import Analyzer

CH = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"

# (name, response bytes, close kind, method, expected)
VECTORS: list[tuple[str, bytes, str, str, dict[str, Any]]] = [
    # -- valid chunked bodies ---------------------------------------------------
    (
        "http-parser: chunked with trailing headers",
        CH
        + b"1e\r\nall your base are belong to us\r\n1e\r\n"
        + b"x" * 30
        + b"\r\n0\r\nVary: *\r\nContent-Type: text/plain\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "body": 60, "chunks": [30, 30]},
    ),
    (
        "h11: ChunkedReader basic",
        CH + b"5\r\n01234\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "body": 21, "chunks": [5, 16]},
    ),
    (
        "h11: chunk extension",
        CH + b"5;hello=there\r\n01234\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "body": 5},
    ),
    (
        "llhttp: chunk extensions",
        CH
        + b"5;ilovew3;somuchlove=aretheseparametersfor\r\nhello\r\n6;blahblah;blah\r\n world\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "body": 11},
    ),
    (
        "llhttp: chunk extensions quoting",
        CH
        + b'5;ilovew3="I love; extensions";somuchlove="aretheseparametersfor";blah;foo=bar\r\nhello\r\n6;blahblah;blah\r\n world\r\n0\r\n\r\n',
        "fin",
        "GET",
        {"verdict": "complete", "body": 11},
    ),
    (
        "RFC 9112 7.1.1: BWS around ; and = (h11, llhttp and Go reject BWS before ;)",
        CH + b"5 ; a = b\r\nhello\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "body": 5},
    ),
    (
        "quoted-pair in an extension value",
        CH + b'5;a="x\\"y"\r\nhello\r\n0\r\n\r\n',
        "fin",
        "GET",
        {"verdict": "complete"},
    ),
    (
        "upper-case hex sizes",
        CH + b"A\r\n0123456789\r\nF\r\n" + b"y" * 15 + b"\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "chunks": [10, 15]},
    ),
    (
        "leading zeros in a size (http-parser: hex_digits_big with zeros)",
        CH + b"0000000000000000000000000a\r\n0123456789\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "chunks": [10]},
    ),
    (
        "last-chunk with extension and zeros",
        CH + b"000;done\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "chunks": []},
    ),
    (
        "CRLF inside chunk data is data",
        CH + b"4\r\n\r\n\r\n\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "body": 4},
    ),
    (
        "llhttp: Content-Length-X is not Content-Length",
        b"HTTP/1.1 200 OK\r\nContent-Length-X: 0\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nOK\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "framing": "chunked", "body": 2},
    ),
    (
        "Transfer-Encoding is case-insensitive",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "framing": "chunked"},
    ),
    (
        "gzip, chunked",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "framing": "chunked"},
    ),
    # -- transfer-encoding edge cases ---------------------------------------------
    (
        "llhttp: chunked before other transfer-encoding",
        b"HTTP/1.1 200 OK\r\nAccept: */*\r\nTransfer-Encoding: chunked, deflate\r\n\r\nWorld",
        "fin",
        "GET",
        {"verdict": "complete", "framing": "close-delimited", "body": 5},
    ),
    (
        "llhttp: chunked not the last of multiple TE fields",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\nWorld",
        "fin",
        "GET",
        {"verdict": "complete", "framing": "close-delimited", "body": 5},
    ),
    (
        "llhttp: chunkedchunked is not chunked",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunkedchunked\r\n\r\n2\r\nOK\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "framing": "close-delimited", "body": 12},
    ),
    (
        "llhttp: empty Transfer-Encoding with Content-Length",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\nContent-Length: 5\r\n\r\nhello",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "headers", "offset": 35},  # where a coding belongs
    ),
    (
        "TE and CL: TE wins (RFC 9112 6.3)",
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nOK\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "framing": "chunked", "body": 2},
    ),
    (
        "chunked twice",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "headers"},
    ),
    # -- content-length / close-delimited / no body --------------------------------
    (
        "llhttp: tabs around Content-Length",
        b"HTTP/1.1 200 OK\r\nContent-Length:\t2\t\r\n\r\nok",
        "fin",
        "GET",
        {"verdict": "complete", "framing": "content-length", "body": 2},
    ),
    (
        "repeated identical Content-Length",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
        "fin",
        "GET",
        {"verdict": "complete", "body": 2},
    ),
    (
        "Content-Length list of equal values",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok",
        "fin",
        "GET",
        {"verdict": "complete", "body": 2},
    ),
    (
        "conflicting Content-Length",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "headers"},
    ),
    (
        "Content-Length with a sign",
        b"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "headers"},
    ),
    (
        "Content-Length hex",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0x2\r\n\r\nok",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "headers"},
    ),
    (
        "llhttp: response without Content-Length ends at EOF",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n<?xml?>",
        "fin",
        "GET",
        {"verdict": "complete", "framing": "close-delimited", "body": 7},
    ),
    (
        "close-delimited cut by RST is not trusted",
        b"HTTP/1.1 200 OK\r\n\r\nabc",
        "reset",
        "GET",
        {"verdict": "truncated", "state": "body"},
    ),
    (
        "close-delimited over TLS without close_notify (RFC 9112 9.8)",
        b"HTTP/1.1 200 OK\r\n\r\nabc",
        "tls-no-close-notify",
        "GET",
        {"verdict": "truncated", "state": "body"},
    ),
    (
        "HTTP/1.0 close-delimited",
        b"HTTP/1.0 200 OK\r\n\r\nold style",
        "fin",
        "GET",
        {"verdict": "complete", "framing": "close-delimited"},
    ),
    (
        "http-parser: 204 with chunked header has no body",
        b"HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "framing": "no-body"},
    ),
    (
        "http-parser: 304 with Content-Length has no body",
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "framing": "no-body"},
    ),
    (
        "HEAD response with Content-Length has no body",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
        "fin",
        "HEAD",
        {"verdict": "complete", "framing": "no-body"},
    ),
    (
        "100 Continue then final response",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        "fin",
        "GET",
        {"verdict": "complete", "body": 2},
    ),
    (
        "101 Switching Protocols",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x00",
        "fin",
        "GET",
        {"verdict": "complete", "framing": "no-body"},
    ),
    (
        "llhttp: extra space between status code and reason is reason",
        b"HTTP/1.1 200  OK\r\nContent-Length: 0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete"},
    ),
    (
        "status line without reason phrase",
        b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete"},
    ),
    # -- malformed chunked framing ---------------------------------------------------
    (
        "llhttp: trailing spaces on chunk size (h11, curl accept)",
        CH + b"25  \r\nThis is the data in the first chunk\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-size", "at": b"  \r\n"},
    ),
    (
        "llhttp: no semicolon before chunk extensions",
        CH + b"2 erfrferferf\r\naa\r\n0 rrrr\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-size", "at": b"erfr"},
    ),
    (
        "llhttp: no extension after semicolon",
        CH + b"2;\r\naa\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-size", "at": b"\r\naa"},
    ),
    (
        "llhttp: unbalanced chunk extension quoting",
        CH + b'5;ilovew3="abc";somuchlove="def; ghi\r\nhello\r\n0\r\n\r\n',
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-size", "at": b"\r\nhello"},
    ),
    (
        "0x prefix (urllib3 accepts: int(..., 16))",
        CH + b"0x5\r\nhello\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-size", "at": b"x5"},
    ),
    (
        "negative size",
        CH + b"-1\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-size", "at": b"-1"},
    ),
    (
        "plus sign",
        CH + b"+5\r\nhello\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-size", "at": b"+5"},
    ),
    (
        "underscore (Python int() accepts 1_0)",
        CH + b"1_0\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-size", "at": b"_0"},
    ),
    (
        "empty size line",
        CH + b"\r\nhello\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-size", "at": b"\r\nhello"},
    ),
    (
        "leading space (lenient parsers skip it)",
        CH + b" 5\r\nhello\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-size", "at": b" 5"},
    ),
    (
        "h11: size overflow",
        CH + b"9999999999999999999999\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-size", "at": b"9999"},
    ),
    (
        "picohttpparser: size line bare LF (curl accepts)",
        CH + b"5\nhello\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-size", "at": b"\nhello"},
    ),
    (
        "bare CR in size line: the byte after the CR is the finding",
        CH + b"5\rhello\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-size", "at": b"hello"},
    ),
    (
        "NUL in size line",
        CH + b"5\x00\r\nhello\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-size", "at": b"\x00"},
    ),
    (
        "h11 0.16 (CVE-2025-43859): data not followed by CRLF",
        CH + b"8\r\n01234567XX0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-data-end", "at": b"XX"},
    ),
    (
        "data followed by bare LF (curl accepts)",
        CH + b"5\r\nhello\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-data-end", "at": b"\n0\r\n"},
    ),
    (
        "trailer without colon",
        CH + b"0\r\nNoColon\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "trailers", "at": b"\r\n\r\n"},
    ),
    (
        "trailer with space before colon",
        CH + b"0\r\nName : v\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "trailers", "at": b" : v"},
    ),
    (
        "obs-fold in trailers is unfolded, as in the head (RFC 9112 5.2)",
        CH + b"0\r\nA: b\r\n c\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "note": "obs-fold"},
    ),
    # -- malformed heads ---------------------------------------------------------------
    (
        "llhttp: incomplete HTTP protocol",
        b"HTP/1.1 200 OK\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "status-line", "offset": 2},
    ),
    (
        "llhttp: extra digit in major version",
        b"HTTP/01.1 200 OK\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "status-line", "offset": 6},
    ),
    (
        "llhttp: extra digit in minor version",
        b"HTTP/1.01 200 OK\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "status-line", "offset": 8},
    ),
    (
        "llhttp: tab after HTTP version",
        b"HTTP/1.1\t200 OK\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "status-line", "offset": 8},
    ),
    (
        "llhttp: invalid HTTP version",
        b"HTTP/5.6 200 OK\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "status-line", "offset": 5},
    ),
    (
        "llhttp: extra space before status code",
        b"HTTP/1.1  200 OK\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "status-line", "offset": 9},
    ),
    (
        "llhttp: one-digit status code",
        b"HTTP/1.1 2 OK\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "status-line", "offset": 10},
    ),
    (
        "llhttp: headers separated by CR",
        b"HTTP/1.1 200 OK\r\nFoo: 1\rBar: 2\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "headers", "offset": 24},  # the byte after the CR
    ),
    (
        "llhttp: space after start line",
        b"HTTP/1.1 200 OK\r\n Host: foo\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "headers", "offset": 17},
    ),
    (
        "llhttp: only LFs (lenient mode accepts)",
        b"HTTP/1.1 200 OK\nContent-Length: 0\n\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "status-line", "offset": 15},
    ),
    (
        "space before colon in a header (RFC 9112 5.1)",
        b"HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "headers", "offset": 31},
    ),
    (
        "HTTP/0.9-style body without head",
        b"<html>hello</html>",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "status-line", "offset": 0},
    ),
    # -- truncation ------------------------------------------------------------------------
    (
        "h11: EOF inside chunked body at a boundary",
        CH + b"5\r\n01234\r\n",
        "fin",
        "GET",
        {"verdict": "truncated", "state": "chunk-boundary", "missing": b"0\r\n\r\n"},
    ),
    (
        "h11: EOF inside chunk data",
        CH + b"5\r\n012",
        "fin",
        "GET",
        {"verdict": "truncated", "state": "chunk-data"},
    ),
    (
        "EOF after the last-chunk line",
        CH + b"0\r\n",
        "fin",
        "GET",
        {"verdict": "truncated", "state": "trailers", "missing": b"\r\n"},
    ),
    (
        "EOF inside a trailer",
        CH + b"0\r\nX-A: 1",
        "fin",
        "GET",
        {"verdict": "truncated", "state": "trailers", "missing": None},
    ),
    (
        "h11: EOF inside Content-Length body",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234",
        "fin",
        "GET",
        {"verdict": "truncated", "state": "body"},
    ),
    (
        "EOF inside headers",
        b"HTTP/1.1 200 OK\r\nContent-Ty",
        "fin",
        "GET",
        {"verdict": "truncated", "state": "headers"},
    ),
    ("no bytes at all", b"", "fin", "GET", {"verdict": "no-response"}),
]


# One vector per case of the other suites, named "suite file: case". Where the
# source parser and RFC 9112/9110 disagree, the RFC decides and the comment
# says what the source does.
OK = b"HTTP/1.1 200 OK\r\n"
SUITE_VECTORS: list[tuple[str, bytes, str, str, dict[str, Any]]] = [
    # -- llhttp test/response/connection.md -----------------------------------------
    (
        "llhttp connection.md: HTTP/1.0 with keep-alive and EOF-terminated 200 status",
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\nHTTP/1.0 200 OK",
        "fin",
        "GET",
        {"verdict": "complete", "framing": "close-delimited", "body": 15},
    ),
    (
        "llhttp connection.md: HTTP/1.0 keep-alive EOF-terminated, cut by RST (RFC 9112 6.3 item 8)",
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\nHTTP/1.0 200 OK",
        "reset",
        "GET",
        {"verdict": "truncated", "state": "body"},
    ),
    (
        "llhttp connection.md: HTTP/1.0 with keep-alive and 204 status",
        b"HTTP/1.0 204 No content\r\nConnection: keep-alive\r\n\r\nHTTP/1.0 200 OK",
        "fin",
        "GET",
        {"verdict": "complete", "framing": "no-body", "extra": 15},
    ),
    (
        "llhttp connection.md: HTTP/1.1 with 204 status",
        b"HTTP/1.1 204 No content\r\n\r\nHTTP/1.1 200 OK",
        "fin",
        "GET",
        {"verdict": "complete", "framing": "no-body", "extra": 15},
    ),
    (
        # llhttp: error "Data after `Connection: close`"; the bytes are not the response's
        "llhttp connection.md: HTTP/1.1 with keep-alive disabled, content-length",
        b"HTTP/1.1 200 No content\r\nContent-Length: 5\r\nConnection: close\r\n\r\n"
        b"2ad731e3-4dcd-4f70-b871-0ad284b29ffc",
        "fin",
        "GET",
        {"verdict": "complete", "body": 5, "extra": 31, "note": "bytes after the end"},
    ),
    (
        "llhttp connection.md: HTTP 101 response with Upgrade and Content-Length header",
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: h2c\r\n"
        b"Content-Length: 4\r\n\r\nbodyproto",
        "fin",
        "GET",
        {"verdict": "complete", "framing": "no-body", "extra": 9, "note": "leaves HTTP/1.1"},
    ),
    (
        "llhttp connection.md: HTTP 101 response with Upgrade and Transfer-Encoding header",
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: h2c\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n2\r\nbo\r\n2\r\ndy\r\n0\r\n\r\nproto",
        "fin",
        "GET",
        {"verdict": "complete", "framing": "no-body", "extra": 24},
    ),
    (
        "llhttp connection.md: HTTP 200 response with Upgrade header",
        b"HTTP/1.1 200 OK\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\nbody",
        "fin",
        "GET",
        {"verdict": "complete", "framing": "close-delimited", "body": 4},
    ),
    (
        "llhttp connection.md: HTTP 200 response with Upgrade header and Transfer-Encoding",
        b"HTTP/1.1 200 OK\r\nConnection: upgrade\r\nUpgrade: h2c\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n2\r\nbo\r\n2\r\ndy\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "framing": "chunked", "chunks": [2, 2]},
    ),
    (
        "llhttp connection.md: HTTP 304 with Content-Length",
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        "fin",
        "GET",
        {"verdict": "complete", "framing": "no-body", "extra": 43},
    ),
    (
        "llhttp connection.md: HTTP 304 with Transfer-Encoding",
        b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "framing": "no-body"},
    ),
    (
        # llhttp skips the CRLF between the 100 and the 404; RFC 9112 2.2 lets only a
        # server skip empty lines (before a request-line), h11 rejects them
        "llhttp connection.md: HTTP 100 first, then 400 (CRLF between)",
        b"HTTP/1.1 100 Continue\r\n\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 14\r\n\r\n"
        b"404: Not Found",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "status-line", "offset": 25, "tolerated": "llhttp"},
    ),
    (
        "llhttp connection.md: HTTP 100 first, then 404 (no CRLF between)",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 14\r\n\r\n"
        b"404: Not Found",
        "fin",
        "GET",
        {"verdict": "complete", "body": 14},
    ),
    (
        "llhttp connection.md: HTTP 103 first, then 200 (body one byte longer here)",
        b"HTTP/1.1 103 Early Hints\r\nLink: </styles.css>; rel=preload; as=style\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n"
        b"Content-Length: 17\r\n\r\nresponse content\n",
        "fin",
        "GET",
        {"verdict": "complete", "body": 17},
    ),
    # -- llhttp test/response/content-length.md, test/request/content-length.md -------
    (
        "llhttp content-length.md: response without Content-Length, but with body",
        OK + b"Content-Type: text/xml; charset=utf-8\r\nConnection: close\r\n\r\n<?xml?>\n",
        "tls-close-notify",
        "GET",
        {"verdict": "complete", "framing": "close-delimited", "body": 8},
    ),
    (
        "llhttp request/content-length.md: Content-Length with zeroes",
        OK + b"Content-Length: 003\r\n\r\nabc",
        "fin",
        "GET",
        {"verdict": "complete", "body": 3},
    ),
    (
        "llhttp request/content-length.md: funky Content-Length name case",
        OK + b"conTENT-Length: 5\r\n\r\nHELLO",
        "fin",
        "GET",
        {"verdict": "complete", "body": 5},
    ),
    (
        # llhttp: "Content-Length overflow" (uint64); RFC 9110 8.6 only asks a recipient
        # not to overflow, and the value is kept whole
        "llhttp request/content-length.md: Content-Length overflow",
        OK + b"Content-Length: 1000000000000000000000\r\n\r\nab",
        "fin",
        "GET",
        {"verdict": "truncated", "state": "body", "body": 2},
    ),
    (
        "llhttp request/content-length.md: duplicate Content-Length",
        OK + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        "fin",
        "GET",
        # at the conflicting value, the 2
        {"verdict": "malformed", "state": "headers", "offset": 52},
    ),
    (
        "llhttp request/content-length.md: spaces in Content-Length #2",
        OK + b"Content-Length: 4 2\r\n\r\n",
        "fin",
        "GET",
        # at the space that splits the number
        {"verdict": "malformed", "state": "headers", "offset": 34},
    ),
    (
        "llhttp request/content-length.md: spaces in Content-Length #3",
        OK + b"Content-Length: 13 37\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "headers"},
    ),
    (
        "llhttp request/content-length.md: empty Content-Length",
        OK + b"Content-Length:\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "headers"},
    ),
    (
        "llhttp request/content-length.md: spaces in Content-Length (surrounding)",
        OK + b"Content-Length:  2 \r\n\r\nok",
        "fin",
        "GET",
        {"verdict": "complete", "body": 2},
    ),
    (
        "llhttp request/content-length.md: Content-Length with CR instead of dash",
        OK + b"Content\rLength: 003\r\n\r\nabc",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "headers", "head_at": b"Length"},
    ),
    (
        "llhttp request/content-length.md: missing CRLF-CRLF before body",
        OK + b"Content-Length: 3\r\n\rabc",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "headers", "head_at": b"abc"},
    ),
    (
        "llhttp request/content-length.md: invalid whitespace token with Content-Length",
        OK + b"Connection: upgrade\r\nContent-Length : 4\r\nUpgrade: ws\r\n\r\nabcdefgh",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "headers", "head_at": b" : 4"},
    ),
    (
        # llhttp rejects TE with CL in a request; in a response TE overrides CL
        # (RFC 9112 6.3 item 3) and a TE without chunked last reads to the close (item 4)
        "llhttp request/content-length.md: Content-Length and Transfer-Encoding: identity",
        OK + b"Content-Length: 1\r\nTransfer-Encoding: identity\r\n\r\nWorld",
        "fin",
        "GET",
        {
            "verdict": "complete",
            "framing": "close-delimited",
            "body": 5,
            "note": "Transfer-Encoding wins",
        },
    ),
    # -- llhttp test/response/invalid.md ----------------------------------------------
    (
        "llhttp invalid.md: extra digit in HTTP major version #2",
        b"HTTP/11.1 200 OK\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "status-line", "offset": 6},
    ),
    (
        "llhttp invalid.md: CR before response and tab after HTTP version",
        b"\rHTTP/1.1\t200 OK\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "status-line", "offset": 0, "tolerated": "llhttp"},
    ),
    (
        "llhttp invalid.md: bare CR after response line",
        b"HTTP/1.1 200 OK\rContent-Length: 0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "status-line", "offset": 16},
    ),
    (
        "llhttp invalid.md: bare CR followed by CR after response line",
        b"HTTP/1.1 200 OK\r\rContent-Length: 4\r\n\r\nEvil",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "status-line", "offset": 16},
    ),
    (
        "llhttp invalid.md: only LFs present",
        b"HTTP/1.1 200 OK\nFoo: abc\nBar: def\n\nBODY\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "status-line", "offset": 15, "tolerated": "h11"},
    ),
    # -- llhttp test/response/sample.md -------------------------------------------------
    (
        "llhttp sample.md: simple response",
        OK + b"Header1: Value1\r\nHeader2:\t Value2\r\nContent-Length: 0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "header": ["Header2", "Value2"]},
    ),
    (
        "llhttp sample.md: no headers and no body",
        b"HTTP/1.1 404 Not Found\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "framing": "close-delimited", "body": 0},
    ),
    (
        "llhttp sample.md: empty reason phrase after space",
        b"HTTP/1.1 200 \r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete"},
    ),
    (
        "llhttp sample.md: underscore in header key",
        OK
        + b"Content-Length: 0\r\nDCLK_imp: v7;x;114750856;0-0;0;17820020;;~okv=;dcmt=text/xml\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete"},
    ),
    (
        "llhttp sample.md: non ASCII in status line",
        "HTTP/1.1 500 Oriëntatieprobleem\r\nContent-Length: 0\r\n\r\n".encode(),
        "fin",
        "GET",
        {"verdict": "complete"},
    ),
    (
        "llhttp sample.md: bonjourmadame.fr (HTTP/1.0 keep-alive, empty field value)",
        b"HTTP/1.0 301 Moved Permanently\r\nCache-Control: public\r\nPragma: \r\n"
        b"Location: http://www.bonjourmadame.fr/\r\nContent-Length: 0\r\n"
        b"Connection: keep-alive\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "framing": "content-length", "header": ["Pragma", ""]},
    ),
    (
        "llhttp sample.md: amazon.com (a chunk holding one LF)",
        b"HTTP/1.1 301 MovedPermanently\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n\n\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "chunks": [1]},
    ),
    (
        "llhttp sample.md: spaces in header value (odd names, chunked)",
        OK + b".et-Cookie: PlaxoCS=1; path=/\r\n_eep-Alive: timeout=45\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "framing": "chunked"},
    ),
    (
        "llhttp sample.md: spaces in header name",
        OK + b"X-Powered-By: ASP.NET\r\nen-US Content-Type: text/xml\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "headers", "head_at": b" Content-Type"},
    ),
    (
        # llhttp accepts any single-digit version; chunkscope reads HTTP/1.x only
        "llhttp sample.md: HTTP version 0.9",
        b"HTTP/0.9 200 OK\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "status-line", "offset": 5},
    ),
    (
        "llhttp sample.md: RTSP response",
        b"RTSP/1.1 200 OK\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "status-line", "offset": 0, "tolerated": None},
    ),
    (
        "llhttp sample.md: error on invalid response start",
        b"HTTPER/1.1 200 OK\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "status-line", "offset": 4},
    ),
    (
        "llhttp sample.md: response starting with CRLF",
        b"\r\n" + OK + b"Content-Length: 0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "status-line", "offset": 0, "tolerated": "llhttp"},
    ),
    (
        "llhttp sample.md: response starting with a bare LF",
        b"\n" + OK + b"Content-Length: 0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "status-line", "offset": 0, "tolerated": "llhttp"},
    ),
    # -- llhttp test/response/transfer-encoding.md ---------------------------------------
    (
        # obs-fold is unfolded (RFC 9112 5.2): "chunked abc" is not chunked
        "llhttp transfer-encoding.md: invalid OBS fold after chunked value",
        OK + b"Transfer-Encoding: chunked\r\n  abc\r\n\r\n5\r\nWorld\r\n0\r\n\r\n",
        "fin",
        "GET",
        {
            "verdict": "complete",
            "framing": "close-delimited",
            "body": 15,
            "note": "obs-fold",
            "header": ["Transfer-Encoding", "chunked abc"],
        },
    ),
    # -- llhttp test/request/transfer-encoding.md (chunked bodies) -----------------------
    (
        "llhttp request/transfer-encoding.md: two chunks and triple zero prefixed end chunk",
        CH + b"5\r\nhello\r\n6\r\n world\r\n000\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "chunks": [5, 6]},
    ),
    (
        "llhttp request/transfer-encoding.md: trailing headers",
        CH + b"5\r\nhello\r\n6\r\n world\r\n0\r\nVary: *\r\nContent-Type: text/plain\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "body": 11},
    ),
    (
        "llhttp request/transfer-encoding.md: chunk extensions quoting (quoted-pairs)",
        CH
        + b'5;ilovew3="I \\"love\\"; \\\\extensions\\\\";somuchlove="aretheseparametersfor";'
        + b"blah;foo=bar\r\nhello\r\n6;blahblah;blah\r\n world\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "body": 11},
    ),
    (
        "llhttp request/transfer-encoding.md: ignoring pigeons",
        OK + b"Transfer-Encoding: pigeons\r\n\r\n2\r\nOK\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "framing": "close-delimited", "note": "without chunked last"},
    ),
    (
        "llhttp request/transfer-encoding.md: chunked and duplicate transfer-encoding",
        OK + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: deflate\r\n\r\nWorld",
        "fin",
        "GET",
        {"verdict": "complete", "framing": "close-delimited", "body": 5},
    ),
    (
        "llhttp request/transfer-encoding.md: chunked as last transfer-encoding (multiple headers)",
        OK
        + b"Transfer-Encoding: deflate\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nWorld\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "framing": "chunked", "body": 5},
    ),
    (
        "llhttp request/transfer-encoding.md: missing last-chunk",
        CH + b"3\r\nfoo\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-size", "offset": len(CH) + 8},
    ),
    (
        "llhttp request/transfer-encoding.md: validate chunk parameters",
        CH + b"3 \n  \r\nfoo\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-size", "at": b" \n"},
    ),
    (
        "llhttp request/transfer-encoding.md: chunk header not terminated by CRLF",
        CH + b"5\r\r;ABCD\r\n34\r\nE\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-size", "at": b"\r;ABCD", "tolerated": None},
    ),
    (
        "llhttp request/transfer-encoding.md: chunk data not terminated by CRLF",
        CH + b"5\r\nABCDE0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-data-end", "at": b"0\r\n"},
    ),
    (
        "llhttp request/transfer-encoding.md: space after chunk header",
        CH + b"a \r\n0123456789\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-size", "at": b" \r\n", "tolerated": "h11"},
    ),
    (
        # RFC 9112 7.1.1 allows BWS here; llhttp (src/llhttp/http.ts chunk_extensions),
        # h11 and Go reject it
        "llhttp http.ts chunk_extensions: BWS after ';' and around '='",
        CH + b"5; a = b\r\nhello\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "body": 5},
    ),
    (
        "llhttp http.ts chunk_extension_value: whitespace after an extension value",
        CH + b"5;a=b \r\nhello\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-size", "at": b" \r\nhello", "tolerated": "Go"},
    ),
    # -- h11 h11/tests/test_io.py ----------------------------------------------------------
    (
        "h11 test_readers_unusual: single-character header values",
        b"HTTP/1.0 200 OK\r\nFoo: a a a a a \r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "header": ["Foo", "a a a a a"]},
    ),
    (
        "h11 test_readers_unusual: empty header",
        b"HTTP/1.0 200 OK\r\nFoo:\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "header": ["Foo", ""]},
    ),
    (
        "h11 test_readers_unusual: whitespace-only header value",
        b"HTTP/1.0 200 OK\r\nFoo: \t \t \r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "header": ["Foo", ""]},
    ),
    (
        "h11 test_readers_unusual: tolerate broken servers that leave off the reason",
        b"HTTP/1.0 200\r\nFoo: bar\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "note": "without a reason phrase"},
    ),
    (
        "h11 test_readers_unusual: LF then CRLF between headers and body",
        OK + b"SomeHeader: val\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "headers", "head_at": b"\n\r\n", "tolerated": "h11"},
    ),
    (
        "h11 test_readers_unusual: mixed CRLF and LF",
        OK + b"SomeHeader1: val1\nSomeHeader2: val2\n\r\n",
        "fin",
        "GET",
        {
            "verdict": "malformed",
            "state": "headers",
            "head_at": b"\nSomeHeader2",
            "tolerated": "h11",
        },
    ),
    (
        "h11 test_readers_unusual: obsolete line folding (tabs and runs of spaces)",
        OK + b"Some: multi-line\r\n header\r\n\tnonsense\r\n    \t   \t\tI guess\r\n"
        b"Content-Length: 0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "header": ["Some", "multi-line header nonsense I guess"]},
    ),
    (
        "h11 test_readers_unusual: folded line first",
        OK + b"  folded: line\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "headers", "offset": 17},
    ),
    (
        "h11 test_readers_unusual: tab before colon",
        OK + b"foo\t: line\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "headers", "head_at": b"\t: line"},
    ),
    (
        "h11 test_readers_unusual: empty field name",
        OK + b": line\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "headers", "offset": 17},
    ),
    (
        "h11 test_reject_garbage_after_request_line: NUL after the reason",
        b"HTTP/1.0 200 OK\x00xxxx\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "status-line", "offset": 15},
    ),
    (
        # RFC 9110 5.5: CTLs are invalid; a recipient MAY retain them
        "h11 test_allow_some_garbage_in_cookies (issue 57): \\x01 in a value",
        OK + b"Set-Cookie: ___utmvafIumyLc=kUd\x01UpAt; path=/\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "headers", "head_at": b"\x01", "tolerated": "h11"},
    ),
    (
        "h11 test_ChunkedReader: mixed-case hex size",
        CH + b"aA\r\n" + b"x" * 0xAA + b"\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "chunks": [0xAA]},
    ),
    (
        "h11 test_ChunkedReader: chunk extensions on data and last chunk",
        CH
        + b"5; hello=there\r\nxxxxx\r\n"
        + b'0; random="junk"; some=more; canbe=lonnnnngg\r\n\r\n',
        "fin",
        "GET",
        {"verdict": "complete", "body": 5},
    ),
    (
        "h11 test_ChunkedReader: trailing whitespace on a size line",
        CH + b"5   \t \r\n01234\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-size", "at": b"   \t", "tolerated": "h11"},
    ),
    (
        "h11 test_ChunkedReader: bad chunk termination (xxx__1a)",
        CH + b"3\r\nxxx__1a\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-data-end", "at": b"__1a"},
    ),
    (
        "h11 test_ChunkedReader: bad chunk termination, CR then _",
        CH + b"3\r\nxxx\r_1a\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-data-end", "at": b"_1a"},
    ),
    (
        "h11 test_ChunkedReader: bad chunk termination, _ then LF",
        CH + b"3\r\nxxx_\n1a\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-data-end", "at": b"_\n"},
    ),
    (
        # h11 caps a size at 20 hex digits; RFC 9112 7.1 allows any number of zeros
        "h11 _abnf chunk_size: more than 20 hex digits, all but one zeros",
        CH + b"0" * 30 + b"5\r\nhello\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "chunks": [5]},
    ),
    # -- Go src/net/http/internal/chunked_test.go ---------------------------------------
    (
        "Go TestChunkReadingIgnoresExtensions",
        CH + b'7;ext="some quoted string"\r\nhello, \r\n17;someext\r\n'
        b"world! 0123456789abcdef\r\n0;someextension=sometoken\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "chunks": [7, 0x17]},
    ),
    (
        "Go TestChunk: writer output read back",
        CH + b"7\r\nhello, \r\n17\r\nworld! 0123456789abcdef\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "body": 30},
    ),
    (
        "Go TestChunkReadMultiple: EOF right after the last-chunk line",
        CH + b"3\r\nfoo\r\n0\r\n",
        "fin",
        "GET",
        {"verdict": "truncated", "state": "trailers", "missing": b"\r\n"},
    ),
    (
        "Go TestChunkReadPartial: data followed by xx",
        CH + b"7\r\n1234567xx",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-data-end", "at": b"xx"},
    ),
    (
        "Go TestParseHexUint: x",
        CH + b"x\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-size", "at": b"x\r\n"},
    ),
    (
        "Go TestParseHexUint: 000000000000bogus",
        CH + b"000000000000bogus\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-size", "at": b"ogus"},
    ),
    (
        # Go: "http chunk length too large" (17 digits); leading zeros are 1*HEXDIG
        "Go TestParseHexUint: 00000000000000001 (could accept if we wanted)",
        CH + b"00000000000000001\r\nx\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "chunks": [1]},
    ),
    (
        # chunkscope's max_chunk_size (2**62) is a safe-default limit, not RFC
        "Go TestParseHexUint: ffffffffffffffff",
        CH + b"ffffffffffffffff\r\nabc",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-size", "at": b"ffff"},
    ),
    (
        "Go TestParseHexUint: 10000000000000000 (too large)",
        CH + b"10000000000000000\r\nabc",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-size", "at": b"1000"},
    ),
    (
        # Go (since CVE-2025-22871) and h11 reject it; curl does not
        "Go readChunkLine: chunked line ends with bare LF",
        CH + b"3\nfoo\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-size", "at": b"\nfoo", "tolerated": "curl"},
    ),
    (
        # beginChunk: trimTrailingWhitespace before parseHexUint, so Go accepts it
        "Go beginChunk: trailing whitespace on a size line",
        CH + b"5 \t\r\nhello\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-size", "at": b" \t", "tolerated": "Go"},
    ),
    (
        "Go readChunkLine: invalid CR in chunked line",
        CH + b"3\r;x\r\nfoo\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-size", "at": b";x"},
    ),
    (
        "Go removeChunkExtension: an invalid extension after ';'",
        CH + b"3;=\r\nfoo\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-size", "at": b"=\r\n", "tolerated": "Go"},
    ),
    # -- picohttpparser test.c ------------------------------------------------------------
    (
        "picohttpparser test_response: invalid http version",
        b"HTTP/1. 200 OK\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "status-line", "offset": 7},
    ),
    (
        "picohttpparser test_response: invalid http version 2",
        b"HTTP/1.2z 200 OK\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "status-line", "offset": 8},
    ),
    (
        "picohttpparser test_response: no status code",
        b"HTTP/1.1  OK\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "status-line", "offset": 9},
    ),
    (
        "picohttpparser test_response: garbage after status 1",
        b"HTTP/1.1 200X\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "status-line", "offset": 12},
    ),
    (
        "picohttpparser test_response: garbage after status 3",
        b"HTTP/1.1 200X OK\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "status-line", "offset": 12},
    ),
    (
        "picohttpparser test_response: accept multiple spaces between tokens",
        b"HTTP/1.1   200   OK\r\n\r\n",
        "fin",
        "GET",
        {
            "verdict": "malformed",
            "state": "status-line",
            "offset": 9,
            "tolerated": "picohttpparser",
        },
    ),
    (
        "picohttpparser test_response: exclude leading and trailing spaces in header value",
        OK + b"bar: \t b\t \t\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "header": ["bar", "b"]},
    ),
    (
        "picohttpparser test_response: parse multiline",
        b"HTTP/1.0 200 OK\r\nfoo: \r\nfoo: b\r\n  \tc\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "header": ["foo", "b c"], "note": "obs-fold"},
    ),
    (
        "picohttpparser test_response: internal server error",
        b"HTTP/1.0 500 Internal Server Error\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "framing": "close-delimited"},
    ),
    (
        "picohttpparser test_chunked: BWS before ';' (6 ; comment)",
        CH + b"6 ; comment\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "body": 11},
    ),
    (
        "picohttpparser test_chunked: trailers",
        CH + b"6\r\nhello \r\n5\r\nworld\r\n0\r\na: b\r\nc: d\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "body": 11},
    ),
    (
        "picohttpparser test_chunked_failure: z",
        CH + b"z\r\nabcdefg",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-size", "at": b"z\r\n"},
    ),
    (
        "picohttpparser test_chunked_failure: 1x",
        CH + b"1x\r\na\r\n0\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-size", "at": b"x\r\n"},
    ),
    (
        "picohttpparser test_chunked_failure: 17 hex digits",
        CH + b"6\r\nhello \r\nfffffffffffffffff\r\nabcdefg",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-size", "at": b"fffff"},
    ),
    (
        "picohttpparser test_chunked_failure: bare LF in a size line",
        CH + b"6\nhello \r\n5\r\nworld\r\n0\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-size", "at": b"\nhello"},
    ),
    (
        "picohttpparser test_chunked_failure: bare LF after chunk data",
        CH + b"6\r\nhello \n5\r\nworld\r\n0\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-data-end", "at": b"\n5", "tolerated": "curl"},
    ),
    (
        "picohttpparser test_chunked_failure: bare LF after the last chunk's data",
        CH + b"6\r\nhello \r\n5\r\nworld\n0\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-data-end", "at": b"\n0"},
    ),
    (
        "picohttpparser test_chunked_failure: bare LF after the last-chunk",
        CH + b"6\r\nhello \r\n5\r\nworld\r\n0\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-size", "at_last": b"\n"},
    ),
    (
        "picohttpparser test_chunked_failure: CR X LF",
        CH + b"6\rX\nhello \n5\r\nworld\r\n0\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-size", "at": b"X\n"},
    ),
    (
        # picohttpparser: "bare lf is allowed in trailers"
        "picohttpparser test_chunked_consume_trailer: bare LF final line",
        CH + b"b\r\nhello world\r\n0\r\n\n",
        "fin",
        "GET",
        {
            "verdict": "malformed",
            "state": "trailers",
            "at_last": b"\n",
            "tolerated": "picohttpparser",
        },
    ),
    (
        "picohttpparser test_chunked_consume_trailer: bare LF trailer lines",
        CH + b"6\r\nhello \r\n5\r\nworld\r\n0\r\na: b\nc: d\n\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "trailers", "at": b"\nc:", "tolerated": "picohttpparser"},
    ),
    (
        "picohttpparser test_chunked_consume_trailer: EOF before the final CRLF",
        CH + b"b\r\nhello world\r\n0\r\n",
        "fin",
        "GET",
        {"verdict": "truncated", "state": "trailers", "missing": b"\r\n"},
    ),
    (
        "picohttpparser test_chunked_leftdata: the next message after the body",
        CH + b"5\r\nabcde\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "body": 5, "extra": 19},
    ),
    # -- aiohttp tests/test_http_parser.py -------------------------------------------------
    (
        "aiohttp test_http_response_parser_obs_line_folding",
        b"HTTP/1.1 200 Ok\r\ntest: line\r\n continue\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "header": ["test", "line continue"], "note": "obs-fold"},
    ),
    (
        "aiohttp test_http_response_parser_utf8",
        "HTTP/1.1 200 Ok\r\nx-test:тест\r\n\r\n".encode(),
        "fin",
        "GET",
        {"verdict": "complete"},
    ),
    (
        "aiohttp test_http_response_parser_bad_version",
        b"HT/11 200 Ok\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "status-line", "offset": 2},
    ),
    (
        "aiohttp test_http_response_parser_bad_version_number",
        b"HTTP/12.3 200 Ok\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "status-line", "offset": 6},
    ),
    (
        "aiohttp test_http_response_parser_lenient_headers",
        b"HTTP/1.1 200 test\r\nFoo: abc\x01def\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "headers", "head_at": b"\x01", "tolerated": "aiohttp"},
    ),
    (
        "aiohttp test_http_response_parser_null_byte_in_header_value",
        OK + b"Foo: abc\x00def\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "headers", "head_at": b"\x00", "tolerated": None},
    ),
    (
        "aiohttp test_http_response_parser_bad_crlf",
        b"HTTP/1.0 200 OK\nFoo: abc\nBar: def\n\nBODY\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "status-line", "offset": 15, "tolerated": "h11"},
    ),
    (
        "aiohttp test_http_response_parser_bad_chunked_lax",
        CH + b"5 \r\nabcde\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-size", "at": b" \r\n"},
    ),
    (
        "aiohttp _BAD_CHUNKED_RESPONSES: 0 CR X",
        CH + b"0\rX\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-size", "at": b"X\r\n"},
    ),
    (
        "aiohttp _BAD_CHUNKED_RESPONSES: hello CR X",
        CH + b"5\r\nhello\rX\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-data-end", "at": b"X\r\n"},
    ),
    (
        "aiohttp _BAD_CHUNKED_RESPONSES: helloXY",
        CH + b"5\r\nhelloXY\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-data-end", "at": b"XY"},
    ),
    (
        "aiohttp _BAD_CHUNKED_RESPONSES: A CR B",
        CH + b"1\r\nA\rB\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-data-end", "at": b"B\r\n"},
    ),
    (
        "aiohttp _BAD_CHUNKED_RESPONSES: 0_2e",
        CH + b"0_2e\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-size", "at": b"_2e"},
    ),
    (
        "aiohttp _BAD_CHUNKED_RESPONSES_AT_END: 0_",
        CH + b"0_",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-size", "at": b"_"},
    ),
    (
        "aiohttp test_http_response_parser_notchunked",
        OK + b"Transfer-Encoding: notchunked\r\n\r\n1\r\nT\r\n3\r\nest\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "framing": "close-delimited", "body": 19},
    ),
    (
        # RFC 9110 5.6.1: empty list elements are ignored, so no coding is listed and
        # the body ends at the close (RFC 9112 6.3 item 4)
        "aiohttp test_http_response_parser_empty_list_te_not_chunked",
        OK + b"Transfer-Encoding: ,  \t ,\r\n\r\nbody",
        "fin",
        "GET",
        {
            "verdict": "complete",
            "framing": "close-delimited",
            "body": 4,
            "note": "no transfer coding",
        },
    ),
    (
        "aiohttp test_http_response_parser_last_chunked",
        OK + b"Transfer-Encoding: not, chunked\r\n\r\n1\r\nT\r\n3\r\nest\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "framing": "chunked", "body": 4},
    ),
    (
        "aiohttp test_http_response_parser_bad",
        b"HTT/1\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "status-line", "offset": 3},
    ),
    (
        "aiohttp test_http_response_parser_code_under_100",
        b"HTTP/1.1 99 test\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "status-line", "offset": 11},
    ),
    (
        "aiohttp test_http_response_parser_code_above_999",
        b"HTTP/1.1 9999 test\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "status-line", "offset": 12},
    ),
    (
        "aiohttp test_http_response_parser_code_not_int",
        b"HTTP/1.1 ttt test\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "status-line", "offset": 9},
    ),
    (
        "aiohttp test_http_response_parser_code_not_ascii",
        "HTTP/1.1 20٠ test\r\n\r\n".encode(),
        "fin",
        "GET",
        {"verdict": "malformed", "state": "status-line", "offset": 11},
    ),
    (
        "aiohttp test_parse_chunked_payload_with_lf_in_extensions",
        CH + b"2;\nxx\r\n4c\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "chunk-size", "at": b"\nxx"},
    ),
    (
        "aiohttp test_parse_length_payload: Content-Length body cut",
        OK + b"content-length: 4\r\n\r\nda",
        "fin",
        "GET",
        {"verdict": "truncated", "state": "body", "body": 2},
    ),
    # -- RFC 9110 15 / 9112 6 cases the suites leave implicit ------------------------------
    (
        # 3DIGIT by the grammar, invalid by RFC 9110 15: processed as a 5xx, with a note
        "RFC 9110 15: status code 099 (h11, llhttp and Go accept any three digits)",
        b"HTTP/1.1 099 Odd\r\nContent-Length: 2\r\n\r\nok",
        "fin",
        "GET",
        {"verdict": "complete", "body": 2, "note": "outside 100-599"},
    ),
    (
        "RFC 9110 15: status code 600",
        b"HTTP/1.1 600 Library error\r\n\r\nno",
        "fin",
        "GET",
        {"verdict": "complete", "framing": "close-delimited", "note": "outside 100-599"},
    ),
    (
        "RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 response",
        b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "complete", "framing": "chunked", "note": "framing is faulty"},
    ),
    (
        "RFC 9112 6.3 item 1: HEAD response with Transfer-Encoding",
        CH,
        "fin",
        "HEAD",
        {"verdict": "complete", "framing": "no-body"},
    ),
    (
        "RFC 9112 6.3 item 2: 2xx answer to CONNECT",
        b"HTTP/1.1 200 Connection established\r\nContent-Length: 10\r\n\r\n\x16\x03\x01",
        "fin",
        "CONNECT",
        {"verdict": "complete", "framing": "no-body", "extra": 3},
    ),
    (
        "RFC 9110 8.6: a Content-Length list of different values",
        OK + b"Content-Length: 2, 3\r\n\r\nabc",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "headers"},
    ),
    (
        "RFC 9112 5.2: whitespace before any trailer field has nothing to continue",
        CH + b"0\r\n c: d\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "trailers", "at": b" c: d"},
    ),
    (
        "RFC 9110 5.5: CTL in a trailer value",
        CH + b"0\r\nA: b\x01c\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "trailers", "at": b"\x01", "tolerated": "h11"},
    ),
]

ALL_VECTORS = VECTORS + SUITE_VECTORS
# Appended in the "trailing" run: bytes after a complete or malformed response
# change nothing but extra_bytes.
TRAILING = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


def run(data: bytes, close: str, method: str, *, bytewise: bool) -> Any:
    analyzer = Analyzer(request_method=method)
    pieces = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
    for piece in pieces:
        analyzer.feed(piece, 0.0)
    return analyzer.close(close, 1.0)


def _trailing_applies(data: bytes, close: str, method: str, expected: dict[str, Any]) -> bool:
    """Whether the response's end is known before the close, so bytes can follow it."""
    if expected["verdict"] not in ("complete", "malformed"):
        return False  # trailing bytes would continue a truncated response
    alone = run(data, close, method, bytewise=False)
    return alone.framing is None or alone.framing.value != "close-delimited"  # else: body


CASES = [
    pytest.param(*vector, way, id=f"{vector[0]}-{way}")
    for vector in ALL_VECTORS
    for way in ("whole", "bytewise", "trailing")
    if way != "trailing" or _trailing_applies(*vector[1:])
]


@pytest.mark.parametrize(("name", "data", "close", "method", "expected", "way"), CASES)
def test_vector(
    name: str, data: bytes, close: str, method: str, expected: dict[str, Any], way: str
) -> None:
    extra = expected.get("extra")
    original = data
    if way == "trailing":
        alone = run(data, close, method, bytewise=False)
        data += TRAILING
        if expected["verdict"] == "complete":
            extra = alone.extra_bytes + len(TRAILING)
    report = run(data, close, method, bytewise=way == "bytewise")
    assert report.verdict.value == expected["verdict"], report.problem
    if extra is not None:
        assert report.extra_bytes == extra
    if "tolerated" in expected:
        assert report.problem is not None
        want = expected["tolerated"]
        if want is None:
            assert report.problem.tolerated_by is None
        else:
            assert want in (report.problem.tolerated_by or ""), report.problem.tolerated_by
    if "note" in expected:
        assert any(expected["note"] in n.message for n in report.notes), report.notes
    if "header" in expected:
        assert report.head is not None
        assert expected["header"] in report.head["headers"]
    if "at_last" in expected:
        assert report.problem is not None
        assert report.problem.offset == original.rindex(expected["at_last"]), report.problem.message
    if "head_at" in expected:
        assert report.problem is not None
        assert report.problem.offset == data.index(expected["head_at"]), report.problem.message
    if "framing" in expected:
        assert report.framing is not None
        assert report.framing.value == expected["framing"]
    if "body" in expected:
        assert report.body_bytes == expected["body"]
    if "chunks" in expected:
        assert [c.size for c in report.chunks] == expected["chunks"]
    p = report.problem
    if "state" in expected:
        assert p is not None
        assert p.state.value == expected["state"]
    if expected["verdict"] == "truncated":
        assert p is not None
        assert p.offset == len(data)
    if "missing" in expected:
        assert p is not None
        assert p.missing == expected["missing"]
    if "offset" in expected:
        assert p is not None
        assert p.offset == expected["offset"]
    if "at" in expected:
        assert p is not None
        head_end = data.index(b"\r\n\r\n") + 4
        assert p.offset == data.index(expected["at"], head_end), p.message
