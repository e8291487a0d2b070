"""``chunkscope evidence``: a bundle vendor support can read, with no secret left in it."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import chunkscope
from chunkscope.cli.main import main
from chunkscope.formats.capture import load_capture
from chunkscope.testing import Response, serving, sse_event

SECRETS = {
    "header": "sk-proj-HeaderSecret0123456789",
    "anthropic": "sk-ant-api03-AnthropicSecret0123",
    "query": "QuerySecretValue42",
    "query2": "SecondQuerySecret77",
    "body": "BodySecretValue99",
    "nested": "NestedClientSecret55",
    "cookie": "SessionCookieSecret31",
}

STREAM = Response(
    headers=[("x-request-id", "req_abc123"), ("Set-Cookie", f"session={SECRETS['cookie']}")],
    events=[sse_event("delta", '{"text": "hi"}'), sse_event("done", "[DONE]")],
)


async def _capture_with_secrets(path: Path) -> chunkscope.Report:
    body = json.dumps({"api_key": SECRETS["body"], "nested": {"client_secret": SECRETS["nested"]}})
    async with serving(STREAM.script(truncate_at="before-last-chunk")) as server:
        return await chunkscope.capture(
            f"{server.url}v1/stream?api_key={SECRETS['query']}&key={SECRETS['query2']}&model=x",
            method="POST",
            headers=[
                ("Authorization", f"Bearer {SECRETS['header']}"),
                ("X-Api-Key", SECRETS["anthropic"]),
                ("Content-Type", "application/json"),
            ],
            body=body.encode(),
            output=str(path),
            redact=False,  # the bundle must scrub even a capture saved with --no-redact
        )


def _assert_no_secret(files: dict[str, bytes]) -> None:
    for name, data in files.items():
        for what, secret in SECRETS.items():
            assert secret.encode() not in data, f"{what} secret survives in {name}"


async def test_bundle_folder_has_everything_and_no_secret(tmp_path: Path) -> None:
    capture = tmp_path / "run.capture"
    live = await _capture_with_secrets(capture)
    assert SECRETS["body"].encode() in capture.read_bytes()  # --no-redact kept it
    out = tmp_path / "bundle"
    assert main(["evidence", str(capture), "-o", str(out)]) == 1  # truncated, like analyze
    files = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(files) == {"summary.md", "report.json", "report.html", "run.capture", "replay.sh"}
    _assert_no_secret(files)
    summary = files["summary.md"].decode()
    for part in ("TRUNCATED", "completed", "Why it likely ended", "req_abc123", "Start (UTC)",
                 "POST /v1/stream?", "stream ended here", "chunkscope serve run.capture"):  # fmt: skip
        assert part in summary, part
    assert b'id="timeline-h"' in files["report.html"]  # the HTML report, from the scrubbed bytes
    report = json.loads(files["report.json"])
    assert report["verdict"] == "truncated"
    assert report["identifiers"]["request_ids"]["x-request-id"] == "req_abc123"
    assert {h["code"] for h in report["hints"]} >= {"closed-after-last-byte", "retry-safety"}
    # the scrubbed capture still analyses the same, offsets and all (masks keep the length)
    again = chunkscope.analyze_capture(str(out / "run.capture"))
    assert again.verdict is live.verdict
    assert again.problem is not None
    assert live.problem is not None
    assert again.problem.offset == live.problem.offset
    assert load_capture(out / "run.capture").server_bytes.count(b"*") > 0


async def test_bundle_zip(tmp_path: Path, capsys: object) -> None:
    capture = tmp_path / "run.capture"
    await _capture_with_secrets(capture)
    target = tmp_path / "evidence.zip"
    assert main(["evidence", str(capture), "-o", str(target)]) == 1
    with zipfile.ZipFile(target) as z:
        files = {Path(n).name: z.read(n) for n in z.namelist()}
    assert set(files) == {"summary.md", "report.json", "report.html", "run.capture", "replay.sh"}
    _assert_no_secret(files)
    # refuses to overwrite
    assert main(["evidence", str(capture), "-o", str(target)]) == 2


def test_raw_input_and_bad_input(tmp_path: Path) -> None:
    raw = tmp_path / "out.raw"
    raw.write_bytes(STREAM.to_bytes())
    out = tmp_path / "b"
    assert main(["evidence", str(raw), "-o", str(out)]) == 0
    assert "chunkscope serve --raw out.raw" in (out / "summary.md").read_text()
    assert SECRETS["cookie"] not in (out / "out.raw").read_text()
    assert main(["evidence", str(tmp_path / "missing.capture")]) == 2
