"""Graph: schedules, inputs and outputs, what it computes and skips, and its errors."""

from __future__ import annotations

import numpy as np
import pytest

from dagnet import (
    AdditionNode,
    Graph,
    GraphError,
    InputNode,
    LinearNode,
    MultiplicationNode,
    NonFiniteError,
    ParameterNode,
    ScalarMultiplicationNode,
    ShapeError,
    SoftmaxCrossEntropyNode,
    SoftmaxNode,
    SplitNode,
    SquaredErrorNode,
    TanhNode,
    fully_connected,
)
from dagnet.viz.dot import graph_to_dot


def small_regression(rng):
    X, Y = InputNode(name="X"), InputNode(name="Y")
    W = ParameterNode(rng.standard_normal((3, 2)), name="W")
    h = MultiplicationNode([X, W], name="xW")
    out = TanhNode([h], name="out")
    cost = SquaredErrorNode([Y, out], name="cost")
    return Graph([X, Y, W, h, out, cost], [X], [out], [Y], cost, [W]), (X, Y, W, h, out, cost)


def test_propagate_and_backpropagate(rng):
    graph, (X, Y, W, h, out, cost) = small_regression(rng)
    x, y = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    (o,) = graph.propagate([x])
    np.testing.assert_allclose(o, np.tanh(x @ W.w))
    J = graph.backpropagate([y])
    assert isinstance(J, float)
    assert J == pytest.approx(np.sum((np.tanh(x @ W.w) - y) ** 2))
    g = 2 * (o - y) * (1 - o ** 2)
    np.testing.assert_allclose(W.get_gradient(0), x.T @ g)
    assert graph.get_parameter_nodes() == [W]
    assert graph.compute_cost([y]) == pytest.approx(J)


def test_gradient_into_data_is_not_computed(rng):
    graph, (X, Y, W, h, out, cost) = small_regression(rng)
    graph.propagate([rng.standard_normal((4, 3))])
    graph.backpropagate([rng.standard_normal((4, 2))])
    assert h.dJdx[0] is None  # dJ/dX: a whole matrix product saved
    assert h.dJdx[1] is not None
    assert cost.dJdx[0] is None


def test_only_what_the_outputs_and_the_cost_need_is_computed(rng):
    calls = []

    class Spy(TanhNode):
        def compute_output(self):
            calls.append(self.name)
            return super().compute_output()

    X, Y = InputNode(name="X"), InputNode(name="Y")
    W = ParameterNode(rng.standard_normal((2, 2)))
    logits = MultiplicationNode([X, W])
    probabilities = SoftmaxNode([logits])
    unused = Spy([logits], name="unused")
    cost = SoftmaxCrossEntropyNode([Y, logits])
    graph = Graph([X, Y, W, logits, probabilities, unused, cost], [X], [probabilities], [Y],
                  cost, [W])
    graph.propagate([np.eye(2)])
    graph.backpropagate([np.eye(2)])
    assert calls == []
    # The softmax output is not on the cost's path: its gradient is never computed.
    assert probabilities.dirty_dJdx


def test_one_array_for_one_input_and_wrong_counts(rng):
    graph, _ = small_regression(rng)
    graph.propagate(rng.standard_normal((2, 3)))
    with pytest.raises(GraphError, match=r"propagate\(\) got 2 arrays.*1 input node.*'X'"):
        graph.propagate([np.ones((2, 3)), np.ones((2, 3))])
    with pytest.raises(GraphError, match="expected output"):
        graph.backpropagate([])


def test_repeated_backpropagate_uses_the_new_expected_outputs(rng):
    graph, _ = small_regression(rng)
    x = rng.standard_normal((2, 3))
    graph.propagate([x])
    first = graph.backpropagate([np.zeros((2, 2))])
    second = graph.backpropagate([np.ones((2, 2))])
    assert first != second


