"""dagnet draws without pyplot: a notebook's backend and open figures are left alone."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import dagnet

PACKAGE = Path(dagnet.__file__).parent

# Runs in a fresh interpreter, so that no test before it has imported pyplot already.
IMPORT_AND_DRAW = """
import importlib, json, pkgutil, sys
import matplotlib
import dagnet.viz
before = matplotlib.get_backend()
for module in pkgutil.iter_modules(dagnet.viz.__path__, "dagnet.viz."):
    importlib.import_module(module.name)
from dagnet.viz.plots import plot_curves
plot_curves(sys.argv[1], {"line": ([1, 2, 3], [3, 1, 2])}, "x", "y")
print(json.dumps({"before": before, "after": matplotlib.get_backend(),
                  "pyplot": "matplotlib.pyplot" in sys.modules}))
"""


def test_viz_leaves_the_users_backend_alone(tmp_path):
    env = {**os.environ, "MPLBACKEND": "svg",
           "PYTHONPATH": os.pathsep.join([str(PACKAGE.parent), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", IMPORT_AND_DRAW, str(tmp_path / "f.png")],
                            env=env, capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report == {"before": "svg", "after": "svg", "pyplot": False}
    assert (tmp_path / "f.png").read_bytes().startswith(b"\x89PNG")


def pyplot_uses(source: str) -> list[str]:
    """Lines of ``source`` that import matplotlib.pyplot or call matplotlib.use."""
    tree = ast.parse(source)
    # The names matplotlib goes by in this module: `import matplotlib as mpl` gives "mpl".
    aliases = {alias.asname or alias.name for node in ast.walk(tree)
               if isinstance(node, ast.Import) for alias in node.names
               if alias.name == "matplotlib"}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Call):
            names = [ast.unparse(node.func)]
        else:
            continue
        if any(name.startswith("matplotlib.pyplot") or name == "matplotlib.use"
               or name in {f"{alias}.use" for alias in aliases} for name in names):
            found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


@pytest.mark.parametrize("source", [
    "import matplotlib.pyplot as plt",
    "from matplotlib import pyplot",
    "from matplotlib.pyplot import subplots",
    "import matplotlib\nmatplotlib.use('Agg')",
    "from matplotlib import use",
    "def f():\n    import matplotlib.pyplot",
    "import matplotlib as mpl\nmpl.use('Agg')",
])
def test_pyplot_uses_finds_each_way_in(source):
    assert pyplot_uses(source)


def test_pyplot_uses_accepts_the_object_oriented_api():
    assert not pyplot_uses("import matplotlib\nfrom matplotlib.figure import Figure\n"
                           "from matplotlib.backends.backend_agg import FigureCanvasAgg\n"
                           "cmap = matplotlib.colormaps['tab10']\nfig.use_sticky_edges = 1")


def test_no_module_of_dagnet_uses_pyplot_or_switches_the_backend():
    offenders = {str(path.relative_to(PACKAGE.parent)): found
                 for path in sorted(PACKAGE.rglob("*.py"))
                 if (found := pyplot_uses(path.read_text(encoding="utf-8")))}
    assert offenders == {}
