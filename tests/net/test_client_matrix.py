"""Every row of "How clients report this" is what the real client or SDK says, measured.

For each way a stream can stop (tests/support/stops.py) and each way the connection can then
end, over TLS and over plain TCP, chunkscope captures the served stream to get its report, and
every client runs against the same server: its exception text (or "no error", with the body it
kept) must match the report's row for it. Stalls end at a short read timeout (1.5 s; curl -m 3).
In-process clients run in parallel threads; SDKs run as processes, one per row in the default
suite (the field failure) and over the whole grid with ``-m slow``.
"""

from __future__ import annotations

import re

import pytest
import trio
from support.clients import CLIENTS, SDK_CLIENTS, Outcome, run_sdk_client
from support.stops import STOPS, closes, script

import chunkscope
from chunkscope.core.client_messages import EMPTY_MESSAGE, client_messages
from chunkscope.testing import serving

# A stall ends at the clients' read timeout; every other ending must come first, however
# loaded the machine, so those cells get a timeout that never fires.
STALL_TIMEOUT = 1.5


def read_timeout(close: str) -> float:
    return STALL_TIMEOUT if close == "stall" else 20.0


# client name in the table -> runner name in support/clients.py
TABLE_NAMES = {
    "httpx": "httpx",
    "httpx async": "httpx async",
    "httpx2": "httpx2",
    "httpx2 async": "httpx2 async",
    "requests / urllib3": "requests",
    "aiohttp": "aiohttp",
    "curl": "curl",
}
SDK_ROWS = {
    "openai-2.6.1": "openai-python <= 2.6",
    "openai-2.54.0": "openai-python 2.7+",
    "openai-3.57.0": "openai-python 3.x",
    "anthropic-0.125.0": "anthropic 0.x (httpx)",
    "anthropic-2.14.0": "anthropic 2.x (httpx2)",
}


def _fragments_in_order(expected: str, observed: str) -> bool:
    position = 0
    for fragment in expected.split("..."):
        fragment = fragment.strip(" ,()'\"")
        if not fragment:
            continue
        found = observed.find(fragment, position)
        if found < 0:
            return False
        position = found + len(fragment)
    return True


def matches(expected: str, outcome: Outcome) -> bool:
    """Whether a table row says what the client did (see the conventions in client_messages)."""
    if "; or, " in expected:  # the client does one or the other, depending on read boundaries
        return any(matches(alternative, outcome) for alternative in expected.split("; or, "))
    hang = re.search(r"hands over the (\d+) body bytes before it and hangs", expected)
    if hang:
        return outcome.text.startswith("builtins.TimeoutError") and outcome.body == int(
            hang.group(1)
        )
    if expected.startswith("no error"):
        kept = re.search(r"keeps (?:the|a short body of) (\d+)", expected)
        return outcome.text == "ok" and (kept is None or int(kept.group(1)) == outcome.body)
    if " (from " in expected:  # an SDK's wrapper, then the HTTP client's text in __cause__
        wrapper, _, cause = expected.partition(" (from ")
        return (
            outcome.text.rstrip() == wrapper
            and outcome.cause is not None
            and matches(cause[:-1], Outcome(outcome.cause, outcome.body))
        )
    if expected.endswith(" (hands over no body byte)"):
        if outcome.body != 0:
            return False
        expected = expected.removesuffix(" (hands over no body byte)")
    if expected.endswith(EMPTY_MESSAGE):
        return outcome.text.rstrip() == expected.removesuffix(EMPTY_MESSAGE).rstrip()
    if "..." not in expected:
        return outcome.text == expected
    return _fragments_in_order(expected, outcome.text)


# Over TLS (the field's configuration) in the default suite; over plain TCP with -m slow.
CELLS = [
    pytest.param(
        stop, tls, marks=() if tls else pytest.mark.slow, id=f"{stop}-{'tls' if tls else 'tcp'}"
    )
    for stop in STOPS
    for tls in (False, True)
]


