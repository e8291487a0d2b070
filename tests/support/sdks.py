"""Real SDK releases, each installed into a folder of its own, run as unmodified client processes.

One environment holds one release of a package, but the field runs several (openai-python
2.6 raises on the field failure, 2.7 and later stop at ``[DONE]``, 3.x runs on httpx2), so
``.ci/run`` installs each release below ``.sdk/`` with ``pip install --target`` and a test runs
it as ``python -c CODE`` with that folder first on ``PYTHONPATH``. The SDK is configured only
by environment variables (``OPENAI_BASE_URL``, ``ANTHROPIC_BASE_URL``), as a user would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

__all__ = ["SDKS", "SdkRun", "run_sdk", "sdk_dir"]

ROOT = Path(__file__).resolve().parents[2]

# folder name below .sdk/ -> what it stands for; .ci/run installs exactly these
SDKS = {
    "openai-2.6.1": "openai-python 2.6 (httpx): raises on the field failure",
    "openai-2.54.0": "openai-python 2.x after 2.7 (httpx): stops at [DONE]",
    "openai-3.57.0": "openai-python 3.x (httpx2): wraps errors as APIConnectionError",
    "anthropic-0.125.0": "anthropic-sdk-python 0.x (httpx)",
    "anthropic-2.14.0": "anthropic-sdk-python 2.x (httpx2)",
}


def sdk_dir(name: str) -> Path:
    """The folder that holds SDK release ``name`` (a key of SDKS), or skip the test."""
    base = Path(os.environ.get("CHUNKSCOPE_SDK_DIR", ROOT / ".sdk"))
    path = base / name
    if not path.is_dir():
        pytest.skip(f"SDK {name} is not installed in {base} (.ci/run installs it)")
    return path


@dataclass
class SdkRun:
    """What one SDK process did: its exit code, the JSON it printed last, and its stderr."""

    returncode: int
    result: dict[str, Any]
    stderr: str


def run_sdk(name: str, code: str, env: dict[str, str], timeout: float = 60) -> SdkRun:
    """Run ``code`` with SDK ``name`` importable; ``code`` prints one JSON object as its last line."""
    full_env = {**os.environ, **env}
    full_env["PYTHONPATH"] = os.pathsep.join(
        [str(sdk_dir(name)), *filter(None, [full_env.get("PYTHONPATH")])]
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    try:
        result = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        result = {"unparsed": proc.stdout[-2000:]}
    return SdkRun(proc.returncode, result, proc.stderr)
