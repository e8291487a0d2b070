"""atheris target: the capture-file loader (``analyze_capture``, ``load_capture``) on any file.

Run it longer than the slow suite does (libFuzzer options; see README, "Fuzzing")::

    python tests/fuzz/fuzz_capture_loader.py -max_total_time=3600 -timeout=1 CORPUS_DIR
"""

from __future__ import annotations

import os
import sys

import atheris

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

with atheris.instrument_imports(include=["chunkscope"]):
    from invariants import check_capture_file


def main() -> None:
    atheris.Setup(sys.argv, check_capture_file)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
