"""The package's layers: imports run downwards only, as the map in docs/how-it-is-built.md
says."""

from __future__ import annotations

import ast

from conftest import REPO

SRC = REPO / "src" / "sequencer"
# Lower layers first; a module may import its own layer and the ones below it.
LAYERS = [
    "errors",
    "model",
    "knowledge",
    "engine",
    "decide",
    "api",
    "explain",
    "present",
    "interop",
    "service",
    "cli",
]
LAYER_OF = {
    "batch": "api",
    "testing": "explain",
    "locks": "errors",
}  # strategies read the compiled rules


def _layer(module: str) -> int:
    """The layer index of a dotted module name inside ``sequencer``."""
    top = module.split(".")[1]
    return LAYERS.index(LAYER_OF.get(top, top))


def _imports(path: str) -> set[str]:
    tree = ast.parse((SRC / path).read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sequencer."):
            found.add(str(node.module))
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("sequencer.")}
    return found


def test_every_module_imports_only_its_own_layer_or_lower() -> None:
    upward: list[str] = []
    modules = sorted(p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py"))
    assert len(modules) > 20
    for path in modules:
        if path == "__init__.py":
            continue  # the public face re-exports from every layer
        own = "sequencer." + path.removesuffix(".py").replace("/", ".")
        for target in _imports(path):
            if _layer(target) > _layer(own):
                upward.append(f"{own} imports {target}")
    assert upward == []


def test_the_docs_map_names_every_module() -> None:
    """docs/how-it-is-built.md names every module of the package in its map."""
    readme = (REPO / "docs" / "how-it-is-built.md").read_text()
    modules = sorted(p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py"))
    unnamed = [
        m
        for m in modules
        if not m.endswith(("/__init__.py", "__main__.py")) and f"| `{m}` |" not in readme
    ]
    assert unnamed == []


def test_only_the_adapter_imports_durable_rules() -> None:
    """durable_rules sits behind one adapter: no other module imports it, at any depth
    of the file (function-level imports included)."""
    importers: list[str] = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            if any(n.split(".")[0] in ("durable", "durable_rules_engine") for n in names):
                importers.append(path.relative_to(SRC).as_posix())
    assert sorted(set(importers)) == ["engine/durable.py"]


MAX_LINES = 500


def test_no_module_is_over_500_lines() -> None:
    """Modules stay small enough to read in one sitting: none over 500 lines."""
    lines = {
        p.relative_to(SRC).as_posix(): len(p.read_text().splitlines()) for p in SRC.rglob("*.py")
    }
    over = {m: n for m, n in sorted(lines.items()) if n > MAX_LINES}
    assert over == {}
