"""docs/matrix-derivations.md: a section for every node, each naming tests that exist."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys

import pytest

import dagnet.nodes.activations
import dagnet.nodes.arithmetic
import dagnet.nodes.linear_algebra
import dagnet.nodes.losses
import dagnet.nodes.recurrent
import dagnet.nodes.sequence
import dagnet.nodes.shape
from dagnet.node import Node
from tests.conftest import ROOT
from tests.nodes.cases import CASES
from tests.nodes.test_table import SHAPES

DERIVATIONS = ROOT / "docs" / "matrix-derivations.md"
MODULES = [dagnet.nodes.activations, dagnet.nodes.arithmetic, dagnet.nodes.linear_algebra,
           dagnet.nodes.shape, dagnet.nodes.losses, dagnet.nodes.sequence,
           dagnet.nodes.recurrent]
# Other tests the doc names by their full pytest id: `tests/models/test_rnn.py::name[id]`.
PYTEST_ID = re.compile(r"`(tests/[\w/]+\.py::\w+(?:\[[^\]`]+\])?)`")
TEST_IDS = {f"{case.id}-{label}" for case in CASES for label in ("small", "large")}


def sections() -> dict[str, str]:
    text = DERIVATIONS.read_text(encoding="utf-8")
    parts = re.split(r"^### (\w+)\s*$", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2]))


def node_classes() -> list[str]:
    return [name for module in MODULES for name, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, Node) and cls.__module__ == module.__name__]


def test_the_table_ids_are_what_the_doc_assumes():
    assert len(SHAPES) == 2  # the doc names "-small" and "-large" ids


@pytest.mark.parametrize("name", node_classes())
def test_every_node_has_a_derivation_naming_its_gradient_checks(name):
    section = sections().get(name)
    assert section is not None, f"docs/matrix-derivations.md has no '### {name}' section"
    named = re.findall(r"test_gradient_check\[([\w-]+)\]", section)
    assert any(n.split("-")[0] == name for n in named), f"{name}: no test named"
    assert "dJ/d" in section, f"{name}: no gradient formula"


def test_every_test_the_doc_names_exists():
    named = re.findall(r"test_gradient_check\[([\w-]+)\]", DERIVATIONS.read_text("utf-8"))
    assert named
    assert sorted(set(named) - TEST_IDS) == []


def test_every_pytest_id_the_doc_names_is_collected():
    """Ids like tests/models/test_rnn.py::test_x[lstm] must name tests pytest collects."""
    named = sorted(set(PYTEST_ID.findall(DERIVATIONS.read_text("utf-8"))))
    assert named, "the doc names no test by its pytest id"
    files = sorted({name.split("::")[0] for name in named})
    for path in files:
        assert (ROOT / path).is_file(), f"docs/matrix-derivations.md names {path}: no such file"
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         *files], cwd=ROOT, capture_output=True, text=True, check=False).stdout.splitlines()
    # A name without [id] names a test function: all of its parametrizations.
    functions = {test.split("[")[0] for test in collected}
    assert sorted(set(named) - set(collected) - functions) == []
