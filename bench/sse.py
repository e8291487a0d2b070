"""SSE analysis throughput, whole processes: chunkscope vs framing only vs openai vs httpx-sse.

Every workload is one ``text/event-stream`` response written to a file once;
each client then runs as a whole process over the same bytes, with its
bytecode cached as an installed program has it:

  sse          ``chunkscope analyze --raw FILE`` (the SSE decoder runs)
  framing      the same, over the same bytes labelled ``application/octet-stream``
               (chunked framing only: the floor the SSE path rides on)
  openai       h11 de-chunking 64 KiB reads + openai-python's ``SSEDecoder.iter_bytes``
               (what the openai SDK does per stream)
  httpx-sse    httpx-sse's line decoder alone over the de-chunked body, 64 KiB
               pieces (no HTTP framing at all: generous to it)

Workloads (the realistic ones first):

  assistants-lf    300 000 Assistants ``thread.message.delta`` events of ~172 B, one per chunk
  assistants-crlf  the same events with CRLF line ends
  tiny             16 MiB of 23-byte ``data:`` events in 16 KiB chunks
  spanning         the Assistants events in 1000 B chunks (most events span two chunks)

Every figure is the median of --runs runs after one warm-up, the clients
interleaved; ratios are medians of per-run ratios, of wall time and of CPU
time (user + system, from wait4: far less disturbed by other processes on a
loaded machine). Absolute times are noise on shared machines.

    python bench/sse.py               # all workloads
    python bench/sse.py --quick       # 1/8 of the sizes
    python bench/sse.py --only tiny   # one workload
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from peak_rss import run_measured

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\n\r\n"

OPENAI_SCRIPT = r"""
import sys, h11
from openai._streaming import SSEDecoder
conn = h11.Connection(our_role=h11.CLIENT)
conn.send(h11.Request(method="GET", target="/", headers=[("Host", "bench")]))
conn.send(h11.EndOfMessage())
def body():
    with open(sys.argv[1], "rb") as f:
        while read := f.read(65536):
            conn.receive_data(read)
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA or type(event) is h11.EndOfMessage:
                    break
                if type(event) is h11.Data:
                    yield bytes(event.data)
events = 0
for sse in SSEDecoder().iter_bytes(body()):
    events += 1
print(events)
"""

HTTPX_SSE_SCRIPT = r"""
import codecs, sys
from httpx_sse._decoders import SSEDecoder, SSELineDecoder
text = codecs.getincrementaldecoder("utf-8")("replace")
lines = SSELineDecoder()
sse = SSEDecoder()
events = 0
with open(sys.argv[1], "rb") as f:
    while piece := f.read(65536):
        for line in lines.decode(text.decode(piece)):
            if sse.decode(line) is not None:
                events += 1
for line in lines.flush():
    if sse.decode(line) is not None:
        events += 1
print(events)
"""


def assistants_event(i: int, crlf: bool) -> bytes:
    """One Assistants API ``thread.message.delta`` event (~172 bytes)."""
    data = (
        '{"id":"msg_abc123","object":"thread.message.delta","delta":{"content":'
        f'[{{"index":0,"type":"text","text":{{"value":" token{i % 1000:03d}"}}}}]}}}}'
    )
    text = f"event: thread.message.delta\ndata: {data}\n\n"
    if crlf:
        text = text.replace("\n", "\r\n")
    return text.encode()


def chunked(body_pieces: list[bytes]) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in body_pieces) + b"0\r\n\r\n"


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def workload(name: str, scale: int) -> tuple[list[bytes], bytes]:
    """The chunk data pieces of a workload, and its de-chunked body."""
    done = b"event: done\ndata: [DONE]\n\n"
    if name in ("assistants-lf", "assistants-crlf", "spanning"):
        crlf = name == "assistants-crlf"
        events = [assistants_event(i, crlf) for i in range(300_000 // scale)]
        events.append(done.replace(b"\n", b"\r\n") if crlf else done)
        if name == "spanning":
            body = b"".join(events)
            return split(body, 1000), body
        return events, b"".join(events)
    if name == "tiny":
        event = b"data: 0123456789abcde\n\n"  # 23 bytes
        body = event * ((16 << 20) // scale // len(event)) + done
        return split(body, 16384), body
    raise ValueError(name)


def process_env(bytecode_dir: str) -> dict[str, str]:
    """Whole processes with bytecode cached (see bench/capture.py)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = bytecode_dir
    return env


def chunkscope_argv() -> list[str]:
    """The installed ``chunkscope`` command, else ``python -m chunkscope``."""
    script = os.path.join(os.path.dirname(sys.executable), "chunkscope")
    return [script] if os.path.isfile(script) else [sys.executable, "-m", "chunkscope"]


