"""docs/matrix-derivations.md has a section for every node of tensor.py and transformer.py
(tests/test_docs.py checks the older modules the same way, and every test id named)."""

from __future__ import annotations

import inspect

import pytest

import dagnet.nodes.tensor
import dagnet.nodes.transformer
from dagnet.node import Node
from tests.test_docs import sections

NAMES = [name for module in (dagnet.nodes.tensor, dagnet.nodes.transformer)
         for name, cls in inspect.getmembers(module, inspect.isclass)
         if issubclass(cls, Node) and cls.__module__ == module.__name__]


def test_the_modules_have_nodes():
    assert "MultiHeadAttentionNode" in NAMES and "BatchMatMulNode" in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_every_tensor_and_transformer_node_has_a_derivation(name):
    section = sections().get(name)
    assert section is not None, f"docs/matrix-derivations.md has no '### {name}' section"
    assert f"test_gradient_check[{name}-" in section, f"{name}: no gradient check named"
    assert "dJ/d" in section, f"{name}: no gradient formula"
