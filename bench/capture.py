"""Loopback TLS receive throughput: bare trio loop vs chunkscope capture vs httpx, in one run.

One fast TLS server (Python ssl sockets in a thread, writing 1 MiB blocks, so
the server is not the bottleneck) serves a chunked response -- an SSE body
(``text/event-stream``, so chunkscope runs its SSE decoder) in the primary
cases, an octet-stream body in the others; clients receive it:

  (a) a bare trio SSLStream receive loop (the baseline: the least a trio client can do)
  (b) chunkscope capture, recording every read to a capture file and analyzing it
  (c) httpx streaming the body (h11 underneath)

(a), (b) and (c) also run as whole processes (the installed `chunkscope
capture -o FILE` for (b)), compared with each other, each with its bytecode
cached as an installed program has it (see process_env). Two more lines say
where (b)'s time goes: chunkscope capture without -o (receive and analysis
only), and (w), a plain write() loop putting the same number of bytes into a
new file in the same directory (what recording costs on this machine, before
any capture logic).

The clients take turns: --runs rounds, each running every client once (which
one starts moves on by one each round), after a warm-up round. MB/s are the
median of each client's runs; ratios against (a) and (c) are the median of
the per-round ratios, so that the machine's drift over a run (large on a VM)
falls on both sides of each.

    python bench/capture.py                  # SSE: 50 MiB of Assistants deltas, 64 MiB of tiny
                                             # events; then 256 MiB in 16 KiB, 16 MiB in 64 B chunks
    python bench/capture.py --quick          # 1/8 of that
    python bench/capture.py --only tiny      # one case
    python bench/capture.py --rss-gib 1      # also: peak RSS of a whole-process 1 GiB SSE capture
"""

from __future__ import annotations

import argparse
import os
import socket
import ssl
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable

import trio
import trustme

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from bare_trio import bare_trio
from peak_rss import run_measured

from chunkscope.net.client import CaptureOptions, run_capture

BARE_PROCESS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bare_trio.py")