def test_shape_errors_name_the_node_and_shapes():
    X = InputNode(np.ones((128, 784)))
    W = ParameterNode(np.ones((785, 128)))
    with pytest.raises(ShapeError, match=r"MultiplicationNode 'layer1'.*\(128, 784\) by "
                                         r"\(785, 128\)"):
        MultiplicationNode([X, W], name="layer1").get_output()
    a, b = InputNode(np.ones((5, 1))), InputNode(np.ones(5))
    with pytest.raises(ShapeError, match=r"AdditionNode.*\(5, 1\) and \(5,\)"):
        AdditionNode([a, b]).get_output()
    with pytest.raises(ShapeError, match="LinearNode"):
        LinearNode([InputNode(np.ones((2, 3))), ParameterNode(np.ones((3, 4))),
                    ParameterNode(np.ones((3,)))]).get_output()


def test_missing_node_and_wrong_roles_are_errors(rng):
    _, (X, Y, W, h, out, cost) = small_regression(rng)
    with pytest.raises(GraphError, match="not in the graph's node list: .*'xW'"):
        Graph([X, Y, W, out, cost], [X], [out], [Y], cost, [W])
    with pytest.raises(GraphError, match="listed as an input but is not an InputNode"):
        Graph(None, [W], [out], [Y], cost)
    with pytest.raises(GraphError, match="listed as a parameter"):
        Graph(None, [X], [out], [Y], cost, [h])
    with pytest.raises(GraphError, match="no cost node"):
        Graph(None, [X], [out]).backpropagate([])


def test_parameter_the_cost_ignores_is_named_in_a_warning(rng):
    X, Y = InputNode(name="X"), InputNode(name="Y")
    W = ParameterNode(rng.standard_normal((2, 2)), name="W")
    stray = ParameterNode(rng.standard_normal((2, 2)), name="stray")
    out = MultiplicationNode([X, W])
    cost = SquaredErrorNode([Y, out])
    with pytest.warns(UserWarning, match="ParameterNode 'stray'.*cost does not depend on it"):
        graph = Graph(None, [X], [out], [Y], cost, [W, stray])
    graph.propagate([np.ones((1, 2))])
    graph.backpropagate([np.ones((1, 2))])
    np.testing.assert_array_equal(stray.get_gradient(0), 0)


def test_multi_output_node_as_graph_output():
    X = InputNode(name="X")
    split = SplitNode([X], [1, 2])
    graph = Graph(None, [X], [(split, 1), (split, 0)])
    right, left = graph.propagate([np.arange(6.0).reshape(2, 3)])
    np.testing.assert_array_equal(right, [[1, 2], [4, 5]])
    np.testing.assert_array_equal(left, [[0], [3]])
    with pytest.raises(GraphError, match="output 2 of SplitNode"):
        Graph(None, [X], [(split, 2)])


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_debug_mode_names_the_first_non_finite_node():
    X, Y = InputNode(name="X"), InputNode(name="Y")
    W = ParameterNode(np.ones((1, 1)), name="W")
    big = ScalarMultiplicationNode([X], 1e308, name="blow-up")
    out = MultiplicationNode([big, W], name="after")
    cost = SquaredErrorNode([Y, out])
    graph = Graph(None, [X], [out], [Y], cost, debug=True)
    with pytest.raises(NonFiniteError, match="ScalarMultiplicationNode 'blow-up': output 0"):
        graph.propagate([np.array([[10.0]])])
    graph.debug = False
    graph.propagate([np.array([[10.0]])])  # without debug mode it runs on
    assert not np.isfinite(graph.backpropagate([np.zeros((1, 1))]))


def test_to_dot_styles_kinds_apart():
    graph = fully_connected([3, 2], 4, output_activation="softmax")
    dot = graph_to_dot(graph)
    assert dot.startswith('digraph "dagnet" {')
    assert dot.count("fillcolor=\"#cfe8ff\"") == 2  # X and Y
    assert dot.count("fillcolor=\"#ffe7a8\"") == 4  # two W and two b
    assert "shape=octagon" in dot and "SoftmaxCrossEntropy" in dot
    assert dot.count("->") == sum(len(n.parents) for n in graph.nodes) + 1
