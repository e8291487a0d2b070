"""``chunkscope tap UPSTREAM_URL [-- COMMAND ...]``: record what an unmodified client does, through a recording reverse proxy."""

from __future__ import annotations

import argparse
import ipaddress
import os
import shutil
import signal
import sys
import threading
from collections.abc import Sequence
from functools import partial
from typing import Any

from ..core.errors import UsageError
from .capture import _connect_to
from .main import add_terminal_event_option, single_error
from .options import host as valid_host
from .options import path, seconds, url

__all__ = ["add_parser", "describe_exchange", "run", "summary_table"]


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "tap",
        help="a recording reverse proxy: point an unmodified SDK at it, keep every byte and ending",
        description=(
            "Listen on 127.0.0.1 and forward every request to UPSTREAM_URL over a connection of "
            "its own (Host rewritten, everything else as sent), relay every upstream byte to the "
            "client unchanged, end the client's connection the way the upstream ended (FIN, RST, "
            "TLS close_notify or not, silence), and save each exchange as a capture file in --dir. "
            "The first line on stdout is the URL clients use instead of UPSTREAM_URL; then one "
            "line per exchange, and a summary when the tap stops (Ctrl-C, SIGTERM, or the end of "
            "COMMAND). With -- COMMAND, the command runs with OPENAI_BASE_URL, ANTHROPIC_BASE_URL "
            "and CHUNKSCOPE_TAP_URL pointing at the tap, and its exit code is the tap's."
        ),
    )
    p.add_argument(
        "upstream",
        metavar="UPSTREAM_URL",
        type=url,
        help="http(s)://host[:port][/prefix], e.g. .../v1",
    )
    p.add_argument(
        "--listen",
        default="127.0.0.1:0",
        metavar="HOST:PORT",
        help="where to listen (default 127.0.0.1:0, a free port on loopback)",
    )
    p.add_argument(
        "--dir",
        default="chunkscope-captures",
        type=path,
        metavar="DIR",
        help="folder for the capture files, one per exchange (default ./chunkscope-captures)",
    )
    p.add_argument(
        "--cacert", type=path, metavar="PEM", help="trust this CA bundle for the upstream"
    )
    p.add_argument(
        "-k",
        "--insecure",
        action="store_true",
        help="skip the upstream's certificate check (warns)",
    )
    p.add_argument(
        "--connect-to",
        metavar="HOST:PORT",
        help="dial HOST:PORT for the upstream, keeping its Host and SNI",
    )
    p.add_argument(
        "-x", "--proxy", metavar="http://HOST:PORT", help="reach the upstream through CONNECT"
    )
    p.add_argument(
        "--connect-timeout",
        type=seconds,
        default=30.0,
        metavar="S",
        help="limit for DNS+connect+TLS to the upstream (default 30)",
    )
    p.add_argument(
        "--idle-timeout",
        type=seconds,
        default=60.0,
        metavar="S",
        help="end a recording as 'timeout' after S seconds without an upstream byte "
        "(default 60; 0 = never); the client's connection stays silent until the client gives up",
    )
    p.add_argument(
        "--no-redact",
        action="store_true",
        help="keep credentials (Authorization, cookies, API keys) in the saved captures",
    )
    add_terminal_event_option(p)
    p.add_argument(
        "--tls", action="store_true", help="speak TLS to clients, with a throwaway CA (--ca-out)"
    )
    p.add_argument(
        "--ca-out", type=path, metavar="PEM", help="with --tls: write the throwaway CA here"
    )
    p.add_argument(
        "--cert", type=path, metavar="PEM", help="speak TLS to clients with this certificate chain"
    )
    p.add_argument("--key", type=path, metavar="PEM", help="private key for --cert")
    p.set_defaults(func=run, command=[])
    _split_at_double_dash(p)


def _split_at_double_dash(parser: argparse.ArgumentParser) -> None:
    """Everything after ``--`` is COMMAND, untouched (argparse alone would parse its options)."""
    parse = parser.parse_known_args

    def parse_known_args(
        args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        words = list(sys.argv[1:] if args is None else args)
        command: list[str] = []
        if "--" in words:
            cut = words.index("--")
            words, command = words[:cut], words[cut + 1 :]
        result, extras = parse(words, namespace)
        result.command = command
        return result, extras

    setattr(parser, "parse_known_args", parse_known_args)  # noqa: B010 - replaces a bound method


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", value
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or int(port) > 65535:
        raise UsageError(f"--listen wants HOST:PORT, got {value!r}")
    try:
        valid_host(host)
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"--listen wants HOST:PORT: {exc}") from None
    return host, int(port)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def describe_exchange(exchange: Any) -> str:
    """One line for one exchange: number, method, path, status, verdict, close, SSE, capture file."""
    target = exchange.target if len(exchange.target) <= 80 else exchange.target[:77] + "..."
    status = exchange.status if exchange.status is not None else "-"
    parts = [f"#{exchange.number} {exchange.method} {target} {status}"]
    name = os.path.basename(exchange.capture)
    if exchange.error is not None:
        parts.append(f"no upstream: {exchange.error}; the client got a 502")
        return " | ".join([*parts, name])
    report = exchange.report
    if report is None:
        return " | ".join([*parts, "unfinished", name])
    verdict = report.verdict.value
    problem = report.problem
    if problem is not None:
        verdict += f" at {problem.state.value}, byte {problem.offset}"
        if problem.missing is not None:
            verdict += f", missing {problem.missing!r}"
    parts.append(verdict)
    close = report.close
    ending = close.kind.value
    if close.idle is not None:
        ending += f", {close.idle:.3f} s idle"
    if exchange.client_left:
        ending += ", the client left"
    parts.append(ending)
    sse = report.sse
    if sse is not None:
        parts.append(f"sse {sse.outcome}, {sse.events} events")
    parts.append(name)
    return " | ".join(parts)


