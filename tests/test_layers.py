"""The layers of the package, checked on its imports (an ast walk, no import needed).

Bottom to top: utilities (errors, files, version, rng, threads); node and graph; nodes; optim,
data, io, gradcheck; training (the loop, which knows models only by their protocol);
models (whose ``fit`` runs the Trainer); viz; experiments; cli and reproduce.  A
module may import its own layer and the layers below, never above; nothing but the
command line imports ``dagnet.cli``; a function-level import of a dagnet module (the
way to dodge a cycle) is allowed only in the top layer, where it keeps start-up fast.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "dagnet"

LAYERS = [
    {"errors", "files", "version", "rng", "schema", "limits", "argtypes", "threads"},
    {"node", "graph"},
    {"nodes"},
    {"optim", "data", "io", "gradcheck"},
    {"training"},
    {"models"},
    {"viz"},
    {"experiments", "distributed", "export"},
    {"cli", "reproduce", "__main__", "__init__"},
]
RANK = {name: k for k, names in enumerate(LAYERS) for name in names}


def component(module: str) -> str:
    """``dagnet.models.rnn`` -> ``models``; ``dagnet`` -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        yield ".".join(relative.parts), path


def imports(path: Path):
    """(imported dagnet module, line, inside a function?) for every import in ``path``."""
    tree = ast.parse(path.read_text())
    inside = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inside.update(id(sub) for sub in ast.walk(node) if sub is not node)
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            if name == "dagnet" or name.startswith("dagnet."):
                yield name, node.lineno, id(node) in inside


def test_every_module_belongs_to_a_layer():
    unknown = sorted({component(m) for m, _ in modules()} - set(RANK))
    assert not unknown, f"place these in LAYERS: {unknown}"


@pytest.mark.parametrize("module, path", list(modules()), ids=lambda v: str(v))
def test_imports_run_down_the_layers(module, path):
    here = component(module)
    for target, line, in_function in imports(path):
        there = component(target)
        where = f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}"
        if here == "__init__" or module == "dagnet.__main__":
            continue
        assert there != "cli" or here == "cli", f"{where}: the library never imports the CLI"
        assert RANK[there] <= RANK[here], f"{where}: an upward import ({there} is above {here})"
        assert not in_function or RANK[here] == RANK["cli"], (
            f"{where}: a function-level import in the library (a cycle dodged?)")


def test_the_checker_catches_what_it_should(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from dagnet.cli import main\n")
    assert list(imports(bad)) == [("dagnet.cli", 2, True)]
    assert component("dagnet.models.rnn") == "models" and RANK["viz"] > RANK["models"]
