"""``chunkscope evidence FILE [-o DIR|FILE.zip]``: what vendor support asks for, redacted.

The bundle holds ``summary.md`` (verdict on both axes, hints, request ids, UTC times, the
request line and headers, the last bytes as annotated hex), ``report.json``, ``report.html``
(the self-contained HTML report with its timeline), the capture (or raw bytes) and
``replay.sh`` with the ``chunkscope serve`` command that replays it.

Nothing secret survives: besides the capture file's own same-length masking of credential
headers, everything the bundle writes is scrubbed again here: credential headers (also in
captures made with ``--no-redact``), credential query parameters and URL passwords, JSON body
fields named like keys (``api_key``, ``token``, ``secret``, ...), and anything shaped like a
well-known API key (``sk-...``, ``sk-ant-...``, ``AKIA...``, ``ghp_...``, ``xox?-...``,
``Bearer ...``). Masks keep the length, so offsets in the capture stay valid.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
import zipfile
from pathlib import Path
from typing import Any

from ..core.errors import UsageError
from ..core.hints import sse_outcome
from ..core.meaning import explain
from ..core.report import Report, Verdict
from .main import add_report_options, report_exit_code
from .options import path
from .render import escape_bytes, hexdump

__all__ = ["add_parser", "run", "scrub_bytes", "scrub_text"]

_SECRET_HEADER = re.compile(
    rb"(?im)^((?:[!#$%&'*+.^_`|~0-9a-z-]*(?:authorization|cookie|api-?key|token|secret|password|"
    rb"session|signature)[!#$%&'*+.^_`|~0-9a-z-]*)[ \t]*:[ \t]*)([^\r\n]*)"
)
_SECRET_PARAM = re.compile(
    rb"(?i)([?&;](?:api[_-]?key|key|access[_-]?token|token|secret|client[_-]?secret|password|"
    rb"passwd|sig|signature|auth|code)=)([^&#\s\"']*)"
)
_URL_PASSWORD = re.compile(rb"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@\"']+:)([^@\s/\"']+)(@)")
_SECRET_JSON = re.compile(
    rb'(?i)("(?:[a-z0-9_-]*(?:api[_-]?key|apikey|token|secret|password|passwd|authorization|'
    rb'credential|private[_-]?key|session)[a-z0-9_-]*)"\s*:\s*")((?:[^"\\]|\\.)*)(")'
)
_KEY_SHAPES = re.compile(
    rb"(sk-ant-[A-Za-z0-9_-]{8,}|sk-[A-Za-z0-9_-]{8,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{20,}"
    rb"|xox[abprs]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{30,}|(?<=Bearer )[A-Za-z0-9._~+/=-]{8,})"
)


def _mask(match: re.Match[bytes], group: int) -> bytes:
    value = match.group(group)
    masked = re.sub(rb"[^ \t]", b"*", value)
    return match.group(0).replace(value, masked, 1) if value else match.group(0)


def scrub_bytes(data: bytes) -> bytes:
    """``data`` with every secret masked by ``*``, byte for byte (the length never changes)."""
    data = _SECRET_HEADER.sub(lambda m: m.group(1) + re.sub(rb"[^ \t]", b"*", m.group(2)), data)
    data = _SECRET_PARAM.sub(lambda m: m.group(1) + b"*" * len(m.group(2)), data)
    data = _URL_PASSWORD.sub(lambda m: m.group(1) + b"*" * len(m.group(2)) + m.group(3), data)
    data = _SECRET_JSON.sub(lambda m: m.group(1) + b"*" * len(m.group(2)) + m.group(3), data)
    return _KEY_SHAPES.sub(lambda m: b"*" * len(m.group(0)), data)


def scrub_text(text: str) -> str:
    """:func:`scrub_bytes` for text (latin-1 round trip, so every character survives)."""
    try:
        return scrub_bytes(text.encode("latin-1")).decode("latin-1")
    except UnicodeEncodeError:
        return scrub_bytes(text.encode("utf-8")).decode("utf-8", "replace")


def _scrub_json(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, list):
        return [_scrub_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _scrub_json(v) for k, v in value.items()}
    return value


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "evidence",
        help="write a redacted evidence bundle for vendor support",
        description=(
            "Write what vendor support asks for, with every secret masked: summary.md (verdict, "
            "hints, request ids, UTC times, request head, last bytes as annotated hex), "
            "report.json, report.html (the HTML report with its timeline), the capture, and "
            "replay.sh (the chunkscope serve command that "
            "replays it). Exit 0 complete, 1 truncated/malformed, 2 unreadable input."
        ),
    )
    p.add_argument("file", metavar="FILE", help="capture file (or raw server bytes)")
    p.add_argument(
        "-o",
        "--output",
        type=path,
        metavar="DIR|FILE.zip",
        help="folder to create, or a .zip file (default: FILE-evidence/ next to FILE)",
    )
    p.add_argument("--raw", action="store_true", help="FILE holds raw server bytes")
    add_report_options(p)
    p.set_defaults(func=run)


def _load(args: argparse.Namespace) -> tuple[Report, bytes, bool]:
    """The report, the bytes to bundle (scrubbed), and whether FILE is raw server bytes."""
    from .analyze import _looks_raw, analyze_raw_file

    path = args.file
    raw = args.raw or _looks_raw(path)
    if not raw and os.path.isfile(path) and os.path.getsize(path) == 0:
        from ..core.errors import CaptureFileError

        raise CaptureFileError(
            path,
            None,
            "the file is empty (not a capture file); if the server sent nothing, say --raw",
        )
    if raw:
        args.method, args.close = "GET", "unknown"
        args.max_chunks_kept, args.max_chunk_size = 100_000, 2**62
        data = _scrub_raw(Path(path).read_bytes())
    else:
        from ..formats.capture import iter_capture

        for _ in iter_capture(path):  # a bad file is refused under its own name
            pass
        data = _scrub_capture(Path(path))
    # The report is made from the scrubbed bytes, so nothing it quotes can hold a secret.
    import tempfile

    from ..formats.analysis import analyze_capture

    with tempfile.TemporaryDirectory(prefix="chunkscope-evidence-") as folder:
        scrubbed = os.path.join(folder, "scrubbed")
        with open(scrubbed, "wb") as f:
            f.write(data)
        if raw:
            report = analyze_raw_file(scrubbed, args)
        else:
            report = analyze_capture(
                scrubbed, terminal_events=args.terminal_event, profile=args.profile
            )
    return report, data, raw


def _scrub_raw(data: bytes) -> bytes:
    head_end = data.find(b"\r\n\r\n")
    head_end = len(data) if head_end < 0 else head_end
    return scrub_bytes(data[:head_end]) + data[head_end:]


def _scrub_capture(path: Path) -> bytes:
    """The capture file with request, response head and metadata scrubbed, line by line."""
    from ..formats.capture import HeadMasker

    out = []
    response_head = HeadMasker()
    with path.open("rb") as f:
        for line in f:
            try:
                record = json.loads(line)
            except ValueError:
                out.append(scrub_bytes(line))  # a partial last line: keep it, scrubbed
                continue
            if isinstance(record, dict):
                kind = record.get("r")
                data = record.get("data")
                if kind == "send" and isinstance(data, str):
                    record["data"] = scrub_text(data)
                elif kind == "recv" and isinstance(data, str) and not response_head.done:
                    record["data"] = scrub_text(
                        response_head.feed(data.encode("latin-1")).decode("latin-1")
                    )
                elif kind in (None, "meta"):
                    record = _scrub_json(record)
            out.append(
                json.dumps(record, ensure_ascii=True, separators=(",", ":")).encode() + b"\n"
            )
    return b"".join(out)


def _request_head(bundle_capture: bytes) -> str | None:
    sent = bytearray()
    for line in bundle_capture.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("r") == "send":
            sent += str(record.get("data", "")).encode("latin-1")
            if b"\r\n\r\n" in sent:
                break
    if not sent:
        return None
    head, _, body = bytes(sent).partition(b"\r\n\r\n")
    text = head.decode("latin-1")
    if body:
        text += f"\r\n\r\n{body[:2000].decode('latin-1', 'replace')}"
    return text.replace("\r\n", "\n")


def _summary(report: Report, capture_name: str, request: str | None, raw: bool) -> str:
    p = report.problem
    outcome = sse_outcome(report)
    ids = report.identifiers
    lines = [f"# chunkscope evidence: {report.verdict.value.upper()}", ""]
    http = report.verdict.value
    if p is not None:
        http += f": {p.state.value} at byte {p.offset}" + (
            f", missing {p.missing!r}" if p.missing else ""
        )
    lines.append(f"- **HTTP**: {http}")
    if report.sse is not None:
        lines.append(f"- **Application (SSE)**: {outcome}, {report.sse.events} events")
    c = report.close
    when = (
        ""
        if c.t is None
        else f" at {c.t:.3f} s"
        + ("" if c.idle is None else f", {c.idle:.3f} s after the last byte")
    )
    lines.append(f"- **Connection ended**: {c.kind.value}{when}")
    if ids.get("start_utc"):
        lines.append(f"- **Start (UTC)**: {ids['start_utc']}")
    if ids.get("end_utc"):
        lines.append(f"- **End (UTC)**: {ids['end_utc']}")
    for name, value in ids.get("request_ids", {}).items():
        lines.append(f"- **{name}**: `{value}`")
    lines += ["", "## What it means", ""]
    lines += [f"{s}" for s in explain(report)]
    hints = report.hints
    if hints:
        lines += ["", "## Why it likely ended", ""]
        lines += [f"- `{h.code}`: {h.message}" for h in hints]
    if request:
        lines += ["", "## Request (credentials masked)", "", "```http", request, "```"]
    ctx = report.context
    if ctx and ctx.get("data"):
        data = str(ctx["data"]).encode("latin-1")
        start = int(ctx["offset"])
        end = start + len(data)
        truncated = report.verdict is not Verdict.MALFORMED
        mark = p.offset if p is not None else end
        label = "stream ended here, before byte" if truncated else "first offending byte,"
        lines += ["", f"## Last bytes received (offsets {start}-{end})", "", "```text"]
        lines += hexdump(data, start, mark=mark, label=label)
        lines += [f"  b'{escape_bytes(data)}'", "```"]
    serve = ["chunkscope", "serve", capture_name]
    if raw:
        serve.insert(2, "--raw")
    tls = bool((report.connection or {}).get("tls"))
    lines += [
        "",
        "## Replay",
        "",
        "The capture replays byte for byte, with its timing and its ending, to any client:",
        "",
        "```sh",
        " ".join(map(shlex.quote, serve))
        + (
            " --tls --ca-out ca.pem   # then: curl --cacert ca.pem URL"
            if tls
            else "   # then: curl URL"
        ),
        "```",
        "",
        f"Files: `summary.md`, `report.json`, `report.html`, `{capture_name}`, `replay.sh`.",
    ]
    return scrub_text("\n".join(lines) + "\n")


def _replay_script(report: Report, capture_name: str, raw: bool) -> str:
    tls = bool((report.connection or {}).get("tls"))
    words = ["chunkscope", "serve", *(["--raw"] if raw else []), capture_name]
    if tls:
        words += ["--tls", "--ca-out", "ca.pem"]
    return (
        "#!/bin/sh\n# Replays the captured response to every client that connects; the first line "
        "printed is the URL.\n"
        'cd "$(dirname "$0")" && exec ' + " ".join(map(shlex.quote, words)) + ' "$@"\n'
    )


def _html_report(report: Report, bundle_bytes: bytes, capture_name: str, raw: bool) -> str:
    """The HTML report, its timeline read from the scrubbed bytes the bundle holds."""
    import tempfile

    from ..formats.html import render_html
    from ..formats.timeline import collect_timeline

    with tempfile.TemporaryDirectory(prefix="chunkscope-evidence-") as folder:
        path = Path(folder) / capture_name
        path.write_bytes(bundle_bytes)
        timeline = collect_timeline(path, raw=raw)
    return render_html(report, timeline, source=capture_name)


def run(args: argparse.Namespace) -> int:
    report, bundle_bytes, raw = _load(args)
    source = Path(args.file)
    # a non-UTF-8 name's bytes become U+FFFD: every file of the bundle is UTF-8 text
    name = os.fsencode(source.name).decode("utf-8", "replace")
    capture_name = name if name not in ("", "-") else "capture"
    if raw and not capture_name.endswith(".raw"):
        capture_name += ".raw"
    request = None if raw else _request_head(bundle_bytes)
    files = {
        "summary.md": _summary(report, capture_name, request, raw).encode("utf-8"),
        "report.json": (
            json.dumps(_scrub_json(report.to_dict()), indent=2, ensure_ascii=False) + "\n"
        ).encode("utf-8"),
        "report.html": _html_report(report, bundle_bytes, capture_name, raw).encode("utf-8"),
        capture_name: bundle_bytes,
        "replay.sh": _replay_script(report, capture_name, raw).encode("utf-8"),
    }
    output = args.output or str(source.with_name(source.name + "-evidence"))
    if output.endswith(".zip"):
        if os.path.exists(output):
            raise UsageError(f"{output} exists; choose another -o")
        folder = os.fsencode(Path(output).stem).decode("utf-8", "replace")
        try:
            with zipfile.ZipFile(output, "x", zipfile.ZIP_DEFLATED) as z:
                for name, data in files.items():
                    info = zipfile.ZipInfo(f"{folder}/{name}", date_time=(2000, 1, 1, 0, 0, 0))
                    info.external_attr = (0o755 if name == "replay.sh" else 0o644) << 16
                    info.compress_type = zipfile.ZIP_DEFLATED
                    z.writestr(info, data)
        except OSError as exc:
            if os.path.isfile(output):
                os.unlink(output)  # no half-written bundle left behind
            raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
    else:
        target = Path(output)
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise UsageError(f"{output} exists and is not an empty folder; choose another -o")
        target.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (target / name).write_bytes(data)
        (target / "replay.sh").chmod(0o755)
    print(output)
    if args.json:
        sys.stdout.write(files["report.json"].decode("utf-8"))
    sys.stdout.flush()
    return report_exit_code(report, args)