async def _cell(stop: str, tls: bool, close: str, failures: list[str], checked: list[str]) -> None:
    async with serving(script(stop, close), tls=tls) as server:
        observed: dict[str, Outcome] = {}

        async def run(name: str) -> None:
            observed[name] = await trio.to_thread.run_sync(
                CLIENTS[name], server.url, server.ca_pem, read_timeout(close)
            )

        # The clients first: aiohttp in a worker thread was seen to hang when it ran after a
        # capture of a malformed stream in the same process (not understood yet; curl did not)
        async with trio.open_nursery() as nursery:
            for name in CLIENTS:
                nursery.start_soon(run, name)
        report = await chunkscope.capture(
            server.url, ssl_context=server.ssl_context, idle_timeout=read_timeout(close)
        )
        rows = dict(client_messages(report))
    where = f"{stop} {'TLS' if tls else 'TCP'} {close} ({report.verdict.value}, {report.close.kind.value})"
    if report.verdict.value == "complete":
        if rows:
            failures.append(f"{where}: a complete response has client rows {rows}")
        for name, outcome in observed.items():
            if outcome.text != "ok":
                failures.append(f"{where}: {name} raised on a complete response: {outcome.text}")
        return
    if not rows:
        failures.append(f"{where}: no client rows")
        return
    for row, name in TABLE_NAMES.items():
        expected = rows.get(row)
        if expected is None:
            if observed[name].text != "ok":
                continue  # a client the table leaves out for this case
            continue
        checked.append(f"{where} {row}")
        if not matches(expected, observed[name]):
            failures.append(f"{where}: {row}: table says {expected!r}, client did {observed[name]}")


@pytest.mark.parametrize(("stop", "tls"), CELLS)
async def test_table_matches_real_clients(stop: str, tls: bool) -> None:
    failures: list[str] = []
    checked: list[str] = []
    async with trio.open_nursery() as nursery:
        for close in closes(tls):
            nursery.start_soon(_cell, stop, tls, close, failures, checked)
    assert not failures, "\n".join(failures)
    if stop != "complete":
        assert checked


def _sdk_cell(sdk: str, stop: str, tls: bool, close: str) -> list[str]:
    family = "anthropic" if sdk.startswith("anthropic") else "openai"

    async def main() -> list[str]:
        async with serving(script(stop, close, family), tls=tls) as server:
            report = await chunkscope.capture(
                server.url, ssl_context=server.ssl_context, idle_timeout=read_timeout(close)
            )
            outcome = await trio.to_thread.run_sync(
                run_sdk_client, sdk, server.url, server.ca_pem, read_timeout(close)
            )
        rows = dict(client_messages(report))
        where = f"{sdk} {stop} {'TLS' if tls else 'TCP'} {close}"
        if report.verdict.value == "complete":
            return (
                [] if outcome.text == "ok" else [f"{where}: raised on a complete stream: {outcome}"]
            )
        expected = rows.get(SDK_ROWS[sdk])
        if expected is None:
            return [f"{where}: no row for {SDK_ROWS[sdk]} in {rows}"]
        return (
            []
            if matches(expected, outcome)
            else [f"{where}: table says {expected!r}, SDK did {outcome}"]
        )

    return trio.run(main)


@pytest.mark.parametrize("sdk", sorted(SDK_CLIENTS))
def test_sdk_row_for_the_field_failure(sdk: str) -> None:
    # every event, then a cut where the last-chunk belongs, TLS without close_notify
    assert _sdk_cell(sdk, "after-terminal", True, "tls-no-close-notify") == []


SDK_STOPS = ("complete", "after-terminal", "between-events", "chunk-data", "chunk-size", "trailers")


@pytest.mark.slow
@pytest.mark.parametrize("sdk", sorted(SDK_CLIENTS))
def test_sdk_rows_over_the_whole_grid(sdk: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    cells = [
        (stop, tls, close) for stop in SDK_STOPS for tls in (False, True) for close in closes(tls)
    ]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda cell: _sdk_cell(sdk, *cell), cells))
    failures = [f for result in results for f in result]
    assert not failures, "\n".join(failures)
