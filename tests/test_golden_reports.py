"""Every fixture's JSON report is what it was before the layout change, field for field.

``tests/golden/`` holds the reports as the flat-layout chunkscope wrote them. Later waves may add
keys to the contract (it is additive), so every key recorded there must still hold its value;
new keys are allowed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chunkscope.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = sorted((ROOT / "tests" / "golden").glob("*.json"))


def _differences(old: Any, new: Any, where: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key, value in old.items():
            if key not in new:
                out.append(f"{where}.{key}: gone")
            else:
                out.extend(_differences(value, new[key], f"{where}.{key}"))
        return out
    if isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            return [f"{where}: {len(old)} items, now {len(new)}"]
        return [
            d
            for i, (a, b) in enumerate(zip(old, new, strict=True))
            for d in _differences(a, b, f"{where}[{i}]")
        ]
    return [] if old == new else [f"{where}: {old!r} -> {new!r}"]


@pytest.mark.parametrize("golden", GOLDEN, ids=lambda p: p.stem)
def test_fixture_report_is_unchanged(
    golden: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    if golden.stem.endswith(".raw"):
        argv = ["analyze", "--raw", f"fixtures/{golden.stem}", "--json"]
    else:
        argv = ["analyze", f"fixtures/{golden.stem}.capture", "--json"]
    main(argv)
    new = json.loads(capsys.readouterr().out)
    assert _differences(json.loads(golden.read_text()), new) == []
