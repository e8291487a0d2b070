"""The README's examples run: the paste-able plugin test, and the commands it names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_quick_start_holds_install_demo_and_test_commands() -> None:
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", quick, re.S)
    assert blocks[0].strip() == 'pip install -e ".[dev]" && chunkscope demo'
    assert blocks[1].strip() == "python -m pytest"
    assert "The demo exits 1" in quick  # what the demo's exit code means, checked below


def test_the_demo_exits_as_the_quick_start_says() -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "chunkscope", "demo", "--speed", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert "TRANSPORT: truncated" in proc.stdout
    assert "APPLICATION: completed" in proc.stdout


def test_ci_runs_the_readme_test_command() -> None:
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()
    assert "\npython -m pytest\n" in ci


def test_pasteable_plugin_example_passes(pytester: pytest.Pytester) -> None:
    section = README.split("A complete test file you can paste", 1)[1]
    code = re.findall(r"```python\n(.*?)```", section, re.S)[0]
    pytester.makeini("[pytest]\ntrio_mode = true\n")
    pytester.makepyfile(test_from_readme=code)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_library_example_runs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    section = README.split("### Use it as a library", 1)[1]
    code = re.findall(r"```python\n(.*?)```", section, re.S)[0]
    monkeypatch.chdir(Path(__file__).resolve().parent.parent)
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert out.startswith("truncated chunk-boundary 57 b'0\\r\\n\\r\\n'\n")
