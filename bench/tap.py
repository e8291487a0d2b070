"""What the tap costs a client: throughput of a large SSE stream, and added latency per event.

Three parties on 127.0.0.1: a plain-HTTP server in threads of this process (blocking
sockets, so it is never the bottleneck), the installed ``chunkscope tap`` as a whole process
of its own (recording every exchange to a capture file, as users run it), and a bare trio
receive loop as the client. Each measurement runs direct (client -> server) and through the
tap (client -> tap -> server) in the same run. The bare-loop throughput also runs through
bench/bare_relay.py, a trio relay that only copies bytes (a process of its own, as the tap
is): what any trio relay reaches here, the ceiling for the tap's ratio.

  throughput  a chunked SSE stream of realistic 162-byte events (one chunk each; --event-bytes
              for larger ones: the tap analyses every event, so its cost is per event), written
              in 1 MiB blocks; MB/s direct and through the tap, median of --runs runs each
              (alternating), and the median of the per-pair ratios; twice: with the bare
              loop as the client (the strictest baseline: it does nothing with the bytes) and
              with httpx + httpx-sse decoding every event (as an application consumes a stream)
  latency     --events small events, one every 10 ms, to two clients at once (one direct, one
              through the tap); each event carries the server's send time (time.monotonic,
              one clock for every process on Linux), so each arrival gives one latency per
              path; printed: median and p99 of the per-event difference tap - direct

    python bench/tap.py                 # 64 MiB stream, 3 runs; 300 events
    python bench/tap.py --quick         # 16 MiB, 1 run; 100 events

The machine's load shows in every figure: compare ratios, not absolute times.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import trio

RELAY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bare_relay.py")


def sse_event(size: int) -> bytes:
    """An Assistants-style delta event of about ``size`` bytes (162 at the smallest)."""
    text = b" tokens" + b"x" * max(0, size - 162)
    return (
        b'event: thread.message.delta\ndata: {"id":"msg_abc123","object":"thread.message.delta",'
        b'"delta":{"content":[{"index":0,"type":"text","text":{"value":"%s"}}]}}\n\n' % text
    )


HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
    b"Connection: close\r\n\r\n"
)


class Server:
    """Answers ``GET /bulk`` with ``total`` bytes of SSE, ``GET /tick`` with timed small events."""

    def __init__(self, total: int, events: int, event: bytes) -> None:
        chunk = b"%x\r\n%s\r\n" % (len(event), event)
        self.block = chunk * max(1, (1 << 20) // len(chunk))
        self.blocks = max(1, total // len(self.block))
        self.events = events
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def bulk_bytes(self) -> int:
        return len(HEAD) + self.blocks * len(self.block) + 5

    def _accept(self) -> None:
        while True:
            conn, _ = self.sock.accept()
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                more = conn.recv(65536)
                if not more:
                    return
                data += more
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.sendall(HEAD)
            if data.startswith(b"GET /bulk"):
                # GET /bulk/N: N MiB instead of the whole stream
                path = data.split(b" ", 2)[1]
                blocks = self.blocks if path == b"/bulk" else int(path.rsplit(b"/", 1)[1])
                for _ in range(blocks):
                    conn.sendall(self.block)
            else:
                start = time.monotonic()
                for i in range(self.events):
                    delay = start + i * 0.010 - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    event = b"event: tick\ndata: %d %.9f\n\n" % (i, time.monotonic())
                    conn.sendall(b"%x\r\n%s\r\n" % (len(event), event))
            conn.sendall(b"0\r\n\r\n")


async def bulk(port: int) -> tuple[int, float]:
    """Receive ``GET /bulk`` to the end; bytes and seconds."""
    start = time.perf_counter()
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(b"GET /bulk HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
    total = 0
    while data := await stream.receive_some(1 << 20):
        total += len(data)
    await stream.aclose()
    return total, time.perf_counter() - start


async def ticks(port: int, latencies: dict[int, float]) -> None:
    """Receive ``GET /tick``; for each event, arrival time minus the server's send time."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(b"GET /tick HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
    pending = b""
    while data := await stream.receive_some(65536):
        now = time.monotonic()
        pending += data
        while (start := pending.find(b"data: ")) >= 0 and (end := pending.find(b"\n", start)) > 0:
            number, sent = pending[start + 6 : end].split()
            latencies[int(number)] = now - float(sent)
            pending = pending[end:]
    await stream.aclose()


