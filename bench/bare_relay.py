"""The reference relay of bench/tap.py: a bare trio TCP relay that does nothing with the bytes.

It accepts, connects to the upstream, and copies each direction with
``receive_some(1 MiB)`` / ``send_all`` until that side closes: no HTTP
parsing, no recording, no analysis. Its throughput is what any relay written
on trio reaches on this machine, the ceiling for the tap's.

    python bench/bare_relay.py UPSTREAM_PORT    # prints http://127.0.0.1:PORT/ once listening
"""

from __future__ import annotations

import sys
from functools import partial

import trio

READ = 1 << 20  # as the tap reads its upstream


async def copy(source: trio.SocketStream, sink: trio.SocketStream) -> None:
    try:
        while data := await source.receive_some(READ):
            await sink.send_all(data)
        await sink.send_eof()
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass


async def relay(client: trio.SocketStream, upstream_port: int) -> None:
    upstream = await trio.open_tcp_stream("127.0.0.1", upstream_port)
    async with upstream, client, trio.open_nursery() as nursery:
        nursery.start_soon(copy, client, upstream)
        nursery.start_soon(copy, upstream, client)


async def main(upstream_port: int) -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    print(f"http://127.0.0.1:{listeners[0].socket.getsockname()[1]}/", flush=True)
    await trio.serve_listeners(partial(relay, upstream_port=upstream_port), listeners)


if __name__ == "__main__":
    trio.run(main, int(sys.argv[1]))
