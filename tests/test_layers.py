"""The layers: each imports only the layers below it, and the lower two never load trio or sockets."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "chunkscope"

# lowest first; a module may import its own layer and any layer before it
LAYERS = ["core", "formats", "net", "cli"]
# faces for users sit on top of every layer; nothing inside a layer imports them
FACES = {"testing", "_pytest_plugin", "__init__", "__main__"}
# modules any layer may import
SHARED = {"_version"}


def _layer_of(module: str) -> str:
    """``chunkscope.net.client`` -> ``net``; ``chunkscope.testing`` -> ``testing``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every chunkscope module ``path`` imports, as absolute names, with line numbers."""
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    package = list(rel.parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
                if node.module is None:
                    found.extend((node.lineno, f"{target}.{a.name}") for a in node.names)
                    continue
            else:
                target = node.module or ""
            found.append((node.lineno, target))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, a.name) for a in node.names)
    return [(line, name) for line, name in found if name.split(".")[0] == "chunkscope"]


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.parent != PACKAGE)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_layer_imports_only_layers_below_it(path: Path) -> None:
    own = path.parent.name
    allowed = set(LAYERS[: LAYERS.index(own) + 1]) | SHARED
    wrong = [
        f"line {line}: {name}"
        for line, name in _imports(path)
        if _layer_of(name) not in allowed and name != "chunkscope"
    ]
    assert not wrong, f"{path.relative_to(PACKAGE)} imports from above its layer: {wrong}"
    assert all(name != "chunkscope" for _, name in _imports(path)), "imports the package root"


def test_every_module_lives_in_a_layer_or_is_a_face() -> None:
    top = {p.stem for p in PACKAGE.glob("*.py")}
    assert top <= FACES | SHARED
    assert {
        p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()
    } == set(LAYERS)


@pytest.mark.parametrize("layer", LAYERS)
def test_every_layer_says_what_it_holds_and_may_import(layer: str) -> None:
    doc = ast.get_docstring(ast.parse((PACKAGE / layer / "__init__.py").read_text()))
    assert doc is not None
    assert "import" in doc


def test_core_and_formats_load_no_io_modules() -> None:
    modules = [
        f"chunkscope.{layer}.{p.stem}"
        for layer in ("core", "formats")
        for p in sorted((PACKAGE / layer).glob("*.py"))
        if p.stem != "__init__"
    ]
    code = (
        "import sys, importlib\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "print(','.join(m for m in ('trio', 'ssl', 'socket') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
