"""The baseline client of bench/capture.py: a bare trio SSLStream receive loop.

Its own module, importing only ssl and trio, so that the whole-process
baseline (``python bench/bare_trio.py PORT CA_PEM``) pays the same start-up
as any trio client and nothing more, and runs the same code as the
in-process baseline.
"""

from __future__ import annotations

import ssl
import sys

import trio


async def bare_trio(port: int, ctx: ssl.SSLContext) -> int:
    """Receive one response over TLS from 127.0.0.1:``port``; return the bytes received."""
    tcp = await trio.open_tcp_stream("127.0.0.1", port)
    stream = trio.SSLStream(tcp, ctx, server_hostname="127.0.0.1", https_compatible=False)
    await stream.send_all(b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
    total = 0
    while data := await stream.receive_some(65536):
        total += len(data)
    await trio.aclose_forcefully(stream)
    return total


if __name__ == "__main__":
    context = ssl.create_default_context(cafile=sys.argv[2])
    print(trio.run(bare_trio, int(sys.argv[1]), context))
