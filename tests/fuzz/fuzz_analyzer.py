"""atheris target: Analyzer.feed over arbitrary bytes and arbitrary splits.

Run it longer than the slow suite does (libFuzzer options; see README, "Fuzzing")::

    python tests/fuzz/fuzz_analyzer.py -max_total_time=3600 -timeout=1 CORPUS_DIR
"""

from __future__ import annotations

import os
import sys

import atheris

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

with atheris.instrument_imports(include=["chunkscope"]):
    from invariants import check_analyzer

CLOSES = ("reset", "fin", "tls-no-close-notify", "unknown", "timeout")


def one_input(raw: bytes) -> None:
    provider = atheris.FuzzedDataProvider(raw)
    close = CLOSES[provider.ConsumeIntInRange(0, len(CLOSES) - 1)]
    cuts = [provider.ConsumeIntInRange(0, 1 << 16) for _ in range(provider.ConsumeIntInRange(0, 8))]
    data = provider.ConsumeBytes(provider.remaining_bytes())
    check_analyzer(data, [c % (len(data) + 1) for c in cuts], close)


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
