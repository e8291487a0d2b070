"""core/summary.py: outcome rows, Wilson intervals, percentiles, clusters and identifiers."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chunkscope import analyze_capture
from chunkscope.core.summary import (
    StreamRecord,
    Summary,
    find_clusters,
    percentiles,
    record_from_error,
    sse_outcome,
    wilson_interval,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def test_wilson_interval_matches_the_formula() -> None:
    low, high = wilson_interval(16, 40)
    assert low == pytest.approx(0.2634, abs=1e-4)
    assert high == pytest.approx(0.5540, abs=1e-4)
    # no failure seen in 40 is still compatible with up to 8.8 %
    assert wilson_interval(0, 40) == (0.0, pytest.approx(0.0876, abs=1e-4))
    assert wilson_interval(40, 40) == (pytest.approx(0.9124, abs=1e-4), 1.0)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_percentiles_by_nearest_rank() -> None:
    stats = percentiles(range(1, 101))
    assert stats == {"n": 100, "p50": 50, "p90": 90, "p99": 99, "max": 100}
    assert percentiles([0.5]) == {"n": 1, "p50": 0.5, "p90": 0.5, "p99": 0.5, "max": 0.5}
    assert percentiles([]) is None
    # a value that occurred, never an interpolation
    assert percentiles([1.0, 2.0, 10.0])["p50"] == 2.0  # type: ignore[index]


def test_idle_bunching_at_60_s_is_an_idle_timeout() -> None:
    idle = [59.9, 60.0, 60.1, 60.05, 59.95, 60.2]  # nginx / HAProxy: within 0.2 s
    (cluster,) = find_clusters(idle, [v + 3 for v in idle], "tls-close-notify")
    assert cluster.hint == "idle-timeout"
    assert (cluster.metric, cluster.count, cluster.of) == ("idle", 6, 6)
    assert "60.0 ± 0.2 s" in cluster.message
    assert "idle (read) timeout on the path or the server" in cluster.message


def test_a_proxy_timer_that_started_before_our_last_byte_arrived() -> None:
    # nginx proxy_read_timeout 1s, seen from the client: a little under 1 s of silence
    (cluster,) = find_clusters([0.981, 0.979, 0.9848, 0.97], [], "fin")
    assert cluster.hint == "idle-timeout"
    assert find_clusters([0.7, 0.71, 0.72], [], "fin")[0].hint is None


def test_squid_ticks_of_one_second_still_bunch() -> None:
    idle = [60.1, 60.4, 60.9, 60.6, 60.3]
    (cluster,) = find_clusters(idle, [], "fin")
    assert cluster.hint == "idle-timeout"


def test_our_own_idle_timeout_is_said_to_be_ours() -> None:
    (cluster,) = find_clusters([30.0, 30.01, 30.02], [], "timeout")
    assert cluster.hint == "idle-timeout"
    assert "chunkscope's own --idle-timeout" in cluster.message


def test_a_close_right_after_the_last_byte() -> None:
    (cluster,) = find_clusters([0.001, 0.004, 0.002, 0.03], [1.2, 5.0, 9.1, 3.3], "fin")
    assert cluster.hint == "closed-after-last-byte"
    assert cluster.count == 4


def test_scattered_values_are_no_cluster() -> None:
    assert find_clusters([1.3, 7.9, 22.0, 40.0], [3.1, 12.0, 33.0, 70.0], "fin") == []


def test_a_minority_is_no_cluster() -> None:
    assert find_clusters([60.0, 60.1, 3.0, 17.0, 41.0], [], "fin") == []


def test_a_bunch_away_from_a_round_figure_is_named_without_a_hint() -> None:
    (cluster,) = find_clusters([37.3, 37.35, 37.4], [], "fin")
    assert cluster.hint is None
    assert "silent for 37.350" in cluster.message


def test_durations_bunching_at_a_round_figure() -> None:
    (cluster,) = find_clusters(
        [0.1, 0.4, 0.9, 2.0], [100.0, 100.1, 99.9, 100.05], "tls-no-close-notify"
    )
    assert (cluster.metric, cluster.hint, cluster.count) == ("duration", None, 4)
    assert "100.0 ±" in cluster.message


def test_sse_outcome_is_the_provider_aware_outcome() -> None:
    report = analyze_capture(str(FIXTURES / "assistants-cut-after-done.capture"))
    assert sse_outcome(report.sse) == "completed"
    assert sse_outcome(None) is None


def test_records_from_capture_files_carry_ids_of_failed_streams_only() -> None:
    summary = Summary()
    cut = summary.add_report(
        analyze_capture(str(FIXTURES / "assistants-cut-after-done.capture")), "cut.capture"
    )
    whole = summary.add_report(
        analyze_capture(str(FIXTURES / "assistants-complete.capture")), "whole.capture"
    )
    assert (cut.verdict, cut.problem, cut.close, cut.sse) == (
        "truncated",
        "chunk-boundary",
        "tls-no-close-notify",
        "completed",
    )
    assert dict(cut.identifiers) == {
        "openai-processing-ms": "412",
        "x-request-id": "req_5f0c2a9e1b7d4c3a8e6f0b1d2c3e4f5a",
        "cf-ray": "8e5f1c2d3a4b5c6d-FRA",
    }
    assert whole.complete
    assert whole.identifiers == ()
    data = summary.to_dict()
    assert [item["path"] for item in data["identifiers"]] == ["cut.capture"]
    assert data["streams"] == 2
    assert data["failed"] == 1
    assert {(r["verdict"], r["example"]) for r in data["rows"]} == {
        ("truncated", "cut.capture"),
        ("complete", "whole.capture"),
    }


def test_exit_codes() -> None:
    summary = Summary()
    assert summary.exit_code == 1  # nothing finished is not success
    summary.add(record_from_error("connect", "cannot connect: Connection refused"))
    assert summary.exit_code == 3
    done = StreamRecord("complete", None, "fin", None, True)
    summary.add(done)
    assert summary.exit_code == 1
    only_complete = Summary()
    only_complete.add(done)
    assert only_complete.exit_code == 0


def test_forgetting_a_removed_example() -> None:
    summary = Summary()
    summary.add(StreamRecord("complete", None, "fin", "complete", True, path="a.capture"))
    summary.forget_path("a.capture")
    assert summary.to_dict()["rows"][0]["example"] is None


_RECORD = StreamRecord("truncated", "chunk-boundary", "fin", "complete", False)
_records = st.lists(
    st.builds(
        lambda verdict, close, idle: replace(_RECORD, verdict=verdict, close=close, idle=idle),
        st.sampled_from(["complete", "truncated", "malformed"]),
        st.sampled_from(["fin", "reset", "timeout"]),
        st.floats(0, 120, allow_nan=False),
    ),
    max_size=30,
)


@settings(max_examples=50, deadline=None)
@given(_records, st.randoms(use_true_random=False))
def test_the_summary_does_not_depend_on_the_order_streams_finish(
    records: list[StreamRecord], rnd: Any
) -> None:
    one, other = Summary(), Summary()
    for record in records:
        one.add(record)
    shuffled = list(records)
    rnd.shuffle(shuffled)
    for record in shuffled:
        other.add(record)
    assert one.to_dict() == other.to_dict()
    assert sum(r["count"] for r in one.to_dict()["rows"]) == len(records)
