"""The probe against a real server on 127.0.0.1 whose connections end in a known mix.

The peer is chunkscope's replay server with a per-connection script chooser
(tests/support/endings.py) that also measures, from the server side, how many
connections were open at once and when each request arrived.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio
from support.endings import (
    COMPLETE,
    CUT_AFTER_DONE,
    RESET_MID_CHUNK,
    STALL,
    MixedEndings,
    mix_of_40,
)

from chunkscope.cli.main import main
from chunkscope.core.errors import UsageError
from chunkscope.net.client import CaptureOptions
from chunkscope.net.probe import Probe, ProbeOptions
from chunkscope.net.server import ServerInfo, serve
from chunkscope.testing import tls_pair

# (verdict, problem state, close kind) -> how many of the 40
EXPECTED = {
    ("complete", None, "fin"): 24,
    ("truncated", "chunk-boundary", "fin"): 8,  # cut before the last-chunk, after [DONE]
    ("truncated", "chunk-data", "reset"): 4,
    ("truncated", "chunk-boundary", "timeout"): 4,  # stalled past --idle-timeout 1
}


def _captures(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.capture"))


def _rows(summary: dict[str, Any]) -> dict[tuple[str, str | None, str | None], dict[str, Any]]:
    return {(r["verdict"], r["problem"], r["close"]): r for r in summary["rows"]}


async def test_the_mix_of_40_is_counted_exactly_and_the_idle_timeout_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chooser = MixedEndings(mix_of_40())
    async with trio.open_nursery() as nursery:
        info = await chooser.start(nursery)
        probe = Probe(
            ProbeOptions(
                capture=CaptureOptions(url=info.url, idle_timeout=1.0),
                count=40,
                concurrency=8,
                directory=str(tmp_path),
                keep="failed",
            )
        )
        await probe.run()
        nursery.cancel_scope.cancel()
    assert chooser.requests == 40
    assert sorted(chooser.served) == sorted(mix_of_40())
    summary = probe.summary.to_dict()
    rows = _rows(summary)
    assert {key: row["count"] for key, row in rows.items()} == EXPECTED
    assert len(summary["rows"]) == 4  # the SSE axis splits nothing further
    assert summary["streams"] == 40
    assert summary["complete"] == 24
    assert summary["failed"] == 16
    assert probe.summary.exit_code == 1
    assert rows[("complete", None, "fin")]["complete"] is True
    assert rows[("complete", None, "fin")]["sse"] == "completed"
    assert rows[("truncated", "chunk-boundary", "fin")]["complete"] is False
    # wilson interval brackets the share
    for row in summary["rows"]:
        low, high = row["wilson95"]
        assert low <= row["percent"] <= high

    stalled = rows[("truncated", "chunk-boundary", "timeout")]
    hints = [c["hint"] for c in stalled["clusters"]]
    assert hints == ["idle-timeout"], stalled["clusters"]
    assert stalled["clusters"][0]["count"] == 4
    assert "1.0 ±" in stalled["clusters"][0]["message"]
    cut = rows[("truncated", "chunk-boundary", "fin")]
    assert [c["hint"] for c in cut["clusters"]] == ["closed-after-last-byte"]
    assert rows[("complete", None, "fin")]["clusters"] == []

    # distributions per row
    stats = stalled["stats"]
    assert stats["idle"]["n"] == 4
    assert stats["idle"]["p50"] <= stats["idle"]["p90"] <= stats["idle"]["max"]
    assert stats["events"]["max"] == 1
    assert rows[("complete", None, "fin")]["stats"]["events"]["p50"] == 6

    # --keep failed keeps exactly the 16 failed captures
    kept = _captures(tmp_path)
    assert len(kept) == 16
    assert rows[("complete", None, "fin")]["example"] is None
    for key in EXPECTED:
        if key[0] != "complete":
            assert Path(rows[key]["example"]) in kept

    # request ids and hop headers of the failed streams
    identifiers = summary["identifiers"]
    assert len(identifiers) == 16
    ids = {dict(item["headers"])["x-request-id"] for item in identifiers}
    assert len(ids) == 16
    assert all(dict(item["headers"])["Server"] == "endings/1" for item in identifiers)
    assert summary["hops"]["server"] == {"complete": {"endings/1": 24}, "failed": {"endings/1": 16}}

    # analyze DIR over the kept captures gives the same rows
    assert main(["analyze", str(tmp_path), "--json"]) == 1
    again = json.loads(capsys.readouterr().out)
    failed_rows = {k: (r["count"], r["sse"]) for k, r in rows.items() if not r["complete"]}
    assert {k: (r["count"], r["sse"]) for k, r in _rows(again).items()} == failed_rows
    assert [
        c["hint"] for c in _rows(again)[("truncated", "chunk-boundary", "timeout")]["clusters"]
    ] == ["idle-timeout"]
    # and the text form names the cluster
    assert main(["analyze", str(tmp_path)]) == 1
    text = capsys.readouterr().out
    assert text.startswith("chunkscope: 16 of 16 streams did not complete")
    assert "[idle-timeout]" in text
    assert "[closed-after-last-byte]" in text
    assert "x-request-id: req_" in text


async def test_concurrency_is_honoured_measured_at_the_server() -> None:
    chooser = MixedEndings([COMPLETE], gap=0.05)  # each stream lasts about 0.3 s
    async with trio.open_nursery() as nursery:
        info = await chooser.start(nursery)
        probe = Probe(ProbeOptions(capture=CaptureOptions(url=info.url), count=12, concurrency=3))
        await probe.run()
        nursery.cancel_scope.cancel()
    assert chooser.requests == 12
    assert probe.summary.complete == 12
    assert 2 <= chooser.max_open <= 3
    print(f"max concurrent connections seen by the server: {chooser.max_open} (-c 3)")


async def test_rate_is_honoured_measured_at_the_server() -> None:
    chooser = MixedEndings([COMPLETE])
    async with trio.open_nursery() as nursery:
        info = await chooser.start(nursery)
        probe = Probe(
            ProbeOptions(capture=CaptureOptions(url=info.url), count=5, concurrency=5, rate=5.0)
        )
        await probe.run()
        nursery.cancel_scope.cancel()
    assert chooser.requests == 5
    gaps = [b - a for a, b in zip(chooser.arrivals, chooser.arrivals[1:], strict=False)]
    # starts are 0.2 s apart; a request's own connect time may shift its arrival a little
    assert min(gaps) >= 0.1, gaps
    print("accept spacing at --rate 5:", ", ".join(f"{g:.3f}" for g in gaps))


async def test_n_bounds_the_run() -> None:
    chooser = MixedEndings([COMPLETE, CUT_AFTER_DONE])
    async with trio.open_nursery() as nursery:
        info = await chooser.start(nursery)
        probe = Probe(ProbeOptions(capture=CaptureOptions(url=info.url), count=7, concurrency=4))
        await probe.run()
        await trio.sleep(0.2)  # anything more would have arrived by now
        nursery.cancel_scope.cancel()
    assert chooser.requests == 7
    assert probe.summary.streams == 7
    assert probe.progress.stopped is None


async def test_max_time_bounds_the_run(tmp_path: Path) -> None:
    chooser = MixedEndings([STALL])
    async with trio.open_nursery() as nursery:
        info = await chooser.start(nursery)
        probe = Probe(
            ProbeOptions(
                capture=CaptureOptions(url=info.url, idle_timeout=None),
                count=1000,
                concurrency=2,
                max_time=1.0,
                directory=str(tmp_path),
                keep="all",
            )
        )
        await probe.run()
        nursery.cancel_scope.cancel()
    assert probe.progress.stopped == "max-time"
    assert probe.progress.started == 2 == chooser.requests
    # the streams running at the deadline ended by themselves, as timeouts with an end record
    assert probe.summary.streams == 2
    assert probe.progress.unfinished == 0
    row = probe.summary.to_dict()["rows"][0]
    assert (row["verdict"], row["close"]) == ("truncated", "timeout")
    assert len(_captures(tmp_path)) == 2
    assert main(["analyze", str(tmp_path), "--json"]) == 1


async def test_a_refused_connection_is_a_not_connected_row() -> None:
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        probe = Probe(
            ProbeOptions(capture=CaptureOptions(url=f"http://127.0.0.1:{port}/"), count=3)
        )
        await probe.run()
    summary = probe.summary.to_dict()
    assert summary["not_connected"] == 3
    assert probe.summary.exit_code == 3
    (row,) = summary["rows"]
    assert (row["verdict"], row["error"], row["count"]) == ("not-connected", "connect", 3)
    assert "refused" in row["errors"][0]["reason"].lower()


async def test_a_bad_request_stops_the_probe_with_a_usage_error() -> None:
    probe = Probe(
        ProbeOptions(capture=CaptureOptions(url="ftp://127.0.0.1/"), count=5, concurrency=2)
    )
    with pytest.raises(UsageError, match="unsupported URL scheme"):
        await probe.run()


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("count", 0, "-n wants at least 1"),
        ("concurrency", 0, "-c wants at least 1"),
        ("rate", 0.0, "--rate wants a positive"),
        ("max_time", -1.0, "--max-time wants a positive"),
        ("keep", "some", "--keep wants one of"),
    ],
)
def test_bad_probe_options_are_usage_errors(field: str, value: object, match: str) -> None:
    kwargs: dict[str, Any] = {"capture": CaptureOptions(url="http://127.0.0.1:1/"), "count": 1}
    kwargs[field] = value
    with pytest.raises(UsageError, match=match):
        ProbeOptions(**kwargs)


def test_the_mix_helper_is_what_the_issue_describes() -> None:
    mix = mix_of_40()
    assert (mix.count(COMPLETE), mix.count(CUT_AFTER_DONE)) == (24, 8)
    assert (mix.count(RESET_MID_CHUNK), mix.count(STALL)) == (4, 4)


async def test_over_tls_each_stream_is_a_real_tls_capture() -> None:
    pair = tls_pair()
    chooser = MixedEndings([COMPLETE, CUT_AFTER_DONE])
    async with trio.open_nursery() as nursery:
        info: ServerInfo = await nursery.start(
            partial(serve, chooser, ssl_context=pair.server_context)
        )
        chooser.info = info
        probe = Probe(
            ProbeOptions(
                capture=CaptureOptions(url=info.url, ssl_context=pair.client_context),
                count=6,
                concurrency=3,
            )
        )
        await probe.run()
        nursery.cancel_scope.cancel()
    rows = _rows(probe.summary.to_dict())
    # the replay server ends TLS without close_notify for "fin"
    assert {k: r["count"] for k, r in rows.items()} == {
        ("complete", None, "tls-no-close-notify"): 3,
        ("truncated", "chunk-boundary", "tls-no-close-notify"): 3,
    }
