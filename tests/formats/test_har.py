"""HAR 1.2 export: valid HAR, the body as HAR wants it, and the ending HAR cannot say."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path

import h11
import pytest

from chunkscope import analyze_capture, load_capture
from chunkscope.formats.capture import CaptureWriter
from chunkscope.formats.har import capture_entry, har_document, write_har

jsonschema = pytest.importorskip("jsonschema")

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
CAPTURES = sorted(p.name for p in FIXTURES.glob("*.capture"))
SCHEMA = json.loads((Path(__file__).parent / "data" / "har-1.2.schema.json").read_text())


def validate(document: dict[str, object]) -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(document)


def _h11_body(server_bytes: bytes, method: bytes = b"POST") -> bytes:
    """The body h11 (a third-party parser) decodes from the same bytes."""
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method=method, target="/", headers=[("Host", "x")]))
    conn.receive_data(server_bytes)
    body = b""
    while True:
        event = conn.next_event()
        if isinstance(event, h11.Data):
            body += event.data
        elif event in (h11.NEED_DATA, h11.PAUSED) or isinstance(event, h11.EndOfMessage):
            return body


def test_the_schema_rejects_what_har_forbids() -> None:
    """The control: the schema is not a rubber stamp."""
    entry = capture_entry(FIXTURES / "assistants-complete.capture")
    del entry["timings"]["wait"]
    with pytest.raises(jsonschema.ValidationError, match="'wait' is a required property"):
        validate(har_document([entry]))


@pytest.mark.parametrize("name", CAPTURES)
def test_every_fixture_exports_valid_har_with_its_ending(name: str) -> None:
    entry = capture_entry(FIXTURES / name)
    validate(har_document([entry]))
    report = analyze_capture(str(FIXTURES / name))
    ending = entry["_ending"]
    assert ending["verdict"] == report.verdict.value
    assert ending["close"] == report.close.kind.value
    assert ending["idle"] == pytest.approx(report.close.idle)
    assert ending["chunkCount"] == report.chunk_count
    if report.verdict.value == "complete":
        assert "_error" not in entry["response"]
        assert ending["state"] is None
    else:
        assert report.problem is not None
        assert ending["state"] == report.problem.state.value
        assert ending["offset"] == report.problem.offset
        assert ending["missing"] == (
            None if report.problem.missing is None else report.problem.missing.decode("latin-1")
        )
        error = entry["response"]["_error"]
        assert error.startswith(f"{report.verdict.value}: ")
        assert report.close.kind.value in error
    # a response exists even when the stream broke: status and head are there
    assert entry["response"]["status"] == report.status == 200
    assert entry["_chunks"] == [c.to_dict() for c in report.chunks]
    assert len(entry["_eventSourceMessages"]) == report.sse.events  # type: ignore[union-attr]


def test_the_field_case_in_detail() -> None:
    path = FIXTURES / "assistants-cut-after-done.capture"
    entry = capture_entry(path)
    capture = load_capture(path)
    response = entry["response"]
    content = response["content"]
    # de-chunked, as HAR 1.2 wants content.text, and equal to what h11 decodes
    assert content["text"].encode() == _h11_body(capture.server_bytes)
    assert content["size"] == 4574
    assert "encoding" not in content
    assert response["_error"] == (
        "truncated: chunk #23: stream ended at byte 5188 where a chunk-size line or the "
        "last-chunk was expected; missing b'0\\r\\n\\r\\n' (connection: tls-no-close-notify)"
    )
    assert entry["_ending"]["missing"] == "0\r\n\r\n"
    assert entry["_ending"]["application"]["complete"] is True
    # Chrome's names; every event whole (the report keeps 200-character previews only)
    events = entry["_eventSourceMessages"]
    assert [e["type"] for e in events][-2:] == ["thread.run.completed", "done"]
    assert events[-1]["data"] == "[DONE]"
    assert events[-1]["id"] == ""
    assert max(len(e["data"]) for e in events) > 200
    assert events[0]["time"] > 1.7e9  # seconds since the epoch
    assert entry["startedDateTime"] == "2025-11-24T16:00:00.000Z"
    assert entry["serverIPAddress"] == "192.0.2.10"
    assert entry["connection"] == "51514"
    # credentials stay as masked in the capture
    auth = next(h["value"] for h in entry["request"]["headers"] if h["name"] == "Authorization")
    assert set(auth) <= {"*", " "}
    assert entry["request"]["postData"]["mimeType"] == "application/json"


def test_a_directory_of_captures_is_one_har(tmp_path: Path) -> None:
    out = tmp_path / "all.har"
    with open(out, "w", encoding="utf-8") as f:
        assert write_har([FIXTURES / n for n in CAPTURES], f) == len(CAPTURES)
    document = json.loads(out.read_text(encoding="utf-8"))
    validate(document)
    comments = sorted(e["comment"] for e in document["log"]["entries"])
    assert comments == sorted(f"chunkscope capture {n}" for n in CAPTURES)


def _capture(path: Path, head: bytes, body_reads: list[bytes], close: str = "fin") -> Path:
    with CaptureWriter(path, meta={"target": "http://127.0.0.1:9/x?q=1&r=", "method": "GET"}) as w:
        w.sent(0.0, b"GET /x?q=1&r= HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n")
        t = 0.1
        for data in [head, *body_reads]:
            w.received(t, data)
            t += 0.1
        w.ended(close, t)
    return path


def test_gzip_bodies_are_decoded_for_content_and_events(tmp_path: Path) -> None:
    stream = b"event: delta\ndata: hello\n\nevent: done\ndata: [DONE]\n\n"
    packed = gzip.compress(stream)
    half = len(packed) // 2
    chunks = [b"%x\r\n%s\r\n" % (len(p), p) for p in (packed[:half], packed[half:])]
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: gzip\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    path = _capture(tmp_path / "gz.capture", head, [*chunks, b"0\r\n\r\n"])
    entry = capture_entry(path)
    validate(har_document([entry]))
    content = entry["response"]["content"]
    assert content["text"] == stream.decode()
    assert content["size"] == len(stream)
    assert content["compression"] == len(packed) - len(stream)
    assert [(e["type"], e["data"]) for e in entry["_eventSourceMessages"]] == [
        ("delta", "hello"),
        ("done", "[DONE]"),
    ]
    assert entry["request"]["queryString"] == [
        {"name": "q", "value": "1"},
        {"name": "r", "value": ""},
    ]


def test_binary_bodies_are_base64_and_content_length_is_honoured(tmp_path: Path) -> None:
    body = bytes(range(256))
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 300\r\n\r\n"
    )
    entry = capture_entry(_capture(tmp_path / "bin.capture", head, [body], close="reset"))
    validate(har_document([entry]))
    content = entry["response"]["content"]
    assert content["encoding"] == "base64"
    assert base64.b64decode(content["text"]) == body
    assert entry["_ending"]["state"] == "body"
    assert entry["_ending"]["remaining"] == 44
    assert "256 of 300 body bytes" in entry["response"]["_error"]


def test_no_response_is_status_0_with_an_error(tmp_path: Path) -> None:
    with CaptureWriter(tmp_path / "none.capture", meta={"target": "http://127.0.0.1:9/"}) as w:
        w.sent(0.0, b"GET / HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n")
        w.ended("fin", 0.5)
    entry = capture_entry(tmp_path / "none.capture")
    validate(har_document([entry]))
    assert entry["response"]["status"] == 0
    assert entry["response"]["_error"].startswith("no-response: ")
    assert entry["timings"]["wait"] == 500.0


def test_long_streams_list_a_bounded_number_of_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from support.streams import write_long_sse_capture

    import chunkscope.formats.har as har

    monkeypatch.setattr(har, "MAX_LISTED", 50)
    path = write_long_sse_capture(tmp_path / "long.capture", 1000)
    entry = capture_entry(path)
    validate(har_document([entry]))
    assert (len(entry["_chunks"]), entry["_chunksOmitted"]) == (50, 951)
    assert (len(entry["_eventSourceMessages"]), entry["_eventSourceMessagesOmitted"]) == (50, 951)
    assert entry["_ending"]["chunkCount"] == 1001
    assert entry["response"]["content"]["text"].endswith("data: [DONE]\n\n")
