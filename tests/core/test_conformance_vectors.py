"""Response-parsing vectors adapted from other HTTP parsers' test suites.

Sources: llhttp test/response/*.md and test/request/transfer-encoding.md,
h11's test_io.py (ChunkedReader, content-length, close-delimited), nodejs
http-parser test.c responses, picohttpparser's chunked decoder tests. Each
vector is a whole response as a client receives it; the expectation follows
RFC 9112 strictly (chunkscope's policy). Where the source parser is more
lenient the comment says so, since chunkscope reports that as
``tolerated_by`` rather than accepting it.

``at`` names where a malformation is reported: the first occurrence of that
byte string after the head, whose first byte is the offending one.
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
        "RFC 9112 7.1.1: BWS around ; and = (h11 rejects BWS before ;)",
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
        {"verdict": "malformed", "state": "headers", "offset": 17},
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
        "obs-fold in trailers",
        CH + b"0\r\nA: b\r\n c\r\n\r\n",
        "fin",
        "GET",
        {"verdict": "malformed", "state": "trailers", "at": b" c\r\n"},
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


def run(data: bytes, close: str, method: str, *, bytewise: bool) -> Any:
    analyzer = Analyzer(request_method=method)
    pieces = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
    for piece in pieces:
        analyzer.feed(piece, 0.0)
    return analyzer.close(close, 1.0)


@pytest.mark.parametrize(
    ("name", "data", "close", "method", "expected"), VECTORS, ids=[v[0] for v in VECTORS]
)
@pytest.mark.parametrize("bytewise", [False, True], ids=["whole", "bytewise"])
def test_vector(
    name: str, data: bytes, close: str, method: str, expected: dict[str, Any], bytewise: bool
) -> None:
    report = run(data, close, method, bytewise=bytewise)
    assert report.verdict.value == expected["verdict"], report.problem
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
