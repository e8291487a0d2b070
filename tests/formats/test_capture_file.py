"""Capture file format v1: byte-exact round trips, cut-off files, strict rejection."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chunkscope import CaptureFileError, CaptureWriter, CloseKind, load_capture
from chunkscope.formats.capture import (
    ESCAPE_PIECE,
    RELEASE_WINDOW,
    Ended,
    HeadMasker,
    Received,
    iter_capture,
    redact_request,
)

HEADER = '{"format":"chunkscope-capture","version":1,"created":"x","tool":"t"}\n'


def write_capture(path: Path, reads: list[bytes], close: str | None = "fin") -> None:
    with CaptureWriter(path, meta={"target": "http://127.0.0.1/"}, redact=False) as w:
        w.sent(0.0, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        for i, data in enumerate(reads):
            w.received(0.01 * (i + 1), data)
        if close:
            w.ended(close, 1.0, "detail")


@settings(max_examples=60)
@given(st.lists(st.binary(min_size=1, max_size=300), max_size=6))
def test_round_trip_is_byte_exact(
    tmp_path_factory: pytest.TempPathFactory, reads: list[bytes]
) -> None:
    path = tmp_path_factory.mktemp("rt") / "x.capture"
    write_capture(path, reads)
    capture = load_capture(path)
    assert [r.data for r in capture.reads] == reads
    assert capture.end == Ended(1.0, CloseKind.FIN, "detail")
    assert capture.cut_off is False
    assert capture.meta["target"] == "http://127.0.0.1/"


def test_every_byte_value_survives(tmp_path: Path) -> None:
    everything = bytes(range(256))
    write_capture(tmp_path / "x.capture", [everything])
    text = (tmp_path / "x.capture").read_text("ascii")  # the file stays 7-bit clean
    assert "\\u00ff" in text
    assert load_capture(tmp_path / "x.capture").server_bytes == everything


def test_cut_off_anywhere_still_loads_a_prefix(tmp_path: Path) -> None:
    reads = [b"HTTP/1.1 200 OK\r\n", b"Transfer-Encoding: chunked\r\n\r\n", b"5\r\nhello\r\n"]
    whole = tmp_path / "whole.capture"
    write_capture(whole, reads)
    data = whole.read_bytes()
    first_line_end = data.index(b"\n") + 1
    cut = tmp_path / "cut.capture"
    for n in range(first_line_end, len(data)):
        cut.write_bytes(data[:n])
        capture = load_capture(cut)
        got = [r.data for r in capture.reads]
        assert got == reads[: len(got)]
        if n < len(data):
            assert capture.cut_off or capture.end is not None


def test_writer_flushes_every_record(tmp_path: Path) -> None:
    path = tmp_path / "live.capture"
    w = CaptureWriter(path)
    w.received(0.5, b"HTTP/1.1 200 OK\r\n")
    records = list(iter_capture(path))  # another reader, while the writer is open
    assert Received(0.5, b"HTTP/1.1 200 OK\r\n") in records
    w.close()


def test_a_capture_longer_than_the_release_window_is_byte_exact(tmp_path: Path) -> None:
    # Past RELEASE_WINDOW the writer hands written pages back to the kernel;
    # what is read back must not notice.
    reads = [
        bytes([i % 256]) * 65536 + bytes(range(256)) for i in range(3 * RELEASE_WINDOW // 65536)
    ]
    write_capture(tmp_path / "big.capture", reads)
    assert [r.data for r in load_capture(tmp_path / "big.capture").reads] == reads


def test_a_read_escaped_in_pieces_is_the_line_json_dumps_writes(tmp_path: Path) -> None:
    # Reads longer than ESCAPE_PIECE are escaped piece by piece; a CRLF, a
    # quote or a non-ASCII byte cut by a piece boundary must not notice.
    edge = b'\r\n"\\\x00\xff\t'
    filler = b"data: plain text\n"
    piece = (filler * (ESCAPE_PIECE // len(filler) + 1))[
        : ESCAPE_PIECE - 1
    ]  # the first CRLF straddles a boundary
    data = (piece + edge) * 3 + b"tail\r\n"
    path = tmp_path / "pieces.capture"
    with CaptureWriter(path, redact=False) as w:
        w.received(0.25, data)
    line = path.read_bytes().splitlines()[-1]
    expected = json.dumps(
        {"r": "recv", "t": 0.25, "data": data.decode("latin-1")}, separators=(",", ":")
    )
    assert line == expected.encode("ascii")
    assert load_capture(path).server_bytes == data


def test_a_read_of_more_pieces_than_one_writev_takes_is_written_whole(tmp_path: Path) -> None:
    piece = b"\x00" + b"x" * (ESCAPE_PIECE - 2) + b"\n"  # each escaped by the slow path
    data = piece * 700  # more pieces than one writev() takes
    path = tmp_path / "huge.capture"
    with CaptureWriter(path, redact=False) as w:
        w.received(1.0, data)
    assert load_capture(path).server_bytes == data


def test_writer_to_a_pipe_keeps_every_byte(tmp_path: Path) -> None:
    # A FIFO has no page cache to release: the writer must notice and go on.
    fifo = tmp_path / "capture.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    reads = [b"z" * 65536] * (2 * RELEASE_WINDOW // 65536)
    write_capture(fifo, reads)
    reader.join(10)
    (tmp_path / "copy.capture").write_bytes(got[0])
    assert load_capture(tmp_path / "copy.capture").server_bytes == b"".join(reads)


@pytest.mark.parametrize(
    ("content", "line", "match"),
    [
        ("", None, None),
        ("HTTP/1.1 200 OK\r\n\r\n", 1, "raw server bytes"),
        ("hello\n", 1, "not a chunkscope capture file"),
        ('{"format":"other","version":1}\n', 1, "no 'format' header"),
        ('{"format":"chunkscope-capture","version":2}\n', 1, "newer than this chunkscope reads"),
        (HEADER + "{not json\n" + '{"r":"end","t":1,"close":"fin"}\n', 2, "invalid JSON"),
        (HEADER + "[1,2]\n", 2, "JSON object"),
        (HEADER + '{"r":"recv","t":-1,"data":"x"}\n', 2, "finite number"),
        (HEADER + '{"r":"recv","t":"soon","data":"x"}\n', 2, "finite number"),
        (HEADER + '{"r":"recv","t":1,"data":5}\n', 2, "'data' must be a string"),
        (HEADER + '{"r":"recv","t":1,"data":"\\u0100"}\n', 2, "above U\\+00FF"),
        (HEADER + '{"r":"recv","t":2,"data":"a"}\n{"r":"recv","t":1,"data":"b"}\n', 3, "backwards"),
        (HEADER + '{"r":"end","t":1,"close":"explode"}\n', 2, "unknown close kind"),
        (
            HEADER + '{"r":"end","t":1,"close":"fin"}\n{"r":"recv","t":2,"data":"b"}\n',
            3,
            "after the end",
        ),
        (HEADER + '{"t":1}\n', 2, "without a string 'r'"),
    ],
)
def test_bad_files_are_refused_with_line_and_reason(
    tmp_path: Path, content: str, line: int | None, match: str | None
) -> None:
    path = tmp_path / "bad.capture"
    path.write_text(content)
    if not content:
        assert list(iter_capture(path)) == []  # an empty file holds nothing, not an error
        return
    with pytest.raises(CaptureFileError, match=match) as info:
        load_capture(path)
    assert info.value.line == line
    assert info.value.path == str(path)
    assert str(info.value).startswith(f"{path}:{line}: ")


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(CaptureFileError, match="no such file"):
        load_capture(tmp_path / "nope.capture")
    with pytest.raises(CaptureFileError, match="directory"):
        load_capture(tmp_path)


def test_absurd_sizes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.capture"
    write_capture(path, [b"x" * 1000, b"y" * 1000])
    with pytest.raises(CaptureFileError, match="refusing to load"):
        load_capture(path, max_bytes=1500)


def test_unknown_record_types_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "future.capture"
    path.write_text(HEADER + '{"r":"hologram","x":1}\n{"r":"recv","t":1,"data":"ok"}\n')
    assert load_capture(path).server_bytes == b"ok"


def test_request_redaction_keeps_length() -> None:
    request = (
        b"POST / HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer sk-abc\r\nCookie: a=b\r\n"
        b"X-Session-Token: t\r\nAccept: */*\r\n\r\nbody Authorization: keep"
    )
    masked, names = redact_request(request)
    assert len(masked) == len(request)
    assert b"sk-abc" not in masked
    assert b"Authorization: ****** ******\r\n" in masked
    assert b"Cookie: ***\r\n" in masked
    assert b"Accept: */*" in masked
    assert masked.endswith(b"body Authorization: keep")
    assert names == ["Authorization", "Cookie", "X-Session-Token"]


def test_response_head_masking_streams_byte_by_byte() -> None:
    head = (
        b"HTTP/1.1 103 Early Hints\r\nSet-Cookie: early=1\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nSet-Cookie: __cf_bm=secret; path=/\r\n\r\n"
        b"data: Set-Cookie: not-a-header\n\n"
    )
    whole = HeadMasker().feed(head)
    masker = HeadMasker()
    bytewise = b"".join(masker.feed(head[i : i + 1]) for i in range(len(head)))
    assert whole == bytewise
    assert b"secret" not in whole
    assert b"early=1" not in whole
    assert whole.endswith(b"data: Set-Cookie: not-a-header\n\n")
    assert masker.done


def test_capture_writer_redacts_by_default(tmp_path: Path) -> None:
    path = tmp_path / "r.capture"
    with CaptureWriter(path) as w:
        w.sent(0.0, b"GET / HTTP/1.1\r\nAuthorization: Basic dXNlcjpwYXNz\r\n\r\n")
        w.received(0.1, b"HTTP/1.1 200 OK\r\nSet-Cookie: s=1\r\n\r\n")
    text = path.read_text()
    assert "dXNlcjpwYXNz" not in text
    assert "s=1" not in text
    meta = load_capture(path).meta
    assert meta["redacted"] == ["Authorization", "Set-Cookie"]
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["format"] == "chunkscope-capture"


@settings(max_examples=500)
@given(
    st.one_of(
        st.binary(max_size=300),
        st.lists(
            st.sampled_from([b"x" * 40, b'"', b"\\", b"\r\n", b"\t", b"\x7f", b"\xe9", b"{}"]),
            max_size=40,
        ).map(b"".join),
    )
)
def test_fast_json_string_matches_json_dumps(data: bytes) -> None:
    from chunkscope.formats.capture import json_string_body

    assert b'"%b"' % json_string_body(data) == json.dumps(data.decode("latin-1")).encode("ascii")


@pytest.mark.parametrize(
    "unit",
    [
        b"data: 0123456789abcde\n\n",  # line ends every 10 bytes, no quotes: the replace chain
        b'data: {"id":"msg_1","delta":{"text":" tok"}}\n\n',  # quotes every 5: CPython's
        b'data: {"text":"a\\nb\\\\c"}\r\n\r\n',  # backslashes as JSON text has them
        b"ab\tcd\r\n" * 3 + b"\x7f",  # DEL is escaped: never the chain
    ],
)
def test_both_escapers_on_sse_shaped_bodies(unit: bytes) -> None:
    from chunkscope.formats.capture import json_string_body

    data = unit * 500
    for piece in (data, data[:4096], data[3:], b"x" * 5000 + data):
        assert b'"%b"' % json_string_body(piece) == json.dumps(piece.decode("latin-1")).encode(
            "ascii"
        )


@pytest.mark.parametrize(
    "name",
    [
        b"Api_Key",
        b"X-API_KEY",
        b"Ocp-Apim-Subscription-Key",
        b"X-Auth-Key",
        b"X-Functions-Key",
        b"X-Access-Key",
        b"Authentication",
        b"Proxy-Authorization",
        b"x-vendor-secret",
        b"X_Refresh_Token",
    ],
)
def test_more_credential_header_names_are_masked(name: bytes) -> None:
    head = b"GET / HTTP/1.1\r\n" + name + b": SECRET-VALUE\r\nAccept: */*\r\n\r\n"
    masked, names = redact_request(head)
    assert b"SECRET" not in masked
    assert len(masked) == len(head)
    assert names == [name.decode()]


def test_long_names_and_folded_lines_do_not_escape_the_masker() -> None:
    head = (
        b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1;\r\n  FOLDED=secret\r\n\tMORE=secret\r\n"
        b"X-" + b"n" * 400 + b": LONG=secret\r\nX-Plain: keep\r\n folded-plain: keep\r\n\r\n"
    )
    whole = HeadMasker().feed(head)
    masker = HeadMasker()
    bytewise = b"".join(masker.feed(head[i : i + 1]) for i in range(len(head)))
    assert whole == bytewise
    assert b"secret" not in whole
    assert b"X-Plain: keep\r\n folded-plain: keep\r\n" in whole
    assert HeadMasker().feed(whole) == whole  # masking masked bytes changes nothing


def test_url_secrets_are_masked_same_length() -> None:
    from chunkscope.formats.capture import redact_url

    url = "https://u%40x:p@h:1/a?alt=sse&KEY=k1&Api-Key=k2&x_amz_signature=s&q=keep#access_token=t"
    masked, names = redact_url(url)
    assert len(masked) == len(url)
    assert masked == (
        "https://*****:*@h:1/a?alt=sse&KEY=**&Api-Key=**&x_amz_signature=*&q=keep#access_token=*"
    )
    assert names == ["userinfo", "?KEY", "?Api-Key", "?x_amz_signature", "?access_token"]
    line = b"GET /a?key=AIza&b=1 HTTP/1.1\r\nHost: h\r\n\r\n"
    assert redact_request(line) == (b"GET /a?key=****&b=1 HTTP/1.1\r\nHost: h\r\n\r\n", ["?key"])


@pytest.mark.parametrize(
    ("record", "match"),
    [
        ('{"r":"meta","dns":1}', "'dns' must be a list of strings"),
        ('{"r":"meta","timings":"soon"}', "'timings' must be an object of numbers"),
        ('{"r":"meta","redacted":true}', "'redacted' must be a list of strings or null"),
        ('{"r":"meta","port":"443"}', "'port' must be an integer"),
        ('{"r":"meta","tls":{"peer_cert":{"san":5}}}', "'tls' must be an object"),
        ('{"r":"meta","target":["x"]}', "'target' must be a string"),
        ('{"r":"meta","x":' + "[" * 100 + "]" * 100 + "}", "nested more than 16 deep"),
        ('{"r":"meta","x":' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    ],
)
def test_odd_metadata_is_refused_at_load_with_line(tmp_path: Path, record: str, match: str) -> None:
    path = tmp_path / "odd.capture"
    path.write_text(HEADER + record + "\n" + '{"r":"end","t":1,"close":"fin"}\n')
    with pytest.raises(CaptureFileError, match=match) as info:
        load_capture(path)
    assert info.value.line == 2


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
_KEYS = st.sampled_from(
    [
        "target",
        "method",
        "port",
        "dns",
        "peer",
        "local",
        "tls",
        "timings",
        "t0_wall",
        "redacted",
        "synthetic",
        "error",
        "h11",
        "largest_gap",
        "proxy",
        "proxy_status",
        "connect_to",
        "other",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_KEYS, _JSON, max_size=4))
def test_any_metadata_is_a_report_or_exit_2_never_an_internal_error(
    tmp_path_factory: pytest.TempPathFactory, meta: dict[str, object]
) -> None:
    import contextlib
    import io

    from chunkscope.cli.main import main

    path = tmp_path_factory.mktemp("meta") / "m.capture"
    path.write_text(
        HEADER
        + json.dumps({"r": "meta", **meta})
        + "\n"
        + '{"r":"recv","t":1,"data":"HTTP/1.1 200 OK\\r\\nContent-Length: 0\\r\\n\\r\\n"}\n'
    )
    for extra in ([], ["--json"]):
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            code = main(["analyze", str(path), *extra])
        assert code in (0, 1, 2), err.getvalue()