async def sse_client(port: int, mib: int) -> tuple[int, float]:
    """An SSE client as applications run one (httpx + httpx-sse); events and seconds."""
    import httpx
    from httpx_sse import aconnect_sse

    start = time.perf_counter()
    events = 0
    async with (
        httpx.AsyncClient(timeout=120) as client,
        aconnect_sse(client, "GET", f"http://127.0.0.1:{port}/bulk/{mib}") as source,
    ):
        async for _ in source.aiter_sse():
            events += 1
    return events, time.perf_counter() - start


def start_tap(upstream: str, directory: str) -> tuple[subprocess.Popen[str], int]:
    return start_listener([sys.executable, "-m", "chunkscope", "tap", upstream, "--dir", directory])


def start_listener(command: list[str]) -> tuple[subprocess.Popen[str], int]:
    """Start a relay whose first stdout line is its URL; the process and its port."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    threading.Thread(target=proc.stdout.read, daemon=True).start()  # drain the exchange lines
    return proc, port


def report_rates(
    client: str,
    rates: dict[str, list[float]],
    args: argparse.Namespace,
    size: int,
    unit: str,
    mib: int | None = None,
) -> None:
    ratios = [t / d for t, d in zip(rates["tap"], rates["direct"], strict=True)]
    print(
        f"throughput, {client}, {mib or args.mib} MiB SSE stream of {size}-byte events, median of "
        f"{args.runs}: direct {statistics.median(rates['direct']):.0f} {unit}, through the tap "
        f"{statistics.median(rates['tap']):.0f} {unit}; ratio {statistics.median(ratios):.2f}x "
        "(target >= 0.6x)"
    )
    if "relay" in rates:
        relayed = [r / d for r, d in zip(rates["relay"], rates["direct"], strict=True)]
        print(
            f"    through bench/bare_relay.py (copies bytes, nothing else) "
            f"{statistics.median(rates['relay']):.0f} {unit}; ratio "
            f"{statistics.median(relayed):.2f}x: the ceiling for a trio relay here"
        )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=64, help="size of the bulk stream")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument(
        "--client-mib", type=int, default=4, help="stream size for the (slower) httpx-sse client"
    )
    parser.add_argument(
        "--event-bytes", type=int, default=162, help="size of each bulk SSE event (default 162)"
    )
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.mib, args.runs, args.events, args.client_mib = 16, 1, 100, 2
    event = sse_event(args.event_bytes)
    server = Server(args.mib << 20, args.events, event)
    with tempfile.TemporaryDirectory() as directory:
        tap, tap_port = start_tap(f"http://127.0.0.1:{server.port}/", directory)
        relay, relay_port = start_listener([sys.executable, RELAY, str(server.port)])
        try:
            for port in (tap_port, relay_port, server.port):  # warm-up of every path
                trio.run(bulk, port)
            rates: dict[str, list[float]] = {"direct": [], "tap": [], "relay": []}
            paths = (("direct", server.port), ("tap", tap_port), ("relay", relay_port))
            for _ in range(args.runs):
                for name, port in paths:
                    total, seconds = trio.run(bulk, port)
                    assert total == server.bulk_bytes, (name, total, server.bulk_bytes)
                    rates[name].append(total / seconds / 1e6)
            report_rates("bare trio socket loop", rates, args, len(event), "MB/s")
            rates = {"direct": [], "tap": []}
            for _ in range(args.runs):
                for name, port in (("direct", server.port), ("tap", tap_port)):
                    events, seconds = trio.run(sse_client, port, args.client_mib)
                    rates[name].append(events / seconds / 1e3)
            report_rates(
                "httpx + httpx-sse client", rates, args, len(event), "k events/s", args.client_mib
            )

            direct_latency: dict[int, float] = {}
            tap_latency: dict[int, float] = {}

            async def both() -> None:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(ticks, server.port, direct_latency)
                    nursery.start_soon(ticks, tap_port, tap_latency)

            trio.run(both)
            common = sorted(set(direct_latency) & set(tap_latency))
            added = [(tap_latency[i] - direct_latency[i]) * 1e3 for i in common]
            print(
                f"latency, {len(common)} events 10 ms apart: direct median "
                f"{statistics.median(direct_latency.values()) * 1e3:.3f} ms, through the tap "
                f"{statistics.median(tap_latency.values()) * 1e3:.3f} ms; added per event: median "
                f"{statistics.median(added):.3f} ms (target < 1), p99 {percentile(added, 0.99):.3f} ms "
                "(target < 5)"
            )
        finally:
            relay.kill()
            relay.wait(timeout=30)
            tap.send_signal(signal.SIGTERM)
            tap.wait(timeout=30)
    print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
