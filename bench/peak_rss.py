"""Run one whole process and measure it: wall time, CPU time and its own peak RSS.

``ru_maxrss`` from wait4 is no measure of a child started by a large parent:
Linux keeps, across exec, the high-water mark of the memory the child had
after fork (a copy of the parent's). So the peak is read from the child's own
``/proc/PID/status`` (VmHWM, the high-water mark of the new program) every
10 ms while it runs; CPU time still comes from wait4.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass


@dataclass
class Measured:
    seconds: float
    cpu: float  # user + system
    peak_mib: float  # VmHWM, sampled every 10 ms (0 where /proc is missing)
    returncode: int
    stderr: bytes


def run_measured(argv: list[str], env: dict[str, str] | None = None) -> Measured:
    """Run ``argv`` with stdout discarded; measure it."""
    peak = [0.0]
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, env=env)
        done = threading.Event()

        def sample() -> None:
            path = f"/proc/{proc.pid}/status"
            while not done.is_set():
                try:
                    with open(path) as f:
                        for line in f:
                            if line.startswith("VmHWM:"):
                                peak[0] = max(peak[0], int(line.split()[1]) / 1024)
                except OSError:
                    return
                done.wait(0.01)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        return Measured(
            elapsed, usage.ru_utime + usage.ru_stime, peak[0], proc.returncode, err.read()
        )