def summary_table(info: Any) -> str:
    """The exchanges counted by outcome, most frequent first; then the requests the tap refused."""
    total = sum(info.outcomes.values())
    lines = [
        f"chunkscope tap: {total} exchange{'s' if total != 1 else ''}, captures in {info.directory}"
    ]
    if total:
        lines.append(f"  {'count':>5}  outcome")
        for outcome, count in sorted(info.outcomes.items(), key=lambda item: (-item[1], item[0])):
            lines.append(f"  {count:>5}  {outcome}")
    refused = getattr(info, "refused", None) or {}
    if refused:
        total_refused = sum(refused.values())
        lines.append(
            f"chunkscope tap: {total_refused} request{'s' if total_refused != 1 else ''} "
            "refused by the tap (not forwarded, no capture)"
        )
        for status, count in sorted(refused.items(), key=lambda item: (-item[1], item[0])):
            lines.append(f"  {count:>5}  {status}")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    import trio

    from ..net.tap import TapOptions, serve_tap
    from .serve import _server_context

    host, port = _listen(args.listen)
    if not _is_loopback(host):
        print(
            f"chunkscope: warning: listening on {host}, not loopback: anyone who can reach it can "
            "use the tap, and captures of other people's traffic may hold their secrets",
            file=sys.stderr,
        )
    if args.insecure:
        print(
            "chunkscope: warning: --insecure: the upstream's TLS certificate is NOT verified",
            file=sys.stderr,
        )
    options = TapOptions(
        upstream=args.upstream,
        directory=args.dir,
        cacert=args.cacert,
        insecure=args.insecure,
        connect_to=_connect_to(args.connect_to),
        proxy=args.proxy,
        connect_timeout=args.connect_timeout or None,
        idle_timeout=args.idle_timeout or None,
        redact=not args.no_redact,
        terminal_events=args.terminal_event,
        keep_exchanges=0,  # each line is printed as its exchange ends: memory stays constant
    )
    ctx, ca_path, pair = _server_context(args)
    command: list[str] = list(args.command)
    if command and shutil.which(command[0]) is None:
        raise UsageError(f"cannot run {command[0]!r}: no such command")
    state: dict[str, Any] = {"code": 0}

    def on_exchange(exchange: Any) -> None:
        sys.stdout.write(describe_exchange(exchange) + "\n")
        sys.stdout.flush()

    async def run_command(info: Any, cancel: trio.CancelScope) -> None:
        try:
            done = await trio.run_process(
                command, env={**os.environ, **info.environment(ca_path)}, stdin=None, check=False
            )
        except OSError as exc:
            raise UsageError(f"cannot run {command[0]!r}: {exc.strerror or exc}") from None
        code = done.returncode
        state["code"] = code if code >= 0 else 128 - code
        # Exchanges the command started end within their grace period.
        with trio.move_on_after(3.0):
            await info.wait_idle()
        cancel.cancel()

    async def watch_signals(cancel: trio.CancelScope) -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                state["code"] = 128 + signum if command else 0
                cancel.cancel()
                return

    async def main() -> Any:
        async with trio.open_nursery() as nursery:
            info = await nursery.start(
                partial(
                    serve_tap,
                    options,
                    host=host,
                    port=port,
                    ssl_context=ctx,
                    on_exchange=on_exchange,
                )
            )
            print(info.url, flush=True)
            print(
                f"chunkscope: tap {info.url} -> {options.upstream}; captures in {options.directory}"
                + (f"; CA certificate: {ca_path}" if ca_path else "")
                + ("" if command else "; Ctrl-C stops"),
                file=sys.stderr,
                flush=True,
            )
            if threading.current_thread() is threading.main_thread():
                nursery.start_soon(watch_signals, nursery.cancel_scope)
            if command:
                nursery.start_soon(run_command, info, nursery.cancel_scope)
        return info

    try:
        info = trio.run(main)
    except BaseException as exc:
        single = single_error(exc)
        if isinstance(single, OSError):
            raise UsageError(
                f"cannot listen on {args.listen}: {single.strerror or single}"
            ) from None
        raise single from None
    finally:
        if pair is not None:
            pair.close()  # the throwaway CA's temporary folder, if one was made
    sys.stdout.write(summary_table(info))
    sys.stdout.flush()
    return int(state["code"])
