"""check_gradients and check_node_gradients: they pass correct graphs and catch wrong ones."""

from __future__ import annotations

import numpy as np
import pytest

from dagnet import InputNode, TanhNode, check_gradients, check_node_gradients, fully_connected
from dagnet.models.fully_connected import COSTS

CONFIGS = [
    ("tanh", "sigmoid", "auto"), ("relu", "softmax", "auto"), ("tanh", "softmax",
                                                               "categorical_cross_entropy"),
    ("sigmoid", "sigmoid", "binary_cross_entropy"), ("tanh", "identity", "squared_error"),
]


@pytest.mark.parametrize("formulation", ["affine", "tutorial"])
@pytest.mark.parametrize("hidden,output,cost", CONFIGS)
def test_fully_connected_graphs_pass(hidden, output, cost, formulation, rng):
    graph = fully_connected([5, 4, 3], 6, hidden, output, cost, rng=rng, formulation=formulation)
    X = rng.standard_normal((7, 6))
    Y = np.eye(3)[rng.integers(0, 3, 7)]
    report = check_gradients(graph, X, Y, rng=rng)
    assert report.worst < 1e-6, str(report)
    assert len(report.parameters) == len(graph.parameter_nodes)
    assert len(report.nodes) >= 2 * 3
    assert "layer1/W" in str(report)


def test_all_costs_are_exercised():
    assert {c for _, _, c in CONFIGS} | {"sigmoid_binary_cross_entropy",
                                          "softmax_cross_entropy"} >= set(COSTS)


def test_large_parameters_are_checked_along_directions(rng):
    graph = fully_connected([40, 2], 30, rng=rng)
    X, Y = rng.standard_normal((9, 30)), rng.integers(0, 2, (9, 2)).astype(float)
    report = check_gradients(graph, X, Y, max_elements=100, rng=rng)
    methods = {c.name: c.method for c in report.parameters}
    assert methods["ParameterNode 'layer1/W'"] == "directions"
    assert methods["ParameterNode 'layer2/b'"] == "elements"
    assert report.worst < 1e-6, str(report)


def test_float32_graph_is_checked_in_float64_and_restored(rng):
    graph = fully_connected([3, 1], 2, rng=rng, dtype=np.float32)
    report = check_gradients(graph, rng.standard_normal((4, 2)), np.ones((4, 1)))
    assert report.worst < 1e-6
    assert all(p.w.dtype == np.float32 for p in graph.parameter_nodes)


class WrongTanh(TanhNode):
    """A deliberately wrong backward: forgets the (1 - y²) factor."""

    def compute_gradient(self):
        return [self.dJdy[0]]


def test_a_wrong_gradient_is_caught(rng):
    result = check_node_gradients(lambda p: WrongTanh(p), [rng.standard_normal((3, 3))])
    assert result.worst > 1e-2
    graph = fully_connected([3, 1], 2, rng=rng)
    tanh = next(n for n in graph.nodes if n.name == "layer1/tanh")
    tanh.__class__ = WrongTanh
    report = check_gradients(graph, rng.standard_normal((4, 2)), np.ones((4, 1)), rng=rng)
    assert report.worst > 1e-2
    worst = max(report.parameters, key=lambda c: c.relative_error)
    assert worst.name == "ParameterNode 'layer1/W'"


def test_node_check_skips_inputs_marked_not_differentiable(rng):
    result = check_node_gradients(lambda p: TanhNode(p), [rng.standard_normal((2, 2))], [False])
    assert result.errors == [None]
    assert InputNode  # the helper builds InputNodes itself
