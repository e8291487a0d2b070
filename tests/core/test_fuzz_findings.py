"""What the fuzz suite (tests/test_fuzz.py) found, kept as fast regression tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from fuzz.invariants import check_analyzer

# Bytes that do not start like an HTTP response: fed whole, the head reader reports a bare
# LF further on; when the first bytes arrive alone it reports the missing "HTTP/" at byte 1.
NOT_HTTP = (
    b"H)TTP\xff\xff\xff\xff 200 OKHT\x00\x00\x00\x00\x00\x00\x00\nTP/1.1 200 OK\r\nX: y\r\n\r\n"
)


@pytest.mark.parametrize(("data", "cuts"), [(NOT_HTTP, [9]), (b"\x00\n", [1])])
def test_a_non_http_start_is_found_at_the_same_place_for_any_split(
    data: bytes, cuts: list[int]
) -> None:
    check_analyzer(data, cuts)


def test_fixture_prefixes_split_anywhere_give_the_same_findings() -> None:
    data = (
        Path(__file__).resolve().parents[2] / "fixtures" / "assistants-cut-after-done.raw"
    ).read_bytes()
    for cut in range(0, len(data), 97):
        check_analyzer(data[: cut + 300], [cut, cut + 1, cut + 150])
