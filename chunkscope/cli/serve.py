"""``chunkscope serve FILE`` (replay with faults) and ``chunkscope demo``."""

from __future__ import annotations

import argparse
import os
import ssl
import sys
from importlib import resources
from typing import Any

from ..core.errors import UsageError

__all__ = ["add_parser", "run_demo", "run_serve"]

MAX_RAW_BYTES = 1 << 30  # what serve --raw reads into memory; a larger file is refused


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "serve",
        help="replay a capture over a real socket, with faults",
        description=(
            "Serve the recorded server bytes of a capture file (or --raw bytes) to every client "
            "that connects, with the original timing, and end each connection the way the capture "
            "ended (FIN, RST, TLS close_notify or not, stall). Fault options change the bytes and "
            "the ending. The first line on stdout is the URL to connect to."
        ),
    )
    p.add_argument("file", metavar="FILE", help="capture file (or raw server bytes with --raw)")
    p.add_argument("--raw", action="store_true", help="FILE holds raw server bytes")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port (default 0: pick a free one)")
    p.add_argument(
        "--tls", action="store_true", help="serve TLS with a throwaway CA (see --ca-out)"
    )
    p.add_argument(
        "--ca-out", metavar="PEM", help="with --tls: write the throwaway CA certificate here"
    )
    p.add_argument("--cert", metavar="PEM", help="serve TLS with this certificate chain")
    p.add_argument("--key", metavar="PEM", help="private key for --cert")
    p.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="timing factor: 1 original (default), 10 faster, 0 no waiting",
    )
    p.add_argument("--once", action="store_true", help="serve one connection, then exit")
    p.add_argument(
        "--allow-truncated",
        action="store_true",
        help="replay a capture file that ends mid-record (refused by default)",
    )
    p.add_argument(
        "--truncate-at",
        metavar="POINT",
        help="cut the stream: an offset, before-last-chunk, after-last-chunk, mid-chunk:N, "
        "mid-size-line:N, after-event:NAME",
    )
    p.add_argument(
        "--close",
        choices=["fin", "reset", "tls-close-notify", "tls-no-close-notify", "stall"],
        help="how to end each connection (default: as the capture ended)",
    )
    p.add_argument("--stall", type=float, metavar="S", help="wait S seconds before the close")
    p.add_argument("--slice", type=int, metavar="N", help="write in segments of at most N bytes")
    p.add_argument(
        "--delay-per-write", type=float, metavar="S", help="sleep S seconds after each write"
    )
    p.set_defaults(func=run_serve)

    d = subparsers.add_parser(
        "demo",
        help="serve the field failure over TLS on 127.0.0.1 and diagnose it live",
        description=(
            "Serve the bundled field failure (an Assistants-style SSE run whose chunked body ends "
            "after the done event without the last-chunk, closed without TLS close_notify) over "
            "TLS on 127.0.0.1, capture it live with the real client, and print the diagnosis."
        ),
    )
    d.add_argument("--json", action="store_true", help="print the JSON report")
    d.add_argument("--speed", type=float, default=4.0, help="replay speed (default 4x)")
    d.add_argument("-o", "--output", metavar="FILE", help="also save the live capture to FILE")
    d.set_defaults(func=run_demo)


def _server_context(args: argparse.Namespace) -> tuple[ssl.SSLContext | None, str | None]:
    if args.cert or args.key:
        if not (args.cert and args.key):
            raise UsageError("--cert and --key go together")
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            ctx.load_cert_chain(args.cert, args.key)
        except (OSError, ssl.SSLError) as exc:
            raise UsageError(f"cannot load --cert/--key: {exc}") from None
        return ctx, None
    if not args.tls:
        if args.ca_out:
            raise UsageError("--ca-out needs --tls")
        return None, None
    from ..net.throwaway_ca import tls_pair

    pair = tls_pair()
    if args.ca_out:
        try:
            pair.ca.cert_pem.write_to_path(args.ca_out)
        except OSError as exc:
            raise UsageError(
                f"cannot write --ca-out {args.ca_out}: {exc.strerror or exc}"
            ) from None
    return pair.server_context, args.ca_out or pair.ca_pem


def run_serve(args: argparse.Namespace) -> int:
    import trio

    from ..net.replay import make_script
    from ..net.server import Script, serve

    ctx, ca_path = _server_context(args)
    tls = ctx is not None
    if args.raw:
        try:
            with open(args.file, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size > MAX_RAW_BYTES:
                    # The replay server holds what it serves in memory; a silent
                    # cut would serve a different stream than the file holds.
                    raise UsageError(
                        f"{args.file}: {size} bytes is more than serve --raw holds in memory "
                        f"({MAX_RAW_BYTES} bytes); cut it first (e.g. `head -c {MAX_RAW_BYTES}`)"
                    )
                data = f.read(MAX_RAW_BYTES + 1)
                if len(data) > MAX_RAW_BYTES:  # a pipe or a file that grew: no size known before
                    raise UsageError(
                        f"{args.file}: more than the {MAX_RAW_BYTES} bytes serve --raw holds in memory"
                    )
        except OSError as exc:
            raise UsageError(f"cannot read {args.file}: {exc.strerror or exc}") from None
        source: Any = Script.from_bytes(data, close="tls-no-close-notify" if tls else "fin")
    else:
        source = args.file
    script = make_script(
        source,
        tls=tls,
        allow_truncated=args.allow_truncated,
        truncate_at=args.truncate_at,
        close=args.close,
        stall=args.stall,
        slice=args.slice,
        delay_per_write=args.delay_per_write,
        speed=args.speed,
    )

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            info = await nursery.start(
                lambda task_status: serve(
                    script,
                    host=args.host,
                    port=args.port,
                    ssl_context=ctx,
                    once=args.once,
                    task_status=task_status,
                )
            )
            print(info.url, flush=True)
            print(
                f"chunkscope: serving {len(script.server_bytes)} bytes, then {script.close}"
                + (f"; CA certificate: {ca_path}" if ca_path else "")
                + ("; one connection" if args.once else "; Ctrl-C stops"),
                file=sys.stderr,
                flush=True,
            )

    try:
        trio.run(main)
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
        ) from None
    except KeyboardInterrupt:
        return 0
    return 0


def demo_capture_path() -> str:
    """The packaged copy of the field-failure fixture."""
    return str(resources.files("chunkscope") / "_data" / "assistants-cut-after-done.capture")


def run_demo(args: argparse.Namespace) -> int:
    import trio

    from ..net.client import CaptureOptions, run_capture
    from ..net.replay import serving
    from .render import render_text

    async def main() -> Any:
        async with serving(demo_capture_path(), tls=True, speed=args.speed) as server:
            print(
                f"chunkscope demo: replaying an Assistants-style SSE run at {server.url} (TLS, throwaway CA),"
                " cut the way the field failure was cut; capturing it live...\n",
                file=sys.stderr,
                flush=True,
            )
            options = CaptureOptions(
                url=server.url + "v1/threads/runs",
                method="POST",
                headers=[
                    ("Content-Type", "application/json"),
                    ("Authorization", "Bearer demo.not.a.real.key"),
                ],
                body=b'{"assistant_id":"asst_demo","stream":true}',
                ssl_context=server.ssl_context,
                idle_timeout=10,
                output=args.output,
            )
            return await run_capture(options)

    report = trio.run(main)
    if args.json:
        sys.stdout.write(report.to_json() + "\n")
    else:
        sys.stdout.write(render_text(report))
    return int(report.exit_code)
