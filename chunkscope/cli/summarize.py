"""The many-stream summary: ``analyze PATH...`` over captures, and the summary's text form.

``chunkscope analyze`` with a directory or more than one path lands here:
every capture file (a directory is searched for ``*.capture``, recursively)
is analysed in turn and reduced to a record of the summary; ``probe`` prints
the same summary over the streams it sent.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from ..core.errors import CaptureFileError, UsageError
from ..core.summary import NOT_CONNECTED, Summary
from ..formats.analysis import analyze_capture

__all__ = ["capture_paths", "render_summary", "run_paths"]

_IDENTIFIERS_SHOWN = 10
_METRIC_LABELS = (
    ("first_byte", "first byte", "s"),
    ("duration", "duration", "s"),
    ("bytes", "bytes", ""),
    ("events", "events", ""),
    ("largest_gap", "largest gap", "s"),
    ("idle", "idle at close", "s"),
)


def capture_paths(paths: Sequence[str]) -> Iterator[str]:
    """Files named, and every ``*.capture`` under directories named, in a stable order."""
    for path in paths:
        if os.path.isdir(path):
            found: list[str] = []
            for root, dirs, files in os.walk(path):
                dirs.sort()
                found.extend(os.path.join(root, f) for f in files if f.endswith(".capture"))
            yield from sorted(found)
        else:
            yield path


def run_paths(args: argparse.Namespace, paths: Sequence[str]) -> int:
    """``chunkscope analyze PATH...``: the summary over existing capture files."""
    if getattr(args, "raw", False):
        raise UsageError("--raw reads one file; a summary reads capture files")
    for path in paths:
        if not os.path.exists(path):
            raise CaptureFileError(path, None, "no such file or directory")
    summary = Summary()
    unreadable: list[dict[str, str]] = []
    for path in capture_paths(paths):
        try:
            # a summary needs no chunk records: keep none, whatever the stream's length
            report = analyze_capture(path, terminal_events=args.terminal_event, max_chunks_kept=0)
        except (CaptureFileError, OSError) as exc:
            unreadable.append({"path": path, "error": str(exc)})
            print(f"chunkscope: warning: skipped {path}: {exc}", file=sys.stderr)
            continue
        summary.add_report(report, path)
    if summary.streams == 0:
        what = "readable capture files" if unreadable else "capture files (*.capture)"
        raise CaptureFileError(", ".join(paths), None, f"no {what} found")
    data = summary.to_dict()
    data["unreadable"] = unreadable
    if args.json:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        sys.stdout.write(render_summary(data))
    sys.stdout.flush()
    return summary.exit_code


def _label(row: dict[str, Any]) -> str:
    if row["verdict"] == NOT_CONNECTED:
        return f"not connected ({row.get('error')})"
    parts = [row["verdict"], row["problem"] or "-", row["close"] or "-"]
    parts.append(f"sse {row['sse']}" if row["sse"] is not None else "not sse")
    return " / ".join(parts)


def _number(value: float | int | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value:.3f}"
    return f"{int(value)}"


def render_summary(data: dict[str, Any], heading: str | None = None) -> str:
    """The summary as text: the outcome table, distributions, clusters, identifiers, hops."""
    out: list[str] = []
    streams, failed = data["streams"], data["failed"]
    low, high = data["failed_wilson95"]
    if failed:
        first = (
            f"chunkscope: {failed} of {streams} streams did not complete "
            f"({data['failed_percent']:.1f} %, 95 % interval {low:.1f}-{high:.1f} %)"
        )
    else:
        first = (
            f"chunkscope: all {streams} streams complete "
            f"(failure rate 95 % interval {low:.1f}-{high:.1f} %)"
        )
    if not streams:
        first = "chunkscope: no stream finished"
    out.append(first)
    if heading:
        out.append(f"  {heading}")
    out.append("")
    rows = data["rows"]
    labels = [_label(r) for r in rows]
    width = max([len("outcome"), *map(len, labels)])
    out.append("Outcomes (verdict / problem / close / sse)")
    out.append(f"  {'count':>6} {'%':>6}  {'95 % interval':<13}  {'outcome':<{width}}  example")
    for row, label in zip(rows, labels, strict=True):
        lo, hi = row["wilson95"]
        interval = f"{lo:.1f}-{hi:.1f}"
        out.append(
            f"  {row['count']:>6} {row['percent']:>5.1f}%  {interval:<13}  {label:<{width}}  "
            f"{row['example'] or '-'}"
        )
        for error in row.get("errors") or ():
            out.append(f"  {'':>6} {'':>6}  {'':<13}    {error['count']} x {error['reason']}")
    connected = [
        (r, lbl) for r, lbl in zip(rows, labels, strict=True) if r["verdict"] != NOT_CONNECTED
    ]
    if connected:
        out.append("")
        out.append("Distributions per outcome (p50 / p90 / p99 / max)")
        for row, label in connected:
            out.append(f"  {label} ({row['count']})")
            for key, name, unit in _METRIC_LABELS:
                stats = row["stats"].get(key)
                if not stats:
                    continue
                values = " / ".join(_number(stats[p], unit) for p in ("p50", "p90", "p99", "max"))
                out.append(f"    {name:<14} {values}{' s' if unit else ''}")
    clusters = [(label, c) for row, label in connected for c in row["clusters"]]
    if clusters:
        out.append("")
        out.append("Clusters")
        for label, cluster in clusters:
            hint = f" [{cluster['hint']}]" if cluster["hint"] else ""
            out.append(f"  {label}:{hint} {cluster['message']}")
    identifiers = data["identifiers"]
    if identifiers:
        out.append("")
        out.append(
            f"Request ids and hop headers of the streams that did not complete ({len(identifiers)})"
        )
        for item in identifiers[:_IDENTIFIERS_SHOWN]:
            headers = "  ".join(f"{n}: {v}" for n, v in item["headers"]) or "(none)"
            name = os.path.basename(item["path"]) if item["path"] else "(not kept)"
            out.append(f"  {name}  {headers}")
        if len(identifiers) > _IDENTIFIERS_SHOWN:
            out.append(
                f"  ... {len(identifiers) - _IDENTIFIERS_SHOWN} more (--json lists them all)"
            )
    hops = data["hops"]
    if hops:
        out.append("")
        out.append("Hops (header values seen, by outcome)")
        for name, by in hops.items():
            parts = []
            for outcome in ("failed", "complete"):
                values = by.get(outcome)
                if values:
                    shown = ", ".join(f"{v!r} x{c}" for v, c in values.items())
                    parts.append(f"{outcome}: {shown}")
            out.append(f"  {name:<12} {'; '.join(parts)}")
    for item in data.get("unreadable") or ():
        out.append(f"skipped {item['path']}: {item['error']}")
    return "\n".join(out) + "\n"
