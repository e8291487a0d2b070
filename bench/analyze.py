"""Throughput of chunkscope's chunked framing against h11 on the same bytes, in one run.

Framing only: the body is labelled application/octet-stream, so the SSE
decoder does not run. The SSE path (what chunkscope mostly sees) is measured
by bench/sse.py, and live capture of SSE bodies by bench/capture.py.

Both parsers get the same response split into the same reads (64 KiB by
default, like a socket receive loop). h11 drains every event (as httpx does);
chunkscope records every chunk (``max_chunks_kept=None``) with strict parsing.
Absolute numbers are noise on shared machines; the ratio is the result.

    python bench/analyze.py              # all chunk sizes
    python bench/analyze.py --quick      # smaller inputs
    python bench/analyze.py --raw-file   # also whole `chunkscope analyze --raw` processes
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import h11

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from chunkscope.core.analyzer import Analyzer

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
SIZES = [(1, 300_000), (16, 300_000), (256, 200_000), (4096, 20_000), (65536, 1_500)]

H11_SCRIPT = r"""
import sys, h11
data = open(sys.argv[1], "rb").read()
conn = h11.Connection(our_role=h11.CLIENT)
conn.send(h11.Request(method="GET", target="/", headers=[("Host", "bench")]))
conn.send(h11.EndOfMessage())
chunks = 0
view = memoryview(data)
for start in range(0, len(data), 65536):
    conn.receive_data(bytes(view[start:start + 65536]))
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            break
        if type(event) is h11.Data:
            chunks += 1
        if type(event) is h11.EndOfMessage:
            break
print(chunks)
"""


def make_stream(size: int, count: int) -> bytes:
    line = f"{size:x}\r\n".encode() + b"x" * size + b"\r\n"
    return HEAD + line * count + b"0\r\n\r\n"


def split(data: bytes, read_size: int) -> list[bytes]:
    return [data[i : i + read_size] for i in range(0, len(data), read_size)]


def run_h11(reads: list[bytes]) -> int:
    conn = h11.Connection(our_role=h11.CLIENT)
    conn.send(h11.Request(method="GET", target="/", headers=[("Host", "bench")]))
    conn.send(h11.EndOfMessage())
    events = 0
    for read in reads:
        conn.receive_data(read)
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                break
            events += 1
            if type(event) is h11.EndOfMessage:
                break
    return events


def run_chunkscope(reads: list[bytes]) -> int:
    analyzer = Analyzer(max_chunks_kept=None)
    for i, read in enumerate(reads):
        analyzer.feed(read, i * 1e-6)
    report = analyzer.close("fin", 1.0)
    assert report.verdict.value == "complete", report.problem
    return report.chunk_count


def best_of(fn: object, reads: list[bytes], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn(reads)  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best


def bench_in_process(quick: bool, repeat: int, read_size: int) -> None:
    print(f"in-process, {read_size} B reads, best of {repeat}")
    print(
        f"{'chunk':>7} {'chunks':>8} {'h11 MB/s':>9} {'h11 kch/s':>10} {'cs MB/s':>9} {'cs kch/s':>10} {'ratio':>6}"
    )
    for size, count in SIZES:
        if quick:
            count = max(count // 10, 100)
        data = make_stream(size, count)
        reads = split(data, read_size)
        t_h11 = best_of(run_h11, reads, repeat)
        t_cs = best_of(run_chunkscope, reads, repeat)
        mb = len(data) / 1e6
        print(
            f"{size:>7} {count:>8} {mb / t_h11:>9.1f} {count / t_h11 / 1e3:>10.1f}"
            f" {mb / t_cs:>9.1f} {count / t_cs / 1e3:>10.1f} {t_h11 / t_cs:>5.1f}x"
        )


def bench_processes(quick: bool) -> None:
    print(
        "\nwhole processes: `chunkscope analyze --raw FILE` vs a python script parsing FILE with h11"
    )
    print(f"{'chunk':>7} {'MB':>7} {'h11 s':>7} {'cs s':>7} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        script = os.path.join(tmp, "h11_parse.py")
        with open(script, "w") as f:
            f.write(H11_SCRIPT)
        for size, count in [(16, 1_000_000), (256, 400_000), (65536, 3_000)]:
            if quick:
                count //= 10
            path = os.path.join(tmp, f"stream-{size}.raw")
            with open(path, "wb") as f:
                f.write(make_stream(size, count))
            mb = os.path.getsize(path) / 1e6

            def timed(cmd: list[str]) -> float:
                start = time.perf_counter()
                subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL)
                return time.perf_counter() - start

            t_h11 = timed([sys.executable, script, path])
            t_cs = timed([sys.executable, "-m", "chunkscope", "analyze", "--raw", path])
            print(f"{size:>7} {mb:>7.1f} {t_h11:>7.2f} {t_cs:>7.2f} {t_h11 / t_cs:>5.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="inputs 10x smaller")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--read-size", type=int, default=65536)
    parser.add_argument("--raw-file", action="store_true", help="also time whole processes")
    args = parser.parse_args()
    bench_in_process(args.quick, args.repeat, args.read_size)
    if args.raw_file:
        bench_processes(args.quick)


if __name__ == "__main__":
    main()
