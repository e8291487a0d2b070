"""Loopback TLS receive throughput: bare trio loop vs chunkscope capture vs httpx, in one run.

One fast TLS server (Python ssl sockets in a thread, writing 1 MiB blocks, so
the server is not the bottleneck) serves a chunked response; three clients
receive it:

  (a) a bare trio SSLStream receive loop (the baseline: the most a trio client can do)
  (b) chunkscope capture, recording every read to a capture file and analyzing it
  (c) httpx streaming the body (h11 underneath)

plus (b) as a whole `chunkscope capture -o FILE` process, with its peak RSS.
Prints MB/s and ratios against (a) and (c) measured in the same run.

    python bench/capture.py                  # 256 MiB in 16 KiB chunks, 16 MiB in 64 B chunks
    python bench/capture.py --quick          # 1/8 of that
    python bench/capture.py --rss-gib 1      # also: peak RSS of a whole-process 1 GiB capture
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

import trio
import trustme

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from chunkscope._client import CaptureOptions, run_capture


class FastServer:
    """TLS server in a thread: answers every request with the same chunked body."""

    def __init__(self, chunk_size: int, total: int, ca: trustme.CA) -> None:
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(self.ctx)
        chunk = f"{chunk_size:x}\r\n".encode() + b"x" * chunk_size + b"\r\n"
        per_block = max(1, (1 << 20) // len(chunk))
        self.block = chunk * per_block
        self.blocks = max(1, total // (chunk_size * per_block))
        self.body_bytes = self.blocks * per_block * chunk_size
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
                b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            for _ in range(self.blocks):
                tls.sendall(self.block)
            tls.sendall(b"0\r\n\r\n")
            tls.unwrap()
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()


async def bare_trio(port: int, ctx: ssl.SSLContext) -> int:
    tcp = await trio.open_tcp_stream("127.0.0.1", port)
    stream = trio.SSLStream(tcp, ctx, server_hostname="127.0.0.1", https_compatible=False)
    await stream.send_all(b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
    total = 0
    while data := await stream.receive_some(65536):
        total += len(data)
    await trio.aclose_forcefully(stream)
    return total


async def chunkscope_capture(port: int, ctx: ssl.SSLContext, out: str) -> int:
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


HTTPX_SCRIPT = """
import ssl, sys, httpx
ctx = ssl.create_default_context(cafile=sys.argv[2])
total = 0
with httpx.Client(verify=ctx) as client, client.stream("GET", sys.argv[1]) as response:
    for data in response.iter_raw(65536):
        total += len(data)
print(total)
"""


def httpx_process(port: int, ca_pem: str) -> float:
    """Seconds for a whole python process streaming the body with httpx."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", HTTPX_SCRIPT, f"https://127.0.0.1:{port}/", ca_pem],
        stdout=subprocess.DEVNULL,
        check=True,
    )
    return time.perf_counter() - start


def timed(fn: object, *args: object) -> tuple[float, int]:
    start = time.perf_counter()
    n = fn(*args)  # type: ignore[operator]
    return time.perf_counter() - start, int(n)  # type: ignore[call-overload]


def whole_process(port: int, ca_pem: str, out: str) -> tuple[float, float]:
    """Seconds and peak RSS (MiB) of a `chunkscope capture -o FILE` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "chunkscope",
            "capture",
            f"https://127.0.0.1:{port}/",
            "--cacert",
            ca_pem,
            "-o",
            out,
        ],
        stdout=subprocess.DEVNULL,
        check=False,
    )
    elapsed = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert proc.returncode == 0, proc.returncode
    return elapsed, max(rss, before) / 1024


def run_case(
    chunk_size: int, total: int, ca: trustme.CA, ca_pem: str, tmp: str, with_httpx: bool
) -> None:
    server = FastServer(chunk_size, total, ca)
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    out = os.path.join(tmp, "bench.capture")
    t_a, n_a = timed(lambda: trio.run(bare_trio, server.port, ctx))
    t_b, n_b = timed(lambda: trio.run(chunkscope_capture, server.port, ctx, out))
    os.unlink(out)
    t_p, rss = whole_process(server.port, ca_pem, out)
    os.unlink(out)
    mb = n_a / 1e6
    print(f"\n{total / (1 << 20):.0f} MiB in {chunk_size} B chunks ({n_a} bytes on the wire)")
    print(f"  (a) bare trio SSLStream loop      {mb / t_a:8.1f} MB/s")
    print(
        f"  (b) chunkscope capture -o FILE    {n_b / 1e6 / t_b:8.1f} MB/s   {t_a / t_b:5.2f}x of (a)"
    )
    print(
        f"  (b) as a whole process            {mb / t_p:8.1f} MB/s   {t_a / t_p:5.2f}x of (a)  peak RSS {rss:.0f} MiB"
    )
    if with_httpx:
        t_c, n_c = timed(httpx_stream, server.port, ca_pem)
        t_cp = httpx_process(server.port, ca_pem)
        print(
            f"  (c) httpx streaming               {n_c / 1e6 / t_c:8.1f} MB/s   (b) is {t_c / t_b:5.2f}x faster"
        )
        print(
            f"  (c) as a whole process            {mb / t_cp:8.1f} MB/s   "
            f"(b) as a whole process is {t_cp / t_p:5.2f}x faster"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1/8 of the default sizes")
    parser.add_argument(
        "--rss-gib",
        type=float,
        default=0,
        help="also capture a stream this large in 16 KiB chunks, whole process",
    )
    args = parser.parse_args()
    scale = 8 if args.quick else 1
    ca = trustme.CA()
    with tempfile.TemporaryDirectory() as tmp:
        ca_pem = os.path.join(tmp, "ca.pem")
        ca.cert_pem.write_to_path(ca_pem)
        run_case(16384, (256 << 20) // scale, ca, ca_pem, tmp, with_httpx=True)
        run_case(64, (16 << 20) // scale, ca, ca_pem, tmp, with_httpx=True)
        if args.rss_gib:
            server = FastServer(16384, int(args.rss_gib * (1 << 30)), ca)
            seconds, rss = whole_process(server.port, ca_pem, os.path.join(tmp, "big.capture"))
            size = server.body_bytes / (1 << 30)
            print(
                f"\nwhole-process capture of {size:.2f} GiB: {seconds:.1f} s, peak RSS {rss:.0f} MiB"
            )


if __name__ == "__main__":
    main()