def assistants_event(i: int) -> bytes:
    """One Assistants API ``thread.message.delta`` event (~172 bytes), as bench/sse.py has it."""
    data = (
        '{"id":"msg_abc123","object":"thread.message.delta","delta":{"content":'
        f'[{{"index":0,"type":"text","text":{{"value":" token{i % 1000:03d}"}}}}]}}}}'
    )
    return f"event: thread.message.delta\ndata: {data}\n\n".encode()


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class FastServer:
    """TLS server in a thread: answers every request with the same chunked body.

    ``body``: ``octet`` (``x`` bytes in ``chunk_size`` chunks,
    application/octet-stream), ``assistants`` (text/event-stream, one ~172 B
    ``thread.message.delta`` event per chunk) or ``tiny`` (text/event-stream,
    23-byte ``data:`` events in ``chunk_size`` chunks, spanning them). SSE
    bodies end with ``event: done`` / ``data: [DONE]``.
    """

    def __init__(self, chunk_size: int, total: int, ca: trustme.CA, body: str = "octet") -> None:
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(self.ctx)
        self.content_type = b"application/octet-stream"
        self.last = b""
        if body == "octet":
            one = chunk(b"x" * chunk_size)
            per_block = max(1, (1 << 20) // len(one))
            self.block = one * per_block
            block_body = per_block * chunk_size
        else:
            self.content_type = b"text/event-stream"
            self.last = chunk(b"event: done\ndata: [DONE]\n\n")
            if body == "assistants":
                events = [assistants_event(i) for i in range(6000)]  # ~1 MiB
            else:
                events = [b"data: 0123456789abcde\n\n"] * ((1 << 20) // 23)
            data = b"".join(events)
            if body == "assistants":
                self.block = b"".join(chunk(e) for e in events)
            else:
                self.block = b"".join(
                    chunk(data[i : i + chunk_size]) for i in range(0, len(data), chunk_size)
                )
            block_body = len(data)
        self.blocks = max(1, total // block_body)
        self.body_bytes = self.blocks * block_body
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            conn, _ = self.sock.accept()
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            tls = self.ctx.wrap_socket(conn, server_side=True)
            data = b""
            while b"\r\n\r\n" not in data:
                more = tls.recv(65536)
                if not more:
                    return
                data += more
            tls.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\n\r\n"
                % self.content_type
            )
            for _ in range(self.blocks):
                tls.sendall(self.block)
            tls.sendall(self.last + b"0\r\n\r\n")
            tls.unwrap()
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()


async def chunkscope_capture(port: int, ctx: ssl.SSLContext, out: str | None) -> int:
    report = await run_capture(
        CaptureOptions(
            url=f"https://127.0.0.1:{port}/", ssl_context=ctx, output=out, idle_timeout=30
        )
    )
    assert report.verdict.value == "complete", report.problem
    return report.received_bytes


def httpx_stream(port: int, ca_pem: str) -> int:
    import httpx

    total = 0
    verify = ssl.create_default_context(cafile=ca_pem)
    with (
        httpx.Client(verify=verify) as client,
        client.stream("GET", f"https://127.0.0.1:{port}/") as response,
    ):
        for data in response.iter_raw(65536):
            total += len(data)
    return total


def write_loop(path: str, total: int) -> int:
    """A plain write() loop of ``total`` bytes into a new file: the machine's cost of recording."""
    block = b"x" * 65536
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for _ in range(total // len(block)):
            os.write(fd, block)
    finally:
        os.close(fd)
        os.unlink(path)
    return total // len(block) * len(block)


HTTPX_SCRIPT = """
import ssl, sys, httpx
ctx = ssl.create_default_context(cafile=sys.argv[2])
total = 0
with httpx.Client(verify=ctx) as client, client.stream("GET", sys.argv[1]) as response:
    for data in response.iter_raw(65536):
        total += len(data)
print(total)
"""


def process_env(bytecode_dir: str) -> dict[str, str]:
    """The environment of every whole process: bytecode cached, as an installed program runs.

    pip compiles an installed package's bytecode; an editable checkout
    writes it on first import, unless PYTHONDONTWRITEBYTECODE is set, and
    then every chunkscope process would compile chunkscope's modules (about
    20 ms) while trio and httpx come precompiled. All three clients' warm-up
    runs fill the same cache directory.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = bytecode_dir
    return env


def process(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Seconds and peak RSS (MiB, the process's own: see bench/peak_rss.py); it must exit 0."""
    run = run_measured(argv, env)
    assert run.returncode == 0, (argv[:4], run.returncode, run.stderr[-500:])
    return run.seconds, run.peak_mib


def capture_argv(port: int, ca_pem: str, out: str) -> list[str]:
    """``chunkscope capture -o FILE``: the installed command, else ``python -m chunkscope``."""
    script = os.path.join(os.path.dirname(sys.executable), "chunkscope")
    command = [script] if os.path.isfile(script) else [sys.executable, "-m", "chunkscope"]
    return [
        *command,
        "capture",
        f"https://127.0.0.1:{port}/",
        "--cacert",
        ca_pem,
        "-o",
        out,
    ]


def rounds(
    runs: int, clients: dict[str, tuple[Callable[[], object], Callable[[], None]]]
) -> dict[str, list[float]]:
    """Wall times of each client, in ``runs`` rounds after one warm-up round.

    Each round runs every client once (``after`` cleans up each run), the
    starting client moving on by one each round: on a VM whose speed drifts
    from one second to the next, clients measured in blocks of their own
    would compare different machines. Ratios are taken per round.
    """
    names = list(clients)
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(runs + 1):
        turn = i % len(names)
        for name in names[turn:] + names[:turn]:
            fn, after = clients[name]
            start = time.perf_counter()
            fn()
            elapsed = time.perf_counter() - start
            after()
            if i:
                times[name].append(elapsed)
    return times


def ratio(times: dict[str, list[float]], base: str, other: str) -> float:
    """The median over rounds of base's time over other's: other's speed in units of base's."""
    return statistics.median(b / o for b, o in zip(times[base], times[other], strict=True))


def run_case(
    chunk_size: int,
    total: int,
    ca: trustme.CA,
    ca_pem: str,
    tmp: str,
    runs: int,
    env: dict[str, str],
    body: str = "octet",
) -> None:
    server = FastServer(chunk_size, total, ca, body)
    port = server.port
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    out = os.path.join(tmp, "bench.capture")
    wire = trio.run(bare_trio, port, ctx)

    def remove() -> None:
        if os.path.exists(out):
            os.unlink(out)

    def nothing() -> None:
        pass

    def mbps(times: list[float]) -> str:
        return f"{wire / 1e6 / statistics.median(times):8.1f} MB/s"

    one = rounds(
        runs,
        {
            "a": (lambda: trio.run(bare_trio, port, ctx), nothing),
            "b": (lambda: trio.run(chunkscope_capture, port, ctx, out), remove),
            "n": (lambda: trio.run(chunkscope_capture, port, ctx, None), nothing),
            "c": (lambda: httpx_stream(port, ca_pem), nothing),
            "w": (lambda: write_loop(out, wire), nothing),
        },
    )
    rss = 0.0

    def capture_process() -> None:
        nonlocal rss
        rss = max(rss, process(capture_argv(port, ca_pem, out), env)[1])

    whole = rounds(
        runs,
        {
            "a": (lambda: process([sys.executable, BARE_PROCESS, str(port), ca_pem], env), nothing),
            "b": (capture_process, remove),
            "c": (
                lambda: process(
                    [sys.executable, "-c", HTTPX_SCRIPT, f"https://127.0.0.1:{port}/", ca_pem], env
                ),
                nothing,
            ),
        },
    )
    what = {
        "octet": f"{chunk_size} B chunks, application/octet-stream",
        "assistants": "SSE: ~172 B Assistants thread.message.delta events, one per chunk",
        "tiny": f"SSE: 23-byte data: events in {chunk_size} B chunks",
    }[body]
    print(f"\n{server.body_bytes / (1 << 20):.0f} MiB body, {what} ({wire} bytes on the wire)")
    print("  in one process:")
    print(f"    (a) bare trio SSLStream loop      {mbps(one['a'])}")
    print(
        f"    (b) chunkscope capture -o FILE    {mbps(one['b'])}   {ratio(one, 'a', 'b'):5.2f}x of (a)"
    )
    print(
        f"    (c) httpx streaming               {mbps(one['c'])}   (b) is {ratio(one, 'c', 'b'):5.2f}x (c)"
    )
    print("  as whole processes (interpreter start-up and imports included, bytecode cached):")
    print(f"    (a) bare trio SSLStream loop      {mbps(whole['a'])}")
    print(
        f"    (b) chunkscope capture -o FILE    {mbps(whole['b'])}   {ratio(whole, 'a', 'b'):5.2f}x of (a)"
        f"   peak RSS {rss:.0f} MiB"
    )
    print(
        f"    (c) httpx streaming               {mbps(whole['c'])}   (b) is {ratio(whole, 'c', 'b'):5.2f}x (c)"
    )
    print("  where (b)'s time goes, in one process:")
    print(
        f"    chunkscope capture, no -o         {mbps(one['n'])}   {ratio(one, 'a', 'n'):5.2f}x of (a)"
    )
    print(
        f"    (w) write() loop, same bytes      {mbps(one['w'])}   to a new file beside the capture"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1/8 of the default sizes")
    parser.add_argument("--runs", type=int, default=3, help="measured runs per client (median)")
    parser.add_argument(
        "--rss-gib",
        type=float,
        default=0,
        help="also capture a stream this large in 16 KiB chunks, whole process",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=["assistants", "tiny", "octet-16k", "octet-64"],
        help="run this case (repeatable; default all, SSE bodies first)",
    )
    parser.add_argument(
        "--rss-body",
        default="tiny",
        choices=["tiny", "assistants", "octet"],
        help="the body of the --rss-gib stream (default: tiny SSE events in 16 KiB chunks)",
    )
    args = parser.parse_args()
    scale = 8 if args.quick else 1
    ca = trustme.CA()
    with tempfile.TemporaryDirectory() as tmp:
        ca_pem = os.path.join(tmp, "ca.pem")
        ca.cert_pem.write_to_path(ca_pem)
        env = process_env(os.path.join(tmp, "bytecode"))
        cases = {
            "assistants": (172, 50 << 20, "assistants"),
            "tiny": (16384, 64 << 20, "tiny"),
            "octet-16k": (16384, 256 << 20, "octet"),
            "octet-64": (64, 16 << 20, "octet"),
        }
        for name in args.only or list(cases):
            chunk_size, total, body = cases[name]
            run_case(chunk_size, total // scale, ca, ca_pem, tmp, args.runs, env, body)
        if args.rss_gib:
            server = FastServer(16384, int(args.rss_gib * (1 << 30)), ca, args.rss_body)
            out = os.path.join(tmp, "big.capture")
            seconds, rss = process(capture_argv(server.port, ca_pem, out), env)
            size = server.body_bytes / (1 << 30)
            print(
                f"\nwhole-process capture of {size:.2f} GiB: {seconds:.1f} s, peak RSS {rss:.0f} MiB"
            )


if __name__ == "__main__":
    main()
