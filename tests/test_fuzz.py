"""Fuzzing, in the slow suite (`python -m pytest -m slow`): atheris when installed, hypothesis always.

Targets: ``Analyzer.feed`` over arbitrary bytes with arbitrary splits, and the capture-file
loader; seeded from the fixtures. Invariants (tests/fuzz/invariants.py): only documented
exceptions, the same findings for any split, ``problem.offset <= received_bytes``, no input
over 1 s. The budget is fixed (``CHUNKSCOPE_FUZZ_SECONDS``, default 30 s per atheris target);
README "Fuzzing" says how to run longer.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from fuzz.invariants import check_analyzer, check_capture_file, seeds
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.slow

FUZZ = Path(__file__).resolve().parent / "fuzz"
BUDGET = int(os.environ.get("CHUNKSCOPE_FUZZ_SECONDS", "30"))
STREAMS = seeds("stream")
CAPTURES = seeds("capture")


@pytest.mark.parametrize(
    ("target", "kind"),
    [("fuzz_analyzer.py", "stream"), ("fuzz_capture_loader.py", "capture")],
)
def test_atheris(target: str, kind: str, tmp_path: Path) -> None:
    pytest.importorskip("atheris", reason="pip install -e '.[fuzz]' (atheris) to run libFuzzer")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, seed in enumerate(seeds(kind)):
        (corpus / f"seed-{i}").write_bytes(seed)
    fuzzer = [
        sys.executable,
        str(FUZZ / target),
        f"-max_total_time={BUDGET}",
        "-timeout=1",  # no input may take a second
        "-rss_limit_mb=2048",
        f"-artifact_prefix={tmp_path}/",
        str(corpus),
    ]
    # libFuzzer's RSS limit reads getrusage's peak RSS, which a process inherits
    # through fork and exec from the mm it was forked from: forked from this
    # pytest process after the huge-stream tests (about 3 GB), the fuzzer would
    # be "out of memory" before its first input. A small launcher forks it.
    proc = subprocess.Popen(
        [sys.executable, "-c", _LAUNCHER, *fuzzer],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        start_new_session=True,
    )
    try:
        _, stderr = proc.communicate(timeout=BUDGET + 120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    found = sorted(p.name for p in tmp_path.iterdir() if p.name != "corpus")
    assert proc.returncode == 0, f"{found}\n{stderr[-3000:]}"


_LAUNCHER = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"


def _mutate(seed: bytes, edits: list[tuple[int, bytes]], cut: int | None) -> bytes:
    data = bytearray(seed)
    for at, replacement in edits:
        at %= len(data) + 1
        data[at : at + len(replacement)] = replacement
    return bytes(data[:cut] if cut is not None else data)


_edits = st.lists(st.tuples(st.integers(0, 1 << 16), st.binary(min_size=1, max_size=4)), max_size=6)
_cuts = st.lists(st.integers(0, 1 << 16), max_size=8)


@settings(max_examples=1500, deadline=1000, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(STREAMS), _edits, st.none() | st.integers(0, 6000), _cuts, st.binary())
def test_hypothesis_analyzer_any_split(
    seed: bytes, edits: list[tuple[int, bytes]], cut: int | None, cuts: list[int], extra: bytes
) -> None:
    data = _mutate(seed, edits, cut) + extra
    check_analyzer(data, [c % (len(data) + 1) for c in cuts])


@settings(max_examples=500, deadline=1000, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(CAPTURES), _edits, st.none() | st.integers(0, 9000))
def test_hypothesis_capture_loader(
    seed: bytes, edits: list[tuple[int, bytes]], cut: int | None
) -> None:
    check_capture_file(_mutate(seed, edits, cut))
