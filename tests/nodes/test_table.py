"""Every node type: forward against a NumPy reference, gradients against central differences."""

from __future__ import annotations

import importlib
import pkgutil

import numpy as np
import pytest

import dagnet
from dagnet import GradientNode, InputNode, Node, ParameterNode
from dagnet.gradcheck import check_node_gradients
from tests.nodes.cases import CASES

# Nodes that hold values rather than compute them: tested in tests/test_node.py.
VALUE_NODES = {InputNode, ParameterNode, GradientNode}
SHAPES = [(3, 4), (33, 21)]  # small: every element checked; large: random directions


def all_node_classes() -> set[type]:
    for module in pkgutil.walk_packages(dagnet.__path__, "dagnet."):
        if not module.name.startswith(("dagnet.cli", "dagnet.__main__")):
            importlib.import_module(module.name)
    found, stack = set(), [Node]
    while stack:
        for sub in stack.pop().__subclasses__():
            stack.append(sub)
            if sub.__module__.startswith("dagnet."):
                found.add(sub)
    return found


def test_every_node_class_has_a_case():
    covered = {case.cls for case in CASES} | VALUE_NODES
    missing = sorted(cls.__name__ for cls in all_node_classes() - covered)
    assert not missing, f"node classes without an entry in tests/nodes/cases.py: {missing}"


def test_every_node_class_can_be_loaded_from_a_model_file():
    missing = sorted(cls.__name__ for cls in all_node_classes()
                     if dagnet.NODE_TYPES.get(cls.__name__) is not cls)
    assert not missing, f"node classes missing from dagnet.nodes.NODE_TYPES: {missing}"


@pytest.mark.parametrize("shape", SHAPES, ids=["small", "large"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_forward_matches_reference(case, shape):
    inputs = case.inputs(np.random.default_rng(7), *shape)
    node = case.make([InputNode(a) for a in inputs])
    outputs = [node.get_output(k) for k in range(node.nb_outputs)]
    expected = case.reference(*inputs)
    assert len(outputs) == len(expected)
    for got, want in zip(outputs, expected):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES, ids=["small", "large"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_gradient_check(case, shape):
    inputs = case.inputs(np.random.default_rng(11), *shape)
    result = check_node_gradients(case.make, inputs, case.differentiable,
                                  rng=np.random.default_rng(3))
    assert result.worst < 1e-6, f"{result.node}: relative errors {result.errors}"
    assert any(e is not None for e in result.errors)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_float32_in_float32_out(case):
    inputs = [a.astype(np.float32) for a in case.inputs(np.random.default_rng(5), 4, 3)]
    node = case.make([ParameterNode(a) for a in inputs])
    outputs = [node.get_output(k) for k in range(node.nb_outputs)]
    for y in outputs:
        assert y.dtype == np.float32, f"{node.describe()} output is {y.dtype}"
    node.dJdy = [np.ones_like(y) for y in outputs]
    for g in node.compute_gradient():
        assert g is None or g.dtype == np.float32, f"{node.describe()} gradient is {g.dtype}"