PEAK_RSS: dict[str, float] = {}  # MiB: the largest seen, chunkscope's and the others'
CPU: list[float] = []  # user + system seconds of each process timed, in order


def timed(argv: list[str], env: dict[str, str]) -> float:
    """Seconds of one whole process (it must exit 0); its CPU time and peak RSS are kept."""
    run = run_measured(argv, env)
    assert run.returncode == 0, (argv[:4], run.returncode, run.stderr[-500:])
    CPU.append(run.cpu)
    key = "chunkscope" if "analyze" in argv else "others"
    PEAK_RSS[key] = max(PEAK_RSS.get(key, 0.0), run.peak_mib)
    return run.seconds


def run_workload(name: str, scale: int, runs: int, tmp: str, env: dict[str, str]) -> None:
    pieces, body = workload(name, scale)
    framed = chunked(pieces)
    paths = {}
    for label, ctype in (("sse", b"text/event-stream"), ("framing", b"application/octet-stream")):
        paths[label] = os.path.join(tmp, f"{name}-{label}.raw")
        with open(paths[label], "wb") as f:
            f.write(HEAD % ctype + framed)
    paths["body"] = os.path.join(tmp, f"{name}.body")
    with open(paths["body"], "wb") as f:
        f.write(body)
    cs = chunkscope_argv()
    clients: dict[str, Callable[[], float]] = {
        "sse": lambda: timed([*cs, "analyze", "--raw", paths["sse"]], env),
        "sse --json": lambda: timed([*cs, "analyze", "--raw", paths["sse"], "--json"], env),
        "framing": lambda: timed([*cs, "analyze", "--raw", paths["framing"]], env),
        "openai": lambda: timed([sys.executable, "-c", OPENAI_SCRIPT, paths["sse"]], env),
        "httpx-sse": lambda: timed([sys.executable, "-c", HTTPX_SSE_SCRIPT, paths["body"]], env),
    }
    times: dict[str, list[float]] = {k: [] for k in clients}
    cpu: dict[str, list[float]] = {k: [] for k in clients}
    for i in range(runs + 1):  # interleaved, so that load changes hit every client alike
        for key, fn in clients.items():
            elapsed = fn()
            if i:
                times[key].append(elapsed)
                cpu[key].append(CPU[-1])
    med = {k: statistics.median(v) for k, v in times.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}

    def ratio(seconds: dict[str, list[float]], other: str) -> float:
        pairs = zip(seconds[other], seconds["sse"], strict=True)
        return statistics.median(o / s for o, s in pairs)

    ratios = {k: (ratio(times, k), ratio(cpu, k)) for k in ("framing", "openai", "httpx-sse")}

    events = body.count(b"\n\n") if b"\r" not in body else body.count(b"\r\n\r\n")
    mb = len(framed) / 1e6
    print(f"\n{name}: {events} events, {len(pieces)} chunks, {mb:.1f} MB (median of {runs})")
    print(f"  {'':<11} {'wall s':>7} {'MB/s':>7} {'cpu s':>7}")
    for key in clients:
        print(f"  {key:<11} {med[key]:7.3f} {mb / med[key]:7.1f} {med_cpu[key]:7.3f}")
    print("  ratios (median of per-run ratios), wall / cpu:")
    fw, fc = ratios["framing"]
    print(f"    sse at {fw:.2f}x / {fc:.2f}x of the framing-only time (target >= 0.7x, tiny 0.5x)")
    ow, oc = ratios["openai"]
    print(f"    sse is {ow:.1f}x / {oc:.1f}x h11 + openai SSEDecoder (target >= 10x)")
    hw, hc = ratios["httpx-sse"]
    print(f"    sse is {hw:.1f}x / {hc:.1f}x httpx-sse's decoder (target >= 2x)")
    print(f"  peak RSS of chunkscope analyze {PEAK_RSS['chunkscope']:.0f} MiB")
    PEAK_RSS.clear()
    for path in os.listdir(tmp):
        if path.startswith(name):
            os.unlink(os.path.join(tmp, path))


WORKLOADS = ["assistants-lf", "assistants-crlf", "tiny", "spanning"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1/8 of the sizes")
    parser.add_argument("--runs", type=int, default=3, help="measured runs per client (median)")
    parser.add_argument("--only", choices=WORKLOADS, action="append", help="run this workload")
    args = parser.parse_args()
    scale = 8 if args.quick else 1
    with tempfile.TemporaryDirectory() as tmp:
        env = process_env(os.path.join(tmp, "bytecode"))
        for name in args.only or WORKLOADS:
            run_workload(name, scale, args.runs, tmp, env)


if __name__ == "__main__":
    main()
