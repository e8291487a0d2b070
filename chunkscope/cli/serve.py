"""``chunkscope serve FILE`` (replay with faults) and ``chunkscope demo``."""

from __future__ import annotations

import argparse
import os
import ssl
import sys
from importlib import resources
from typing import TYPE_CHECKING, Any

from ..core.errors import UsageError
from .main import interrupt_name, interrupted_exit_code, single_error
from .options import MAX_DELAY, delay, factor, host, nonempty, path, port, positive_count

if TYPE_CHECKING:
    from ..net.throwaway_ca import TlsPair

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
    p.add_argument(
        "--host", type=host, default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    p.add_argument("--port", type=port, default=0, help="port 0-65535 (default 0: pick a free one)")
    p.add_argument(
        "--tls", action="store_true", help="serve TLS with a throwaway CA (see --ca-out)"
    )
    p.add_argument(
        "--ca-out",
        type=path,
        metavar="PEM",
        help="with --tls: write the throwaway CA certificate here",
    )
    p.add_argument("--cert", type=path, metavar="PEM", help="serve TLS with this certificate chain")
    p.add_argument("--key", type=path, metavar="PEM", help="private key for --cert")
    p.add_argument(
        "--speed",
        type=factor,
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
        type=nonempty,
        help="cut the stream: an offset, before-last-chunk, after-last-chunk, mid-chunk:N, "
        "mid-size-line:N, after-event:NAME",
    )
    p.add_argument(
        "--close",
        choices=["fin", "reset", "tls-close-notify", "tls-no-close-notify", "stall"],
        help="how to end each connection (default: as the capture ended)",
    )
    p.add_argument(
        "--stall",
        type=delay,
        metavar="S",
        help=f"wait S seconds before the close (0-{MAX_DELAY:g})",
    )
    p.add_argument(
        "--slice", type=positive_count, metavar="N", help="write in segments of at most N bytes"
    )
    p.add_argument(
        "--delay-per-write",
        type=delay,
        metavar="S",
        help=f"sleep S seconds after each write (0-{MAX_DELAY:g})",
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
    d.add_argument(
        "--speed", type=factor, default=4.0, help="replay speed (default 4x; 0 no waiting)"
    )
    d.add_argument(
        "-o",
        "--output",
        type=path,
        metavar="FILE",
        help="also save the live capture to FILE ('-': to stdout, the report to stderr)",
    )
    d.set_defaults(func=run_demo)


def _refuse_what_cannot_apply(args: argparse.Namespace) -> None:
    """Options that contradict each other or the input: a usage error with the reason."""
    own_cert = bool(args.cert or args.key)
    if own_cert and not (args.cert and args.key):
        raise UsageError("--cert and --key go together")
    if own_cert and args.tls:
        raise UsageError(
            "--tls makes a throwaway CA and --cert/--key serve your own certificate: choose one"
        )
    if args.ca_out and not args.tls:
        raise UsageError("--ca-out needs --tls (it writes the throwaway CA's certificate)")
    if args.close and args.close.startswith("tls-") and not (args.tls or own_cert):
        raise UsageError(f"--close {args.close} needs TLS (--tls, or --cert and --key)")
    if args.raw and args.allow_truncated:
        raise UsageError("--allow-truncated is for capture files; --raw bytes have no records")


def _server_context(
    args: argparse.Namespace,
) -> tuple[ssl.SSLContext | None, str | None, TlsPair | None]:
    """The server's TLS context, the CA file to tell clients about, and a pair to close."""
    if args.cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            ctx.load_cert_chain(args.cert, args.key)
        except (OSError, ssl.SSLError) as exc:
            raise UsageError(f"cannot load --cert/--key: {exc}") from None
        return ctx, None, None
    if not args.tls:
        return None, None, None
    from ..net.throwaway_ca import tls_pair

    pair = tls_pair()
    if args.ca_out:
        try:
            pair.ca.cert_pem.write_to_path(args.ca_out)
        except OSError as exc:
            raise UsageError(
                f"cannot write --ca-out {args.ca_out}: {exc.strerror or exc}"
            ) from None
        return pair.server_context, args.ca_out, pair
    # Without --ca-out the CA goes to a temporary folder, removed when serve stops.
    return pair.server_context, pair.ca_pem, pair


def run_serve(args: argparse.Namespace) -> int:
    _refuse_what_cannot_apply(args)
    ctx, ca_path, pair = _server_context(args)
    try:
        return _serve(args, ctx, ca_path)
    finally:
        if pair is not None:
            pair.close()


def _serve(args: argparse.Namespace, ctx: ssl.SSLContext | None, ca_path: str | None) -> int:
    import trio

    from ..net.replay import make_script
    from ..net.server import Script, ServerInfo, serve

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
        if os.path.isfile(args.file) and os.path.getsize(args.file) == 0:
            raise UsageError(f"{args.file}: the file is empty (not a capture file)")
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
    started: list[ServerInfo] = []

    def notice(text: str) -> None:
        print(f"chunkscope: {text}", file=sys.stderr, flush=True)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            info = await nursery.start(
                lambda task_status: serve(
                    script,
                    host=args.host,
                    port=args.port,
                    ssl_context=ctx,
                    once=args.once,
                    on_notice=notice,
                    task_status=task_status,
                )
            )
            started.append(info)
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
    except BaseException as exc:
        if not isinstance(single_error(exc), KeyboardInterrupt) or not started:
            raise
        sys.stderr.write(f"chunkscope: stopped ({interrupt_name()}): {_summary(started[0])}\n")
        sys.stderr.flush()
        return interrupted_exit_code()
    if started:
        print(f"chunkscope: done: {_summary(started[0])}", file=sys.stderr)
    return 0


def _summary(info: Any) -> str:
    text = f"{info.connections} connection{'s' if info.connections != 1 else ''}, {info.completed} served whole"
    if info.errors:
        text += f", {len(info.errors)} ended early by the client"
    if info.shed:
        text += f", {info.shed} slow clients dropped to make room"
    return text


def demo_capture_path() -> str:
    """The packaged copy of the field-failure fixture."""
    return str(resources.files("chunkscope") / "_data" / "assistants-cut-after-done.capture")


def run_demo(args: argparse.Namespace) -> int:
    import trio

    if args.output and args.output != "-":
        folder = os.path.dirname(os.path.abspath(args.output))
        if not os.path.isdir(folder):
            raise UsageError(f"cannot write -o {args.output}: no such directory {folder}")

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
    out = sys.stderr if args.output == "-" else sys.stdout
    if args.json:
        out.write(report.to_json() + "\n")
    else:
        out.write(render_text(report))
    out.flush()
    return int(report.exit_code)
